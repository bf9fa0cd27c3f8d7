"""The header line: what trace this is and how much of it a cache could reuse."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static

from ...core.display import display_text
from ...core.explorer import ExplorerData

MIN_NAME = 12
"""Cells the file name keeps however narrow the terminal (with an ellipsis in its middle)."""


def shorten_middle(text: str, width: int) -> str:
    """`text` in at most `width` cells, cut in the middle (the start and the extension stay)."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    keep = width - 1
    head, tail = text[: (keep + 1) // 2], text[len(text) - keep // 2:] if keep // 2 else ""
    # Wide characters: trim until it fits.
    while cell_len(head) + cell_len(tail) > keep:
        if cell_len(head) >= cell_len(tail) and head:
            head = head[:-1]
        else:
            tail = tail[1:]
    return head + "…" + tail


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

    def refresh_figures(self) -> None:
        """Draw again (the engine or the pool shown changed)."""
        self.update(self.build())

    def on_resize(self) -> None:
        self.update(self.build())

    def build(self) -> Text:
        """The figures always show in full: when room is short the labels shorten (P, S, C),
        the file name is cut in its middle, and the tokenizer name (then the note) at the end."""
        d = self.data
        a = d.analysis
        u = a.unlimited
        width = self.size.width or 200
        eng = d.engines
        engine: list[tuple[str, str]] = []
        if eng.is_default:  # the study's model, unlimited pool: the figures as they always were
            rates = [("prefix", "P", u.prefix_rate, "bold green"), ("substring", "S", u.substring_rate, "bold cyan"),
                     ("combined", "C", a.combined_rate, "bold")]
        else:  # the engine and pool shown, and its figures (a substring rate where it has one)
            name, prefix, substring, rejected = eng.summary()
            size = eng.pool_size
            engine = [(f"{name} {'∞' if size.capacity is None else size.label + ' GB'}", "bold yellow")]
            rates = [("prefix", "P", prefix, "bold green")]
            if substring is not None:
                rates.append(("substring", "S", substring, "bold cyan"))
            if rejected:
                engine.append((f"{rejected:,} rejected", "bold"))
        if d.provider_rate is not None:
            rates.append(("provider", "prov", d.provider_rate, "bold magenta"))
        counts = f"{len(d):,} req · {d.trace.session_count:,} sess"
        warn = f"⚠{len(d.trace.warnings)} " if d.trace.warnings else ""
        name = display_text(d.trace.name)

        def figures(wide: bool) -> list[tuple[str, str]]:
            parts = [(f" {counts} · ", "")]
            for text, style in engine:
                parts.append((text, style))
                parts.append((" · ", ""))
            for label, short, value, style in rates:
                parts.append((f"{label if wide else short} {100 * value:.1f}%", style))
                parts.append((" · ", ""))
            return parts

        # The note (a session filter is on) matters as much as the figures; the tokenizer less.
        note = [(display_text(self.note), "italic"), (" · ", "")] if self.note else []
        # A hashed trace is not tokenized: its unit is the block.
        tail = [(f"blocks of {d.trace.block_size} tok" if d.hashed else display_text(d.loaded.tokenizer.name), "")]
        if d.loaded.tokenizer_note:  # it names the trace's model: display text too
            tail.append((f" ({display_text(d.loaded.tokenizer_note)})", "yellow"))

        def cells(parts: list[tuple[str, str]]) -> int:
            return cell_len(warn) + 2 + sum(cell_len(text) for text, _ in parts)

        # Word labels when everything fits with them. The name is cut (in its middle) to make
        # room for the figures and the note; the tokenizer name is cut at the line's end.
        wide = cells(figures(True) + note + tail) + cell_len(name) <= width
        parts = figures(wide) + note
        used = cells(parts)
        parts += tail
        t = Text(no_wrap=True, overflow="ellipsis")
        if warn:
            t.append(warn, style="bold yellow")
        t.append(f" {shorten_middle(name, max(MIN_NAME, width - used))} ", style="bold reverse")
        for text, style in parts:
            t.append(text, style=style)
        t.truncate(width, overflow="ellipsis")  # the note or the tokenizer name, never a figure
        return t
