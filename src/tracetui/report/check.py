"""`tracetui check`: a CI gate on hit rates (exit 0 when every threshold holds, 1 when not)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from ..core.display import display_text
from ..core.engines import PREFIX_ONLY
from ..core.pipeline import Settings
from .output import make_console, print_json, print_table
from .progress import load_result
from .why import breakers_json, breakers_table


class GateUsageError(ValueError):
    pass


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
    result = load_result(args.trace, settings)
    loaded = result.loaded
    a = loaded.lengths  # another engine's gate never runs the study
    engine_pools = loaded.result(engine).pools
    study_pools = loaded.analysis.pools if engine == "study" else (None,) * len(engine_pools)
    pools, checks = [], []
    for size, pool, study_pool in zip(sizes, engine_pools, study_pools):
        rates = {"prefix": pool.prefix_rate, "substring": pool.substring_rate,
                 "combined": loaded.analysis.combined_rate if size.unlimited and engine == "study" else None}
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
            ranked = result.pool_breakers(study_pool) if engine == "study" else result.breakers
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
