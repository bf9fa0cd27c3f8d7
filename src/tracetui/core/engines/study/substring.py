"""The substring replay: which entry each request touches, and when entries leave the pool.

The entry touched is the present one with the most (window, chunk) equal pairs with the
input, the least recently used on ties. Its score splits over chunk contents:

- light contents, held by few entries (at most _LIGHT_HOLDERS): their pairs are listed per
  request and earlier entry, in time linear in the chunks;
- heavy contents (a system prompt's chunks, held by thousands of entries): entries with the
  same heavy contents and counts ("a class") score alike on them for every request, so
  their pairs are listed per request and class, and within a class the least recently used
  present member not listed for its light pairs stands for all of them.

Each request then walks its candidates, highest score first, to the first present one (and
its ties): no work per entry present in the pool. When even these lists would be too long
(agent traces, whose growing histories make every entry a class of its own) the replay
scores the entries present instead: such traces' entries are long, so few fit in a pool. It
does so too when that costs at most _PRESENT_ROWS_PER_TOKEN occurrence rows per token over
the whole replay (traces of a few dozen long requests): then it is linear, and cheaper.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from .index import Index, _narrow
from .prefix import gc_paused, int_slots, lru_order, single_entry_departures, slot_code
from .windows import radix_argsort, run_heads

_LIGHT_HOLDERS = 8
_CANDIDATE_BUDGET = 8
"""Candidate rows allowed per chunk of the trace."""
_PRESENT_ROWS_PER_TOKEN = 8
"""Score the present entries when that costs at most this many rows per token in all."""
_PAIR_BLOCK = 1 << 14
"""Requests whose candidates are turned into Python pairs at a time."""
_LIST_ROWS = 1 << 17
"""Candidate rows (before summing) listed at a time."""


@dataclass
class Scoring:
    """How a replay finds the entry to touch: per request its candidates (key < n: that
    entry; key >= n: class key - n) with their scores, highest score first (request i's at
    bounds[i]: bounds[i + 1] of the keys and scores), with every entry's class; or None, and
    each request's chunk ids with multiplicities to score the present entries."""

    candidates: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    entry_class: array  # C ints, or empty when the entries are scored
    n_classes: int
    chunk_uniq: list[tuple[np.ndarray, np.ndarray]]
    scratch: np.ndarray


def scoring(ix: Index) -> Scoring:
    req = ix.all_chunks()[0]
    # Scoring the present entries gathers, at each request, the occurrence rows of the
    # entries before it: over a whole replay at most rows_j x (n - j) summed over entries j.
    # When that is within a few rows per token it is linear and cheaper than listing the
    # candidates, which cost an order of magnitude more per row (the real agent traces, of
    # a few dozen long requests: memgpt's listing took 0.19 s, scoring 0.03 s).
    _, oentry, _, _ = ix.occurrences()
    n = ix.n
    rows = np.bincount(oentry, minlength=n)
    if int((rows * (n - np.arange(n))).sum()) > _PRESENT_ROWS_PER_TOKEN * int(ix.off[-1]):
        got = _candidates(ix, _CANDIDATE_BUDGET * len(req))
    else:
        got = None
    if got is not None:
        cands, entry_class, n_classes = got
        return Scoring(cands, entry_class, n_classes, [], np.zeros(0, np.int64))
    return Scoring(None, array("i"), 0, [_uniq_counts(ix.chunk_ids(i)) for i in range(ix.n)],
                   np.zeros(ix.n_ids + 1, dtype=np.int64))


