"""vLLM V1 automatic prefix caching (v0.33: vllm/v1/core/kv_cache_utils.py, block_pool.py,
kv_cache_manager.py, single_type_kv_cache_manager.py), replayed one request at a time.

- find_longest_cache_hit: the leading prompt blocks whose chain is cached, looking at no more
  than floor((L-1)/B) blocks (max_cache_hit_length = num_tokens - 1).
- touch: blocks hit leave the free queue while the request runs.
- allocate_slots / get_new_blocks: new blocks come off the front of the free queue; one that
  holds a cached block evicts it (_maybe_evict_cached_block); cache_full_blocks caches every
  full block computed, a second copy of a chain included (BlockHashToBlockMap keeps copies,
  get_one_block returns the first cached).
- free_blocks: the request's blocks go back in reverse order, the cached ones to the end of
  the queue, the one holding no hash (the partial last block) to the front.
- A request leaves the KV of L + M - 1 tokens (the last sampled token is never fed).
- max_model_len = min(context length, N x B); a prompt of max_model_len tokens or more is
  refused, an output is stopped at max_model_len tokens in all.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from .study import PoolSize
from .base import EnginePool, EngineResult, EngineSettings, frozen
from .blockids import BlockTrace, block_trace

NAME = "vllm"
DEFAULT_BLOCK = 16


class _Pool:
    """The block pool between two requests: what a replay resumes from.

    The free queue is [empty blocks..., cached blocks (LRU, front first)]: blocks never used
    start at the front, and free_blocks prepends the blocks that hold no hash (a request's
    partial last block) and appends the cached ones, so the empty ones always come first.
    Which physical block is which does not change a hit: empty blocks are only counted."""

    __slots__ = ("spare", "queue", "chain_of", "cached", "serial")

    def __init__(self, spare: int) -> None:
        self.spare = spare  # empty free blocks at the front of the queue (-1: unlimited)
        self.queue: OrderedDict[int, None] = OrderedDict()  # cached free blocks, front first
        self.chain_of: dict[int, int] = {}  # block -> the chain it caches
        self.cached: dict[int, list[int]] = {}  # chain -> its cached copies, first cached first
        self.serial = 0  # names for new blocks

    def copy(self, spare: int) -> _Pool:
        c = _Pool(spare)
        c.queue = self.queue.copy()
        c.chain_of = self.chain_of.copy()
        c.cached = {k: list(v) for k, v in self.cached.items()}
        c.serial = self.serial
        return c


def replay(bt: BlockTrace, capacity: int | None, context_length: int, *, start: int = 0,
           pool: _Pool | None = None, hits: np.ndarray | None = None, rejected: np.ndarray | None = None,
           snapshots: frozenset[int] = frozenset(), kept: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stage (b): (hit tokens, rejected) per request.

    `start`, `pool`, `hits`, `rejected`: resume at request `start` from a pool state (a pool that
    has evicted nothing so far is the unlimited pool's state, with its own empty blocks).
    `snapshots`: requests before which the state is kept, in `kept`, as (pool, blocks cached,
    hits, rejected)."""
    b = bt.block_size
    n_blocks = None if capacity is None else capacity // b
    mml = context_length if n_blocks is None else min(context_length, n_blocks * b)
    n = len(bt.prompt_lens)
    hits = np.zeros(n, dtype=np.int64) if hits is None else hits.copy()
    rejected = np.zeros(n, dtype=bool) if rejected is None else rejected.copy()
    st = _Pool(-1 if n_blocks is None else n_blocks) if pool is None else pool
    queue, chain_of, cached = st.queue, st.chain_of, st.cached
    spare, serial = st.spare, st.serial
    kv_lens = bt.kv_lens.tolist()
    plens = bt.prompt_lens.tolist()
    kept = {} if kept is None else kept
    for i in range(start, n):
        if i in snapshots:
            st.serial = serial
            kept[i] = (st.copy(-1), len(chain_of), hits.copy(), rejected.copy())
        plen = plens[i]
        if plen == 0:
            continue
        if plen >= mml:
            rejected[i] = True
            continue
        kv = min(kv_lens[i], mml - 1)
        ids = bt.ids[i].tolist()
        known = len(ids)
        hit: list[int] = []
        for j in range(min((plen - 1) // b, known)):
            copies = cached.get(ids[j])
            if copies is None:
                break
            hit.append(copies[0])
        h = len(hit)
        hits[i] = h * b
        for blk in hit:
            del queue[blk]
        need = -(-kv // b) - h
        # get_new_blocks: from the front; a cached block taken is evicted.
        if spare >= 0:
            if spare >= need:
                spare -= need
            else:
                for _ in range(need - spare):
                    blk = queue.popitem(last=False)[0]
                    old = chain_of.pop(blk)
                    copies = cached[old]
                    copies.remove(blk)
                    if not copies:
                        del cached[old]
                spare = 0
        # cache_full_blocks: every full block computed is cached (one with no known id, an
        # output nobody tokenized, under a chain of its own that no lookup can find).
        full = kv // b
        new = list(range(serial, serial + full - h))
        serial += full - h
        for j, blk in zip(range(h, full), new):
            c = ids[j] if j < known else -1 - blk
            chain_of[blk] = c
            copies = cached.get(c)
            if copies is None:
                cached[c] = [blk]
            else:
                copies.append(blk)
        # free_blocks(reversed(blocks)): cached ones to the end, tail first (a request's tail is
        # evicted before its head); the partial last block, holding no hash, to the front.
        queue.update(dict.fromkeys(reversed(new)))
        queue.update(dict.fromkeys(reversed(hit)))
        if kv % b and spare >= 0:
            spare += 1
    st.spare, st.serial = spare, serial
    return frozen(hits), frozen(rejected)


def run_blocks(bt: BlockTrace, sizes: Sequence[PoolSize], settings: EngineSettings) -> EngineResult:
    ctx, b = settings.context_length, bt.block_size
    total = int(bt.prompt_lens.sum())
    plen, kv = bt.prompt_lens, np.minimum(bt.kv_lens, ctx - 1)
    live = plen > 0
    served = live & (plen < ctx)
    # Without eviction a pool holds the blocks cached so far and, while a request runs, its
    # own: at most (full blocks of the requests before) + (blocks of this one).
    full = np.where(served, kv // b, 0)
    held = np.cumsum(full) - full + np.where(served, -(-kv // b), 0)
    starts: dict[int, int] = {}
    for s in sizes:
        if s.capacity is None:
            continue
        nb = s.capacity // b
        mml = min(ctx, nb * b)
        # Until its first request that could evict, or be refused or cut otherwise, a pool is
        # the unlimited pool.
        differs = live & (((plen >= mml) != (plen >= ctx)) | ((plen < ctx) & (kv > mml - 1)))
        bad = np.flatnonzero(differs | (held > nb))
        starts[s.capacity] = int(bad[0]) if bad.size else len(plen)
    kept: dict[int, tuple[_Pool, int, np.ndarray, np.ndarray]] = {}
    u_hits, u_rej = replay(bt, None, ctx, snapshots=frozenset(v for v in starts.values() if 0 < v < len(plen)),
                           kept=kept)
    unlimited = EnginePool(PoolSize(None, None, "∞"), None, u_hits, None, u_rej, total)
    pools = []
    for s in sizes:
        if s.capacity is None:
            pools.append(EnginePool(s, None, u_hits, None, u_rej, total))
            continue
        nb, t0 = s.capacity // b, starts[s.capacity]
        if t0 >= len(plen):
            h, r = u_hits, u_rej
        elif t0 == 0:
            h, r = replay(bt, s.capacity, ctx)
        else:
            st, n_cached, h0, r0 = kept[t0]
            h, r = replay(bt, s.capacity, ctx, start=t0, pool=st.copy(nb - n_cached), hits=h0, rejected=r0)
        pools.append(EnginePool(s, nb, h, None, r, total))
    return EngineResult(NAME, b, tuple(pools), unlimited)


def run(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], sizes: Sequence[PoolSize],
        settings: EngineSettings) -> EngineResult:
    return run_blocks(block_trace(inputs, outputs, settings.block_size or DEFAULT_BLOCK), sizes, settings)
