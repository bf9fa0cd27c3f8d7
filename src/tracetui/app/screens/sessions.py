"""The session table: hit rates per session, and a filter of the request list to one."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ...core.explorer import ExplorerData
from ...why import SESSION_COLUMNS, session_row

# Private sentinels, not strings or None: any session id (None, the requests without one,
# included) can be chosen, and none can be mistaken for "all sessions" or "cancel".
ALL = object()
"""Dismissed with: show every session."""
CANCEL = object()
"""Dismissed with: leave the filter as it was."""


class SessionsScreen(Screen[object]):
    """Dismisses with a session id to filter on (None included), ALL for no filter, or CANCEL."""

    BINDINGS = [
        # priority: the DataTable's own (hidden) Enter binding would shadow it in the footer.
        Binding("enter", "choose", "Filter to session", id="sessions.choose", priority=True),
        Binding("a", "all", "All sessions", id="sessions.all"),
        Binding("escape,S,q", "close", "Back", id="sessions.close"),
    ]

    def __init__(self, data: ExplorerData) -> None:
        super().__init__()
        self.data = data
        self.keys: list[object] = []

    def compose(self) -> ComposeResult:
        yield Static(" Sessions · unlimited pool · “within” counts reuse of the session's own earlier requests only",
                     id="sessions-title")
        yield DataTable(id="sessions-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col in SESSION_COLUMNS:
            table.add_column(col, key=col)
        table.add_row("(all sessions)", str(len(self.data)), f"{self.data.analysis.input_tokens:,}",
                      f"{100 * self.data.analysis.unlimited.prefix_rate:.1f}%",
                      f"{100 * self.data.analysis.unlimited.substring_rate:.1f}%",
                      f"{100 * self.data.analysis.combined_rate:.1f}%", "", "")
        self.keys = [ALL]
        for s in self.data.sessions:
            session, *figures = session_row(s, width=30)
            # Text, not str: DataTable parses a str cell as markup, and a session id is trace data.
            table.add_row(Text(session), *figures)
            self.keys.append(s.session)
        table.focus()

    def action_choose(self) -> None:
        row = self.query_one(DataTable).cursor_row
        self.dismiss(self.keys[row] if 0 <= row < len(self.keys) else CANCEL)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_choose()

    def action_all(self) -> None:
        self.dismiss(ALL)

    def action_close(self) -> None:
        self.dismiss(CANCEL)
