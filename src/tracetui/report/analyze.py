"""`tracetui analyze`: the explorer's figures, headless (rich tables, a plotext chart, CSV,
TSV, Markdown or JSON), for one trace or (`--each`) several and a summary of them."""

from __future__ import annotations

import argparse

from ..core.kvmodels import KVModel
from ..core.pipeline import Settings
from ..core.result import TraceResult
from .document import to_json
from .engines import engines_data, is_default, losses_table
from .matches import check_log_path, write_matches
from .output import Data, make_console, output_format, print_json, print_table, rich_table, write
from .progress import load_result
from .requests import engine_rows_data, requests_data
from .summary import pools_data, print_chart, print_header, summary_data, summary_row


def run_analyze(args: argparse.Namespace, settings: Settings, kv: KVModel | None) -> int:
    paths = args.trace if isinstance(args.trace, list) else [args.trace]
    # Several paths are one trace (see README), or with --each a trace each and a summary.
    paths = paths if getattr(args, "each", False) else [paths if len(paths) > 1 else paths[0]]
    fmt = output_format(args)
    if args.log_matches and len(paths) > 1:
        raise ValueError("--log-matches writes the matches of one trace; not with --each")
    if args.log_matches:
        check_log_path(args.log_matches, args.trace)
    why = getattr(args, "why", False)
    docs, tables, summary = [], [], []
    console = make_console() if fmt == "table" else None
    for k, path in enumerate(paths):
        result = load_result(path, settings)
        if args.log_matches:
            write_matches(result.analysis, args.log_matches)
        # Each trace's figures are kept, not the trace: three large traces need one in memory.
        if fmt == "json":
            docs.append(to_json(result, kv, per_request=args.per_request, why=why))
        elif fmt == "table":
            if k:
                rule(console)
            render_text(result, kv, per_request=args.per_request, why=why, console=console)
        else:
            tables.append(format_tables(result, fmt, args.per_request, why, len(paths) > 1))
        if len(paths) > 1 and fmt in ("table", "markdown"):  # the study's figures: computed if not yet
            summary.append(summary_row(result))
        del result
    if fmt == "json":
        print_json(docs[0] if len(docs) == 1 else {"traces": docs})
    elif fmt == "table":
        if len(paths) > 1:
            rule(console)
            print_table(console, rich_table(summary_data(summary)))
    else:
        # Several traces: each table's rows of every trace, under one header (and, in Markdown,
        # the summary table of all traces first).
        merged = [Data(ts[0].title, ts[0].cols, [r for t in ts for r in t.rows], ts[0].caption)
                  for ts in zip(*tables)]
        if fmt == "markdown" and len(paths) > 1:
            merged.insert(0, summary_data(summary))
        write(merged, fmt)
    return 0


def format_tables(result: TraceResult, fmt: str, per_request: bool, why: bool, many: bool) -> list[Data]:
    """The tables of --output csv / tsv / markdown. CSV and TSV hold one table: the most
    detailed one asked for (per request with --per-request, else the breakers with --why,
    else the pools); Markdown holds every one."""
    out = []
    default = is_default(result)  # else each engine's pools and rows (no study replayed for them)
    if fmt == "markdown" or not (per_request or why):
        out.append(pools_data(result) if default else engines_data(result))
    if per_request:
        out.append(requests_data(result, why) if default else engine_rows_data(result, why))
    if why and (fmt == "markdown" or not per_request):
        from .why import breakers_data

        out.append(breakers_data(result.breakers))
    if why and fmt == "markdown":
        from .why import sessions_data

        out.append(sessions_data(result.sessions))
    if fmt != "markdown":
        out = out[:1]
    return [d.with_trace(result.trace.name) for d in out] if many else out


def render_text(result: TraceResult, kv: KVModel | None, *, per_request: bool = False, why: bool = False,
                console=None) -> None:
    from .why import render_why

    console = console or make_console()
    print_header(console, result, kv, usage_shown=per_request or why)
    if not is_default(result):
        print_table(console, rich_table(engines_data(result)))
        if per_request:
            print_table(console, rich_table(engine_rows_data(result)))
        if why:
            splits = result.loss_splits
            if splits:
                console.print(losses_table(result, splits))
            render_why(console, result)
        return
    print_table(console, rich_table(pools_data(result)))
    print_chart(console, result)
    if per_request:
        print_table(console, rich_table(requests_data(result, why)))
    if why:
        render_why(console, result)


def rule(console) -> None:
    """The line between two traces: the terminal's width, or 80 columns on a pipe (whose
    console is 10,000 wide so that no table is cut: a rule that wide fills pages of `less`)."""
    if console.width >= 10 ** 4:
        console.print("─" * 80, markup=False, highlight=False)
    else:
        console.rule()
