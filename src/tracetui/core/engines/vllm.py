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

from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .study import PoolSize
from .base import EnginePool, EngineResult, EngineSettings, frozen
from .blockids import BlockTrace, block_trace, dense_ids

NAME = "vllm"
DEFAULT_BLOCK = 16


SHORT = 48
"""A request of at most this many blocks takes the scalar step, a longer one the numpy step
(benchmarks/bench_vllm.py: the numpy step costs some 25 us a request whatever its size, the
scalar one well under a microsecond a block)."""


@dataclass(frozen=True)
class Prepared:
    """What every replay of one BlockTrace reads, whatever the pool: the dense chain ids of
    every request end to end, as an array.array (scalar reads give Python ints) and its numpy
    view (slices for the numpy step), and where each request's ids start."""

    flat: array
    flat_np: np.ndarray
    starts: array
    n_chains: int


def prepare(bt: BlockTrace) -> Prepared:
    ids, n_chains = dense_ids(bt)
    lens = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    flat = _int64s(int(lens.sum()))
    flat_np = np.frombuffer(flat, dtype=np.int64)
    if len(ids):
        np.concatenate(ids, out=flat_np, casting="same_kind")  # straight into the array.array
    starts = _int64s(len(ids) + 1)
    np.cumsum(lens, out=np.frombuffer(starts, dtype=np.int64)[1:])
    return Prepared(flat, flat_np, starts, max(n_chains, 1))


def _int64s(n: int, fill: int | np.ndarray = 0) -> array:
    """n int64 slots set to `fill`: an array.array (scalar reads give Python ints), whose
    memory np.frombuffer views for the numpy step."""
    if isinstance(fill, int):
        return array("q", [fill]) * n
    out = array("q", [0]) * n
    np.frombuffer(out, dtype=np.int64)[:] = fill
    return out


