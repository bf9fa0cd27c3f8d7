"""Headless "why": ranked prefix breakers, sessions and provider usage, as rich tables or JSON.

Shared by `tracetui analyze --why`, `tracetui check` and `tracetui compare`.
"""

from __future__ import annotations

from typing import Any

from ..core.diagnose import Break, Breaker, SessionStats
from ..core.display import display_text
from ..core.result import TraceResult
from .output import RATE, TEXT, Col, Data, print_table, rich_table, rounded as _r

SESSION_COLUMNS = ("session", "requests", "input tokens", "prefix", "substring", "combined",
                   "prefix within", "prefix across")


def session_label(session: object) -> str:
    """How a session id is shown: the requests without one are "–"; no control character."""
    return "–" if session is None else display_text(str(session))


def session_row(s: SessionStats, width: int | None = None) -> tuple[str, ...]:
    """One row of the sessions table (SESSION_COLUMNS); the session (first cell) is whole, or
    cut to `width` characters (the table folds it: a session id is never cut in a pipe)."""
    def pct(hits: int) -> str:
        return f"{100 * s.rate(hits):.1f}%"

    return (session_label(s.session)[:width], str(s.requests), f"{s.input_tokens:,}", pct(s.prefix_hits),
            pct(s.substring_hits), pct(s.combined_hits), pct(s.within_prefix_hits),
            pct(s.prefix_hits - s.within_prefix_hits))


def breakers_json(ranked: list[Breaker]) -> list[dict[str, Any]]:
    return [{"cause": g.cause, "block": g.block, "where": g.where, "description": g.description,
             "example": g.example or None,
             "requests": list(g.requests),
             "tokens_lost": g.tokens_lost, "substring_recovered": g.recovered} for g in ranked]


def sessions_json(stats: list[SessionStats]) -> list[dict[str, Any]]:
    return [{"session_id": s.session, "requests": s.requests, "input_tokens": s.input_tokens,
             "prefix_hit_rate": _r(s.rate(s.prefix_hits)), "substring_hit_rate": _r(s.rate(s.substring_hits)),
             "combined_hit_rate": _r(s.rate(s.combined_hits)),
             "within_session_prefix_hit_rate": _r(s.rate(s.within_prefix_hits)),
             "within_session_substring_hit_rate": _r(s.rate(s.within_substring_hits)),
             "across_sessions_prefix_hit_rate": _r(s.rate(s.prefix_hits - s.within_prefix_hits)),
             "across_sessions_substring_hit_rate": _r(s.rate(s.substring_hits - s.within_substring_hits))}
            for s in stats]


def usage_json(result: TraceResult) -> dict[str, Any] | None:
    usage = result.usage
    if not usage:
        return None
    a = result.analysis
    prompt, cached, written = result.provider_totals
    sim = sum(int(a.unlimited.prefix_hits[u.request]) for u in usage)
    sim_in = sum(int(a.input_lens[u.request]) for u in usage)
    return {
        "requests_with_usage": len(usage),
        "providers": sorted({u.provider for u in usage}),
        "prompt_tokens": prompt,
        "cached_tokens": cached,
        "cache_write_tokens": written,
        "provider_hit_rate": _r(cached / prompt) if prompt else None,
        "simulated_prefix_hit_rate": _r(sim / sim_in) if sim_in else None,
        "per_request": [{"index": u.request, "provider": u.provider, "prompt_tokens": u.prompt_tokens,
                         "cached_tokens": u.cached_tokens, "cache_write_tokens": u.cache_write_tokens,
                         "simulated_input_tokens": int(a.input_lens[u.request]),
                         "simulated_prefix_hit": int(a.unlimited.prefix_hits[u.request])} for u in usage],
    }


def break_json(b: Break) -> dict[str, Any]:
    return {"cause": b.cause, "source": b.source, "break_token": b.prefix, "break_char": b.char,
            "break_block": b.block.kind if b.block else None, "in_source_output": b.in_source_output,
            "where": b.where, "description": b.description, "example": b.example or None,
            "tokens_lost": b.tokens_lost,
            "substring_recovered": b.recovered}


def why_json(result: TraceResult) -> dict[str, Any]:
    # Not "sessions": `analyze --json` already has that key (the number of sessions).
    return {"breakers": breakers_json(result.breakers),
            "causes": dict(result.causes),
            "session_stats": sessions_json(result.sessions),
            "provider_usage": usage_json(result)}


# --------------------------------------------------------------------------- rich

