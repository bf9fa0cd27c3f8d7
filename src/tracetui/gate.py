"""`tracetui check` (a CI gate on hit rates) and `tracetui compare` (two traces side by side)."""

from __future__ import annotations

import argparse
from typing import Any

from .core.diagnose import block_kind_stats, diagnose, rank_breakers
from .core.display import display_text
from .core.engines.study import parse_pool_size
from .core.pipeline import Loaded, Settings, load
from .report import _DelayedProgress, _pct, make_console, print_json
from .why import breakers_json, breakers_table


class GateUsageError(ValueError):
    pass


def _load(path: str, settings: Settings) -> Loaded:
    progress = _DelayedProgress()
    try:
        return load(path, settings, progress=progress)
    finally:
        progress.close()


# --------------------------------------------------------------------------- check

def run_check(args: argparse.Namespace, settings: Settings) -> int:
    thresholds = {"prefix": args.min_prefix, "substring": args.min_substring, "combined": args.min_combined}
    thresholds = {k: v for k, v in thresholds.items() if v is not None}
    if not thresholds:
        raise GateUsageError("give at least one of --min-prefix, --min-substring, --min-combined")
    for name, v in thresholds.items():
        if not 0 <= v <= 1:
            raise GateUsageError(f"--min-{name} is a rate between 0 and 1, not {v}")
    size = parse_pool_size(args.pool_size, settings.tokens_per_gb)
    if "combined" in thresholds and not size.unlimited:
        raise GateUsageError("--min-combined is only defined for the unlimited pool")
    settings = Settings(settings.tokenizer, (args.pool_size,), settings.chunk_size, settings.tokens_per_gb)
    loaded = _load(args.trace, settings)
    a = loaded.analysis
    pool = a.pools[0]
    rates = {"prefix": pool.prefix_rate, "substring": pool.substring_rate,
             "combined": a.combined_rate if size.unlimited else None}
    results = []
    for name, minimum in thresholds.items():
        value = rates[name]
        # Judged on the value as reported: a threshold copied from the report holds.
        shown = round(value, 6)
        results.append({"metric": name, "value": shown, "minimum": minimum, "ok": shown >= minimum - 1e-12})
    ok = all(r["ok"] for r in results)
    ranked = [] if ok else rank_breakers(diagnose(loaded))
    if args.json:
        print_json({"trace": loaded.trace.name, "ok": ok, "pool_gb": size.gb, "capacity_tokens": size.capacity,
                     "requests": a.requests, "input_tokens": a.input_tokens,
                     "prefix_hit_rate": round(rates["prefix"], 6), "substring_hit_rate": round(rates["substring"], 6),
                     "combined_hit_rate": None if rates["combined"] is None else round(rates["combined"], 6),
                     "checks": results, "warnings": list(loaded.trace.warnings),
                     "top_breakers": breakers_json(ranked[:5])})
        return 0 if ok else 1
    console = make_console()
    pool_text = "unlimited pool" if size.unlimited else f"{size.label} GB pool ({size.capacity:,} tokens)"
    # markup=False: the trace's name is a file name, and "[x]" in it is not rich markup.
    console.print(f"{display_text(loaded.trace.name)}: {a.requests:,} requests, {a.input_tokens:,} input tokens, {pool_text}",
                  highlight=False, markup=False)
    for r in results:
        mark = "[green]ok  [/]" if r["ok"] else "[red]FAIL[/]"
        rel = ">=" if r["ok"] else "<"
        console.print(f"{mark} {r['metric']} hit rate {100 * r['value']:.2f}% {rel} {100 * r['minimum']:.2f}%")
    if not ok and ranked:
        console.print(breakers_table(ranked, limit=5, title="Top prefix breakers"))
    return 0 if ok else 1


# --------------------------------------------------------------------------- compare

def _delta(a: float, b: float) -> str:
    d = 100 * (b - a)
    return f"{d:+.2f}"


