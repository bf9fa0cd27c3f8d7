"""Deterministic, seeded traces for the scale benchmark (issue 12), written to a scratch dir.

    python benchmarks/gen_traces.py chat N OUT.jsonl [--seed S]
    python benchmarks/gen_traces.py agent MB OUT.jsonl [--seed S] [--source DIR]

chat: a chat service's trace of N requests. A few dozen shared system prompts, chosen with
Zipf popularity; sessions of one or two turns, interleaved (a second turn comes a few to a
few hundred requests after the first); about 15-50 input tokens per request.

agent: about MB megabytes of agent sessions built from the text traces of ../shared/traces
(each file is one session): every copy of a session gets a new session id, its dates
shifted by a per-copy number of days (the environment block's "today" changes per
session), and a few turns appended (the previous prompt and answer, then a new user
message); the copies are interleaved, a handful running at once.

Same arguments, same bytes: everything is drawn from one seeded generator. Not for the
repository: write to /tmp or another scratch dir.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

import numpy as np
import orjson

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "traces"
SOURCE_DIRS = ("aider", "memgpt", "miniswe", "opencode", "taubench")  # the traces with text

_WORDS = (
    "the of and to in is you that it he was for on are as with his they at be this have from or one had by "
    "word but not what all were we when your can said there use an each which she do how their if will up other "
    "about out many then them these so some her would make like him into time has look two more write go see "
    "number no way could people my than first water been call who oil its now find long down day did get come "
    "made may part order refund account password invoice shipping delivery cancel upgrade plan price support "
    "error login email phone address payment card bank transfer balance statement report schedule meeting "
    "flight hotel booking ticket seat baggage weather recipe translate summarize explain code python list"
).split()


def _text(rng: np.random.Generator, lo: int, hi: int) -> str:
    k = int(rng.integers(lo, hi + 1))
    return " ".join(_WORDS[w] for w in rng.integers(0, len(_WORDS), k)).capitalize() + "."


def chat(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    n_prompts = 40
    systems = [f"system: You are assistant #{k} of Acme. {_text(rng, 2, 8)}\n" for k in range(n_prompts)]
    popularity = 1.0 / np.arange(1, n_prompts + 1) ** 1.1  # Zipf
    popularity /= popularity.sum()
    prompt_of = rng.choice(n_prompts, size=n, p=popularity)  # per session (never more than n)
    # Slots in the output stream: a session's first turn at its slot, its second (if any) a
    # few to a few hundred requests later (interleaving), as the next free slot from there.
    out: list[dict | None] = [None] * n
    free = np.ones(n, dtype=bool)
    nxt = 0
    session = 0
    t0 = 1_750_000_000.0
    while True:
        while nxt < n and not free[nxt]:
            nxt += 1
        if nxt >= n:
            break
        sid = f"chat-{session:07d}"
        system = systems[int(prompt_of[session])]
        session += 1
        user1, answer1 = _text(rng, 2, 10), _text(rng, 2, 8)
        first = system + "user: " + user1 + "\n"
        free[nxt] = False
        out[nxt] = {"timestamp": t0 + nxt * 0.05, "session_id": sid, "input": first, "output": answer1}
        if rng.random() < 0.4:  # a second turn
            at = nxt + int(rng.integers(1, 300))
            while at < n and not free[at]:
                at += 1
            if at < n:
                free[at] = False
                second = first + "assistant: " + answer1 + "\nuser: " + _text(rng, 2, 6) + "\n"
                out[at] = {"timestamp": t0 + at * 0.05, "session_id": sid, "input": second,
                           "output": _text(rng, 2, 8)}
    return [r for r in out if r is not None]


_ISO = re.compile(rb"\b(20\d\d)-(\d\d)-(\d\d)\b")
_LONG = re.compile(rb"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{1,2}) (20\d\d)\b")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _shift_dates(raw: bytes, days: int) -> bytes:
    """Every date of a session moved by the same number of days (its env block's 'today')."""
    def iso(m: re.Match) -> bytes:
        try:
            d = dt.date(int(m[1]), int(m[2]), int(m[3])) + dt.timedelta(days=days)
        except ValueError:
            return m[0]
        return d.isoformat().encode()

    def long(m: re.Match) -> bytes:
        try:
            d = dt.date(int(m[4]), _MONTHS.index(m[2].decode()) + 1, int(m[3])) + dt.timedelta(days=days)
        except ValueError:
            return m[0]
        return d.strftime("%a %b ").encode() + str(d.day).encode() + d.strftime(" %Y").encode()

    return _LONG.sub(long, _ISO.sub(iso, raw))


def _sources(root: Path) -> list[list[dict]]:
    """One session per text trace file: its records with an input (parsed once)."""
    sessions = []
    for name in SOURCE_DIRS:
        for path in sorted((root / name).glob("*.jsonl")):
            recs = []
            for line in path.read_bytes().splitlines():
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("input"), str):
                    recs.append({"input": rec["input"], "output": rec.get("output") or ""})
            if recs:
                sessions.append(recs)
    if not sessions:
        raise SystemExit(f"gen_traces: no text traces under {root}")
    return sessions


def agent(mb: float, out: Path, seed: int = 0, source: Path = DEFAULT_SOURCE) -> int:
    """Write about `mb` MB of interleaved agent sessions to `out`; returns the request count."""
    rng = np.random.default_rng(seed)
    sources = _sources(source)
    target = int(mb * 1e6)
    written = copy = requests = 0
    active: list[tuple[str, int, list[bytes]]] = []  # (session id, next index, its lines)
    t = 1_760_000_000.0
    with open(out, "wb") as f:
        while written < target:
            while written < target and len(active) < 6:
                recs = sources[int(rng.integers(len(sources)))]
                sid = f"agent-{copy:06d}"
                days = int(rng.integers(1, 3000))
                copy += 1
                recs = list(recs)
                for _ in range(int(rng.integers(0, 4))):  # turns appended to the session
                    last = recs[-1]
                    recs.append({"input": last["input"] + last["output"] + "\n\nuser: " + _text(rng, 8, 40),
                                 "output": _text(rng, 10, 80)})
                lines = []
                for r in recs:
                    rec = {"session_id": sid, "input": r["input"], "output": r["output"]}
                    lines.append(_shift_dates(orjson.dumps(rec), days))
                active.append((sid, 0, lines))
            if not active:
                break
            k = int(rng.integers(len(active)))
            sid, i, lines = active[k]
            t += float(rng.exponential(2.0))
            line = b'{"timestamp":' + str(round(t, 3)).encode() + b"," + lines[i][1:] + b"\n"
            f.write(line)
            written += len(line)
            requests += 1
            if i + 1 < len(lines):
                active[k] = (sid, i + 1, lines)
            else:
                active.pop(k)
    return requests


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=("chat", "agent"))
    ap.add_argument("size", type=float, help="chat: requests; agent: MB")
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="agent: the shared traces' directory")
    args = ap.parse_args(argv)
    if args.kind == "chat":
        with open(args.out, "wb") as f:
            for rec in chat(int(args.size), args.seed):
                f.write(orjson.dumps(rec) + b"\n")
        n = int(args.size)
    else:
        n = agent(args.size, args.out, args.seed, args.source)
    print(f"{args.out}: {n} requests, {args.out.stat().st_size / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
