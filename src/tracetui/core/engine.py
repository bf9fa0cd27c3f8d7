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
  first m tokens with an earlier entry (from the prefix structure): in traces with many
  windows only those past that shared prefix are hashed, the others are copied. A replay only decides touches and
  evictions (from precomputed pair counts when they are few, else by scoring the entries
  present in the pool); which chunks hit is then settled for all requests at once from the
  eviction times, most of them once for every pool (a chunk held by the previous entry).
- With few requests (_DENSE_N) the same is done with tables over every pair of entries:
  their LCP, their number of chunk pairs, and which entries hold each chunk content; a
  replay touches the best entry still present, and hits settle from bitsets of entries.

What a pool size changes is replayed only where it can change anything:

- Pools that hold the whole trace are the unlimited pool.
- A smaller pool is the unlimited pool until its first store that evicts or cuts: its
  replays start there, from the unlimited replays' LRU order at that request.
- Once any two consecutive entries overflow a pool, a pool holding just the previous entry
  keeps doing so: from there (for the smallest pools, from the start) the hits follow from
  the LCP with the previous entry, without a replay.
"""

from __future__ import annotations

import bisect
import functools
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
_SETTLE_BATCH = 1 << 22
"""Settle pools together while their open chunks (or, from the tables, their pool x query x
entry cells) number at most this many in all."""
_DENSE_KEYS = 1 << 22
"""Up to this many possible (id, entry) or (query, entry) keys, count in a dense table."""
_DENSE_N = 128
"""Up to this many requests, tables over every pair of entries (their LCP, their chunk pair
counts) replace the sorted structures, and replays take a maximum over the pool."""
_DENSE_PRODUCT = 1 << 26
"""... when the product giving their chunk pair counts costs at most this much."""
_FLAT_LCP = 1 << 16
"""Compare neighbours' tokens in one flat pass while they number at most this many."""
_INHERIT_WINDOWS = 1 << 16
"""From this many windows on, windows an entry shares with an earlier one are copied."""
_SMALL_WINDOWS = 1 << 14
"""Up to this many windows, compare them with one 2-D gather (no loop over C)."""
_FEW_WINDOWS = 512
"""Up to this many (sparse) windows, hash them with one 2-D gather (no loop over C)."""
_NARROW_TIES = 32
"""Up to this many entries tie on a prefix hit, min() over a list beats numpy's call cost."""
_SPARSE_TIES = 16
"""Beyond that, gather their last uses when the run of ranks they span is this many times
longer (mostly absent entries); else scan the run."""
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


