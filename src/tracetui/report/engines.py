"""The engines' figures in the headless views: JSON result sets and a side-by-side table.

With the default engine alone (`--engine study`) every document and table is today's, byte
for byte (the study refuses nothing and has no blocks). Any other choice reports each
engine's own pools (`engine` for one, `engines` for several)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.engines import EnginePool, EngineResult, losses
from ..core.result import TraceResult
from .output import LABEL, RATE, TEXT, Col, Data, pct as _pct, rounded as _r


def is_default(result: TraceResult) -> bool:
    return result.settings.engines == ("study",)


def pool_json(p: EnginePool, combined: float | None = None) -> dict[str, Any]:
    d = {"gb": p.size.gb, "capacity_tokens": p.size.capacity, "blocks": p.blocks,
         "prefix_hit_rate": _r(p.prefix_rate), "substring_hit_rate": _r(p.substring_rate),
         "combined_hit_rate": _r(combined), "rejected": p.rejected_count}
    if p.recompute_tokens is not None:
        d["recompute_tokens"] = int(p.recompute_tokens.sum())
    return d


def result_json(res: EngineResult) -> dict[str, Any]:
    u = pool_json(res.unlimited)
    del u["gb"], u["capacity_tokens"], u["blocks"]
    return {"engine": res.engine, "block_size": res.block_size, "unlimited": u,
            "pools": [pool_json(p) for p in res.pools]}


def settings_json(result: TraceResult) -> dict[str, Any]:
    s = result.settings
    return {"context_length": s.context_length, "block_size": s.block_size, "page_size": s.page_size,
            "recompute": s.recompute}


def update_json(doc: dict[str, Any], result: TraceResult, why: bool = False) -> dict | None:
    """The engines' result sets in an `analyze --json` document, in place of the study's pools
    (to_json leaves them out then; with --why, each prefix engine's pools say how many tokens
    were lost to what). Returns the splits, if made."""
    if is_default(result):
        return None
    doc["engine_settings"] = settings_json(result)
    sets = [result_json(r) for r in result.results]
    splits = result.loss_splits if why else {}
    for d in sets:
        for p, sp in zip(d["pools"], splits.get(d["engine"], ())):
            p["tokens_lost"] = {k: int(sp[k].sum()) for k in losses.KINDS}
    if len(sets) == 1:
        doc["engine"] = sets[0].pop("engine")
        doc.update(sets[0])
    else:
        doc["engines"] = sets
    return splits


def _pool_row(res: EngineResult, p: EnginePool, i: int, split: dict | None) -> dict[str, Any]:
    d = {"gb": p.size.gb, "capacity_tokens": p.size.capacity, "prefix_hit": int(p.prefix_hits[i]),
         "substring_hit": None if p.substring_hits is None else int(p.substring_hits[i]),
         "rejected": bool(p.rejected[i]), "evicted": res.evicted(p, i)}
    if split is not None:
        d["tokens_lost"] = {k: int(split[k][i]) for k in losses.KINDS}
    return d


def update_row(row: dict[str, Any], result: TraceResult, i: int, pools: bool, splits: dict | None = None) -> None:
    """One `requests_detail` row of engines other than the default one alone: each engine's
    figures, in place of the default engine's keys (which requests_detail leaves out then)."""
    sets = []
    for res in result.results:
        u = res.unlimited
        d: dict[str, Any] = {"engine": res.engine, "prefix_hit": int(u.prefix_hits[i]),
                             "substring_hit": None if u.substring_hits is None else int(u.substring_hits[i]),
                             "rejected": bool(u.rejected[i])}
        if pools:
            sp = (splits or {}).get(res.engine)
            d["pools"] = [_pool_row(res, p, i, sp[k] if sp else None) for k, p in enumerate(res.pools)]
        sets.append(d)
    if len(sets) == 1:
        row.update({k: v for k, v in sets[0].items() if k != "engine"})
    else:
        row["engines"] = sets


# --------------------------------------------------------------------------- text

def engines_data(result: TraceResult) -> Data:
    """Each pool size, the engines one under the other (so they read side by side at any
    terminal width): blocks the pool holds, hit rates, requests refused."""
    d = Data("Hit rate by pool size, by engine", [
        Col("pool (GB)", "pool_gb", LABEL, show="human"), Col("pool (GB)", "pool_gb", show="machine"),
        Col("tokens", "capacity_tokens", LABEL, show="human"), Col("capacity (tokens)", "capacity_tokens", show="machine"),
        Col("engine", "engine", TEXT), Col("blocks", "blocks"), Col("prefix", "prefix_hit_rate", RATE, "green"),
        Col("substring", "substring_hit_rate", RATE, "cyan"), Col("refused", "rejected")])
    results = result.results
    ends = set()
    for k, size in enumerate(result.settings.sizes()):
        for j, r in enumerate(results):
            p = r.pools[k]
            first = j == 0
            d.rows.append([("∞" if size.gb is None else f"{size.gb:.4g}") if first else "", size.gb,
                           ("unlimited" if size.capacity is None else f"{size.capacity:,}") if first else "",
                           size.capacity, r.engine, p.blocks, p.prefix_rate, p.substring_rate, p.rejected_count])
        if len(results) > 1:
            ends.add(len(d.rows) - 1)
    d.section_ends = frozenset(ends)
    return d


def engine_notes(result: TraceResult) -> list[str]:
    out = []
    s = result.settings
    for r in result.results:
        if r.engine == "study":
            continue
        unit = {"vllm": f"blocks of {r.block_size}", "sglang": f"pages of {r.block_size}",
                "lmcache": f"chunks of {r.block_size}", "cacheblend": f"chunks of {r.block_size}"}[r.engine]
        note = f"{r.engine}: {unit} tokens, context length {s.context_length:,}"
        if r.engine == "cacheblend":
            rec = r.unlimited.recompute_tokens
            note += f", recompute {s.recompute:g} of the reused tokens ({int(rec.sum()):,} tokens unlimited)"
        out.append(note)
    return out


def losses_table(result: TraceResult, splits: dict[str, list[dict[str, np.ndarray]]]):
    """--why with prefix engines: per pool and engine, the tokens lost by cause."""
    from rich.table import Table

    t = Table(title="Tokens lost, by engine and pool", title_justify="left")
    for col in ("pool (GB)", "tokens", "engine", "divergence", "eviction", "blocks & L-1", "refused"):
        t.add_column(col, justify="left" if col == "engine" else "right")
    names = [r.engine for r in result.results if r.engine in splits]
    for k, size in enumerate(result.settings.sizes()):
        for j, name in enumerate(names):
            sp = splits[name][k]
            t.add_row(("∞" if size.gb is None else f"{size.gb:.4g}") if j == 0 else "",
                      ("unlimited" if size.capacity is None else f"{size.capacity:,}") if j == 0 else "",
                      name, *(f"{int(sp[c].sum()):,}" for c in losses.KINDS),
                      end_section=j == len(names) - 1 and len(names) > 1)
    return t
