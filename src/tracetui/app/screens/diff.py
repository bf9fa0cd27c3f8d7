"""The diff screen: a request beside the entry that gave its prefix, centred on the break."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from ...core.diagnose import side_by_side
from ...core.display import display_lines, display_text
from ...core.explorer import ExplorerData
from ..widgets.footer import KeyFooter


class DiffScreen(Screen[int | None]):
    """Dismisses with the request shown last (so the main screen can follow), or None."""

    BINDINGS = [
        Binding("n", "step(1)", "Next break", id="diff.next"),
        Binding("p", "step(-1)", "Previous break", id="diff.previous"),
        Binding("escape,d,q", "close", "Back", key_display="q", tooltip="Back to the main screen", id="diff.close"),
    ]

    def __init__(self, data: ExplorerData, request: int) -> None:
        super().__init__()
        self.data = data
        self.request = request

    def compose(self) -> ComposeResult:
        yield Static(id="diff-title")
        with Horizontal(id="diff-panes"):
            with VerticalScroll(classes="diff-pane"):
                yield Static(id="diff-left")
            with VerticalScroll(classes="diff-pane"):
                yield Static(id="diff-right")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        b = self.data.breaks[self.request]
        title = Text(no_wrap=False)
        title.append(f" request {b.request} ", style="bold reverse")
        if b.source >= 0:
            # With no prefix hit the entry compared is the one holding most of its reused chunks.
            why = "its prefix source" if b.prefix else "holds most of its reused chunks"
            title.append(f" vs entry {b.source} ({why}) · ")
        else:
            title.append(" · ")
        title.append(b.cause, style="bold yellow")
        if b.block is not None:
            where = b.block.kind
            if b.block.role and b.block.role != b.block.kind:  # not "edit in system system"
                where += f" {b.block.role}"
            title.append(display_text(f" in {where}"))
        title.append(f" · break at token {b.prefix:,} of {b.input_tokens:,} · lost {b.tokens_lost:,}, "
                     f"substring recovers {b.recovered:,}")
        if b.description:
            # This request's change as its text has it (the description is normalised for grouping).
            title.append("\n " + display_text(b.example or b.description), style="italic")
        self.query_one("#diff-title", Static).update(title)
        if b.cause in ("append",) or b.source < 0:
            msg = ("Nothing broke: this request continues its source entry."
                   if b.cause == "append" else "No earlier entry shares a prefix with this request.")
            self.query_one("#diff-left", Static).update(Text(msg, style="italic"))
            self.query_one("#diff-right", Static).update(Text(""))
            return
        if self.data.hashed:
            self._block_panes(b)
            return
        sbs = side_by_side(self.data.loaded, b)
        self.query_one("#diff-left", Static).update(
            self._pane(f"entry {b.source} (source)", sbs.left, sbs.left_marks, b.char - sbs.left_start, "red"))
        self.query_one("#diff-right", Static).update(
            self._pane(f"request {b.request}", sbs.right, sbs.right_marks, b.char - sbs.right_start, "green"))

    def _block_panes(self, b) -> None:
        """A hashed trace has no text: the block ids of both around the break (the first missed
        block in reverse, differing ids marked)."""
        from ...core.blockdoc import block_diff, diff_lines

        d = block_diff(self.data.loaded, b.request, b.source)
        for pane, title, ids, other, color in (("#diff-left", f"entry {b.source} (source)", d.source, d.request, "red"),
                                               ("#diff-right", f"request {b.request}", d.request, d.source, "green")):
            t = Text()
            t.append(f"{title}: block ids from block {d.first:,}\n", style="bold underline")
            for text, differs, at in diff_lines(d, ids, other):
                style = ("reverse " if at else "") + (f"bold on dark_{color}" if differs else "")
                t.append(text, style=style.strip() or None)
                t.append("\n")
            if not ids:
                t.append("(no block there)", style="italic")
            self.query_one(pane, Static).update(t)

    @staticmethod
    def _pane(title: str, text: str, marks: list[tuple[int, int]], at: int, color: str) -> Text:
        t = Text()
        t.append(title + "\n", style="bold underline")
        body = Text(display_lines(text))
        # A line break follows the ↵ of each newline: shift offsets by the newlines before them.

        def shift(pos: int) -> int:
            return pos + text.count("\n", 0, pos)

        for a, b in marks:
            body.stylize(f"bold on dark_{color}", shift(a), shift(b))
        if 0 <= at < len(text):
            body.stylize("reverse", shift(at), shift(at) + 1)
        t.append(body)
        return t

    def action_step(self, delta: int) -> None:
        # The next break found from a cheap exact test per request (core.diagnose.Diagnosis),
        # not from diagnosing the whole trace.
        target = self.data.next_breaker(self.request, delta)
        if target is None:
            return
        self.request = target
        self.show()

    def action_close(self) -> None:
        self.dismiss(self.request)