@functools.lru_cache(maxsize=256)  # the same few sizes, for every analysis and every session replayed
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
    try:
        capacity = int((value * Decimal(str(tokens_per_gb))).to_integral_value(rounding="ROUND_FLOOR"))
    except ArithmeticError:  # decimal.Overflow: "1e999999999" overflows even Decimal
        capacity = 1 << 62
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

    def match_count(self) -> int:
        """The number of items iter_matches yields over every request (linear time)."""
        return self._index.match_count()


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
        self.stored_before: list[int] = self.off.tolist()
        """Tokens of the entries before request i, for i in 0..n."""
        self._positions: tuple[np.ndarray, np.ndarray] | None = None
        self._build_ranks()
        self._build_window_ids()

    # ---- prefix structure

    def _build_ranks(self) -> None:
        n = self.n
        off = self.off.tolist()
        # Big-endian bytes compare like the token sequences (a prefix sorts first).
        raw = self.tok.astype(">u4").tobytes()
        keys = [raw[4 * off[j]: 4 * off[j + 1]] for j in range(n)]
        order = sorted(range(n), key=keys.__getitem__)
        self.order = order
        rank = [0] * n
        for r, j in enumerate(order):
            rank[j] = r
        self.rank = rank
        o = np.asarray(order, dtype=np.int64)
        adj = _pair_lcps(self.tok, self.off[o[:-1]], self.off[o[1:]],
                         np.minimum(self.ent_len[o[:-1]], self.ent_len[o[1:]]))
        self._lcp_by_rank: list[list[int]] | None = None
        self._lcp_by_entry: np.ndarray | None = None
        self._prefix_table: _Dense | None = None
        self._table: list[list[int]] = []
        self._ties: dict[tuple[int, int], tuple[int, int]] = {}
        if n <= _DENSE_N:
            # Few entries: the LCP of every pair, so that replays look it up directly.
            # Row a: running minima of adj from a on, i.e. lcp[a, b] = min(adj[a: b]), b > a.
            above = np.arange(n - 1)[None, :] >= np.arange(n)[:, None]
            run = np.minimum.accumulate(np.where(above, adj[None, :], np.iinfo(np.int64).max), axis=1)
            lcp = np.zeros((n, n), dtype=np.int64)
            lcp[:, 1:] = np.where(above, run, 0)
            lcp += lcp.T
            self._lcp_by_rank = lcp.tolist()
            rank_a = np.asarray(rank, dtype=np.int64)
            self._lcp_by_entry = lcp[rank_a][:, rank_a]
            return
        # Sparse table for range minima over adj: table[k][a] = min(adj[a: a + 2**k]).
        table = [adj]
        k = 1
        while (1 << k) <= len(adj):
            prev = table[-1]
            half = 1 << (k - 1)
            table.append(np.minimum(prev[:-half], prev[half:]))
            k += 1
        self._table = [t.tolist() for t in table]

    def lcp_ranks(self, a: int, b: int) -> int:
        """LCP of the entries at ranks a and b (a != b)."""
        if self._lcp_by_rank is not None:
            return self._lcp_by_rank[a][b]
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
            # Entries q < r share h tokens with r while adj[q: r] stays >= h: extend the run
            # left, then right, by halving steps through the sparse table (the sorted path
            # only: with few entries the replays read the LCP matrix instead).
            table = self._table
            lo = hi = r
            for k in range(len(table) - 1, -1, -1):
                step = 1 << k
                if lo >= step and table[k][lo - step] >= h:
                    lo -= step
            for k in range(len(table) - 1, -1, -1):
                step = 1 << k
                if hi + step < self.n and table[k][hi] >= h:
                    hi += step
            got = self._ties[key] = (lo, hi + 1)
        return got

    def earliest_sharers(self) -> tuple[np.ndarray, np.ndarray]:
        """For each entry j: an earlier entry with the longest common prefix, and that length."""
        n = self.n
        if self._lcp_by_entry is not None:
            # Few entries: the best earlier entry of each straight from the matrix.
            earlier = np.arange(n)[None, :] < np.arange(n)[:, None]
            by_entry = np.where(earlier, self._lcp_by_entry, 0)
            src = np.argmax(by_entry, axis=1) if n else np.zeros(0, np.int64)
            m = by_entry[np.arange(n), src] if n else np.zeros(0, np.int64)
            return np.where(m > 0, src, -1).astype(np.int64), m.astype(np.int64)
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
        if int(self.win_off[-1]) >= _INHERIT_WINDOWS:
            src, m = self.earliest_sharers()
            # Windows inside the prefix an entry shares with an earlier one are copies of
            # that entry's windows: only the rest ("novel" windows) is hashed.
            inherit = np.where(src >= 0, np.clip(m - c + 1, 0, nwin), 0)
        else:  # few windows: hashing them all costs less than finding what to copy
            src, inherit = np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)
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
        if total_novel == int(self.win_off[-1]):  # every window hashed: chunks are windows
            chunk_h = h_novel[self.win_off[req] + kk * c]
        else:
            chunk_h = _window_hashes(self.tok, pair, self.off[req] + kk * c, c)
        matched = _chunk_contents(self.tok, pair, starts, c, h_novel, chunk_h)
        if matched is None:  # a hash collision: group the windows exactly instead
            cand_ids, cand_first = _group_windows(self.tok, starts, c, h_novel)
        else:
            cand_ids, cand_first = matched
        n_ids = len(cand_first)
        novel_ids = np.where(cand_ids < 0, n_ids, cand_ids).astype(np.int32)  # n_ids: "no chunk content"
        first_novel = cand_first
        if total_novel == int(self.win_off[-1]):
            ids = novel_ids
        else:
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
        self._sure: tuple[np.ndarray, ...] | None = None
        self._tables: tuple[np.ndarray, np.ndarray] | None = None
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
        if self._positions is None:
            self._positions = self._find_chunk_positions()
        return self._positions

    def _find_chunk_positions(self) -> tuple[np.ndarray, np.ndarray]:
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

    @property
    def dense_substring(self) -> bool:
        """Few requests and chunk contents: substring replays use the (request, entry) pair
        counts, a product of (id, entry) tables costing n x n x ids."""
        return self.n <= _DENSE_N and self.has_id_tables and self.n * self.n * self.n_ids <= _DENSE_PRODUCT

    @property
    def has_id_tables(self) -> bool:
        """Few (id, entry) pairs: occurrences are counted in dense tables (id_tables)."""
        return self.n_ids * self.n <= _DENSE_KEYS

    def id_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """(id, entry) tables, when has_id_tables: how many windows of entry j hold content u,
        and the first position of one (int64 max when none)."""
        self.occurrences()
        assert self._tables is not None
        return self._tables

    def pair_table(self) -> np.ndarray:
        """When dense_substring: per (request i, entry j) the number of (window, chunk) equal
        pairs, as (chunks of i per content) x (windows of j per content)."""
        req, _, cid = self.all_chunks()
        per_req = np.bincount(req * self.n_ids + cid, minlength=self.n * self.n_ids).reshape(self.n, self.n_ids)
        counts = self.id_tables()[0]
        # In floating point for BLAS: the counts are far below 2**53, so the products are exact.
        return np.rint(per_req.astype(np.float64) @ counts.astype(np.float64)).astype(np.int64)

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
            if self.has_id_tables:
                # Few (id, entry) pairs in all: count them in a dense table, no sort.
                table = np.bincount(key, minlength=self.n_ids * self.n)
                ukey = np.flatnonzero(table)
                counts = table[ukey]
                at = np.full(self.n_ids * self.n, np.iinfo(np.int64).max, dtype=np.int64)
                np.minimum.at(at, key, pos)
                first = at[ukey]
                self._tables = (table.reshape(self.n_ids, self.n), at.reshape(self.n_ids, self.n))
            else:
                # Windows come in (entry, position) order, so a stable sort by id alone
                # leaves each id's rows sorted by entry and position.
                order = _radix_argsort(wid, max(16, int(self.n_ids).bit_length()))
                key, pos = key[order], pos[order]
                head = np.flatnonzero(_run_heads(key))
                counts = np.diff(head, append=len(key))
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

    def prev_held_chunks(self) -> tuple[np.ndarray, ...]:
        """Chunks whose newest earlier holder is entry i - 1, present at query i in every pool
        (it is stored just before): (their indices in all_chunks(), their number per request,
        the indices of the other chunks held by some earlier entry)."""
        if self._sure is None:
            req, _, _ = self.all_chunks()
            _, _, oentry, _, _ = self.occurrences()
            row, has = self.chunk_rows()[:2]
            prev = has & (oentry[row] == req - 1) if len(oentry) else has
            sure = np.flatnonzero(prev)
            self._sure = (sure, np.bincount(req[sure], minlength=self.n), np.flatnonzero(has & ~prev))
        return self._sure

    def prefix_table(self) -> _Dense | None:
        """With few requests (_DENSE_N): per request i, per entry j, the prefix hit E_j would
        give I_i (their LCP, capped at |I_i|); else None."""
        if self._lcp_by_entry is None:
            return None
        if self._prefix_table is None:
            self._prefix_table = _Dense.of(np.minimum(self._lcp_by_entry, self.in_len[:, None]))
        return self._prefix_table

    def pair_scores(self, budget: int) -> list[list[tuple[int, int]]] | None:
        """Per request i: the earlier entries j sharing a chunk with input i, and the number
        of (window, chunk) equal pairs between them, highest first — or None when that list
        would exceed `budget` rows (then replays score the entries present in the pool
        instead)."""
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
            head = np.flatnonzero(_run_heads(key))
            sums = np.add.reduceat(weight, head) if total else np.zeros(0, np.int64)
            ukey = key[head]
        query, entry = ukey // self.n, ukey % self.n
        by_count = np.lexsort((-sums, query))  # each request's entries, highest count first
        query, entry, sums = query[by_count], entry[by_count], sums[by_count]
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

    def match_count(self) -> int:
        """How many items iter_matches yields over all inputs, counted without listing them:
        each chunk of input i matches every window of the same content in entries before i."""
        seen = np.zeros(self.n_ids + 1, dtype=np.int64)  # windows per id in entries so far
        total = 0
        for i in range(self.n):
            total += int(seen[self.chunk_ids(i)].sum())
            u, k = np.unique(self.ids[self.win_off[i]: self.win_off[i + 1]], return_counts=True)
            seen[u] += k
        return total

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


