"""Help: every key, generated from the bindings of the screen below and its widgets."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def collect_bindings(screen: Screen) -> list[tuple[str, str, str]]:
    """(where, keys, description) for the app, the screen and every focusable widget on it."""
    rows: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    owners = [("Everywhere", screen.app), ("This screen", screen)]
    # Hidden widgets (the search box until / opens it) would only add their editing keys.
    owners += [(type(w).__name__, w) for w in screen.query("*") if w.can_focus and w.BINDINGS and w.display]
    for where, node in owners:
        for b in _bindings_of(node):
            if not b.description:
                continue
            keys = b.key_display or ", ".join(_key_name(k) for k in b.key.split(","))
            if (keys, b.description) in seen:
                continue
            seen.add((keys, b.description))
            rows.append((where, keys, b.description))
    return rows


def _bindings_of(node) -> list[Binding]:
    out = []
    for item in node.BINDINGS:
        if isinstance(item, Binding):
            out.append(item)
        elif isinstance(item, tuple):
            out.append(Binding(*item))
    return out


_NAMES = {"question_mark": "?", "slash": "/", "left_square_bracket": "[", "right_square_bracket": "]",
          "pageup": "PgUp", "pagedown": "PgDn", "escape": "Esc", "backspace": "⌫", "space": "Space",
          "enter": "Enter", "home": "Home", "end": "End", "up": "↑", "down": "↓", "left": "←", "right": "→",
          "tab": "Tab", "shift+tab": "Shift+Tab"}


def _key_name(key: str) -> str:
    key = key.strip()
    return _NAMES.get(key, key)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close")]

    def __init__(self, below: Screen) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        table = Table(title="tracetui keys", expand=True, show_edge=False, title_justify="left")
        table.add_column("keys", style="bold", no_wrap=True)
        table.add_column("action")
        table.add_column("where", style="dim")
        for where, keys, desc in collect_bindings(self.below):
            table.add_row(keys, desc, where)
        table.add_row("Tab, Shift+Tab", "Move focus between the request list and the prompt", "Everywhere")
        footer = Text("Mouse works too (click a row, scroll), never required. Esc or ? closes.", style="dim")
        with VerticalScroll(id="help-box"):
            yield Static(table)
            yield Static(footer)

    def action_dismiss(self) -> None:
        self.dismiss(None)
