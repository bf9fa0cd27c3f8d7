"""The prefix replays, and what every bounded replay shares: where it must start and where
the rest follows without replaying.

The longest match of a query among the entries present in a pool is reached at its nearest
present neighbour on the left or right in sorted order (Index): a replay is a few searches
per request in the set of present ranks (ranks.Ranks). A bounded pool behaves exactly like the
unlimited one until its first store that evicts or cuts: the unlimited replays record their
LRU order at those requests, and each bounded replay starts from there.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .index import Index
from .ranks import Ranks

def replay_bounds(ix: Index, capacities: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Per capacity, (start, tail): `start` is the first request whose store evicts or cuts
    (the entries so far exceed the pool): before it the pool is the unlimited one. From
    `tail` on, any two consecutive entries (cut to the pool) overflow it: once the pool
    holds just the previous entry at a query, it does so at every later query (the store
    evicts everything before), and the rest is known without replaying (tail 1: all of it).
    """
    if not capacities:
        return {}
    cap = np.asarray(capacities, dtype=np.int64)
    start = np.searchsorted(np.cumsum(ix.ent_len), cap, side="right")
    kept = np.minimum(ix.ent_len[None, :], cap[:, None])
    fits = (kept[:, :-1] + kept[:, 1:]) <= cap[:, None]  # column k: requests k, k + 1 fit together
    last = fits.shape[1] - 1 - np.argmax(fits[:, ::-1], axis=1) if fits.shape[1] else np.zeros(len(cap), np.int64)
    tail = np.where(fits.any(axis=1), last + 2, 1) if fits.shape[1] else np.ones(len(cap), np.int64)
    return {c: (s, t) for c, s, t in zip(capacities, start.tolist(), tail.tolist())}


@dataclass
class PrefixBase:
    """The unlimited prefix replay: per request the hit, its source and the ranks [a, b) of
    all the earlier entries giving that hit (a contiguous run in sorted order); the LRU
    order (oldest first) before chosen requests."""

    hits: list[int]
    source: list[int]
    ties: list[tuple[int, int]]
    orders: dict[int, list[int]]


def _oldest(clock: list[int], ranks: list[int]) -> int:
    """The rank of `ranks` used least recently."""
    return ranks[0] if len(ranks) == 1 else min(ranks, key=clock.__getitem__)


def _prefix_best(ix: Index, present: Ranks, r: int, limit: int,
                 clock: list[int]) -> tuple[int, int, tuple[int, int]]:
    """The longest match of the entry at rank r among the present ranks, capped at `limit`
    (its input length): (hit, entry giving it, ranks [a, b) around r holding every present
    entry that matches as long). On ties the least recently used entry gives it.
    (0, -1, (r, r)) when nothing matches."""
    lcp = ix.lcp_ranks
    p, s = present.pred(r), present.succ(r)
    left = lcp(p, r) if p >= 0 else 0
    right = lcp(r, s) if s < present.end else 0
    hit = min(max(left, right), limit)
    if hit <= 0:
        return 0, -1, (r, r)
    # All present entries matching >= hit form a contiguous run of ranks around r: most
    # often it is one or both neighbours (the next ones out match less).
    pp = present.pred(p) if left >= hit else -1
    ss = present.succ(s + 1) if right >= hit else present.end
    if (pp < 0 or lcp(pp, r) < hit) and (ss >= present.end or lcp(r, ss) < hit):
        run = [x for x, m in ((p, left), (s, right)) if m >= hit]
    else:
        a, b = ix.tie_interval(r, hit)
        run = present.between(a, b)
    ties = (run[0], run[-1] + 1)
    return hit, ix.order[_oldest(clock, run)], ties


def replay_prefix_unlimited(ix: Index, wanted: set[int]) -> PrefixBase:
    """The prefix replay of the unlimited pool, keeping the LRU order before the requests in
    `wanted` (where bounded pools first overflow)."""
    n = ix.n
    hits, source = [0] * n, [-1] * n
    ties: list[tuple[int, int]] = [(0, 0)] * n
    rank, in_len = ix.rank, ix.in_len_list
    present = Ranks(n)
    clock = [0] * n
    lru: OrderedDict[int, None] = OrderedDict()
    orders: dict[int, list[int]] = {}
    tick = 0
    for i in range(n):
        if i in wanted:
            orders[i] = list(lru)
        r = rank[i]
        hit, j, run = _prefix_best(ix, present, r, in_len[i], clock)
        if hit:
            hits[i], source[i], ties[i] = hit, j, run
            lru.move_to_end(j)
            clock[rank[j]] = tick
            tick += 1
        lru[i] = None
        present.add(r)
        clock[r] = tick
        tick += 1
    return PrefixBase(hits, source, ties, orders)


