"""The header line: what trace this is and how much of it a cache could reuse."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...core.display import display_text
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

    def on_resize(self) -> None:
        self.update(self.build())

    def build(self) -> Text:
        d = self.data
        a = d.analysis
        u = a.unlimited
        # Narrow terminals get the same facts in fewer cells: the rates matter most.
        wide = (self.size.width or 200) >= 110
        t = Text(no_wrap=True, overflow="ellipsis")
        if d.trace.warnings:
            t.append(f"⚠{len(d.trace.warnings)} ", style="bold yellow")
        t.append(f" {display_text(d.trace.name)} ", style="bold reverse")
        t.append(f" {len(d):,} req · {len(d.trace.sessions):,} sess · ")
        for label, short, value, style in (("prefix", "P", u.prefix_rate, "bold green"),
                                           ("substring", "S", u.substring_rate, "bold cyan"),
                                           ("combined", "C", a.combined_rate, "bold")):
            t.append(f"{label if wide else short} {100 * value:.1f}%", style=style)
            t.append(" · ")
        if d.provider_rate is not None:
            t.append(f"{'provider' if wide else 'prov'} {100 * d.provider_rate:.1f}%", style="bold magenta")
            t.append(" · ")
        # The note (a session filter) before the tokenizer name: at 100 columns it stays visible.
        if self.note:
            t.append(display_text(self.note), style="italic")
            t.append(" · ")
        t.append(display_text(d.loaded.tokenizer.name))
        if d.loaded.tokenizer_note:  # it names the trace's model: display text too
            t.append(f" ({display_text(d.loaded.tokenizer_note)})", style="yellow")
        return t
