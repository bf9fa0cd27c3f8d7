"""An unreadable trace: say why, in one line, and let the user leave."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Label

from ..widgets.footer import KeyFooter


class ErrorScreen(Screen):
    BINDINGS = [
        Binding("q", "app.quit_error", "Quit", id="error.quit"),
        Binding("escape", "app.quit_error", "Quit", show=False, id="error.escape"),
    ]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Middle():
            with Center():
                yield Label("Cannot open this trace", id="error-title")
            with Center():
                yield Label(self.message, id="error-message", markup=False)  # may quote the trace
            with Center():
                yield Label("press q to quit", id="error-hint")
        yield KeyFooter()
