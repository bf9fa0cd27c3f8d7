"""The request list: one row per request, drawn line by line so 100,000 rows stay instant."""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from ...core.explorer import ExplorerData, PendingData, RequestRow

BAR = 12
COLUMNS = (("#", 6), ("time", 9), ("session", 10), ("model", 12), ("input", 8), ("prefix", 7),
           ("substr", 7), ("cause", 10))
LEFT = ("session", "model", "cause")
DROP_ORDER = ("model", "session", "time")
"""Columns given up, in this order, when the terminal is too narrow for all of them."""


GROW = (("session", 40), ("model", 32))
"""Columns that take spare width on wide terminals, in this order, up to their longest value
(and these caps); then the bar grows, up to BAR_MAX."""
BAR_MAX = 48
_LOOKUP = object()


def fit_columns(width: int, longest: dict[str, int] | None = None) -> tuple[tuple[tuple[str, int], ...], int]:
    """The columns (and bar width) that fit in `width` cells: at 80 columns everything that
    matters (index, tokens, hit rates, cause, bar) stays; model, session, time go first. On a
    wide terminal, session and model grow to their `longest` value, then the bar grows."""
    cols = list(COLUMNS)
    bar = BAR
    for name in DROP_ORDER:
        if sum(w + 1 for _, w in cols) + bar <= width:
            break
        cols = [c for c in cols if c[0] != name]
    spare = width - sum(w + 1 for _, w in cols) - bar - 1  # one cell for the scrollbar
    widths = dict(cols)
    for name, cap in GROW:
        if name in widths and spare > 0:
            extra = max(0, min(spare, min(cap, (longest or {}).get(name, 0)) - widths[name]))
            widths[name] += extra
            spare -= extra
    bar += max(0, min(spare, BAR_MAX - bar))
    return tuple((name, widths[name]) for name, _ in cols), bar


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(round(seconds))
    if s < 60:
        return f"+{seconds:.1f}s" if seconds < 10 else f"+{s}s"
    if s < 3600:
        return f"+{s // 60}m{s % 60:02d}s"
    return f"+{s // 3600}h{(s % 3600) // 60:02d}m"