def breakers_data(ranked: list[Breaker], limit: int | None = None, title: str = "Prefix breakers") -> Data:
    """The ranked breakers as a table: the rich table and Markdown show the description with
    its block's name under it and the first requests; CSV / TSV have a column each."""
    d = Data(title, [Col("#", "rank"), Col("cause", "cause", TEXT), Col("block", "block", TEXT),
                     Col("what changed", "description", TEXT, show="human", grow=True),
                     Col("where", "where", TEXT, show="machine"), Col("description", "description", TEXT, show="machine"),
                     Col("example", "example", TEXT, show="machine"),
                     Col("requests", "requests", TEXT, show="human"), Col("requests", "requests", TEXT, show="machine"),
                     Col("lost", "tokens_lost", style="red"),
                     Col("recovered", "substring_recovered", style="cyan")])
    for k, g in enumerate(ranked[:limit] if limit else ranked, 1):
        # The description groups (numbers as <N>); the example shows the real change.
        what = g.description + (f"\ne.g. {g.example}" if g.example else "") + (f"\nin {g.where}" if g.where else "")
        reqs = ",".join(map(str, g.requests[:4])) + ("…" if len(g.requests) > 4 else "")
        d.rows.append([k, g.cause, g.block or None, what, g.where, g.description, g.example or None,
                       f"{len(g.requests)}: {reqs}",
                       " ".join(map(str, g.requests)), g.tokens_lost, g.recovered])
    return d


def sessions_data(stats) -> Data:
    """The sessions table (largest first) for Markdown: the figures as fractions of each
    session's input, as the rich table shows them."""
    d = Data("Sessions (unlimited pool)", [Col("session", "session", TEXT), Col("requests", "requests"),
                                           Col("input tokens", "input_tokens"), Col("prefix", "prefix", RATE),
                                           Col("substring", "substring", RATE), Col("combined", "combined", RATE),
                                           Col("prefix within", "prefix_within", RATE),
                                           Col("prefix across", "prefix_across", RATE)])
    for s in sorted(stats, key=lambda s: -s.input_tokens):
        d.rows.append([session_label(s.session), s.requests, s.input_tokens, s.rate(s.prefix_hits),
                       s.rate(s.substring_hits), s.rate(s.combined_hits), s.rate(s.within_prefix_hits),
                       s.rate(s.prefix_hits - s.within_prefix_hits)])
    return d


def breakers_table(ranked: list[Breaker], limit: int | None = None, title: str = "Prefix breakers"):
    return rich_table(breakers_data(ranked, limit, title), expand=True)


def render_why(console, result: TraceResult) -> None:
    from rich.table import Table
    from rich.text import Text

    ranked = result.breakers
    counts = result.causes
    console.print()
    console.print("Causes: " + ", ".join(f"{c} {n}" for c, n in sorted(counts.items(), key=lambda x: -x[1])),
                  highlight=False)
    if ranked:
        print_table(console, breakers_table(ranked))
    else:
        console.print("No prefix breaker: every request continues an earlier one.")
    stats = result.sessions
    st = Table(title="Sessions (unlimited pool)", title_justify="left")
    rows = [session_row(s) for s in sorted(stats, key=lambda s: -s.input_tokens)[:30]]
    for k, col in enumerate(SESSION_COLUMNS):
        # A figure column is as wide as its widest figure: only its header may wrap.
        st.add_column(col, justify="left" if k == 0 else "right", overflow="fold",
                      min_width=None if k == 0 else max((len(r[k]) for r in rows), default=1))
    for session, *figures in rows:
        st.add_row(Text(session), *figures)  # Text: a session id is trace data, not markup
    print_table(console, st)
    if len(stats) > 30:
        console.print(f"… and {len(stats) - 30} more sessions (see --json)")
    usage = usage_json(result)
    if usage:
        ut = Table(title="Provider-reported cache use vs simulated prefix hit", title_justify="left")
        rows = [(str(row["index"]), display_text(row["provider"]), f"{row['prompt_tokens']:,}",
                 f"{row['cached_tokens']:,}", f"{row['cache_write_tokens']:,}", f"{row['simulated_input_tokens']:,}",
                 f"{row['simulated_prefix_hit']:,}") for row in usage["per_request"]]
        for k, col in enumerate(("request", "provider", "prompt tokens", "cached (provider)", "cache write",
                                 "simulated input", "simulated prefix hit")):
            # As wide as its widest cell: only the header may wrap.
            ut.add_column(col, justify="right", overflow="fold", min_width=max((len(r[k]) for r in rows), default=1))
        for r in rows:
            ut.add_row(r[0], Text(r[1]), *r[2:])  # Text: the provider's name is not markup
        print_table(console, ut)
        pr, sr = usage["provider_hit_rate"], usage["simulated_prefix_hit_rate"]
        console.print(f"provider cache hit rate {100 * (pr or 0):.1f}% vs simulated prefix hit rate "
                      f"{100 * (sr or 0):.1f}% (provider tokens: {usage['prompt_tokens']:,} with its tokenizer)",
                      highlight=False)