def replay_prefix(ix: Index, capacity: int, t0: int, base: PrefixBase,
                  tail: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The prefix replay of a bounded pool, from its first overflow t0 on; from `tail` on
    (see replay_bounds), once the pool holds one entry the rest is filled in."""
    n = ix.n
    hits = base.hits[:t0] + [0] * (n - t0)
    source = base.source[:t0] + [-1] * (n - t0)
    rank, ent_len, in_len, lcp = ix.rank, ix.ent_len_list, ix.in_len_list, ix.lcp_ranks
    lru: OrderedDict[int, None] = OrderedDict.fromkeys(base.orders[t0])
    used = ix.stored_before[t0]
    present = Ranks(n, rank[:t0])
    clock = [0] * n
    for k, j in enumerate(lru):
        clock[rank[j]] = k
    tick = t0
    b_hits, b_ties, order = base.hits, base.ties, ix.order
    kept = np.minimum(ix.ent_len, capacity).tolist()  # stored lengths
    cut = -1  # the last entry stored cut (to the capacity)
    tail = n if tail is None else tail
    for i in range(t0, n):
        if i >= tail and len(lru) == 1:
            single_entry_tail(ix, capacity, i, hits, source, [0] * n)
            break
        r = rank[i]
        if cut >= 0 and cut in lru:
            # A cut entry fills the pool alone (the others present have length 0; with
            # capacity 0 every entry is cut to nothing and nothing hits).
            hit, j = min(lcp(rank[cut], r), in_len[i], capacity), cut
        else:
            hit = b_hits[i]
            if hit:
                # The entries that gave the unlimited pool its (longest possible) hit: if
                # any is still here, the hit is the same and the least recent of them
                # gives it; if none is, search this pool.
                a, b = b_ties[i]
                x = present.succ(a)
                if x < b:
                    j = order[x] if present.succ(x + 1) >= b else order[_oldest(clock, present.between(a, b))]
                else:
                    hit, j, _ = _prefix_best(ix, present, r, in_len[i], clock)
        if hit > 0:
            hits[i], source[i] = hit, j
            lru.move_to_end(j)
            clock[rank[j]] = tick
            tick += 1
        length = kept[i]
        while used > 0 and used + length > capacity:
            j = lru.popitem(last=False)[0]
            used -= kept[j]
            present.remove(rank[j])
        if length < ent_len[i]:
            cut = i
        lru[i] = None
        used += length
        present.add(r)
        clock[r] = tick
        tick += 1
    return np.asarray(hits, dtype=np.int64), np.asarray(source, dtype=np.int64)


def single_entry_tail(ix: Index, capacity: int, i0: int, hits: list[int], source: list[int],
                       evicted_at: list[int]) -> None:
    """Fill in both replays from request i0 on, where the pool holds exactly the previous
    entry at every query (see replay_bounds): touches change nothing, each store evicts
    that entry, and the prefix hit is the LCP with it (cut to the pool)."""
    lcp, rank, in_len, ent_len = ix.lcp_ranks, ix.rank, ix.in_len_list, ix.ent_len_list
    for i in range(max(i0, 1), ix.n):
        hit = min(lcp(rank[i - 1], rank[i]), in_len[i], ent_len[i - 1], capacity)
        if hit > 0:
            hits[i], source[i] = hit, i - 1
        evicted_at[i - 1] = i


def single_entry_fill(ix: Index, capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both replays at once when every store evicts everything before it (tail 1 in
    replay_bounds): the pool holds exactly the previous entry at every query. The smallest
    pool sizes of most traces are in this regime. Returns (prefix hits, prefix sources,
    evicted_at, stored).
    """
    n = ix.n
    hits, source, evicted_at = [0] * n, [-1] * n, [n] * n
    single_entry_tail(ix, capacity, 1, hits, source, evicted_at)
    return (np.asarray(hits, dtype=np.int64), np.asarray(source, dtype=np.int64),
            np.asarray(evicted_at, dtype=np.int64), np.minimum(ix.ent_len, capacity))


