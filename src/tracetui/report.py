"""`tracetui analyze`: the explorer's figures, headless (rich tables, a plotext chart, JSON)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import orjson

from .charts import hit_rate_chart
from .core.display import display_text, json_safe
from .core.engines.study import Analysis
from .core.kvmodels import GB, KVModel
from .core.pipeline import Loaded, Settings, load

_STAGES = {"read": "reading", "tokenize": "tokenizing", "analyze": "replaying pools"}


class _DelayedProgress:
    """A progress bar on stderr that only appears when the work takes over a second."""

    def __init__(self, delay: float = 1.0) -> None:
        self.start = time.monotonic()
        self.delay = delay
        self.enabled = sys.stderr.isatty() and not os.environ.get("TRACETUI_NO_PROGRESS")
        self._progress = None
        self._tasks: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int, note: str = "") -> None:
        if not self.enabled or time.monotonic() - self.start < self.delay:
            return
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                      TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._progress.start()
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(_STAGES.get(stage, stage), total=total or None)
        self._progress.update(self._tasks[stage], completed=done, total=total or None)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def run_analyze(args: argparse.Namespace, settings: Settings, kv: KVModel | None) -> int:
    if args.log_matches:
        check_log_path(args.log_matches, args.trace)
    progress = _DelayedProgress()
    try:
        loaded = load(args.trace, settings, progress=progress)
    finally:
        progress.close()
    if args.log_matches:
        write_matches(loaded.analysis, args.log_matches)
    breaks = None
    if getattr(args, "why", False):
        from .core.diagnose import diagnose

        breaks = diagnose(loaded)
    if args.json:
        print_json(to_json(loaded, kv, per_request=args.per_request, breaks=breaks))
        return 0
    render_text(loaded, kv, per_request=args.per_request, breaks=breaks)
    return 0


def print_json(doc: dict[str, Any]) -> None:
    """`doc` on stdout, indented (the --json output of analyze, check and compare), with the
    characters a terminal would act on written as JSON escapes (see json_safe): the same values."""
    sys.stdout.buffer.write(json_safe(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()).encode() + b"\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------- JSON

def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def bytes_per_token(settings: Settings, kv: KVModel | None) -> float:
    return kv.bytes_per_token if kv else GB / settings.tokens_per_gb


def to_json(loaded: Loaded, kv: KVModel | None, *, per_request: bool = False, breaks=None) -> dict[str, Any]:
    a, trace, s = loaded.analysis, loaded.trace, loaded.settings
    pools = []
    for p in a.pools:
        pools.append({
            "gb": p.size.gb,
            "capacity_tokens": p.size.capacity,
            "prefix_hit_rate": _r(p.prefix_rate),
            "substring_hit_rate": _r(p.substring_rate),
            "combined_hit_rate": _r(a.combined_rate) if p.size.unlimited else None,
        })
    doc: dict[str, Any] = {
        "trace": trace.name,
        "requests": a.requests,
        "sessions": len(trace.sessions),
        "input_tokens": a.input_tokens,
        "output_tokens": a.output_tokens,
        "mean_input_tokens": _r(a.input_tokens / a.requests) if a.requests else 0.0,
        "tokenizer": None if trace.hashed else loaded.tokenizer.name,
        "tokenizer_note": loaded.tokenizer_note or None,
        "block_size": trace.block_size,
        "formats": list(trace.formats),
        "chunk_size": a.chunk_size,
        "tokens_per_gb": s.tokens_per_gb,
        "kv_model": {"name": kv.name, "dtype": kv.dtype, "bytes_per_token": kv.bytes_per_token} if kv else None,
        "bytes_per_token": round(bytes_per_token(s, kv), 3),
        "warnings": warnings(loaded, usage_shown=per_request or breaks is not None),
        "unlimited": {
            "prefix_hit_rate": _r(a.unlimited.prefix_rate),
            "substring_hit_rate": _r(a.unlimited.substring_rate),
            "combined_hit_rate": _r(a.combined_rate),
        },
        "pools": pools,
    }
    if breaks is not None:
        from .why import why_json

        doc.update(why_json(loaded, breaks))
    if per_request:
        doc["requests_detail"] = requests_detail(loaded, breaks)
    return doc


def warnings(loaded: Loaded, *, usage_shown: bool) -> list[str]:
    """The trace's warnings, and (when provider usage is shown) the requests whose usage was ignored."""
    from .core.diagnose import usage_warning

    out = list(loaded.trace.warnings)
    usage = usage_warning(loaded) if usage_shown else None
    return out + [usage] if usage else out


def requests_detail(loaded: Loaded, breaks=None, *, pools: bool = True) -> list[dict[str, Any]]:
    """Per-request figures of `analyze --per-request` (`pools`: with each pool's, for the JSON)."""
    from .core.diagnose import provider_usage
    from .why import break_json

    a = loaded.analysis
    rows = []
    t0 = _first_timestamp(loaded)
    for i, r in enumerate(loaded.trace.requests):
        rows.append({
            "index": i,
            "line": r.line,
            "session_id": r.session_id,
            "model": r.model,
            "timestamp": r.timestamp,
            "relative_time": None if r.timestamp is None or t0 is None else round(r.timestamp - t0, 6),
            "input_tokens": int(a.input_lens[i]),
            "output_tokens": int(a.output_lens[i]),
            "prefix_hit": int(a.unlimited.prefix_hits[i]),
            "prefix_source": int(a.unlimited.prefix_source[i]),
            "substring_hit": int(a.unlimited.substring_hits[i]),
            "combined_hit": int(a.combined_hits[i]),
        })
        if pools:
            rows[-1]["pools"] = [{"gb": p.size.gb, "prefix_hit": int(p.prefix_hits[i]),
                                  "prefix_source": int(p.prefix_source[i]), "substring_hit": int(p.substring_hits[i])}
                                 for p in a.pools]
        u = provider_usage(r.usage, i)
        if u is not None:
            rows[-1]["provider_usage"] = {"provider": u.provider, "prompt_tokens": u.prompt_tokens,
                                          "cached_tokens": u.cached_tokens,
                                          "cache_write_tokens": u.cache_write_tokens}
        if breaks is not None:
            rows[-1]["break"] = break_json(breaks[i])
    return rows


