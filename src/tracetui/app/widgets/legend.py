"""The legend under the prompt view, and the status of search / jumps."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...core.display import display_text
from .prompt_view import HEAT_LABELS

CLASSES = (("prefix", "prefix hit"), ("substring", "substring hit"), ("miss", "miss"), ("output", "output"))
"""Token classes shown in the legend, by component-class name (legend_classes adapts them to the
engine and pool shown)."""
HASHED_CLASSES = (("prefix", "prefix hit"), ("substring", "seen elsewhere"), ("miss", "miss"))
"""A hashed trace's block classes (the bounded pool's "evicted" is added by the caller)."""


def legend_classes(engines, hashed: bool) -> tuple[tuple[str, str], ...] | None:
    """The classes the prompt view draws for the engine and pool shown (None: CLASSES, today's
    view). A prefix-only engine has no substring hits; "evicted" shows at a bounded pool."""
    if engines.is_default and not hashed:
        return None
    substring = engines.reuses_beyond_prefix
    if hashed:
        out = [c for c in HASHED_CLASSES if c[0] != "substring" or substring]
    else:
        out = [c for c in CLASSES if c[0] != "output" and (c[0] != "substring" or substring)]
    if engines.bounded:
        out.append(("evicted", f"evicted ({engines.pool_size.label} GB)"))
    return tuple(out) + ((CLASSES[-1],) if not hashed else ())


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
