"""The real engines' replays (core/engines) against plain transcriptions of their rules, on
random traces, request by request; and the engines' own figures on the real traces."""

from __future__ import annotations

import pickle
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracetui.core.engines import EngineSettings, run_engine
from tracetui.core.engines import cacheblend, lmcache, sglang, vllm
from tracetui.core.engines.blockids import BlockTrace, block_trace, chain_ids
from tracetui.core.engines.study import PoolSize

from . import engines_bruteforce as ref
from .paths import SAMPLES, TRACES


def arr(xs):
    return np.asarray(xs, dtype=np.uint32)


def size(cap):
    return PoolSize(None, None, "∞") if cap is None else PoolSize(float(cap), cap, str(cap))


@st.composite
def traces(draw):
    """Agent-like traces: prompts that grow from an earlier prompt + output, or start afresh,
    over a small alphabet (shared prefixes and collisions of content), outputs often empty."""
    n = draw(st.integers(1, 14))
    tok = st.integers(0, 3)
    inputs, outputs = [], []
    for _ in range(n):
        kind = draw(st.integers(0, 3))
        if inputs and kind < 3:
            j = draw(st.integers(0, len(inputs) - 1))
            base = inputs[j] + outputs[j][:max(len(outputs[j]) - 1, 0)] if kind == 0 else inputs[j]
            base = base[:draw(st.integers(0, len(base)))]
            p = base + draw(st.lists(tok, max_size=8))
        else:
            p = draw(st.lists(tok, max_size=16))
        inputs.append(p)
        outputs.append(draw(st.lists(tok, max_size=5)))
    return inputs, outputs


caps = st.one_of(st.none(), st.integers(0, 24), st.integers(0, 120))
contexts = st.one_of(st.integers(2, 40), st.just(10_000))
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(traces(), st.integers(1, 5), caps, contexts)
def test_vllm_equals_reference(tr, block, cap, context):
    inputs, outputs = tr
    want_h, want_r = ref.vllm(inputs, outputs, cap, block, context)
    r = vllm.replay(block_trace([arr(x) for x in inputs], [arr(x) for x in outputs], block), cap, context)
    assert r[0].tolist() == want_h
    assert r[1].tolist() == want_r


@FAST
@given(traces(), st.integers(1, 3), caps, contexts)
def test_sglang_equals_reference(tr, page, cap, context):
    inputs, outputs = tr
    if cap is not None:
        cap -= cap % page
    want_h, want_r = ref.sglang(inputs, outputs, cap, context, page)
    h, r = sglang.replay([arr(x) for x in inputs], [arr(x) for x in outputs], cap, context, page)
    assert h.tolist() == want_h
    assert r.tolist() == want_r


@FAST
@given(traces(), st.integers(1, 5), caps, contexts)
def test_lmcache_equals_reference(tr, chunk, cap, context):
    inputs, outputs = tr
    want_h, want_r = ref.lmcache(inputs, outputs, cap, chunk, context)
    res = run_engine("lmcache", [arr(x) for x in inputs], [arr(x) for x in outputs], [size(cap)],
                     EngineSettings(context_length=context, block_size=chunk))
    assert res.pools[0].prefix_hits.tolist() == want_h
    assert res.pools[0].rejected.tolist() == want_r


@FAST
@given(traces(), st.integers(1, 4), caps, contexts, st.data())
def test_cacheblend_equals_reference(tr, chunk, cap, context, data):
    inputs, outputs = tr
    segs = [sorted(data.draw(st.sets(st.integers(0, max(len(p), 1)), max_size=3))) for p in inputs]
    reuse, prefix, spans = ref.cacheblend(inputs, segs, cap, chunk, context)
    res = run_engine("cacheblend", [arr(x) for x in inputs], [arr(x) for x in outputs], [size(cap)],
                     EngineSettings(context_length=context, block_size=chunk, recompute=0.5), segments=segs)
    p = res.pools[0]
    assert p.substring_hits.tolist() == reuse
    assert p.prefix_hits.tolist() == prefix
    assert p.recompute_tokens.tolist() == np.rint(np.array(reuse) * 0.5).astype(int).tolist()
    assert p.spans == tuple(spans)