def replay(bt: BlockTrace, capacity: int | None, context_length: int,
           prep: Prepared | None = None, short: int = SHORT) -> tuple[np.ndarray, np.ndarray]:
    """Stage (b): (hit tokens, rejected) per request.

    Physical blocks are array slots. The free queue is [empty blocks..., cached blocks by
    release order]: blocks never used start at the front and free_blocks prepends those that
    hold no hash (a partial last block), appending the cached ones, so the empty ones always
    come first, and which empty block is taken changes nothing: they are a stack. The cached
    ones are released into an append-only FIFO, each block noting the position of its entry
    (`pos`); an entry is stale once its block is hit, evicted or released again, and the
    oldest valid entries are the queue's front.

    One state, two steps: a short request (most of a chat trace) is a few dozen scalar
    reads and writes of array.array slots (~30-50 ns each, a numpy call costs ~1 us); a long
    one (an agent's turn, hundreds of blocks) is a few numpy operations over its blocks,
    through numpy views of the same arrays. `short`: the longest request (in blocks) the
    scalar step takes (tests force either step with it)."""
    b = bt.block_size
    prep = prepare(bt) if prep is None else prep
    n_blocks = None if capacity is None else capacity // b
    mml = context_length if n_blocks is None else min(context_length, n_blocks * b)
    n = len(bt.prompt_lens)
    hits = [0] * n
    rejected = [False] * n
    plens = bt.prompt_lens.tolist()
    kvs = np.minimum(bt.kv_lens, mml - 1).tolist()
    # Blocks past what the trace could ever take are never touched: no array holds them (an
    # unlimited pool is that many, and never evicts).
    most = sum(-(-k // b) for k, p in zip(kvs, plens) if 0 < p < mml)
    n_blocks = most if n_blocks is None else min(n_blocks, most)
    flat, flat_np, starts = prep.flat, prep.flat_np, prep.starts
    chain_at = _int64s(n_blocks, -1)  # -1 empty, -2 cached under a chain no lookup finds
    pos = _int64s(n_blocks, -1)  # a cached free block's FIFO entry, -1 in use or empty
    first = _int64s(prep.n_chains, -1)  # the chain's first cached copy (get_one_block)
    ncopy = _int64s(prep.n_chains)
    copies: dict[int, list[int]] = {}  # chains with several copies, first cached first
    empty = _int64s(n_blocks, np.arange(n_blocks, dtype=np.int64))  # a stack of the empty blocks
    # Every request appends its full blocks (hit or cached), so this many entries in all.
    fifo = _int64s(sum(k // b for k, p in zip(kvs, plens) if 0 < p < mml) + 1)
    st = _State(np.frombuffer(chain_at, dtype=np.int64), np.frombuffer(pos, dtype=np.int64),
                np.frombuffer(first, dtype=np.int64), np.frombuffer(ncopy, dtype=np.int64), copies,
                np.frombuffer(empty, dtype=np.int64), np.frombuffer(fifo, dtype=np.int64))
    n_empty = n_blocks
    head = tail = 0
    for i, plen, kv, lo, hi in zip(range(n), plens, kvs, starts, starts[1:]):
        if not 0 < plen < mml:
            rejected[i] = plen > 0
            continue
        nblk = -(-kv // b)
        if nblk > short:
            hits[i], head, tail, n_empty = _numpy_step(st, flat_np[lo:hi], plen, kv, b, head, tail, n_empty)
            continue
        # find_longest_cache_hit, then touch: out of the queue while the request runs.
        hit = []
        cap = lo + (plen - 1) // b
        if cap > hi:
            cap = hi
        for k in range(lo, cap):
            f = first[flat[k]]
            if f < 0:
                break
            hit.append(f)
            pos[f] = -1
        h = len(hit)
        hits[i] = h * b
        # get_new_blocks: the empty ones first, then the queue's front (evicting).
        need = nblk - h
        if need <= n_empty:
            n_empty -= need
            new = empty[n_empty:n_empty + need].tolist()
        else:
            new = empty[:n_empty].tolist()
            need -= n_empty
            n_empty = 0
            while need:
                if head == tail:
                    raise AssertionError("vLLM replay: the pool ran out of blocks")
                blk = fifo[head]
                if pos[blk] == head:
                    pos[blk] = -1
                    c = chain_at[blk]
                    chain_at[blk] = -1
                    if c >= 0:
                        if ncopy[c] == 1:
                            first[c] = -1
                            ncopy[c] = 0
                        else:
                            _drop_copy(copies, first, ncopy, c, blk)
                    new.append(blk)
                    need -= 1
                head += 1
        # free_blocks(reversed(blocks)) returns the partial last block to the front (empty).
        if kv % b:
            empty[n_empty] = new.pop()
            n_empty += 1
        # cache_full_blocks: every full block computed (past the known ids: cached under a
        # chain of its own that no lookup can find).
        m = len(new)
        lo += h
        known = hi - lo if lo + m > hi else m
        for j in range(known):
            blk = new[j]
            c = chain_at[blk] = flat[lo + j]
            k = ncopy[c]
            if k:
                lst = copies.get(c)
                if lst is None:
                    copies[c] = [first[c], blk]
                else:
                    lst.append(blk)
            else:
                first[c] = blk
            ncopy[c] = k + 1
        for j in range(known, m):
            chain_at[new[j]] = -2
        # ... and the cached ones to the end, tail first (a request's tail is evicted before
        # its head).
        for blk in reversed(new):
            fifo[tail] = blk
            pos[blk] = tail
            tail += 1
        for blk in reversed(hit):
            fifo[tail] = blk
            pos[blk] = tail
            tail += 1
    return frozen(np.array(hits, dtype=np.int64)), frozen(np.array(rejected, dtype=bool))


def _drop_copy(copies: dict[int, list[int]], first, ncopy, c: int, blk: int) -> None:
    """Evicting `blk`, one of several copies of chain c: the first cached one left is found."""
    lst = copies[c]
    lst.remove(blk)
    ncopy[c] -= 1
    first[c] = lst[0]
    if len(lst) == 1:
        del copies[c]


@dataclass(frozen=True)
class _State:
    """numpy views of replay's arrays (the same memory), for the numpy step."""

    chain_at: np.ndarray
    pos: np.ndarray
    first: np.ndarray
    ncopy: np.ndarray
    copies: dict[int, list[int]]
    empty: np.ndarray
    fifo: np.ndarray


def _numpy_step(st: _State, ids: np.ndarray, plen: int, kv: int, b: int, head: int, tail: int,
                n_empty: int) -> tuple[int, int, int, int]:
    """One long request, as replay's scalar step does it, a few numpy operations over its
    blocks: (hit tokens, head, tail, n_empty) after it."""
    chain_at, pos, first, ncopy, copies, empty, fifo = \
        st.chain_at, st.pos, st.first, st.ncopy, st.copies, st.empty, st.fifo
    known = len(ids)
    cap = min((plen - 1) // b, known)
    got = first[ids[:cap]]
    miss = np.flatnonzero(got < 0)
    h = int(miss[0]) if miss.size else cap
    hit = got[:h]
    pos[hit] = -1  # touch
    need = -(-kv // b) - h
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
            ok = np.flatnonzero(pos[seg] == np.arange(head, head + seg.size))
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
        pos[ev] = -1
        findable = cs >= 0
        single = findable & (ncopy[np.maximum(cs, 0)] == 1)
        first[cs[single]] = -1
        ncopy[cs[single]] = 0
        for blk, c in zip(ev[findable & ~single].tolist(), cs[findable & ~single].tolist()):
            if c in copies:
                _drop_copy(copies, first, ncopy, c, blk)
            else:  # its last copy: the other went just before, in this batch
                first[c] = -1
                ncopy[c] = 0
        new = np.concatenate((new, ev))
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
            lst = copies.get(c)
            if lst is None:
                copies[c] = [int(first[c]), blk]
            else:
                lst.append(blk)
            ncopy[c] += 1
    if kv % b:
        empty[n_empty] = new[-1]
        n_empty += 1
    out = np.concatenate((cached_new[::-1], hit[::-1]))
    k = out.size
    fifo[tail:tail + k] = out
    pos[out] = np.arange(tail, tail + k)
    return h * b, head, tail + k, n_empty


def run_blocks(bt: BlockTrace, sizes: Sequence[PoolSize], settings: EngineSettings) -> EngineResult:
    ctx, b = settings.context_length, bt.block_size
    total = int(bt.prompt_lens.sum())
    plen, kv = bt.prompt_lens, np.minimum(bt.kv_lens, ctx - 1)
    live = plen > 0
    served = live & (plen < ctx)
    prep = prepare(bt)
    u_hits, u_rej = replay(bt, None, ctx, prep)
    # The unlimited pool never evicts, so before request i it holds the full blocks of every
    # request before it but their hits, and i takes its blocks but its hits from the empty
    # ones. A pool of at least the peak of the two never evicts either: if it refuses and
    # cuts the same requests, it is the unlimited pool, request for request.
    hit_blocks = u_hits // b
    need = np.where(served, -(-kv // b) - hit_blocks, 0)
    cached = np.where(served, kv // b - hit_blocks, 0)
    peak = int((np.cumsum(cached) - cached + need).max()) if len(need) else 0
    unlimited = EnginePool(PoolSize(None, None, "∞"), None, u_hits, None, u_rej, total)
    pools = []
    for s in sizes:
        if s.capacity is None:
            pools.append(EnginePool(s, None, u_hits, None, u_rej, total))
            continue
        nb = s.capacity // b
        mml = min(ctx, nb * b)
        differs = live & (((plen >= mml) != (plen >= ctx)) | ((plen < ctx) & (kv > mml - 1)))
        h, r = (u_hits, u_rej) if nb >= peak and not differs.any() else replay(bt, s.capacity, ctx, prep)
        pools.append(EnginePool(s, nb, h, None, r, total))
    return EngineResult(NAME, b, tuple(pools), unlimited)


def run(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], sizes: Sequence[PoolSize],
        settings: EngineSettings) -> EngineResult:
    return run_blocks(block_trace(inputs, outputs, settings.block_size or DEFAULT_BLOCK), sizes, settings)
