"""The exact cache-reuse engine.

Definitions (the seed study's, with its oversize-entry bug fixed):

The trace is replayed in file order. Request i has input tokens I_i and output tokens O_i;
after it is served the pool holds E_i = I_i + O_i as one entry.

- prefix hit_i: the longest common prefix of I_i with any entry in the pool (0 when empty).
- substring hit_i: C x the number of whole chunks of I_i (offsets 0, C, 2C, ...) that occur
  contiguously at any offset inside some pool entry.
- The pool has a capacity in tokens (None: unlimited). LRU over whole entries: before an entry
  is stored, least-recently-used entries are evicted until it fits; an entry longer than the
  whole pool is cut to its first `capacity` tokens. In the prefix replay the entry that gave
  the longest match (first in LRU order on ties) is touched when the hit is > 0; in the
  substring replay, the entry with the most (window, chunk) equal pairs (first in LRU order on
  ties). The two replays use separate pools.

How it stays linear. Everything that does not depend on the pool size is computed once:

- Prefix: the entries are sorted lexicographically (as big-endian bytes, so memcmp does the
  work) and the LCP of neighbours is measured on the real tokens. The LCP of any two entries
  is then a range minimum over that array (sparse table), and the longest match of a query
  among the entries present in a pool is reached at its nearest present neighbour on the
  left or right in sorted order. A replay is a few bisections per request.
- Substring: only windows whose content is some input's chunk can ever match, so windows
  get an id only when their 64-bit hash is a chunk's (a table of the chunks' hashes),
  confirmed token by token (a collision falls back to exact grouping). Each entry shares its
  first m tokens with an earlier entry (from the prefix structure): only the windows past
  that shared prefix are hashed, the others are copied. A replay only decides touches and
  evictions (from precomputed pair counts when they are few, else by scoring the entries
  present in the pool); which chunks hit is then settled for all requests at once from the
  eviction times.
- Pools that hold the whole trace are the unlimited pool; pools so small that every store
  evicts everything need no replay at all.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np

DEFAULT_CHUNK = 16
DEFAULT_TOKENS_PER_GB = 8200
DEFAULT_POOL_SIZES: tuple[str, ...] = (
    "0.01", "0.04", "0.1", "0.2", "0.4", "0.8", "1", "2", "4", "8", "16", "unlimited",
)

_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_TABLE_BITS = 24
_SETTLE_STEPS = 6
_DENSE_KEYS = 1 << 22
"""Below this many possible (id, entry) or (query, entry) keys, count in a dense table."""
_PAIR_BUDGET = 8
_PAIR_ROWS = 200_000
"""Precompute substring pair counts while they hold at most this many rows in all, or per
chunk (beyond that, scoring the entries present in each pool is cheaper)."""


class AnalysisCancelled(Exception):
    """Raised when the caller's cancel event is set during an analysis."""


# --------------------------------------------------------------------------- pool sizes

@dataclass(frozen=True, slots=True)
class PoolSize:
    """A pool size as asked for: GB (None = unlimited) and capacity in tokens."""

    gb: float | None
    capacity: int | None
    label: str

    @property
    def unlimited(self) -> bool:
        return self.capacity is None


def parse_pool_size(text: str | float | None, tokens_per_gb: float) -> PoolSize:
    """'0.4' -> PoolSize(0.4, floor(0.4 x tokens_per_gb)); 'unlimited' / None -> unlimited.

    The floor is taken on the decimal value as written, so 0.1 GB is 820 tokens, not 819.
    """
    if text is None or (isinstance(text, str) and text.strip().lower() in ("unlimited", "inf", "∞")):
        return PoolSize(None, None, "∞")
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValueError(f"invalid pool size {text!r}: a number of GB or 'unlimited'") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"invalid pool size {text!r}: a number of GB >= 0 or 'unlimited'")
    capacity = int((value * Decimal(str(tokens_per_gb))).to_integral_value(rounding="ROUND_FLOOR"))
    if capacity >= 1 << 62:
        raise ValueError(f"pool size {text!r} is beyond any cache: use 'unlimited'")
    label = format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
    return PoolSize(float(value), capacity, label)


# --------------------------------------------------------------------------- results

@dataclass(frozen=True)
class PoolResult:
    """Per-request hits of one pool size (arrays are read-only)."""

    size: PoolSize
    prefix_hits: np.ndarray
    prefix_source: np.ndarray
    """Index of the entry that gave the prefix hit, -1 when the hit is 0."""
    substring_hits: np.ndarray
    input_tokens: int

    @property
    def prefix_rate(self) -> float:
        return _rate(int(self.prefix_hits.sum()), self.input_tokens)

    @property
    def substring_rate(self) -> float:
        return _rate(int(self.substring_hits.sum()), self.input_tokens)


