"""Headless "why": ranked prefix breakers, sessions and provider usage, as rich tables or JSON.

Shared by `tracetui analyze --why`, `tracetui check` and `tracetui compare`.
"""

from __future__ import annotations

from typing import Any

from .core.diagnose import (Break, Breaker, ProviderUsage, SessionStats, provider_totals, rank_breakers,
                            session_stats, usage_table)
from .core.display import display_text
from .core.pipeline import Loaded
from .report import _r

SESSION_COLUMNS = ("session", "requests", "input tokens", "prefix", "substring", "combined",
                   "prefix within", "prefix across")


def session_label(session: object) -> str:
    """How a session id is shown: the requests without one are "–"; no control character."""
    return "–" if session is None else display_text(str(session))


def session_row(s: SessionStats, width: int = 24) -> tuple[str, ...]:
    """One row of the sessions table (SESSION_COLUMNS), for `analyze --why` and the explorer's
    `S` alike; the session (first cell) is cut to `width` characters."""
    def pct(hits: int) -> str:
        return f"{100 * s.rate(hits):.1f}%"

    return (session_label(s.session)[:width], str(s.requests), f"{s.input_tokens:,}", pct(s.prefix_hits),
            pct(s.substring_hits), pct(s.combined_hits), pct(s.within_prefix_hits),
            pct(s.prefix_hits - s.within_prefix_hits))


def breakers_json(ranked: list[Breaker]) -> list[dict[str, Any]]:
    return [{"cause": g.cause, "block": g.block, "description": g.description, "requests": list(g.requests),
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


def usage_json(loaded: Loaded, usage: list[ProviderUsage]) -> dict[str, Any] | None:
    if not usage:
        return None
    a = loaded.analysis
    prompt, cached, written = provider_totals(loaded, usage)
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
            "description": b.description, "tokens_lost": b.tokens_lost, "substring_recovered": b.recovered}


def why_json(loaded: Loaded, breaks: tuple[Break, ...]) -> dict[str, Any]:
    # Not "sessions": `analyze --json` already has that key (the number of sessions).
    return {"breakers": breakers_json(rank_breakers(breaks)),
            "causes": _cause_counts(breaks),
            "session_stats": sessions_json(session_stats(loaded)),
            "provider_usage": usage_json(loaded, usage_table(loaded))}


def _cause_counts(breaks: tuple[Break, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for b in breaks:
        out[b.cause] = out.get(b.cause, 0) + 1
    return out


# --------------------------------------------------------------------------- rich

def breakers_table(ranked: list[Breaker], limit: int | None = None, title: str = "Prefix breakers"):
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, title_justify="left", expand=True)
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column("cause", no_wrap=True)
    t.add_column("block", no_wrap=True)
    t.add_column("what changed", ratio=1, min_width=24, overflow="fold")
    t.add_column("requests", no_wrap=True)
    t.add_column("lost", justify="right", style="red", no_wrap=True)
    t.add_column("recovered", justify="right", style="cyan", no_wrap=True)
    for k, g in enumerate(ranked[:limit] if limit else ranked, 1):
        reqs = ",".join(map(str, g.requests[:4])) + ("…" if len(g.requests) > 4 else "")
        # Text, not str: descriptions quote the trace, and "[/x]" in a prompt is not rich markup;
        # display_text: nor is an escape in it a terminal control.
        t.add_row(str(k), Text(g.cause), Text(display_text(g.block or "–")), Text(display_text(g.description)),
                  f"{len(g.requests)}: {reqs}",
                  f"{g.tokens_lost:,}", f"{g.recovered:,}")
    return t


def render_why(console, loaded: Loaded, breaks: tuple[Break, ...]) -> None:
    from rich.table import Table
    from rich.text import Text

    ranked = rank_breakers(breaks)
    counts = _cause_counts(breaks)
    console.print()
    console.print("Causes: " + ", ".join(f"{c} {n}" for c, n in sorted(counts.items(), key=lambda x: -x[1])),
                  highlight=False)
    if ranked:
        console.print(breakers_table(ranked))
    else:
        console.print("No prefix breaker: every request continues an earlier one.")
    stats = session_stats(loaded)
    st = Table(title="Sessions (unlimited pool)", title_justify="left")
    for col in SESSION_COLUMNS:
        st.add_column(col, justify="left" if col == "session" else "right")
    for s in sorted(stats, key=lambda s: -s.input_tokens)[:30]:
        session, *figures = session_row(s)
        st.add_row(Text(session), *figures)  # Text: a session id is trace data, not markup
    console.print(st)
    if len(stats) > 30:
        console.print(f"… and {len(stats) - 30} more sessions (see --json)")
    usage = usage_json(loaded, usage_table(loaded))
    if usage:
        ut = Table(title="Provider-reported cache use vs simulated prefix hit", title_justify="left")
        for col in ("request", "provider", "prompt tokens", "cached (provider)", "cache write",
                    "simulated input", "simulated prefix hit"):
            ut.add_column(col, justify="right")
        for row in usage["per_request"]:
            ut.add_row(str(row["index"]), Text(display_text(row["provider"])), f"{row['prompt_tokens']:,}", f"{row['cached_tokens']:,}",
                       f"{row['cache_write_tokens']:,}", f"{row['simulated_input_tokens']:,}",
                       f"{row['simulated_prefix_hit']:,}")
        console.print(ut)
        pr, sr = usage["provider_hit_rate"], usage["simulated_prefix_hit_rate"]
        console.print(f"provider cache hit rate {100 * (pr or 0):.1f}% vs simulated prefix hit rate "
                      f"{100 * (sr or 0):.1f}% (provider tokens: {usage['prompt_tokens']:,} with its tokenizer)",
                      highlight=False)