def _heavy_rows(ix: Index, heavy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each entry's occurrence rows of heavy contents: (row offsets per entry, ids, counts)."""
    starts, eids, ecounts = ix.entry_occurrences()
    keep = heavy[eids]
    kept_before = np.zeros(len(keep) + 1, dtype=np.int64)  # heavy rows before each row
    np.cumsum(keep, out=kept_before[1:])
    per_entry = kept_before[starts]
    del kept_before
    return per_entry, eids[keep], ecounts[keep]


def _classes(ix: Index, heavy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries grouped by their heavy contents and counts. Returns (class per entry, -1 when it
    holds no heavy content; the first entry of each class). Classes are numbered by first entry."""
    n = ix.n
    per_entry, hid, hcount = _heavy_rows(ix, heavy)
    # The rows as bytes in their own dtypes (int32 when they fit): the keys held below are
    # as many bytes as the heavy rows.
    wi, wc = hid.itemsize, hcount.itemsize
    raw_id, raw_count = hid.tobytes(), hcount.tobytes()
    del hid, hcount
    bounds = per_entry.tolist()
    seen: dict[bytes, int] = {}
    entry_class = np.full(n, -1, dtype=np.int64)
    first_of: list[int] = []
    for j in range(n):
        a, b = bounds[j], bounds[j + 1]
        if a == b:
            continue
        key = raw_id[wi * a: wi * b] + raw_count[wc * a: wc * b]
        c = seen.get(key)
        if c is None:
            c = seen[key] = len(first_of)
            first_of.append(j)
        entry_class[j] = c
    return entry_class, np.asarray(first_of, dtype=np.int64)


def _class_rows(ix: Index, heavy: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The heavy rows of each class's first entry as (id, class, count), sorted by id then class."""
    per_entry, hid, hcount = _heavy_rows(ix, heavy)
    lo, hi = per_entry[first], per_entry[first + 1]
    length = hi - lo
    total = int(length.sum())
    rows = np.repeat(lo - (np.cumsum(length) - length), length) + np.arange(total, dtype=np.int64)
    cid = np.repeat(np.arange(len(first), dtype=np.int64), length)
    u, cnt = hid[rows].astype(np.int64), hcount[rows].astype(np.int64)
    del rows, hid, hcount
    order = np.lexsort((cid, u))
    return u[order], cid[order], cnt[order]


def _candidates(ix: Index, budget: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], array, int] | None:
    """Per request the candidates of the substring replay (see the module's docstring), or
    None when they would exceed `budget` rows."""
    n = ix.n
    req, _, cid = ix.all_chunks()
    oid, oentry, ocount, _ = ix.occurrences()
    row, has = ix.chunk_rows()[:2]
    # Each id's first row (rows go by id): one sorted search per id, then a gather per chunk
    # (a search per chunk cost 0.3 s on 100 MB of agent sessions, which stop just below).
    id_first = np.searchsorted(oid, np.arange(ix.n_ids + 2), side="left")
    heavy = np.diff(id_first) > _LIGHT_HOLDERS  # holders per id
    # Light: every earlier holder of each light chunk, one row per (chunk, holder).
    first = id_first[cid]
    del id_first
    light_chunk = has & ~heavy[cid]
    length = np.where(light_chunk, row - first + 1, 0)
    total_light = int(length.sum())
    if total_light > budget:
        return None
    entry_class, class_first = _classes(ix, heavy)
    n_classes = len(class_first)
    heavy_chunk = np.flatnonzero(has & heavy[cid])
    # Their number first, without a binary search: a class holds u before request i exactly
    # when its first entry does, i.e. is one of u's rows first..row (entries before i).
    # Agent traces stop here (every entry its own class, far over the budget).
    heads = np.zeros(len(oentry) + 1, dtype=np.int64)
    if n_classes:
        np.cumsum(class_first[np.maximum(entry_class[oentry], 0)] == oentry, out=heads[1:])
    hc = heavy_chunk
    if total_light + int((heads[row[hc] + 1] - heads[first[hc]]).sum()) > budget:
        return None
    # Heavy: the classes holding each heavy chunk whose first entry comes before the request;
    # classes are numbered by first entry, so they are a prefix of that id's class rows
    # (built only now: agent traces, over the budget above, never hold them).
    cu, cc, ccount = _class_rows(ix, heavy, class_first)
    hu, hreq = cid[heavy_chunk].astype(np.int64), req[heavy_chunk]
    lo = np.searchsorted(cu, hu, side="left")
    # Rows of id u with class c have class_first[c] < i: a binary search on the composite
    # key (u, class_first[c]), increasing along the rows.
    comp = cu * (n + 1) + class_first[cc] if len(cu) else cu
    hi = np.searchsorted(comp, hu * (n + 1) + hreq, side="left")
    hlen = hi - lo
    del heads, comp, hu, hi, hc, light_chunk, heavy_chunk, heavy
    # The rows are listed a block of requests at a time (a request's rows are all in its
    # block): each row costs ~100 bytes of temporaries while it is summed and sorted.
    per_req = np.bincount(req, weights=length, minlength=n) + np.bincount(hreq, weights=hlen, minlength=n)
    ends = np.cumsum(per_req).astype(np.int64)
    del per_req
    c_first = ix.chunk_first()  # request i's chunks
    h_first = np.searchsorted(hreq, np.arange(n + 1), side="left")  # and its heavy ones
    keys, scores, counts = [], [], np.zeros(n, dtype=np.int64)
    i0 = 0
    while i0 < n:
        done = int(ends[i0 - 1]) if i0 else 0
        i1 = max(i0 + 1, int(np.searchsorted(ends, done + _LIST_ROWS, side="right")))
        i1 = min(i1, n)
        a, b = int(c_first[i0]), int(c_first[i1])
        ha, hb = int(h_first[i0]), int(h_first[i1])
        k, s, q = _list_block(n, n_classes, entry_class, i0, req[a:b], first[a:b], length[a:b], oentry, ocount,
                              hreq[ha:hb], lo[ha:hb], hlen[ha:hb], cc, ccount)
        keys.append(k)
        scores.append(s)
        counts[i0: i1] = np.bincount(q - i0, minlength=i1 - i0)
        i0 = i1
    bounds = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    key = np.concatenate(keys) if keys else np.zeros(0, _narrow(n + n_classes))
    score = np.concatenate(scores) if scores else np.zeros(0, np.int32)
    top = int(score.max(initial=0)) + 1
    code = slot_code(n_classes)
    classes = array(code, entry_class.astype(code).tobytes())  # C ints: no int object per entry
    return (key, score.astype(_narrow(top), copy=False), bounds), classes, n_classes


def _list_block(n: int, n_classes: int, entry_class: np.ndarray, i0: int, req: np.ndarray, first: np.ndarray,
                length: np.ndarray, oentry: np.ndarray, ocount: np.ndarray, hreq: np.ndarray, lo: np.ndarray,
                hlen: np.ndarray, cc: np.ndarray, ccount: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates of a block of requests from i0 on (their chunks' light row ranges, their
    heavy chunks' class row ranges): (key, score, request) of each, each request's highest
    score first."""
    # (query, key, weight) rows: light rows keyed by entry, heavy rows by n + class.
    total_light = int(length.sum())
    lrows = np.repeat(first, length) + (np.arange(total_light, dtype=np.int64)
                                        - np.repeat(np.cumsum(length) - length, length))
    lq = np.repeat(req - i0, length)
    lkey = oentry[lrows]
    lw = ocount[lrows]
    del lrows
    total_heavy = int(hlen.sum())
    hrows = np.repeat(lo, hlen) + (np.arange(total_heavy, dtype=np.int64) - np.repeat(np.cumsum(hlen) - hlen, hlen))
    hq = np.repeat(hreq - i0, hlen)
    hkey = n + cc[hrows]
    hw = ccount[hrows]
    del hrows
    span = n + n_classes
    qk = np.concatenate([lq, hq]).astype(np.int64) * span
    qk += np.concatenate([lkey.astype(np.int64), hkey])
    del lq, hq, lkey, hkey
    w = np.concatenate([lw.astype(np.int64), hw])
    del lw, hw
    order = radix_argsort(qk, max(16, int(qk.max(initial=0)).bit_length()))
    qk = qk[order]
    w = w[order]
    del order
    head = np.flatnonzero(run_heads(qk))
    sums = np.add.reduceat(w, head) if len(head) else np.zeros(0, np.int64)
    del w
    qk = qk[head]
    del head
    q, key = qk // span, qk % span
    # A light candidate's score adds its class's heavy pairs (the class row of the same request).
    cls = entry_class[np.minimum(key, n - 1)] if n else key
    is_entry = (key < n) & (cls >= 0)
    score = sums.copy()
    if is_entry.any():
        want = q[is_entry] * span + n + cls[is_entry]
        at = np.searchsorted(qk, want)
        at_ok = np.minimum(at, len(qk) - 1)
        found = qk[at_ok] == want
        extra = np.where(found, sums[at_ok], 0)
        score[np.flatnonzero(is_entry)] += extra
    del qk, sums, cls, is_entry
    by_score = np.lexsort((-score, q))  # each request's candidates, highest score first
    return key[by_score].astype(_narrow(span)), score[by_score], q[by_score] + i0


def _uniq_counts(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # int32 (the window ids' dtype): one pair of these per request is held for the replays.
    if ids.size == 0:
        return ids.astype(np.int32), np.zeros(0, np.int32)
    u, cnt = np.unique(ids, return_counts=True)
    return u, cnt.astype(np.int32)


def _score_present(ix: Index, sc: Scoring, i: int, lru: np.ndarray) -> int:
    """The present entry (`lru`: those present, least recently used first) with the most
    (window, chunk) equal pairs with input i, the least recently used on ties; -1 when none
    shares a chunk."""
    uq, mult = sc.chunk_uniq[i]
    if not uq.size or not len(lru):
        return -1
    starts, eids, ecounts = ix.entry_occurrences()
    # Score every present entry in one go: gather their occurrence rows (in LRU order),
    # weigh each by how often the query holds that chunk, sum per entry (differences of a
    # running total: an entry without rows sums to 0). Few numpy calls: a typical request
    # finds a handful of entries present, and each call costs more than their rows.
    lo = starts[lru]
    length = starts[lru + 1] - lo
    ends = np.cumsum(length)
    total = int(ends[-1])
    if not total:
        return -1
    scratch = sc.scratch
    scratch[uq] = mult
    rows = np.arange(total)
    rows += np.repeat(lo - ends + length, length)
    weighted = scratch[eids[rows]]
    scratch[uq] = 0
    weighted *= ecounts[rows]
    run = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(weighted, out=run[1:])
    sums = run[ends] - run[ends - length]
    k = int(np.argmax(sums))  # the first maximum is the least recently used
    return int(lru[k]) if sums[k] > 0 else -1


def _per_request(sc: Scoring, t0: int, stop: int):
    """Request t0, t0 + 1, ... up to stop: its candidates as (key, score) pairs, highest score
    first. The arrays are turned into Python pairs a block of requests at a time: the
    replays read them as pairs, and a million requests' pairs at once would cost ~150 MB."""
    keys, scores, bounds = sc.candidates
    for i0 in range(t0, stop, _PAIR_BLOCK):
        i1 = min(stop, i0 + _PAIR_BLOCK)
        b = bounds[i0: i1 + 1].tolist()
        base = b[0]
        pairs = list(zip(keys[base: b[-1]].tolist(), scores[base: b[-1]].tolist()))
        for k in range(i1 - i0):
            yield pairs[b[k] - base: b[k + 1] - base]


@gc_paused()
def replay_substring(ix: Index, capacity: int | None, t0: int, order: list[int], sc: Scoring,
                     wanted: set[int] | None = None, tail: int | None = None
                     ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Replay the substring pool from request t0 (LRU `order` before it, all entries full).

    Returns (evicted_at, orders): evicted_at[j] is the request during whose
    store j was evicted (n if never), so entry j is present for the queries j < i <=
    evicted_at[j]; hits are settled afterwards, at once. The replay itself only decides
    which entry each request touches. With capacity None (the unlimited pool) it only
    records the LRU order before the requests in `wanted`, and stops after the last. From
    `tail` on (see replay_bounds), once the pool holds one entry the rest is filled in.

    The LRU order is kept as use times, as in the prefix replay (prefix.replay_prefix):
    `who[t]` is the entry used at time t, `live[t]` says it is still that entry's last use
    and the entry present, `when[j]` is entry j's last use (-1: not present), and a class's
    present members in LRU order are the live times of its list of its members' times.
    """
    n = ix.n
    evicted_at = int_slots(n, n, n + 1)
    # Stored lengths: before t0 no entry is cut (the pool held them all).
    stored = ix.ent_len if capacity is None else np.minimum(ix.ent_len, capacity)
    kept, ent_len = stored.tolist(), ix.ent_len_list
    listing = sc.candidates is not None
    entry_class = sc.entry_class
    size = len(order) + 2 * (n - t0)
    who = int_slots(size, 0, n)
    live = bytearray(size)
    when = int_slots(n, -1, size)
    code = when.typecode
    times = [array(code) for _ in range(sc.n_classes)]  # class -> its members' times
    first = [0] * sc.n_classes
    for t, j in enumerate(order):
        who[t], live[t], when[j] = j, 1, t
        if listing and entry_class[j] >= 0:
            times[entry_class[j]].append(t)
    now = present = len(order)
    oldest = 0  # no live time before it
    used = int(ix.off[t0])  # tokens of the entries before t0
    listed = int_slots(n, -1, n)  # listed[j] == i: entry j is a light candidate of request i
    orders: dict[int, np.ndarray] = {}
    stop = n if wanted is None else max(wanted, default=-1) + 1
    cut = -1  # the last entry stored cut (to the capacity)
    tail = n if tail is None else tail
    cands = _per_request(sc, t0, min(n, stop)) if listing else None
    for i in range(t0, min(n, stop)):
        mine = next(cands) if listing else None
        if (wanted is not None and i in wanted) or not listing:
            # The present entries in LRU order (a window of the times about as long as the
            # pool holds entries: none younger than the oldest has been evicted).
            lru = lru_order(who, live, oldest, now)
            if wanted is not None and i in wanted:
                orders[i] = lru  # 4 bytes an entry, held
        if i >= tail and present == 1:
            assert capacity is not None
            single_entry_departures(i, evicted_at)
            break
        who_ = -1
        if cut >= 0 and when[cut] >= 0:
            pass  # a cut entry fills the pool alone (the others are empty): nothing to touch
        elif listing:
            best = 0
            for key, _ in mine:
                if key < n:
                    listed[key] = i
            # Highest scores first: the first present candidate sets the best score, and
            # only candidates with that same score can still win (the least recently used).
            for key, score in mine:
                if score < best:
                    break
                j = -1
                if key < n:
                    if when[key] >= 0:
                        j = key
                else:
                    # The class's least recently used present member not listed (listed
                    # ones are scored with their light pairs).
                    c = key - n
                    got = times[c]
                    # Its last time is live unless the class is empty (see prefix.replay_prefix).
                    if got and live[got[-1]]:
                        p = first[c]
                        while not live[got[p]]:  # the dead times first (the last is live)
                            p += 1
                        q, m, dead = p, len(got), 0
                        while q < m:
                            t = got[q]
                            if live[t]:
                                if listed[who[t]] != i:
                                    j = who[t]
                                    break
                            else:
                                dead += 1
                            q += 1
                        if dead:
                            # Dead times between listed members': pack the live ones passed
                            # next to where the scan stopped, in order and without shifting
                            # the rest, so that no dead time is passed twice.
                            passed = [x for x in got[p: q] if live[x]]
                            p = q - len(passed)
                            got[p: q] = array(code, passed)
                        if p > 16 and 2 * p > m:  # mostly dead times: drop them
                            del got[:p]
                            p = 0
                        first[c] = p
                    elif got:
                        del got[:]
                        first[c] = 0
                if j >= 0 and (who_ < 0 or when[j] < when[who_]):
                    best, who_ = score, j
        else:
            who_ = _score_present(ix, sc, i, lru)
        if who_ >= 0:
            live[when[who_]] = 0
            who[now], live[now], when[who_] = who_, 1, now
            if listing and entry_class[who_] >= 0:
                times[entry_class[who_]].append(now)
            now += 1
        length = kept[i]
        if capacity is not None:
            while used > 0 and used + length > capacity:
                while not live[oldest]:
                    oldest += 1
                j = who[oldest]
                live[oldest] = 0
                when[j] = -1
                used -= kept[j]
                present -= 1
                evicted_at[j] = i
            if length < ent_len[i]:
                cut = i
        who[now], live[now], when[i] = i, 1, now
        if listing and entry_class[i] >= 0:
            times[entry_class[i]].append(now)
        now += 1
        present += 1
        used += length
    # int32 (a million requests): the departures of every pool are held until settled.
    small = ix.request_dtype()
    return np.asarray(evicted_at, dtype=small), orders
