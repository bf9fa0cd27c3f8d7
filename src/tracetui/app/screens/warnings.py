"""What the reader noticed (recovered or skipped lines, timestamps out of order, ignored provider
usage): shown once over the main screen, dismissed with a key."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from ...core.display import display_text


class WarningsScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,enter,space,q", "dismiss", "Dismiss", id="warnings.dismiss"),
    ]

    def __init__(self, name: str, warnings: tuple[str, ...]) -> None:
        super().__init__()
        self.trace_name = name
        self.warnings = warnings

    def compose(self) -> ComposeResult:
        with Vertical(id="warnings-box"):
            # Text of display text: the file name and the warnings quote the trace (no markup,
            # no control characters).
            # Not every warning is a repair (timestamps out of order, ignored usage).
            yield Label(Text(f"⚠ {display_text(self.trace_name)}: read with warnings"),
                        id="warnings-title")
            for w in self.warnings:
                yield Label(Text(f"• {display_text(w)}"), classes="warning-line")
            yield Label("The rest of the trace is loaded. Enter or Esc to dismiss.", id="warnings-hint")

    def action_dismiss(self) -> None:
        self.dismiss(None)
