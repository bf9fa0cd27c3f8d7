"""The "why did the prefix break" parts of the explorer, driven through Textual's pilot.

The diff screen (`d`, `n` / `p` between breaking requests), the session table (`S`, filtering
the request list), the cause column of the request list and the cause on the prompt view's
break marker. Every app is built with `create_app` and waited for with `ready(pilot)`; sizes
are fixed. Assertions are on app state, not pixels.
"""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.widgets import DataTable, Static

from tracetui.app.app import create_app
from tracetui.app.screens.diff import DiffScreen
from tracetui.app.screens.main import MainScreen
from tracetui.app.screens.sessions import ALL, SessionsScreen
from tracetui.app.widgets.prompt_view import PromptView
from tracetui.app.widgets.trace_header import TraceHeader
from tracetui.core.document import ROW_MARKER

from .conftest import main_screen, press, ready, write_markup_trace
from .paths import AIDER, OPENCODE, TWO_SESSIONS

pytestmark = pytest.mark.usefixtures("frozen_terminal_size")

SIZE = (100, 32)


def diff_screen(app) -> DiffScreen:
    screen = app.screen
    assert isinstance(screen, DiffScreen), app.screen_stack
    return screen


def sessions_screen(app) -> SessionsScreen:
    screen = app.screen
    assert isinstance(screen, SessionsScreen), app.screen_stack
    return screen


def static_text(screen, selector: str) -> str:
    content = screen.query_one(selector, Static).content
    return content.plain if isinstance(content, Text) else str(content)


def header_text(ms: MainScreen) -> str:
    return ms.query_one(TraceHeader).build().plain


# ---- the diff screen

async def test_d_opens_the_diff_of_the_selected_request():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        await press(pilot, *["j"] * 6)
        assert ms.request_list.selected == 6
        await press(pilot, "d")
        ds = diff_screen(app)
        assert ds.request == 6
        b = ms.data.breaks[6]
        assert b.cause == "rerender" and b.source == 5
        title = static_text(ds, "#diff-title")
        assert "request 6" in title and "vs entry 5" in title and "rerender" in title
        assert f"lost {b.tokens_lost:,}" in title
        left, right = static_text(ds, "#diff-left"), static_text(ds, "#diff-right")
        assert left.startswith("entry 5 (source)") and right.startswith("request 6")
        # The re-serialised tool call: spaced JSON in the source, compact JSON in the request.
        assert '"name": "bash", ' in left and '"name":"bash",' in right


async def test_diff_of_a_request_with_no_prefix_hit_names_its_chunk_source(tmp_path):
    """A prompt whose first token differs shares no prefix: the entry it is compared with holds
    most of its reused chunks, and the title says so (not "its prefix source")."""
    import json

    body = " ".join(f"line {k} of the shared instructions." for k in range(200))
    trace = tmp_path / "t.jsonl"
    trace.write_text("".join(json.dumps({"input": p, "output": "ok"}) + "\n"
                             for p in ("user: " + body, "assistant: " + body)))
    app = create_app(str(trace))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        b = ms.data.breaks[1]
        assert b.prefix == 0 and b.source == 0 and b.recovered > 0
        await press(pilot, "j", "d")
        title = static_text(diff_screen(app), "#diff-title")
        assert "vs entry 0 (holds most of its reused chunks)" in title and "prefix source" not in title


async def test_n_p_step_through_breaking_requests_and_wrap():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        order = ms.data.breaker_indices()
        assert order == [0, 6, 8]  # 1-5, 7, 9-11 are appends: skipped
        await press(pilot, *["j"] * 6, "d")
        ds = diff_screen(app)
        assert ds.request == 6
        await press(pilot, "n")
        assert ds.request == 8
        assert "request 8" in static_text(ds, "#diff-title")
        await press(pilot, "n")
        assert ds.request == 0  # wrapped to the first break
        assert "No earlier entry shares a prefix" in static_text(ds, "#diff-left")
        await press(pilot, "p")
        assert ds.request == 8  # wrapped back to the last
        await press(pilot, "p")
        assert ds.request == 6
        await press(pilot, "p")
        assert ds.request == 0
        await press(pilot, "n", "n")
        assert ds.request == 8
        # The main screen did not move while the diff was open.
        assert ms.request_list.selected == 6


@pytest.mark.parametrize("close_key", ["escape", "d", "q"])
async def test_closing_the_diff_selects_the_last_shown_break(close_key):
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        await press(pilot, *["j"] * 6, "d", "n")
        assert diff_screen(app).request == 8
        await press(pilot, close_key)
        assert app.screen is ms and app.is_running
        assert ms.request_list.selected == 8
        assert ms.prompt.doc is not None and ms.prompt.doc.index == 8
        assert ms.prompt.cause == "rerender"
        # Opened and closed without stepping: the selection stays.
        await press(pilot, "d")
        assert diff_screen(app).request == 8
        await press(pilot, "escape")
        assert app.screen is ms and ms.request_list.selected == 8