def _rate(hits: int, total: int) -> float:
    return hits / total if total else 0.0


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class Analysis:
    """Everything the CLI and the explorer show, computed once."""

    chunk_size: int
    tokens_per_gb: float
    input_lens: np.ndarray
    output_lens: np.ndarray
    pools: tuple[PoolResult, ...]
    """In the order asked for."""
    unlimited: PoolResult
    combined_hits: np.ndarray
    """Unlimited pool: tokens covered by the prefix hit or by a matched chunk, counted once."""
    _index: _Index

    @property
    def requests(self) -> int:
        return len(self.input_lens)

    @property
    def input_tokens(self) -> int:
        return int(self.input_lens.sum())

    @property
    def output_tokens(self) -> int:
        return int(self.output_lens.sum())

    @property
    def combined_rate(self) -> float:
        return _rate(int(self.combined_hits.sum()), self.input_tokens)

    def chunk_matched(self, i: int) -> np.ndarray:
        """Unlimited pool: for every whole chunk of input i, was it seen in an earlier entry."""
        return self._index.first_entry[self._index.chunk_ids(i)] < i

    def chunk_sources(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """For every whole chunk of input i: (request, token offset) where it was seen first.

        -1 / -1 for chunks not seen before request i.
        """
        ix = self._index
        ids = ix.chunk_ids(i)
        req = ix.first_entry[ids].astype(np.int64)
        off = ix.first_pos[ids].astype(np.int64)
        seen = req < i
        return np.where(seen, req, -1), np.where(seen, off, -1)

    def token_classes(self, i: int) -> np.ndarray:
        """Unlimited pool, per input token of request i: 1 prefix hit, 2 substring hit, 0 miss."""
        n = int(self.input_lens[i])
        c = self.chunk_size
        cls = np.zeros(n, dtype=np.uint8)
        matched = self.chunk_matched(i)
        if matched.size:
            cls[: matched.size * c] = np.repeat(matched.astype(np.uint8) * 2, c)
        cls[: int(self.unlimited.prefix_hits[i])] = 1
        return cls

    def chunk_frequency(self, i: int) -> np.ndarray:
        """For every whole chunk of input i: how many requests' entries contain it."""
        ix = self._index
        if ix._freq is None:
            _, oid, _, _, _ = ix.occurrences()
            ix._freq = np.bincount(oid, minlength=ix.n_ids) if ix.n_ids else np.zeros(0, np.int64)
        return ix._freq[ix.chunk_ids(i)]

    def iter_matches(self, i: int):
        """Unlimited pool: every (window, chunk) equal pair of input i with an earlier entry.

        Yields (match_start, match_end, prev_step, prev_start, prev_end), as the seed
        study's --log-matches wrote them.
        """
        yield from self._index.iter_matches(i)


# --------------------------------------------------------------------------- the index

class _Index:
    """Pool-independent structures over all entries E_j = I_j + O_j."""

    def __init__(self, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], chunk: int) -> None:
        n = len(inputs)
        self.n = n
        self.chunk = chunk
        self.in_len = np.fromiter((len(a) for a in inputs), dtype=np.int64, count=n)
        out_len = np.fromiter((len(a) for a in outputs), dtype=np.int64, count=n)
        self.ent_len = self.in_len + out_len
        self.ent_len_list: list[int] = self.ent_len.tolist()
        self.in_len_list: list[int] = self.in_len.tolist()
        parts: list[np.ndarray] = []
        for a, b in zip(inputs, outputs):
            parts.append(a)
            parts.append(b)
        self.tok = np.concatenate(parts).astype(np.uint32, copy=False) if parts else np.zeros(0, np.uint32)
        self.off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(self.ent_len, out=self.off[1:])
        self._build_ranks()
        self._build_window_ids()

    # ---- prefix structure

    def entry(self, j: int) -> np.ndarray:
        return self.tok[self.off[j]: self.off[j + 1]]

    def _build_ranks(self) -> None:
        n = self.n
        # Big-endian bytes compare like the token sequences (a prefix sorts first).
        keys = [self.entry(j).astype(">u4").tobytes() for j in range(n)]
        order = sorted(range(n), key=keys.__getitem__)
        self.order = order
        rank = [0] * n
        for r, j in enumerate(order):
            rank[j] = r
        self.rank = rank
        adj = [0] * max(n - 1, 0)
        for r in range(n - 1):
            adj[r] = _lcp(self.entry(order[r]), self.entry(order[r + 1]))
        # Sparse table for range minima over adj: table[k][a] = min(adj[a: a + 2**k]).
        table = [adj]
        k = 1
        while (1 << k) <= len(adj):
            prev = table[-1]
            half = 1 << (k - 1)
            table.append([min(prev[a], prev[a + half]) for a in range(len(adj) - (1 << k) + 1)])
            k += 1
        self._table = table
        self._ties: dict[tuple[int, int], tuple[int, int]] = {}

    def lcp_ranks(self, a: int, b: int) -> int:
        """LCP of the entries at ranks a and b (a != b)."""
        if a > b:
            a, b = b, a
        k = (b - a).bit_length() - 1
        t = self._table[k]
        x, y = t[a], t[b - (1 << k)]
        return x if x < y else y

    def tie_interval(self, r: int, h: int) -> tuple[int, int]:
        """Ranks [lo, hi) of the entries sharing at least h tokens with the entry at rank r.

        Pool-independent, so it is cached: every pool size asks for the same (r, h) pairs.
        """
        key = (r, h)
        got = self._ties.get(key)
        if got is None:
            lcp = self.lcp_ranks
            lo = _first_at_least(0, r, lambda q: lcp(q, r) >= h)
            hi = _last_at_least(r + 1, self.n, lambda q: lcp(r, q) >= h)
            got = self._ties[key] = (lo, hi)
        return got

    def earliest_sharers(self) -> tuple[np.ndarray, np.ndarray]:
        """For each entry j: an earlier entry with the longest common prefix, and that length."""
        n = self.n
        src = np.full(n, -1, dtype=np.int64)
        m = np.zeros(n, dtype=np.int64)
        seen: list[int] = []
        for j in range(n):
            r = self.rank[j]
            pos = bisect.bisect_left(seen, r)
            best, who = 0, -1
            if pos > 0:
                l = self.lcp_ranks(seen[pos - 1], r)
                if l > best:
                    best, who = l, self.order[seen[pos - 1]]
            if pos < len(seen):
                l = self.lcp_ranks(r, seen[pos])
                if l > best:
                    best, who = l, self.order[seen[pos]]
            src[j], m[j] = who, best
            seen.insert(pos, r)
        return src, m

    # ---- substring structure

    def _build_window_ids(self) -> None:
        c, n = self.chunk, self.n
        nwin = np.maximum(self.ent_len - c + 1, 0)
        self.win_off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(nwin, out=self.win_off[1:])
        src, m = self.earliest_sharers()
        # Windows inside the prefix an entry shares with an earlier one are copies of that
        # entry's windows: only the rest ("novel" windows) is hashed.
        inherit = np.where(src >= 0, np.clip(m - c + 1, 0, nwin), 0)
        nnovel = nwin - inherit
        total_novel = int(nnovel.sum())
        novel_base = np.repeat(self.off[:-1] + inherit, nnovel)
        novel_first = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(nnovel, out=novel_first[1:])
        starts = novel_base + (np.arange(total_novel, dtype=np.int64) - np.repeat(novel_first[:-1], nnovel))
        pair = _token_pairs(self.tok)
        h_novel = _window_hashes(self.tok, pair, starts, c)
        # Only a window whose content is some input's chunk can ever be matched: windows get
        # an id only when their hash is a chunk's (and the tokens agree).
        req, kk = self._chunk_positions()
        chunk_h = _window_hashes(self.tok, pair, self.off[req] + kk * c, c)
        matched = _chunk_contents(self.tok, pair, starts, c, h_novel, chunk_h)
        if matched is None:  # a hash collision: group the windows exactly instead
            cand_ids, cand_first = _group_windows(self.tok, starts, c, h_novel)
        else:
            cand_ids, cand_first = matched
        n_ids = len(cand_first)
        novel_ids = np.where(cand_ids < 0, n_ids, cand_ids).astype(np.int32)  # n_ids: "no chunk content"
        first_novel = cand_first
        ids = np.empty(int(self.win_off[-1]), dtype=np.int32)
        self._fill(ids, novel_ids, src, inherit, novel_first)
        self.ids = ids
        self.n_ids = n_ids
        # The first novel occurrence of an id is its first occurrence: copies come later.
        novel_entry = np.repeat(np.arange(n, dtype=np.int64), nnovel)
        fe = novel_entry[first_novel] if n_ids else np.zeros(0, np.int64)
        self.first_entry = fe.astype(np.int64)
        self.first_pos = (starts[first_novel] - self.off[fe]) if n_ids else np.zeros(0, np.int64)
        self._occ: tuple[np.ndarray, ...] | None = None
        self._entry_occ: tuple[np.ndarray, ...] | None = None
        self._chunks: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._rows: tuple[np.ndarray, ...] | None = None
        self._freq: np.ndarray | None = None

    def _fill(self, out: np.ndarray, novel: np.ndarray, src: np.ndarray, inherit: np.ndarray,
              novel_first: np.ndarray) -> None:
        """Per-window values of all entries: the inherited prefix copies the source's."""
        win_off = self.win_off.tolist()
        nf = novel_first.tolist()
        for j, (h, s) in enumerate(zip(inherit.tolist(), src.tolist())):
            w0 = win_off[j]
            if h:
                s0 = win_off[s]
                out[w0: w0 + h] = out[s0: s0 + h]
            out[w0 + h: win_off[j + 1]] = novel[nf[j]: nf[j + 1]]

    def _chunk_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """(request, chunk index) of every whole chunk of every input."""
        k = self.in_len // self.chunk
        req = np.repeat(np.arange(self.n, dtype=np.int64), k)
        first = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(k, out=first[1:])
        kk = np.arange(int(first[-1]), dtype=np.int64) - np.repeat(first[:-1], k)
        return req, kk

    def chunk_ids(self, i: int) -> np.ndarray:
        """Content ids of the whole chunks of input i."""
        c = self.chunk
        k = int(self.in_len[i]) // c
        w0 = int(self.win_off[i])
        return self.ids[w0: w0 + k * c: c]

    def all_chunks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(request, chunk index, id) of every whole chunk of every input."""
        if self._chunks is None:
            self._chunks = self._all_chunks()
        return self._chunks

    def _all_chunks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        req, kk = self._chunk_positions()
        ids = self.ids[self.win_off[req] + kk * self.chunk] if len(req) else np.zeros(0, np.int32)
        return req, kk, ids

    def occurrences(self) -> tuple[np.ndarray, ...]:
        """Where chunk contents occur: rows sorted by (id, entry), one per (id, entry).

        Returns (key = id * n + entry, id, entry, count, first position). Only ids that are
        some input's chunk are kept: other windows can never be matched.
        """
        if self._occ is None:
            _, _, cids = self.all_chunks()
            is_chunk = np.zeros(self.n_ids + 1, dtype=bool)  # + the "no chunk content" id
            is_chunk[cids] = True
            w = np.flatnonzero(is_chunk[self.ids])
            entry = np.searchsorted(self.win_off, w, side="right") - 1
            wid = self.ids[w].astype(np.int64)
            pos = w - self.win_off[entry]
            key = wid * self.n + entry
            if self.n_ids * self.n <= _DENSE_KEYS:
                # Few (id, entry) pairs in all: count them in a dense table, no sort.
                counts = np.bincount(key, minlength=self.n_ids * self.n)
                ukey = np.flatnonzero(counts)
                counts = counts[ukey]
                first = np.full(self.n_ids * self.n, np.iinfo(np.int64).max, dtype=np.int64)
                np.minimum.at(first, key, pos)
                first = first[ukey]
            else:
                # Windows come in (entry, position) order, so a stable sort by id alone
                # leaves each id's rows sorted by entry and position.
                order = _radix_argsort(wid, max(16, int(self.n_ids).bit_length()))
                key, pos = key[order], pos[order]
                head = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
                counts = np.diff(np.r_[head, len(key)])
                ukey, first = key[head], pos[head]
            self._occ = (ukey, ukey // self.n, ukey % self.n, counts, first)
        return self._occ

    def chunk_rows(self) -> tuple[np.ndarray, ...]:
        """Pool-independent lookups for settling substring hits.

        For every chunk of all_chunks(): the last occurrence row of its id with entry < its
        request (clipped to 0) and whether there is one; per row, the segment offset
        `base` = id * (n + 2) + 1; per chunk, the running value its request needs.
        """
        if self._rows is None:
            req, _, cid = self.all_chunks()
            okey, oid, _, _, _ = self.occurrences()
            row = np.searchsorted(okey, cid.astype(np.int64) * self.n + req, side="left") - 1
            safe = np.maximum(row, 0)
            has = (row >= 0) & (oid[safe] == cid) if len(oid) else row >= 0
            base = oid * (self.n + 2) + 1
            threshold = (base[safe] if len(oid) else safe) + req
            self._rows = (safe, has, base, threshold)
        return self._rows

    def pair_scores(self, budget: int) -> list[list[tuple[int, int]]] | None:
        """Per request i: the earlier entries j sharing a chunk with input i, and the number
        of (window, chunk) equal pairs between them — or None when that list would exceed
        `budget` rows (then replays score the entries present in the pool instead)."""
        req, _, cid = self.all_chunks()
        okey, _, oentry, ocount, _ = self.occurrences()
        row, has = self.chunk_rows()[:2]
        if len(okey) == 0:
            return [[] for _ in range(self.n)]
        first = np.searchsorted(okey, cid.astype(np.int64) * self.n, side="left")
        length = np.where(has, row - first + 1, 0)
        total = int(length.sum())
        if total > budget:
            return None
        base = np.repeat(first, length)
        offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(length) - length, length)
        rows = base + offset
        key = np.repeat(req, length) * self.n + oentry[rows]
        if self.n * self.n <= _DENSE_KEYS:
            # Few (query, entry) pairs in all: sum them in a dense table, no sort.
            sums = np.bincount(key, weights=ocount[rows], minlength=self.n * self.n).astype(np.int64)
            ukey = np.flatnonzero(sums)
            sums = sums[ukey]
        else:
            order = _radix_argsort(key, max(16, int(self.n * self.n).bit_length()))
            key = key[order]
            weight = ocount[rows][order]
            head = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if total else np.zeros(0, np.int64)
            sums = np.add.reduceat(weight, head) if total else np.zeros(0, np.int64)
            ukey = key[head]
        query, entry = ukey // self.n, ukey % self.n
        bounds = np.searchsorted(query, np.arange(self.n + 1)).tolist()
        pairs = list(zip(entry.tolist(), sums.tolist()))
        return [pairs[bounds[i]: bounds[i + 1]] for i in range(self.n)]

    def entry_occurrences(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The same rows grouped by entry: (row offsets per entry, ids, counts)."""
        if self._entry_occ is None:
            _, oid, oentry, ocount, _ = self.occurrences()
            order = _radix_argsort(oentry, max(16, self.n.bit_length()))
            starts = np.zeros(self.n + 1, dtype=np.int64)
            np.cumsum(np.bincount(oentry, minlength=self.n), out=starts[1:])
            self._entry_occ = (starts, oid[order], ocount[order])
        return self._entry_occ

    def iter_matches(self, i: int):
        c = self.chunk
        ids = self.chunk_ids(i)
        ks = np.flatnonzero(self.first_entry[ids] < i)
        if ks.size == 0:
            return
        wanted = ids[ks]
        order = np.argsort(wanted, kind="stable")
        wanted_sorted, ks_sorted = wanted[order], ks[order]
        found = []  # (chunk index, entry, window position)
        for j in range(i):
            win = self.ids[self.win_off[j]: self.win_off[j + 1]]
            pos = np.flatnonzero(np.isin(win, wanted_sorted))
            if pos.size == 0:
                continue
            u = win[pos]
            lo = np.searchsorted(wanted_sorted, u, side="left")
            hi = np.searchsorted(wanted_sorted, u, side="right")
            reps = hi - lo
            p_rep = np.repeat(pos, reps)
            k_rep = ks_sorted[np.repeat(lo, reps) + (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps))]
            found.append(np.stack([k_rep, np.full_like(p_rep, j), p_rep], axis=1))
        if not found:
            return
        rows = np.concatenate(found)
        rows = rows[np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))]
        for k, j, p in rows.tolist():
            yield (k * c, k * c + c, j, p, p + c)


