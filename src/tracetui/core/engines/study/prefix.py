"""The prefix replays, and what every bounded replay shares: where it must start and where
the rest follows without replaying.

The longest match of a query among the entries present in a pool is reached at its nearest
present neighbour on the left or right in sorted order (Index); the replays read it from
nested runs of ranks computed once for all pools (Chains). A bounded pool behaves exactly like the
unlimited one until its first store that evicts or cuts: the unlimited replays record their
LRU order at those requests, and each bounded replay starts from there.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .index import Index, _narrow

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
class Chains:
    """Pool-independent: for each request, the nested runs of ranks that can give its prefix
    hit, deepest first ("levels"). Level (node, h): the entries sharing at least h tokens with
    the request's entry, a run of ranks [a, b) (a node of the LCP interval tree); the next
    level out is the run sharing the next smaller LCP. In any pool the hit comes from the
    deepest level holding a present entry (h, capped at the input length), and its least
    recently used present entry gives it: per node, the present entries in LRU order answer
    both at once, whatever the pool's size. Each entry is kept in the nodes holding it."""

    level_start: np.ndarray
    level_node: np.ndarray
    level_hit: np.ndarray
    anc_start: np.ndarray
    """Per entry, its nodes: anc_node[anc_start[j]: anc_start[j + 1]]."""
    anc_node: np.ndarray
    _levels: list[tuple[tuple[int, int], ...]] | None = None
    _anc: list[tuple[int, ...]] | None = None
    _ints: list[int] | None = None

    def levels(self) -> list[tuple[tuple[int, int], ...]]:
        """Per request its levels (node, hit), deepest first, as Python tuples for the replays."""
        if self._levels is None:
            # One int object per node and one tuple per distinct (node, hit), shared by every
            # request that has them (a node is a level of many): ~60 bytes a level less.
            ints = self._node_ints()
            shared: dict[tuple[int, int], tuple[int, int]] = {}
            pairs = [shared.setdefault(p, p) for p in zip(map(ints.__getitem__, self.level_node.tolist()),
                                                          self.level_hit.tolist())]
            del shared
            b = self.level_start.tolist()
            self._levels = [tuple(pairs[b[i]: b[i + 1]]) for i in range(len(b) - 1)]
            # The tuples are what the replays read: the arrays are not needed again.
            self.level_start = self.level_node = self.level_hit = None
        return self._levels

    def _node_ints(self) -> list[int]:
        if self._ints is None:
            top = max(int(self.level_node.max(initial=-1)), int(self.anc_node.max(initial=-1)))
            self._ints = list(range(top + 1))
        return self._ints

    def ancestors(self) -> list[tuple[int, ...]]:
        """Per entry the nodes holding it, as Python tuples for the replays."""
        if self._anc is None:
            nodes = list(map(self._node_ints().__getitem__, self.anc_node.tolist()))
            b = self.anc_start.tolist()
            self._anc = [tuple(nodes[b[j]: b[j + 1]]) for j in range(len(b) - 1)]
            self.anc_start = self.anc_node = None
        return self._anc


def chains(ix: Index) -> Chains:
    n = ix.n
    rank = np.asarray(ix.rank, dtype=np.int64)
    in_len = ix.in_len
    # The deepest level: the longest LCP with a sorted neighbour, capped at the input.
    h = np.zeros(n, dtype=np.int64)
    if n > 1:
        adj = ix.table[0]
        h[rank > 0] = adj[rank[rank > 0] - 1]
        up = rank < n - 1
        h[up] = np.maximum(h[up], adj[rank[up]])
    h = np.minimum(h, in_len)
    live = np.flatnonzero(h > 0)
    reqs, los, his, hits = [], [], [], []
    while len(live):
        r = rank[live]
        lo, hi = ix.intervals(r, h[live])
        reqs.append(live)
        los.append(lo)
        his.append(hi)
        hits.append(h[live])
        left = np.where(lo > 0, ix.lcp_many(np.maximum(lo - 1, 0), r), 0)
        right = np.where(hi < n, ix.lcp_many(r, np.minimum(hi, n - 1)), 0)
        nxt = np.maximum(left, right)
        keep = nxt > 0
        live = live[keep]
        h = np.zeros(n, dtype=np.int64)
        h[live] = nxt[keep]
    if reqs:
        req, lo, hi, hit = (np.concatenate(x) for x in (reqs, los, his, hits))
    else:
        req = lo = hi = hit = np.zeros(0, dtype=np.int64)
    # Levels are recorded deepest first per request; group them by request, keeping that order.
    order = np.argsort(req, kind="stable")
    req, lo, hi, hit = req[order], lo[order], hi[order], hit[order]
    keys, node = np.unique(lo * (n + 1) + hi, return_inverse=True)
    node = node.ravel().astype(np.int64)
    level_start = np.searchsorted(req, np.arange(n + 1))
    # Each node's entries: the ranks [a, b) (the intervals are nested or disjoint).
    a, b = keys // (n + 1), keys % (n + 1)
    size = b - a
    total = int(size.sum())
    member_rank = np.repeat(a - (np.cumsum(size) - size), size) + np.arange(total, dtype=np.int64)
    member_node = np.repeat(np.arange(len(keys), dtype=np.int64), size)
    entry = np.asarray(ix.order, dtype=np.int64)[member_rank] if total else member_rank
    by_entry = np.argsort(entry, kind="stable")
    anc_start = np.searchsorted(entry[by_entry], np.arange(n + 1))
    # Node ids and hits below 2**31 (a million requests: ~4 levels each): half the bytes.
    small = _narrow(max(len(keys), int(hit.max(initial=0)) + 1))
    return Chains(level_start, node.astype(small), hit.astype(small), anc_start, member_node[by_entry].astype(small))