@FAST
@given(st.lists(st.lists(st.lists(st.integers(0, 9), max_size=5), max_size=4), max_size=10),
       st.one_of(st.none(), st.integers(0, 12)))
def test_chunk_replay_equals_reference(requests, cap):
    """The flat replay shared by LMCache and CacheBlend (numpy when nothing is evicted, one LRU
    pass otherwise) against the plain LRU: groups of chunk ids, repeated within and across
    requests, empty groups and requests too."""
    want = ref._chunk_lru(requests, cap)
    ids = [c for req in requests for g in req for c in g]
    starts = np.cumsum([0] + [len(g) for req in requests for g in req])
    owner = np.array([i for i, req in enumerate(requests) for _ in req], dtype=np.int64)
    got = lmcache.replay_chunks(np.array(ids, dtype=np.int64), starts, owner, cap).tolist()
    assert got == [k for runs in want for k in runs]


@FAST
@given(st.text(st.characters(exclude_categories=()), max_size=30), st.data())
def test_segment_token_starts_equal_char_offsets(text, data):
    """Block starts mapped to tokens in bytes equal the mapping through every token's character
    (multi-byte characters split by tokens, tokens that do not spell the text: the clip)."""
    from tracetui.core.engines.cacheblend import token_starts

    chars = sorted(data.draw(st.sets(st.integers(0, max(len(text) - 1, 0)), max_size=4)))
    byte_lengths = np.array(data.draw(st.lists(st.integers(0, 4), min_size=6, max_size=6)), dtype=np.int64)
    toks = arr(data.draw(st.lists(st.integers(0, 7), max_size=12)))  # ids past the table: its last entry
    want = ref.segment_starts(text, chars, toks, byte_lengths.astype(np.int32))
    assert token_starts(text, chars, toks, byte_lengths) == want


class _Only(list):
    """Segment starts that may be asked for only at some indices."""

    def __init__(self, items, allowed):
        super().__init__(items)
        self.allowed = allowed

    def __getitem__(self, i):
        assert i in self.allowed, i
        return super().__getitem__(i)


def test_cacheblend_reads_segments_only_of_prompts_of_a_chunk():
    """A prompt shorter than a chunk, or refused, finds and stores nothing whatever its segments:
    they are never asked for (most chat prompts are never read again)."""
    seg = list(range(10))
    inputs = [arr(seg[:3]), arr(seg), arr(seg + [1] * 30), arr(seg + seg)]
    segs = _Only([[0, 1], [0, 5], [0, 5], [0, 10]], allowed={1, 3})
    res = run_engine("cacheblend", inputs, [arr([])] * 4, [size(None)],
                     EngineSettings(block_size=5, context_length=30), segments=segs)
    assert res.pools[0].substring_hits.tolist() == [0, 0, 0, 10]
    assert res.pools[0].rejected.tolist() == [False, False, True, False]


@pytest.mark.parametrize("name", ["opencode_like.jsonl", "aider_like.jsonl", "request_bodies.jsonl",
                                  "big_prompt.jsonl", "two_sessions.jsonl"])
def test_segment_starts_are_the_blocks_tokens(name, tokenizer):
    """Every prompt's segment starts: its blocks' first tokens, as the explorer maps tokens to
    characters (tests/engines_bruteforce.segment_starts)."""
    from tracetui.core.blocks import split_blocks
    from tracetui.core.engines.cacheblend import segment_starts
    from tracetui.core.formats.loader import read_traces
    from tracetui.core.pipeline import Settings, tokenize

    trace = read_traces(str(SAMPLES / name), Settings().format_options)
    inputs, outputs = tokenize(trace, tokenizer)
    got = segment_starts(trace, inputs, tokenizer)
    assert len(got) == len(inputs)
    for i, r in enumerate(trace.requests):
        want = ref.segment_starts(r.input, [b.start for b in split_blocks(r.input, r.input_doc)], inputs[i],
                                  tokenizer.byte_lengths())
        assert got[i] == want, i