async def test_d_on_an_append_says_nothing_broke():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        await press(pilot, "j", "j")
        assert ms.data.breaks[2].cause == "append"
        await press(pilot, "d")
        ds = diff_screen(app)
        assert ds.request == 2
        assert "append" in static_text(ds, "#diff-title")
        assert static_text(ds, "#diff-left") == "Nothing broke: this request continues its source entry."
        assert static_text(ds, "#diff-right") == ""
        # From an append, n / p go to the breaks around it.
        await press(pilot, "n")
        assert ds.request == 6
        await press(pilot, "p")
        assert ds.request == 0
        await press(pilot, "p")
        assert ds.request == 8  # wrapped


# ---- the session table

async def _choose_session(pilot, session: object) -> None:
    """`S`, then the cursor down to `session`'s row, then Enter."""
    await press(pilot, "S")
    ss = sessions_screen(pilot.app)
    row = ss.keys.index(session)
    await press(pilot, *["down"] * row)
    assert ss.query_one(DataTable).cursor_row == row
    await press(pilot, "enter")


async def test_sessions_enter_filters_the_request_list():
    app = create_app(TWO_SESSIONS)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        rl = ms.request_list
        requests = ms.data.trace.requests
        await press(pilot, "S")
        ss = sessions_screen(app)
        table = ss.query_one(DataTable)
        assert app.focused is table
        assert ss.keys[1:] == ["sess-a", "sess-b"]
        assert table.row_count == 3
        assert str(table.get_row_at(0)[0]) == "(all sessions)"
        # Enter is the screen's "Filter to session" (shown in the footer), not the table's own.
        enter = ss.active_bindings["enter"]
        assert enter.binding.action == "choose" and enter.binding.show
        await press(pilot, "escape")

        await _choose_session(pilot, "sess-b")
        assert app.screen is ms
        expected = [i for i, r in enumerate(requests) if r.session_id == "sess-b"]
        assert rl.shown == expected == [1, 2, 3, 5, 11, 13, 14, 15]
        assert all(requests[i].session_id == "sess-b" for i in rl.shown)
        assert "session sess-b (8 requests)" in header_text(ms)
        # Request 0 (sess-a) was selected: the first request of sess-b is now.
        assert rl.selected == 1 and ms.prompt.doc.index == 1
        # j / k move within the filtered list.
        await press(pilot, "j")
        assert rl.selected == 2
        await press(pilot, "j", "j")
        assert rl.selected == 5 and ms.prompt.doc.index == 5
        await press(pilot, "k")
        assert rl.selected == 3
        await press(pilot, "G")
        assert rl.selected == 15
        await press(pilot, "g")
        assert rl.selected == 1


async def test_sessions_table_shows_markup_like_session_ids_verbatim(tmp_path):
    """Session ids are trace data: "[/x]" or "[bold]" in one is text, not DataTable markup
    (a str cell holding "[/x]" raised MarkupError)."""
    app = create_app(write_markup_trace(tmp_path / "[bold]markup[red].jsonl"))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert "[bold]markup[red].jsonl" in header_text(main_screen(app))
        await press(pilot, "S")
        ss = sessions_screen(app)
        table = ss.query_one(DataTable)
        cells = [table.get_row_at(k)[0] for k in range(1, table.row_count)]
        assert [c.plain if isinstance(c, Text) else c for c in cells] == ["[/x]sess[bold]", "[/s]", "–"]
        await press(pilot, "escape")
        await _choose_session(pilot, "[/x]sess[bold]")
        assert main_screen(app).request_list.shown == [0, 1]
        assert "session [/x]sess[bold] (2 requests)" in header_text(main_screen(app))