def _first_timestamp(loaded: Loaded) -> float | None:
    ts = [r.timestamp for r in loaded.trace.requests if r.timestamp is not None]
    return min(ts) if ts else None


# Bytes per line item of --log-matches (`{"MatchStart":1234,...,"PrevMatchEnd":56789},`), and
# per request line; past LOG_WARN_BYTES the size is announced on stderr before writing.
MATCH_BYTES = 90
LOG_WARN_BYTES = 100 << 20


def check_log_path(path: str, traces: str | list[str]) -> None:
    """Refuse a --log-matches path that is one of the trace's files: opening it for writing
    would empty that file before it is read."""
    from .core.formats.loader import trace_files
    from .core.model import TraceError

    try:
        files = trace_files([traces] if isinstance(traces, str) else traces)
    except TraceError:  # a folder with no trace file: the read says so
        return
    for trace in files:
        if trace == "-":
            continue
        try:
            same = os.path.samefile(path, trace)
        except (OSError, ValueError):  # either does not exist (yet): not the same file
            same = False
        if same:
            raise ValueError(f"--log-matches {path} is the trace itself: give another file")


def write_matches(a: Analysis, path: str) -> None:
    """One JSON line per request, in the seed study's --log-matches format."""
    estimate = a.match_count() * MATCH_BYTES + a.requests * 60
    if estimate > LOG_WARN_BYTES:
        print(f"tracetui: warning: --log-matches writes about {estimate / 1e6:,.0f} MB to {path} "
              "(one item per matching (window, chunk) pair)", file=sys.stderr)
    try:
        with open(path, "wb") as f:
            for i in range(a.requests):
                matches = [{"MatchStart": s, "MatchEnd": e, "PrevStep": j, "PrevMatchStart": ps,
                            "PrevMatchEnd": pe} for s, e, j, ps, pe in a.iter_matches(i)] if i else []
                f.write(orjson.dumps({"StepID": i, "InputLen": int(a.input_lens[i]),
                                      "OutputLen": int(a.output_lens[i]), "Matches": matches}) + b"\n")
    except OSError as exc:  # a full disk (/dev/full), a directory, no permission
        raise ValueError(f"cannot write {path}: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------- text

def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}%"


def make_console():
    """A rich Console whose closed pipe surfaces as BrokenPipeError (rich exits 1 itself)."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError

    return _Console()


def render_text(loaded: Loaded, kv: KVModel | None, *, per_request: bool = False, breaks=None) -> None:
    from rich.table import Table
    from rich.text import Text

    console = make_console()
    a, trace, s = loaded.analysis, loaded.trace, loaded.settings
    # Whatever comes from the trace or its path goes through display_text (no control reaches
    # the terminal) into a Text, not a str ("[/x]" there is not rich markup).
    for w in warnings(loaded, usage_shown=per_request or breaks is not None):
        console.print(Text.assemble(("warning:", "yellow"), " ", display_text(w)))
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("trace", Text(display_text(trace.name)))
    summary.add_row("requests", f"{a.requests:,}")
    summary.add_row("sessions", f"{len(trace.sessions):,}")
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
    console.print(summary)
    console.print()

    table = Table(title="Hit rate by pool size", title_justify="left")
    table.add_column("pool (GB)", justify="right")
    table.add_column("capacity (tokens)", justify="right")
    table.add_column("prefix", justify="right", style="green")
    table.add_column("substring", justify="right", style="cyan")
    table.add_column("combined", justify="right")
    for p in a.pools:
        table.add_row(p.size.label, "unlimited" if p.size.unlimited else f"{p.size.capacity:,}",
                      _pct(p.prefix_rate), _pct(p.substring_rate),
                      _pct(a.combined_rate) if p.size.unlimited else "–")
    console.print(table)
    if len(a.pools) > 1:
        chart = hit_rate_chart(a, width=min(console.width, 100), height=18,
                               color=console.color_system is not None)
        if chart:
            console.print()
            console.file.flush()
            sys.stdout.write(chart + "\n")
            sys.stdout.flush()

    if per_request:
        rt = Table(title="Per request (unlimited pool)", title_justify="left")
        cols = ["#", "line", "session", "input", "output", "prefix", "from", "substring", "combined"]
        if breaks is not None:
            cols += ["cause", "break block", "lost"]
        for col in cols:
            rt.add_column(col, justify="left" if col in ("session", "cause", "break block") else "right")
        for row in requests_detail(loaded, breaks, pools=False):
            n = max(row["input_tokens"], 1)
            cells = [str(row["index"]), str(row["line"]), Text(display_text(str(row["session_id"] or "")[:14])),
                     f"{row['input_tokens']:,}", f"{row['output_tokens']:,}",
                     _pct(row["prefix_hit"] / n), "–" if row["prefix_source"] < 0 else str(row["prefix_source"]),
                     _pct(row["substring_hit"] / n), _pct(row["combined_hit"] / n)]
            if breaks is not None:
                b = row["break"]
                cells += [Text(b["cause"]), Text(display_text(b["break_block"] or "–")), f"{b['tokens_lost']:,}"]
            rt.add_row(*cells)
        console.print(rt)
    if breaks is not None:
        from .why import render_why

        render_why(console, loaded, breaks)

