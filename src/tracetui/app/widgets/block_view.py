"""The prompt view of a hashed trace: a request as rows of block cells (core.blockdoc).

A PromptView whose rows are runs of blocks instead of wrapped text: the cursor, pages, block
headers and the break marker work as for text; only drawing differs. Every row is drawn from
the layout's arrays when it is on screen (the Line API), never the whole request at once.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from ...core.blockdoc import EVICTED, LABEL, PARTIAL, HashedDocument
from ...core.display import display_text
from ...core.document import ROW_HEADER, ROW_MARKER, SUBSTRING
from .prompt_view import PromptView

__all__ = ["BlockView", "PARTIAL"]


class BlockView(PromptView):
    """Blocks of the selected request of a hashed trace, one cell per block id."""

    doc: HashedDocument | None

    def next_substring_token(self) -> int | None:
        return None  # no text: the source jump does not apply

    def _class_style(self, cls: int) -> Style:
        if cls == EVICTED:
            return self._style("evicted")
        return super()._class_style(cls)

    def _draw(self, row: int) -> Strip:
        lay, doc = self.layout_, self.doc
        assert lay is not None and doc is not None
        kind = int(lay.kind[row])
        segments = self._gutter(row)
        base = self._style("base")
        if kind == ROW_HEADER:
            segments.extend(self._block_header(int(lay.block[row])))
        elif kind == ROW_MARKER:
            text = self._marker_text()
            if len(text) > lay.width:
                text = f"▲ {doc.prefix_blocks:,}/{doc.n_blocks:,} blocks reused"
            col = min(int(lay.start[row]), max(0, lay.width - len(text)))  # under the cell if it fits
            segments.append(Segment(" " * col, base))
            segments.append(Segment(text, self._style("marker")))
        elif int(lay.block[row]) == 1:  # the output: no ids, one note
            segments.append(Segment(" " * LABEL, base))
            segments.append(Segment(doc.output_note, self._style("output")))
        else:
            segments.extend(self._cells(int(lay.start[row]), int(lay.end[row])))
        return Strip(segments)

    def _marker_text(self) -> str:
        doc = self.doc
        assert doc is not None
        why = f" ({display_text(self.cause)})" if self.cause else ""
        k = doc.prefix_blocks
        if k >= doc.full_blocks:
            return f"▲ every full block reused{why}: block {k:,} is partial and can never be hit"
        if k == 0:
            return f"▲ no prefix hit{why}: the first block already missed"
        return f"▲ first missed block {k:,}{why}: {k:,} of {doc.n_blocks:,} blocks reused"

    def _block_header(self, k: int) -> list[Segment]:
        doc = self.doc
        assert doc is not None
        style = self._style("header")
        if k == 1:
            parts = ["OUTPUT", f"{doc.output_length:,} tok", "no ids: takes room in the pool, can never be hit"]
            return [Segment(" " + " · ".join(parts) + " ", style + self._style("kind-output"))]
        counts = doc.counts()
        n_in = doc.n_input_tokens
        parts = ["PROMPT", f"{doc.n_blocks:,} blocks of {doc.block_size} tok", f"{n_in:,} tok",
                 f"prefix {100 * doc.prefix_hit / n_in if n_in else 0:.0f}%"]
        if counts.get(SUBSTRING):
            parts.append(f"substring {counts[SUBSTRING]:,} blocks")
        if counts.get(EVICTED):
            parts.append(f"evicted in {doc.pool_label} GB: {counts[EVICTED]:,}")
        if doc.tail_tokens:
            parts.append(f"{PARTIAL} last block {doc.tail_tokens} tok, never hit")
        return [Segment(display_text(" " + " · ".join(parts) + " "), style + self._style("kind-prompt"))]

    def _cells(self, start: int, end: int) -> list[Segment]:
        doc, lay = self.doc, self.layout_
        assert doc is not None and lay is not None
        base = self._style("base")
        w = lay.cell - 1
        out = [Segment(f"{start:>{LABEL - 2},} │", base)]
        for k in range(start, end):
            cls = int(doc.block_class[k])
            text = doc.cell_text(k)
            out.append(Segment(display_text(text.rjust(w)), self._class_style(cls)))
            out.append(Segment(" ", base))
        return list(Segment.simplify(out))
