"""`tracetui compare A B`: two traces side by side (hit rates per pool size, per block kind,
and the breakers found in only one), as rich tables, CSV, TSV, Markdown or JSON."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..core.display import display_text
from ..core.pipeline import Settings
from ..core.result import TraceResult
from .output import (DELTA, LABEL, RATE, TEXT, Col, Data, make_console, output_format, print_json, print_table,
                     rich_table, write)
from .progress import load_result
from .summary import SUBSTRING_NOTE
from .why import breakers_data, breakers_json, breakers_table


def run_compare(args: argparse.Namespace, settings: Settings) -> int:
    fmt = output_format(args)
    la, lb = load_result(args.trace, settings), load_result(args.other, settings)
    ka, kb = la.block_kinds, lb.block_kinds
    ra, rb = la.breakers, lb.breakers
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
    if fmt == "json":
        print_json({"a": _side_json(la), "b": _side_json(lb),
                    **({"pools": pools} if engine_sets is None else {"engines": engine_sets}),
                    "block_kinds": kinds,
                    "breakers_only_in_a": breakers_json(only_a), "breakers_only_in_b": breakers_json(only_b)})
        return 0
    rates = pools_data(la, lb) if engine_sets is None else engines_data(engine_sets)
    if fmt in ("csv", "tsv"):  # one table a file: the hit rates
        write([rates], fmt)
        return 0
    kinds_table = kinds_data(kinds)
    heading = (f"A = {display_text(la.trace.name)} ({la.analysis.requests:,} requests)   "
               f"B = {display_text(lb.trace.name)} ({lb.analysis.requests:,} requests)")
    if fmt == "markdown":
        sys.stdout.write(heading + "\n\n")
        write([rates, kinds_table, breakers_data(only_a, title="Breakers only in A"),
               breakers_data(only_b, title="Breakers only in B")], fmt)
        return 0
    console = make_console()
    console.print(heading, highlight=False, markup=False)  # markup=False: "[x]" in a file name is no markup
    print_table(console, rich_table(rates))
    print_table(console, rich_table(kinds_table))
    for side, only in (("A", only_a), ("B", only_b)):
        if only:
            print_table(console, breakers_table(only, title=f"Breakers only in {side}"))
        else:
            console.print(f"No breaker only in {side}.")
    return 0


def _side_json(r: TraceResult) -> dict[str, Any]:
    a = r.analysis
    return {"trace": r.trace.name, "requests": a.requests, "input_tokens": a.input_tokens,
            "combined_hit_rate": round(a.combined_rate, 6)}


def _rate_cols(delta_substring: bool) -> list[Col]:
    return [Col("prefix A", "a_prefix_hit_rate", RATE), Col("prefix B", "b_prefix_hit_rate", RATE),
            Col("Δ pts", "prefix_delta", DELTA), Col("substring A", "a_substring_hit_rate", RATE),
            Col("substring B", "b_substring_hit_rate", RATE)] + (
        [Col("Δ pts", "substring_delta", DELTA)] if delta_substring else [])


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def pools_data(la: TraceResult, lb: TraceResult) -> Data:
    """The study's hit rates of A and B per pool size, and B's difference to A."""
    d = Data("Hit rate by pool size", [Col("pool (GB)", "pool_gb", LABEL, show="human"),
                                       Col("pool (GB)", "pool_gb", show="machine"),
                                       Col("capacity (tokens)", "capacity_tokens", show="machine"),
                                       *_rate_cols(delta_substring=True)])
    for pa, pb in zip(la.analysis.pools, lb.analysis.pools):
        d.rows.append([pa.size.label, pa.size.gb, pa.size.capacity, pa.prefix_rate, pb.prefix_rate,
                       _diff(pa.prefix_rate, pb.prefix_rate), pa.substring_rate, pb.substring_rate,
                       _diff(pa.substring_rate, pb.substring_rate)])
    return d


def engines_data(sets: list[dict[str, Any]]) -> Data:
    """With --engine: each pool size, the engines one under the other."""
    d = Data("Hit rate by pool size, by engine", [Col("pool (GB)", "pool_gb", LABEL, show="human"),
                                                  Col("tokens", "capacity_tokens", LABEL, show="human"),
                                                  Col("pool (GB)", "pool_gb", show="machine"),
                                                  Col("tokens", "capacity_tokens", show="machine"),
                                                  Col("engine", "engine", TEXT),
                                                  *_rate_cols(delta_substring=False)])
    ends = set()
    for k in range(len(sets[0]["pools"])):
        for j, e in enumerate(sets):
            p = e["pools"][k]
            a, b = p["a"], p["b"]
            gb = "∞" if p["gb"] is None else f"{p['gb']:.4g}"
            tokens = "unlimited" if p["capacity_tokens"] is None else f"{p['capacity_tokens']:,}"
            d.rows.append([gb if j == 0 else "", tokens if j == 0 else "", p["gb"], p["capacity_tokens"], e["engine"],
                           a["prefix_hit_rate"], b["prefix_hit_rate"],
                           _diff(a["prefix_hit_rate"], b["prefix_hit_rate"]), a["substring_hit_rate"],
                           b["substring_hit_rate"]])
            if j == len(sets) - 1 and len(sets) > 1:
                ends.add(len(d.rows) - 1)
    d.section_ends = frozenset(ends)
    return d


def kinds_data(kinds: list[dict[str, Any]]) -> Data:
    d = Data("By block kind (unlimited pool)", [Col("block", "block", TEXT), Col("tokens A", "a_tokens"),
                                                Col("tokens B", "b_tokens"),
                                                Col("prefix A", "a_prefix_hit_rate", RATE),
                                                Col("prefix B", "b_prefix_hit_rate", RATE),
                                                Col("substring A", "a_substring_hit_rate", RATE),
                                                Col("substring B", "b_substring_hit_rate", RATE)],
             caption=SUBSTRING_NOTE)
    for row in kinds:
        a, b = row["a"], row["b"]
        d.rows.append([row["block"], a["tokens"], b["tokens"], a["prefix_hit_rate"], b["prefix_hit_rate"],
                       a["substring_hit_rate"], b["substring_hit_rate"]])
    return d


def _engine_pairs(la: TraceResult, lb: TraceResult) -> list[dict[str, Any]] | None:
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
