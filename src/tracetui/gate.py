"""`tracetui check` (a CI gate on hit rates) and `tracetui compare` (two traces side by side)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from .core.diagnose import block_kind_stats, diagnose, pool_breaks, rank_breakers
from .core.display import display_text
from .core.engines import PREFIX_ONLY
from .core.pipeline import Loaded, Settings, load
from .report import SUBSTRING_NOTE, _DelayedProgress, _pct, make_console, print_json
from .tables import print_table
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
    engine = settings.engines[0]
    if settings.pool_tokens is None:
        settings = replace(settings, pool_sizes=tuple(dict.fromkeys(args.pool_sizes or ["unlimited"])))
    sizes = settings.sizes()
    if "combined" in thresholds and not any(z.unlimited for z in sizes):
        raise GateUsageError("--min-combined is only defined for the unlimited pool")
    if engine != "study" and ("combined" in thresholds or ("substring" in thresholds and engine in PREFIX_ONLY)):
        raise GateUsageError(f"the {engine} engine has no {'combined' if 'combined' in thresholds else 'substring'}"
                             " hit rate")
    loaded = _load(args.trace, settings)
    a = loaded.analysis
    engine_pools = loaded.result(engine).pools
    breaks = None
    pools, checks = [], []
    for size, pool, study_pool in zip(sizes, engine_pools, a.pools):
        rates = {"prefix": pool.prefix_rate, "substring": pool.substring_rate,
                 "combined": a.combined_rate if size.unlimited and engine == "study" else None}
        results = []
        for name, minimum in thresholds.items():
            if rates[name] is None:
                continue  # combined: the unlimited pool only
            # Judged on the value as reported: a threshold copied from the report holds.
            shown = round(rates[name], 6)
            results.append({"pool_gb": size.gb, "metric": name, "value": shown, "minimum": minimum,
                            "ok": shown >= minimum - 1e-12})
        ok = all(r["ok"] for r in results)
        ranked = []
        if not ok:
            # That pool's breakers: a smaller pool also breaks where it evicted the longer prefix
            # (the study's pools; another engine's are ranked on the unlimited pool's breaks).
            breaks = breaks if breaks is not None else diagnose(loaded)
            ranked = rank_breakers(pool_breaks(loaded, study_pool, breaks) if engine == "study" else breaks)
        checks += results
        pools.append((size, rates, results, ok, ranked, pool))
    ok = all(p[3] for p in pools)
    if args.json:
        print_json({"trace": loaded.trace.name, "ok": ok, "requests": a.requests, "input_tokens": a.input_tokens,
                    **({} if engine == "study" else {"engine": engine}),
                    "checks": checks, "warnings": list(loaded.trace.warnings),
                    "pools": [{"gb": size.gb, "capacity_tokens": size.capacity, "ok": pok,
                               **({} if engine == "study" else {"blocks": pool.blocks,
                                                                 "rejected": pool.rejected_count}),
                               **{f"{k}_hit_rate": None if v is None else round(v, 6) for k, v in rates.items()},
                               "top_breakers": breakers_json(ranked[:5])}
                              for size, rates, _, pok, ranked, pool in pools]})
        return 0 if ok else 1
    console = make_console()
    # markup=False: the trace's name is a file name, and "[x]" in it is not rich markup.
    def pool_text(size) -> str:
        text = "unlimited pool" if size.unlimited else f"{size.label} GB pool ({size.capacity:,} tokens)"
        return text if engine == "study" else f"{text}, {engine} engine"

    one = len(pools) == 1  # one pool: named once, in the first line
    console.print(f"{display_text(loaded.trace.name)}: {a.requests:,} requests, {a.input_tokens:,} input tokens"
                  + (f", {pool_text(sizes[0])}" if one else ""), highlight=False, markup=False)
    for size, _, results, pok, ranked, _ in pools:
        for r in results:
            mark = "[green]ok  [/]" if r["ok"] else "[red]FAIL[/]"
            rel = ">=" if r["ok"] else "<"
            console.print(f"{mark} {'' if one else pool_text(size) + ': '}{r['metric']} hit rate "
                          f"{100 * r['value']:.2f}% {rel} {100 * r['minimum']:.2f}%")
        if ranked:
            title = "Top prefix breakers" + ("" if one else f", {pool_text(size)}")
            print_table(console, breakers_table(ranked, limit=5, title=title))
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
    engine_sets = _engine_pairs(la, lb)
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
                     **({"pools": pools} if engine_sets is None else {"engines": engine_sets}),
                     "block_kinds": kinds,
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
    print_table(console, t if engine_sets is None else _engines_compare_table(engine_sets))
    kt = Table(title="By block kind (unlimited pool)", title_justify="left", caption=SUBSTRING_NOTE,
               caption_justify="left")
    for col in ("block", "tokens A", "tokens B", "prefix A", "prefix B", "substring A", "substring B"):
        kt.add_column(col, justify="left" if col == "block" else "right")
    for row in kinds:
        a_, b_ = row["a"], row["b"]
        kt.add_row(Text(display_text(row["block"])), f"{a_['tokens']:,}", f"{b_['tokens']:,}", _pct(a_["prefix_hit_rate"]),
                   _pct(b_["prefix_hit_rate"]), _pct(a_["substring_hit_rate"]), _pct(b_["substring_hit_rate"]))
    print_table(console, kt)
    for side, only in (("A", only_a), ("B", only_b)):
        if only:
            print_table(console, breakers_table(only, title=f"Breakers only in {side}"))
        else:
            console.print(f"No breaker only in {side}.")
    return 0


def _engine_pairs(la: Loaded, lb: Loaded) -> list[dict[str, Any]] | None:
    """Each engine's pools for A and B (None with the default engine alone: today's `pools`)."""
    if la.settings.engines == ("study",):
        return None
    out = []
    for ra, rb in zip(la.results, lb.results):
        rows = []
        for pa, pb in zip(ra.pools, rb.pools):
            rows.append({"gb": pa.size.gb, "capacity_tokens": pa.size.capacity, "blocks": pa.blocks,
                         **{side: {"prefix_hit_rate": round(p.prefix_rate, 6),
                                   "substring_hit_rate": None if p.substring_rate is None else round(p.substring_rate, 6),
                                   "rejected": p.rejected_count} for side, p in (("a", pa), ("b", pb))}})
        out.append({"engine": ra.engine, "pools": rows})
    return out


def _engines_compare_table(sets: list[dict[str, Any]]):
    from rich.table import Table

    t = Table(title="Hit rate by pool size, by engine", title_justify="left")
    for col in ("pool (GB)", "tokens", "engine", "prefix A", "prefix B", "Δ pts", "substring A", "substring B"):
        t.add_column(col, justify="left" if col == "engine" else "right")
    for k in range(len(sets[0]["pools"])):
        for j, e in enumerate(sets):
            p = e["pools"][k]
            a, b = p["a"], p["b"]
            t.add_row(("∞" if p["gb"] is None else f"{p['gb']:.4g}") if j == 0 else "",
                      ("unlimited" if p["capacity_tokens"] is None else f"{p['capacity_tokens']:,}") if j == 0 else "",
                      e["engine"], _pct(a["prefix_hit_rate"]), _pct(b["prefix_hit_rate"]),
                      _delta(a["prefix_hit_rate"], b["prefix_hit_rate"]), _pct(a["substring_hit_rate"]),
                      _pct(b["substring_hit_rate"]), end_section=j == len(sets) - 1 and len(sets) > 1)
    return t
