"""Loading: the app is on screen at once; reading, tokenizing and replaying run in a thread."""

from __future__ import annotations

import threading
import time

from textual import work
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Label, ProgressBar

from ...core.display import display_text
from ...core.engines.study import AnalysisCancelled
from ...core.explorer import ExplorerData
from ...core.model import TraceError
from ...core.pipeline import Settings, load
from ...core.tokenizer import TokenizerError

STAGES = {"read": "Reading", "tokenize": "Tokenizing", "analyze": "Replaying pools",
          "diagnose": "Finding prefix breaks", "sessions": "Replaying each session"}


class LoadingScreen(Screen):
    # Ctrl-C too: Textual binds it to a "press Ctrl-Q" hint, but a load that waits on a FIFO
    # with no writer must end with the key every terminal user tries first.
    BINDINGS = [Binding("escape,ctrl+c", "cancel", "Cancel", id="loading.cancel")]

    def __init__(self, path: str, name: str, settings: Settings) -> None:
        super().__init__()
        self.path = path
        self.trace_name = name
        self.settings = settings
        self.cancel = threading.Event()
        self._last = 0.0

    def compose(self) -> ComposeResult:
        with Middle():
            with Center():
                yield Label(Text(f"Loading {display_text(self.trace_name)}"), id="loading-title")  # a file name
            with Center():
                yield Label("Reading", id="loading-stage")
            with Center():
                yield ProgressBar(total=None, show_eta=False, id="loading-bar")
            with Center():
                yield Label("Esc cancels", id="loading-hint")

    def on_mount(self) -> None:
        self.load_trace()

    def action_cancel(self) -> None:
        self.cancel.set()
        self.app.exit(return_code=130)

    def on_unmount(self) -> None:
        # Gone from the screen (`q` quits mid-load, or the main screen took its place): a worker
        # still loading stops at its next check instead of keeping the process alive.
        self.cancel.set()

    def _progress(self, stage: str, done: int, total: int, note: str = "") -> None:
        now = time.monotonic()
        if now - self._last < 0.05 and done < total:
            return  # the UI does not need more than ~20 updates a second
        self._last = now
        self.app.call_from_thread(self._show_progress, stage, done, total, note)

    def _show_progress(self, stage: str, done: int, total: int, note: str = "") -> None:
        unit = {"read": "bytes", "tokenize": "requests", "analyze": "pool sizes"}.get(stage, "")
        text = f"{STAGES.get(stage, stage)}: {done:,} / {total:,} {unit}" if total else STAGES.get(stage, stage)
        self.query_one("#loading-stage", Label).update(Text(display_text(f"{text} · {note}" if note else text)))
        self.query_one("#loading-bar", ProgressBar).update(total=total or None, progress=done)

    @work(thread=True, exclusive=True, group="load")
    def load_trace(self) -> None:
        try:
            loaded = load(self.path, self.settings, progress=self._progress, cancel=self.cancel)
            data = ExplorerData(loaded)
            # Everything the main screen and `S` read is computed here, off the UI thread.
            self._progress("diagnose", 0, 1)
            data.result.diagnose(cancel=self.cancel)  # AnalysisCancelled when set
            data.breaks  # noqa: B018
            self._progress("sessions", 0, 1)
            data.sessions  # session_stats replays each session  # noqa: B018
            data.provider_rate  # noqa: B018
            data.warnings  # noqa: B018
            data.bounded_pool  # noqa: B018
        except (TraceError, TokenizerError, AnalysisCancelled, ValueError) as exc:
            if self.cancel.is_set():
                return
            self.app.call_from_thread(self.app.show_error, str(exc) or type(exc).__name__)
            return
        except Exception as exc:  # never a traceback on screen: say what happened
            if self.cancel.is_set():
                return
            self.app.call_from_thread(self.app.show_error, f"unexpected error: {type(exc).__name__}: {exc}")
            return
        if not self.cancel.is_set():
            self.app.call_from_thread(self.app.show_main, data)
