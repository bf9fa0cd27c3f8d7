"""`analyze --per-request`: one row per request (the JSON rows, the table, the engines' table)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.display import display_text
from ..core.result import TraceResult
from .engines import is_default, update_row
from .output import LABEL, RATE, TEXT, Col, Data, pct
from .summary import SUBSTRING_NOTE


def requests_detail(result: TraceResult, why: bool = False, *, pools: bool = True,
                    splits=None) -> list[dict[str, Any]]:
    """Per-request figures of `analyze --per-request` (`pools`: with each pool's, for the JSON;
    `why`: with each request's break)."""
    from .why import break_json

    n = result.lengths
    a = result.analysis if is_default(result) else None  # else each engine's figures (update_row)
    breaks = result.breaks if why else None
    rows = []
    t0 = _first_timestamp(result)
    for i, r in enumerate(result.trace.requests):
        rows.append({
            "index": i,
            "line": r.line,
            "session_id": r.session_id,
            "model": r.model,
            "timestamp": r.timestamp,
            "relative_time": None if r.timestamp is None or t0 is None else round(r.timestamp - t0, 6),
            "input_tokens": int(n.input_lens[i]),
            "output_tokens": int(n.output_lens[i]),
        })
        if a is not None:
            rows[-1].update({
                "prefix_hit": int(a.unlimited.prefix_hits[i]),
                "prefix_source": int(a.unlimited.prefix_source[i]),
                "substring_hit": int(a.unlimited.substring_hits[i]),
                "combined_hit": int(a.combined_hits[i]),
            })
            if pools:
                rows[-1]["pools"] = [{"gb": p.size.gb, "prefix_hit": int(p.prefix_hits[i]),
                                      "prefix_source": int(p.prefix_source[i]),
                                      "substring_hit": int(p.substring_hits[i])} for p in a.pools]
        else:
            update_row(rows[-1], result, i, pools, splits)
        u = result.request_usage(i)
        if u is not None:
            rows[-1]["provider_usage"] = {"provider": u.provider, "prompt_tokens": u.prompt_tokens,
                                          "cached_tokens": u.cached_tokens,
                                          "cache_write_tokens": u.cache_write_tokens}
        if breaks is not None:
            rows[-1]["break"] = break_json(breaks[i])
    return rows


def _first_timestamp(result: TraceResult) -> float | None:
    ts = result.trace.requests.timestamps()  # a column: no request is read again for it
    ts = ts[~np.isnan(ts)]
    return float(ts.min()) if len(ts) else None


def requests_data(result: TraceResult, why: bool = False) -> Data:
    cols = [Col("#", "index"), Col("line", "line"), Col("session", "session_id", TEXT),
            Col("input", "input_tokens"), Col("output", "output_tokens"), Col("prefix", "prefix_hit_rate", RATE),
            Col("from", "prefix_source"), Col("substring", "substring_hit_rate", RATE),
            Col("combined", "combined_hit_rate", RATE)]
    if why:
        cols += [Col("cause", "cause", TEXT), Col("break block", "break_block", TEXT), Col("lost", "tokens_lost"),
                 Col("where", "where", TEXT, show="machine"), Col("description", "description", TEXT, show="machine")]
    d = Data("Per request (unlimited pool)", cols, caption=SUBSTRING_NOTE)
    for row in requests_detail(result, why, pools=False):
        n = row["input_tokens"]
        def rate(k: str) -> float | None:
            return row[k] / n if n else None
        cells = [row["index"], row["line"], row["session_id"] or "", n, row["output_tokens"], rate("prefix_hit"),
                 None if row["prefix_source"] < 0 else row["prefix_source"], rate("substring_hit"),
                 rate("combined_hit")]
        if why:
            b = row["break"]
            cells += [b["cause"], b["break_block"], b["tokens_lost"], b["where"], b["description"]]
        d.rows.append(cells)
    return d


def engine_rows_data(result: TraceResult, why: bool = False) -> Data:
    """Per request, each engine's unlimited-pool reuse (its prefix hit; CacheBlend's reuse)
    and whether it refused the request; `why`: the request's break (the study's)."""
    from .why import break_json

    a = result.lengths
    cols = [Col("#", "index"), Col("line", "line"), Col("session", "session_id", TEXT), Col("input", "input_tokens"),
            Col("output", "output_tokens")]
    for res in result.results:
        cols += [Col(res.engine, f"{res.engine}_hit_rate", LABEL, show="human"),
                 Col(res.engine, f"{res.engine}_hit_rate", RATE, show="machine"),
                 Col(f"{res.engine} refused", f"{res.engine}_refused", show="machine")]
    if why:
        cols += [Col("cause", "cause", TEXT), Col("break block", "break_block", TEXT), Col("lost", "tokens_lost")]
    d = Data("Per request (unlimited pool)", cols)
    breaks = result.breaks if why else None
    reqs = result.trace.requests  # columns: no request's line is read again for these rows
    for i, (line, sid) in enumerate(zip(reqs.lines().tolist(), reqs.session_ids())):
        n = int(a.input_lens[i])
        cells = [i, line, sid or "", n, int(a.output_lens[i])]
        for res in result.results:
            u = res.unlimited
            refused = bool(u.rejected[i])
            rate = None if refused or not n else int(u.reuse_hits[i]) / n
            cells += ["refused" if refused else pct(rate), rate, int(refused)]
        if breaks is not None:
            b = break_json(breaks[i])
            cells += [b["cause"], b["break_block"], b["tokens_lost"]]
        d.rows.append(cells)
    return d
