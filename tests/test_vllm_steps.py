"""vLLM's replay has two steps on one state: a scalar one for requests of few blocks and a numpy
one for long requests (vllm.SHORT). Both, and every mix of them within one trace, against the
brute-force reference; and the sweep's shortcut for pools that never evict."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracetui.core.engines import EngineSettings, vllm
from tracetui.core.engines.blockids import BlockTrace, block_trace, coarsen

from . import engines_bruteforce as ref
from .test_engines import arr, size
from .test_hashed_engines import block_trace_of, hashed_traces

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# 0: every request takes the numpy step; a huge one: every request the scalar step; between:
# short and long requests of one trace take different steps over the same state.
shorts = st.sampled_from([0, 1, 2, 3, 5, 10**9])
caps = st.one_of(st.none(), st.integers(0, 16), st.integers(0, 48), st.integers(0, 200))
contexts = st.one_of(st.integers(2, 60), st.just(10_000))


@st.composite
def mixed_traces(draw):
    """Short and long requests mixed: a prompt sent again (a prompt of whole blocks recomputes
    its last block: another copy of its chain), an earlier prompt + output cut anywhere (partial
    last blocks) and extended, a long shared document cut anywhere, fresh prompts short or long;
    outputs empty to long (context and pool clips)."""
    tok = st.integers(0, 2)
    doc = draw(st.lists(tok, max_size=60))
    inputs, outputs = [], []
    for _ in range(draw(st.integers(1, 18))):
        kind = draw(st.integers(0, 4))
        if kind == 0 and inputs:
            p = list(draw(st.sampled_from(inputs)))
        elif kind == 1 and inputs:
            j = draw(st.integers(0, len(inputs) - 1))
            base = inputs[j] + outputs[j][:max(len(outputs[j]) - 1, 0)]
            p = base[:draw(st.integers(0, len(base)))] + draw(st.lists(tok, max_size=10))
        elif kind == 2:
            p = doc[:draw(st.integers(0, len(doc)))] + draw(st.lists(tok, max_size=4))
        else:
            p = draw(st.lists(tok, max_size=draw(st.sampled_from([3, 12, 50]))))
        inputs.append(p)
        outputs.append(draw(st.lists(tok, max_size=draw(st.sampled_from([1, 6, 25])))))
    return inputs, outputs


def _bt(inputs, outputs, block):
    return block_trace([arr(x) for x in inputs], [arr(x) for x in outputs], block)


@FAST
@given(mixed_traces(), st.integers(1, 4), caps, contexts, shorts)
def test_both_steps_equal_reference(tr, block, cap, context, short):
    inputs, outputs = tr
    h, r = vllm.replay(_bt(inputs, outputs, block), cap, context, short=short)
    assert (h.tolist(), r.tolist()) == ref.vllm(inputs, outputs, cap, block, context)


@FAST
@given(hashed_traces(), st.integers(1, 3), caps, contexts, shorts)
def test_both_steps_on_block_ids_equal_reference(tr, factor, cap, context, short):
    """Ids of the prompt's full blocks only: the blocks past them are cached but never found."""
    b, ids, plens, olens, tin, tout = tr
    bt = coarsen(block_trace_of(b, ids, plens, olens), factor)
    h, r = vllm.replay(bt, cap, context, short=short)
    assert (h.tolist(), r.tolist()) == ref.vllm(tin, tout, cap, factor * b, context)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 2, 4, 16]), st.sampled_from([0, 4, 12, 40, 10**9]))
def test_steps_agree_on_larger_traces(seed, block, short):
    """Traces too long for the reference (hundreds of requests, up to ~100 blocks each): any
    mix of the steps gives the scalar step's figures, in small pools and large."""
    rng = np.random.default_rng(seed)
    docs = [rng.integers(0, 3, int(rng.integers(0, 400))).astype(np.uint32) for _ in range(4)]
    inputs, outputs = [], []
    for _ in range(int(rng.integers(1, 300))):
        d = docs[int(rng.integers(0, 4))]
        inputs.append(np.concatenate((d[:int(rng.integers(0, len(d) + 1))],
                                      rng.integers(0, 3, int(rng.integers(0, 30))).astype(np.uint32))))
        outputs.append(rng.integers(0, 3, int(rng.integers(0, 40))).astype(np.uint32))
    bt = block_trace(inputs, outputs, block)
    prep = vllm.prepare(bt)
    for cap in (None, 0, 3 * block, 40 * block, 400 * block):
        for context in (10_000, 120):
            want = vllm.replay(bt, cap, context, prep, short=10**9)
            got = vllm.replay(bt, cap, context, prep, short=short)
            assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_traces(), st.integers(1, 4), contexts)
def test_sweep_shortcut_at_every_pool_size(tr, block, context):
    """Every pool size from nothing to past all the blocks the trace computes, the ones around
    the unlimited pool's peak included: the sweep (which takes the unlimited pool's figures
    for a pool that never evicts) equals a replay of each."""
    inputs, outputs = tr
    bt = _bt(inputs, outputs, block)
    most = int((-(-bt.kv_lens // block)).sum())
    sizes = list(range(0, (most + 2) * block + 1))
    res = vllm.run_blocks(bt, [size(c) for c in sizes], EngineSettings(context_length=context))
    for c, p in zip(sizes, res.pools):
        h, r = vllm.replay(bt, c, context)
        assert p.prefix_hits.tolist() == h.tolist() and p.rejected.tolist() == r.tolist(), c


def test_many_copies_of_a_chain_in_either_step():
    """The same prompt of whole blocks sent again and again: each send recomputes its last
    block, one more copy of that chain; small pools evict copies in any order."""
    p = [1, 2, 3, 4]
    inputs = [p, p, p, p, p + [5], [9, 9, 9], p + [5, 6], p, p + [5], p, p]
    outputs = [[], [7], [], [7, 8, 1], [], [2, 2], [], [], [], [], [3]]
    for cap in (None, *range(0, 30)):
        want = ref.vllm(inputs, outputs, cap, 2, 1000)
        for short in (0, 1, 2, 10**9):
            got = vllm.replay(_bt(inputs, outputs, 2), cap, 1000, short=short)
            assert (got[0].tolist(), got[1].tolist()) == want, (cap, short)


def test_empty_trace_and_pool_of_no_block():
    bt = BlockTrace(4, (), np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert [x.tolist() for x in vllm.replay(bt, None, 100)] == [[], []]
    bt = _bt([[1, 2, 3], []], [[], [4]], 4)
    assert [x.tolist() for x in vllm.replay(bt, 3, 100)] == [[0, 0], [True, False]]
