"""The explorer driven key by key through Textual's pilot, asserting on app state (not pixels).

Every app is built with `create_app` and waited for with `ready(pilot)` (trace loaded, workers
done). Sizes are fixed so that page sizes and click positions do not depend on the terminal.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading

import pytest
from rich.console import Console
from textual.widgets import DataTable

from tracetui.app.app import create_app
from tracetui.app.screens import loading as loading_module
from tracetui.app.screens.curves import CurvesScreen
from tracetui.app.screens.error import ErrorScreen
from tracetui.app.screens.help import HelpScreen, collect_bindings
from tracetui.app.screens.loading import LoadingScreen
from tracetui.app.screens.warnings import WarningsScreen
from tracetui.app.widgets.legend import Legend
from tracetui.app.widgets.prompt_view import PromptView
from tracetui.app.widgets.request_list import RequestList
from tracetui.core.document import ROW_HEADER, SUBSTRING
from tracetui.core.engines.study import AnalysisCancelled

from .conftest import main_screen, press, ready, settle
from .paths import AIDER, MALFORMED, OPENCODE, TWO_SESSIONS

pytestmark = pytest.mark.usefixtures("frozen_terminal_size")

SIZE = (100, 32)


def status(app) -> str:
    return app.screen.query_one(Legend).content.plain


# ---- request list

async def test_up_down_j_k_move_the_selection():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        rl = ms.request_list
        assert app.focused is rl and rl.selected == 0
        await press(pilot, "down")
        assert rl.selected == 1
        await press(pilot, "j", "j")
        assert rl.selected == 3
        await press(pilot, "k")
        assert rl.selected == 2
        await press(pilot, "up", "up", "up")
        assert rl.selected == 0  # clamped at the first request
        # The prompt view follows the selection.
        await press(pilot, "j")
        assert ms.prompt.doc is not None and ms.prompt.doc.index == 1


async def test_request_list_page_and_top_bottom():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        rl = main_screen(app).request_list
        n = len(rl.shown)
        await press(pilot, "pagedown")
        first_page = rl.selected
        assert 0 < first_page < n
        await press(pilot, "pageup")
        assert rl.selected == 0
        await press(pilot, "space")
        assert rl.selected == first_page
        await press(pilot, "G")
        assert rl.selected == n - 1
        await press(pilot, "g")
        assert rl.selected == 0
        await press(pilot, "end")
        assert rl.selected == n - 1
        await press(pilot, "home")
        assert rl.selected == 0


async def test_click_selects_a_request_row():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        # Row 0 of the widget is the column header: y=3 is the third request (index 2).
        assert await pilot.click(RequestList, offset=(5, 3))
        await pilot.pause()
        assert ms.request_list.selected == 2
        assert ms.prompt.doc.index == 2


# ---- turns and blocks

def _first_block(pv: PromptView, kind: str) -> int:
    return [b.kind for b in pv.doc.blocks].index(kind)


@pytest.mark.parametrize("next_key, prev_key", [("right_square_bracket", "left_square_bracket"), ("n", "p")])
async def test_next_previous_turn_keep_the_block_kind(next_key, prev_key):
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        pv, rl = ms.prompt, ms.request_list
        await press(pilot, "j", "j")
        await press(pilot, *["b"] * _first_block(pv, "history"))
        assert pv.current_kind() == "history"
        await press(pilot, next_key)
        assert rl.selected == 3 and pv.doc.index == 3
        assert pv.current_kind() == "history"
        assert pv.layout_.kind[pv.cursor_row] == ROW_HEADER
        await press(pilot, prev_key, prev_key)
        assert rl.selected == 1
        assert pv.current_kind() == "history"
        # The env block exists in every request: it is kept too.
        await press(pilot, "g")  # the list is focused: first request
        await press(pilot, *["b"] * _first_block(pv, "env"))
        assert pv.current_kind() == "env"
        await press(pilot, next_key)
        assert rl.selected == 1 and pv.current_kind() == "env"
        await press(pilot, prev_key, prev_key)  # the second press is clamped at request 0
        assert rl.selected == 0 and pv.current_kind() == "env"


async def test_tab_and_shift_tab_move_focus():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        assert app.focused is ms.request_list
        await press(pilot, "tab")
        assert app.focused is ms.prompt
        await press(pilot, "tab")
        assert app.focused is ms.request_list
        await press(pilot, "shift+tab")
        assert app.focused is ms.prompt
        await press(pilot, "shift+tab")
        assert app.focused is ms.request_list


async def test_b_and_B_move_between_blocks():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        pv = main_screen(app).prompt
        await press(pilot, "j", "j")
        assert pv.current_block() == 0
        await press(pilot, "b")
        assert pv.current_block() == 1
        assert pv.cursor_row == pv.layout_.header_row(1)
        await press(pilot, "b", "b")
        assert pv.current_block() == 3
        await press(pilot, "B")
        assert pv.current_block() == 2
        assert pv.cursor_row == pv.layout_.header_row(2)
        # Inside a block, B first goes back to that block's header.
        await press(pilot, "tab", "down", "down")
        assert pv.current_block() == 2 and pv.cursor_row > pv.layout_.header_row(2)
        await press(pilot, "B")
        assert pv.current_block() == 2 and pv.cursor_row == pv.layout_.header_row(2)
        await press(pilot, "B", "B", "B")
        assert pv.current_block() == 0
        last = len(pv.doc.blocks) - 1
        await press(pilot, *["b"] * (last + 3))
        assert pv.current_block() == last  # clamped at the last block (the output)
        assert pv.current_kind() == "output"


async def test_prompt_view_lines_pages_top_bottom():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        pv = ms.prompt
        await press(pilot, "tab")
        assert app.focused is pv
        rows = len(pv.layout_)
        height = pv.scrollable_content_region.height
        assert rows > 3 * height
        start = pv.cursor_row
        await press(pilot, "j")
        assert pv.cursor_row == start + 1
        await press(pilot, "down", "k")
        assert pv.cursor_row == start + 1
        await press(pilot, "up")
        assert pv.cursor_row == start
        await press(pilot, "pagedown")
        assert pv.cursor_row == start + height - 1
        assert pv.scroll_offset.y > 0
        await press(pilot, "space")
        assert pv.cursor_row == start + 2 * (height - 1)
        await press(pilot, "pageup")
        assert pv.cursor_row == start + height - 1
        await press(pilot, "G")
        assert pv.cursor_row == rows - 1
        assert pv.scroll_offset.y == rows - height
        await press(pilot, "g")
        assert pv.cursor_row == 0 and pv.scroll_offset.y == 0
        await press(pilot, "end")
        assert pv.cursor_row == rows - 1
        await press(pilot, "home")
        assert pv.cursor_row == 0
        # None of this moved the selected request.
        assert ms.request_list.selected == 0


# ---- search

async def test_search_finds_matches_and_n_N_walk_them():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        rl = ms.request_list
        await press(pilot, "slash")
        box = ms.query_one("#search")
        assert box.display and app.focused is box
        await pilot.press(*"pytest")
        await pilot.press("enter")
        await settle(pilot)
        assert not box.display and app.focused is rl
        search = ms.search
        assert search is not None and search.query == "pytest"
        total = len(search.matches)
        assert total > 100
        assert all(m.request < len(rl.shown) for m in search.matches)
        assert search.current == 0
        assert f"match 1/{total:,}" in status(app)
        first = search.matches[0]
        assert rl.selected == first.request
        assert ms.prompt.current_match == (first.start, first.end)
        # n walks forward, across requests.
        seen = {rl.selected}
        for k in range(1, 20):
            await press(pilot, "n")
            assert search.current == k
            assert rl.selected == search.matches[k].request
            assert f"match {k + 1}/{total:,}" in status(app)
            seen.add(rl.selected)
        assert len(seen) > 1
        # N walks back; from the first match it wraps to the last.
        await press(pilot, "N")
        assert search.current == 18
        for _ in range(18):
            await press(pilot, "N")
        assert search.current == 0 and rl.selected == first.request
        await press(pilot, "N")
        assert search.current == total - 1
        assert rl.selected == search.matches[-1].request
        # Escape clears.
        await press(pilot, "escape")
        assert ms.search is None
        assert ms.prompt.matches == [] and ms.prompt.current_match is None
        assert "match" not in status(app)


async def test_search_without_match_and_escape_in_the_box():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        await press(pilot, "slash", *"no-such-text-anywhere", "enter")
        await settle(pilot)
        assert ms.search is None
        assert "no match" in status(app)
        # Escape in the open box closes it without searching.
        await press(pilot, "slash", "x")
        await press(pilot, "escape")
        assert not ms.query_one("#search").display
        assert app.focused is ms.request_list and ms.search is None


async def test_a_search_cleared_or_replaced_before_its_result_arrives_stays_so():
    """The worker checks its cancel event before handing the result to the UI thread, but Esc
    (or a newer search) can come in between: the result must not revive the search."""
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        matches = ms.data.search("pytest")
        assert matches
        # Cleared with Esc after the worker's check.
        started = ms._search_cancel
        ms._clear_search()
        ms._search_done("pytest", matches, started)
        assert ms.search is None and ms.prompt.matches == []
        # Replaced by a newer search.
        old = threading.Event()
        ms._search_done("pytest", matches, old)
        assert ms.search is None
        # The current search's result is taken, and the prompt view gets the selected request's matches.
        ms._search_cancel = current = threading.Event()  # as Enter in the search box does
        ms._search_done("pytest", matches, current)
        await pilot.pause()
        assert ms.search is not None and ms.search.current == 0
        here = ms.request_list.selected
        assert ms.prompt.matches == [(m.start, m.end) for m in matches if m.request == here]


async def test_n_p_are_turns_when_no_search():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        assert ms.search is None
        await press(pilot, "n", "n")
        assert ms.request_list.selected == 2
        await press(pilot, "p")
        assert ms.request_list.selected == 1
        await press(pilot, "N")  # previous match: nothing to do without a search
        assert ms.request_list.selected == 1


# ---- source jump

async def test_s_jumps_to_the_source_and_escape_or_backspace_return():
    app = create_app(AIDER)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        rl, pv = ms.request_list, ms.prompt
        await press(pilot, "j", "j", "j")
        assert rl.selected == 3
        token = pv.next_substring_token()
        assert token is not None and pv.doc.token_class[token] == SUBSTRING
        src = ms.data.chunk_source(3, token)
        assert src is not None
        source_request = src[0]
        assert source_request < 3

        await press(pilot, "s")
        assert rl.selected == source_request and pv.doc.index == source_request
        assert pv.highlight is not None
        a, b = pv.highlight
        assert a < b and pv.layout_.start[pv.cursor_row] <= a
        text = status(app)
        assert f"chunk of request 3 @ token {token:,} first seen in request {source_request}" in text
        assert ms.back_stack

        await press(pilot, "escape")
        assert rl.selected == 3 and not ms.back_stack

        await press(pilot, "s")
        assert rl.selected == source_request
        await press(pilot, "backspace")
        assert rl.selected == 3 and not ms.back_stack
        assert "first seen" not in status(app)


async def test_s_without_substring_hit_says_so():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        await press(pilot, "s")  # request 0: nothing was seen before it
        assert ms.request_list.selected == 0 and not ms.back_stack
        assert "no substring hit" in status(app)


# ---- other screens and modes

async def test_curves_screen_moves_and_opens_a_request():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        await press(pilot, "j")
        await press(pilot, "c")
        curves = app.screen
        assert isinstance(curves, CurvesScreen)
        assert curves.cursor == 1
        await press(pilot, "right", "right", "right", "left")
        assert curves.cursor == 3
        await press(pilot, "l", "h", "h")
        assert curves.cursor == 2
        await press(pilot, *["left"] * 5)
        assert curves.cursor == 0  # clamped
        await press(pilot, *["right"] * 4)
        await press(pilot, "enter")
        assert app.screen is ms
        assert ms.request_list.selected == 4 and ms.prompt.doc.index == 4

        await press(pilot, "c")
        assert isinstance(app.screen, CurvesScreen)
        await press(pilot, "right")
        await press(pilot, "escape")
        assert app.screen is ms
        assert ms.request_list.selected == 4  # closing does not open anything


def test_long_curves_are_decimated_and_drawn_the_same(monkeypatch):
    """Curves over many requests plot a few points per canvas column (redrawing 100,000 points
    on each ←/→ took over a second), and the chart is the same as with every point plotted."""
    from types import SimpleNamespace

    import numpy as np

    from tracetui.report import charts

    rng = np.random.default_rng(7)
    n = 20_000
    lens = rng.integers(1, 5000, n)
    prefix = (lens * rng.random(n)).astype(int)
    prefix[rng.random(n) < 0.9] = 0  # rare spikes: what a coarse average would lose
    a = SimpleNamespace(requests=n, input_lens=lens,
                        unlimited=SimpleNamespace(prefix_hits=prefix, substring_hits=(lens * rng.random(n)).astype(int)))
    sizes = []
    real = charts.decimate

    def counted(ys, width, *marker):
        xs, out = real(ys, width, *marker)
        sizes.append(len(xs))
        return xs, out

    monkeypatch.setattr(charts, "decimate", counted)
    drawn = [charts.per_request_chart(a, width=w, height=16, cursor=4321) for w in (60, 150)]
    drawn.append(charts.cumulative_chart(a, width=100, height=16))
    assert sizes and max(sizes) <= 8 * 150
    assert "request 4321: prefix" in drawn[1]  # the cursor's request exactly
    monkeypatch.setattr(charts, "decimate", lambda ys, width, *marker: (list(range(len(ys))), ys.tolist()))
    full = [charts.per_request_chart(a, width=w, height=16, cursor=4321) for w in (60, 150)]
    full.append(charts.cumulative_chart(a, width=100, height=16))
    assert drawn == full


async def test_f_toggles_the_heatmap_and_t_the_token_boundaries():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        pv = ms.prompt
        assert not pv.heatmap and not pv.boundaries
        await press(pilot, "f")
        assert pv.heatmap
        assert "chunk in N requests" in status(app)
        # The scale is the prompt view's: each label in the colour of its level.
        from tracetui.app.widgets.prompt_view import HEAT_LABELS

        legend = app.screen.query_one(Legend).content
        for level, label in enumerate(HEAT_LABELS):
            at = legend.plain.index(f" {label} ")
            want = pv.get_component_rich_style(f"prompt-view--heat-{level}")
            assert any(sp.start <= at < sp.end and sp.style == want for sp in legend.spans), label
        await press(pilot, "f")
        assert not pv.heatmap
        assert "prefix hit" in status(app)
        await press(pilot, "t")
        assert pv.boundaries
        await press(pilot, "t")
        assert not pv.boundaries


async def test_help_lists_the_bindings():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        await press(pilot, "question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        actions = {desc for _, _, desc in collect_bindings(ms)}
        for name in ("Next turn", "Prev turn", "Search", "Source", "Curves", "Heatmap", "Quit",
                     "Next block", "Next request", "Line down"):
            assert name in actions
        # t, e and P say what they do in full (their tooltips): token boundaries / the engine's blocks.
        assert any(d.startswith("Token boundaries") and "blocks" in d for d in actions)
        assert any(d.startswith("Switch the engine") for d in actions)
        assert any(d.startswith("Cycle the pool size") for d in actions)
        # What the modal shows: its rich Table, printed as plain text.
        console = Console(width=120, file=io.StringIO(), record=True, color_system=None)
        console.print(help_screen.query("Static").first().content)
        text = console.export_text()
        assert "Keys on the main screen" in text
        for line in ("]  Next turn", "/  Search", "s  Source", "q  Quit", "m  Jump to the prefix-break",
                     ":  Go to request N", "Tab, Shift+Tab"):
            keys, _, action = line.partition("  ")
            assert any(row.split()[:1] == keys.split()[:1] and action in row for row in text.splitlines()), line
        # The hidden search box's editing keys are not explorer keys; no widget's class name either.
        assert "Move cursor left" not in text and "Input" not in text
        assert "RequestList" not in text and "PromptView" not in text and "VerticalScroll" not in text
        assert "request list" in text and "prompt view" in text
        await press(pilot, "escape")
        assert app.screen is ms
        await press(pilot, "question_mark")
        await press(pilot, "question_mark")
        assert app.screen is ms


async def test_q_quits():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert not app.is_running


# ---- loading, warnings, errors

async def test_escape_on_the_loading_screen_cancels(monkeypatch):
    started = threading.Event()

    def slow_load(path, settings, *, progress=None, cancel=None, on_read=None):
        started.set()
        assert cancel is not None
        while not cancel.wait(0.01):
            pass
        raise AnalysisCancelled()

    monkeypatch.setattr(loading_module, "load", slow_load)
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        while not started.is_set():
            await asyncio.sleep(0.01)
        assert isinstance(app.screen, LoadingScreen)
        await pilot.press("escape")
        await pilot.pause()
    assert app.return_code == 130
    assert app.error_message is None


async def test_q_on_the_loading_screen_stops_the_load(monkeypatch):
    """Quitting mid-load unmounts the loading screen, whose cancel event stops the worker
    (which would otherwise keep the process alive until the whole trace is loaded)."""
    started, stopped = threading.Event(), threading.Event()

    def slow_load(path, settings, *, progress=None, cancel=None, on_read=None):
        started.set()
        assert cancel is not None
        if cancel.wait(30):
            stopped.set()
        raise AnalysisCancelled()

    monkeypatch.setattr(loading_module, "load", slow_load)
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        while not started.is_set():
            await asyncio.sleep(0.01)
        await pilot.press("q")
        await pilot.pause()
    assert stopped.wait(5)
    assert app.error_message is None


async def test_requests_are_listed_before_the_analysis_ends(monkeypatch):
    """The reader's requests show in the loading screen (characters, no figures) while the
    load goes on; the cursor moved there is where the main screen opens; Escape still cancels."""
    from tracetui.core.pipeline import load as real_load

    listed, go = threading.Event(), threading.Event()

    def held_load(path, settings, *, progress=None, cancel=None, on_read=None):
        def read(trace):
            on_read(trace)
            listed.set()
            go.wait(30)

        return real_load(path, settings, progress=progress, cancel=cancel, on_read=read)

    monkeypatch.setattr(loading_module, "load", held_load)
    app = create_app(TWO_SESSIONS)
    async with app.run_test(size=SIZE) as pilot:
        while not listed.is_set():
            await asyncio.sleep(0.01)
        for _ in range(50):
            await pilot.pause()
            if app.screen.query(RequestList):
                break
        assert isinstance(app.screen, LoadingScreen)
        rl = app.screen.query_one(RequestList)
        assert len(rl.shown) == 16 and rl.data.rows[3].pending and rl.data.rows[3].input_chars > 0
        header = "".join(seg.text for seg in rl.render_line(0))
        assert "chars" in header
        row = "".join(seg.text for seg in rl._draw_row(rl.data.rows[3], False))
        assert f"{rl.data.rows[3].input_chars:,}" in row and "…" in row
        await press(pilot, "j", "j", "j")
        assert rl.selected == 3
        go.set()
        await ready(pilot)
        ms = main_screen(app)
        assert ms.request_list.selected == 3 and ms.prompt.doc.index == 3


async def test_escape_while_the_requests_are_listed_cancels(monkeypatch):
    from tracetui.core.pipeline import load as real_load

    listed = threading.Event()

    def held_load(path, settings, *, progress=None, cancel=None, on_read=None):
        def read(trace):
            on_read(trace)
            listed.set()
            cancel.wait(30)

        return real_load(path, settings, progress=progress, cancel=cancel, on_read=read)

    monkeypatch.setattr(loading_module, "load", held_load)
    app = create_app(TWO_SESSIONS)
    async with app.run_test(size=SIZE) as pilot:
        while not listed.is_set():
            await asyncio.sleep(0.01)
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
    assert app.return_code == 130 and app.error_message is None


async def test_breaks_are_diagnosed_when_shown_and_sessions_off_the_ui_thread(monkeypatch):
    """No whole-trace diagnose in the app: the breaks computed are those of the rows on screen
    and of the request shown; the session table (`S`) finds its rows computed in a worker and
    never replays sessions on the UI thread."""
    import tracetui.core.diagnose as diagnose_module

    def no_diagnose(*args, **kwargs):
        raise AssertionError("the whole trace diagnosed")

    threads = []
    real = diagnose_module.session_stats

    def counting(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(diagnose_module, "diagnose", no_diagnose)
    monkeypatch.setattr(diagnose_module, "session_stats", counting)
    app = create_app(TWO_SESSIONS)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        assert ms.data.sessions_ready and len(threads) == 1 and threads[0] is not threading.main_thread()
        await press(pilot, "d", "escape", "S")
        assert app.screen.query_one(DataTable).row_count == 3
        assert len(threads) == 1


async def test_warnings_modal_is_dismissed_with_enter():
    app = create_app(MALFORMED)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        modal = app.screen
        assert isinstance(modal, WarningsScreen)
        assert len(modal.warnings) == 2
        assert any("recovered" in w for w in modal.warnings)
        assert any("skipped" in w for w in modal.warnings)
        await press(pilot, "enter")
        ms = main_screen(app)
        assert app.focused is ms.request_list
        await press(pilot, "j")
        assert ms.request_list.selected == 1


async def test_error_screen_on_a_binary_file_and_q_exits_2(tmp_path, monkeypatch):
    (tmp_path / "trace.bin").write_bytes(bytes(range(256)) * 8)
    monkeypatch.chdir(tmp_path)
    app = create_app("trace.bin")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert isinstance(app.screen, ErrorScreen)
        message = app.screen.query_one("#error-message").content
        assert "trace.bin" in str(message) and "binary" in str(message)
        assert str(tmp_path) not in str(message)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 2
    assert app.error_message and "binary" in app.error_message


# ---- scale

async def test_request_list_with_100000_rows(tmp_path):
    path = tmp_path / "many.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i in range(100_000):
            f.write(json.dumps({"input": f"hello {i}", "output": "x"}) + "\n")
    app = create_app(str(path))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, timeout=600)
        ms = main_screen(app)
        rl = ms.request_list
        assert len(rl.shown) == 100_000
        await press(pilot, "G")
        assert rl.selected == 99_999
        assert ms.prompt.doc.index == 99_999
        assert rl.scroll_offset.y > 99_000
        await press(pilot, "k")
        assert rl.selected == 99_998


# ---- hostile input: a FIFO with no writer, a search matching everywhere

@pytest.mark.parametrize("key", ["escape", "q", "ctrl+c"])
async def test_a_fifo_with_no_writer_ends_with_esc_q_or_ctrl_c(tmp_path, monkeypatch, key):
    """open() of a FIFO blocks until a writer comes: the reader waits for data in short,
    cancellable steps instead, so leaving the loading screen ends the load worker too."""
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    finished = threading.Event()
    real_load = loading_module.load

    def load(*args, **kwargs):
        try:
            return real_load(*args, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(loading_module, "load", load)
    app = create_app(str(fifo))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, LoadingScreen)
        loading = app.screen
        await press(pilot, key)
    assert loading.cancel.is_set()
    assert app.return_code == (0 if key == "q" else 130)
    # The worker (which waited on the FIFO) returns too: nothing keeps the process alive.
    assert finished.wait(5)


async def test_a_search_matching_everywhere_stops_at_the_limit(tmp_path, monkeypatch):
    from tracetui.app.screens import main as main_module
    from tracetui.core import explorer

    monkeypatch.setattr(main_module, "SEARCH_LIMIT", 50)
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        # The core's limit: one match more than asked means "more than that".
        found = ms.data.search("e", limit=50)
        assert len(found) == 51 and found == ms.data.search("e")[:51]
        assert explorer.SEARCH_LIMIT == 100_000
        await press(pilot, "slash", *"e", "enter")
        await settle(pilot)
        assert len(ms.search.matches) == 50 and ms.search.capped
        assert "match 1 of 50+ matches" in status(app)


async def test_ignored_provider_usage_is_among_the_warnings(tmp_path):
    trace = tmp_path / "usage.jsonl"
    trace.write_text(json.dumps({"input": "hello", "usage": {"prompt_tokens": -5}}) + "\n"
                     + json.dumps({"input": "hello again", "usage": {"prompt_tokens": 1 << 70}}) + "\n")
    app = create_app(str(trace))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert isinstance(app.screen, WarningsScreen)
        assert app.screen.warnings == ("ignored the provider usage of 2 lines (a count negative, over "
                                       "4,294,967,295, or cached beyond the prompt): 1-2",)
        await press(pilot, "escape")
        assert main_screen(app).data.usage(0) is None and main_screen(app).data.provider_rate is None


async def test_a_long_warning_wraps_inside_its_box(tmp_path):
    """Timestamps out of order are a warning, not a repair, and a warning longer than the box
    wraps onto more lines instead of being cut at the box's edge."""
    trace = tmp_path / "late.jsonl"
    trace.write_text("".join(json.dumps({"input": f"prompt {k}", "timestamp": t}) + "\n"
                             for k, t in enumerate((10, 20, 5))))
    app = create_app(str(trace))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        modal = app.screen
        assert isinstance(modal, WarningsScreen)
        title = modal.query_one("#warnings-title")
        assert "read with warnings" in str(title.render()) and "repair" not in str(title.render())
        line = modal.query_one(".warning-line")
        text = str(line.render())
        assert "replayed in file order" in text
        assert line.size.height > 1 and line.size.width < len(text)  # wrapped, all of it shown
