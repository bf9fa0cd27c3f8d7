"""Helpers shared by the sample generators: timestamps, records, ChatML, tool calls."""

from __future__ import annotations

import json
import random

BASE_TIMESTAMP_MS = 1767225600000
"""2026-01-01T00:00:00Z in milliseconds: the first timestamp of every sample file."""

class _Clock:
    """Millisecond timestamps starting at BASE_TIMESTAMP_MS, a few seconds apart."""

    def __init__(self, rng: random.Random, low: int = 2000, high: int = 9000) -> None:
        self._rng = rng
        self._low = low
        self._high = high
        self._now = BASE_TIMESTAMP_MS

    def next(self) -> int:
        now = self._now
        self._now += self._rng.randrange(self._low, self._high)
        return now


def _record(timestamp: int, session_id: str, model: str, prompt: str, output: str) -> dict:
    return {
        "timestamp": timestamp,
        "session_id": session_id,
        "model": model,
        "input": prompt,
        "output": output,
    }


def _dumps(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False)


def _hex(rng: random.Random, digits: int) -> str:
    return format(rng.getrandbits(4 * digits), f"0{digits}x")


def _im(role: str, content: str) -> str:
    """One ChatML message."""
    return f"<|im_start|>{role}\n{content}<|im_end|>\n"


_IM_ASSISTANT = "<|im_start|>assistant\n"


def _numbered(text: str) -> str:
    """File contents the way the made-up `read` tool shows them."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    body = "\n".join(f"{i:05d}| {line}" for i, line in enumerate(lines, 1))
    return f"<file>\n{body}\n\n(End of file - total {len(lines)} lines)\n</file>"


def _line_of(text: str, needle: str) -> int:
    """1-based number of the first line of `text` containing `needle`."""
    for i, line in enumerate(text.split("\n"), 1):
        if needle in line:
            return i
    raise ValueError(f"{needle!r} not found")


def _tool_call(name: str, arguments: dict, *, compact: bool = False) -> str:
    call = {"name": name, "arguments": arguments}
    if compact:
        body = json.dumps(call, ensure_ascii=False, separators=(",", ":"))
    else:
        body = json.dumps(call, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"
