"""One line about the selected request: its figures, why its prefix broke, and what the
provider itself reported about its cache (when the trace carries usage)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...core.explorer import ExplorerData


class RequestInfo(Static):
    DEFAULT_CSS = """
    RequestInfo { height: 1; }
    """

    def __init__(self, data: ExplorerData, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data = data

    def show(self, index: int) -> None:
        d = self.data
        row = d.rows[index]
        brk = d.breaks[index]
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f" #{index} ", style="bold reverse")
        eng = d.engines
        t.append(f" {eng.cause(index, brk.cause)}", style="bold yellow")
        src = int(d.analysis.unlimited.prefix_source[index])
        if eng.is_default:
            t.append(f" · prefix {row.prefix_pct:.1f}%" + (f" from #{src}" if src >= 0 else ""), style="green")
            t.append(f" · substring {row.substring_pct:.1f}%", style="cyan")
            t.append(f" · lost {brk.tokens_lost:,}")
        else:  # the engine and pool shown (core.explorer_engines)
            f, n = eng.figures(index), row.input_tokens or 1
            t.append(f" · {eng.active}: " + ("rejected" if f.rejected else f"prefix {100 * f.prefix / n:.1f}%"),
                     style="green")
            if f.substring is not None and not f.rejected:
                t.append(f" · substring {100 * f.substring / n:.1f}%", style="cyan")
            evicted = 0 if f.rejected else eng.result().evicted(eng.pool(), index)
            if evicted:
                t.append(f" · evicted {evicted:,}")
        usage = d.usage(index)
        if usage is not None:
            t.append(f" · provider cached {usage.cached_tokens:,} of {usage.prompt_tokens:,}", style="magenta")
        t.append(f" · in {row.input_tokens:,} out {row.output_tokens:,} · line {d.trace.requests[index].line}")
        self.update(t)
