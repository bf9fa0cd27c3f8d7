"""Where the test data lives, and skips for data that is not there."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_traces"
TRACES = REPO.parent / "shared" / "traces"
"""The seed study's traces, beside the repository (not copied into it)."""
AGENT_DIRS = ("aider", "memgpt", "miniswe", "opencode", "taubench")
"""The folders of TRACES that hold the study's text traces (the others are hashed traces)."""


def agent_traces() -> list[Path]:
    """The study's text traces (JSONL with prompt text), in name order; [] when absent."""
    return sorted(p for d in AGENT_DIRS for p in (TRACES / d).glob("*.jsonl"))

OPENCODE = SAMPLES / "opencode_like.jsonl"
AIDER = SAMPLES / "aider_like.jsonl"
MALFORMED = SAMPLES / "malformed.jsonl"
TWO_SESSIONS = SAMPLES / "two_sessions.jsonl"


def need(path: Path) -> Path:
    """`path`, or skip the test when it is absent (e.g. no ../shared/traces)."""
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


def sample(name: str) -> Path:
    """A generated sample trace, or skip when it has not been generated."""
    path = SAMPLES / name
    if not path.is_file() or path.stat().st_size == 0:
        pytest.skip(f"sample trace {name} not generated (python -m tracetui.samples)")
    return path
