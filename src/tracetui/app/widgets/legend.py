"""The legend under the prompt view, and the status of search / jumps."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...core.display import display_text
from .prompt_view import HEAT_LABELS

CLASSES = (("prefix", "prefix hit"), ("substring", "substring hit"), ("miss", "miss"), ("output", "output"))
"""Token classes shown in the legend, by component-class name. ("evicted" joins them when the
prompt view draws evicted tokens.)"""
HASHED_CLASSES = (("prefix", "prefix hit"), ("substring", "seen elsewhere"), ("miss", "miss"))
"""A hashed trace's block classes (the bounded pool's "evicted" is added by the caller)."""


class Legend(Static):
    DEFAULT_CSS = """
    Legend { height: 1; }
    """

    def show(self, *, heatmap: bool, status: str = "", styles: dict | None = None,
             classes: tuple[tuple[str, str], ...] | None = None, output_note: str = "") -> None:
        """`styles`: the prompt view's style for each class name ("prefix", "heat-0", "marker"...)."""
        styles = styles or {}
        t = Text(no_wrap=True, overflow="ellipsis")
        if status:
            # The status first: the legend is static, the status is what the user needs to read.
            t.append(" ")
            t.append(display_text(status), style="bold")  # may quote a search (pasted text)
            t.append("  │")
        if heatmap:
            t.append(" chunk in N requests: ")
            for level, label in enumerate(HEAT_LABELS):
                t.append(f" {label} ", style=styles.get(f"heat-{level}", ""))
                t.append(" ")
        else:
            t.append(" ")
            for name, label in classes or CLASSES:
                t.append(f" {label} ", style=styles.get(name, ""))
                t.append(" ")
            if output_note:
                t.append(f" {output_note} ", style=styles.get("output", ""))
                t.append(" ")
            t.append(" ▲ prefix end", style=styles.get("marker", ""))
        self.update(t)