@FAST
@given(traces(), st.integers(1, 4), st.lists(caps, min_size=1, max_size=4), st.integers(1, 3))
def test_sweeps_equal_single_replays(tr, block, sizes, page):
    """The shortcut that reuses the unlimited pool never changes a figure."""
    inputs, outputs = [[arr(x) for x in t] for t in tr]
    s = EngineSettings(context_length=30, block_size=block, page_size=page)
    for name, one in (("vllm", lambda c: vllm.replay(block_trace(inputs, outputs, block), c, 30)),
                      ("sglang", lambda c: sglang.replay(inputs, outputs, c if c is None else c - c % page, 30, page))):
        res = run_engine(name, inputs, outputs, [size(c) for c in sizes], s)
        for c, p in zip(sizes, res.pools):
            h, r = one(c)
            assert p.prefix_hits.tolist() == h.tolist() and p.rejected.tolist() == r.tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2), max_size=12), max_size=8), st.integers(1, 4))
def test_chain_ids_are_prefix_ids(seqs, b):
    ids = chain_ids([arr(s) for s in seqs], b)
    seen = {}
    for s, x in zip(seqs, ids):
        assert len(x) == len(s) // b
        for j, v in enumerate(x.tolist()):
            key = tuple(s[:(j + 1) * b])
            assert seen.setdefault(key, v) == v
    assert len(set(seen.values())) == len(seen)


def test_chain_ids_survive_a_collision(monkeypatch):
    """A hash that sends everything to one key must still give exact ids."""
    from tracetui.core.engines import blockids

    monkeypatch.setattr(blockids, "_P", np.uint64(0))
    monkeypatch.setattr(blockids, "_Q", np.uint64(1))
    ids = blockids.chain_ids([arr([1, 2, 3, 4]), arr([1, 2, 5, 6]), arr([9, 9, 3, 4])], 2)
    assert [x.tolist() for x in ids] == [[0, 1], [0, 2], [3, 4]]


