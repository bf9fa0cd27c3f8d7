"""Pool-independent structures over all entries E_j = I_j + O_j, built once per analysis.

Prefix: the entries sorted lexicographically (as big-endian bytes, so memcmp does the work)
and the LCP of sorted neighbours, measured on the tokens; the LCP of any two entries is a
range minimum over that array (sparse table).

Substring: only windows whose content is some input's chunk can ever match, so windows get
an id only when their 64-bit hash is a chunk's (confirmed token by token; a collision falls
back to exact grouping), and only those windows are kept ("content windows": with short
requests most windows hold none). Each entry shares its first m tokens with an earlier
entry (from the prefix structure): only the windows past that shared prefix are hashed, the
others are copied from that entry.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .ranks import Ranks
from .windows import ChunkContents, group_windows, pair_lcps, radix_argsort, run_heads, window_hashes


_WINDOW_BLOCK = 1 << 21
"""Novel windows hashed and looked up at a time."""


def _narrow(bound: int) -> np.dtype:
    """int32 when every value is below `bound` and fits, else int64."""
    return np.dtype(np.int32) if bound < 1 << 31 else np.dtype(np.int64)


class HeldChunks(NamedTuple):
    """Index.prev_held_chunks: the chunks of all_chunks() held by an earlier entry, as indices
    into it, and what settling reads of them in every pool (computed once, not per pool)."""

    sure: np.ndarray  # newest earlier holder i - 1
    sure_per_req: np.ndarray  # their number per request
    other: np.ndarray  # newest earlier holder older than i - 1
    sure_req: np.ndarray  # request of each sure chunk
    sure_need: np.ndarray  # the stored length entry i - 1 needs to hold it: position + C
    other_req: np.ndarray  # request of each other chunk
    other_ent: np.ndarray  # its newest earlier holder
    other_need: np.ndarray  # the stored length that holder needs to hold it


class Index:
    """Pool-independent structures over all entries E_j = I_j + O_j."""

    def __init__(self, tok: np.ndarray, in_len: np.ndarray, out_len: np.ndarray, chunk: int) -> None:
        """`tok`: every entry's tokens, I_0 O_0 I_1 O_1 ..., one flat array."""
        n = len(in_len)
        self.n = n
        self.chunk = chunk
        self.in_len = np.asarray(in_len, dtype=np.int64)
        self.ent_len = self.in_len + np.asarray(out_len, dtype=np.int64)
        self.ent_len_list: list[int] = self.ent_len.tolist()
        self.in_len_list: list[int] = self.in_len.tolist()
        self.tok = tok
        self.off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(self.ent_len, out=self.off[1:])
        if int(self.off[-1]) != len(tok):
            raise ValueError("token array and lengths disagree")
        self._positions: tuple[np.ndarray, np.ndarray] | None = None
        self._chunk_starts: np.ndarray | None = None
        self._build_ranks()
        self._build_window_ids()

    SAVED = ("chunk_id", "cw_off", "cw_pos", "cw_id", "first_entry", "first_pos")
    """What a released index holds beyond the tokens and lengths (tokencache stores it)."""

    @classmethod
    def restored(cls, tok: np.ndarray, in_len: np.ndarray, out_len: np.ndarray, chunk: int, n_ids: int,
                 arrays: dict[str, np.ndarray]) -> Index:
        """A released index from what SAVED names (read back from the analysis cache)."""
        ix = cls.__new__(cls)
        ix.n = len(in_len)
        ix.chunk = chunk
        ix.in_len = np.asarray(in_len, dtype=np.int64)
        ix.ent_len = ix.in_len + np.asarray(out_len, dtype=np.int64)
        ix.tok = tok
        ix.off = np.zeros(ix.n + 1, dtype=np.int64)
        np.cumsum(ix.ent_len, out=ix.off[1:])
        for name in cls.SAVED:
            setattr(ix, name, arrays[name])
        ix.n_ids = n_ids
        ix._positions = ix._chunks = ix._freq = ix._chunk_starts = None
        ix.release()
        return ix

    def longest(self) -> int:
        """The longest entry's length (0 without entries)."""
        return int(self.ent_len.max(initial=0))

    def request_dtype(self) -> np.dtype:
        """The narrowest of int32 and int64 holding any request index or entry length: the
        per-pool arrays (hits, sources, departures) are int32 up to two billion of them."""
        return _narrow(max(self.n, int(self.ent_len.max(initial=0))) + 1)

    def release(self) -> None:
        """Drop what only the replays need (the sorted order, the sparse table, Python lists,
        the occurrence rows): the views keep the window ids, and the occurrences are rebuilt
        if a view asks for chunk frequencies."""
        self.release_prefix()
        self.release_scoring()
        self.ent_len_list = None
        self._occ = self._rows = self._sure = None

    def release_prefix(self) -> None:
        """Drop what only the prefix replays read (the sorted order and ranks, the sparse
        table of LCPs): with a million requests ~0.1 GB that the substring stage can use."""
        self.order = self.rank = self.table = self.in_len_list = None

    def release_scoring(self) -> None:
        """Drop the occurrence rows grouped by entry, which only the substring replays score."""
        self._entry_occ = None

    # ---- prefix structure

    def _build_ranks(self) -> None:
        n = self.n
        off = self.off.tolist()  # Python ints: slicing with them is the key's cost here
        # Big-endian bytes compare like the token sequences (a prefix sorts first); one
        # entry at a time, so that the keys are the only copy.
        tok = self.tok
        ints = list(range(n))  # order and rank share these int objects
        order = sorted(ints, key=lambda j: tok[off[j]: off[j + 1]].astype(">u4").tobytes())
        self.order = order
        rank = [0] * n
        for r, j in enumerate(order):
            rank[j] = ints[r]
        self.rank = rank
        o = np.asarray(order, dtype=np.int64)
        adj = pair_lcps(self.tok, self.off[o[:-1]], self.off[o[1:]],
                        np.minimum(self.ent_len[o[:-1]], self.ent_len[o[1:]]))
        # Sparse table for range minima over adj: table[k][a] = min(adj[a: a + 2**k]). Its
        # log2(n) levels of n values are the index's largest part with many short entries
        # (160 MB at a million in int64): values are LCPs, no longer than the longest entry.
        longest = int(self.ent_len.max(initial=0))
        adj = adj.astype(np.uint16 if longest < 1 << 16 else _narrow(longest), copy=False)
        table = [adj]
        k = 1
        while (1 << k) <= len(adj):
            prev = table[-1]
            half = 1 << (k - 1)
            table.append(np.minimum(prev[:-half], prev[half:]))
            k += 1
        self.table: list[np.ndarray] = table

    def lcp_ranks(self, a: int, b: int) -> int:
        """LCP of the entries at ranks a and b (a != b)."""
        if a > b:
            a, b = b, a
        k = (b - a).bit_length() - 1
        t = self.table[k]
        return int(min(t[a], t[b - (1 << k)]))

    def lcp_entries(self, i: int, j: int) -> int:
        """LCP of entries i and j (i != j)."""
        return self.lcp_ranks(self.rank[i], self.rank[j])

    def lcp_many(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """LCP of the entries at ranks a_k and b_k, for every k (0 where a_k == b_k)."""
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        span = hi - lo
        out = np.zeros(len(lo), dtype=np.int64)
        # floor(log2(span)) per pair; then one range minimum of two table reads per level used.
        level = np.zeros(len(lo), dtype=np.int64)
        pos = span > 0
        level[pos] = np.floor(np.log2(span[pos])).astype(np.int64)
        # log2 in floating point can land one off near powers of two: fix it exactly.
        level[pos & ((1 << level) > span)] -= 1
        level[pos & ((2 << level) <= span)] += 1
        for k in np.unique(level[pos]).tolist():
            sel = np.flatnonzero(pos & (level == k))
            t = self.table[k]
            out[sel] = np.minimum(t[lo[sel]], t[hi[sel] - (1 << k)])
        return out

    def intervals(self, r: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For every k, the ranks [lo, hi) of the entries sharing at least h_k tokens with the
        entry at rank r_k: the run is extended left, then right, by halving steps through the
        sparse table (entries q < r share h tokens with r while adj[q: r] stays >= h)."""
        n = self.n
        lo, hi = r.copy(), r.copy()
        for k in range(len(self.table) - 1, -1, -1):
            step, t = 1 << k, self.table[k]
            ok = lo >= step
            sel = np.flatnonzero(ok)
            if len(sel):
                move = t[lo[sel] - step] >= h[sel]
                lo[sel[move]] -= step
            sel = np.flatnonzero(hi + step < n)
            if len(sel):
                move = t[hi[sel]] >= h[sel]
                hi[sel[move]] += step
        return lo, hi + 1

    def earliest_sharers(self) -> tuple[np.ndarray, np.ndarray]:
        """For each entry j: an earlier entry with the longest common prefix, and that length."""
        n = self.n
        src = np.full(n, -1, dtype=np.int64)
        m = np.zeros(n, dtype=np.int64)
        seen = Ranks(n)
        lcp, order = self.lcp_ranks, self.order
        for j in range(n):
            r = self.rank[j]
            best, who = 0, -1
            left = seen.pred(r)
            if left >= 0:
                l = lcp(left, r)
                if l > best:
                    best, who = l, order[left]
            right = seen.succ(r)
            if right < n:
                l = lcp(r, right)
                if l > best:
                    best, who = l, order[right]
            src[j], m[j] = who, best
            seen.add(r)
        return src, m

    # ---- substring structure

    def _build_window_ids(self) -> None:
        c, n = self.chunk, self.n
        nwin = np.maximum(self.ent_len - c + 1, 0)
        win_off = np.zeros(n + 1, dtype=np.int64)  # entry j's windows, all of them
        np.cumsum(nwin, out=win_off[1:])
        src, m = self.earliest_sharers()
        # Windows inside the prefix an entry shares with an earlier one are copies of that
        # entry's windows: only the rest ("novel" windows) is hashed.
        inherit = np.where(src >= 0, np.clip(m - c + 1, 0, nwin), 0)
        nnovel = nwin - inherit
        total_novel = int(nnovel.sum())
        novel_first = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(nnovel, out=novel_first[1:])
        # Only a window whose content is some input's chunk can ever be matched: windows get
        # an id only when their hash is a chunk's (and the tokens agree). The novel windows
        # are hashed and looked up a block at a time (their starts, hashes and lookups cost
        # ~30 bytes a window: a million chat requests have ~20 million).
        req, kk = self._chunk_positions()
        contents = ChunkContents(window_hashes(self.tok, self.off[req] + kk * c, c))
        shift = self.off[:-1] + inherit - novel_first[:-1]  # novel window k of entry j starts at k + shift[j]
        novel_ids = np.empty(total_novel, dtype=np.int32)
        for k0 in range(0, total_novel, _WINDOW_BLOCK):
            k = np.arange(k0, min(total_novel, k0 + _WINDOW_BLOCK), dtype=np.int64)
            starts = k + shift[np.searchsorted(novel_first, k, side="right") - 1]
            got = contents.block(self.tok, starts, c, window_hashes(self.tok, starts, c), k0)
            if got is None:  # a hash collision: group all the novel windows exactly instead
                novel_ids = None
                break
            novel_ids[k0: k0 + len(k)] = got
            del k, starts, got
        if novel_ids is not None:
            cand_first, first_start = contents.first_windows()
        else:
            starts = np.arange(total_novel, dtype=np.int64)
            starts += np.repeat(shift, nnovel)
            novel_ids, cand_first = group_windows(self.tok, starts, c, window_hashes(self.tok, starts, c))
            first_start = starts[cand_first]
            del starts
        del contents, shift
        n_ids = len(cand_first)
        novel_ids[novel_ids < 0] = n_ids  # n_ids stands for "no chunk content"
        ids = np.empty(int(win_off[-1]), dtype=np.int32)
        self._fill(ids, win_off, novel_ids, src, inherit, novel_first)
        del novel_ids
        self.n_ids = n_ids
        self._keep_content_windows(ids, win_off)
        del ids
        # The first novel occurrence of an id is its first occurrence: copies come later.
        fe = np.searchsorted(novel_first, cand_first, side="right") - 1 if n_ids else np.zeros(0, np.int64)
        self.first_entry = fe.astype(np.int64)
        self.first_pos = (first_start - self.off[fe]) if n_ids else np.zeros(0, np.int64)
        self._occ: tuple[np.ndarray, ...] | None = None
        self._entry_occ: tuple[np.ndarray, ...] | None = None
        self._chunks: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._rows: tuple[np.ndarray, ...] | None = None
        self._sure: HeldChunks | None = None
        self._freq: np.ndarray | None = None

    def _keep_content_windows(self, ids: np.ndarray, win_off: np.ndarray) -> None:
        """From the id of every window (n_ids: none), keep each chunk's id and the content
        windows: per entry j, cw_off[j]: cw_off[j + 1] of their positions and ids."""
        req, kk = self._chunk_positions()
        self.chunk_id = ids[win_off[req] + kk * self.chunk] if len(req) else np.zeros(0, np.int32)
        # A block of windows at a time: the positions of every content window at once, and
        # their entries, took 16 bytes a window over the ids (the 1 GB agent trace's peak).
        total = 0
        for b0 in range(0, len(ids), _WINDOW_BLOCK):
            total += int(np.count_nonzero(ids[b0: b0 + _WINDOW_BLOCK] < self.n_ids))
        self.cw_id = np.empty(total, dtype=np.int32)
        self.cw_pos = np.empty(total, dtype=_narrow(int(self.ent_len.max(initial=0))))
        self.cw_off = np.zeros(self.n + 1, dtype=np.int64)
        starts = win_off[:-1]
        done = 0
        for b0 in range(0, len(ids), _WINDOW_BLOCK):
            b1 = min(len(ids), b0 + _WINDOW_BLOCK)
            w = np.flatnonzero(ids[b0:b1] < self.n_ids)
            m = len(w)
            self.cw_id[done: done + m] = ids[b0:b1][w]
            w += b0
            entry = np.searchsorted(win_off, w, side="right") - 1
            self.cw_pos[done: done + m] = w - win_off[entry]
            # Entries starting in this block: content windows before their first window.
            j0, j1 = np.searchsorted(starts, [b0, b1])
            self.cw_off[j0:j1] = done + np.searchsorted(w, starts[j0:j1])
            done += m
            del w, entry
        # Entries starting at or past the last window (empty ones at the end) and the end.
        j0 = int(np.searchsorted(starts, len(ids)))
        self.cw_off[j0:] = total

    def _fill(self, out: np.ndarray, win_off: np.ndarray, novel: np.ndarray, src: np.ndarray,
              inherit: np.ndarray, novel_first: np.ndarray) -> None:
        """Per-window values of all entries: the inherited prefix copies the source's."""
        win_off = win_off.tolist()
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
        # int32 when they fit: 8 bytes a chunk less (arithmetic on them widens first).
        req = np.repeat(np.arange(self.n, dtype=self.request_dtype()), k)
        first = self.chunk_first()
        kk = (np.arange(int(first[-1]), dtype=np.int64) - np.repeat(first[:-1], k)).astype(
            _narrow(int(k.max(initial=0)) + 1))
        return req, kk

    def chunk_first(self) -> np.ndarray:
        """Where each input's chunks start in all_chunks() (n + 1 offsets)."""
        if self._chunk_starts is None:
            self._chunk_starts = np.zeros(self.n + 1, dtype=np.int64)
            np.cumsum(self.in_len // self.chunk, out=self._chunk_starts[1:])
        return self._chunk_starts

    def chunk_ids(self, i: int) -> np.ndarray:
        """Content ids of the whole chunks of input i."""
        first = self.chunk_first()
        return self.chunk_id[int(first[i]): int(first[i + 1])]

    def all_chunks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(request, chunk index, id) of every whole chunk of every input."""
        if self._chunks is None:
            self._chunks = self._all_chunks()
        return self._chunks

    def _all_chunks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        req, kk = self._chunk_positions()
        return req, kk, self.chunk_id

    def occurrences(self) -> tuple[np.ndarray, ...]:
        """Where chunk contents occur: rows sorted by (id, entry), one per (id, entry).

        Returns (id, entry, count, first position). Only ids that are some input's chunk are
        kept: other windows can never be matched.
        """
        if self._occ is None:
            # The content windows come in (entry, position) order, so a stable sort by id
            # alone leaves each id's rows sorted by entry and position.
            w = radix_argsort(self.cw_id, max(16, int(self.n_ids).bit_length()))
            wid = self.cw_id[w]
            small = _narrow(max(int(self.n_ids) + 1, self.n, int(self.ent_len.max(initial=0)) + self.chunk))
            entry = (np.searchsorted(self.cw_off, w, side="right") - 1).astype(small)
            # A row per run of equal (id, entry), the windows being sorted by both.
            step = run_heads(wid)
            step |= run_heads(entry)
            head = np.flatnonzero(step)
            del step
            counts = np.diff(head, append=len(w)).astype(small)
            oid, oentry = wid[head].astype(small, copy=False), entry[head]
            del wid
            first = self.cw_pos[w[head]].astype(small)
            del w, entry, head
            # Ids, entries, counts and positions as int32 when they fit (~16 bytes a row
            # saved): arithmetic that could pass 2**31 (chunk_rows' segment bases) widens first.
            self._occ = (oid, oentry, counts, first)
        return self._occ

    def chunk_rows(self) -> tuple[np.ndarray, ...]:
        """Pool-independent lookups for settling substring hits.

        For every chunk of all_chunks(): the last occurrence row of its id with entry < its
        request (clipped to 0) and whether there is one; per chunk, the running value its
        request needs (see segment_base).
        """
        if self._rows is None:
            req, _, cid = self.all_chunks()
            oid, oentry, _, _ = self.occurrences()
            okey = oid.astype(np.int64) * self.n + oentry  # sorted: rows go by (id, entry)
            # The chunks' keys searched in sorted order (a stable sort by id: chunks come by
            # request), each search starting near the last: 0.29 s for 100 MB of agent
            # sessions in chunk order, 0.21 s sorted, the sort included.
            by_id = radix_argsort(cid, max(16, int(self.n_ids).bit_length()))
            row = np.empty(len(cid), dtype=np.int64)
            row[by_id] = np.searchsorted(okey, cid[by_id].astype(np.int64) * self.n + req[by_id], side="left")
            row -= 1
            del okey, by_id
            safe = np.maximum(row, 0)
            has = (row >= 0) & (oid[safe] == cid) if len(oid) else row >= 0
            threshold = (self.segment_base(oid[safe]) if len(oid) else safe) + req
            self._rows = (safe, has, threshold)
        return self._rows

    def segment_base(self, oid: np.ndarray) -> np.ndarray:
        """The offset id * (n + 2) + 1 that lifts each id's occurrence rows above the previous
        id's in settling's running maximum (computed for the rows gathered, not held per row)."""
        return oid.astype(np.int64) * (self.n + 2) + 1

    def prev_held_chunks(self) -> HeldChunks:
        """Chunks whose newest earlier holder is entry i - 1, present at query i in every pool
        (it is stored just before), and the other chunks held by some earlier entry, with
        what settling reads of both in every pool (see HeldChunks)."""
        if self._sure is None:
            req, _, _ = self.all_chunks()
            _, oentry, _, opos = self.occurrences()
            row, has = self.chunk_rows()[:2]
            prev = has & (oentry[row] == req - 1) if len(oentry) else has
            sure = np.flatnonzero(prev)
            other = np.flatnonzero(has & ~prev)
            del prev, has
            c = self.chunk
            sure_req, other_row = req[sure], row[other]
            self._sure = HeldChunks(sure, np.bincount(sure_req, minlength=self.n), other, sure_req,
                                    opos[row[sure]] + c, req[other], oentry[other_row], opos[other_row] + c)
        return self._sure

    def entry_occurrences(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The same rows grouped by entry: (row offsets per entry, ids, counts)."""
        if self._entry_occ is None:
            oid, oentry, ocount, _ = self.occurrences()
            order = radix_argsort(oentry, max(16, self.n.bit_length()))
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
            u, k = np.unique(self.cw_id[self.cw_off[i]: self.cw_off[i + 1]], return_counts=True)
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
            win = self.cw_id[self.cw_off[j]: self.cw_off[j + 1]]
            at = np.flatnonzero(np.isin(win, wanted_sorted))
            if at.size == 0:
                continue
            u = win[at]
            pos = self.cw_pos[self.cw_off[j]: self.cw_off[j + 1]][at].astype(np.int64)
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