def run_compare(args: argparse.Namespace, settings: Settings) -> int:
    la = _load(args.trace, settings)
    lb = _load(args.other, settings)
    ka, kb = block_kind_stats(la), block_kind_stats(lb)
    ra, rb = rank_breakers(diagnose(la)), rank_breakers(diagnose(lb))
    keys_a = {(g.cause, g.block, g.description) for g in ra}
    keys_b = {(g.cause, g.block, g.description) for g in rb}
    only_a = [g for g in ra if (g.cause, g.block, g.description) not in keys_b]
    only_b = [g for g in rb if (g.cause, g.block, g.description) not in keys_a]
    pools = []
    for pa, pb in zip(la.analysis.pools, lb.analysis.pools):
        pools.append({"gb": pa.size.gb, "capacity_tokens": pa.size.capacity,
                      "a": {"prefix_hit_rate": round(pa.prefix_rate, 6), "substring_hit_rate": round(pa.substring_rate, 6)},
                      "b": {"prefix_hit_rate": round(pb.prefix_rate, 6), "substring_hit_rate": round(pb.substring_rate, 6)}})
    kinds = []
    for kind in sorted(set(ka) | set(kb)):
        row: dict[str, Any] = {"block": kind}
        for side, stats in (("a", ka), ("b", kb)):
            t, p, s = stats.get(kind, (0, 0, 0))
            row[side] = {"tokens": t, "prefix_hit_rate": round(p / t, 6) if t else None,
                         "substring_hit_rate": round(s / t, 6) if t else None}
        kinds.append(row)
    if args.json:
        print_json({"a": {"trace": la.trace.name, "requests": la.analysis.requests,
                           "input_tokens": la.analysis.input_tokens, "combined_hit_rate": round(la.analysis.combined_rate, 6)},
                     "b": {"trace": lb.trace.name, "requests": lb.analysis.requests,
                           "input_tokens": lb.analysis.input_tokens, "combined_hit_rate": round(lb.analysis.combined_rate, 6)},
                     "pools": pools, "block_kinds": kinds,
                     "breakers_only_in_a": breakers_json(only_a), "breakers_only_in_b": breakers_json(only_b)})
        return 0
    from rich.table import Table
    from rich.text import Text

    console = make_console()
    console.print(f"A = {display_text(la.trace.name)} ({la.analysis.requests:,} requests)   "
                  f"B = {display_text(lb.trace.name)} ({lb.analysis.requests:,} requests)", highlight=False, markup=False)
    t = Table(title="Hit rate by pool size", title_justify="left")
    for col in ("pool (GB)", "prefix A", "prefix B", "Δ pts", "substring A", "substring B", "Δ pts"):
        t.add_column(col, justify="right")
    for pa, pb in zip(la.analysis.pools, lb.analysis.pools):
        t.add_row(pa.size.label, _pct(pa.prefix_rate), _pct(pb.prefix_rate), _delta(pa.prefix_rate, pb.prefix_rate),
                  _pct(pa.substring_rate), _pct(pb.substring_rate), _delta(pa.substring_rate, pb.substring_rate))
    console.print(t)
    kt = Table(title="By block kind (unlimited pool)", title_justify="left")
    for col in ("block", "tokens A", "tokens B", "prefix A", "prefix B", "substring A", "substring B"):
        kt.add_column(col, justify="left" if col == "block" else "right")
    for row in kinds:
        a_, b_ = row["a"], row["b"]
        kt.add_row(Text(display_text(row["block"])), f"{a_['tokens']:,}", f"{b_['tokens']:,}", _pct(a_["prefix_hit_rate"]),
                   _pct(b_["prefix_hit_rate"]), _pct(a_["substring_hit_rate"]), _pct(b_["substring_hit_rate"]))
    console.print(kt)
    console.print(breakers_table(only_a, title="Breakers only in A") if only_a else "No breaker only in A.")
    console.print(breakers_table(only_b, title="Breakers only in B") if only_b else "No breaker only in B.")
    return 0
