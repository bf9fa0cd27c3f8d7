"""Where the test data lives, and skips for data that is not there."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_traces"
TRACES = REPO.parent / "shared" / "traces"
"""The seed study's traces, beside the repository (not copied into it)."""

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
