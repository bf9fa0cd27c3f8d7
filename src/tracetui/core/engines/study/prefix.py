"""The prefix replays, and what every bounded replay shares: where it must start and where
the rest follows without replaying.

The longest match of a query among the entries present in a pool is reached at its nearest
present neighbour on the left or right in sorted order (Index); the replays read it from
nested runs of ranks computed once for all pools (Chains). A bounded pool behaves exactly like the
unlimited one until its first store that evicts or cuts: the unlimited replays record their
LRU order at those requests, and each bounded replay starts from there.
"""

from __future__ import annotations

import contextlib
import gc
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .index import Index


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside a replay: it makes a list per node and an int per
    use, never a cycle, and each collection would walk them all (a fifth of a replay)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


_INT32_SLOTS = 1 << 31
"""Values below this are held in 4-byte slots, others in 8-byte ones."""


def slot_code(bound: int) -> str:
    """The array typecode for values below `bound` (and -1)."""
    return "i" if bound <= _INT32_SLOTS else "q"


def int_slots(count: int, value: int, bound: int) -> array:
    """`count` slots holding `value`, for values below `bound`: C ints, not a list. A list's
    slot pins a Python int object per distinct value (32 bytes more): the replays' use
    times, entries and sources took ~0.2 GB of them with a million requests."""
    return array(slot_code(bound), [value]) * count


def put(slots: array, start: int, values: np.ndarray) -> None:
    """slots[start: start + len(values)] = values, through bytes (no Python int per value)."""
    slots[start: start + len(values)] = array(slots.typecode, np.asarray(values).astype(slots.typecode).tobytes())


def lru_order(who: array, live: bytearray, oldest: int, now: int) -> np.ndarray:
    """The present entries of a replay's use times (see replay_prefix), least recently used
    first, 4 bytes an entry: the live times from the oldest on."""
    alive = np.frombuffer(live, dtype=np.bool_, count=now)[oldest:]
    out = np.asarray(who[oldest:now], dtype=np.int32)[alive]
    del alive  # ends the buffer's export: `live` must not stay locked
    return out


