"""Settling substring hits for all requests at once, from when each entry left each pool.

A chunk (i, u) hits when an entry holding u (before its cut) is present at query i. Entry
i - 1 is always present at query i: the chunks it holds settle once for every pool.
"""

from __future__ import annotations

import numpy as np

from .index import Index, _narrow

_SETTLE_STEPS = 6
"""Walk back this many occurrence rows per open chunk before the running-maximum pass."""


def settle_unlimited(ix: Index) -> np.ndarray:
    """Substring hits in the unlimited pool: a chunk hits when it occurred in an earlier entry."""
    req, _, cid = ix.all_chunks()
    matched = ix.first_entry[cid] < req
    return np.bincount(req[matched], minlength=ix.n).astype(np.int64) * ix.chunk


def settle_substring(ix: Index, evicted: np.ndarray, capacity: int) -> np.ndarray:
    """Substring hits of every request in a bounded pool, given when every entry left it
    (evicted_at); each entry was stored cut to the capacity.

    Chunk (i, u) hits when an entry holding u is present at query i. The newest entry
    before i, i - 1, is always present at query i: a chunk it holds (before its cut) hits in
    every pool, which settles most chunks once for all pools (Index.prev_held_chunks). The
    others walk back from the newest entry holding u: a chunk hits at the first present one,
    and misses once the entries are older than the oldest entry still in the pool. The few
    still open after a handful of steps are settled by a running maximum over the occurrence
    rows. One pool at a time: its temporaries are a few arrays of n, which a million short
    requests make the largest part of settling (several pools at once peaked 0.2 GB higher).
    """
    req, _, cid = ix.all_chunks()
    n, c = ix.n, ix.chunk
    oid, oentry, _, opos = ix.occurrences()
    row, _, threshold = ix.chunk_rows()
    held = ix.prev_held_chunks()
    stored = np.minimum(ix.ent_len, capacity)
    # The oldest entry present at query i: the first j whose departure is at or after i.
    oldest = np.searchsorted(np.maximum.accumulate(evicted), np.arange(n, dtype=evicted.dtype), side="left")
    # Sure chunks cut off entry i - 1 are lost, and walk on from the entry before it.
    short = held.sure[stored[held.sure_req - 1] < held.sure_need]
    lost = np.bincount(req[short], minlength=n)
    # The others' first step, on their newest earlier holder (which holds the id).
    i, ent = held.other_req, held.other_ent
    candidate = ent >= oldest[i]
    here = candidate & (evicted[ent] >= i) & (held.other_need <= stored[ent])
    found = [i[here]]
    on = held.other[candidate & ~here]
    q = np.concatenate([on, short])
    r = row[q] - 1
    keep = r >= 0
    q, r = q[keep], r[keep]
    del i, ent, candidate, here, on, short, keep
    for _ in range(_SETTLE_STEPS):
        if len(q) == 0:
            break
        ent = oentry[r]
        i = req[q]
        candidate = (oid[r] == cid[q]) & (ent >= oldest[i])
        # Present at query i, and the window before the entry's cut when it was cut.
        here = candidate & (evicted[ent] >= i) & (opos[r] + c <= stored[ent])
        found.append(i[here])
        more = candidate & ~here & (r > 0)
        q, r = q[more], r[more] - 1
    del oldest
    hits = np.bincount(np.concatenate(found), minlength=n)
    hits += held.sure_per_req
    hits -= lost
    del lost, found
    if len(q):
        # Latest departure among the entries that hold u before i, as a running max within
        # each id's rows; `base` lifts each id's segment above the previous one. Only the
        # rows of the ids still open are gathered: a pass over every occurrence row per pool
        # cost more than all the rest of settling on agent traces.
        u = np.unique(cid[q])
        lo = np.searchsorted(oid, u, side="left")
        length = np.searchsorted(oid, u, side="right") - lo
        at = np.cumsum(length) - length
        rows = np.repeat(lo - at, length) + np.arange(int(length.sum()), dtype=np.int64)
        ent = oentry[rows]
        running = np.maximum.accumulate(ix.segment_base(oid[rows])
                                        + np.where(opos[rows] + c <= stored[ent], evicted[ent], -1))
        ku = np.searchsorted(u, cid[q])
        hit = running[at[ku] + row[q] - lo[ku]] >= threshold[q]
        hits += np.bincount(req[q[hit]], minlength=n)
    hits *= c
    # int32 when it fits (a pool's hits are held until the sweep ends).
    return hits.astype(_narrow(int(ix.in_len.max(initial=0)) + 1))


def combined(ix: Index, prefix_hits: np.ndarray) -> np.ndarray:
    """Tokens covered by the prefix hit or by a chunk matched in the unlimited pool."""
    req, k, cid = ix.all_chunks()
    c = ix.chunk
    matched = ix.first_entry[cid] < req
    start = k * c
    p = prefix_hits[req]
    # The part of each matched chunk beyond the prefix hit.
    extra = np.where(matched, np.clip(start + c - np.maximum(start, p), 0, c), 0)
    return prefix_hits + np.bincount(req, weights=extra, minlength=ix.n).astype(np.int64)
