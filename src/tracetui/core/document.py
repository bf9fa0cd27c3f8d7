"""What the prompt view draws for one request, computed headless.

A `PromptDocument` is the input and the output of a request as one text, its blocks, and
per-token data (character offsets, cache class, chunk frequency). `layout(width)` turns it
into display rows (block headers, wrapped text, the prefix-break marker) as numpy arrays, so
the view can draw any row in O(width) without ever building the whole prompt as styled text.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from .blocks import block_at, split_blocks, split_output
from .display import display_text
from .model import Block

MISS, PREFIX, SUBSTRING, OUTPUT, EVICTED = 0, 1, 2, 3, 4
"""Token classes. EVICTED: reused by the engine's unlimited pool, not by the pool shown (it was
cached, and evicted before this request)."""

ROW_TEXT, ROW_HEADER, ROW_MARKER = 0, 1, 2
"""Row kinds of a layout."""

# Wide (two-cell) characters: East Asian Wide and Fullwidth, plus the symbols Unicode 16 made
# wide (Rich, which draws the view, follows it; this Python's unicodedata may be older).
_FIRST_WIDE = 0x1100  # below it, unicodedata reports no assigned wide character
_LATER_WIDE = ((0x2630, 0x2637), (0x268A, 0x268F), (0x4DC0, 0x4DFF), (0x1D300, 0x1D356), (0x1D360, 0x1D376))


@lru_cache(maxsize=65536)
def _is_wide(code: int) -> bool:
    if any(a <= code <= b for a, b in _LATER_WIDE):
        return True
    return unicodedata.east_asian_width(chr(code)) in ("W", "F")


def cell_widths(codes: np.ndarray) -> np.ndarray | None:
    """Terminal cells of each character (code points as an array): 2 for wide ones, else 1.
    None when every character takes one cell (all ASCII and most other text). Zero-width
    characters count as one cell: a row may end up narrower than it could, never wider."""
    high = codes[codes >= _FIRST_WIDE]
    if len(high) == 0:
        return None
    uniq = np.unique(high)
    wide = uniq[np.fromiter((_is_wide(int(c)) for c in uniq.tolist()), dtype=bool, count=len(uniq))]
    if len(wide) == 0:
        return None
    cells = np.ones(len(codes), dtype=np.int64)
    cells[np.isin(codes, wide)] = 2
    return cells


def char_offsets(text: str, tokens: np.ndarray, byte_lengths: np.ndarray) -> np.ndarray:
    """Character offset where each token starts, plus len(text) as a sentinel.

    Tokens are byte-level: a token may start inside a multi-byte character, in which case it
    is placed at that character. When the tokens do not spell the text's bytes exactly
    (a normalising tokenizer), offsets are clipped to the text.
    """
    n = len(tokens)
    out = np.empty(n + 1, dtype=np.int64)
    if n == 0:
        out[0] = len(text)
        return out
    lengths = byte_lengths[np.minimum(tokens, len(byte_lengths) - 1)].astype(np.int64)
    byte_start = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=byte_start[1:])
    raw = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    char_of_byte = np.cumsum((raw & 0xC0) != 0x80) - 1
    char_of_byte = np.append(char_of_byte, len(text))
    out[:n] = char_of_byte[np.minimum(byte_start, len(raw))]
    out[n] = len(text)
    return out


@dataclass(frozen=True)
class BlockStats:
    block: Block
    start: int
    """Absolute character offsets in the document text."""
    end: int
    tokens: int
    prefix: int
    substring: int
    """Tokens a substring cache reuses (in whole chunks seen before), the prefix included:
    the same meaning as the substring hit of the request list and the totals."""

    @property
    def prefix_pct(self) -> float:
        return 100 * self.prefix / self.tokens if self.tokens else 0.0

    @property
    def substring_pct(self) -> float:
        return 100 * self.substring / self.tokens if self.tokens else 0.0


class PromptDocument:
    """One request, ready to draw: text, blocks, token offsets and classes."""

    def __init__(self, index: int, input_text: str, output_text: str, input_tokens: np.ndarray,
                 output_tokens: np.ndarray, classes: np.ndarray, byte_lengths: np.ndarray,
                 prefix_hit: int, input_doc=None, chunk_size: int = 16,
                 chunk_freq: np.ndarray | None = None, chunk_matched: np.ndarray | None = None) -> None:
        self.index = index
        self.text = input_text + output_text
        self.input_chars = len(input_text)
        self.n_input_tokens = len(input_tokens)
        starts_in = char_offsets(input_text, input_tokens, byte_lengths)
        starts_out = char_offsets(output_text, output_tokens, byte_lengths) + len(input_text)
        self.token_starts = np.concatenate([starts_in[:-1], starts_out])
        self.token_class = np.concatenate([classes.astype(np.uint8),
                                           np.full(len(output_tokens), OUTPUT, dtype=np.uint8)])
        self.prefix_hit = int(prefix_hit)
        self.chunk_size = chunk_size
        self._chunk_freq = chunk_freq
        # Per token: in a whole chunk the substring cache reuses (prefix tokens included).
        self.substring_reused = np.zeros(len(self.token_class), dtype=bool)
        if chunk_matched is not None and len(chunk_matched):
            self.substring_reused[: len(chunk_matched) * chunk_size] = np.repeat(chunk_matched, chunk_size)
        blocks = list(split_blocks(input_text, input_doc))
        for b in split_output(output_text):
            blocks.append(Block(b.kind, b.role, b.start + len(input_text), b.end + len(input_text),
                                b.label, "output"))
        self.blocks: tuple[Block, ...] = tuple(blocks)
        # Set by the explorer for the engine shown (core.explorer_engines).
        self.has_substring = True
        """The engine reuses beyond the prefix (block headers show a substring %)."""
        self.block_grid: tuple[int, np.ndarray] | None = None
        """The engine's blocks (size, block ordinal per token) that `t` draws, or None."""
        self.version = 0

    @cached_property
    def display(self) -> str:
        """The text as drawn: one visible cell per character (see core.display)."""
        return display_text(self.text)

    # ---- tokens

    @property
    def n_tokens(self) -> int:
        return len(self.token_class)

    def token_at(self, char: int) -> int:
        """Index of the token covering `char`."""
        return max(0, int(np.searchsorted(self.token_starts, char, side="right")) - 1)

    def token_range(self, start: int, end: int) -> tuple[int, int]:
        """Tokens overlapping characters [start, end)."""
        a = self.token_at(start)
        b = int(np.searchsorted(self.token_starts, end, side="left"))
        return a, max(a, min(b, self.n_tokens))

    @property
    def break_char(self) -> int | None:
        """Character where the prefix hit ends (None when the whole input was a hit)."""
        if self.prefix_hit >= self.n_input_tokens:
            return None
        return int(self.token_starts[self.prefix_hit])

    @cached_property
    def freq(self) -> np.ndarray:
        """Per input token: in how many requests its chunk occurs (0 outside whole chunks)."""
        n = self.n_tokens
        out = np.zeros(n, dtype=np.int64)
        if self._chunk_freq is not None and len(self._chunk_freq):
            k = len(self._chunk_freq)
            out[: k * self.chunk_size] = np.repeat(self._chunk_freq, self.chunk_size)
        return out

    # ---- blocks

    @cached_property
    def block_stats(self) -> tuple[BlockStats, ...]:
        stats = []
        for b in self.blocks:
            # A token belongs to the block where it starts.
            a = int(np.searchsorted(self.token_starts[:-1], b.start, side="left"))
            z = int(np.searchsorted(self.token_starts[:-1], b.end, side="left"))
            cls = self.token_class[a:z]
            stats.append(BlockStats(b, b.start, b.end, z - a, int((cls == PREFIX).sum()),
                                    int(self.substring_reused[a:z].sum())))
        return tuple(stats)

    def block_at(self, char: int) -> int:
        return max(0, block_at(self.blocks, char))

    # ---- layout

    def layout(self, width: int) -> Layout:
        return Layout(self, max(8, width))