def short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class RequestList(ScrollView, can_focus=True):
    """Requests of the trace; posts `RequestList.Selected` when the selection moves."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Previous request", show=False, id="request.previous"),
        Binding("down,j", "cursor(1)", "Next request", show=False, id="request.next"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="request.page_up"),
        Binding("pagedown,space", "page(1)", "Page down", show=False, id="request.page_down"),
        Binding("g,home", "jump(0)", "First request", show=False, id="request.first"),
        Binding("G,end", "jump(-1)", "Last request", show=False, id="request.last"),
    ]

    COMPONENT_CLASSES = {
        "request-list--header",
        "request-list--cursor",
        "request-list--prefix",
        "request-list--substring",
        "request-list--rest",
        "request-list--dim",
    }

    DEFAULT_CSS = """
    RequestList { height: 1fr; }
    """

    class Selected(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    cursor = reactive(0, always_update=False)

    def __init__(self, data: ExplorerData | PendingData, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data = data
        self.shown: Sequence[int] = range(len(data))
        """Indices of the requests shown: all (a range: `in` and `index` in O(1), for a million
        rows), or one session's (a list)."""
        self._cache: LRUCache[tuple, Strip] = LRUCache(1024)
        self._longest = data.rows.longest
        self.virtual_size = Size(self._row_width(), len(self.shown) + 1)

    def on_mount(self) -> None:
        # At once, not after the first frame: a test waiting for the workers finds this one.
        self._want_causes()

    # ---- causes: diagnosed for the rows on screen, in a worker; "…" until then

    def _want_causes(self) -> None:
        if isinstance(self.data, PendingData):
            return  # nothing to diagnose before the analysis
        top = int(self.scroll_offset.y)
        height = self.size.height or self.app.size.height
        wanted = [self.shown[r] for r in range(top, min(len(self.shown), top + height))
                  if self.data.cause(self.shown[r]) is None]
        if wanted:
            self._fill_causes(wanted)

    @work(thread=True, exclusive=True, group="causes", exit_on_error=False)
    def _fill_causes(self, wanted: list[int]) -> None:
        worker = get_current_worker()
        for k in range(0, len(wanted), 8):
            if worker.is_cancelled:
                return
            self.data.causes(wanted[k: k + 8])
            self.app.call_from_thread(self._causes_ready)

    def _causes_ready(self) -> None:
        self.refresh()  # rows whose cause is new are drawn again: their cache key holds the cause

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._want_causes()

    def _row_width(self) -> int:
        cols, bar = self.columns
        return sum(w + 1 for _, w in cols) + bar

    @property
    def columns(self) -> tuple[tuple[tuple[str, int], ...], int]:
        return fit_columns(self.size.width or 200, self._longest)

    # ---- selection

    @property
    def selected(self) -> int:
        return self.shown[self.cursor] if self.shown else 0

    def select(self, index: int) -> None:
        """Move the cursor to request `index` (if shown)."""
        try:
            self.cursor = self.shown.index(index)
        except ValueError:
            return

    def set_visible(self, indices: list[int]) -> None:
        current = self.selected
        self.shown = indices or range(len(self.data))
        self._cache.clear()
        self.virtual_size = Size(self._row_width(), len(self.shown) + 1)
        if current in self.shown:
            self.cursor = self.shown.index(current)
        else:
            self.cursor = 0
            self.post_message(self.Selected(self.selected))
        self.refresh()
        self._want_causes()

    def watch_cursor(self, old: int, new: int) -> None:
        # No cache clear: a strip's key says whether it holds the cursor.
        self._scroll_to_cursor()
        self.refresh()
        if self.shown:
            self.post_message(self.Selected(self.selected))

    def _scroll_to_cursor(self) -> None:
        h = max(1, self.scrollable_content_region.height - 1)
        y = self.cursor
        top = int(self.scroll_offset.y)
        if y < top:
            self.scroll_to(y=y, animate=False)
        elif y >= top + h:
            self.scroll_to(y=y - h + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        if self.shown:
            self.cursor = max(0, min(len(self.shown) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height - 2))

    def action_jump(self, where: int) -> None:
        if self.shown:
            self.cursor = 0 if where == 0 else len(self.shown) - 1

    def on_click(self, event) -> None:
        row = event.y + int(self.scroll_offset.y) - 1
        if 0 <= row < len(self.shown):
            self.cursor = row

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def refresh_rows(self) -> None:
        """Draw every row again (the engine or the pool shown changed)."""
        self._cache.clear()
        self.refresh()

    def on_resize(self) -> None:
        self._cache.clear()
        self.virtual_size = Size(self._row_width(), len(self.shown) + 1)
        self._want_causes()

    # ---- drawing

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        sx = int(self.scroll_offset.x)
        if y == 0:
            key = ("header", width, sx)
            strip = self._cache.get(key)
            if strip is None:
                style = self.get_component_rich_style("request-list--header")
                cols, bar = self.columns
                pending = isinstance(self.data, PendingData)  # characters until tokens are counted
                eng = getattr(self.data, "engines", None)  # the engine shown, once there is more than one
                title = "cache reuse" if eng is None or eng.is_default else f"{eng.active} {eng.pool_size.label}"
                labels = [("chars" if pending and name == "input" else name, name, w) for name, w in cols]
                text = " ".join(label.ljust(w) if name in LEFT else label.rjust(w)
                                for label, name, w in labels) + " " + title[:bar].ljust(bar)
                strip = Strip([Segment(text, style)]).crop(sx, sx + width).extend_cell_length(width, style)
                self._cache[key] = strip
            return strip
        row = y - 1 + int(self.scroll_offset.y)
        if row >= len(self.shown):
            return Strip.blank(width, self.rich_style)
        index = self.shown[row]
        cause = self.data.cause(index)
        key = (index, row == self.cursor, width, sx, self.has_focus, cause)  # width fixes the columns
        strip = self._cache.get(key)
        if strip is None:
            strip = self._draw_row(self.data.rows[index], row == self.cursor, cause).crop(sx, sx + width)
            strip = strip.extend_cell_length(width, self._base(row == self.cursor))
            self._cache[key] = strip
        return strip

    def _base(self, cursor: bool) -> Style:
        return self.get_component_rich_style("request-list--cursor") if cursor else self.rich_style

    def _draw_row(self, r: RequestRow, cursor: bool, cause: str | None | object = _LOOKUP) -> Strip:
        """`cause`: the request's, None while not yet diagnosed ("…"); by default as known now."""
        if cause is _LOOKUP:
            cause = self.data.cause(r.index)
        base = self._base(cursor)
        dim = base + self.get_component_rich_style("request-list--dim", partial=True)
        if r.pending:  # read, not yet tokenized: its size in characters, no figures yet
            values = {"#": (str(r.index), base), "time": (format_time(r.relative_time), dim),
                      "session": (r.session, dim), "model": (r.model, dim), "input": (f"{r.input_chars:,}", dim),
                      "prefix": ("…", dim), "substr": ("…", dim), "cause": ("", dim)}
            return self._cells(values, base, [Segment(" " * self.columns[1], self.rich_style)])
        f = self.data.engines.figures(r.index)  # the engine and pool shown (core.explorer_engines)
        n = r.input_tokens or 1
        values = {
            "#": (str(r.index), base),
            "time": (format_time(r.relative_time), dim),
            "session": (r.session, dim),
            "model": (r.model, dim),
            "input": (f"{r.input_tokens:,}", base),
            "prefix": (f"{100 * f.prefix / n:5.1f}%", base),
            "substr": ("–" if f.substring is None else f"{100 * f.substring / n:5.1f}%", base),
            "cause": ("…" if cause is None else self.data.engines.cause(r.index, cause), dim),
        }
        return self._cells(values, base, self._bar(r, f, self.columns[1]))

    def _cells(self, values: dict[str, tuple[str, Style]], base: Style, bar_segments: list[Segment]) -> Strip:
        cols, bar = self.columns
        segments: list[Segment] = []
        for name, w in cols:
            text, style = values[name]
            text = short(text, w)
            segments.append(Segment(text.ljust(w) if name in LEFT else text.rjust(w), style))
            segments.append(Segment(" ", base))
        segments.extend(bar_segments)
        return Strip(segments)

    def _bar(self, r: RequestRow, f, bar: int) -> list[Segment]:
        """A small stacked bar: prefix hit, then what a substring cache adds, then misses."""
        if r.input_tokens == 0:
            return [Segment(" " * bar, self.rich_style)]
        p = round(bar * f.prefix / r.input_tokens)
        c = max(p, round(bar * f.reuse / r.input_tokens))
        out = []
        for n, name, ch in ((p, "prefix", "█"), (c - p, "substring", "▓"), (bar - c, "rest", "░")):
            if n > 0:
                out.append(Segment(ch * n, self.get_component_rich_style(f"request-list--{name}")))
        return out
