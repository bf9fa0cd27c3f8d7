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

from collections.abc import Sequence

import numpy as np

from .study import PoolSize
from .base import EnginePool, EngineResult, EngineSettings, frozen
from .blockids import BlockTrace, block_trace, dense_ids

NAME = "vllm"
DEFAULT_BLOCK = 16


def replay(bt: BlockTrace, capacity: int | None, context_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Stage (b): (hit tokens, rejected) per request.

    Physical blocks are array slots. The free queue is [empty blocks..., cached blocks by
    release order]: blocks never used start at the front and free_blocks prepends those that
    hold no hash (a partial last block), appending the cached ones, so the empty ones always
    come first, and which empty block is taken changes nothing: they are a stack. The cached
    ones are released with increasing stamps into an append-only FIFO; an entry is stale
    once its block is hit, evicted or released again, and the oldest valid entries are the
    queue's front. Each request is a few numpy operations over its own blocks."""
    b = bt.block_size
    n_blocks = None if capacity is None else capacity // b
    mml = context_length if n_blocks is None else min(context_length, n_blocks * b)
    n = len(bt.prompt_lens)
    hits = np.zeros(n, dtype=np.int64)
    rejected = np.zeros(n, dtype=bool)
    plens = bt.prompt_lens.tolist()
    kvs = np.minimum(bt.kv_lens, mml - 1).tolist()
    served = [p > 0 and p < mml for p in plens]
    # Blocks past what the trace could ever take are never touched: no array holds them (an
    # unlimited pool is that many, and never evicts).
    most = sum(-(-k // b) for k, s in zip(kvs, served) if s)
    n_blocks = most if n_blocks is None else min(n_blocks, most)
    ids_all, n_chains = dense_ids(bt)
    chain_at = np.full(n_blocks, -1, dtype=np.int64)  # -1 empty, -2 cached under a chain no lookup finds
    stamp = np.full(n_blocks, -1, dtype=np.int64)  # release stamp of a cached free block, -1 in use
    n_chains = max(n_chains, 1)  # (one spare slot: np.maximum(cs, 0) reads it)
    first = np.full(n_chains, -1, dtype=np.int64)  # the chain's first cached copy (get_one_block)
    ncopy = np.zeros(n_chains, dtype=np.int64)
    copies: dict[int, list[int]] = {}  # chains with several copies, first cached first
    empty = np.arange(n_blocks, dtype=np.int64)  # a stack of the empty free blocks
    n_empty = n_blocks
    room = sum(k // b for k, s in zip(kvs, served) if s) + 1
    fifo = np.empty(room, dtype=np.int64)
    fifo_stamp = np.empty(room, dtype=np.int64)
    head = tail = 0
    clock = 0
    for i in range(n):
        plen = plens[i]
        if not plen:
            continue
        if not served[i]:
            rejected[i] = True
            continue
        kv = kvs[i]
        ids = ids_all[i]
        known = len(ids)
        cap = min((plen - 1) // b, known)
        got = first[ids[:cap]]
        miss = np.flatnonzero(got < 0)
        h = int(miss[0]) if miss.size else cap
        hit = got[:h]
        hits[i] = h * b
        stamp[hit] = -1  # touch: out of the queue while the request runs
        need = -(-kv // b) - h
        # get_new_blocks: the empty ones first, then the queue's front (evicting).
        k1 = min(n_empty, need)
        new = empty[n_empty - k1:n_empty].copy()
        n_empty -= k1
        k2 = need - k1
        if k2:
            taken = []
            while k2:
                seg = fifo[head:min(tail, head + max(4 * k2, 256))]
                if not seg.size:
                    raise AssertionError("vLLM replay: the pool ran out of blocks")
                ok = np.flatnonzero((stamp[seg] == fifo_stamp[head:head + seg.size]) & (chain_at[seg] != -1))
                if ok.size >= k2:
                    taken.append(seg[ok[:k2]])
                    head += int(ok[k2 - 1]) + 1
                    k2 = 0
                else:
                    taken.append(seg[ok])
                    head += seg.size
                    k2 -= ok.size
            ev = np.concatenate(taken) if len(taken) > 1 else taken[0]
            cs = chain_at[ev]
            chain_at[ev] = -1
            stamp[ev] = -1
            findable = cs >= 0
            single = findable & (ncopy[np.maximum(cs, 0)] == 1)
            first[cs[single]] = -1
            ncopy[cs[single]] = 0
            for blk, c in zip(ev[findable & ~single].tolist(), cs[findable & ~single].tolist()):
                lst = copies.get(c)
                if lst is None:  # its last copy: the other went just before, in this batch
                    first[c] = -1
                    ncopy[c] = 0
                    continue
                lst.remove(blk)
                ncopy[c] -= 1
                first[c] = lst[0]
                if len(lst) == 1:
                    del copies[c]
            new = np.concatenate((new, ev))
        # cache_full_blocks: every full block computed (past the known ids: cached under a
        # chain of its own that no lookup can find).
        full = kv // b
        cached_new = new[:full - h]
        if full > h:
            cs = np.full(full - h, -2, dtype=np.int64)
            m = min(full, known) - h
            if m > 0:
                cs[:m] = ids[h:h + m]
            chain_at[cached_new] = cs
            findable = cs >= 0
            fresh = findable & (ncopy[np.maximum(cs, 0)] == 0)
            first[cs[fresh]] = cached_new[fresh]
            ncopy[cs[fresh]] = 1
            for blk, c in zip(cached_new[findable & ~fresh].tolist(), cs[findable & ~fresh].tolist()):
                copies.setdefault(c, [int(first[c])]).append(blk)
                ncopy[c] += 1
        # free_blocks(reversed(blocks)): the cached ones to the end, tail first (a request's
        # tail is evicted before its head); the partial last block to the front (empty).
        if kv % b:
            empty[n_empty] = new[-1]
            n_empty += 1
        out = np.concatenate((cached_new[::-1], hit[::-1]))
        k = out.size
        if tail + k > fifo.size:  # compact: drop what is behind the head
            keep = tail - head
            grow = max(fifo.size, keep + k)
            f2, s2 = np.empty(grow, np.int64), np.empty(grow, np.int64)
            f2[:keep], s2[:keep] = fifo[head:tail], fifo_stamp[head:tail]
            fifo, fifo_stamp, head, tail = f2, s2, 0, keep
        fifo[tail:tail + k] = out
        st = np.arange(clock, clock + k, dtype=np.int64)
        fifo_stamp[tail:tail + k] = st
        stamp[out] = st
        tail += k
        clock += k
    return frozen(hits), frozen(rejected)


def run_blocks(bt: BlockTrace, sizes: Sequence[PoolSize], settings: EngineSettings) -> EngineResult:
    ctx, b = settings.context_length, bt.block_size
    total = int(bt.prompt_lens.sum())
    plen, kv = bt.prompt_lens, np.minimum(bt.kv_lens, ctx - 1)
    live = plen > 0
    served = live & (plen < ctx)
    # A pool that can hold every block the trace would ever cache, and refuses and cuts the
    # same requests, never evicts: it is the unlimited pool.
    most = int(np.where(served, -(-kv // b), 0).sum())
    u_hits, u_rej = replay(bt, None, ctx)
    unlimited = EnginePool(PoolSize(None, None, "∞"), None, u_hits, None, u_rej, total)
    pools = []
    for s in sizes:
        if s.capacity is None:
            pools.append(EnginePool(s, None, u_hits, None, u_rej, total))
            continue
        nb = s.capacity // b
        mml = min(ctx, nb * b)
        differs = live & (((plen >= mml) != (plen >= ctx)) | ((plen < ctx) & (kv > mml - 1)))
        h, r = (u_hits, u_rej) if nb >= most and not differs.any() else replay(bt, s.capacity, ctx)
        pools.append(EnginePool(s, nb, h, None, r, total))
    return EngineResult(NAME, b, tuple(pools), unlimited)


def run(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], sizes: Sequence[PoolSize],
        settings: EngineSettings) -> EngineResult:
    return run_blocks(block_trace(inputs, outputs, settings.block_size or DEFAULT_BLOCK), sizes, settings)
