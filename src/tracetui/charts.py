"""plotext charts shared by `tracetui analyze` and the explorer's curves screen."""

from __future__ import annotations

import numpy as np

from .core.engine import Analysis


# Half-block cells draw in every monospace font (braille glyphs are often wider in SVG
# renderers, which tears exported screenshots apart).
MARKER = "hd"


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


def _start(width: int, height: int, color: bool):
    import plotext as plt

    plt.clear_figure()
    plt.limit_size(False, False)  # the caller knows the room it has, not the process's terminal
    plt.plotsize(max(20, width), max(8, height))
    plt.theme("clear")
    return plt


def _finish(plt, color: bool) -> str:
    out = plt.build()
    return out if color else plt.uncolorize(out)


def hit_rate_chart(a: Analysis, *, width: int, height: int, color: bool = True) -> str:
    xs, labels, prefix, substring = chart_points(a)
    if not xs:
        return ""
    plt = _start(width, height, color)
    plt.xscale("log")
    plt.plot(xs, [100 * v for v in prefix], label="prefix", marker=MARKER, color="green")
    plt.plot(xs, [100 * v for v in substring], label="substring", marker=MARKER, color="cyan")
    plt.xticks(xs, labels)
    plt.ylim(0, 100)
    plt.title("hit rate (%) vs pool size (GB, log scale)")
    return _finish(plt, color)


def per_request_chart(a: Analysis, *, width: int, height: int, cursor: int | None = None,
                      color: bool = True) -> str:
    n = a.requests
    if n == 0:
        return ""
    lens = np.maximum(a.input_lens, 1)
    xs = list(range(n))
    plt = _start(width, height, color)
    plt.plot(xs, (100 * a.unlimited.prefix_hits / lens).tolist(), label="prefix", marker=MARKER, color="green")
    plt.plot(xs, (100 * a.unlimited.substring_hits / lens).tolist(), label="substring", marker=MARKER,
             color="cyan")
    if cursor is not None:
        plt.vline(cursor, "yellow")
    plt.ylim(0, 100)
    plt.xlim(0, max(1, n - 1))
    plt.xticks(_int_ticks(n))
    title = "hit rate (%) per request, unlimited pool"
    if cursor is not None:
        p = 100 * a.unlimited.prefix_hits[cursor] / lens[cursor]
        s = 100 * a.unlimited.substring_hits[cursor] / lens[cursor]
        title += f" · request {cursor}: prefix {p:.1f}%, substring {s:.1f}%"
    plt.title(title)
    return _finish(plt, color)


def cumulative_chart(a: Analysis, *, width: int, height: int, color: bool = True) -> str:
    n = a.requests
    if n == 0:
        return ""
    total = np.cumsum(a.input_lens).astype(float)
    total[total == 0] = 1.0
    xs = list(range(n))
    plt = _start(width, height, color)
    plt.plot(xs, (100 * np.cumsum(a.unlimited.prefix_hits) / total).tolist(), label="prefix",
             marker=MARKER, color="green")
    plt.plot(xs, (100 * np.cumsum(a.unlimited.substring_hits) / total).tolist(), label="substring",
             marker=MARKER, color="cyan")
    plt.ylim(0, 100)
    plt.xlim(0, max(1, n - 1))
    plt.xticks(_int_ticks(n))
    plt.title("cumulative hit rate (%) across the trace, unlimited pool")
    return _finish(plt, color)
