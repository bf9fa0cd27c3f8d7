"""Loading: the app is on screen at once; reading, tokenizing and replaying run in a thread.

As soon as the reader has the requests they are listed (index, time, session, model, size in
characters) and can be browsed; their figures come with the main screen, which takes over
when the analysis is done, on the request selected here."""

from __future__ import annotations

import threading
import time

from textual import work
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Label, ProgressBar

from ...core.display import display_text
from ...core.engines.study import AnalysisCancelled
from ...core.explorer import ExplorerData, PendingData
from ...core.model import TraceError
from ...core.pipeline import Settings, load
from ...core.tokenizer import TokenizerError
from ..widgets.request_list import RequestList

STAGES = {"read": "Reading", "tokenize": "Tokenizing", "analyze": "Replaying pools", "finish": "Finishing"}


class LoadingScreen(Screen):
    # Ctrl-C too: Textual binds it to a "press Ctrl-Q" hint, but a load that waits on a FIFO
    # with no writer must end with the key every terminal user tries first.
    BINDINGS = [Binding("escape,ctrl+c", "cancel", "Cancel", id="loading.cancel")]

    DEFAULT_CSS = """
    #loading-box { height: auto; }
    LoadingScreen RequestList { height: 1fr; margin-top: 1; }
    """

    def __init__(self, path: str, name: str, settings: Settings) -> None:
        super().__init__()
        self.path = path
        self.trace_name = name
        self.settings = settings
        self.cancel = threading.Event()
        self._last = 0.0

    def compose(self) -> ComposeResult:
        with Vertical(id="loading-box"):
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

    @property
    def selected(self) -> int:
        """The request selected in the early list (0 before it shows)."""
        found = self.query(RequestList)
        return found.first().selected if found else 0

    def _progress(self, stage: str, done: int, total: int, note: str = "") -> None:
        now = time.monotonic()
        if now - self._last < 0.05 and done < total:
            return  # the UI does not need more than ~20 updates a second
        self._last = now
        # Posted, not call_from_thread: that waits for the UI to run it, and the UI drawing the
        # early request list held the load back ~20 times a second.
        self.post_message(self.Progress(stage, done, total, note))

    class Progress(Message):
        def __init__(self, stage: str, done: int, total: int, note: str) -> None:
            super().__init__()
            self.stage, self.done, self.total, self.note = stage, done, total, note

    def on_loading_screen_progress(self, m: Progress) -> None:
        self._show_progress(m.stage, m.done, m.total, m.note)

    def _show_progress(self, stage: str, done: int, total: int, note: str = "") -> None:
        unit = {"read": "bytes", "tokenize": "requests", "analyze": "pool sizes"}.get(stage, "")
        text = f"{STAGES.get(stage, stage)}: {done:,} / {total:,} {unit}" if total else STAGES.get(stage, stage)
        self.query_one("#loading-stage", Label).update(Text(display_text(f"{text} · {note}" if note else text)))
        self.query_one("#loading-bar", ProgressBar).update(total=total or None, progress=done)

    def _read(self, trace) -> None:
        """The reader is done (worker thread): list the requests while they are tokenized."""
        if trace.hashed or self.cancel.is_set():
            return  # a hashed trace has no tokenizing to wait for
        rows = PendingData(trace)
        if not self.cancel.is_set():
            self.app.call_from_thread(self._show_rows, rows)

    def _show_rows(self, rows: PendingData) -> None:
        if self.cancel.is_set() or self.query(RequestList):
            return
        self.styles.align = ("center", "top")
        self.query_one("#loading-hint", Label).update("Esc cancels · the figures come when the analysis is done")
        rl = RequestList(rows, id="loading-requests")
        self.mount(rl)
        rl.focus()

    @work(thread=True, exclusive=True, group="load")
    def load_trace(self) -> None:
        try:
            loaded = load(self.path, self.settings, progress=self._progress, cancel=self.cancel, on_read=self._read)
            # The study colours every prompt (prefix vs substring): computed here whatever the
            # engines asked for, with this screen's progress and Esc.
            loaded.study(progress=self._progress, cancel=self.cancel)
            self._progress("finish", 0, 1)
            data = ExplorerData(loaded)
            # What the main screen reads at once, computed here, off the UI thread. Breaks are
            # diagnosed when shown, the session figures in the background once the main screen is up.
            data.provider_rate  # noqa: B018
            data.warnings  # noqa: B018
            data.bounded_pool  # noqa: B018
            if data.hashed:
                data.breaks  # noqa: B018
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
            self.app.call_from_thread(self._done, data)

    def _done(self, data: ExplorerData) -> None:
        if not self.cancel.is_set():
            self.app.show_main(data, selected=max(0, min(self.selected, len(data) - 1)))