def _run_heads(x: np.ndarray) -> np.ndarray:
    """True where x differs from the element before it (and at 0): the heads of its runs."""
    head = np.empty(len(x), dtype=bool)
    if len(x):
        head[0] = True
        np.not_equal(x[1:], x[:-1], out=head[1:])
    return head


def _pair_lcps(tok: np.ndarray, a: np.ndarray, b: np.ndarray, m: np.ndarray) -> np.ndarray:
    """LCP of tok[a_k:] and tok[b_k:] within their first m_k tokens, for every pair k.

    While the tokens to compare are few, all pairs are compared in one flat pass (no call
    per pair); beyond that, pair by pair in growing blocks.
    """
    if int(m.sum()) > _FLAT_LCP:
        return np.fromiter((_lcp(tok[x: x + k], tok[y: y + k]) for x, y, k in zip(a.tolist(), b.tolist(), m.tolist())),
                           dtype=np.int64, count=len(m))
    total = int(m.sum())
    out = m.astype(np.int64, copy=True)
    if total == 0:
        return out
    first = np.cumsum(m) - m
    seg = np.repeat(np.arange(len(m)), m)
    pos = np.arange(total, dtype=np.int64) - first[seg]
    diff = np.flatnonzero(tok[a[seg] + pos] != tok[b[seg] + pos])
    if len(diff):
        s = seg[diff]
        head = _run_heads(s)  # the first difference of each pair
        out[s[head]] = pos[diff[head]]
    return out


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
    uniq = uniq[_run_heads(uniq)]
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
    run_head = _run_heads(key)
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
    if len(starts) <= _FEW_WINDOWS and len(starts) * 4 <= len(tok):
        # Few windows: gather all their token pairs at once; Horner's rule unrolled is a
        # dot product with powers of the multiplier (all modulo 2**64).
        h = pair[starts[:, None] + np.arange(0, c - 1, 2)] @ _hash_powers(c // 2)
        if c % 2:
            h = h * _HASH_MUL + tok[starts + c - 1].astype(np.uint64)
    elif len(starts) * 4 > len(tok):
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


@functools.lru_cache(maxsize=8)
def _hash_powers(k: int) -> np.ndarray:
    """MUL**(k-1), ..., MUL, 1 modulo 2**64: the weights of k pairs in a window's hash."""
    mul = int(_HASH_MUL)
    return np.array([pow(mul, k - 1 - e, 1 << 64) for e in range(k)], dtype=np.uint64)


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
    if len(a) <= _SMALL_WINDOWS:
        span = np.arange(c)
        return bool(np.array_equal(tok[a[:, None] + span], tok[b[:, None] + span]))
    # Compare two tokens at a time as one 64-bit word: half the gathers of a token-wise check.
    for k in range(0, c - 1, 2):
        if not np.array_equal(pair[a + k], pair[b + k]):
            return False
    return c % 2 == 0 or bool(np.array_equal(tok[a + c - 1], tok[b + c - 1]))


# --------------------------------------------------------------------------- replays
#
# A bounded pool behaves exactly like the unlimited one until the first store that evicts
# or cuts (every entry so far fits): the unlimited replays record their LRU order at those
# requests, and each bounded replay starts from there instead of from request 0.

_INF = float("inf")


def _replay_bounds(ix: _Index, capacities: Sequence[int]) -> dict[int, tuple[int, int]]:
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
class _PrefixBase:
    """The unlimited prefix replay: per request the hit, its source and the ranks [a, b) of
    all the earlier entries giving that hit (a contiguous run in sorted order); the LRU
    order (oldest first) before chosen requests."""

    hits: list[int]
    source: list[int]
    ties: list[tuple[int, int]] | None
    """None from the tables' replay, which does not need them."""
    orders: dict[int, list[int]]


class _Recency:
    """Last use of every present entry by rank, for tie-breaks. Narrow ties read the list;
    wide ones take an argmin over a numpy mirror, which is only brought up to date (from
    the writes pending since) when a wide tie needs it."""

    __slots__ = ("clock", "pending", "mirror")

    def __init__(self, n: int) -> None:
        self.clock: list[float] = [0.0] * n
        self.pending: dict[int, float] = {}
        self.mirror = np.full(n, np.inf)

    def oldest(self, ranks: list[int]) -> int:
        """The rank of `ranks` (a sorted run of present ranks) used least recently."""
        if len(ranks) <= _NARROW_TIES:
            return min(ranks, key=self.clock.__getitem__)
        if self.pending:
            self.mirror[list(self.pending)] = list(self.pending.values())
            self.pending.clear()
        span = ranks[-1] + 1 - ranks[0]
        if len(ranks) * _SPARSE_TIES < span:
            # The present entries are scattered among many absent ones: read just theirs.
            at = np.fromiter(ranks, dtype=np.int64, count=len(ranks))
            return ranks[int(np.argmin(self.mirror[at]))]
        return ranks[0] + int(np.argmin(self.mirror[ranks[0]: ranks[-1] + 1]))  # absent ranks are inf


def _prefix_best(ix: _Index, present: list[int], r: int, limit: int,
                 recency: _Recency) -> tuple[int, int, tuple[int, int]]:
    """The longest match of the entry at rank r among the present ranks (sorted), capped at
    `limit` (its input length): (hit, entry giving it, ranks [a, b) around r holding every
    present entry that matches as long). On ties the least recently used entry gives it.
    (0, -1, (r, r)) when nothing matches."""
    lcp = ix.lcp_ranks
    pos = bisect.bisect_left(present, r)
    size = len(present)
    left = lcp(present[pos - 1], r) if pos > 0 else 0
    right = lcp(r, present[pos]) if pos < size else 0
    hit = min(max(left, right), limit)
    if hit <= 0:
        return 0, -1, (r, r)
    # All present entries matching >= hit form a contiguous run of ranks around r: find its
    # ends (most often one step from r on each side).
    if (left < hit or pos < 2 or lcp(present[pos - 2], r) < hit) and \
            (right < hit or pos + 1 >= size or lcp(r, present[pos + 1]) < hit):
        lo = pos if left < hit else pos - 1
        hi = pos if right < hit else pos + 1
    else:
        a, b = ix.tie_interval(r, hit)
        lo = bisect.bisect_left(present, a)
        hi = bisect.bisect_left(present, b)
    ties = (present[lo], present[hi - 1] + 1)
    if hi - lo == 1:
        return hit, ix.order[present[lo]], ties
    return hit, ix.order[recency.oldest(present[lo:hi])], ties


def _replay_prefix_unlimited(ix: _Index, wanted: set[int]) -> _PrefixBase:
    """The prefix replay of the unlimited pool, keeping the LRU order before the requests in
    `wanted` (where bounded pools first overflow)."""
    n = ix.n
    hits, source = [0] * n, [-1] * n
    ties: list[tuple[int, int]] = [(0, 0)] * n
    rank, in_len = ix.rank, ix.in_len_list
    present: list[int] = []
    recency = _Recency(n)
    clock, pending = recency.clock, recency.pending
    lru: OrderedDict[int, None] = OrderedDict()
    orders: dict[int, list[int]] = {}
    tick = 0
    for i in range(n):
        if i in wanted:
            orders[i] = list(lru)
        r = rank[i]
        hit, j, run = _prefix_best(ix, present, r, in_len[i], recency)
        if hit:
            hits[i], source[i], ties[i] = hit, j, run
            lru.move_to_end(j)
            rj = rank[j]
            clock[rj] = pending[rj] = tick
            tick += 1
        lru[i] = None
        bisect.insort(present, r)
        clock[r] = pending[r] = tick
        tick += 1
    return _PrefixBase(hits, source, ties, orders)


def _start_state(ix: _Index, t0: int, order: list[int]) -> tuple[OrderedDict[int, None], list[bool], int]:
    """A bounded pool just before request t0, its first overflow: every earlier entry present
    in full, in the unlimited pool's LRU order. Returns (LRU keys, present flags, used)."""
    lru: OrderedDict[int, None] = OrderedDict.fromkeys(order)
    alive = [True] * t0 + [False] * (ix.n - t0)
    return lru, alive, ix.stored_before[t0]


def _replay_prefix(ix: _Index, capacity: int, t0: int, base: _PrefixBase,
                   tail: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The prefix replay of a bounded pool, from its first overflow t0 on; from `tail` on
    (see _replay_bounds), once the pool holds one entry the rest is filled in."""
    n = ix.n
    hits = base.hits[:t0] + [0] * (n - t0)
    source = base.source[:t0] + [-1] * (n - t0)
    rank, ent_len, in_len, lcp = ix.rank, ix.ent_len_list, ix.in_len_list, ix.lcp_ranks
    lru, _, used = _start_state(ix, t0, base.orders[t0])
    present = sorted(rank[:t0])
    recency = _Recency(n)
    clock, pending = recency.clock, recency.pending
    for k, j in enumerate(lru):
        clock[rank[j]] = pending[rank[j]] = k
    tick = t0
    b_hits, b_ties, order = base.hits, base.ties, ix.order
    assert b_ties is not None
    kept = np.minimum(ix.ent_len, capacity).tolist()  # stored lengths
    cut = -1  # the last entry stored cut (to the capacity)
    tail = n if tail is None else tail
    for i in range(t0, n):
        if i >= tail and len(lru) == 1:
            _single_entry_tail(ix, capacity, i, hits, source, [0] * n)
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
                lo = bisect.bisect_left(present, a)
                hi = bisect.bisect_left(present, b)
                if hi - lo == 1:
                    j = order[present[lo]]
                elif hi > lo:
                    j = order[recency.oldest(present[lo:hi])]
                else:
                    hit, j, _ = _prefix_best(ix, present, r, in_len[i], recency)
        if hit > 0:
            hits[i], source[i] = hit, j
            lru.move_to_end(j)
            rj = rank[j]
            clock[rj] = pending[rj] = tick
            tick += 1
        length = kept[i]
        while used > 0 and used + length > capacity:
            j = lru.popitem(last=False)[0]
            used -= kept[j]
            rj = rank[j]
            del present[bisect.bisect_left(present, rj)]
            pending[rj] = _INF
        if length < ent_len[i]:
            cut = i
        lru[i] = None
        used += length
        bisect.insort(present, r)
        clock[r] = pending[r] = tick
        tick += 1
    return np.asarray(hits, dtype=np.int64), np.asarray(source, dtype=np.int64)


@dataclass
class _Scoring:
    """How a substring replay finds the entry to touch: precomputed pair counts per request
    (sorted by count, highest first) or, when those would be too many, each request's chunk
    ids with multiplicities, scored against the present entries' occurrence rows."""

    pairs: list[list[tuple[int, int]]] | None
    chunk_uniq: list[tuple[np.ndarray, np.ndarray]]
    scratch: np.ndarray
    dense: _Dense | None = None
    """With few requests: the pair count of every (request, entry), instead of `pairs`."""


def _scoring(ix: _Index) -> _Scoring:
    if ix.dense_substring:
        return _Scoring(None, [], np.zeros(0, np.int64), _Dense.of(ix.pair_table()))
    pairs = ix.pair_scores(max(_PAIR_ROWS, _PAIR_BUDGET * len(ix.all_chunks()[0])))
    if pairs is not None:
        return _Scoring(pairs, [], np.zeros(0, np.int64))
    return _Scoring(None, [_uniq_counts(ix.chunk_ids(i)) for i in range(ix.n)],
                    np.zeros(ix.n_ids + 1, dtype=np.int64))


def _score_present(ix: _Index, scoring: _Scoring, i: int, lru: OrderedDict[int, None], cut: int) -> int:
    """The present entry (not the cut one) with the most (window, chunk) equal pairs with
    input i, the least recently used on ties; -1 when none shares a chunk."""
    uq, mult = scoring.chunk_uniq[i]
    if not uq.size or not lru:
        return -1
    starts, eids, ecounts = ix.entry_occurrences()
    scratch = scoring.scratch
    # Score every present entry in one go: gather their occurrence rows (in LRU order),
    # weigh each by how often the query holds that chunk, sum per entry.
    scratch[uq] = mult
    order = np.fromiter(lru, dtype=np.int64, count=len(lru))
    if cut >= 0:
        order = order[order != cut]  # alone in the pool: touching it changes nothing
    lo, hi = starts[order], starts[order + 1]
    length = hi - lo
    total = int(length.sum())
    who = -1
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
    return who


def _replay_substring(ix: _Index, capacity: int | None, t0: int, order: list[int], scoring: _Scoring,
                      wanted: set[int] | None = None, tail: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray, dict[int, list[int]]]:
    """Replay the substring pool from request t0 (LRU `order` before it, all entries full).

    Returns (evicted_at, stored_len, orders): evicted_at[j] is the request during whose
    store j was evicted (n if never), so entry j is present for the queries j < i <=
    evicted_at[j]; hits are settled afterwards, at once. The replay itself only decides
    which entry each request touches. With capacity None (the unlimited pool) it only
    records the LRU order before the requests in `wanted`, and stops after the last. From
    `tail` on (see _replay_bounds), once the pool holds one entry the rest is filled in.
    """
    n = ix.n
    evicted_at = [n] * n
    # Stored lengths: before t0 no entry is cut (the pool held them all).
    stored = ix.ent_len if capacity is None else np.minimum(ix.ent_len, capacity)
    kept, ent_len = stored.tolist(), ix.ent_len_list
    lru, alive, used = _start_state(ix, t0, order)
    last_use = [0] * n
    for k, j in enumerate(lru):
        last_use[j] = k  # below 2 * t0, the first use to come
    pairs = scoring.pairs
    orders: dict[int, list[int]] = {}
    stop = n if wanted is None else max(wanted, default=-1) + 1
    cut = -1  # the last entry stored cut (to the capacity)
    tail = n if tail is None else tail
    for i in range(t0, min(n, stop)):
        if wanted is not None and i in wanted:
            orders[i] = list(lru)
        if i >= tail and len(lru) == 1:
            assert capacity is not None
            _single_entry_tail(ix, capacity, i, [0] * n, [-1] * n, evicted_at)
            break
        who = -1
        if pairs is not None:
            best = 0
            # Highest counts first: the first present entry sets the best count, and only
            # entries with that same count can still win (the least recently used).
            for j, score in pairs[i]:
                if score < best:
                    break
                if alive[j] and j != cut:  # a cut entry is alone: touching it changes nothing
                    if who < 0 or last_use[j] < last_use[who]:
                        best, who = score, j
        else:
            who = _score_present(ix, scoring, i, lru, cut)
        if who >= 0:
            lru.move_to_end(who)
            last_use[who] = 2 * i
        length = kept[i]
        if capacity is not None:
            while used > 0 and used + length > capacity:
                j = lru.popitem(last=False)[0]
                used -= kept[j]
                alive[j] = False
                evicted_at[j] = i
            if length < ent_len[i]:
                cut = i
        lru[i] = None
        used += length
        alive[i] = True
        last_use[i] = 2 * i + 1
    return np.asarray(evicted_at, dtype=np.int64), stored, orders


@dataclass(frozen=True)
class _Dense:
    """A table over (request i, entry j) for few requests: the prefix hit E_j gives I_i, or
    their number of (window, chunk) equal pairs. Per request: the row, the highest value
    over the earlier entries and every earlier entry reaching it (none when it is 0)."""

    rows: list[list[int]]
    top: list[int]
    best: list[tuple[int, ...]]

    @classmethod
    def of(cls, table: np.ndarray) -> _Dense:
        n = len(table)
        earlier = np.where(np.arange(n)[None, :] < np.arange(n)[:, None], table, 0)
        top = earlier.max(axis=1) if n else np.zeros(0, np.int64)
        qi, ej = np.nonzero((earlier == top[:, None]) & (top[:, None] > 0))
        bounds = np.searchsorted(qi, np.arange(n + 1)).tolist()
        ents = ej.tolist()
        return cls(table.tolist(), top.tolist(), [tuple(ents[bounds[i]: bounds[i + 1]]) for i in range(n)])


def _replay_dense_unlimited(ix: _Index, table: _Dense, wanted: set[int],
                            until: int | None = None) -> tuple[list[int], list[int], dict[int, list[int]]]:
    """Either replay of the unlimited pool with few requests: every earlier entry is
    present, so the entry touched is the least recently used of those reaching the highest
    value in the table. Returns (value and entry touched per request, the LRU order before
    the requests in `wanted`); stops before request `until` if given."""
    n = ix.n
    top, best = table.top, table.best
    hits, source = [0] * n, [-1] * n
    lru: OrderedDict[int, None] = OrderedDict()
    last_use = [0] * n
    orders: dict[int, list[int]] = {}
    tick = 0
    for i in range(n if until is None else until):
        if i in wanted:
            orders[i] = list(lru)
        b = best[i]
        if b:
            j = b[0] if len(b) == 1 else min(b, key=last_use.__getitem__)
            hits[i], source[i] = top[i], j
            lru.move_to_end(j)
            last_use[j] = tick
            tick += 1
        lru[i] = None
        last_use[i] = tick
        tick += 1
    return hits, source, orders


def _replay_dense(ix: _Index, capacity: int, t0: int, tail: int, order: list[int],
                  table: _Dense) -> tuple[list[int], list[int], list[int]]:
    """Either replay of a bounded pool with few requests, from its first overflow t0 (LRU
    `order` before it, every entry full): the entry touched is the present one with the
    highest value in the table (> 0), the least recently used on ties.

    Most often the entries reaching the highest value over all earlier ones (`best`) are
    still present and settle it; else a maximum over the pool does (max() keeps the first
    of equal values: in LRU order, the least recent). From `tail` on (see _replay_bounds),
    once the pool holds one entry the rest is filled in without replaying. Returns (value
    and entry touched per request from t0 on, evicted_at per entry: n if never).
    """
    n = ix.n
    rows, top, best = table.rows, table.top, table.best
    kept = np.minimum(ix.ent_len, capacity).tolist()  # stored lengths
    ent_len = ix.ent_len_list
    hits, source, evicted_at = [0] * n, [-1] * n, [n] * n
    lru: OrderedDict[int, None] = OrderedDict.fromkeys(order)
    last_use = [0] * n
    for k, j in enumerate(order):
        last_use[j] = k  # below t0, the first use to come
    tick = t0
    used = ix.stored_before[t0]
    # The last entry stored cut: while present it is the only entry holding anything (it
    # evicted all others but empty ones; with capacity 0 all are empty and nothing hits). A
    # touch of it only reorders it among empty entries, which no hit can tell apart: the
    # substring table touches it like the prefix table, where its hit counts.
    cut = -1
    for i in range(t0, n):
        if i >= tail and len(lru) == 1:
            _single_entry_tail(ix, capacity, i, hits, source, evicted_at)
            break
        j = -1
        if cut >= 0 and cut in lru:
            value = min(rows[i][cut], capacity)
            if value > 0:
                j = cut
        else:
            b = best[i]
            if b:
                if len(b) == 1:
                    j = b[0]
                    if j not in lru:
                        j = -1
                else:
                    here = [e for e in b if e in lru]
                    if here:
                        j = min(here, key=last_use.__getitem__)
                if j >= 0:
                    value = top[i]
                else:
                    row = rows[i]
                    j = max(lru, key=row.__getitem__)
                    value = row[j]
                    if not value:
                        j = -1
        if j >= 0:
            hits[i], source[i] = value, j
            lru.move_to_end(j)
            last_use[j] = tick
            tick += 1
        # Store i, evicting the least recently used until it fits. Written out in each replay
        # loop: a call per request would cost more than the store itself.
        length = kept[i]
        while used and used + length > capacity:
            e = lru.popitem(last=False)[0]
            used -= kept[e]
            evicted_at[e] = i
        if length < ent_len[i]:
            cut = i
        lru[i] = None
        used += length
        last_use[i] = tick
        tick += 1
    return hits, source, evicted_at


def _single_entry_tail(ix: _Index, capacity: int, i0: int, hits: list[int], source: list[int],
                       evicted_at: list[int]) -> None:
    """Fill in both replays from request i0 on, where the pool holds exactly the previous
    entry at every query (see _replay_bounds): touches change nothing, each store evicts
    that entry, and the prefix hit is the LCP with it (cut to the pool)."""
    lcp, rank, in_len, ent_len = ix.lcp_ranks, ix.rank, ix.in_len_list, ix.ent_len_list
    for i in range(max(i0, 1), ix.n):
        hit = min(lcp(rank[i - 1], rank[i]), in_len[i], ent_len[i - 1], capacity)
        if hit > 0:
            hits[i], source[i] = hit, i - 1
        evicted_at[i - 1] = i


def _single_entry_fill(ix: _Index, capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both replays at once when every store evicts everything before it (tail 1 in
    _replay_bounds): the pool holds exactly the previous entry at every query. The smallest
    pool sizes of most traces are in this regime. Returns (prefix hits, prefix sources,
    evicted_at, stored).
    """
    n = ix.n
    hits, source, evicted_at = [0] * n, [-1] * n, [n] * n
    _single_entry_tail(ix, capacity, 1, hits, source, evicted_at)
    return (np.asarray(hits, dtype=np.int64), np.asarray(source, dtype=np.int64),
            np.asarray(evicted_at, dtype=np.int64), np.minimum(ix.ent_len, capacity))


def _bitsets(mask: np.ndarray) -> np.ndarray:
    """The last axis of a boolean array as bitsets: (..., words) of uint64, bit j % 64 of
    word j // 64 set when mask[..., j] (a product with powers of two, 64 columns a word)."""
    n = mask.shape[-1]
    weights = np.uint64(1) << np.arange(64, dtype=np.uint64)
    if n <= 64:
        return (mask.astype(np.uint64) @ weights[:n])[..., None]
    return np.stack([mask[..., k: k + 64].astype(np.uint64) @ weights[: min(64, n - k)]
                     for k in range(0, n, 64)], axis=-1)


def _settle_dense(ix: _Index, pools: Sequence[tuple[np.ndarray, np.ndarray]],
                  single: Sequence[bool]) -> list[np.ndarray]:
    """_settle_substring from the (id, entry) tables, for few requests: chunk (i, u) hits
    when some entry present at query i holds u (before its cut).

    Entry i - 1 is always present at query i: when it holds u before its cut, the chunk
    hits (most chunks do, in every pool). Pools in the single-entry regime (`single`) hold
    nothing else. Otherwise a cut entry, while present, is the only one holding anything
    (the others present are empty), so its cut decides; else the entries present at query
    i and the entries holding u, as bitsets over the entries, share a bit. A few pools at
    a time, all at once.
    """
    req, _, cid = ix.all_chunks()
    n, c = ix.n, ix.chunk
    counts, first = ix.id_tables()
    # Only chunks held by some earlier entry can hit; i >= 1 for them.
    held_before = np.flatnonzero(ix.first_entry[cid] < req)
    r, u = req[held_before], cid[held_before]
    # (id, entry): the stored length entry j needs to hold u (none: int64 max).
    need = np.where(counts > 0, first, np.iinfo(np.int64).max - c) + c
    prev_need = need[u, r - 1]
    holders = None
    query = np.arange(n)[None, :, None]
    earlier = np.arange(n)[None, None, :] < query
    group = max(1, _SETTLE_BATCH // max(1, n * n))
    out: list[np.ndarray] = []
    for k in range(0, len(pools), group):
        evicted_at = np.stack([e for e, _ in pools[k: k + group]])
        stored = np.stack([s for _, s in pools[k: k + group]])
        hit = prev_need[None, :] <= stored[:, r - 1]  # (pool, chunk): entry i - 1 holds it
        others = ~np.asarray(single[k: k + group])[:, None]
        p, q = np.nonzero(~hit & others)
        if len(p):
            if holders is None:
                holders = _bitsets(counts > 0)  # (id, words)
            present = _bitsets(earlier & (query <= evicted_at[:, None, :]))  # (pool, query, words)
            # The cut entry present at query i, if any: the latest one stored before i (a cut
            # entry evicts every earlier one that holds anything), unless evicted since.
            latest = np.full((len(stored), n), -1, dtype=np.int64)
            cp, cj = np.nonzero(stored[:, :-1] < ix.ent_len[None, :-1])
            latest[cp, cj + 1] = cj
            latest = np.maximum.accumulate(latest, axis=1)
            i = r[q]
            alone = latest[p, i]
            alone[(alone >= 0) & (evicted_at[p, alone] < i)] = -1
            found = np.zeros(len(p), dtype=bool)
            for w in range(present.shape[-1]):
                found |= (present[p, i, w] & holders[u[q], w]) != 0
            with_cut = np.flatnonzero(alone >= 0)
            j = alone[with_cut]
            found[with_cut] = need[u[q[with_cut]], j] <= stored[p[with_cut], j]
            hit[p[found], q[found]] = True
        pool, chunk = np.nonzero(hit)
        per = np.bincount(pool * n + r[chunk], minlength=len(stored) * n).reshape(-1, n)
        out.extend(per.astype(np.int64) * c)
    return out


def _settle_unlimited(ix: _Index) -> np.ndarray:
    """Substring hits in the unlimited pool: a chunk hits when it occurred in an earlier entry."""
    req, _, cid = ix.all_chunks()
    matched = ix.first_entry[cid] < req
    return np.bincount(req[matched], minlength=ix.n).astype(np.int64) * ix.chunk


def _settle_substring(ix: _Index, pools: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Substring hits of every request for each bounded pool (see _settle_group), settled
    a few pools at a time so that the open chunks of a group stay within _SETTLE_BATCH."""
    per_pool = max(1, len(ix.prev_held_chunks()[2]))
    group = max(1, _SETTLE_BATCH // per_pool)
    out: list[np.ndarray] = []
    for k in range(0, len(pools), group):
        out.extend(_settle_group(ix, pools[k: k + group]))
    return out


def _settle_group(ix: _Index, pools: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
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
    _, oid, oentry, _, opos = ix.occurrences()
    row, has_row, base, threshold = ix.chunk_rows()
    sure, sure_per_req, other = ix.prev_held_chunks()
    evicted = np.concatenate([e for e, _ in pools])  # pool p's entry j at p * n + j
    stored = np.concatenate([s for _, s in pools])
    oldest = np.concatenate([
        # The oldest entry present at query i: the first j whose departure is at or after i.
        np.searchsorted(np.maximum.accumulate(e), np.arange(n), side="left") for e, _ in pools])
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
        # each id's rows; `base` lifts each id's segment above the previous one.
        depart = np.where(opos + c <= st[oentry], ev[oentry], -1)
        running = np.maximum.accumulate(base + depart)
        hits[k] += np.bincount(req[open_[running[row[open_]] >= threshold[open_]]], minlength=n)
    return [(hits[k] + sure_per_req - lost[k]).astype(np.int64) * c for k in range(len(pools))]


# --------------------------------------------------------------------------- entry point

def analyze(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], *,
            pool_sizes: Sequence[str | float | None] = DEFAULT_POOL_SIZES,
            chunk_size: int = DEFAULT_CHUNK, tokens_per_gb: float = DEFAULT_TOKENS_PER_GB,
            progress: Callable[[int, int], None] | None = None,
            cancel: threading.Event | None = None) -> Analysis:
    """Replay the trace for every pool size; `progress(done, total)` counts the steps (the
    unlimited replay, one per smaller pool, then settling their substring hits)."""
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
    replayed = sorted({s.capacity for s in sizes if s.capacity is not None and s.capacity < total_stored})
    steps = 1 + len(replayed) + bool(replayed)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, steps)

    check()
    bounds = _replay_bounds(ix, replayed)
    starts = {cap: start for cap, (start, tail) in bounds.items() if tail > 1}
    wanted = set(starts.values())
    table = ix.prefix_table()
    if table is not None:
        hits, source, p_orders = _replay_dense_unlimited(ix, table, wanted)
        base = _PrefixBase(hits, source, None, p_orders)
    else:
        base = _replay_prefix_unlimited(ix, wanted)
    unlimited = PoolResult(PoolSize(None, None, "∞"), _frozen(np.asarray(base.hits, dtype=np.int64)),
                           _frozen(np.asarray(base.source, dtype=np.int64)), _frozen(_settle_unlimited(ix)),
                           total_input)
    tick()
    scoring: _Scoring | None = None
    orders: dict[int, list[int]] = {}
    if starts:
        check()
        scoring = _scoring(ix)
        # The substring pool's LRU order where each bounded pool first overflows.
        if scoring.dense is not None:
            orders = _replay_dense_unlimited(ix, scoring.dense, wanted, until=max(wanted) + 1)[2]
        else:
            orders = _replay_substring(ix, None, 0, [], scoring, wanted=wanted)[2]
    prefix: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    departures: list[tuple[np.ndarray, np.ndarray]] = []
    for cap in replayed:
        check()
        t0, tail = bounds[cap]
        if tail <= 1:
            p_hits, p_src, evicted_at, stored = _single_entry_fill(ix, cap)
        else:
            assert scoring is not None  # every pool with tail > 1 is in `starts`
            if table is not None:
                hits, source, _ = _replay_dense(ix, cap, t0, tail, base.orders[t0], table)
                # Before t0 the pool is the unlimited one.
                p_hits = np.asarray(base.hits[:t0] + hits[t0:], dtype=np.int64)
                p_src = np.asarray(base.source[:t0] + source[t0:], dtype=np.int64)
            else:
                p_hits, p_src = _replay_prefix(ix, cap, t0, base, tail)
            if scoring.dense is not None:
                evicted_at = np.asarray(_replay_dense(ix, cap, t0, tail, orders[t0], scoring.dense)[2])
                stored = np.minimum(ix.ent_len, cap)  # before t0 no entry is cut
            else:
                evicted_at, stored, _ = _replay_substring(ix, cap, t0, orders[t0], scoring, tail=tail)
        prefix[cap] = (p_hits, p_src)
        departures.append((evicted_at, stored))
        tick()
    substring: dict[int, np.ndarray] = {}
    if replayed:
        check()
        if ix.n <= _DENSE_N and ix.has_id_tables:
            single = [bounds[cap][1] <= 1 for cap in replayed]
            substring = dict(zip(replayed, _settle_dense(ix, departures, single)))
        else:
            substring = dict(zip(replayed, _settle_substring(ix, departures)))
        tick()
    results: list[PoolResult] = []
    for size in sizes:
        if size.capacity in prefix:
            p_hits, p_src = prefix[size.capacity]
            results.append(PoolResult(size, _frozen(p_hits), _frozen(p_src), _frozen(substring[size.capacity]),
                                      total_input))
        else:  # a pool that holds every entry never evicts nor cuts: it is the unlimited pool
            results.append(PoolResult(size, unlimited.prefix_hits, unlimited.prefix_source,
                                      unlimited.substring_hits, total_input))
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
