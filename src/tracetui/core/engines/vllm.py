"""vLLM V1 automatic prefix caching (v0.33: vllm/v1/core/kv_cache_utils.py, block_pool.py,
kv_cache_manager.py, single_type_kv_cache_manager.py), replayed one request at a time.

- find_longest_cache_hit: the leading prompt blocks whose chain is cached, looking at no more
  than floor((L-1)/B) blocks (max_cache_hit_length = num_tokens - 1).
- touch: blocks hit leave the free queue while the request runs.
- allocate_slots / get_new_blocks: new blocks come off the front of the free queue; one that
  holds a cached block evicts it (_maybe_evict_cached_block); cache_full_blocks caches every
  full block computed, a second copy of a chain included (BlockHashToBlockMap keeps copies,
  get_one_block returns the first cached).
- free: the request's blocks go back to the end of the queue in reverse order.
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
    """The block pool between two requests: what a replay resumes from."""

    __slots__ = ("queue", "chain_of", "cached", "taken")

    def __init__(self) -> None:
        self.queue: OrderedDict[int, None] = OrderedDict()  # free blocks used before, front first
        self.chain_of: dict[int, int] = {}  # block -> the chain it caches
        self.cached: dict[int, list[int]] = {}  # chain -> its cached copies, first cached first
        self.taken = 0  # blocks ever taken off the queue; the never-used ones are numbered from here

    def copy(self) -> _Pool:
        c = _Pool()
        c.queue = self.queue.copy()
        c.chain_of = self.chain_of.copy()
        c.cached = {k: list(v) for k, v in self.cached.items()}
        c.taken = self.taken
        return c


def replay(bt: BlockTrace, capacity: int | None, context_length: int, *, start: int = 0,
           pool: _Pool | None = None, hits: np.ndarray | None = None, rejected: np.ndarray | None = None,
           snapshots: frozenset[int] = frozenset()) -> tuple[np.ndarray, np.ndarray, int]:
    """Stage (b): (hit tokens, rejected, blocks ever taken off the free queue) per request.

    `start`, `pool`, `hits`, `rejected`: resume at request `start` from a pool state (a pool that
    has evicted nothing so far is the unlimited pool's state). `snapshots`: requests before which
    the state is kept, in `replay.snapshots` (for the pools that resume there)."""
    b = bt.block_size
    n_blocks = None if capacity is None else capacity // b
    mml = context_length if n_blocks is None else min(context_length, n_blocks * b)
    n = len(bt.prompt_lens)
    hits = np.zeros(n, dtype=np.int64) if hits is None else hits.copy()
    rejected = np.zeros(n, dtype=bool) if rejected is None else rejected.copy()
    st = _Pool() if pool is None else pool
    queue, chain_of, cached = st.queue, st.chain_of, st.cached
    taken = st.taken
    fresh = -1 if n_blocks is None else n_blocks - taken  # never-used blocks, at the front of the queue
    kv_lens = bt.kv_lens.tolist()
    plens = bt.prompt_lens.tolist()
    kept: dict[int, tuple[_Pool, np.ndarray, np.ndarray]] = {}
    for i in range(start, n):
        if i in snapshots:
            st.taken = taken
            kept[i] = (st.copy(), hits.copy(), rejected.copy())
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
        if fresh < 0 or fresh >= need:  # never-used blocks only: nothing is evicted
            new = list(range(taken, taken + need))
            if fresh > 0:
                fresh -= need
        else:
            new = list(range(taken, taken + fresh))
            for _ in range(need - fresh):
                blk = queue.popitem(last=False)[0]
                old = chain_of.pop(blk, None)
                if old is not None:
                    copies = cached[old]
                    copies.remove(blk)
                    if not copies:
                        del cached[old]
                new.append(blk)
            fresh = 0
        taken += need
        stop = min(kv // b, known)
        if stop > h:
            part = new[:stop - h]
            chain_of.update(zip(part, ids[h:stop]))
            for c, blk in zip(ids[h:stop], part):
                copies = cached.get(c)
                if copies is None:
                    cached[c] = [blk]
                else:
                    copies.append(blk)
        # Freed last block first: a request's tail is evicted before its head.
        queue.update(dict.fromkeys(reversed(new)))
        queue.update(dict.fromkeys(reversed(hit)))
    st.taken = taken
    replay.snapshots = kept
    return frozen(hits), frozen(rejected), taken


def run_blocks(bt: BlockTrace, sizes: Sequence[PoolSize], settings: EngineSettings) -> EngineResult:
    ctx, b = settings.context_length, bt.block_size
    total = int(bt.prompt_lens.sum())
    plen, kv = bt.prompt_lens, np.minimum(bt.kv_lens, ctx - 1)
    live = plen > 0
    # Blocks the unlimited pool has taken after each request (it never evicts).
    need = np.where(live & (plen < ctx), -(-kv // b), 0)
    starts: dict[int, int] = {}
    for s in sizes:
        if s.capacity is None:
            continue
        nb = s.capacity // b
        mml = min(ctx, nb * b)
        # Until its first request that would evict, or be refused or cut otherwise, a pool is
        # the unlimited pool (an upper bound on what it takes: hits only lower it).
        differs = live & (((plen >= mml) != (plen >= ctx)) | ((plen < ctx) & (kv > mml - 1)))
        over = np.cumsum(need) > nb
        bad = np.flatnonzero(differs | over)
        starts[s.capacity] = int(bad[0]) if bad.size else len(plen)
    u_hits, u_rej, _ = replay(bt, None, ctx, snapshots=frozenset(v for v in starts.values() if 0 < v < len(plen)))
    kept = replay.snapshots
    unlimited = EnginePool(PoolSize(None, None, "∞"), None, u_hits, None, u_rej, total)
    pools = []
    for s in sizes:
        if s.capacity is None:
            pools.append(EnginePool(s, None, u_hits, None, u_rej, total))
            continue
        t0 = starts[s.capacity]
        if t0 >= len(plen):
            h, r = u_hits, u_rej
        elif t0 == 0:
            h, r, _ = replay(bt, s.capacity, ctx)
        else:
            st, h0, r0 = kept[t0]
            h, r, _ = replay(bt, s.capacity, ctx, start=t0, pool=st.copy(), hits=h0, rejected=r0)
        pools.append(EnginePool(s, s.capacity // b, h, None, r, total))
    return EngineResult(NAME, b, tuple(pools), unlimited)


def run(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], sizes: Sequence[PoolSize],
        settings: EngineSettings) -> EngineResult:
    return run_blocks(block_trace(inputs, outputs, settings.block_size or DEFAULT_BLOCK), sizes, settings)
