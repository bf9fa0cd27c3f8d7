"""The header line: what trace this is and how much of it a cache could reuse."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...core.explorer import ExplorerData


class TraceHeader(Static):
    DEFAULT_CSS = """
    TraceHeader { height: 1; }
    """

    def __init__(self, data: ExplorerData, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data = data
        self.note = ""

    def set_note(self, note: str) -> None:
        self.note = note
        self.update(self.build())

    def on_mount(self) -> None:
        self.update(self.build())

    def build(self) -> Text:
        d = self.data
        a = d.analysis
        u = a.unlimited
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f" {d.trace.name} ", style="bold reverse")
        t.append(f" {len(d):,} req · {len(d.trace.sessions):,} sess · {d.loaded.tokenizer.name} · ")
        t.append(f"prefix {100 * u.prefix_rate:.1f}%", style="bold green")
        t.append(" · ")
        t.append(f"substring {100 * u.substring_rate:.1f}%", style="bold cyan")
        t.append(" · ")
        t.append(f"combined {100 * a.combined_rate:.1f}%", style="bold")
        if d.trace.warnings:
            t.append(f"  ⚠ {len(d.trace.warnings)} warning{'s' if len(d.trace.warnings) > 1 else ''}",
                     style="bold yellow")
        if self.note:
            t.append(f"  {self.note}", style="italic")
        return t
