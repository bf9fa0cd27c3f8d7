"""Vectorised building blocks over the flat token array: run heads, a linear radix argsort,
LCPs of many pairs at once, and the hashing, grouping and confirming of token windows."""

from __future__ import annotations

import numpy as np

_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_TABLE_BITS = 24
_LCP_ROUND = 1 << 21
"""Tokens compared per numpy pass when measuring LCPs (bounds the temporaries)."""


def run_heads(x: np.ndarray) -> np.ndarray:
    """True where x differs from the element before it (and at 0): the heads of its runs."""
    head = np.empty(len(x), dtype=bool)
    if len(x):
        head[0] = True
        np.not_equal(x[1:], x[:-1], out=head[1:])
    return head


def pair_lcps(tok: np.ndarray, a: np.ndarray, b: np.ndarray, m: np.ndarray) -> np.ndarray:
    """LCP of tok[a_k:] and tok[b_k:] within their first m_k tokens, for every pair k.

    All pairs are compared together in rounds of growing width (8 tokens, then 32, 128...):
    a pair leaves at its first difference, so the work is linear in the sum of the LCPs
    (most unrelated prompts differ within a few tokens) and no call is made per pair.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    out = m.copy()
    live = np.flatnonzero(m > 0)
    done = np.zeros(len(m), dtype=np.int64)  # tokens known equal so far
    width = 8
    while len(live):
        k = np.minimum(width, m[live] - done[live])
        # Rounds bounded in tokens: the live pairs in groups of at most _LCP_ROUND tokens.
        ends = np.cumsum(k)
        cuts = np.searchsorted(ends, np.arange(_LCP_ROUND, int(ends[-1]), _LCP_ROUND), side="left") + 1
        still = []
        for part in np.split(np.arange(len(live)), cuts):
            if not len(part):
                continue
            lv, kk = live[part], k[part]
            total = int(kk.sum())
            seg = np.repeat(np.arange(len(lv)), kk)
            pos = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(kk) - kk, kk)
            base = done[lv]
            diff = np.flatnonzero(tok[a[lv][seg] + base[seg] + pos] != tok[b[lv][seg] + base[seg] + pos])
            differs = np.zeros(len(lv), dtype=bool)
            if len(diff):
                s = seg[diff]
                head = run_heads(s)  # the first difference of each pair
                out[lv[s[head]]] = base[s[head]] + pos[diff[head]]
                differs[s[head]] = True
            done[lv] += kk
            still.append(lv[~differs & (done[lv] < m[lv])])
        live = np.concatenate(still) if still else live[:0]
        width *= 4
    return out


def radix_argsort(key: np.ndarray, bits: int) -> np.ndarray:
    """Stable argsort of non-negative integer keys below 2**bits, by 16-bit digits.

    numpy sorts 16-bit integers with a linear-time radix sort when asked for a stable
    sort: a few passes beat one comparison sort of 64-bit keys by a wide margin.
    """
    if key.dtype.kind not in "iu":
        raise TypeError("radix_argsort sorts integer keys")
    order: np.ndarray | None = None
    for shift in range(0, bits, 16):
        # In the key's own dtype: no 64-bit copy of a narrower key.
        digit = ((key >> key.dtype.type(shift)) & key.dtype.type(0xFFFF)).astype(np.uint16)
        if order is None:
            order = np.argsort(digit, kind="stable")
        else:
            order = order[np.argsort(digit[order], kind="stable")]
    return order if order is not None else np.arange(len(key))


def window_hashes(tok: np.ndarray, starts: np.ndarray, c: int) -> np.ndarray:
    """A 64-bit polynomial hash of every window tok[s:s+c] (one gather per token of the
    window: no 64-bit copy of the whole trace)."""
    h = np.zeros(len(starts), dtype=np.uint64)
    if len(starts) == 0:  # e.g. a chunk longer than every entry: no loop of c empty passes
        return h
    for k in range(c):
        h *= _HASH_MUL
        h += tok[k:][starts]  # tok[s + k] without an int64 array of s + k
    # Mix the high bits (the table's key) with the low ones.
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    return h


class ChunkContents:
    """Ids of windows whose content is some input's chunk, block by block of windows in
    window order: ids are numbered by first appearance across the blocks, so only one
    block's hashes and lookups are held at a time.

    The chunks' distinct hashes are few (one window in C at most): they go into a table
    addressed by the hash's top bits, and every window looks its hash up there (the few
    slots two chunk hashes share are resolved by binary search). Each window found is
    confirmed token by token against its content's first window.
    """

    def __init__(self, chunk_h: np.ndarray) -> None:
        uniq = np.sort(chunk_h)
        self.uniq = uniq = uniq[run_heads(uniq)]
        bits = int(min(_TABLE_BITS, max(12, (8 * len(uniq)).bit_length())))
        self.shift = np.uint64(64 - bits)
        slot_of = (uniq >> self.shift).astype(np.int64)
        # int32 slots (fewer chunk contents than 2**31).
        self.table = np.full(1 << bits, -1, dtype=np.int32 if len(uniq) < 1 << 31 else np.int64)
        self.table[slot_of] = np.arange(len(uniq))
        self.table[np.bincount(slot_of, minlength=1 << bits) > 1] = -2
        self.first_start = np.full(len(uniq), -1, dtype=np.int64)  # per content: its first window
        self.number = np.full(len(uniq), -1, dtype=np.int64)  # per content: its id
        self.firsts: list[np.ndarray] = []  # per block: the index of each new id's first window
        self.count = 0

    def block(self, tok: np.ndarray, starts: np.ndarray, c: int, h: np.ndarray, base: int) -> np.ndarray | None:
        """Ids (int32, -1: no chunk's content) of the windows tok[s:s+c] for s in `starts`
        (ascending, after every earlier block's; `h` their window_hashes), the first of them
        window number `base`; None when a hash collision shows up on the tokens."""
        ids = np.full(len(starts), -1, dtype=np.int32)
        if len(starts) == 0 or len(self.uniq) == 0:
            return ids
        uniq = self.uniq
        slot = h >> self.shift  # below 2**bits: the same bits read as int64, no copy
        tent = self.table[slot.view(np.int64)]
        del slot
        crowded = np.flatnonzero(tent == -2)
        if len(crowded):
            tent[crowded] = np.minimum(np.searchsorted(uniq, h[crowded]), len(uniq) - 1)
        sel = np.flatnonzero(tent >= 0)
        sel = sel[uniq[tent[sel]] == h[sel]]
        del h
        tent = tent[sel].astype(np.int64)
        # Contents first seen in this block, numbered in the order their first window comes.
        u, at = np.unique(tent, return_index=True)
        fresh = self.first_start[u] < 0
        u, at = u[fresh], at[fresh]
        by_window = np.argsort(at, kind="stable")
        u, at = u[by_window], at[by_window]
        self.first_start[u] = starts[sel[at]]
        self.number[u] = np.arange(self.count, self.count + len(u))
        self.count += len(u)
        self.firsts.append(base + sel[at])
        win = starts[sel]
        if not confirm(tok, win, self.first_start[tent], c):
            return None
        ids[sel] = self.number[tent]
        return ids

    def first_windows(self) -> tuple[np.ndarray, np.ndarray]:
        """Per id: the index of its first window, and that window's start."""
        seen = np.flatnonzero(self.number >= 0)
        start = np.empty(self.count, dtype=np.int64)
        start[self.number[seen]] = self.first_start[seen]
        return (np.concatenate(self.firsts) if self.firsts else np.zeros(0, np.int64)), start


def group_windows(tok: np.ndarray, starts: np.ndarray, c: int, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    order = radix_argsort(key, 48)
    key = key[order]
    run_head = run_heads(key)
    run = np.cumsum(run_head) - 1
    # Stable passes keep equal keys in window order: a run's head is its first window.
    first_of_run = order[run_head]
    ids = np.empty(n, dtype=np.int64)
    ids[order] = run
    if not confirm(tok, starts, starts[first_of_run[ids]], c):
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


def _windows(tok: np.ndarray, c: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(tok, c)


def confirm(tok: np.ndarray, starts: np.ndarray, rep: np.ndarray, c: int) -> bool:
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
    full = np.flatnonzero(~chained & ~self_rep)
    if not len(full):
        return True
    a, b = starts[full], rep[full]
    for k in range(c):
        if not np.array_equal(tok[a + k], tok[b + k]):
            return False
    return True
