"""An unreadable trace: say why, in one line, and let the user leave."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Label

from ..widgets.footer import KeyFooter

from ...core.display import display_text


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
                # Text of display text: the message may quote the trace or its file name.
                yield Label(Text(display_text(self.message)), id="error-message")
            with Center():
                yield Label("press q to quit", id="error-hint")
        yield KeyFooter()