def replay_prefix(ix: Index, ch: Chains, capacity: int | None, t0: int, order: list[int],
                  base_hits: np.ndarray | None = None, base_source: np.ndarray | None = None,
                  wanted: set[int] | None = None, tail: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """The prefix replay of a pool (capacity None: unlimited) from request t0 on, the entries
    before it all present in the LRU `order` (from the unlimited replay, whose hits and sources
    before t0 are this pool's); the LRU order before the requests in `wanted` is recorded.
    From `tail` on (see replay_bounds), once the pool holds one entry the rest is filled in."""
    n = ix.n
    hits = [0] * n
    source = [-1] * n
    if t0:
        hits[:t0] = base_hits[:t0].tolist()
        source[:t0] = base_source[:t0].tolist()
    levels, anc = ch.levels(), ch.ancestors()
    in_len = ix.in_len_list
    kept = (ix.ent_len if capacity is None else np.minimum(ix.ent_len, capacity)).tolist()
    ent_len = ix.ent_len_list
    lru: OrderedDict[int, None] = OrderedDict.fromkeys(order)
    nodes: dict[int, OrderedDict[int, None]] = {}  # node -> its present entries, LRU order
    for j in order:
        for nd in anc[j]:
            od = nodes.get(nd)
            if od is None:
                od = nodes[nd] = OrderedDict()
            od[j] = None
    used = int(ix.off[t0])  # tokens of the entries before t0
    orders: dict[int, np.ndarray] = {}
    cut = -1  # the last entry stored cut (to the capacity)
    tail = n if tail is None else tail
    get = nodes.get
    for i in range(t0, n):
        if wanted is not None and i in wanted:
            orders[i] = np.fromiter(lru, dtype=np.int32, count=len(lru))  # 4 bytes an entry, held
        if i >= tail and len(lru) == 1:
            assert capacity is not None
            single_entry_tail(ix, capacity, i, hits, source, [0] * n)
            break
        hit = 0
        if cut >= 0 and cut in lru:
            # A cut entry fills the pool alone (the others present have length 0; with
            # capacity 0 every entry is cut to nothing and nothing hits).
            assert capacity is not None
            hit, j = min(ix.lcp_entries(cut, i), in_len[i], capacity), cut
        else:
            for nd, h in levels[i]:
                od = get(nd)
                if od:
                    hit, j = h, next(iter(od))
                    break
        if hit > 0:
            hits[i], source[i] = hit, j
            lru.move_to_end(j)
            for nd in anc[j]:
                nodes[nd].move_to_end(j)
        length = kept[i]
        if capacity is not None:
            while used > 0 and used + length > capacity:
                e = lru.popitem(last=False)[0]
                used -= kept[e]
                for nd in anc[e]:
                    od = nodes[nd]
                    del od[e]
                    if not od:
                        del nodes[nd]
            if length < ent_len[i]:
                cut = i
        lru[i] = None
        used += length
        for nd in anc[i]:
            od = get(nd)
            if od is None:
                od = nodes[nd] = OrderedDict()
            od[i] = None
    return np.asarray(hits, dtype=np.int64), np.asarray(source, dtype=np.int64), orders


def single_entry_tail(ix: Index, capacity: int, i0: int, hits: list[int], source: list[int],
                      evicted_at: list[int]) -> None:
    """Fill in both replays from request i0 on, where the pool holds exactly the previous
    entry at every query (see replay_bounds): touches change nothing, each store evicts
    that entry, and the prefix hit is the LCP with it (cut to the pool)."""
    n = ix.n
    lo = max(i0, 1)
    if lo >= n:
        return
    i = np.arange(lo, n)
    rank = np.asarray(ix.rank, dtype=np.int64)
    hit = np.minimum(np.minimum(ix.lcp_many(rank[i - 1], rank[i]), ix.in_len[i]),
                     np.minimum(ix.ent_len[i - 1], capacity))
    hits[lo:] = hit.tolist()
    source[lo:] = np.where(hit > 0, i - 1, -1).tolist()
    evicted_at[lo - 1: n - 1] = i.tolist()


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


