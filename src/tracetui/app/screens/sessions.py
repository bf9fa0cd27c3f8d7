"""The session table: hit rates per session, and a filter of the request list to one."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from ...core.display import display_text
from ...core.explorer import ExplorerData
from ..widgets.footer import KeyFooter

# Private sentinels, not strings or None: any session id (None, the requests without one,
# included) can be chosen, and none can be mistaken for "all sessions" or "cancel".
ALL = object()
"""Dismissed with: show every session."""
CANCEL = object()
"""Dismissed with: leave the filter as it was."""

LABELS = ("session", "requests", "input tokens", "prefix", "substring", "combined", "prefix within",
          "prefix across")
SHORT_LABELS = ("session", "reqs", "input", "prefix", "substr", "comb", "within", "across")
"""Header labels under WIDE columns, so that every figure column fits at 80."""
WIDE = 110
TITLE = " Sessions · unlimited pool · “within” counts reuse of the session's own earlier requests only"
MIN_SESSION = 8
PADDING = 2
"""Cells DataTable adds to each column (cell_padding 1 on each side)."""


def session_label(session: object) -> str:
    """How a session id is shown: the requests without one are "–"; no control character."""
    return "–" if session is None else display_text(str(session))


def shorten(text: str, width: int) -> str:
    return text if cell_len(text) <= width else text[: max(0, width - 1)] + "…"


class SessionsScreen(Screen[object]):
    """Dismisses with a session id to filter on (None included), ALL for no filter, or CANCEL."""

    BINDINGS = [
        # priority: the DataTable's own (hidden) Enter binding would shadow it in the footer.
        Binding("enter", "choose", "Filter to session", id="sessions.choose", priority=True),
        Binding("a", "all", "All sessions", id="sessions.all"),
        Binding("escape,S,q", "close", "Back", key_display="q", tooltip="Back to the main screen", id="sessions.close"),
    ]

    def __init__(self, data: ExplorerData) -> None:
        super().__init__()
        self.data = data
        self.keys: list[object] = [ALL]
        self._rows: list[tuple[str, list[str]]] = []
        self._width = 0
        if self.ready:  # computed before: the table is there at once
            self.keys = [ALL] + [s.session for s in data.sessions]
            self._rows = self._figures()

    @property
    def ready(self) -> bool:
        """The session figures are computed (else a worker is computing them)."""
        return self.data.sessions_ready

    def compose(self) -> ComposeResult:
        yield Static(TITLE, id="sessions-title")
        yield DataTable(id="sessions-table", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def _figures(self) -> list[tuple[str, list[str]]]:
        """(session label, figure cells) for the "(all sessions)" row, then each session."""
        a = self.data.analysis
        rows = [("(all sessions)", [str(len(self.data)), f"{a.input_tokens:,}", f"{100 * a.unlimited.prefix_rate:.1f}%",
                                    f"{100 * a.unlimited.substring_rate:.1f}%", f"{100 * a.combined_rate:.1f}%",
                                    "", ""])]
        for s in self.data.sessions:
            def pct(hits: int, s=s) -> str:
                return f"{100 * s.rate(hits):.1f}%"

            rows.append((session_label(s.session),
                         [str(s.requests), f"{s.input_tokens:,}", pct(s.prefix_hits), pct(s.substring_hits),
                          pct(s.combined_hits), pct(s.within_prefix_hits),
                          pct(s.prefix_hits - s.within_prefix_hits)]))
        return rows

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        if not self.ready:  # one replay of the whole trace, session by session (core.diagnose.session_stats)
            self.query_one("#sessions-title", Static).update(" Sessions · replaying each session's own reuse…")
            self._compute()

    @work(thread=True, exclusive=True, group="sessions", exit_on_error=False)
    def _compute(self) -> None:
        try:
            self.data.sessions  # noqa: B018
        except Exception as exc:  # never a traceback: say it on the title line
            self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._figures_ready)

    def _failed(self, message: str) -> None:
        if self.is_mounted:
            self.query_one("#sessions-title", Static).update(Text(display_text(f" Sessions: failed: {message}")))

    def _figures_ready(self) -> None:
        if not self.is_mounted:
            return  # closed before the figures were ready (they stay computed for the next `S`)
        self.query_one("#sessions-title", Static).update(TITLE)
        self.keys = [ALL] + [s.session for s in self.data.sessions]
        self._rows = self._figures()
        self._width = 0
        self.on_resize()

    def on_resize(self) -> None:
        width = self.size.width
        if self._rows and width and width != self._width:
            self._width = width
            self._fill(width)

    def _fill(self, width: int) -> None:
        """The columns for `width`: figures in full, the session column takes what is left
        (and no more than its longest id)."""
        table = self.query_one(DataTable)
        row = table.cursor_row
        labels = LABELS if width >= WIDE else SHORT_LABELS
        figures = [max(cell_len(labels[k + 1]), *(cell_len(cells[k]) for _, cells in self._rows))
                   for k in range(len(LABELS) - 1)]
        longest = max(cell_len(label) for label, _ in self._rows)
        room = width - sum(w + PADDING for w in figures) - PADDING - 1  # the scrollbar
        session = max(MIN_SESSION, min(longest, room))
        table.clear(columns=True)
        table.add_column(labels[0], width=session, key="session")
        for label, w in zip(labels[1:], figures):
            table.add_column(label.rjust(w), width=w, key=label)
        for label, cells in self._rows:
            # Text, not str: DataTable parses a str cell as markup, and a session id is trace data.
            table.add_row(Text(shorten(label, session)), *(Text(c.rjust(w)) for c, w in zip(cells, figures)))
        if 0 <= row < len(self._rows):
            table.move_cursor(row=row)

    def action_choose(self) -> None:
        if not self._rows:
            return  # still computing: nothing to choose yet
        row = self.query_one(DataTable).cursor_row
        self.dismiss(self.keys[row] if 0 <= row < len(self.keys) else CANCEL)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_choose()

    def action_all(self) -> None:
        self.dismiss(ALL)

    def action_close(self) -> None:
        self.dismiss(CANCEL)