@FAST
@given(traces(), st.integers(1, 4), caps)
def test_vllm_stage_b_takes_ids_directly(tr, block, cap):
    """A hashed trace: ids of the prompt's full blocks only, outputs unknown. The same as the
    reference with outputs nobody else has."""
    inputs, outputs = tr
    unique = [[1000 + 100 * i + k for k in range(len(o))] for i, o in enumerate(outputs)]
    full = block_trace([arr(x) for x in inputs], [arr(x) for x in unique], block)
    ids = tuple(x[:len(p) // block] for x, p in zip(full.ids, inputs))
    bt = BlockTrace(block, ids, full.prompt_lens, full.output_lens)
    want_h, want_r = ref.vllm(inputs, unique, cap, block, 10_000)
    h, r = vllm.replay(bt, cap, 10_000)
    assert h.tolist() == want_h and r.tolist() == want_r


# --------------------------------------------------------------------------- hand-made

def test_vllm_exact_multiple_hits_one_block_less_and_keeps_a_copy():
    # Prompt of exactly 2 blocks, seen before: the hit stops at (L-1)//B = 1 block; block 2 is
    # computed again, a second copy of its chain.
    inputs = [arr([1, 2, 3, 4]), arr([1, 2, 3, 4]), arr([1, 2, 3, 4, 5])]
    outputs = [arr([]), arr([]), arr([])]
    h, r = vllm.replay(block_trace(inputs, outputs, 2), None, 100)
    assert h.tolist() == [0, 2, 4]


def test_vllm_rejects_at_max_model_len():
    inputs, outputs = [arr(range(8)), arr(range(7))], [arr([1, 2]), arr([1, 2, 3])]
    h, r = vllm.replay(block_trace(inputs, outputs, 4), 8, 1000)  # max_model_len 8
    assert r.tolist() == [True, False]


@st.composite
def tree_traces(draw):
    """Traces that work SGLang's tree: a prompt repeats an earlier request's stored tokens cut
    anywhere (matches that end inside a node or at its end, splits), an output may repeat
    what followed in that earlier request (the last insert walks on through nodes and splits
    them), over two letters (divergences everywhere), outputs long enough to evict in decode."""
    n = draw(st.integers(1, 16))
    tok = st.integers(0, 1)
    inputs, outputs, stored = [], [], []
    for _ in range(n):
        if stored and draw(st.booleans()):
            k = stored[draw(st.integers(0, len(stored) - 1))]
            cut = draw(st.integers(0, len(k)))
            p = k[:cut] + draw(st.lists(tok, max_size=3))
            o = (k[len(p):len(p) + draw(st.integers(0, 6))] if len(p) == cut else []) + draw(st.lists(tok, max_size=3))
        else:
            p, o = draw(st.lists(tok, max_size=12)), draw(st.lists(tok, max_size=8))
        inputs.append(p)
        outputs.append(o)
        stored.append(p + o[:max(len(o) - 1, 0)])
    return inputs, outputs


@FAST
@given(tree_traces(), st.integers(1, 4), st.lists(st.one_of(st.none(), st.integers(0, 40)), min_size=1, max_size=4),
       st.integers(1, 5), st.one_of(st.integers(8, 40), st.just(10_000)))
def test_sglang_pools_side_by_side_equal_reference(tr, page, caps, chunk, context):
    """Tiny evicting pools (evictions at the prefill and in decode, of the leaves a walk just
    split, next to the running request's locked path), pages of 1 to 4 tokens, several pools
    replayed side by side over chunks of a few requests: each equals the step-by-step
    reference, which gives every node a time at every visit and locks the whole path."""
    inputs, outputs = tr
    caps = [c if c is None else c - c % page for c in caps]
    keys = sglang._text_keys([arr(x) for x in inputs], [arr(x) for x in outputs])
    with mock.patch.object(sglang, "CHUNK_REQUESTS", chunk):
        got = sglang.replay_pools(keys, [len(x) for x in inputs], [len(x) for x in outputs], caps, context, page)
    for c, (h, r) in zip(caps, got):
        assert (h.tolist(), r.tolist()) == ref.sglang(inputs, outputs, c, context, page), c


@st.composite
def long_traces(draw):
    """Prompts of hundreds of tokens that repeat an earlier one's stored tokens up to a cut
    and part from it anywhere after (one token changed): the long keys where the replay
    searches where two keys part in steps."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    inputs, outputs, stored = [], [], []
    for _ in range(draw(st.integers(1, 8))):
        if stored and draw(st.booleans()):
            k = stored[draw(st.integers(0, len(stored) - 1))]
            p = k[:draw(st.integers(0, len(k)))] + rng.integers(0, 3, draw(st.integers(0, 300))).tolist()
            if p and draw(st.booleans()):
                p[draw(st.integers(0, len(p) - 1))] = 7  # a token nobody has: they part there
        else:
            p = rng.integers(0, 3, draw(st.integers(0, 1200))).tolist()
        o = rng.integers(0, 3, draw(st.integers(0, 80))).tolist()
        inputs.append(p)
        outputs.append(o)
        stored.append(p + o[:max(len(o) - 1, 0)])
    return inputs, outputs


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long_traces(), st.integers(1, 4), st.lists(st.one_of(st.none(), st.integers(0, 3000)), min_size=1, max_size=3))
def test_sglang_long_keys_equal_reference(tr, page, caps):
    inputs, outputs = tr
    caps = [c if c is None else c - c % page for c in caps]
    keys = sglang._text_keys([arr(x) for x in inputs], [arr(x) for x in outputs])
    got = sglang.replay_pools(keys, [len(x) for x in inputs], [len(x) for x in outputs], caps, 10_000, page)
    for c, (h, r) in zip(caps, got):
        assert (h.tolist(), r.tolist()) == ref.sglang(inputs, outputs, c, 10_000, page), c


@pytest.mark.parametrize("m", [4, 8, 256, 260, 512, 516, 1024, 3000, 4096])
def test_sglang_common_bytes_finds_every_parting(m):
    """Where two keys part, at every byte of every length around the search's steps, and at
    an offset in the request's key; equal keys share all m bytes."""
    key = bytes(range(256)) * (m // 256 + 1)
    kb = b"xyz!" + key
    assert sglang._common_bytes(key[:m], kb, 4, m) == m
    for at in range(m):
        other = kb[:4 + at] + bytes([kb[4 + at] ^ 0x40]) + kb[5 + at:]
        assert sglang._common_bytes(key[:m], other, 4, m) == at, at
        assert sglang._common_bytes(key[:m] + b"tail", other, 4, m) == at, at


def test_sglang_caps_at_l_minus_1_and_rejects():
    inputs, outputs = [arr([1, 2, 3]), arr([1, 2, 3]), arr(range(20))], [arr([]), arr([]), arr([])]
    h, r = sglang.replay(inputs, outputs, None, 100)
    assert h.tolist() == [0, 2, 0] and r.tolist() == [False, False, False]
    h, r = sglang.replay(inputs, outputs, 25, 100)  # max_req_len 24: prompts of 19+ refused
    assert r.tolist() == [False, False, True]


def test_sglang_paged_decode_evicts_a_page_ahead():
    """Pages of 2, small pools: SGLang's paged decode asks for a free page at every step (so
    it evicts a leaf one step before a new page is needed) and the prefill's demand is one
    page more than it takes; the replay equals the step-by-step reference."""
    inputs = [arr([1, 2, 3, 4, 5]), arr([1, 2, 3, 4, 9, 9]), arr([1, 2, 3, 4, 5, 6, 7])]
    outputs = [arr([6, 7, 8]), arr([1, 1]), arr([])]
    for cap in (12, 14, 16, 20):
        want = ref.sglang([list(x) for x in inputs], [list(x) for x in outputs], cap, 1000, 2)
        h, r = sglang.replay(inputs, outputs, cap, 1000, 2)
        assert (h.tolist(), r.tolist()) == want, cap


def test_sglang_memory_clip_binds_with_pages():
    """max_new_tokens_for_memory: min(M, N - ceil_P(L) - P - 1); a pool of 32 with pages of 8
    and a prompt of 9 tokens leaves at most 32 - 16 - 8 - 1 = 7 output tokens: the output's
    full pages stored stop there (prompt 9 + 6 fed = 15 tokens: one whole page of output
    would need 16)."""
    inputs = [arr(range(9)), arr(list(range(9)) + list(range(100, 107)) + [5])]
    outputs = [arr(range(100, 120)), arr([])]
    h, _ = sglang.replay(inputs, outputs, 32, 1000, 8)
    assert h.tolist() == [0, 8]
    h, _ = sglang.replay(inputs, outputs, None, 1000, 8)
    assert h.tolist() == [0, 16]


def test_hashed_ids_feed_stage_b_directly():
    """Mooncake-like input: block ids only, outputs with no tokens (fresh ids)."""
    bt = BlockTrace(4, (np.array([7, 8]), np.array([7, 8, 9]), np.array([7])),
                    np.array([8, 12, 6]), np.array([3, 1, 0]))
    h, r = vllm.replay(bt, None, 1000)
    assert h.tolist() == [0, 8, 4]


# --------------------------------------------------------------------------- the figures

GOLDEN = [  # trace, unlimited vllm, sglang, then {pool tokens: (vllm, sglang)}
    ("aider/gpt_4o_astropy__astropy-13977.jsonl", 287935, 34976, 35030, {65536: (12096, 9037), 78848: (22720, 21563)}),
    ("aider/gpt-4o-mini__sympy__sympy-13974.jsonl", 216981, 90160, 90261, {65536: (90160, 90261), 32768: (87856, 77803)}),
    ("opencode/gpt-5-mini-task2.jsonl", 60273, 53200, 53268, {65536: (53200, 53268)}),
    ("opencode/gpt-5-mini-task3.jsonl", 411980, 394384, 394621, {65536: (394384, 394621)}),
    ("miniswe/063925220f0d2954505eb37612b11ab3.jsonl", 128002, 119520, 119776, {65536: (119520, 119776)}),
    ("taubench/253f1bdf4cfa489d2b5801d3b46fc498.jsonl", 5612, 4736, 4952, {65536: (4736, 4952)}),
]


@pytest.fixture(scope="module")
def tokenizer():
    from tracetui.core.tokenizer import load_tokenizer

    return load_tokenizer("cl100k_base")


@pytest.mark.parametrize("case", GOLDEN, ids=[g[0].split("/")[-1][:24] for g in GOLDEN])
def test_engines_match_vllm_and_sglang_on_real_traces(case, tokenizer):
    from tracetui.core.pipeline import tokenize
    from tracetui.core.reader import read_trace

    name, prompt_tokens, vu, su, pools = case
    path = TRACES / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    inputs, outputs = tokenize(read_trace(str(path)), tokenizer)
    assert sum(len(a) for a in inputs) == prompt_tokens
    sizes = [size(None)] + [size(c) for c in pools]
    for k, eng in enumerate(("vllm", "sglang")):
        res = run_engine(eng, inputs, outputs, sizes, EngineSettings(context_length=131072))
        got = [int(p.prefix_hits.sum()) for p in res.pools]
        assert got == [(vu, su)[k]] + [v[k] for v in pools.values()], eng


@FAST
@given(traces(), st.integers(1, 4), st.lists(caps, min_size=1, max_size=3), st.sampled_from(["vllm", "sglang", "lmcache"]))
def test_losses_add_up(tr, block, sizes, name):
    """Divergence + eviction + rounding + rejection = prompt - hit, for every request and pool;
    divergence and rounding are never negative, and the unlimited pool evicts nothing."""
    from tracetui.core.engines import losses

    inputs, outputs = [[arr(x) for x in t] for t in tr]
    s = EngineSettings(context_length=30, block_size=block)
    res = run_engine(name, inputs, outputs, [size(c) for c in sizes] + [size(None)], s)
    reach = losses.reachable(res, inputs, outputs, s)
    plen = np.array([len(a) for a in inputs], dtype=np.int64)
    for p in res.pools:
        sp = losses.split(res, p, reach, plen)
        assert (sum(sp.values()) == plen - p.prefix_hits).all()
        assert (sp["divergence"] >= 0).all() and (sp["rounding"] >= 0).all()
    assert not losses.split(res, res.pools[-1], reach, plen)["eviction"].any()


def test_cacheblend_spans_are_the_reused_tokens():
    seg = [1, 2, 3, 4, 5, 6]
    inputs = [arr(seg + [9]), arr([7, 7, 7] + seg)]
    res = run_engine("cacheblend", inputs, [arr([]), arr([])], [size(None)], EngineSettings(block_size=2),
                     segments=[[0, 6], [0, 3]])
    p = res.pools[0]
    assert p.substring_hits.tolist() == [0, 6] and p.prefix_hits.tolist() == [0, 0]
    assert p.spans == ((), ((3, 9),))


@pytest.mark.parametrize("cap", [None, *range(4, 30)])
def test_vllm_many_copies_of_a_chain(cap):
    """A prompt of whole blocks repeated: each repeat recomputes its last block, one more copy
    of that chain; lookups must find the first cached copy still present, as the reference."""
    p = [1, 2, 3, 4]
    inputs = [p, p, p, p, p + [5], [9, 9, 9], p + [5, 6], p, p + [5]]
    outputs = [[], [7], [], [7, 8, 1], [], [2, 2], [], [], []]
    want = ref.vllm(inputs, outputs, cap, 2, 1000)
    got = vllm.replay(block_trace([arr(x) for x in inputs], [arr(x) for x in outputs], 2), cap, 1000)
    assert (got[0].tolist(), got[1].tolist()) == want
