"""plotext charts shared by `tracetui analyze` and the explorer's curves screen."""

from __future__ import annotations

import numpy as np

from ..core.engines.study import Analysis


# Half-block cells draw in every monospace font (braille glyphs are often wider in SVG
# renderers, which tears exported screenshots apart).
MARKER = "hd"
SUBSTRING_MARKER = "dot"
"""Each series has its own marker as well as its colour: without colour (NO_COLOR, a pipe)
the prefix curve is the solid half-block line, the substring curve a dotted one."""


_AXIS_CELLS = 7
"""Cells of a chart with ylim(0, 100) beside its canvas: the "100.0┤" tick labels, the right border."""


def decimate(ys: np.ndarray, width: int, marker: str = MARKER) -> tuple[list[int], list[float]]:
    """Points (x = 0, 1, ...) of the series `ys` that draw the same line as all of them in a
    chart `width` cells wide, without plotting (slowly) more points than it has room for.

    Every point when there are few. Else the points that fall in each half-cell column of the
    canvas ("hd" markers: two columns a cell) are cut down to their first, lowest, highest and
    last (the M4 reduction): the line through those lights the same column pixels, so the
    chart looks as it did when all 100,000 points were plotted (1.2 s a redraw)."""
    n = len(ys)
    per_cell = 2 if marker == "hd" else 1  # the columns plotext draws a line in: half cells for "hd"
    columns = per_cell * max(1, max(20, width) - _AXIS_CELLS)
    if n <= 4 * columns:
        return list(range(n)), ys.tolist()
    column = np.round(np.arange(n) * ((columns - 1) / (n - 1))).astype(np.int64)  # as plotext maps x
    cuts = (np.flatnonzero(np.diff(column)) + 1).tolist()
    xs: list[int] = []
    for lo, hi in zip([0] + cuts, cuts + [n]):
        part = ys[lo:hi]
        xs.extend(sorted({lo, lo + int(part.argmin()), lo + int(part.argmax()), hi - 1}))
    return xs, ys[xs].tolist()


