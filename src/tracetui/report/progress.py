"""Loading a trace for a headless command, with a progress bar on stderr when it takes a while."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..core.pipeline import Settings
from ..core.result import TraceResult, build

_STAGES = {"read": "reading", "tokenize": "tokenizing", "analyze": "replaying pools"}


class DelayedProgress:
    """A progress bar on stderr that only appears when the work takes over a second."""

    def __init__(self, delay: float = 1.0) -> None:
        self.start = time.monotonic()
        self.delay = delay
        self.enabled = sys.stderr.isatty() and not os.environ.get("TRACETUI_NO_PROGRESS")
        self._progress = None
        self._tasks: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int, note: str = "") -> None:
        if not self.enabled or time.monotonic() - self.start < self.delay:
            return
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                      TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._progress.start()
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(_STAGES.get(stage, stage), total=total or None)
        self._progress.update(self._tasks[stage], completed=done, total=total or None)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def load_result(path: str | Sequence[str], settings: Settings) -> TraceResult:
    """The trace's TraceResult, built once for every table and document of the command."""
    progress = DelayedProgress()
    try:
        return build(path, settings, progress=progress)
    finally:
        progress.close()
