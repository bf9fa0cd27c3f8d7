"""SGLang's unlimited pool without a tree (sglang.never_evicted_matches): against a brute-force
longest common prefix with every earlier key, and against the radix tree it replaces
(RadixReplay with no capacity, which losses.reachable still uses), request by request."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracetui.core.engines import sglang

from . import engines_bruteforce as ref
from .test_engines import arr, long_traces, traces, tree_traces

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def brute(keys):
    """Elements in common from the start with any key before, by comparing them all."""
    out = []
    for i, k in enumerate(keys):
        best = 0
        for j in range(i):
            n = 0
            while n < min(len(k), len(keys[j])) and k[n] == keys[j][n]:
                n += 1
            best = max(best, n)
        out.append(best)
    return out


@st.composite
def key_lists(draw):
    """Keys over a tiny alphabet, many of them extensions or cuts of an earlier one (prefixes
    of each other, equal keys, empty keys), elements of several bytes that differ in any byte."""
    alphabet = st.sampled_from([0, 1, 2, 256, 1 << 24, 2 ** 32 - 1])
    keys: list[list[int]] = []
    for _ in range(draw(st.integers(0, 20))):
        if keys and draw(st.booleans()):
            k = keys[draw(st.integers(0, len(keys) - 1))]
            k = k[:draw(st.integers(0, len(k)))] + draw(st.lists(alphabet, max_size=4))
        else:
            k = draw(st.lists(alphabet, max_size=10))
        keys.append(k)
    return keys


@FAST
@given(key_lists())
def test_never_evicted_matches_equal_brute_force(keys):
    got = sglang.never_evicted_matches([sglang.as_bytes(np.array(k, dtype=np.int64)) for k in keys])
    assert got.tolist() == brute(keys)


def tree_hits(inputs, outputs, context, page):
    """The unlimited pool replayed through the tree, as before (RadixReplay(None).serve)."""
    keys = sglang._text_keys([arr(x) for x in inputs], [arr(x) for x in outputs])
    plens = np.array([len(x) for x in inputs], dtype=np.int64)
    outs = np.array([len(x) for x in outputs], dtype=np.int64)
    hits = np.zeros(len(inputs), dtype=np.int64)
    sglang.RadixReplay(None, page).serve([keys(i) for i in range(len(inputs))],
                                         sglang._plan(plens, outs, None, context, page, 1), hits)
    return hits.tolist()


@pytest.mark.parametrize("tree_free_bytes", [0, 1 << 40])  # the tree always, never
@FAST
@given(tr=st.one_of(traces(), tree_traces(), long_traces()), page=st.integers(1, 4),
       context=st.one_of(st.integers(2, 40), st.just(10_000)))
def test_unlimited_pool_equals_tree_and_reference(tree_free_bytes, tr, page, context):
    inputs, outputs = tr
    with mock.patch.object(sglang, "TREE_FREE_BYTES", tree_free_bytes):
        h, r = sglang.replay([arr(x) for x in inputs], [arr(x) for x in outputs], None, context, page)
    assert h.tolist() == tree_hits(inputs, outputs, context, page)
    assert (h.tolist(), r.tolist()) == ref.sglang(inputs, outputs, None, context, page)


@pytest.mark.parametrize("tree_free_bytes", [0, 1 << 40])
def test_unlimited_pool_with_nothing_to_serve(tree_free_bytes):
    sglang.TREE_FREE_BYTES, old = tree_free_bytes, sglang.TREE_FREE_BYTES
    try:
        _nothing_to_serve()
    finally:
        sglang.TREE_FREE_BYTES = old


def _nothing_to_serve():
    assert sglang.replay([], [], None, 100)[0].tolist() == []
    h, r = sglang.replay([arr([]), arr(range(200))], [arr([1]), arr([])], None, 100)  # empty, refused
    assert (h.tolist(), r.tolist()) == ([0, 0], [False, True])