def replay_bounds(ix: Index, capacities: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Per capacity, (start, tail): `start` is the first request whose store evicts or cuts
    (the entries so far exceed the pool): before it the pool is the unlimited one. From
    `tail` on, any two consecutive entries (cut to the pool) overflow it: once the pool
    holds just the previous entry at a query, it does so at every later query (the store
    evicts everything before), and the rest is known without replaying (tail 1: all of it).
    """
    if not capacities:
        return {}
    cum = np.cumsum(ix.ent_len)
    out = {}
    for c in capacities:  # one pool at a time: a few arrays of n, not of n x pools
        start = int(np.searchsorted(cum, c, side="right"))
        kept = np.minimum(ix.ent_len, c)
        fits = np.flatnonzero(kept[:-1] + kept[1:] <= c)  # k: requests k, k + 1 fit together
        out[c] = (start, int(fits[-1]) + 2 if len(fits) else 1)
    return out


@dataclass
class Chains:
    """Pool-independent: the nodes of the LCP interval tree that can give a prefix hit, and
    for each entry the nodes holding it ("its chain", outermost first).

    A node is a run of ranks [a, b) sharing at least `node_lcp` tokens. Request i's levels
    are the nodes holding its entry whose shared tokens reach into its input: the deepest,
    chain[first_k[i]], with hit first_hit[i] (the longest LCP with a sorted neighbour,
    capped at the input length), then each node out, chain[k] for k < first_k[i], with hit
    node_lcp (first_k -1: no level). Every node out of a level is a level too: the run
    around a rank sharing fewer tokens is the next node out. The nodes deeper than first_k
    in an entry's chain are other requests' levels. In any pool the hit comes from the
    deepest level holding a present entry, and its least recently used present entry gives
    it: per node, its entries in LRU order answer both at once, whatever the pool's size."""

    chain: list[tuple[int, ...]]
    first_k: list[int]
    first_hit: list[int]
    node_lcp: list[int]
    n_nodes: int


_CHAIN_BLOCK = 1 << 16
"""Ranks whose chains are turned into Python tuples at a time (bounds the transient ints)."""


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
    first_hit = np.minimum(h, in_len)
    del h
    live = np.flatnonzero(first_hit > 0)
    cur = first_hit[live]
    # Walk every request's levels out, all requests at once: per step, the live requests
    # and their level's node as the run of ranks [lo, hi), as a key lo * (n + 1) + hi.
    steps: list[tuple[np.ndarray, np.ndarray]] = []
    while len(live):
        r = rank[live]
        lo, hi = ix.intervals(r, cur)
        steps.append((live.astype(np.int32), lo * (n + 1) + hi))
        left = np.where(lo > 0, ix.lcp_many(np.maximum(lo - 1, 0), r), 0)
        right = np.where(hi < n, ix.lcp_many(r, np.minimum(hi, n - 1)), 0)
        del lo, hi, r
        nxt = np.maximum(left, right)
        keep = nxt > 0
        live, cur = live[keep], nxt[keep]
        del left, right, nxt, keep
    levels = np.zeros(n, dtype=np.int64)  # levels per request
    for req, _ in steps:
        levels[req] += 1
    keys = np.unique(np.concatenate([k for _, k in steps])) if steps else np.zeros(0, np.int64)
    n_nodes = len(keys)
    # A node's depth: how many nodes hold it (its index in the chains, outermost first).
    # Request i's step s is levels[i] - 1 - s nodes deep, as every node out is its level.
    depth = np.zeros(n_nodes, dtype=np.int64)
    for s, (req, key) in enumerate(steps):
        depth[np.searchsorted(keys, key)] = levels[req] - 1 - s
    del steps
    a, b = keys // (n + 1), keys % (n + 1)
    del keys
    # Every node holds two ranks at least (the neighbour its LCP came from).
    node_lcp = ix.lcp_many(a, b - 1)
    # Each rank's chain at [start[r], start[r + 1]), node v at start[r] + depth[v]: the
    # nodes holding a rank are nested, outermost first.
    holding = np.cumsum(np.bincount(a, minlength=n + 1)[:n] - np.bincount(b, minlength=n + 1)[:n])
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(holding, out=start[1:])
    del holding
    flat = np.empty(int(start[-1]), dtype=np.int32)
    size = b - a
    ends = np.cumsum(size)
    v0 = 0
    while v0 < n_nodes:  # a few million member rows at a time
        v1 = max(v0 + 1, int(np.searchsorted(ends, (ends[v0 - 1] if v0 else 0) + (1 << 21), side="right")))
        sz = size[v0:v1]
        total = int(sz.sum())
        base = np.cumsum(sz) - sz
        member = np.repeat(a[v0:v1] - base, sz) + np.arange(total, dtype=np.int64)
        node = np.repeat(np.arange(v0, v1, dtype=np.int64), sz)
        flat[start[member] + depth[node]] = node
        del member, node, base
        v0 = v1
    del a, b, size, ends, depth
    # As Python tuples (what the replays read), sharing one int object per node.
    ints = list(range(n_nodes))
    order = ix.order
    bounds = start.tolist()
    chain: list[tuple[int, ...]] = [()] * n
    for r0 in range(0, n, _CHAIN_BLOCK):
        r1 = min(n, r0 + _CHAIN_BLOCK)
        nodes = list(map(ints.__getitem__, flat[bounds[r0]: bounds[r1]].tolist()))
        base = bounds[r0]
        for r in range(r0, r1):
            chain[order[r]] = tuple(nodes[bounds[r] - base: bounds[r + 1] - base])
    del flat, bounds
    return Chains(chain, (levels - 1).tolist(), first_hit.tolist(), node_lcp.tolist(), n_nodes)


@gc_paused()
def replay_prefix(ix: Index, ch: Chains, capacity: int | None, t0: int, order: list[int],
                  base_hits: np.ndarray | None = None, base_source: np.ndarray | None = None,
                  wanted: set[int] | None = None, tail: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """The prefix replay of a pool (capacity None: unlimited) from request t0 on, the entries
    before it all present in the LRU `order` (from the unlimited replay, whose hits and sources
    before t0 are this pool's); the LRU order before the requests in `wanted` is recorded.
    From `tail` on (see replay_bounds), once the pool holds one entry the rest is filled in.

    The LRU order is kept as use times, in C int slots (int_slots), with no Python object
    per entry or time: every store or touch gives its entry the next time (`who[t]` is its
    entry, `live[t]` says t is still that entry's last use and the entry present). The pool's
    least recently used entry is the smallest live time; a node's is the first live time in
    its list of the times given to its entries, increasing as they are appended, the dead
    ones skipped once (and dropped) when the node is next read; a node is empty when its
    last time is dead. So a touch or an eviction changes nothing in the nodes: each costs a
    few list operations whatever the pool holds.
    """
    n = ix.n
    hits = int_slots(n, 0, ix.longest() + 1)
    source = int_slots(n, -1, n)
    if t0:
        put(hits, 0, base_hits[:t0])
        put(source, 0, base_source[:t0])
    anc, first_k, first_hit, node_lcp = ch.chain, ch.first_k, ch.first_hit, ch.node_lcp
    in_len = ix.in_len_list
    kept = (ix.ent_len if capacity is None else np.minimum(ix.ent_len, capacity)).tolist()
    ent_len = ix.ent_len_list
    # Times: one per entry of `order`, then at most a touch and a store per request.
    size = len(order) + 2 * (n - t0)
    who = int_slots(size, 0, n)
    live = bytearray(size)
    when = int_slots(n, -1, size)  # entry -> its last use time (-1: not present)
    times: list[array | None] = [None] * ch.n_nodes  # node -> its entries' use times
    code = when.typecode
    first = [0] * ch.n_nodes  # node -> where its live times may start
    for t, j in enumerate(order):
        who[t], live[t], when[j] = j, 1, t
        for nd in anc[j]:
            got = times[nd]
            if got is None:
                times[nd] = array(code, (t,))
            else:
                got.append(t)
    now = present = len(order)
    oldest = 0  # no live time before it
    used = int(ix.off[t0])  # tokens of the entries before t0
    orders: dict[int, np.ndarray] = {}
    cut = -1  # the last entry stored cut (to the capacity)
    tail = n if tail is None else tail
    for i in range(t0, n):
        if wanted is not None and i in wanted:
            orders[i] = lru_order(who, live, oldest, now)  # held
        if i >= tail and present == 1:
            assert capacity is not None
            single_entry_tail(ix, capacity, i, hits, source)
            break
        hit = 0
        if cut >= 0 and when[cut] >= 0:
            # A cut entry fills the pool alone (the others present have length 0; with
            # capacity 0 every entry is cut to nothing and nothing hits).
            assert capacity is not None
            hit, j = min(ix.lcp_entries(cut, i), in_len[i], capacity), cut
        else:
            k = first_k[i]
            if k >= 0:
                chain = anc[i]
                h = first_hit[i]
                while True:  # the levels, deepest first
                    nd = chain[k]
                    got = times[nd]
                    if got is not None:
                        # The last time given to a node's entries is live unless the node is
                        # empty: it is its most recently used entry's, and the pool evicts in
                        # LRU order.
                        if live[got[-1]]:
                            p = first[nd]
                            while not live[got[p]]:
                                p += 1
                            if p > 16 and 2 * p > len(got):  # mostly dead times: drop them
                                del got[:p]
                                p = 0
                            first[nd] = p
                            hit, j = h, who[got[p]]
                            break
                        times[nd] = None
                        first[nd] = 0
                    if not k:
                        break
                    k -= 1
                    h = node_lcp[chain[k]]
        if hit > 0:
            hits[i], source[i] = hit, j
            live[when[j]] = 0
            who[now], live[now], when[j] = j, 1, now
            for nd in anc[j]:
                times[nd].append(now)
            now += 1
        length = kept[i]
        if capacity is not None:
            while used > 0 and used + length > capacity:
                while not live[oldest]:
                    oldest += 1
                e = who[oldest]
                live[oldest] = 0
                when[e] = -1
                used -= kept[e]
                present -= 1
            if length < ent_len[i]:
                cut = i
        who[now], live[now], when[i] = i, 1, now
        for nd in anc[i]:
            got = times[nd]
            if got is None:
                times[nd] = array(code, (now,))
            else:
                got.append(now)
        now += 1
        present += 1
        used += length
    small = ix.request_dtype()  # int32: 8 bytes a request less per pool
    return np.asarray(hits, dtype=small), np.asarray(source, dtype=small), orders


def single_entry_tail(ix: Index, capacity: int, i0: int, hits: array, source: array) -> None:
    """Fill in the prefix replay from request i0 on, where the pool holds exactly the previous
    entry at every query (see replay_bounds): touches change nothing, each store evicts
    that entry (single_entry_departures), and the prefix hit is the LCP with it (cut to the
    pool)."""
    n = ix.n
    lo = max(i0, 1)
    if lo >= n:
        return
    i = np.arange(lo, n)
    rank = np.asarray(ix.rank, dtype=np.int64)
    hit = np.minimum(np.minimum(ix.lcp_many(rank[i - 1], rank[i]), ix.in_len[i]),
                     np.minimum(ix.ent_len[i - 1], capacity))
    put(hits, lo, hit)
    put(source, lo, np.where(hit > 0, i - 1, -1))


def single_entry_departures(i0: int, evicted_at: array) -> None:
    """The departures of single_entry_tail: from request i0 on, each store evicts the previous
    entry (the substring replay needs only these, not the prefix structures)."""
    n = len(evicted_at)
    lo = max(i0, 1)
    if lo < n:
        put(evicted_at, lo - 1, np.arange(lo, n))


def single_entry_fill(ix: Index, capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both replays at once when every store evicts everything before it (tail 1 in
    replay_bounds): the pool holds exactly the previous entry at every query. The smallest
    pool sizes of most traces are in this regime. Returns (prefix hits, prefix sources,
    evicted_at).
    """
    n = ix.n
    hits, source, evicted_at = int_slots(n, 0, ix.longest() + 1), int_slots(n, -1, n), int_slots(n, n, n + 1)
    single_entry_tail(ix, capacity, 1, hits, source)
    single_entry_departures(1, evicted_at)
    small = ix.request_dtype()
    return (np.asarray(hits, dtype=small), np.asarray(source, dtype=small),
            np.asarray(evicted_at, dtype=small))


