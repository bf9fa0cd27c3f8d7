"""The prompt view: one request's blocks, token by token, drawn through the Line API.

Only visible rows are ever styled: the layout (rows as character ranges) comes from the
core, each row is turned into a Strip from the token offsets and classes, and strips are
kept in an LRU cache that is cleared when the width, the mode or the theme changes.
"""

from __future__ import annotations

import bisect

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...core.display import display_text
from ...core.document import EVICTED, OUTPUT, PREFIX, ROW_HEADER, ROW_MARKER, SUBSTRING, Layout, PromptDocument

GUTTER = 2
MAX_TOKENS_PER_ROW = 4096  # a row is at most `width` characters; this only guards odd input

# Frequency heatmap: how many requests contain a chunk -> one of six steps (component classes
# prompt-view--heat-0 ... heat-5 in tracetui.tcss: the colours follow the terminal's colour system).
HEAT_LIMITS = (1, 2, 4, 8, 16)
HEAT_LABELS = ("1", "2", "3-4", "5-8", "9-16", "17+")

OFF, TOKENS, BLOCKS = 0, 1, 2
"""What `t` draws (PromptView.boundaries): nothing, every other token, every other block of
the engine shown (vLLM blocks, SGLang pages, LMCache / CacheBlend chunks)."""


def heat_level(freq: int) -> int:
    """The heatmap step (0-5) of a chunk found in `freq` requests."""
    return bisect.bisect_left(HEAT_LIMITS, freq)


