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


def replay(bt: BlockTrace, capacity: int | None, context_length: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Stage (b): (hit tokens, rejected, blocks ever taken off the free queue) per request."""
    b = bt.block_size
    n_blocks = None if capacity is None else capacity // b
    mml = context_length if n_blocks is None else min(context_length, n_blocks * b)
    fresh = -1 if n_blocks is None else n_blocks  # never-used blocks, at the front of the queue
    n = len(bt.prompt_lens)
    hits = np.zeros(n, dtype=np.int64)
    rejected = np.zeros(n, dtype=bool)
    queue: OrderedDict[int, None] = OrderedDict()  # free blocks used before, front first
    chain_of: dict[int, int] = {}  # block -> the chain it caches
    cached: dict[int, list[int]] = {}  # chain -> its cached copies, first cached first
    taken = 0
    kv_lens = bt.kv_lens.tolist()
    for i, plen in enumerate(bt.prompt_lens.tolist()):
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
        new: list[int] = []
        for _ in range(-(-kv // b) - h):
            if fresh:
                blk = taken
                fresh -= 1
            else:
                blk = queue.popitem(last=False)[0]
                old = chain_of.pop(blk, None)
                if old is not None:
                    copies = cached[old]
                    copies.remove(blk)
                    if not copies:
                        del cached[old]
            taken += 1
            new.append(blk)
        for j in range(h, min(kv // b, known)):
            blk = new[j - h]
            chain_of[blk] = ids[j]
            cached.setdefault(ids[j], []).append(blk)
        for blk in reversed(new):
            queue[blk] = None
        for blk in reversed(hit):
            queue[blk] = None
    return frozen(hits), frozen(rejected), taken


def run_blocks(bt: BlockTrace, sizes: Sequence[PoolSize], settings: EngineSettings) -> EngineResult:
    ctx = settings.context_length
    total = int(bt.prompt_lens.sum())
    u_hits, u_rej, u_taken = replay(bt, None, ctx)
    unlimited = EnginePool(PoolSize(None, None, "∞"), None, u_hits, None, u_rej, total)
    plen, kv = bt.prompt_lens, np.minimum(bt.kv_lens, ctx - 1)
    live = plen > 0
    pools = []
    for s in sizes:
        if s.capacity is None:
            pools.append(EnginePool(s, None, u_hits, None, u_rej, total))
            continue
        nb = s.capacity // bt.block_size
        mml = min(ctx, nb * bt.block_size)
        # A pool that never runs out of never-used blocks, and refuses and cuts the same
        # requests, is the unlimited pool.
        same = nb >= u_taken and not np.any(live & ((plen >= mml) != (plen >= ctx))) \
            and not np.any(live & (plen < ctx) & (kv > mml - 1))
        h, r = (u_hits, u_rej) if same else replay(bt, s.capacity, ctx)[:2]
        pools.append(EnginePool(s, nb, h, None, r, total))
    return EngineResult(NAME, bt.block_size, tuple(pools), unlimited)


def run(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], sizes: Sequence[PoolSize],
        settings: EngineSettings) -> EngineResult:
    return run_blocks(block_trace(inputs, outputs, settings.block_size or DEFAULT_BLOCK), sizes, settings)
