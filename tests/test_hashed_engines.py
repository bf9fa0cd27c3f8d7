"""The block engines (vLLM, SGLang, LMCache) on hashed traces: block ids instead of tokens.

A hashed request is its full blocks' chained ids, an input length (a partial last block past
them) and an output length (no ids at all). The references are the plain transcriptions of
tests/engines_bruteforce.py over tokens: each full block with id x is B tokens "x", the
partial block and the output are tokens no other request has. An engine block or page of
k x B tokens is then a run of k ids, exactly what core.engines.blockids.coarsen makes."""

from __future__ import annotations

import json
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracetui.core.engines import EngineSettings, lmcache, sglang, vllm
from tracetui.core.engines.blockids import BlockTrace, coarsen
from tracetui.core.engines.study import PoolSize

from . import engines_bruteforce as ref
from .paths import TRACES, need

MOONCAKE = TRACES / "mooncake" / "conversation_trace.jsonl"
CLAUDE = TRACES / "claude-code-hashed"


def size(cap):
    return PoolSize(None, None, "∞") if cap is None else PoolSize(float(cap), cap, str(cap))


@st.composite
def hashed_traces(draw):
    """(block size B, ids per request, input lengths, output lengths, token inputs, token
    outputs): prompts that continue an earlier prompt's blocks or start afresh, over a small
    alphabet of block contents (shared prefixes), partial last blocks, empty outputs; ids are
    prefix ids, offset so they are not dense."""
    b = draw(st.integers(1, 4))
    n = draw(st.integers(1, 12))
    offset = draw(st.sampled_from([0, 7, 10**9]))
    contents: list[list[int]] = []
    chain: dict[tuple, int] = {}
    ids, plens, olens, tok_in, tok_out = [], [], [], [], []
    fresh = 10**6
    for _ in range(n):
        if contents and draw(st.booleans()):
            base = contents[draw(st.integers(0, len(contents) - 1))]
            blocks = base[:draw(st.integers(0, len(base)))]
        else:
            blocks = []
        blocks = blocks + draw(st.lists(st.integers(0, 2), max_size=5))
        contents.append(blocks)
        x = [chain.setdefault(tuple(blocks[:j + 1]), offset + len(chain)) for j in range(len(blocks))]
        tail = draw(st.integers(0, b - 1))
        m = draw(st.integers(0, 3 * b))
        ids.append(x)
        plens.append(len(blocks) * b + tail)
        olens.append(m)
        toks = [v for v in x for _ in range(b)] + list(range(fresh, fresh + tail))
        fresh += tail
        tok_in.append(toks)
        tok_out.append(list(range(fresh, fresh + m)))
        fresh += m
    return b, ids, plens, olens, tok_in, tok_out


def block_trace_of(b, ids, plens, olens) -> BlockTrace:
    return BlockTrace(b, tuple(np.asarray(x, dtype=np.int64) for x in ids), np.asarray(plens, dtype=np.int64),
                      np.asarray(olens, dtype=np.int64))


caps = st.one_of(st.none(), st.integers(0, 30), st.integers(0, 200))
contexts = st.one_of(st.integers(2, 60), st.just(10_000))
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(hashed_traces(), st.integers(1, 3), caps, contexts)
def test_vllm_on_block_ids_equals_reference(tr, factor, cap, context):
    b, ids, plens, olens, tin, tout = tr
    bt = coarsen(block_trace_of(b, ids, plens, olens), factor)
    assert bt.block_size == factor * b
    h, r = vllm.replay(bt, cap, context)
    assert (h.tolist(), r.tolist()) == ref.vllm(tin, tout, cap, factor * b, context)


