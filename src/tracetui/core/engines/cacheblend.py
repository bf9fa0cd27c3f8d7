"""LMCache's CacheBlend (lmcache/v1/compute/blend, the blender and its segment keys): chunks are
reused at any position, segment by segment.

- The prompt is split into segments at its message boundaries (the block splitter's blocks,
  where LMCache splits at its blend separator); each segment's chunks of C tokens are keyed
  from the segment's own start, independently of what precedes it, so a segment seen before
  anywhere (in any prompt, at any offset) is found again.
- Per segment, the leading run of stored full chunks is reused; every segment's full chunks
  are stored afterwards, in one LRU over chunks of floor(capacity / C) entries (LMCache's).
- The reused KV is blended: a fraction (--recompute, 0.15) of its tokens is recomputed;
  reported apart, the reuse is not reduced by it.
- prefix hits: the reuse that is contiguous from the prompt's start (segments reused whole,
  then the first one reused in part), what a prefix cache would have kept of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .study import PoolSize
from .base import EnginePool, EngineResult, EngineSettings, frozen
from .blockids import chain_ids
from .lmcache import DEFAULT_CHUNK, replay_chunks

NAME = "cacheblend"


def segment_starts(trace, inputs: Sequence[np.ndarray], tokenizer) -> list[list[int]]:
    """Token offsets where each prompt's blocks (messages) start."""
    from ..blocks import split_blocks
    from ..document import char_offsets

    byte_lengths = tokenizer.byte_lengths()
    out = []
    for r, toks in zip(trace.requests, inputs):
        if not len(toks):
            out.append([0])
            continue
        offs = char_offsets(r.input, toks, byte_lengths)[:-1]
        starts = {int(np.searchsorted(offs, b.start, "left")) for b in split_blocks(r.input, r.input_doc)}
        out.append(sorted({0} | {s for s in starts if 0 < s < len(toks)}))
    return out


def run(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], sizes: Sequence[PoolSize],
        settings: EngineSettings, segments: Sequence[Sequence[int]] | None = None) -> EngineResult:
    c, ctx = settings.block_size or DEFAULT_CHUNK, settings.context_length
    plen = np.array([len(a) for a in inputs], dtype=np.int64)
    total = int(plen.sum())
    rejected = frozen(plen >= ctx)
    if segments is None:
        segments = [[0]] * len(inputs)
    seqs, owner, seg_len = [], [], []
    for i, (a, st) in enumerate(zip(inputs, segments)):
        if rejected[i] or not len(a):
            continue
        cuts = sorted({0, *[int(x) for x in st if 0 < int(x) < len(a)]})
        for s, e in zip(cuts, cuts[1:] + [len(a)]):
            seqs.append(a[s:e])
            owner.append(i)
            seg_len.append(e - s)
    ids = chain_ids(seqs, c)
    groups: list[list[list[int]]] = [[] for _ in inputs]
    lens: list[list[int]] = [[] for _ in inputs]
    for i, x, n in zip(owner, ids, seg_len):
        groups[i].append(x.tolist())
        lens[i].append(n)
    distinct = len({x for g in groups for s in g for x in s})

    def pool(size: PoolSize, nb: int | None) -> EnginePool:
        runs = replay_chunks(groups, nb)
        reuse = np.zeros(len(inputs), dtype=np.int64)
        prefix = np.zeros(len(inputs), dtype=np.int64)
        spans = []
        for i, (r, ls) in enumerate(zip(runs, lens)):
            reuse[i] = sum(r) * c
            at, mine = 0, []
            for k, n in zip(r, ls):
                if k:
                    mine.append((at, at + k * c))
                at += n
            spans.append(tuple(mine))
            for k, n in zip(r, ls):
                prefix[i] += k * c
                if k * c < n:
                    break
        recompute = np.rint(reuse * settings.recompute).astype(np.int64)
        return EnginePool(size, nb, frozen(prefix), frozen(reuse), rejected, total, frozen(recompute), tuple(spans))

    unlimited = pool(PoolSize(None, None, "∞"), None)
    pools = []
    for s in sizes:
        nb = None if s.capacity is None else s.capacity // c
        pools.append(replace(unlimited, size=s) if nb is None else
                     replace(unlimited, size=s, blocks=nb) if nb >= distinct else pool(s, nb))
    return EngineResult(NAME, c, tuple(pools), unlimited)