class PromptView(ScrollView, can_focus=True):
    """Blocks of the selected request with per-token cache colouring."""

    BINDINGS = [
        Binding("up,k", "move(-1)", "Line up", show=False, id="prompt.up"),
        Binding("down,j", "move(1)", "Line down", show=False, id="prompt.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="prompt.page_up"),
        Binding("pagedown,space", "page(1)", "Page down", show=False, id="prompt.page_down"),
        Binding("g,home", "top", "Top of prompt", show=False, id="prompt.top"),
        Binding("G,end", "bottom", "Bottom of prompt", show=False, id="prompt.bottom"),
    ]

    COMPONENT_CLASSES = {
        "prompt-view--prefix", "prompt-view--substring", "prompt-view--miss", "prompt-view--evicted",
        "prompt-view--output", *(f"prompt-view--heat-{i}" for i in range(len(HEAT_LABELS))),
        "prompt-view--alt", "prompt-view--match", "prompt-view--current-match", "prompt-view--source",
        "prompt-view--marker", "prompt-view--cursor", "prompt-view--header",
        "prompt-view--kind-system", "prompt-view--kind-env", "prompt-view--kind-tools",
        "prompt-view--kind-history", "prompt-view--kind-current", "prompt-view--kind-output",
        "prompt-view--kind-prompt",
    }

    DEFAULT_CSS = """
    PromptView { height: 1fr; }
    """

    boundaries = reactive(OFF)
    heatmap = reactive(False)
    cursor_row = reactive(0)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.doc: PromptDocument | None = None
        self.layout_: Layout | None = None
        self.matches: list[tuple[int, int]] = []
        self.match_starts: list[int] = []
        self.current_match: tuple[int, int] | None = None
        self.highlight: tuple[int, int] | None = None
        self.cause = ""
        """Why the prefix broke (shown on the break marker)."""
        self._display = ""
        # A screen is 25-50 rows and a cold one draws in a few ms: a small cache is enough,
        # and fewer Strips means shorter garbage-collection pauses.
        self._cache: LRUCache[tuple, Strip] = LRUCache(512)
        self._styles: dict[str, Style] = {}
        self._pending: tuple[int | None, str | None, bool] | None = None
        """(char, block kind, at the break) of a document set before the view had a size."""

    # ---- content

    def set_document(self, doc: PromptDocument | None, *, char: int | None = None,
                     block_kind: str | None = None, highlight: tuple[int, int] | None = None) -> None:
        """Show `doc`; put the cursor on `char`, or on the first block of `block_kind`."""
        self.doc = doc
        self._display = doc.display if doc else ""
        self.highlight = highlight
        self.matches, self.match_starts, self.current_match = [], [], None
        if doc is not None and not self.scrollable_content_region.width:
            # Not laid out yet (the screen's first frame): a layout now would wrap the text at
            # 8 columns and stay so until the next key. on_resize, with the real width, places it.
            self._pending = (char, block_kind, False)
            self.layout_ = None
            self.virtual_size = Size(0, 0)
            return
        self._pending = None
        self._place(char, block_kind)

    def _place(self, char: int | None, block_kind: str | None) -> None:
        doc = self.doc
        self._relayout()
        row = 0
        if doc is not None and self.layout_ is not None:
            if char is not None:
                row = self.layout_.row_of_char(char)
            elif block_kind is not None:
                for k, b in enumerate(doc.blocks):
                    if b.kind == block_kind:
                        row = self.layout_.header_row(k)
                        break
        self._set_cursor(row, center=char is not None)

    def set_matches(self, matches: list[tuple[int, int]], current: tuple[int, int] | None) -> None:
        self.matches = sorted(matches)
        self.match_starts = [m[0] for m in self.matches]
        self.current_match = current
        self._cache.clear()
        if current is not None and self.layout_ is not None:
            self._set_cursor(self.layout_.row_of_char(current[0]), center=True)
        self.refresh()

    def _text_width(self, rows: int | None = None) -> int:
        """Cells for text. With `rows`: for a layout of that many rows, counting the vertical
        scrollbar it brings when it is not on screen yet (a first layout, made while the
        virtual size is still 0: no Resize follows when the scrollbar then takes a column)."""
        region = self.scrollable_content_region
        width = region.width
        if rows is not None and rows > region.height and not self.show_vertical_scrollbar:
            width -= self.styles.scrollbar_size_vertical
        return max(8, width - GUTTER)

    def _relayout(self) -> None:
        self._cache.clear()
        if self.doc is None:
            self.layout_ = None
            self.virtual_size = Size(0, 0)
        else:
            self.layout_ = self.doc.layout(self._text_width())
            narrower = self._text_width(len(self.layout_))
            if narrower != self.layout_.width:
                self.layout_ = self.doc.layout(narrower)
            self.virtual_size = Size(self.layout_.width + GUTTER, len(self.layout_))
        self.refresh()

    def on_resize(self) -> None:
        if self._pending is not None and self.scrollable_content_region.width:
            char, block_kind, to_break = self._pending
            self._pending = None
            self._place(char, block_kind)
            if to_break:
                self.goto_break()
            if self.matches:
                self.set_matches(self.matches, self.current_match)
            return
        self._refit()

    def _refit(self) -> None:
        """Lay the document out again if the text width changed, keeping the cursor's place."""
        lay = self.layout_
        if self.doc is None or (lay is not None and lay.width == self._text_width(len(lay))):
            return
        # A cursor on a block header stays on that header (its character is the block's first one,
        # which would otherwise move the cursor to the first text row); on the marker, on the marker.
        header = self.current_block() if lay is not None and len(lay) and \
            lay.kind[min(self.cursor_row, len(lay) - 1)] == ROW_HEADER else None
        marker = self.at_break()
        char = self.current_char()
        self._relayout()
        if self.layout_ is not None:
            if marker:
                self.goto_break()
            elif header is not None:
                self._set_cursor(self.layout_.header_row(header))
            else:
                self._set_cursor(self.layout_.row_of_char(char) if char is not None else 0)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()
        self._styles.clear()

    def watch_boundaries(self) -> None:
        self._cache.clear()
        self.refresh()

    def watch_heatmap(self) -> None:
        self._cache.clear()
        self.refresh()

    # ---- cursor and navigation

    def current_char(self) -> int | None:
        lay = self.layout_
        if lay is None or len(lay) == 0:
            return None
        return int(lay.start[min(self.cursor_row, len(lay) - 1)]) if lay.kind[self.cursor_row] != ROW_MARKER \
            else int(lay.end[self.cursor_row])

    def current_block(self) -> int:
        return self.layout_.block_of_row(self.cursor_row) if self.layout_ is not None else 0

    def current_kind(self) -> str | None:
        if self.doc is None or not self.doc.blocks:
            return None
        return self.doc.blocks[self.current_block()].kind

    def _rows(self) -> int:
        return len(self.layout_) if self.layout_ is not None else 0

    def _set_cursor(self, row: int, *, center: bool = False) -> None:
        row = max(0, min(row, self._rows() - 1)) if self._rows() else 0
        self.cursor_row = row
        h = max(1, self.scrollable_content_region.height)
        top = int(self.scroll_offset.y)
        if center:
            self.scroll_to(y=max(0, row - h // 3), animate=False)
        elif row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + h:
            self.scroll_to(y=row - h + 1, animate=False)
        self.refresh()  # cached strips stay valid: their key says whether they hold the cursor

    def position(self) -> tuple[int, int, int]:
        """Where the cursor is: (row, layout width, character), for `restore`."""
        width = self.layout_.width if self.layout_ is not None else 0
        return self.cursor_row, width, self.current_char() or 0

    def restore(self, position: tuple[int, int, int]) -> None:
        """Back to a `position()`: the same row if the layout is the same, else its character."""
        row, width, char = position
        lay = self.layout_
        if lay is None:
            return
        self._set_cursor(row if lay.width == width else lay.row_of_char(char), center=True)

    def at_break(self) -> bool:
        """Whether the cursor is on the prefix-break marker."""
        lay = self.layout_
        return lay is not None and lay.marker_row >= 0 and self.cursor_row == lay.marker_row

    def goto_break(self) -> bool:
        """Put the cursor on the prefix-break marker, a third of the way down (False: none)."""
        if self._pending is not None and self.doc is not None:
            # Not laid out yet: place it there once the view has its size.
            self._pending = (None, None, True)
            return self.doc.break_char is not None
        lay = self.layout_
        if lay is None or lay.marker_row < 0:
            return False
        self._set_cursor(lay.marker_row, center=True)
        return True

    def action_move(self, delta: int) -> None:
        self._set_cursor(self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        step = max(1, self.scrollable_content_region.height - 1)
        self.scroll_to(y=max(0, int(self.scroll_offset.y) + direction * step), animate=False)
        self._set_cursor(self.cursor_row + direction * step)

    def action_top(self) -> None:
        self._set_cursor(0)

    def action_bottom(self) -> None:
        self._set_cursor(self._rows() - 1)

    def goto_block(self, delta: int) -> None:
        if self.doc is None or self.layout_ is None or not self.doc.blocks:
            return
        k = self.current_block()
        header = self.layout_.header_row(k)
        if delta < 0 and self.cursor_row > header:
            target = k  # first go back to the top of the current block
        else:
            target = max(0, min(len(self.doc.blocks) - 1, k + delta))
        self._set_cursor(self.layout_.header_row(target))
        self.scroll_to(y=self.cursor_row, animate=False)

    def next_substring_token(self) -> int | None:
        """First substring-hit input token at or after the cursor row (None if there is none)."""
        doc, lay = self.doc, self.layout_
        if doc is None or lay is None or len(lay) == 0:
            return None
        start = int(lay.start[self.cursor_row]) if lay.kind[self.cursor_row] != ROW_HEADER \
            else int(doc.blocks[int(lay.block[self.cursor_row])].start)
        t = doc.token_at(start)
        cls = doc.token_class[t:doc.n_input_tokens]
        hits = (cls == SUBSTRING).nonzero()[0]
        return int(t + hits[0]) if len(hits) else None

    def on_click(self, event) -> None:
        self._set_cursor(event.y + int(self.scroll_offset.y))

    # ---- drawing

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        row = y + int(self.scroll_offset.y)
        sx = int(self.scroll_offset.x)
        lay = self.layout_
        if lay is None or row >= len(lay):
            return Strip.blank(width, self.rich_style)
        key = (row, width, sx, row == self.cursor_row, self.boundaries, self.heatmap, self.has_focus)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._draw(row).crop(sx, sx + width).extend_cell_length(width, self._style("base"))
            self._cache[key] = strip
        return strip

    def _style(self, name: str) -> Style:
        """Component style by short name, looked up once per theme (Textual resolves each
        lookup through the stylesheet, which would dominate drawing a row)."""
        style = self._styles.get(name)
        if style is None:
            if name == "base":
                style = self.rich_style
            elif name == "alt":  # drawn over a token's class: its own settings only, not the view's background
                style = self.get_component_rich_style("prompt-view--alt", partial=True)
            else:
                style = self.get_component_rich_style(f"prompt-view--{name}")
            self._styles[name] = style
        return style

    def _gutter(self, row: int) -> list[Segment]:
        lay = self.layout_
        assert lay is not None and self.doc is not None
        kind = self.doc.blocks[int(lay.block[row])].kind if self.doc.blocks else "prompt"
        bar = Segment("▌", self._style(f"kind-{kind}"))  # a component class for each kind of block
        if row == self.cursor_row:
            return [bar, Segment("▶", self._style("cursor"))]
        return [bar, Segment(" ", self._style("base"))]

    def _draw(self, row: int) -> Strip:
        lay, doc = self.layout_, self.doc
        assert lay is not None and doc is not None
        kind = int(lay.kind[row])
        segments = self._gutter(row)
        if kind == ROW_HEADER:
            segments.extend(self._header(int(lay.block[row])))
        elif kind == ROW_MARKER:
            col = int(lay.start[row])
            reused = doc.prefix_hit
            why = f" ({display_text(self.cause)})" if self.cause else ""
            arrow = "▼" if lay.marker_above else "▲"  # at the first token after the prefix
            if reused == 0:
                text = f"{arrow} no prefix hit{why}: the first token already missed"
            else:
                text = f"{arrow} prefix hit ends here{why}: {reused:,} of {doc.n_input_tokens:,} input tokens reused"
            if col + len(text) > lay.width:
                text = f"{arrow} prefix ends{why}: {reused:,}/{doc.n_input_tokens:,}"
            col = min(col, max(0, lay.width - len(text)))
            segments.append(Segment(" " * col, self._style("base")))
            segments.append(Segment(text, self._style("marker")))
        else:
            segments.extend(self._text(int(lay.start[row]), int(lay.end[row])))
        return Strip(segments)

    def _header(self, k: int) -> list[Segment]:
        doc = self.doc
        assert doc is not None
        st = doc.block_stats[k]
        b = st.block
        title = b.kind.upper()
        parts = [title]
        if b.role and b.role != b.kind:
            parts.append(b.role)
        if b.label:
            parts.append(b.label)
        parts.append(f"{st.tokens:,} tok")
        if b.kind != "output":
            parts.append(f"prefix {st.prefix_pct:.0f}%")
            if doc.has_substring:
                parts.append(f"substring {st.substring_pct:.0f}%")
        style = self._style("header") + self._style(f"kind-{b.kind}")
        # Roles and labels come from the trace (a JSON role, a tool name): display text only.
        return [Segment(display_text(" " + " · ".join(parts) + " "), style)]

    def _class_style(self, cls: int) -> Style:
        if cls == PREFIX:
            return self._style("prefix")
        if cls == SUBSTRING:
            return self._style("substring")
        if cls == OUTPUT:
            return self._style("output")
        if cls == EVICTED:
            return self._style("evicted")
        return self._style("miss")

    def _text(self, start: int, end: int) -> list[Segment]:
        doc = self.doc
        assert doc is not None
        text = self._display
        first, last = doc.token_range(start, end)
        last = min(last, first + MAX_TOKENS_PER_ROW, doc.n_tokens)
        starts = doc.token_starts
        classes = doc.token_class
        if not self.boundaries and not self.heatmap:
            # Plain colouring: one piece per run of tokens of the same class.
            cls = classes[first:last]
            cuts = (np.flatnonzero(cls[1:] != cls[:-1]) + 1).tolist() if len(cls) > 1 else []
            pieces = []
            for a, b in zip([0] + cuts, cuts + [len(cls)]):
                lo = max(int(starts[first + a]), start)
                hi = min(int(starts[first + b]), end)
                if hi > lo:
                    pieces.append((text[lo:hi], self._class_style(int(cls[a]))))
            return self._overlay(pieces, start)
        freq = doc.freq if self.heatmap else None
        alt = self._style("alt")
        # Every other token, or every other block of the engine's grid, in the alternate style.
        grid = doc.block_grid[1] if self.boundaries == BLOCKS and doc.block_grid is not None else None
        pieces = []
        for t in range(first, last):
            a = max(int(starts[t]), start)
            b = min(int(starts[t + 1]), end)
            if b <= a:
                continue
            cls = int(classes[t])
            if freq is not None and cls != OUTPUT:
                style = self._style(f"heat-{heat_level(int(freq[t]))}")
            else:
                style = self._class_style(cls)
            if grid is not None:
                if t < len(grid) and grid[t] >= 0 and grid[t] % 2 == 1:
                    style = style + alt
            elif self.boundaries and t % 2:
                style = style + alt
            pieces.append((text[a:b], style))
        return self._overlay(pieces, start)

    def _overlay(self, pieces: list[tuple[str, Style]], start: int) -> list[Segment]:
        """Merge equal styles, and paint search matches and the jump highlight on top."""
        marks: list[tuple[int, int, Style]] = []
        end = start + sum(len(p[0]) for p in pieces)
        if self.highlight and self.highlight[0] < end and self.highlight[1] > start:
            marks.append((self.highlight[0], self.highlight[1], self._style("source")))
        if self.matches:
            i = max(0, bisect.bisect_right(self.match_starts, start) - 1)
            while i < len(self.matches) and self.matches[i][0] < end:
                m = self.matches[i]
                if m[1] > start:
                    name = "current-match" if self.current_match == m else "match"
                    marks.append((m[0], m[1], self._style(name)))
                i += 1
        segments: list[Segment] = []
        pos = start
        for text, style in pieces:
            if not marks:
                segments.append(Segment(text, style))
            else:
                segments.extend(_split_marks(text, pos, style, marks))
            pos += len(text)
        return list(Segment.simplify(segments))


def _split_marks(text: str, pos: int, style: Style, marks: list[tuple[int, int, Style]]) -> list[Segment]:
    """Cut one piece of text where marks begin and end, adding the mark style inside them."""
    cuts = {0, len(text)}
    for a, b, _ in marks:
        for c in (a - pos, b - pos):
            if 0 < c < len(text):
                cuts.add(c)
    edges = sorted(cuts)
    out = []
    for a, b in zip(edges, edges[1:]):
        s = style
        for ma, mb, ms in marks:
            if ma <= pos + a < mb:
                s = s + ms
        out.append(Segment(text[a:b], s))
    return out
