"""Curves: hit rate vs pool size, per request, and cumulative across the trace (plotext)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from ...report.charts import cumulative_chart, hit_rate_chart, per_request_chart
from ...core.explorer import ExplorerData
from ..widgets.footer import KeyFooter

CHART_HEIGHT = 16


def _chart(ansi: str) -> Text:
    return Text.from_ansi(ansi, no_wrap=True, overflow="crop")


class CurvesScreen(Screen[int | None]):
    """Dismisses with the request chosen on the per-request curve (or None)."""

    BINDINGS = [
        Binding("left,h", "move(-1)", "Previous request", id="curves.previous"),
        Binding("right,l", "move(1)", "Next request", id="curves.next"),
        Binding("enter", "open", "Open request", id="curves.open"),
        Binding("escape,c,q", "close", "Back", key_display="q", tooltip="Back to the main screen", id="curves.close"),
    ]

    def __init__(self, data: ExplorerData, cursor: int = 0) -> None:
        super().__init__()
        self.data = data
        self.cursor = cursor

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="curves"):
            yield Static(id="curve-per-request", classes="curve")
            yield Static(id="curve-pools", classes="curve")
            yield Static(id="curve-cumulative", classes="curve")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    def _width(self) -> int:
        # The scroll container's content width, less one column of slack: a chart line
        # that wraps would tear the plot apart.
        region = self.query_one("#curves").scrollable_content_region.width or self.size.width
        return max(30, region - 2)

    def redraw(self) -> None:
        a = self.data.analysis
        w = self._width()
        self.query_one("#curve-pools", Static).update(
            _chart(hit_rate_chart(a, width=w, height=CHART_HEIGHT)))
        self.query_one("#curve-cumulative", Static).update(
            _chart(cumulative_chart(a, width=w, height=CHART_HEIGHT)))
        self._draw_per_request()

    def _draw_per_request(self) -> None:
        chart = per_request_chart(self.data.analysis, width=self._width(), height=CHART_HEIGHT, cursor=self.cursor)
        self.query_one("#curve-per-request", Static).update(_chart(chart))

    def action_move(self, delta: int) -> None:
        n = len(self.data)
        if n:
            self.cursor = max(0, min(n - 1, self.cursor + delta))
            self._draw_per_request()

    def action_open(self) -> None:
        self.dismiss(self.cursor)

    def action_close(self) -> None:
        self.dismiss(None)
