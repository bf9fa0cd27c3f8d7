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
from .blockids import BlockTrace, chain_ids

NAME = "lmcache"
DEFAULT_CHUNK = 256


def prompt_lengths(inputs: Sequence[np.ndarray]) -> np.ndarray:
    """len(inputs[i]) for every i (a TokenStore knows them all: no array per request)."""
    lengths = getattr(inputs, "lengths", None)
    if isinstance(lengths, np.ndarray):
        return lengths.astype(np.int64, copy=True)
    return np.array([len(a) for a in inputs], dtype=np.int64)


def replay_chunks(ids: np.ndarray, starts: np.ndarray, owner: np.ndarray, capacity_chunks: int | None) -> np.ndarray:
    """Stage (b), shared with CacheBlend. Group g holds the chunk ids ids[starts[g]:starts[g + 1]]
    and belongs to request owner[g] (nondecreasing: groups in request order, a request's groups
    in prompt order; requests with no chunk are left out, they neither find nor store any).
    Request by request, every group of it is looked up (its leading run of stored chunks, which
    are touched), then all its chunks are stored. Returns the leading run of each group."""
    g = len(starts) - 1
    if g <= 0 or capacity_chunks == 0:  # a pool of no chunk stores nothing, so finds nothing
        return np.zeros(max(g, 0), dtype=np.int64)
    if capacity_chunks is None:
        return _unbounded_runs(ids, starts, owner)
    flat, bounds, who = ids.tolist(), starts.tolist(), owner.tolist()
    lru: OrderedDict[int, None] = OrderedDict()
    touch, evict = lru.move_to_end, lru.popitem
    out = [0] * g
    room = capacity_chunks
    j = 0
    while j < g:
        r, first = who[j], j
        while j < g and who[j] == r:  # lookups of request r: each group's leading run
            a, b = bounds[j], bounds[j + 1]
            k = a
            try:
                for c in flat[a:b]:
                    touch(c)  # KeyError: not stored, the run ends (touching sooner changes no lookup)
                    k += 1
            except KeyError:
                pass
            out[j] = k - a
            j += 1
        for c in flat[bounds[first]:bounds[j]]:  # then its stores
            if c not in lru:
                if room:
                    room -= 1
                else:  # full, and it stays full: nothing leaves but by eviction
                    evict(last=False)
                lru[c] = None
    return np.array(out, dtype=np.int64)


def _unbounded_runs(ids: np.ndarray, starts: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """replay_chunks with no eviction, in numpy: a chunk is found exactly when an earlier request
    stored it, i.e. when the first request holding it is an earlier one."""
    n = len(ids)
    counts = np.diff(starts)
    chunk_req = np.repeat(owner, counts)
    _, first, inv = np.unique(ids, return_index=True, return_inverse=True)
    found = chunk_req[first][inv.reshape(-1)] < chunk_req
    # Each group's leading run: the offset of its first chunk not found (else its length).
    pos = np.arange(n, dtype=np.int64) - np.repeat(starts[:-1], counts)
    miss = np.where(found, np.iinfo(np.int64).max, pos)
    nonempty = counts > 0
    out = np.zeros(len(counts), dtype=np.int64)
    if n:
        out[nonempty] = np.minimum(np.minimum.reduceat(miss, starts[:-1][nonempty]), counts[nonempty])
    return out


def _result(ids: list[np.ndarray], served: np.ndarray, plen: np.ndarray, rejected: np.ndarray, c: int,
            sizes: Sequence[PoolSize]) -> EngineResult:
    """The pools, from the prompt chunk ids of the requests `served` (not refused, one chunk
    or more: the others hit 0)."""
    counts = np.array([len(x) for x in ids], dtype=np.int64)
    starts = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    flat = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    distinct = len(np.unique(flat))
    total = int(plen.sum())

    def hits_of(cap: int | None) -> np.ndarray:
        h = np.zeros(len(plen), dtype=np.int64)
        h[served] = replay_chunks(flat, starts, served, cap) * c
        return frozen(np.where((h == plen) & (h > 0), h - 1, h))

    u = hits_of(None)
    unlimited = EnginePool(PoolSize(None, None, "∞"), None, u, None, rejected, total)
    pools = []
    for s in sizes:
        nb = None if s.capacity is None else s.capacity // c
        h = u if nb is None or nb >= distinct else hits_of(nb)
        pools.append(EnginePool(s, nb, h, None, rejected, total))
    return EngineResult(NAME, c, tuple(pools), unlimited)


def run_blocks(bt: BlockTrace, sizes: Sequence[PoolSize], settings: EngineSettings) -> EngineResult:
    c = bt.block_size
    plen = bt.prompt_lens
    rejected = frozen(plen >= settings.context_length)
    served = np.flatnonzero(~rejected & (plen >= c))
    ids = [bt.ids[i][:p // c] for i, p in zip(served.tolist(), plen[served].tolist())]
    return _result(ids, served, plen, rejected, c, sizes)


def run(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], sizes: Sequence[PoolSize],
        settings: EngineSettings) -> EngineResult:
    # Only the prompts' full chunks are ever stored or looked up: the outputs play no part.
    c = settings.block_size or DEFAULT_CHUNK
    plen = prompt_lengths(inputs)
    rejected = frozen(plen >= settings.context_length)
    served = np.flatnonzero(~rejected & (plen >= c))
    return _result(chain_ids([inputs[i] for i in served.tolist()], c), served, plen, rejected, c, sizes)
