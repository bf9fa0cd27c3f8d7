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

A prompt of fewer than C tokens has no full chunk in any segment: it finds and stores nothing
whatever its segments, so its segments are never asked for (`segment_starts` finds them on
demand: most chat prompts are never read again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .study import PoolSize
from .base import EnginePool, EngineResult, EngineSettings, Spans, frozen
from .blockids import chain_ids
from .lmcache import DEFAULT_CHUNK, prompt_lengths, replay_chunks

NAME = "cacheblend"


class SegmentStarts(Sequence):
    """Per prompt, the token offsets where its blocks (messages) start, 0 first: `self[i]`
    re-reads request i and splits it when asked (the trace's requests are read again on
    demand anyway)."""

    def __init__(self, trace, inputs: Sequence[np.ndarray], tokenizer) -> None:
        self._requests = trace.requests
        self._inputs = inputs
        self._tokenizer = tokenizer
        self._byte_lengths: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._inputs)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        toks = self._inputs[i]
        if not len(toks):
            return [0]
        if self._byte_lengths is None:
            self._byte_lengths = np.asarray(self._tokenizer.byte_lengths(), dtype=np.int64)
        r = self._requests[i]
        return token_starts(r.input, _block_starts(r.input, r.input_doc), toks, self._byte_lengths)


def segment_starts(trace, inputs: Sequence[np.ndarray], tokenizer) -> SegmentStarts:
    """Token offsets where each prompt's blocks (messages) start (computed per prompt when read)."""
    return SegmentStarts(trace, inputs, tokenizer)


def _block_starts(text: str, doc) -> list[int]:
    from ..blocks import split_blocks

    return [b.start for b in split_blocks(text, doc)]


def token_starts(text: str, chars: Sequence[int], toks: np.ndarray, byte_lengths: np.ndarray) -> list[int]:
    """The tokens where characters `chars` (ascending) of `text` start, as document.char_offsets
    places them: the first token whose start lies at or after the character (a token that starts
    inside a multi-byte character is placed at that character), 0 and len(toks) left out, 0
    first. In bytes: the first token starting at or after the character's first byte."""
    n = len(toks)
    chars = [x for x in chars if x > 0]
    if not n or not chars:
        return [0]
    if text.isascii():
        at = chars
    else:  # each character's first byte, the text encoded once in pieces
        at, prev, acc = [], 0, 0
        for x in chars:
            acc += len(text[prev:x].encode("utf-8", "surrogatepass"))
            at.append(acc)
            prev = x
    ends = np.take(byte_lengths, toks, mode="clip").astype(np.int64, copy=False)  # ids past the table: its last
    np.cumsum(ends, out=ends)
    # Token t starts at ends[t - 1]: the first t >= 1 with ends[t - 1] >= the byte.
    found = (np.searchsorted(ends, at, "left") + 1).tolist()
    return sorted({0} | {s for s in found if s < n})


def run(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], sizes: Sequence[PoolSize],
        settings: EngineSettings, segments: Sequence[Sequence[int]] | None = None) -> EngineResult:
    c, ctx = settings.block_size or DEFAULT_CHUNK, settings.context_length
    plen = prompt_lengths(inputs)
    total = int(plen.sum())
    n = len(plen)
    rejected = frozen(plen >= ctx)
    # Only prompts of a chunk or more can find or store a chunk; every segment of them, flat.
    served = np.flatnonzero(~rejected & (plen >= c)).tolist()
    cuts = []
    for i in served:
        size = int(plen[i])
        cuts.append(np.array([0] if segments is None else
                             sorted({0, *[int(x) for x in segments[i] if 0 < int(x) < size]}), dtype=np.int64))
    counts = np.array([len(x) for x in cuts], dtype=np.int64)
    owner = np.repeat(np.array(served, dtype=np.int64), counts)
    start = np.concatenate(cuts) if cuts else np.zeros(0, np.int64)
    end = np.append(start[1:], 0)
    end[np.cumsum(counts) - 1] = plen[served]  # a request's last segment ends with its prompt
    length = end - start
    # The segments with a full chunk are the replay's groups (the others find and store nothing).
    grouped = np.flatnonzero(length >= c)
    ids = chain_ids([inputs[i][s:s + m] for i, s, m in
                     zip(owner[grouped].tolist(), start[grouped].tolist(), length[grouped].tolist())], c)
    bounds = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in ids], out=bounds[1:])
    flat = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    distinct = int(flat.max()) + 1 if len(flat) else 0  # chain_ids numbers them densely
    # Request i's segments are first_seg[i]:first_seg[i + 1] of the flat arrays.
    first_seg = np.searchsorted(owner, np.arange(n + 1), "left")

    def per_request(x: np.ndarray) -> np.ndarray:
        """Sum of x over each request's segments."""
        return np.diff(np.concatenate(([0], np.cumsum(x, dtype=np.int64)))[first_seg])

    def pool(size: PoolSize, nb: int | None) -> EnginePool:
        reused = np.zeros(len(owner), dtype=np.int64)  # tokens reused per segment
        reused[grouped] = replay_chunks(flat, bounds, owner[grouped], nb) * c
        # prefix: the segments up to the first one not reused whole, that one included.
        broken = (reused < length).astype(np.int64)
        before = np.cumsum(broken) - broken  # segments not reused whole before this one (over the trace)
        leading = before == before[first_seg[owner]]
        prefix = per_request(np.where(leading, reused, 0))
        reuse = per_request(reused)
        # spans: per request, its segments' reused runs, in prompt order (segments are).
        hit = np.flatnonzero(reused > 0)
        spans = Spans.of(owner[hit], start[hit], start[hit] + reused[hit], n)
        recompute = np.rint(reuse * settings.recompute).astype(np.int64)
        return EnginePool(size, nb, frozen(prefix), frozen(reuse), rejected, total, frozen(recompute),
                         spans)

    unlimited = pool(PoolSize(None, None, "∞"), None)
    pools = []
    for s in sizes:
        nb = None if s.capacity is None else s.capacity // c
        pools.append(replace(unlimited, size=s) if nb is None else
                     replace(unlimited, size=s, blocks=nb) if nb >= distinct else pool(s, nb))
    return EngineResult(NAME, c, tuple(pools), unlimited)
