"""The explorer's engine state (core.explorer_engines), without a terminal: which engines `e`
cycles, that each is computed once and kept, and that the classes the prompt view draws
(prefix, substring, miss, evicted) agree token for token with the EngineResult arrays, checked
against a plain per-token transcription of their definitions on random traces."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from tracetui.core.document import EVICTED, MISS, PREFIX, SUBSTRING
from tracetui.core.engines import ENGINES
from tracetui.core.explorer import ExplorerData
from tracetui.core.explorer_engines import EngineState, pool_choices, pool_of
from tracetui.core.model import Request, Trace
from tracetui.core.pipeline import Settings, analyze_trace, engines_for, load
from tracetui.core.tokenizer import load_tokenizer

from .paths import OPENCODE, sample

TWO = "sample_traces/two_sessions.jsonl"


def _state(path, **kw) -> EngineState:
    return EngineState(load(str(path), Settings(cache=False, **kw)))


# ---- which engines, switching, caching

def test_text_trace_cycles_every_engine_and_computes_each_once(monkeypatch):
    eng = _state(OPENCODE)
    assert eng.available == ENGINES and eng.active == "study" and eng.computed == ("study",)
    assert eng.is_default
    calls = []
    import tracetui.core.explorer_engines as mod

    real = mod.engine_result
    monkeypatch.setattr(mod, "engine_result", lambda loaded, name: calls.append(name) or real(loaded, name))
    seen = []
    for _ in range(len(ENGINES)):
        name = eng.next_engine()
        eng.compute(name)
        eng.activate(name)
        seen.append(name)
    assert seen == ["vllm", "sglang", "lmcache", "cacheblend", "study"]
    assert calls == ["vllm", "sglang", "lmcache", "cacheblend"]  # the study came with the load
    for name in ENGINES:  # kept: no second computation
        eng.compute(name)
    assert len(calls) == 4 and eng.computed == ENGINES
    assert not eng.is_default  # several engines to tell apart: the views name the active one


def test_engines_from_the_command_line_are_computed_and_the_first_is_active():
    eng = _state(OPENCODE, engines=("vllm", "sglang"))
    assert eng.active == "vllm" and set(eng.computed) == {"study", "vllm", "sglang"}
    assert eng.next_engine() == "sglang" and eng.is_computed("sglang")
    assert eng.next_engine("cacheblend") == "study"


def test_a_hashed_trace_offers_only_the_engines_that_read_block_ids():
    path = sample("bailian_hashed.jsonl")
    eng = _state(path)
    assert eng.available == engines_for(eng.loaded.trace) == ("study", "vllm", "sglang", "lmcache")
    assert eng.next_engine() == "vllm" and eng.next_engine("vllm") == "sglang"
    assert eng.next_engine("lmcache") == "study"
    for name in eng.available:  # each one core offers computes (cacheblend would refuse)
        eng.compute(name)
    with pytest.raises(ValueError):
        eng.compute("cacheblend")


def test_activate_needs_a_computed_engine_and_switches_bump_the_version():
    eng = _state(OPENCODE)
    with pytest.raises(KeyError):
        eng.activate("vllm")
    v = eng.version
    eng.compute("vllm")
    eng.activate("vllm")
    eng.cycle_pool()
    assert eng.version == v + 2


def test_pools_cycle_from_unlimited_down_and_back():
    eng = _state(OPENCODE)
    sizes = eng.loaded.settings.sizes()
    assert eng.pool_size.capacity is None and not eng.bounded
    caps = [eng.cycle_pool().capacity for _ in range(len(eng.pools))]
    bounded = sorted({s.capacity for s in sizes if s.capacity is not None}, reverse=True)
    assert caps == bounded + [None]
    assert pool_choices(sizes)[0].capacity is None


def test_the_explorer_documents_follow_the_active_engine_and_pool():
    data = ExplorerData(load(TWO, Settings(cache=False)))
    eng = data.engines
    doc = data.document(11)
    assert data.document(11) is doc  # cached while nothing changes
    eng.compute("vllm")
    eng.activate("vllm")
    while eng.pool_size.capacity != 820:
        eng.cycle_pool()
    doc2 = data.document(11)
    assert doc2 is not doc and doc2.version == eng.version
    n = doc2.n_input_tokens
    cls = doc2.token_class[:n]
    assert (cls == EVICTED).any() and (cls == PREFIX).any() and not (cls == SUBSTRING).any()
    assert doc2.prefix_hit == int(eng.pool().prefix_hits[11]) and not doc2.has_substring
    assert eng.cause(11, "template") == "evicted"
    size, grid = doc2.block_grid
    assert size == 16 and grid.tolist() == (np.arange(len(grid)) // 16).tolist()
    # Block headers count what vLLM reuses (its prefix), not the study's chunks.
    assert sum(s.substring for s in doc2.block_stats) == int((cls == PREFIX).sum())


def test_figures_are_the_active_pools():
    eng = _state(TWO)
    f = eng.figures(3)
    a = eng.loaded.analysis
    assert (f.prefix, f.substring, f.reuse) == (int(a.unlimited.prefix_hits[3]), int(a.unlimited.substring_hits[3]),
                                                int(a.combined_hits[3]))
    eng.compute("vllm")
    eng.activate("vllm")
    while eng.pool_size.capacity != 820:
        eng.cycle_pool()
    pool = eng.pool()
    for i in range(len(pool.prefix_hits)):
        f = eng.figures(i)
        assert f.rejected == bool(pool.rejected[i]) and f.substring is None
        assert f.prefix == (0 if f.rejected else int(pool.prefix_hits[i])) == f.reuse
        if f.rejected:
            assert eng.cause(i, "x") == "rejected"


def test_curves_have_one_series_per_computed_engine():
    eng = _state(TWO, engines=("study", "vllm", "cacheblend"))
    curves = eng.curves()
    assert [label for label, _ in curves] == ["study substring", "vllm prefix", "cacheblend reuse"]
    for (label, points), name in zip(curves, ("study", "vllm", "cacheblend")):
        r = eng.result(name)
        assert points[-1][0].capacity is None
        assert points[-1][1] == (r.unlimited.substring_rate if r.unlimited.substring_rate is not None
                                 else r.unlimited.prefix_rate)


# ---- token classes against a brute-force reading of the arrays

def _reference(loaded, result, pool, i) -> list[int]:
    """Per token, straight from the definitions (lists, no numpy slicing)."""
    n = int(loaded.analysis.input_lens[i])
    u = result.unlimited
    if pool.rejected[i]:
        return [MISS] * n
    p, up = int(pool.prefix_hits[i]), int(u.prefix_hits[i])
    out = []
    if result.engine == "study":
        base = loaded.analysis.token_classes(i).tolist()
        for t in range(n):
            out.append(EVICTED if p <= t < up else base[t])
        return out

    def inside(spans, t):
        return any(a <= t < b for a, b in spans)

    for t in range(n):
        if t < p:
            out.append(PREFIX)
        elif pool.spans is not None and inside(pool.spans[i], t):
            out.append(SUBSTRING)
        elif pool.spans is not None:
            out.append(EVICTED if not u.rejected[i] and inside(u.spans[i], t) else MISS)
        else:
            out.append(EVICTED if not u.rejected[i] and t < up else MISS)
    return out


def _check_all(loaded) -> int:
    eng = EngineState(loaded)
    evicted = 0
    for name in eng.available:
        eng.compute(name)
        eng.activate(name)
        r = eng.result()
        for size in eng.pools:
            eng.pool_index = eng.pools.index(size)
            pool = pool_of(r, size)
            for i in range(len(loaded.trace.requests)):
                got = eng.token_classes(i)
                assert got.tolist() == _reference(loaded, r, pool, i), (name, size, i)
                evicted += int((got == EVICTED).sum())
                # Evicted is what the unlimited pool reuses beyond this one (prefix engines).
                if pool.spans is None and name != "study" and not pool.rejected[i]:
                    assert int((got == EVICTED).sum()) == r.evicted(pool, i)
    return evicted


def test_token_classes_on_the_samples_match_the_reference():
    assert _check_all(load(TWO, Settings(cache=False))) > 0
    _check_all(load(str(OPENCODE), Settings(cache=False, pool_tokens=("600", "2000", "5000", "unlimited"))))


_PARAS = ("system: You are a careful coding agent. Follow the rules.\n",
          "user: fix the failing test in config.py please\n",
          "assistant: I ran pytest and saw one failure in the parser.\n",
          "tool: ===== 1 failed, 12 passed in 0.31s =====\n",
          "user: now add a docstring\n")


@st.composite
def _traces(draw):
    n = draw(st.integers(1, 6))
    reqs = []
    history: list[int] = []
    for i in range(n):
        if history and draw(st.booleans()):
            history = history + draw(st.lists(st.integers(0, len(_PARAS) - 1), min_size=0, max_size=2))
        else:
            history = draw(st.lists(st.integers(0, len(_PARAS) - 1), min_size=0, max_size=4))
        out = draw(st.sampled_from(("", "ok", "done, the test passes now.")))
        reqs.append(Request(i, i + 1, "".join(_PARAS[k] for k in history), out))
    pools = draw(st.lists(st.integers(0, 300), min_size=1, max_size=3, unique=True))
    block = draw(st.sampled_from((2, 4, 16)))
    return Trace("random.jsonl", tuple(reqs)), pools, block


_TOKENIZER = load_tokenizer(None)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_traces())
def test_token_classes_match_the_reference_on_random_traces(case):
    trace, pools, block = case
    s = Settings(cache=False, pool_tokens=tuple(map(str, pools)) + ("unlimited",), block_size=block,
                 chunk_size=4, context_length=200, engines=("study",))
    _check_all(analyze_trace(trace, _TOKENIZER, s))


def test_block_classes_of_a_hashed_trace_match_the_reference():
    loaded = load(str(sample("bailian_hashed.jsonl")), Settings(cache=False))
    eng = EngineState(loaded)
    b = loaded.trace.block_size
    for name in eng.available:
        eng.compute(name)
        eng.activate(name)
        r = eng.result()
        for k in range(len(eng.pools)):
            eng.pool_index = k
            pool = eng.pool()
            for i, req in enumerate(loaded.trace.requests):
                h = req.hashed
                p, up = int(pool.prefix_hits[i]) // b, int(r.unlimited.prefix_hits[i]) // b
                matched = loaded.analysis.chunk_matched(i).tolist()
                want = []
                for j in range(len(h.block_ids)):
                    if pool.rejected[i]:
                        want.append(MISS)
                    elif j < p:
                        want.append(PREFIX)
                    elif j < up:
                        want.append(EVICTED)
                    elif name == "study" and j < min(h.full_blocks, len(matched)) and matched[j]:
                        want.append(SUBSTRING)
                    else:
                        want.append(MISS)
                assert eng.block_classes(i).tolist() == want, (name, k, i)


def test_the_block_grid_restarts_at_each_cacheblend_segment():
    eng = _state(OPENCODE, engines=("cacheblend", "lmcache", "sglang"))
    from tracetui.core.engines.cacheblend import segment_starts

    loaded = eng.loaded
    starts = segment_starts(loaded.trace, loaded.inputs, loaded.tokenizer)[6]
    size, grid = eng.block_grid(6)
    n_in = int(loaded.analysis.input_lens[6])
    assert size == 256 and (grid[n_in:] == -1).all()
    # A new block at every segment start and every 256 tokens within a segment, nowhere else.
    new = [t for t in range(1, n_in) if grid[t] != grid[t - 1]]
    bounds = [0] + list(starts[1:]) + [n_in]
    want = sorted({t for a, z in zip(bounds, bounds[1:]) for t in range(a, z, 256)} - {0})
    assert new == want
    eng.activate("lmcache")
    size, grid = eng.block_grid(6)
    assert size == 256 and grid[:n_in].tolist() == (np.arange(n_in) // 256).tolist()
    eng.activate("sglang")  # pages of 1 token: no grid
    assert eng.block_grid(6) is None
    eng.activate("study")
    assert eng.block_grid(6) is None