async def test_sessions_any_session_id_can_be_chosen(tmp_path):
    """The requests without a session id (None, shown "–") and a session named "__all__" are
    sessions like any other: neither is taken for "unchanged" nor for "all sessions"."""
    import json

    path = tmp_path / "odd_sessions.jsonl"
    prompt = "system: be brief. " * 20
    records = [{"session_id": "__all__", "input": prompt + "\nuser: one", "output": "a"},
               {"input": prompt + "\nuser: two", "output": "b"},
               {"session_id": "__all__", "input": prompt + "\nuser: three", "output": "c"},
               {"session_id": "other", "input": prompt + "\nuser: four", "output": "d"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    app = create_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        rl = ms.request_list
        await _choose_session(pilot, None)
        assert app.screen is ms
        assert rl.shown == [1] and rl.selected == 1
        assert "session – (1 requests)" in header_text(ms)
        await _choose_session(pilot, "__all__")
        assert rl.shown == [0, 2]
        assert "session __all__ (2 requests)" in header_text(ms)
        # Escape on the table of a filtered list keeps the filter.
        await press(pilot, "S", "escape")
        assert rl.shown == [0, 2]
        await _choose_session(pilot, ALL)
        assert rl.shown == [0, 1, 2, 3]
        assert "requests)" not in header_text(ms)  # the session note is gone


async def test_sessions_a_and_the_all_row_clear_the_filter():
    app = create_app(TWO_SESSIONS)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        rl = ms.request_list
        everything = list(range(len(ms.data)))
        await _choose_session(pilot, "sess-b")
        await press(pilot, "j")
        assert rl.selected == 2
        await press(pilot, "S", "a")
        assert app.screen is ms
        assert rl.shown == everything
        assert "session" not in header_text(ms).split("·")[-1]
        assert rl.selected == 2  # the selection is kept
        # The "(all sessions)" row does the same.
        await _choose_session(pilot, "sess-a")
        assert rl.shown == [0, 4, 6, 7, 8, 9, 10, 12]
        assert all(ms.data.trace.requests[i].session_id == "sess-a" for i in rl.shown)
        await _choose_session(pilot, ALL)
        assert rl.shown == everything
        assert "requests)" not in header_text(ms)  # the session note is gone


async def test_sessions_escape_leaves_the_filter_unchanged():
    app = create_app(TWO_SESSIONS)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        rl = ms.request_list
        # Unfiltered: escape keeps everything.
        await press(pilot, "S", "down", "down", "escape")
        assert app.screen is ms
        assert rl.shown == list(range(len(ms.data)))
        assert "requests)" not in header_text(ms)  # the session note is gone
        # Filtered: escape keeps the filter and the selection.
        await _choose_session(pilot, "sess-b")
        await press(pilot, "j")
        shown, selected = list(rl.shown), rl.selected
        await press(pilot, "S", "up", "escape")
        assert app.screen is ms
        assert rl.shown == shown and rl.selected == selected == 2
        assert "session sess-b" in header_text(ms)


async def test_a_break_outside_the_session_filter_clears_it():
    """Closing the diff on a request of another session shows all requests again, and the
    header no longer claims a session filter."""
    app = create_app(TWO_SESSIONS)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        rl = ms.request_list
        await _choose_session(pilot, "sess-b")
        assert rl.selected == 1
        await press(pilot, "d")
        ds = diff_screen(app)
        await press(pilot, "p")  # request 0 (sess-a): the break before
        assert ds.request == 0
        await press(pilot, "escape")
        assert app.screen is ms
        assert rl.selected == 0 and rl.shown == list(range(len(ms.data)))
        assert "requests)" not in header_text(ms)  # the session note is gone
        assert ms.prompt.doc.index == 0


async def test_a_break_outside_the_filter_is_shown_at_its_break():
    """Same, from further down the filtered list: the prompt view ends on the break of the
    request shown last (not on the request selected before, nor at its top)."""
    app = create_app(TWO_SESSIONS)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        rl, pv = ms.request_list, ms.prompt
        await _choose_session(pilot, "sess-b")
        await press(pilot, "j", "j")
        assert rl.selected == 3
        await press(pilot, "d", "n")
        assert diff_screen(app).request == 4  # sess-a
        await press(pilot, "escape")
        await pilot.pause()
        assert rl.selected == 4 and pv.doc.index == 4 and pv.cause == "template"
        assert rl.shown == list(range(len(ms.data)))
        row = pv.layout_.row_of_char(ms.data.breaks[4].char)
        assert row > 0 and pv.cursor_row == row


# ---- causes in the request list and the prompt view

@pytest.mark.parametrize("path", [OPENCODE, AIDER, TWO_SESSIONS])
async def test_request_list_causes_are_the_core_causes(path):
    app = create_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        rl = ms.request_list
        cols = rl.columns[0]
        k = [name for name, _ in cols].index("cause")
        start = sum(w + 1 for _, w in cols[:k])  # where the drawn cause column begins
        for i, row in enumerate(ms.data.rows):
            text = "".join(seg.text for seg in rl._draw_row(row, False))
            assert text[start:start + cols[k][1]].rstrip() == ms.data.breaks[i].cause


async def test_request_list_causes_on_opencode():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        causes = [b.cause for b in main_screen(app).data.breaks]
        assert causes[0] == "new"
        assert causes[6] == causes[8] == "rerender"
        assert {causes[i] for i in (1, 2, 3, 4, 5, 7, 9, 10, 11)} == {"append"}


def _marker_text(pv: PromptView) -> str:
    rows = [y for y in range(len(pv.layout_)) if pv.layout_.kind[y] == ROW_MARKER]
    assert len(rows) == 1
    return "".join(seg.text for seg in pv._draw(rows[0])).strip()


async def test_prompt_view_break_marker_carries_the_cause():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        pv = ms.prompt
        assert pv.cause == "new"
        assert "▼ no prefix hit (new)" in _marker_text(pv)
        await press(pilot, *["j"] * 6)
        assert pv.doc.index == 6 and pv.cause == "rerender"
        assert "▲ prefix hit ends here (rerender): 4,014 of 4,293" in _marker_text(pv)
        await press(pilot, "j")
        assert pv.cause == "append"
        assert "(append)" in _marker_text(pv)
        # Any way of selecting a request updates it: here the diff screen's `n`.
        await press(pilot, "d", "n", "escape")
        assert pv.doc.index == 8 and pv.cause == "rerender" == ms.data.breaks[8].cause