def _lcp(a: np.ndarray, b: np.ndarray) -> int:
    m = min(len(a), len(b))
    if m == 0:
        return 0
    # Compare in growing blocks: most unrelated prompts differ within a few tokens.
    start, step = 0, 64
    while start < m:
        end = min(m, start + step)
        diff = np.flatnonzero(a[start:end] != b[start:end])
        if diff.size:
            return start + int(diff[0])
        start, step = end, step * 4
    return m


def _chunk_contents(tok: np.ndarray, pair: np.ndarray, starts: np.ndarray, c: int, h: np.ndarray,
                    chunk_h: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Ids of the windows tok[s:s+c] (`starts` ascending) whose content is a chunk's.

    The chunks' distinct hashes are few (one window in C at most): they go into a table
    addressed by the hash's top bits, and every window looks its hash up there (the few
    slots two chunk hashes share are resolved by binary search). Returns (id per window,
    -1 for a window that is no chunk's content; index of the first window of each id), ids
    numbered by first appearance; None when a hash collision shows up on the tokens.
    """
    if len(starts) == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    uniq = np.sort(chunk_h)
    uniq = uniq[np.r_[True, uniq[1:] != uniq[:-1]]] if len(uniq) else uniq
    bits = int(min(_TABLE_BITS, max(12, (8 * len(uniq)).bit_length())))
    shift = np.uint64(64 - bits)
    slot_of = (uniq >> shift).astype(np.int64)
    table = np.full(1 << bits, -1, dtype=np.int64)
    table[slot_of] = np.arange(len(uniq))
    shared = np.bincount(slot_of, minlength=1 << bits) > 1
    table[shared] = -2
    tent = table[(h >> shift).astype(np.int64)]
    crowded = np.flatnonzero(tent == -2)
    if len(crowded):
        tent[crowded] = np.minimum(np.searchsorted(uniq, h[crowded]), len(uniq) - 1)
    sel = np.flatnonzero(tent >= 0)
    sel = sel[uniq[tent[sel]] == h[sel]]
    tent = tent[sel]
    # The first window of each content, in window order.
    first_sel = np.full(len(uniq), len(sel), dtype=np.int64)
    np.minimum.at(first_sel, tent, np.arange(len(sel)))
    win = starts[sel]
    if not _confirm(tok, pair, win, win[first_sel[tent]], c):
        return None
    # Number ids by first appearance (mark the firsts, count them).
    is_first = np.zeros(len(sel), dtype=bool)
    is_first[first_sel[first_sel < len(sel)]] = True
    number = np.cumsum(is_first) - 1
    ids = np.full(len(starts), -1, dtype=np.int32)
    ids[sel] = number[first_sel[tent]]
    return ids, sel[np.flatnonzero(is_first)].astype(np.int64)


def _group_windows(tok: np.ndarray, starts: np.ndarray, c: int, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact content ids for the windows tok[s:s+c], `starts` ascending.

    Returns (id per window, index of the first window of each id). A 64-bit polynomial hash
    groups the windows (sorted by its top 48 bits with three 16-bit radix passes, which
    numpy does in linear time); every group is then confirmed on the real tokens, and a
    collision falls back to exact grouping of the raw windows.
    """
    n = len(starts)
    if n == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    key = h >> np.uint64(16)
    order = _radix_argsort(key, 48)
    key = key[order]
    run_head = np.r_[True, key[1:] != key[:-1]]
    run = np.cumsum(run_head) - 1
    # Stable passes keep equal keys in window order: a run's head is its first window.
    first_of_run = order[run_head]
    ids = np.empty(n, dtype=np.int64)
    ids[order] = run
    if not _confirm(tok, _token_pairs(tok), starts, starts[first_of_run[ids]], c):
        rows = np.ascontiguousarray(_windows(tok, c)[starts])
        view = rows.view(np.dtype((np.void, rows.dtype.itemsize * c))).ravel()
        _, first_of_run, ids = np.unique(view, return_index=True, return_inverse=True)
        ids = ids.ravel()
    # Number ids by first appearance (no sort needed: mark the firsts, count them).
    is_first = np.zeros(n, dtype=bool)
    is_first[first_of_run] = True
    number = np.cumsum(is_first) - 1
    renum = number[first_of_run]
    return renum[ids].astype(np.int32), np.flatnonzero(is_first).astype(np.int64)


def _radix_argsort(key: np.ndarray, bits: int) -> np.ndarray:
    """Stable argsort of non-negative integer keys below 2**bits, by 16-bit digits.

    numpy sorts 16-bit integers with a linear-time radix sort when asked for a stable
    sort: a few passes beat one comparison sort of 64-bit keys by a wide margin.
    """
    key = key.astype(np.uint64, copy=False)
    order: np.ndarray | None = None
    for shift in range(0, bits, 16):
        digit = ((key >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.uint16)
        if order is None:
            order = np.argsort(digit, kind="stable")
        else:
            order = order[np.argsort(digit[order], kind="stable")]
    return order if order is not None else np.arange(len(key))


def _windows(tok: np.ndarray, c: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(tok, c)


def _token_pairs(tok: np.ndarray) -> np.ndarray:
    """pair[p] = tok[p] | tok[p + 1] << 32: two tokens as one 64-bit word, so that hashing and
    comparing windows take half the passes."""
    wide = tok.astype(np.uint64)
    return wide[:-1] | (wide[1:] << np.uint64(32)) if len(tok) > 1 else wide[:0]


def _window_hashes(tok: np.ndarray, pair: np.ndarray, starts: np.ndarray, c: int) -> np.ndarray:
    """A 64-bit polynomial hash of every window tok[s:s+c], over token pairs."""
    if len(starts) == 0:  # e.g. a chunk longer than every entry: no loop of c / 2 empty passes
        return np.zeros(0, dtype=np.uint64)
    steps = range(0, c - 1, 2)
    if len(starts) * 4 > len(tok):
        # Many windows: hash every position with contiguous passes, then pick.
        m = len(tok) - c + 1
        h = np.zeros(m, dtype=np.uint64)
        for k in steps:
            h *= _HASH_MUL
            h += pair[k: k + m]
        if c % 2:
            h *= _HASH_MUL
            h += tok[c - 1: c - 1 + m].astype(np.uint64)
        h = h[starts]
    else:
        h = np.zeros(len(starts), dtype=np.uint64)
        for k in steps:
            h = h * _HASH_MUL + pair[starts + k]
        if c % 2:
            h = h * _HASH_MUL + tok[starts + c - 1].astype(np.uint64)
    # Mix the high bits (the table's key) with the low ones.
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    return h


def _confirm(tok: np.ndarray, pair: np.ndarray, starts: np.ndarray, rep: np.ndarray, c: int) -> bool:
    """True when every window equals its group's representative, token for token.

    A window whose predecessor (same run of consecutive windows) was confirmed against the
    predecessor of its own representative only needs its last token compared: that is the
    common case of repeated text, and makes the check linear in the number of windows.
    """
    if len(starts) == 0:
        return True
    chained = np.zeros(len(starts), dtype=bool)
    chained[1:] = (starts[1:] == starts[:-1] + 1) & (rep[1:] == rep[:-1] + 1)
    self_rep = rep == starts
    if not np.array_equal(tok[starts[chained] + c - 1], tok[rep[chained] + c - 1]):
        return False
    full = ~chained & ~self_rep
    if not full.any():
        return True
    a, b = starts[full], rep[full]
    # Compare two tokens at a time as one 64-bit word: half the gathers of a token-wise check.
    for k in range(0, c - 1, 2):
        if not np.array_equal(pair[a + k], pair[b + k]):
            return False
    return c % 2 == 0 or bool(np.array_equal(tok[a + c - 1], tok[b + c - 1]))


# --------------------------------------------------------------------------- replays

class _Pool:
    """LRU bookkeeping shared by both replays: which entries are present and how long."""

    def __init__(self, capacity: int | None, ent_len: list[int]) -> None:
        self.capacity = capacity
        self.ent_len = ent_len
        self.lru: OrderedDict[int, int] = OrderedDict()  # entry -> stored length
        self.used = 0
        self.cut: int = -1  # the entry stored cut, while present

    def store(self, i: int, on_evict: Callable[[int], None]) -> None:
        full = length = self.ent_len[i]
        cap = self.capacity
        if cap is not None:
            if length > cap:
                length = cap
            lru = self.lru
            while self.used > 0 and self.used + length > cap:
                j, stored = lru.popitem(last=False)
                self.used -= stored
                if j == self.cut:
                    self.cut = -1
                on_evict(j)
            if length < full:
                self.cut = i
        self.lru[i] = length
        self.used += length


def _replay_prefix(ix: _Index, capacity: int | None) -> tuple[np.ndarray, np.ndarray]:
    n = ix.n
    hits = [0] * n
    source = [-1] * n
    pool = _Pool(capacity, ix.ent_len_list)
    present: list[int] = []  # ranks of present entries, sorted
    last_use = np.full(n, np.inf)  # by rank; inf when absent (numpy, for wide ties)
    last_use_list = [0] * n  # the same for present ranks, for narrow ties
    rank, order, in_len = ix.rank, ix.order, ix.in_len_list
    lcp = ix.lcp_ranks
    clock = 0

    def evict(j: int) -> None:
        r = rank[j]
        del present[bisect.bisect_left(present, r)]
        last_use[r] = np.inf

    for i in range(n):
        r = rank[i]
        pos = bisect.bisect_left(present, r)
        size = len(present)
        left = lcp(present[pos - 1], r) if pos > 0 else 0
        right = lcp(r, present[pos]) if pos < size else 0
        hit = min(max(left, right), in_len[i])
        if pool.cut >= 0:
            # A cut entry fills the pool alone (others have length 0): cap its match.
            hit = min(hit, pool.lru[pool.cut])
        if hit > 0:
            if pool.cut >= 0:
                j = pool.cut
            else:
                # All present entries matching >= hit form a contiguous run of ranks
                # around r: find its ends (most often one step from r on each side).
                if (left < hit or pos < 2 or lcp(present[pos - 2], r) < hit) and \
                        (right < hit or pos + 1 >= size or lcp(r, present[pos + 1]) < hit):
                    lo = pos if left < hit else pos - 1
                    hi = pos if right < hit else pos + 1
                else:
                    a, b = ix.tie_interval(r, hit)
                    lo = bisect.bisect_left(present, a)
                    hi = bisect.bisect_left(present, b)
                if hi - lo == 1:
                    j = order[present[lo]]
                elif hi - lo <= 32:  # ties: the least recently used of them
                    j = order[min(present[lo:hi], key=last_use_list.__getitem__)]
                else:
                    j = order[present[lo] + int(np.argmin(last_use[present[lo]: present[hi - 1] + 1]))]
            hits[i], source[i] = hit, j
            pool.lru.move_to_end(j)
            last_use[rank[j]] = last_use_list[rank[j]] = clock
            clock += 1
        pool.store(i, evict)
        bisect.insort(present, r)
        last_use[r] = last_use_list[r] = clock
        clock += 1
    return np.asarray(hits, dtype=np.int64), np.asarray(source, dtype=np.int64)


def _single_entry_replay(ix: _Index, capacity: int) -> tuple[np.ndarray, ...] | None:
    """Both replays at once when every store evicts everything before it.

    When no entry is empty and any two consecutive entries (cut to the pool) overflow it,
    the pool holds exactly the previous entry at every query: touches change nothing, and
    hits only need the LCP with that entry. The smallest pool sizes of most traces are in
    this regime. Returns (prefix hits, prefix sources, evicted_at, stored) or None.
    """
    stored = np.minimum(ix.ent_len, capacity)
    n = ix.n
    if n == 0 or (stored == 0).any() or ((stored[:-1] + stored[1:]) <= capacity).any():
        return None
    lcp, rank, in_len, kept = ix.lcp_ranks, ix.rank, ix.in_len_list, stored.tolist()
    hits = [0] * n
    for i in range(1, n):
        hits[i] = min(lcp(rank[i - 1], rank[i]), in_len[i], kept[i - 1])
    p_hits = np.asarray(hits, dtype=np.int64)
    p_src = np.where(p_hits > 0, np.arange(n) - 1, -1)
    # Entry j is present for query j + 1 only.
    return p_hits, p_src, np.arange(1, n + 1, dtype=np.int64), stored


def _first_at_least(lo: int, hi: int, ok: Callable[[int], bool]) -> int:
    """Smallest q in [lo, hi) with ok(q) true, ok being monotone (false..true); hi if none."""
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _last_at_least(lo: int, hi: int, ok: Callable[[int], bool]) -> int:
    """One past the largest q in [lo, hi) with ok(q) true, ok being monotone (true..false)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _replay_substring(ix: _Index, capacity: int, chunk_uniq: list[tuple[np.ndarray, np.ndarray]],
                      scratch: np.ndarray, pairs: list[list[tuple[int, int]]] | None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Replay the substring pool: returns (evicted_at, stored_len) per entry.

    evicted_at[j] is the request during whose store j was evicted (n if never); entry j is
    present for the queries j < i <= evicted_at[j]. Hits are settled afterwards, at once.
    The replay itself only decides which entry each request touches: from the precomputed
    pair counts when there are few enough (`pairs`), else by scoring the present entries.
    """
    n = ix.n
    evicted_at = np.full(n, n, dtype=np.int64)
    stored = ix.ent_len.copy()
    pool = _Pool(capacity, ix.ent_len_list)
    present = [False] * n
    last_use = [0] * n
    starts, eids, ecounts = ix.entry_occurrences()
    current = 0

    def evict(j: int) -> None:
        evicted_at[j] = current
        present[j] = False

    for i in range(n):
        current = i
        who = -1
        if pairs is not None:
            best = 0
            cut = pool.cut  # a cut entry is alone in the pool: touching it changes nothing
            for j, score in pairs[i]:
                if present[j] and j != cut and (score > best or (score == best and last_use[j] < last_use[who])):
                    best, who = score, j
        else:
            uq, mult = chunk_uniq[i]
            if uq.size and pool.lru:
                # Score every present entry in one go: gather their occurrence rows (in LRU
                # order), weigh each by how often the query holds that chunk, sum per entry.
                scratch[uq] = mult
                order = np.fromiter(pool.lru, dtype=np.int64, count=len(pool.lru))
                if pool.cut >= 0:
                    order = order[order != pool.cut]  # alone in the pool: touching it changes nothing
                lo, hi = starts[order], starts[order + 1]
                length = hi - lo
                total = int(length.sum())
                if total:
                    ends = np.cumsum(length)
                    rows = np.repeat(lo - (ends - length), length) + np.arange(total)
                    weighted = scratch[eids[rows]] * ecounts[rows]
                    sums = np.zeros(len(order), dtype=np.int64)
                    nonempty = length > 0
                    sums[nonempty] = np.add.reduceat(weighted, (ends - length)[nonempty])
                    k = int(np.argmax(sums))  # the first maximum is the least recently used
                    if sums[k] > 0:
                        who = int(order[k])
                scratch[uq] = 0
        if who >= 0:
            pool.lru.move_to_end(who)
            last_use[who] = 2 * i
        pool.store(i, evict)
        present[i] = True
        last_use[i] = 2 * i + 1
        if pool.cut == i:
            stored[i] = pool.lru[i]
    return evicted_at, stored


def _settle_substring(ix: _Index, evicted_at: np.ndarray | None, stored: np.ndarray | None) -> np.ndarray:
    """Substring hits of every request, given when each entry left the pool.

    Chunk (i, u) hits when an entry holding u is present at query i. Walking back from the
    newest entry before i that holds u settles almost every chunk in a step or two: it hits
    at the first present one, and misses once the entries are older than the oldest entry
    still in the pool. The few chunks still open after a handful of steps are settled by a
    running maximum over all occurrence rows.
    """
    req, _, cid = ix.all_chunks()
    n, c = ix.n, ix.chunk
    if evicted_at is None:
        matched = ix.first_entry[cid] < req
        return np.bincount(req[matched], minlength=n).astype(np.int64) * c
    _, oid, oentry, _, opos = ix.occurrences()
    row, has_row, base, threshold = ix.chunk_rows()
    cut = bool((stored < ix.ent_len).any())
    # The oldest entry present at query i: the first j whose departure is at or after i.
    oldest = np.searchsorted(np.maximum.accumulate(evicted_at), np.arange(n), side="left")
    matched = np.zeros(len(req), dtype=bool)
    open_ = np.flatnonzero(has_row)
    r = row[open_]
    for _ in range(_SETTLE_STEPS):
        if len(open_) == 0:
            break
        ent = oentry[r]
        i = req[open_]
        alive = (oid[r] == cid[open_]) & (ent >= oldest[i])
        here = alive & (evicted_at[ent] >= i)
        if cut:
            here &= opos[r] + c <= stored[ent]  # a cut entry holds the windows before its cut
        matched[open_[here]] = True
        more = alive & ~here & (r > 0)
        open_, r = open_[more], r[more] - 1
    if len(open_):
        depart = evicted_at[oentry]
        if cut:
            depart = np.where(opos + c <= stored[oentry], depart, -1)
        # Latest departure among the entries that hold u before i, as a running max within
        # each id's rows; `base` lifts each id's segment above the previous one.
        running = np.maximum.accumulate(base + depart)
        matched[open_] = running[row[open_]] >= threshold[open_]
    return np.bincount(req[matched], minlength=n).astype(np.int64) * c


# --------------------------------------------------------------------------- entry point

def analyze(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], *,
            pool_sizes: Sequence[str | float | None] = DEFAULT_POOL_SIZES,
            chunk_size: int = DEFAULT_CHUNK, tokens_per_gb: float = DEFAULT_TOKENS_PER_GB,
            progress: Callable[[int, int], None] | None = None,
            cancel: threading.Event | None = None) -> Analysis:
    """Replay the trace for every pool size; `progress(done, total)` counts replays."""
    if chunk_size < 1:
        raise ValueError("chunk size must be >= 1")
    if len(inputs) != len(outputs):
        raise ValueError("inputs and outputs differ in length")
    sizes = [parse_pool_size(s, tokens_per_gb) for s in pool_sizes]
    ix = _Index(inputs, outputs, chunk_size)
    total_input = int(ix.in_len.sum())
    total_stored = int(ix.ent_len.sum())

    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise AnalysisCancelled()

    # Pools that hold every entry are the unlimited pool: only the smaller ones are replayed.
    replayed = {s.capacity: s for s in sizes if s.capacity is not None and s.capacity < total_stored}
    steps = 1 + len(replayed)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, steps)

    check()
    p_hits, p_src = _replay_prefix(ix, None)
    unlimited = PoolResult(PoolSize(None, None, "∞"), _frozen(p_hits), _frozen(p_src),
                           _frozen(_settle_substring(ix, None, None)), total_input)
    tick()
    by_capacity: dict[int, PoolResult] = {}
    scoring: list = []  # [pairs, chunk_uniq, scratch], built for the first full replay

    for size in replayed.values():
        check()
        assert size.capacity is not None
        single = _single_entry_replay(ix, size.capacity)
        if single is not None:
            p_hits, p_src, evicted_at, stored = single
        else:
            if not scoring:
                pairs = ix.pair_scores(max(_PAIR_ROWS, _PAIR_BUDGET * len(ix.all_chunks()[0])))
                chunk_uniq = [] if pairs is not None else [_uniq_counts(ix.chunk_ids(i)) for i in range(ix.n)]
                scratch = np.zeros(ix.n_ids + 1 if pairs is None else 0, dtype=np.int64)
                scoring = [pairs, chunk_uniq, scratch]
            pairs, chunk_uniq, scratch = scoring
            p_hits, p_src = _replay_prefix(ix, size.capacity)
            evicted_at, stored = _replay_substring(ix, size.capacity, chunk_uniq, scratch, pairs)
        s_hits = _settle_substring(ix, evicted_at, stored)
        by_capacity[size.capacity] = PoolResult(size, _frozen(p_hits), _frozen(p_src), _frozen(s_hits),
                                                total_input)
        tick()
    results: list[PoolResult] = []
    for size in sizes:
        # A pool that holds every entry never evicts nor cuts: it is the unlimited pool.
        if size.capacity is None or size.capacity >= total_stored:
            results.append(PoolResult(size, unlimited.prefix_hits, unlimited.prefix_source,
                                      unlimited.substring_hits, total_input))
        else:
            r = by_capacity[size.capacity]
            results.append(PoolResult(size, r.prefix_hits, r.prefix_source, r.substring_hits, total_input))
    combined = _frozen(_combined(ix, unlimited.prefix_hits))
    return Analysis(chunk_size, tokens_per_gb, _frozen(ix.in_len.copy()), _frozen(ix.ent_len - ix.in_len),
                    tuple(results), unlimited, combined, ix)


def _uniq_counts(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if ids.size == 0:
        return ids.astype(np.int64), np.zeros(0, np.int64)
    u, cnt = np.unique(ids, return_counts=True)
    return u.astype(np.int64), cnt.astype(np.int64)


def _combined(ix: _Index, prefix_hits: np.ndarray) -> np.ndarray:
    """Tokens covered by the prefix hit or by a chunk matched in the unlimited pool."""
    req, k, cid = ix.all_chunks()
    c = ix.chunk
    matched = ix.first_entry[cid] < req
    start = k * c
    p = prefix_hits[req]
    # The part of each matched chunk beyond the prefix hit.
    extra = np.where(matched, np.clip(start + c - np.maximum(start, p), 0, c), 0)
    return prefix_hits + np.bincount(req, weights=extra, minlength=ix.n).astype(np.int64)
