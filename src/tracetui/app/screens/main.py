"""The main screen: header, request list, prompt view, legend, footer."""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass

from textual import on, work
from textual.worker import get_current_worker
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input

from ...core.explorer import SEARCH_LIMIT, ExplorerData, Match
from ..widgets.footer import KeyFooter
from ..widgets.legend import Legend, legend_classes
from ..widgets.prompt_view import BLOCKS, HEAT_LABELS, OFF, TOKENS, PromptView
from ..widgets.request_info import RequestInfo
from ..widgets.request_list import RequestList
from ..widgets.trace_header import TraceHeader


@dataclass
class SearchState:
    query: str
    matches: list[Match]
    current: int = -1
    capped: bool = False
    """More than SEARCH_LIMIT matches: only the first SEARCH_LIMIT are kept."""


class MainScreen(Screen):
    """Walk the trace turn by turn, token by token."""

    BINDINGS = [
        Binding("right_square_bracket", "turn(1)", "Next turn", id="main.next_turn", key_display="]"),
        Binding("left_square_bracket", "turn(-1)", "Prev turn", id="main.previous_turn", key_display="["),
        Binding("n", "next", "Next turn / match", show=False, id="main.next"),
        Binding("p", "turn(-1)", "Previous turn", show=False, id="main.previous"),
        Binding("N", "previous_match", "Previous match", show=False, id="main.previous_match"),
        Binding("b", "block(1)", "Next block", show=False, id="main.next_block"),
        Binding("B", "block(-1)", "Previous block", show=False, id="main.previous_block"),
        Binding("m", "break_marker", "Break", id="main.break",
                tooltip="Jump to the prefix-break marker; again: back to where you were"),
        Binding("M", "toggle_at_break", "Open at break", show=False, id="main.at_break",
                tooltip="Open every request at its break (on / off; `tracetui TRACE --at-break` starts on)"),
        Binding("colon", "goto", "Go to request", show=False, id="main.goto", key_display=":",
                tooltip="Go to request N (digits typed in the request list do the same)"),
        Binding("slash", "search", "Search", id="main.search", key_display="/"),
        Binding("s", "source", "Source", id="main.source"),
        Binding("escape", "escape", "Back / clear", show=False, id="main.escape"),
        Binding("backspace", "back", "Back from jump", show=False, id="main.back"),
        Binding("c", "curves", "Curves", id="main.curves"),
        Binding("f", "heatmap", "Heatmap", id="main.heatmap"),
        Binding("t", "boundaries", "Tokens", id="main.boundaries",
                tooltip="Token boundaries (every other token in orange); again, for a block engine: its "
                        "blocks (vLLM blocks, SGLang pages > 1, LMCache / CacheBlend chunks, every other one in "
                        "orange); again: off"),
        Binding("e", "engine", "Engine", show=False, id="main.engine",
                tooltip="Switch the engine: study -> vllm -> sglang -> lmcache -> cacheblend (those that can "
                        "read this trace); each is computed once, in the background (Esc cancels)"),
        Binding("P", "pool", "Pool size", show=False, id="main.pool",
                tooltip="Cycle the pool size the view shows: ∞, then each pool of the sweep, largest first "
                        "(tokens the ∞ pool reuses and this one does not are drawn as evicted)"),
        Binding("d", "diff", "Diff", id="main.diff"),
        Binding("S", "sessions", "Sessions", id="main.sessions"),
    ]

    def __init__(self, data: ExplorerData, *, at_break: bool = False, selected: int = 0) -> None:
        super().__init__()
        self.data = data
        self._first = selected
        """The request selected first (the one selected in the loading screen's early list)."""
        self.at_break = at_break
        """Open every request at its prefix break (M toggles)."""
        self._break_back: tuple[int, tuple[int, int, int]] | None = None
        """(request, prompt position) the cursor was on before `m` jumped to the break."""
        self.search: SearchState | None = None
        self.back_stack: list[tuple[int, int]] = []
        self._search_cancel = threading.Event()
        self._status = ""
        self._engine_wanted: str | None = None
        """The engine being computed for `e` (None: none)."""
        self._engine_timer = None

    def compose(self) -> ComposeResult:
        yield TraceHeader(self.data, id="trace-header")
        with Vertical(id="panes"):
            yield RequestList(self.data, id="requests")
            yield RequestInfo(self.data, id="request-info")
            if self.data.hashed:  # no text: the request as rows of block cells
                from ..widgets.block_view import BlockView

                yield BlockView(id="prompt")
            else:
                yield PromptView(id="prompt")
        yield Legend(id="legend")
        yield Input(placeholder="search all prompts (Enter to search, Escape to cancel)", id="search")
        yield Input(placeholder=f"go to request # (0-{len(self.data) - 1:,}; Enter to go, Escape to cancel)",
                    id="goto", type="integer", select_on_focus=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#search", Input).display = False
        self.query_one("#goto", Input).display = False
        self.request_list.focus()
        if self._first:
            self.request_list.select(self._first)
        self._show_request(self._first)
        self._refresh_legend()
        self._sessions()

    @work(thread=True, exclusive=True, group="sessions", exit_on_error=False)
    def _sessions(self) -> None:
        """The session table's figures, ahead of `S` (one replay of the trace, in the background;
        `S` before they are ready waits for them)."""
        self.data.sessions  # noqa: B018

    # ---- parts

    @property
    def request_list(self) -> RequestList:
        return self.query_one(RequestList)

    @property
    def prompt(self) -> PromptView:
        return self.query_one(PromptView)

    def _refresh_legend(self) -> None:
        pv = self.prompt
        names = ["prefix", "substring", "miss", "evicted", "output", "marker"]
        names += [f"heat-{level}" for level in range(len(HEAT_LABELS))]
        styles = {name: pv.get_component_rich_style(f"prompt-view--{name}") for name in names}
        classes = legend_classes(self.data.engines, self.data.hashed)
        self.query_one(Legend).show(heatmap=pv.heatmap, status=self._status, styles=styles, classes=classes,
                                    output_note="output never hit" if self.data.hashed else "")

    def set_status(self, text: str) -> None:
        self._status = text
        self._refresh_legend()

    # ---- selection

    def _show_request(self, index: int, *, char: int | None = None, block_kind: str | None = None,
                      highlight: tuple[int, int] | None = None) -> None:
        doc = self.data.document(index)
        self.query_one(RequestInfo).show(index)
        self.prompt.cause = self.data.engines.cause(index, self.data.breaks[index].cause)
        self.prompt.set_document(doc, char=char, block_kind=block_kind, highlight=highlight)
        self._break_back = None
        if self.at_break and char is None and highlight is None:
            self.prompt.goto_break()
        self._apply_matches(index)

    @on(RequestList.Selected)
    def _on_selected(self, event: RequestList.Selected) -> None:
        pv = self.prompt
        if event.index != self.request_list.selected:
            # Stale: the selection moved on before this message arrived (select_request on a
            # filtered list posts one for the old selection), and the newer one is shown.
            return
        if pv.doc is not None and pv.doc.index == event.index:
            return
        self._show_request(event.index)

    def select_request(self, index: int, *, char: int | None = None, block_kind: str | None = None,
                       highlight: tuple[int, int] | None = None) -> None:
        """Select `index` in the list and show it (at `char` / the first `block_kind` block)."""
        rl = self.request_list
        if index not in rl.shown:
            self._clear_session_filter()  # a filtered list does not hold it: show everything again
        rl.select(index)
        self._show_request(index, char=char, block_kind=block_kind, highlight=highlight)

    # ---- actions

    def action_turn(self, delta: int) -> None:
        rl = self.request_list
        if not rl.shown:
            return
        kind = self.prompt.current_kind()
        target = max(0, min(len(rl.shown) - 1, rl.cursor + delta))
        if target == rl.cursor:
            return
        self.select_request(rl.shown[target], block_kind=kind)

    def action_next(self) -> None:
        if self.search is not None:
            self._goto_match(1)
        else:
            self.action_turn(1)

    def action_previous_match(self) -> None:
        if self.search is not None:
            self._goto_match(-1)

    def action_block(self, delta: int) -> None:
        self.prompt.goto_block(delta)

    def action_curves(self) -> None:
        from .curves import CurvesScreen

        def opened(index: int | None) -> None:
            if index is not None:
                self.select_request(index)

        self.app.push_screen(CurvesScreen(self.data, self.request_list.selected), opened)

    def action_diff(self) -> None:
        from .diff import DiffScreen

        def back(index: int | None) -> None:
            if index is not None and index != self.request_list.selected:
                self.select_request(index, char=self.data.break_position(index))

        self.app.push_screen(DiffScreen(self.data, self.request_list.selected), back)

    def action_sessions(self) -> None:
        from .sessions import ALL, CANCEL, SessionsScreen, session_label

        def chosen(session: object) -> None:
            if session is CANCEL:
                return
            if session is ALL:
                self._clear_session_filter()
                return
            rows = [i for i, r in enumerate(self.data.trace.requests) if r.session_id == session]
            self.request_list.set_visible(rows)
            self.query_one(TraceHeader).set_note(
                f"session {session_label(session)[:24]} ({len(rows)} requests)")

        self.app.push_screen(SessionsScreen(self.data), chosen)

    def _clear_session_filter(self) -> None:
        """Show every request again, and drop the header's session note."""
        self.request_list.set_visible([])
        self.query_one(TraceHeader).set_note("")

    # ---- the prefix break, request N

    def action_break_marker(self) -> None:
        pv = self.prompt
        doc = pv.doc
        if doc is None:
            return
        back = self._break_back
        if pv.at_break() and back is not None and back[0] == doc.index:
            self._break_back = None
            pv.restore(back[1])
            self.set_status("")
            return
        here = pv.position()
        if not pv.goto_break():
            # No break to jump to: an empty input has none (it is not an append of anything).
            what = ("no input tokens: nothing to reuse, nothing lost" if not self.data.analysis.input_lens[doc.index]
                    else "the whole input is a prefix hit, nothing broke")
            self.set_status(f"request {doc.index}: {what}")
            return
        self._break_back = (doc.index, here)
        self.set_status("at the prefix break · m: back")

    def action_toggle_at_break(self) -> None:
        self.at_break = not self.at_break
        if self.at_break:
            self.prompt.goto_break()
        self.set_status("requests open at their prefix break (M: off)" if self.at_break
                        else "requests open at the top (M: at their break)")

    def action_goto(self, digits: str = "") -> None:
        box = self.query_one("#goto", Input)
        box.display = True
        box.value = digits
        box.focus()
        box.cursor_position = len(digits)

    async def on_key(self, event) -> None:
        box = self.query_one("#goto", Input)
        if box.display and self.focused is not box:
            # Keys typed in one burst with `:` (a paste, `tmux send-keys ':12' Enter`) arrive
            # before the box has focus: they are the box's, not the list's.
            if event.character and event.character.isdigit():
                event.stop()
                event.prevent_default()
                box.value += event.character
                box.cursor_position = len(box.value)
                return
            if event.key == "enter":
                event.stop()
                event.prevent_default()
                await box.action_submit()
                return
        # Digits typed in the request list open the go-to box with them (as `:` then digits).
        if event.character and event.character.isdigit() and self.focused is self.request_list:
            event.stop()
            event.prevent_default()
            self.action_goto(event.character)

    @on(Input.Submitted, "#goto")
    def _goto_submitted(self, event: Input.Submitted) -> None:
        box = self.query_one("#goto", Input)
        box.display = False
        self.request_list.focus()
        text = event.value.strip()
        if not text:
            return
        try:
            index = int(text)
        except ValueError:
            index = -1
        if not 0 <= index < len(self.data):
            self.set_status(f"no request {text}: 0 to {len(self.data) - 1:,}")
            return
        self.set_status("")
        self.select_request(index)

    def _no_text(self, what: str) -> bool:
        """On a hashed trace, say on the status line that `what` needs text (True: stop)."""
        if self.data.hashed:
            self.set_status(f"hashed trace: no text, so no {what}")
            return True
        return False

    def action_heatmap(self) -> None:
        if self._no_text("heatmap (chunk frequencies)"):
            return
        self.prompt.heatmap = not self.prompt.heatmap
        self._refresh_legend()

    def action_boundaries(self) -> None:
        if self._no_text("token boundaries (a block is the unit)"):
            return
        pv = self.prompt
        grid = pv.doc.block_grid if pv.doc is not None else None
        modes = [OFF, TOKENS] + ([BLOCKS] if grid is not None else [])
        pv.boundaries = modes[(modes.index(pv.boundaries) + 1) % len(modes) if pv.boundaries in modes else 0]
        if pv.boundaries == BLOCKS:
            self.set_status(f"t: {self.data.engines.active} blocks of {grid[0]} tokens, every other one in orange")
        elif self._status.startswith("t: "):
            self.set_status("")

    # ---- engines and pools (core.explorer_engines)

    def action_engine(self) -> None:
        eng = self.data.engines
        name = eng.next_engine(after=self._engine_wanted)
        if eng.is_computed(name):
            self._cancel_engine()
            eng.activate(name)
            self._engine_changed()
            return
        self._engine_wanted = name
        self._engine_started = time.monotonic()
        if self._engine_timer is None:
            self._engine_timer = self.set_interval(0.25, self._engine_progress)
        self._engine_progress()
        self.compute_engine(name)

    @work(thread=True, exclusive=True, group="engine")
    def compute_engine(self, name: str) -> None:
        worker = get_current_worker()
        try:
            self.data.engines.compute(name)
        except ValueError as exc:  # the engine cannot read this trace: say why
            self.app.call_from_thread(self._engine_failed, name, str(exc))
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._engine_done, name)

    def _engine_progress(self) -> None:
        name = self._engine_wanted
        if name is None:
            return
        seconds = time.monotonic() - self._engine_started
        spin = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"[int(seconds * 4) % 10]
        pools = len(self.data.engines.pools)
        self.set_status(f"{spin} computing {name} over {pools} pool sizes… {seconds:.0f}s · e: next engine · "
                        "Esc: cancel")

    def _engine_done(self, name: str) -> None:
        if name != self._engine_wanted:  # cancelled, or another engine asked for since
            return
        self._stop_engine_timer()
        self.data.engines.activate(name)
        self._engine_changed()

    def _engine_failed(self, name: str, message: str) -> None:
        if name == self._engine_wanted:
            self._stop_engine_timer()
            self.set_status(f"{name}: {message}")

    def _stop_engine_timer(self) -> None:
        self._engine_wanted = None
        if self._engine_timer is not None:
            self._engine_timer.stop()
            self._engine_timer = None

    def _cancel_engine(self) -> bool:
        """Stop waiting for the engine being computed (True if there was one)."""
        if self._engine_wanted is None:
            return False
        self.workers.cancel_group(self, "engine")
        self._stop_engine_timer()
        return True

    def action_pool(self) -> None:
        self.data.engines.cycle_pool()
        self._engine_changed()

    def _engine_changed(self) -> None:
        """Draw the active engine and pool everywhere: header, list, prompt, legend."""
        self.query_one(TraceHeader).refresh_figures()
        self.request_list.refresh_rows()
        pv = self.prompt
        if pv.doc is not None:
            index = pv.doc.index
            char = pv.current_char() if pv.cursor_row else None  # at the top: stay there
            self._show_request(index, char=char)
            if pv.boundaries == BLOCKS and pv.doc.block_grid is None:
                pv.boundaries = OFF
        # The header names the engine and pool and gives their figures: the status only clears.
        self.set_status("")

    # ---- source jump

    def action_source(self) -> None:
        if self._no_text("substring source to jump to"):
            return
        pv = self.prompt
        doc = pv.doc
        if doc is None:
            return
        token = pv.next_substring_token()
        if token is None:
            self.set_status("no substring hit below the cursor")
            return
        src = self.data.chunk_source(doc.index, token)
        if src is None:
            self.set_status("this chunk was not seen before")
            return
        req, off = src
        self.back_stack.append((doc.index, int(doc.token_starts[token])))
        target = self.data.document(req)
        c = self.data.analysis.chunk_size
        a = int(target.token_starts[min(off, target.n_tokens - 1)])
        b = int(target.token_starts[min(off + c, target.n_tokens)])
        self.select_request(req, char=a, highlight=(a, b))
        self.set_status(f"chunk of request {doc.index} @ token {token:,} first seen in request {req} "
                        f"@ token {off:,} · Esc/⌫ back")

    def action_back(self) -> None:
        if not self.back_stack:
            return
        index, char = self.back_stack.pop()
        self.select_request(index, char=char)
        self.set_status("")

    def action_escape(self) -> None:
        if self._cancel_engine():
            self.set_status("engine computation cancelled")
            return
        for box in self.query("#search, #goto").results(Input):
            if box.display:
                box.display = False
                self.request_list.focus()
                return
        if self.search is not None:
            self._clear_search()
        elif self.back_stack:
            self.action_back()
        elif self.prompt.highlight is not None:
            self.prompt.highlight = None
            self.prompt.refresh()

    # ---- search

    def action_search(self) -> None:
        if self._no_text("search"):
            return
        box = self.query_one("#search", Input)
        box.display = True
        box.value = self.search.query if self.search else ""
        box.focus()

    @on(Input.Submitted, "#search")
    def _submitted(self, event: Input.Submitted) -> None:
        box = self.query_one("#search", Input)
        box.display = False
        self.request_list.focus()
        query = event.value
        if not query:
            self._clear_search()
            return
        self.set_status(f"searching “{query}”…")
        self._search_cancel.set()
        self._search_cancel = threading.Event()
        self.run_search(query, self._search_cancel)

    @work(thread=True, exclusive=True, group="search")
    def run_search(self, query: str, cancel: threading.Event) -> None:
        matches = self.data.search(query, cancel)
        if not cancel.is_set():
            self.app.call_from_thread(self._search_done, query, matches, cancel)

    def _search_done(self, query: str, matches: list[Match], cancel: threading.Event) -> None:
        # Checked again here, on the UI thread: Esc (or a newer search) may have come between
        # the worker's check and this call, and must not be undone by it.
        if cancel is not self._search_cancel or cancel.is_set():
            return
        capped = len(matches) > SEARCH_LIMIT
        self.search = SearchState(query, matches[:SEARCH_LIMIT], capped=capped)
        if not matches:
            self.set_status(f"no match for “{query}”")
            self.search = None
            return
        # Start at the first match in or after the selected request (matches are in request order).
        first = bisect.bisect_left(matches, self.request_list.selected, key=_request)
        self.search.current = (first if first < len(matches) else 0) - 1
        self._goto_match(1)

    def _goto_match(self, delta: int) -> None:
        s = self.search
        if s is None or not s.matches:
            return
        s.current = (s.current + delta) % len(s.matches)
        m = s.matches[s.current]
        self.select_request(m.request, char=m.start)  # which applies the matches
        if s.capped:  # the search stopped there: a count of millions would cost seconds and GBs
            self.set_status(f"“{s.query}”: match {s.current + 1:,} of {len(s.matches):,}+ matches "
                            f"(request {m.request}; search stopped there) · n/N · Esc clears")
            return
        self.set_status(f"“{s.query}”: match {s.current + 1:,}/{len(s.matches):,} "
                        f"(request {m.request}) · n/N · Esc clears")

    def _apply_matches(self, index: int) -> None:
        s = self.search
        if s is None:
            if self.prompt.matches:
                self.prompt.set_matches([], None)
            return
        lo = bisect.bisect_left(s.matches, index, key=_request)
        hi = bisect.bisect_right(s.matches, index, lo=lo, key=_request)
        here = [(m.start, m.end) for m in s.matches[lo:hi]]
        cur = s.matches[s.current] if 0 <= s.current < len(s.matches) else None
        current = (cur.start, cur.end) if cur is not None and cur.request == index else None
        self.prompt.set_matches(here, current)

    def _clear_search(self) -> None:
        self._search_cancel.set()
        self.search = None
        self.prompt.set_matches([], None)
        self.set_status("")


def _request(m: Match) -> int:
    return m.request
