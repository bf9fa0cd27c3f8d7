"""The legend under the prompt view, and the status of search / jumps."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...core.display import display_text
from .prompt_view import HEAT_LABELS

CLASSES = (("prefix", "prefix hit"), ("substring", "substring hit"), ("miss", "miss"), ("output", "output"))
"""Token classes shown in the legend, by component-class name. ("evicted" joins them when the
prompt view draws evicted tokens.)"""


class Legend(Static):
    DEFAULT_CSS = """
    Legend { height: 1; }
    """

    def show(self, *, heatmap: bool, status: str = "", styles: dict | None = None) -> None:
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
            for name, label in CLASSES:
                t.append(f" {label} ", style=styles.get(name, ""))
                t.append(" ")
            t.append(" ▲ prefix end", style=styles.get("marker", ""))
        self.update(t)
