"""Hashed traces: production traces that carry block hash ids instead of text.

- Mooncake (FAST'25): `{"timestamp" (ms), "input_length", "output_length", "hash_ids"}`, 512-token blocks.
- Alibaba Bailian: `{"chat_id", "parent_chat_id", "turn", "timestamp" (s), "input_length",
  "output_length", "hash_ids"}`, 16-token blocks; a chat and its follow-ups (parent links) are a session.
- ServeGen offline: `{"request_id", "input_length", "hash_ids"}`, 16-token blocks.
- kv-cache-tester's Claude Code traces: one JSON document a file, `{"id", "block_size",
  "hash_id_scope", "requests": [{"t", "in", "out", "hash_ids", "model"}, ...]}`; an entry of
  type `subagent` holds its own `requests`, timed from the entry's `t`.

Hash ids are renumbered densely (0, 1, 2... in order of first appearance) over the whole
trace, keyed by their scope: ids of a `hash_id_scope: local` file are private to that file.
"""

from __future__ import annotations

import math
from typing import Any

from ..model import HashedInput, Request

__all__ = ["HASHED_FORMATS", "BLOCK_SIZES", "HashIds", "detect_hashed", "flat_request", "claude_code_requests"]

HASHED_FORMATS = ("mooncake", "bailian", "servegen", "claude-code")
BLOCK_SIZES = {"mooncake": 512, "bailian": 16, "servegen": 16}
"""Tokens per block of each format's published traces (Claude Code files say theirs)."""


def detect_hashed(rec: dict) -> str | None:
    if isinstance(rec.get("requests"), list) and ("block_size" in rec or "hash_id_scope" in rec):
        return "claude-code"
    if "hash_ids" not in rec:
        return None
    if "chat_id" in rec or "parent_chat_id" in rec:
        return "bailian"
    if "request_id" in rec:
        return "servegen"
    return "mooncake"


class HashIds:
    """Dense renumbering of hash ids, by (scope, id)."""

    def __init__(self) -> None:
        self._ids: dict[tuple[Any, int], int] = {}

    def map(self, scope: Any, ids: Any) -> tuple[int, ...] | None:
        if not isinstance(ids, list):
            return None
        table = self._ids
        out = []
        for h in ids:
            if isinstance(h, bool) or not isinstance(h, (int, str)):
                return None
            out.append(table.setdefault((scope, h), len(table)))
        return tuple(out)


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def _seconds(value: Any) -> float | None:
    """A finite number as a float, else None (a bool, a string, NaN, 10**400...)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def hashed_input(ids: tuple[int, ...], input_length: int, output_length: int, block: int) -> HashedInput:
    return HashedInput(ids, input_length, output_length, min(input_length // block, len(ids)))


def flat_request(fmt: str, rec: dict, ids: HashIds, scope: Any, block: int, index: int, line: int,
                 parents: dict[str, str]) -> Request | None:
    """A Mooncake / Bailian / ServeGen line as a Request (None if a field is missing or bad)."""
    hashes = ids.map(scope, rec.get("hash_ids"))
    n_in = _count(rec.get("input_length"))
    n_out = _count(rec.get("output_length", 0))
    if hashes is None or n_in is None or n_out is None:
        return None
    ts = _seconds(rec.get("timestamp"))
    if ts is not None and fmt == "mooncake":
        ts = ts / 1000  # Mooncake times are milliseconds from the trace's start
    session = rid = None
    if fmt == "bailian":
        rid = str(rec.get("chat_id"))
        parent = rec.get("parent_chat_id")
        # A follow-up joins its parent's session; the first turn (parent -1) starts one.
        root = rid if parent in (None, -1, "-1") else parents.get(str(parent), str(parent))
        parents[rid] = root
        session = f"chat {root}"
    elif fmt == "servegen":
        rid = str(rec.get("request_id"))
    return Request(index=index, line=line, input="", timestamp=float(ts) if ts is not None else None,
                   session_id=session, model=rec.get("model") if isinstance(rec.get("model"), str) else None,
                   request_id=rid, hashed=hashed_input(hashes, n_in, n_out, block))


def claude_code_requests(doc: dict, ids: HashIds, scope: Any, block: int, index: int, line: int,
                         name: str) -> list[Request] | None:
    """The requests of a kv-cache-tester Claude Code document, in order of absolute time (ties
    in file order); the main agent is session `name`, each subagent a session of its own."""
    if doc.get("hash_id_scope", "local") != "local":
        scope = None  # global ids: shared with every other global file
    entries: list[tuple[float, int, Request]] = []
    subagents = 0

    def walk(reqs: list, t0: float, session: str) -> bool:
        nonlocal subagents
        for r in reqs:
            if not isinstance(r, dict):
                return False
            t = _seconds(r.get("t", 0))
            if t is None:
                return False
            if r.get("type") == "subagent":
                subagents += 1
                if not walk(r.get("requests") or [], t0 + t, f"{name}/subagent {subagents}"):
                    return False
                continue
            hashes = ids.map(scope, r.get("hash_ids"))
            n_in, n_out = _count(r.get("in")), _count(r.get("out", 0))
            if hashes is None or n_in is None or n_out is None:
                return False
            model = r.get("model")
            req = Request(index=0, line=line, input="", timestamp=float(t0 + t), session_id=session,
                          model=model if isinstance(model, str) else None,
                          hashed=hashed_input(hashes, n_in, n_out, block))
            entries.append((t0 + t, len(entries), req))
        return True

    if not walk(doc["requests"], 0.0, name):
        return None
    entries.sort(key=lambda e: (e[0], e[1]))
    from dataclasses import replace

    return [replace(req, index=index + k) for k, (_, _, req) in enumerate(entries)]
