"""Curves: hit rate vs pool size, per request, and cumulative across the trace (plotext)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from ...report.charts import cumulative_chart, hit_rate_chart, per_request_chart, spaced_ticks
from ...core.explorer import ExplorerData
from ..widgets.footer import KeyFooter

CHART_HEIGHT = 16

ENGINE_SERIES = {"study": ("hd", "green"), "vllm": ("dot", "cyan"), "sglang": ("x", "magenta"),
                 "lmcache": ("+", "orange"), "cacheblend": ("*", "blue+")}
"""Each engine's marker and colour: the markers differ too, so the series stay apart without
colour (NO_COLOR, a 16-colour terminal that merges two of the colours)."""


def engines_chart(curves, *, width: int, height: int, color: bool = True) -> str:
    """Every computed engine's hit rate vs pool size, one series each (core.explorer_engines
    EngineState.curves: (label, [(pool size, rate)])). x: GB on a log scale, ∞ a decade past
    the largest pool, as the study's own chart."""
    import plotext as plt

    if not curves:
        return ""
    sizes = [s for s, _ in curves[0][1]]
    finite = [k for k, s in enumerate(sizes) if s.capacity is not None and s.gb]
    keep = finite + [k for k, s in enumerate(sizes) if s.capacity is None][:1]
    xs = [sizes[k].gb for k in finite]
    labels = [sizes[k].label for k in finite]
    if len(keep) > len(finite):
        xs.append(xs[-1] * 10 if xs else 1.0)
        labels.append("∞")
    if not xs:
        return ""
    plt.clear_figure()
    plt.limit_size(False, False)
    plt.plotsize(max(20, width), max(8, height))
    plt.theme("clear")
    plt.xscale("log")
    for label, points in curves:
        marker, colour = ENGINE_SERIES.get(label.split()[0], ("•", "white"))
        plt.plot(xs, [100 * points[k][1] for k in keep], label=label, marker=marker, color=colour)
    plt.xticks(*spaced_ticks(xs, labels, max(20, width) - 8))
    plt.ylim(0, 100)
    room = max(20, width) - 4
    titles = ("hit rate (%) vs pool size (GB, log scale), every engine computed (e)",
              "hit rate (%) vs pool (GB, log), per engine", "hit % vs pool GB, per engine")
    plt.title(next((t for t in titles if len(t) <= room), titles[-1][:room]))
    out = plt.build()
    return out if color else plt.uncolorize(out)


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
            # Several engines computed (e): their curves first, the ladder from the study's
            # substring bound down to what each engine keeps.
            yield Static(id="curve-engines", classes="curve")
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
        engines = self.query_one("#curve-engines", Static)
        curves = self.data.engines.curves()
        engines.display = len(curves) > 1
        if engines.display:
            engines.update(_chart(engines_chart(curves, width=w, height=CHART_HEIGHT)))
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
