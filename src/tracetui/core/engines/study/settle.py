"""Settling substring hits for all requests at once, from when each entry left each pool.

A chunk (i, u) hits when an entry holding u (before its cut) is present at query i. Entry
i - 1 is always present at query i: the chunks it holds settle once for every pool.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .index import Index, _narrow

_SETTLE_STEPS = 6
"""Walk back this many occurrence rows per open chunk before the running-maximum pass."""
_SETTLE_TOKENS = 16
"""Settle pools together while their open chunks number at most one per this many tokens of
the trace: each open chunk costs ~100 bytes of temporaries while it walks (the study's
memory target is 16 bytes per token in all)."""


_SETTLE_REQUEST_BYTES = 2
"""Bytes per token of the trace that a group's per-request arrays may take."""


def settle_unlimited(ix: Index) -> np.ndarray:
    """Substring hits in the unlimited pool: a chunk hits when it occurred in an earlier entry."""
    req, _, cid = ix.all_chunks()
    matched = ix.first_entry[cid] < req
    return np.bincount(req[matched], minlength=ix.n).astype(np.int64) * ix.chunk


def settle_substring(ix: Index, pools: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Substring hits of every request for each bounded pool (see _settle_group), settled
    a few pools at a time so that the open chunks of a group stay within _SETTLE_TOKENS."""
    per_pool = max(1, len(ix.prev_held_chunks()[2]))
    group = max(1, int(ix.off[-1]) // _SETTLE_TOKENS // per_pool)
    # And each pool's per-request arrays (departures, oldest entries, hits: ~20 bytes a
    # request) within _SETTLE_REQUEST_BYTES a token: many short requests settle fewer at once.
    group = max(1, min(group, int(ix.off[-1]) * _SETTLE_REQUEST_BYTES // (20 * max(1, ix.n))))
    out: list[np.ndarray] = []
    for k in range(0, len(pools), group):
        out.extend(_settle_group(ix, pools[k: k + group]))
    return out


def _settle_group(ix: Index, pools: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Substring hits of every request, for several bounded pools at once, given for each
    when every entry left the pool (evicted_at) and how much of it was stored.

    Chunk (i, u) hits when an entry holding u is present at query i. The newest entry
    before i, i - 1, is always present at query i: a chunk it holds (before its cut) hits in
    every pool, which settles most chunks once for all pools. The others walk back from the
    newest entry holding u, all pools together: a chunk hits at the first present one, and
    misses once the entries are older than the oldest entry still in the pool. The few still
    open after a handful of steps are settled by a running maximum over the occurrence rows.
    """
    if not pools:
        return []
    req, _, cid = ix.all_chunks()
    n, c = ix.n, ix.chunk
    oid, oentry, _, opos = ix.occurrences()
    row, has_row, threshold = ix.chunk_rows()
    sure, sure_per_req, other = ix.prev_held_chunks()
    evicted = np.concatenate([e for e, _ in pools])  # pool p's entry j at p * n + j
    stored = np.concatenate([s for _, s in pools])
    oldest = np.concatenate([
        # The oldest entry present at query i: the first j whose departure is at or after i.
        np.searchsorted(np.maximum.accumulate(e), np.arange(n), side="left").astype(e.dtype) for e, _ in pools])
    sure_req = req[sure]
    sure_need = opos[row[sure]] + c
    qs, rs, ps = [other], [row[other]], [np.zeros(len(other), dtype=np.int64)]
    lost = []  # per pool, sure chunks cut off entry i - 1
    for p, (_, st) in enumerate(pools):
        if p:
            qs.append(other)
            rs.append(rs[0])
            ps.append(np.full(len(other), p, dtype=np.int64))
        short = np.flatnonzero(st[sure_req - 1] < sure_need)
        lost.append(np.bincount(sure_req[short], minlength=n))
        if len(short):
            back = row[sure[short]] - 1  # walk on from the entry before i - 1
            keep = back >= 0
            qs.append(sure[short][keep])
            rs.append(back[keep])
            ps.append(np.full(int(keep.sum()), p, dtype=np.int64))
    q, r, p = np.concatenate(qs), np.concatenate(rs), np.concatenate(ps)
    found = []
    for _ in range(_SETTLE_STEPS):
        if len(q) == 0:
            break
        ent = oentry[r]
        i = req[q]
        pe = p * n + ent
        candidate = (oid[r] == cid[q]) & (ent >= oldest[p * n + i])
        # Present at query i, and the window before the entry's cut when it was cut.
        here = candidate & (evicted[pe] >= i) & (opos[r] + c <= stored[pe])
        found.append(p[here] * n + i[here])
        more = candidate & ~here & (r > 0)
        q, r, p = q[more], r[more] - 1, p[more]
    out = np.concatenate(found) if found else np.zeros(0, np.int64)
    hits = np.bincount(out, minlength=len(pools) * n).reshape(len(pools), n)
    for k in np.unique(p).tolist():
        ev, st = pools[k]
        open_ = q[p == k]
        # Latest departure among the entries that hold u before i, as a running max within
        # each id's rows; `base` lifts each id's segment above the previous one. Only the
        # rows of the ids still open are gathered: a pass over every occurrence row per pool
        # cost more than all the rest of settling on agent traces.
        u = np.unique(cid[open_])
        lo = np.searchsorted(oid, u, side="left")
        length = np.searchsorted(oid, u, side="right") - lo
        at = np.cumsum(length) - length
        rows = np.repeat(lo - at, length) + np.arange(int(length.sum()), dtype=np.int64)
        ent = oentry[rows]
        running = np.maximum.accumulate(ix.segment_base(oid[rows]) + np.where(opos[rows] + c <= st[ent], ev[ent], -1))
        ku = np.searchsorted(u, cid[open_])
        hit = running[at[ku] + row[open_] - lo[ku]] >= threshold[open_]
        hits[k] += np.bincount(req[open_[hit]], minlength=n)
    # int32 when it fits (a pool's hits are held until the sweep ends).
    small = _narrow(int(ix.in_len.max(initial=0)) + 1)
    return [((hits[k] + sure_per_req - lost[k]) * c).astype(small) for k in range(len(pools))]



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