@FAST
@given(hashed_traces(), st.integers(1, 3), caps, contexts)
def test_sglang_on_block_ids_equals_reference(tr, factor, cap, context):
    b, ids, plens, olens, tin, tout = tr
    ps = factor * b
    res = sglang.run_blocks(coarsen(block_trace_of(b, ids, plens, olens), factor), [size(cap)],
                            EngineSettings(context_length=context))
    p = res.pools[0]
    want = ref.sglang(tin, tout, None if cap is None else cap - cap % ps, context, ps)
    assert (p.prefix_hits.tolist(), p.rejected.tolist()) == want
    assert res.block_size == ps and p.blocks == (None if cap is None else cap // ps)


@FAST
@given(hashed_traces(), st.integers(1, 3), caps, contexts)
def test_lmcache_on_block_ids_equals_reference(tr, factor, cap, context):
    b, ids, plens, olens, tin, tout = tr
    res = lmcache.run_blocks(coarsen(block_trace_of(b, ids, plens, olens), factor), [size(cap)],
                             EngineSettings(context_length=context))
    p = res.pools[0]
    assert (p.prefix_hits.tolist(), p.rejected.tolist()) == ref.lmcache(tin, tout, cap, factor * b, context)


@FAST
@given(hashed_traces(), st.integers(1, 3), st.lists(caps, min_size=1, max_size=4), contexts)
def test_sweeps_on_block_ids_equal_single_replays(tr, factor, sizes, context):
    """The shortcut that reuses the unlimited pool for a pool that never evicts changes no figure."""
    b, ids, plens, olens, *_ = tr
    bt = coarsen(block_trace_of(b, ids, plens, olens), factor)
    s = EngineSettings(context_length=context)
    key_of, pl, ol = sglang.page_keys(bt)
    for res, one in ((vllm.run_blocks(bt, [size(c) for c in sizes], s), lambda c: vllm.replay(bt, c, context)),
                     (sglang.run_blocks(bt, [size(c) for c in sizes], s),
                      lambda c: sglang.replay_keys(key_of, pl, ol, None if c is None else c - c % bt.block_size,
                                                   context, 1, bt.block_size))):
        for c, p in zip(sizes, res.pools):
            h, r = one(c)
            assert p.prefix_hits.tolist() == h.tolist() and p.rejected.tolist() == r.tolist()


@FAST
@given(hashed_traces(), st.integers(1, 3), st.lists(st.one_of(st.none(), st.integers(0, 40)), min_size=1, max_size=4),
       st.integers(1, 4), contexts)
def test_sglang_tiny_pools_on_block_ids_side_by_side_equal_reference(tr, factor, caps, chunk, context):
    """Pools of a few pages replayed side by side over chunks of a few requests, on page ids:
    each pool equals the step-by-step reference on the tokens."""
    b, ids, plens, olens, tin, tout = tr
    ps = factor * b
    with mock.patch.object(sglang, "CHUNK_REQUESTS", chunk):
        res = sglang.run_blocks(coarsen(block_trace_of(b, ids, plens, olens), factor), [size(c) for c in caps],
                                EngineSettings(context_length=context))
    for c, p in zip(caps, res.pools):
        want = ref.sglang(tin, tout, None if c is None else c - c % ps, context, ps)
        assert (p.prefix_hits.tolist(), p.rejected.tolist()) == want, c


def test_coarsen_makes_runs_of_ids():
    bt = BlockTrace(4, (np.array([1, 2, 3, 4, 5]), np.array([1, 2, 9])), np.array([22, 13]), np.array([0, 5]))
    c = coarsen(bt, 2)
    # 22 tokens: 5 full blocks of 4 -> 2 pages of 8 (ids 2, 4); 13 tokens: 3 full blocks -> 1 page.
    assert c.block_size == 8 and [x.tolist() for x in c.ids] == [[2, 4], [2]]
    assert coarsen(bt, 1) is bt
    # An id listed past the prompt's full blocks (a partial block) never makes a page.
    assert coarsen(BlockTrace(4, (np.array([1, 2]),), np.array([7]), np.array([9])), 2).ids[0].tolist() == []


def test_sglang_page_of_blocks_by_hand():
    """Pages of 2 blocks of 4: request 1 shares 3 full blocks with request 0, i.e. one whole
    page; its L-1 cap does not bind. Request 2 is request 1 again: 16 tokens, 2 pages, but the
    L-1 cap keeps the hit at 1 page."""
    bt = BlockTrace(4, (np.array([1, 2, 3]), np.array([1, 2, 3, 4]), np.array([1, 2, 3, 4])),
                    np.array([14, 16, 16]), np.array([1, 2, 0]))
    res = sglang.run_blocks(coarsen(bt, 2), [size(None)], EngineSettings())
    assert res.pools[0].prefix_hits.tolist() == [0, 8, 8]


# --------------------------------------------------------------------------- the real traces

def _load(path, engines, pool_tokens, **kw):
    from tracetui.core.pipeline import Settings, load

    return load(str(path), Settings(engines=tuple(engines), pool_tokens=tuple(pool_tokens), **kw))


def _leading_seen(trace, engine, ctx):
    """Brute force, unlimited pool: per request, tokens of the leading full blocks stored by
    an earlier request the engine served, under the engine's cap and refusal."""
    b = trace.block_size
    seen: set[int] = set()
    out = []
    for r in trace.requests:
        h = r.hashed
        full, n = h.block_ids[:h.full_blocks], h.input_length
        refused = n >= (ctx - 6 if engine == "sglang" else ctx)
        k = 0
        while not refused and k < len(full) and full[k] in seen:
            k += 1
        if engine == "lmcache":
            out.append(k * b - 1 if k * b == n and n else k * b)
        else:
            out.append(min(k, (n - 1) // b if n else 0) * b)
        if not refused:
            seen.update(full)
    return out


POOLS = ["65536", "1000000", "unlimited"]
GOLDEN = {  # trace: prompt tokens, {engine: hit tokens at each of POOLS}
    "mooncake": (MOONCAKE, 144_793_823, {"vllm": (6_029_312, 7_920_640, 54_063_104),
                                         "sglang": (6_028_800, 7_876_096, 54_063_104),
                                         "lmcache": (6_056_448, 8_013_824, 54_063_104)}),
    "claude-code": (CLAUDE, 31_156_739, {"vllm": (4_850_176, 22_558_656, 22_558_656),
                                         "sglang": (4_754_176, 22_558_656, 22_558_656),
                                         "lmcache": (4_874_368, 22_558_656, 22_558_656)}),
}


@pytest.fixture(scope="module", params=list(GOLDEN))
def real(request):
    """(name, the trace loaded with the study and every block engine at POOLS)."""
    path = need(GOLDEN[request.param][0])
    return request.param, _load(path, ["study", "vllm", "sglang", "lmcache"], POOLS)


def test_unlimited_hits_are_leading_full_blocks_seen_before(real):
    _, loaded = real
    for res in loaded.results[1:]:
        assert res.unlimited.prefix_hits.tolist() == _leading_seen(loaded.trace, res.engine, 131072), res.engine
        assert res.pools[-1].prefix_hits.tolist() == res.unlimited.prefix_hits.tolist()


def test_block_engines_figures_on_real_hashed_traces(real):
    name, loaded = real
    _, prompt_tokens, want = GOLDEN[name]
    assert int(loaded.analysis.input_lens.sum()) == prompt_tokens
    got = {r.engine: tuple(int(p.prefix_hits.sum()) for p in r.pools) for r in loaded.results[1:]}
    assert got == want
    for r in loaded.results[1:]:
        assert r.block_size == loaded.trace.block_size
        assert all(int(h) % r.block_size == 0 or r.engine == "lmcache" for p in r.pools for h in p.prefix_hits)
        # on these traces no bounded pool hits more than the unlimited one, request by request
        assert all((p.prefix_hits <= r.unlimited.prefix_hits).all() for p in r.pools)


def test_coarser_pages_on_claude_code_hit_less():
    """Pages of 2 and 4 blocks: runs of ids; a coarser page never hits more than a finer one."""
    path = need(CLAUDE / "trace_0012.json")
    rates = []
    for mult in (1, 2, 4):
        b = 64 * mult
        loaded = _load(path, ["vllm", "sglang", "lmcache"], ["65536", "unlimited"], block_size=b, page_size=b)
        assert [r.block_size for r in loaded.results] == [b, b, b]
        rates.append([int(p.prefix_hits.sum()) for r in loaded.results for p in r.pools])
    assert all(x >= y for a, c in zip(rates, rates[1:]) for x, y in zip(a, c))


def test_cli_hashed_engines_json(capsys, monkeypatch):
    from tracetui.report.cli import main

    monkeypatch.setenv("TRACETUI_NO_PROGRESS", "1")
    path = need(CLAUDE / "trace_0012.json")
    assert main(["analyze", str(path), "--engine", "vllm", "sglang", "lmcache", "--pool-tokens", "65536",
                 "unlimited", "--json", "--per-request"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["engine"] for e in doc["engines"]] == ["vllm", "sglang", "lmcache"]
    assert all(e["block_size"] == 64 for e in doc["engines"])
    assert [p["blocks"] for p in doc["engines"][1]["pools"]] == [1024, None]
    for code_args in (["check", str(path), "--engine", "sglang", "--pool-tokens", "65536", "--min-prefix", "0.5"],
                      ["compare", str(path), str(CLAUDE / "trace_0001.json"), "--engine", "sglang", "vllm",
                       "--pool-tokens", "65536", "unlimited", "--json"]):
        assert main(code_args) == 0
        capsys.readouterr()


@pytest.mark.parametrize("cap", [20_000, 65536, None])
def test_engines_equal_references_on_a_slice_of_mooncake(tmp_path, cap):
    """The first 60 Mooncake requests, read by the pipeline, against the token references
    (slow: they compare whole prefixes as tuples of tokens)."""
    lines = need(MOONCAKE).read_text().splitlines()[:60]
    path = tmp_path / "mooncake.jsonl"
    path.write_text("\n".join(lines) + "\n")
    loaded = _load(path, ["vllm", "sglang", "lmcache"], ["unlimited" if cap is None else str(cap)])
    b = loaded.trace.block_size
    tin, tout, fresh = [], [], -1
    for r in loaded.trace.requests:
        h = r.hashed
        tail = h.input_length - h.full_blocks * b
        tin.append([x for x in h.block_ids[:h.full_blocks] for _ in range(b)] + list(range(fresh, fresh - tail, -1)))
        fresh -= tail
        tout.append(list(range(fresh, fresh - h.output_length, -1)))
        fresh -= h.output_length
    want = {"vllm": ref.vllm(tin, tout, cap, b, 131072), "sglang": ref.sglang(tin, tout, cap and cap - cap % b, 131072, b),
            "lmcache": ref.lmcache(tin, tout, cap, b, 131072)}
    for res in loaded.results:
        p = res.pools[0]
        assert (p.prefix_hits.tolist(), p.rejected.tolist()) == want[res.engine], res.engine


def test_tokens_lost_add_up_on_hashed_traces(real):
    """--why's split by cause on a hashed trace (at the trace's block granularity): it adds up
    to prompt - hit for every request, engine and pool; divergence and rounding >= 0."""
    from tracetui.core.result import TraceResult

    _, loaded = real
    plen = loaded.analysis.input_lens.astype(np.int64)
    splits = TraceResult(loaded).loss_splits
    assert set(splits) == {"vllm", "sglang", "lmcache"}
    for r in loaded.results[1:]:
        for p, sp in zip(r.pools, splits[r.engine]):
            assert (sum(sp.values()) == plen - p.prefix_hits).all()
            assert (sp["divergence"] >= 0).all() and (sp["rounding"] >= 0).all()
        assert not splits[r.engine][-1]["eviction"].any()  # the unlimited pool


def test_coarse_pages_lose_to_rounding(tmp_path):
    """Pages of 2 blocks: a prefix of 3 shared blocks keeps 2 (a whole page); the third is
    lost to rounding, not to divergence."""
    from tracetui.core.pipeline import Settings, load
    from tracetui.core.result import TraceResult

    rows = [{"timestamp": 0, "input_length": 64, "output_length": 1, "hash_ids": [1, 2, 3, 4]},
            {"timestamp": 1, "input_length": 64, "output_length": 1, "hash_ids": [1, 2, 3, 9]}]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = load(str(path), Settings(engines=("vllm", "sglang"), pool_tokens=("unlimited",), format="mooncake",
                                      hash_block_size=16, block_size=32, page_size=32))
    for r in loaded.results:
        assert r.unlimited.prefix_hits.tolist() == [0, 32]
        sp = TraceResult(loaded).loss_splits[r.engine][0]
        assert (sp["divergence"].tolist(), sp["rounding"].tolist()) == ([64, 16], [0, 16])
