"""LMCache's chunked store (lmcache/v1/token_database.py ChunkedTokenDatabase, cache_engine.py
LMCacheEngine lookup/retrieve/store, the local CPU backend's LRU), behind vLLM.

- Chunks of C tokens (256), keyed by the hash chained over the prefix: a chunk key names its
  whole prefix. Only full chunks are stored, and only the prompt's (save_decode_cache off).
- lookup: the contiguous run of stored chunks from the start of the prompt; when it covers
  the whole prompt (a prompt of whole chunks) the vLLM connector still recomputes the last
  token, so the hit is L - 1.
- retrieve touches the chunks hit (LRU, most recent last); store puts the prompt's chunks not
  present, evicting the least recently used chunk when the pool is full.
- The pool holds floor(capacity / C) chunks. A prompt of the context length or more is refused
  (vLLM's max_model_len in front).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from .study import PoolSize
from .base import EnginePool, EngineResult, EngineSettings, frozen
from .blockids import BlockTrace, block_trace

NAME = "lmcache"
DEFAULT_CHUNK = 256


def replay_chunks(groups: Sequence[Sequence[list[int]]], capacity_chunks: int | None) -> list[list[int]]:
    """Stage (b), shared with CacheBlend: request i looks up each of its groups (lists of chunk
    ids) and then stores them; returns, per request and group, the number of leading chunks found."""
    lru: OrderedDict[int, None] = OrderedDict()
    out: list[list[int]] = []
    for req in groups:
        runs = []
        for g in req:
            k = 0
            for c in g:
                if c not in lru:
                    break
                k += 1
            runs.append(k)
            for c in g[:k]:
                lru.move_to_end(c)
        if capacity_chunks != 0:
            for g in req:
                for c in g:
                    if c in lru:
                        continue
                    if capacity_chunks is not None and len(lru) >= capacity_chunks:
                        lru.popitem(last=False)
                    lru[c] = None
        out.append(runs)
    return out


def _prompt_chunks(bt: BlockTrace) -> list[list[int]]:
    c = bt.block_size
    return [ids[:int(p) // c].tolist() for ids, p in zip(bt.ids, bt.prompt_lens)]


def run_blocks(bt: BlockTrace, sizes: Sequence[PoolSize], settings: EngineSettings) -> EngineResult:
    c, ctx = bt.block_size, settings.context_length
    plen = bt.prompt_lens
    total = int(plen.sum())
    rejected = frozen(plen >= ctx)
    chunks = _prompt_chunks(bt)
    groups = [[] if r else [g] for g, r in zip(chunks, rejected.tolist())]
    distinct = len({x for g in groups for s in g for x in s})

    def hits_of(cap: int | None) -> np.ndarray:
        runs = replay_chunks(groups, cap)
        h = np.array([r[0] * c if r else 0 for r in runs], dtype=np.int64)
        return frozen(np.where((h == plen) & (h > 0), h - 1, h))

    u = hits_of(None)
    unlimited = EnginePool(PoolSize(None, None, "∞"), None, u, None, rejected, total)
    pools = []
    for s in sizes:
        nb = None if s.capacity is None else s.capacity // c
        h = u if nb is None or nb >= distinct else hits_of(nb)
        pools.append(EnginePool(s, nb, h, None, rejected, total))
    return EngineResult(NAME, c, tuple(pools), unlimited)


def run(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], sizes: Sequence[PoolSize],
        settings: EngineSettings) -> EngineResult:
    return run_blocks(block_trace(inputs, outputs, settings.block_size or DEFAULT_CHUNK), sizes, settings)
