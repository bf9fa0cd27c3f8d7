"""What the prompt view draws for one request of a hashed trace: rows of block cells.

A hashed request has no text, only block hash ids. It is drawn as one cell per block (its id,
coloured by class), the partial last block marked, then a note for the output (it has no
ids). The layout reuses the text layout's shape (core.document.Layout: rows as ranges of
"characters"), with block indices in place of character offsets, so the prompt view's
navigation (cursor, pages, the break marker, block headers) works unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .display import display_text
from .document import EVICTED, ROW_HEADER, ROW_MARKER, ROW_TEXT, Layout
from .model import Block, HashedInput

__all__ = ["EVICTED", "PARTIAL", "HashedDocument", "BlockLayout", "block_diff", "cell_id", "diff_lines"]
LABEL = 8
"""Cells of the row label (the index of the row's first block)."""
MAX_ID = 12
"""Cells an id may take in its cell (longer ids are cut, with an ellipsis)."""
PARTIAL = "◔"
"""Marks the partial last block (fewer than B tokens: never hit)."""


def cell_id(block_id: int) -> str:
    s = str(block_id)
    return s if len(s) <= MAX_ID else s[: MAX_ID - 1] + "…"


class HashedDocument:
    """One request of a hashed trace, ready to draw: its block ids and a class for each."""

    def __init__(self, index: int, hashed: HashedInput, block_size: int, classes: np.ndarray,
                 prefix_hit: int, pool_label: str = "∞") -> None:
        """`classes[k]`: block k's class under the engine and pool shown (PREFIX, SUBSTRING: seen
        elsewhere, MISS, EVICTED; core.explorer_engines.block_classes); `prefix_hit`: that
        pool's prefix hit in tokens (where the break marker goes); `pool_label`: its GB figure."""
        self.index = index
        self.hashed = hashed
        self.block_size = block_size
        self.ids = hashed.block_ids
        n = len(self.ids)
        self.n_blocks = n
        self.full_blocks = min(hashed.full_blocks, n)
        self.prefix_hit = int(prefix_hit)
        self.prefix_blocks = min(self.prefix_hit // block_size, n)
        self.pool_label = pool_label
        self.block_class = np.asarray(classes, dtype=np.uint8)
        self.version = 0
        self.n_input_tokens = hashed.input_length
        self.output_length = hashed.output_length
        self.tail_tokens = hashed.input_length - self.full_blocks * block_size if n > self.full_blocks else 0
        # Two "blocks" as the view knows them: the prompt's cells, then the output's note.
        self.blocks = (Block("prompt", "", 0, n, f"{n:,} blocks of {block_size}"),
                       Block("output", "", n, n + 1, "no ids", "output"))
        self.display = ""
        # Cells of a cell's text: the widest "id·tokens" (the partial last block's is marked).
        self.width_of_id = max((len(self.cell_text(k)) for k in range(n)), default=1)

    def cell_text(self, k: int) -> str:
        """Block k's cell: its id and its tokens ("40·16"; the partial last block "◔61·15")."""
        if k < self.full_blocks:
            return f"{cell_id(self.ids[k])}·{self.block_size}"
        return f"{PARTIAL}{cell_id(self.ids[k])}·{self.tail_tokens}"

    @property
    def break_char(self) -> int | None:
        """The first missed block (None when every block was reused)."""
        return self.prefix_blocks if self.prefix_blocks < self.n_blocks else None

    def layout(self, width: int) -> BlockLayout:
        return BlockLayout(self, max(LABEL + self.width_of_id + 1, width))

    @property
    def output_note(self) -> str:
        return f"output: {self.output_length:,} tokens, no ids: held in the pool, never hit"

    def counts(self) -> dict[int, int]:
        """Blocks of each class."""
        return {int(c): int(n) for c, n in zip(*np.unique(self.block_class, return_counts=True))}


class BlockLayout(Layout):
    """Rows of a hashed document at a width: kind / start / end / block as for text, where
    start:end are block indices (a ROW_TEXT row is a run of cells; the output's row is its
    note) and a ROW_MARKER row's start is the column of the first missed block's cell."""

    def __init__(self, doc: HashedDocument, width: int) -> None:  # noqa: D107 - no text to wrap
        self.doc = doc
        self.width = width
        self._cum = None
        self.cell = doc.width_of_id + 1
        self.per_row = max(1, (width - LABEL) // self.cell)
        n = doc.n_blocks
        starts = np.arange(0, n, self.per_row, dtype=np.int64)
        rows = len(starts)
        kind = [ROW_HEADER] + [ROW_TEXT] * rows + [ROW_HEADER, ROW_TEXT]
        start = [0] + starts.tolist() + [n, n]
        end = [0] + np.minimum(starts + self.per_row, n).tolist() + [n, n + 1]
        block = [0] * (rows + 1) + [1, 1]
        self.kind = np.asarray(kind, dtype=np.int8)
        self.start = np.asarray(start, dtype=np.int64)
        self.end = np.asarray(end, dtype=np.int64)
        self.block = np.asarray(block, dtype=np.int32)
        self.marker_row = -1
        self.marker_above = False  # the marker row is under the row of the first missed block
        c = doc.break_char
        if c is not None:
            r = 1 + c // self.per_row + 1
            self.kind = np.insert(self.kind, r, ROW_MARKER)
            self.start = np.insert(self.start, r, LABEL + (c % self.per_row) * self.cell)
            self.end = np.insert(self.end, r, c)
            self.block = np.insert(self.block, r, 0)
            self.marker_row = r


# --------------------------------------------------------------------------- the diff screen

@dataclass(frozen=True)
class BlockDiff:
    """Block ids of a request and of its prefix source around the break."""

    first: int
    """Index of the first block shown."""
    request: tuple[int, ...]
    source: tuple[int, ...]
    at: int
    """The break block (the request's first missed one)."""


def block_diff(loaded, request: int, source: int, context: int = 8) -> BlockDiff:
    """`context` blocks before the break and up to 2 x context from it, in both requests."""
    a = loaded.analysis
    b = loaded.trace.block_size
    r = loaded.trace.requests[request].hashed
    s = loaded.trace.requests[source].hashed
    at = int(a.unlimited.prefix_hits[request]) // b
    lo = max(0, at - context)
    hi = at + 2 * context
    return BlockDiff(lo, r.block_ids[lo:hi], s.block_ids[lo:hi], at)


def diff_lines(d: BlockDiff, ids: tuple[int, ...], other: tuple[int, ...]) -> list[tuple[str, bool, bool]]:
    """One (text, differs from the other side, is the break) line per block."""
    out = []
    for k, v in enumerate(ids):
        pos = d.first + k
        differs = k >= len(other) or other[k] != v
        out.append((display_text(f"{pos:>7}  {cell_id(v)}"), differs, pos == d.at))
    return out