class Layout:
    """Display rows of a document at a given width, as parallel numpy arrays.

    kind[r]: ROW_TEXT (characters start[r]:end[r]), ROW_HEADER (block[r]'s header) or
    ROW_MARKER (the prefix break, at column start[r] of the row above; of the row below when
    `marker_above`: a break at the start of a row, such as "no prefix hit", is marked above its
    row, so that the marker never comes between two rows of one wrapped line and splits a word).

    A text row takes at most `width` terminal cells: rows are cut by character count, except
    in blocks holding wide (two-cell) characters, which are cut by cells.
    """

    def __init__(self, doc: PromptDocument, width: int) -> None:
        self.doc = doc
        self.width = width
        text = doc.text
        kinds, starts, ends, blocks = [], [], [], []
        # cum[k]: cells taken by text[:k]; None when every character takes one cell.
        self._cum: np.ndarray | None = None
        if text:
            codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            newlines = np.flatnonzero(codes == 10)
            cells = None if text.isascii() else cell_widths(codes)
            if cells is not None:
                self._cum = np.zeros(len(text) + 1, dtype=np.int64)
                np.cumsum(cells, out=self._cum[1:])
        else:
            newlines = np.zeros(0, dtype=np.int64)
        cum = self._cum
        for k, b in enumerate(doc.blocks):
            kinds.append(np.array([ROW_HEADER]))
            starts.append(np.array([b.start]))
            ends.append(np.array([b.start]))
            blocks.append(np.array([k]))
            # Logical lines of the block: split after each newline (the newline stays on
            # its line, drawn as ↵, so that every character has a cell).
            nl = newlines[(newlines >= b.start) & (newlines < b.end)]
            line_start = np.concatenate([[b.start], nl + 1])
            line_end = np.concatenate([nl + 1, [b.end]])
            keep = line_end > line_start
            line_start, line_end = line_start[keep], line_end[keep]
            if len(line_start) == 0:
                continue
            if cum is not None and cum[b.end] - cum[b.start] > b.end - b.start:
                rs, re_ = self._wrap_by_cells(line_start, line_end, cum, width)
                kinds.append(np.zeros(len(rs), dtype=np.int64))
                starts.append(rs)
                ends.append(re_)
                blocks.append(np.full(len(rs), k))
                continue
            lengths = line_end - line_start
            rows_per_line = np.maximum(1, -(-lengths // width))
            total = int(rows_per_line.sum())
            first_row = np.repeat(np.cumsum(rows_per_line) - rows_per_line, rows_per_line)
            sub = np.arange(total) - first_row
            ls = np.repeat(line_start, rows_per_line)
            le = np.repeat(line_end, rows_per_line)
            rs = ls + sub * width
            kinds.append(np.zeros(total, dtype=np.int64))
            starts.append(rs)
            ends.append(np.minimum(rs + width, le))
            blocks.append(np.full(total, k))
        if kinds:
            self.kind = np.concatenate(kinds).astype(np.int8)
            self.start = np.concatenate(starts).astype(np.int64)
            self.end = np.concatenate(ends).astype(np.int64)
            self.block = np.concatenate(blocks).astype(np.int32)
        else:
            self.kind = np.zeros(0, np.int8)
            self.start = self.end = np.zeros(0, np.int64)
            self.block = np.zeros(0, np.int32)
        self._insert_break_marker()

    @staticmethod
    def _wrap_by_cells(line_start: np.ndarray, line_end: np.ndarray, cum: np.ndarray,
                       width: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the lines [line_start, line_end), each as many characters as fit in `width`
        cells (at least one, so no character is ever dropped)."""
        rs: list[int] = []
        re_: list[int] = []
        for s0, e0 in zip(line_start.tolist(), line_end.tolist()):
            if cum[e0] - cum[s0] == e0 - s0:  # no wide character on this line
                cuts = list(range(s0, e0, width))
                rs.extend(cuts)
                re_.extend(cuts[1:])
                re_.append(e0)
                continue
            r = s0
            while r < e0:
                # The furthest end whose cells from r fit in the width.
                e = int(np.searchsorted(cum, cum[r] + width, side="right")) - 1
                e = min(max(e, r + 1), e0)
                rs.append(r)
                re_.append(e)
                r = e
        return np.asarray(rs, dtype=np.int64), np.asarray(re_, dtype=np.int64)

    def cells(self, start: int, end: int) -> int:
        """Terminal cells taken by characters [start, end) of the text."""
        if self._cum is None:
            return end - start
        return int(self._cum[end] - self._cum[start])

    def _insert_break_marker(self) -> None:
        c = self.doc.break_char
        self.marker_row = -1
        self.marker_above = False
        if c is None or self.doc.n_input_tokens == 0:
            return
        text_rows = np.flatnonzero((self.kind == ROW_TEXT) & (self.start <= c) & (self.end > c))
        if len(text_rows) == 0:
            return
        row = int(text_rows[0])
        self.marker_above = int(self.start[row]) == c
        r = row if self.marker_above else row + 1
        self.kind = np.insert(self.kind, r, ROW_MARKER)
        self.start = np.insert(self.start, r, self.cells(int(self.start[row]), c))  # a column
        self.end = np.insert(self.end, r, c)
        self.block = np.insert(self.block, r, self.block[row])
        self.marker_row = r

    def __len__(self) -> int:
        return len(self.kind)

    def row_of_char(self, char: int) -> int:
        """The text row showing `char` (or the nearest one before it)."""
        text = self.kind == ROW_TEXT
        rows = np.flatnonzero(text & (self.start <= char))
        return int(rows[-1]) if len(rows) else 0

    def header_row(self, block: int) -> int:
        rows = np.flatnonzero((self.kind == ROW_HEADER) & (self.block == block))
        return int(rows[0]) if len(rows) else 0

    def block_of_row(self, row: int) -> int:
        if len(self.block) == 0:
            return 0
        return int(self.block[min(max(row, 0), len(self.block) - 1)])
