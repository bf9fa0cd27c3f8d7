"""The trace's summary in the headless report: its header, the hit rate per pool size (table
and chart), and the one-line-per-trace table of `analyze --each`."""

from __future__ import annotations

from ..core.display import display_text
from ..core.kvmodels import GB, KVModel
from ..core.pipeline import Settings
from ..core.result import TraceResult
from .charts import hit_rate_chart
from .engines import engine_notes
from .output import LABEL, RATE, TEXT, Col, Data

SUBSTRING_NOTE = "substring: what a substring cache reuses, the prefix included"
"""Under every table with a substring figure: one meaning on every screen (see README)."""


def bytes_per_token(settings: Settings, kv: KVModel | None) -> float:
    return kv.bytes_per_token if kv else GB / settings.tokens_per_gb


def print_header(console, result: TraceResult, kv: KVModel | None, *, usage_shown: bool) -> None:
    """The warnings, then the trace's figures and settings, one per line."""
    from rich.table import Table
    from rich.text import Text

    loaded = result.loaded
    a, trace, s = loaded.lengths, loaded.trace, loaded.settings
    # Whatever comes from the trace or its path goes through display_text (no control reaches
    # the terminal) into a Text, not a str ("[/x]" there is not rich markup).
    for w in result.warnings(usage_shown=usage_shown):
        console.print(Text.assemble(("warning:", "yellow"), " ", display_text(w)))
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("trace", Text(display_text(trace.name)))
    summary.add_row("requests", f"{a.requests:,}")
    summary.add_row("sessions", f"{trace.session_count:,}")
    summary.add_row("input tokens", f"{a.input_tokens:,}")
    summary.add_row("output tokens", f"{a.output_tokens:,}")
    summary.add_row("mean input length", f"{a.input_tokens / max(a.requests, 1):,.1f} tokens")
    if trace.hashed:
        summary.add_row("blocks", Text(f"{trace.block_size} tokens (hashed trace: no text, no tokenizer; "
                                       "outputs take room in the pool and are never hit)"))
    else:
        summary.add_row("tokenizer", Text(display_text(loaded.tokenizer.name)))
    if loaded.tokenizer_note:  # it names the trace's model
        summary.add_row("", Text(display_text(loaded.tokenizer_note), style="yellow"))
    if trace.formats and trace.formats != ("prompt",):
        template = "" if trace.hashed else f" (template {s.template})"
        summary.add_row("format", Text(", ".join(trace.formats) + template))
    kv_text = f"{kv.name} ({kv.dtype})" if kv else "default"
    summary.add_row("KV bytes per token", f"{bytes_per_token(s, kv):,.0f} ({kv_text}; "
                                          f"{s.tokens_per_gb:,.0f} tokens per GB)")
    summary.add_row("chunk size", f"1 block ({a.chunk_size} tokens)" if trace.hashed else f"{a.chunk_size} tokens")
    for note in engine_notes(result):
        summary.add_row("engine", Text(note))
    console.print(summary)
    console.print()


def pools_data(result: TraceResult) -> Data:
    a = result.analysis
    d = Data("Hit rate by pool size", [Col("pool (GB)", "pool_gb", LABEL, show="human"),
                                       Col("pool (GB)", "pool_gb", show="machine"),
                                       Col("capacity (tokens)", "capacity_tokens", LABEL, show="human"),
                                       Col("capacity (tokens)", "capacity_tokens", show="machine"),
                                       Col("prefix", "prefix_hit_rate", RATE, "green"),
                                       Col("substring", "substring_hit_rate", RATE, "cyan"),
                                       Col("combined", "combined_hit_rate", RATE)], caption=SUBSTRING_NOTE)
    for p in a.pools:
        d.rows.append([p.size.label, p.size.gb, "unlimited" if p.size.unlimited else f"{p.size.capacity:,}",
                       p.size.capacity, p.prefix_rate, p.substring_rate,
                       a.combined_rate if p.size.unlimited else None])
    return d


def print_chart(console, result: TraceResult) -> None:
    """The hit rate per pool size as a plotext chart (with more than one pool)."""
    a = result.analysis
    if len(a.pools) <= 1:
        return
    chart = hit_rate_chart(a, width=min(console.width, 100), height=18, color=console.color_system is not None)
    if chart:
        console.print()
        console.file.flush()
        console.file.write(chart + "\n")
        console.file.flush()


def summary_data(rows: list[tuple[str, int, int, int, float, float, float]]) -> Data:
    """One line per trace of `analyze A B C --each` (unlimited pool)."""
    return Data("Traces (unlimited pool)", [Col("trace", "trace", TEXT), Col("requests", "requests"),
                                            Col("sessions", "sessions"), Col("input tokens", "input_tokens"),
                                            Col("prefix", "prefix_hit_rate", RATE, "green"),
                                            Col("substring", "substring_hit_rate", RATE, "cyan"),
                                            Col("combined", "combined_hit_rate", RATE)],
                [list(r) for r in rows], caption=SUBSTRING_NOTE)


def summary_row(result: TraceResult) -> tuple[str, int, int, int, float, float, float]:
    a = result.analysis
    return (result.trace.name, a.requests, result.trace.session_count, a.input_tokens, a.unlimited.prefix_rate,
            a.unlimited.substring_rate, a.combined_rate)
