"""The legend under the prompt view, and the status of search / jumps."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...core.display import display_text
from .prompt_view import HEAT_LABELS, HEAT_LEVELS, heat_style


class Legend(Static):
    DEFAULT_CSS = """
    Legend { height: 1; }
    """

    def show(self, *, heatmap: bool, status: str = "", styles: dict | None = None) -> None:
        t = Text(no_wrap=True, overflow="ellipsis")
        if status:
            # The status first: the legend is static, the status is what the user needs to read.
            t.append(" ")
            t.append(display_text(status), style="bold")  # may quote a search (pasted text)
            t.append("  │")
        if heatmap:
            t.append(" chunk in N requests: ")
            for label, (limit, _) in zip(HEAT_LABELS, HEAT_LEVELS):
                t.append(f" {label} ", style=heat_style(limit))
                t.append(" ")
        else:
            styles = styles or {}
            t.append(" ")
            t.append(" prefix hit ", style=styles.get("prefix", ""))
            t.append(" ")
            t.append(" substring hit ", style=styles.get("substring", ""))
            t.append(" ")
            t.append(" miss ", style=styles.get("miss", ""))
            t.append(" ")
            t.append(" output ", style=styles.get("output", ""))
            t.append("  ▲ prefix end", style=styles.get("marker", ""))
        self.update(t)