def _int_ticks(n: int, most: int = 10) -> list[int]:
    step = max(1, -(-n // most))
    return list(range(0, n, step))


def chart_points(a: Analysis) -> tuple[list[float], list[str], list[float], list[float]]:
    """x positions (log scale; ∞ placed one decade past the largest size), labels, curves."""
    finite = sorted((p for p in a.pools if not p.size.unlimited and p.size.gb), key=lambda p: p.size.gb)
    unlimited = [p for p in a.pools if p.size.unlimited]
    xs = [p.size.gb for p in finite]
    labels = [p.size.label for p in finite]
    pools = finite + unlimited[:1]
    if unlimited:
        xs.append(xs[-1] * 10 if xs else 1.0)
        labels.append("∞")
    return xs, labels, [p.prefix_rate for p in pools], [p.substring_rate for p in pools]


def _start(width: int, height: int):
    import plotext as plt

    plt.clear_figure()
    plt.limit_size(False, False)  # the caller knows the room it has, not the process's terminal
    plt.plotsize(max(20, width), max(8, height))
    plt.theme("clear")
    return plt


def _title(plt, width: int, *candidates: str) -> None:
    """The first title that fits the chart's width: plotext drops a longer one altogether
    (under 90 columns the per-request read-out vanished)."""
    room = max(20, width) - 4  # plotext keeps a title up to 4 cells narrower than the chart
    plt.title(next((t for t in candidates if len(t) <= room), candidates[-1][:room]))


def _finish(plt, color: bool) -> str:
    out = plt.build()
    return out if color else plt.uncolorize(out)


def spaced_ticks(xs: list[float], labels: list[str], cells: int) -> tuple[list[float], list[str]]:
    """The ticks whose labels do not touch on a log axis `cells` wide (∞ always kept): plotext
    drops one of two colliding labels itself, but which one varied from run to run."""
    import math

    lo, hi = math.log10(xs[0]), math.log10(xs[-1])
    col = [0.0 if hi == lo else (math.log10(x) - lo) / (hi - lo) * (cells - 1) for x in xs]
    keep: list[int] = []
    for k in range(len(xs)):
        if keep and col[k] - col[keep[-1]] < (len(labels[keep[-1]]) + len(labels[k])) / 2 + 1:
            if k != len(xs) - 1:
                continue
            keep.pop()  # the last one (∞) wins over its neighbour
        keep.append(k)
    return [xs[k] for k in keep], [labels[k] for k in keep]


def hit_rate_chart(a: Analysis, *, width: int, height: int, color: bool = True) -> str:
    xs, labels, prefix, substring = chart_points(a)
    if not xs:
        return ""
    plt = _start(width, height)
    plt.xscale("log")
    plt.plot(xs, [100 * v for v in prefix], label="prefix", marker=MARKER, color="green")
    plt.plot(xs, [100 * v for v in substring], label="substring", marker=SUBSTRING_MARKER, color="cyan")
    plt.xticks(*spaced_ticks(xs, labels, max(20, width) - 8))
    plt.ylim(0, 100)
    _title(plt, width, "hit rate (%) vs pool size (GB, log scale)", "hit rate (%) vs pool (GB, log)",
           "hit % vs pool GB")
    return _finish(plt, color)


def per_request_chart(a: Analysis, *, width: int, height: int, cursor: int | None = None,
                      color: bool = True) -> str:
    n = a.requests
    if n == 0:
        return ""
    lens = np.maximum(a.input_lens, 1)
    plt = _start(width, height)
    # Decimated to the chart's width: plotting 100,000 points took over a second per redraw.
    plt.plot(*decimate(100 * a.unlimited.prefix_hits / lens, width), label="prefix", marker=MARKER,
             color="green")
    plt.plot(*decimate(100 * a.unlimited.substring_hits / lens, width, SUBSTRING_MARKER), label="substring",
             marker=SUBSTRING_MARKER,
             color="cyan")
    if cursor is not None:
        plt.vline(cursor, "yellow")
    plt.ylim(0, 100)
    plt.xlim(0, max(1, n - 1))
    plt.xticks(_int_ticks(n))
    if cursor is None:
        _title(plt, width, "hit rate (%) per request, unlimited pool", "hit rate (%) per request")
    else:
        p = 100 * a.unlimited.prefix_hits[cursor] / lens[cursor]
        s = 100 * a.unlimited.substring_hits[cursor] / lens[cursor]
        # The read-out (the cursor's figures) outlives the description as the chart narrows.
        _title(plt, width, f"hit rate (%) per request, unlimited pool · request {cursor}: prefix {p:.1f}%, "
               f"substring {s:.1f}%", f"per request · request {cursor}: prefix {p:.1f}%, substring {s:.1f}%",
               f"request {cursor}: prefix {p:.1f}%, substring {s:.1f}%", f"#{cursor}: P {p:.1f}% S {s:.1f}%")
    return _finish(plt, color)


def cumulative_chart(a: Analysis, *, width: int, height: int, color: bool = True) -> str:
    n = a.requests
    if n == 0:
        return ""
    total = np.cumsum(a.input_lens).astype(float)
    total[total == 0] = 1.0
    plt = _start(width, height)
    plt.plot(*decimate(100 * np.cumsum(a.unlimited.prefix_hits) / total, width), label="prefix",
             marker=MARKER, color="green")
    plt.plot(*decimate(100 * np.cumsum(a.unlimited.substring_hits) / total, width, SUBSTRING_MARKER),
             label="substring",
             marker=SUBSTRING_MARKER, color="cyan")
    plt.ylim(0, 100)
    plt.xlim(0, max(1, n - 1))
    plt.xticks(_int_ticks(n))
    _title(plt, width, "cumulative hit rate (%) across the trace, unlimited pool",
           "cumulative hit rate (%), unlimited pool", "cumulative hit rate (%)")
    return _finish(plt, color)
