"""Pilot tests for finding the break, going to request N, the help pages, and what stays on
screen at 80x24 (header figures, ? and q in the footer, the curves read-out, the session table).
"""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from textual.widgets import DataTable, Input, Static

from tracetui.app.app import create_app
from tracetui.app.screens.curves import CurvesScreen
from tracetui.app.screens.diff import DiffScreen
from tracetui.app.screens.help import HelpScreen, collect_bindings
from tracetui.app.screens.sessions import SessionsScreen
from tracetui.app.widgets.footer import KeyFooter
from tracetui.app.widgets.legend import Legend
from tracetui.app.widgets.prompt_view import PromptView
from tracetui.app.widgets.trace_header import TraceHeader, shorten_middle

from .conftest import main_screen, press, ready
from .paths import AIDER, OPENCODE, TWO_SESSIONS

pytestmark = pytest.mark.usefixtures("frozen_terminal_size")

SIZE = (100, 32)
SMALL = (80, 24)


def status(app) -> str:
    return app.screen.query_one(Legend).content.plain


def plain(renderable, width: int = 120) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


# ---- the break

async def test_m_jumps_to_the_break_and_back():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        pv = ms.prompt
        await press(pilot, *["j"] * 6)
        assert pv.doc.index == 6 and pv.cursor_row == 0  # opened at the top of the system block
        await press(pilot, "m")
        assert pv.at_break() and pv.cursor_row == pv.layout_.marker_row > 100
        top = int(pv.scroll_offset.y)
        assert top <= pv.cursor_row < top + pv.scrollable_content_region.height  # on screen
        assert "m: back" in status(app)
        await press(pilot, "m")
        assert pv.cursor_row == 0 and not pv.at_break()
        await press(pilot, "m", "j")  # moved away from the marker: m goes to it again
        assert not pv.at_break()
        await press(pilot, "m")
        assert pv.at_break()


async def test_m_on_a_request_without_break_says_so(tmp_path):
    record = {"timestamp": 1, "session_id": "s", "input": "system: be brief.\nuser: hi\nassistant:", "output": "x"}
    trace = tmp_path / "same.jsonl"
    trace.write_text(json.dumps(record) + "\n" + json.dumps({**record, "timestamp": 2}) + "\n")
    app = create_app(str(trace))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        await press(pilot, "j")
        assert ms.prompt.doc.break_char is None
        await press(pilot, "m")
        assert "nothing broke" in status(app)
        assert ms.prompt.cursor_row == 0


async def test_m_on_an_empty_request_does_not_call_it_an_append(tmp_path):
    trace = tmp_path / "empty.jsonl"
    trace.write_text(json.dumps({"input": "system: be brief.", "output": "x"}) + "\n"
                     + json.dumps({"input": "", "output": "y"}) + "\n")
    app = create_app(str(trace))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await press(pilot, "j", "m")
        assert "request 1: no input tokens" in status(app) and "nothing broke" not in status(app)


async def test_at_break_opens_every_request_at_its_break_and_M_toggles():
    app = create_app(OPENCODE, at_break=True)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        pv = ms.prompt
        assert pv.at_break()  # request 0, on its first frame too
        for key in ("j", "j", "]", "["):
            await press(pilot, key)
            assert pv.at_break(), (key, pv.doc.index)
        await press(pilot, "M")
        assert not ms.at_break and "at the top" in status(app)
        await press(pilot, "j")
        assert pv.cursor_row == 0
        await press(pilot, "M")
        assert ms.at_break and pv.at_break()


# ---- request N

async def test_colon_then_a_number_goes_to_that_request():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        box = ms.query_one("#goto", Input)
        await press(pilot, "colon")
        assert box.display and app.focused is box
        await press(pilot, "9", "enter")
        assert not box.display and app.focused is ms.request_list
        assert ms.request_list.selected == 9 == ms.prompt.doc.index
        # Out of range: said, and the selection stays.
        await press(pilot, "colon", "4", "2", "enter")
        assert ms.request_list.selected == 9 and "no request 42: 0 to 11" in status(app)
        # Escape leaves the box without moving.
        await press(pilot, "colon", "3", "escape")
        assert not box.display and ms.request_list.selected == 9


async def test_keys_in_one_burst_with_the_colon_are_not_lost():
    """`tmux send-keys ':11' Enter` or a paste: every key arrives before the go-to box has
    focus; the digits and Enter are still the box's."""
    from textual import events

    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        for key, ch in (("colon", ":"), ("1", "1"), ("1", "1"), ("enter", "\r")):
            app.post_message(events.Key(key, ch))
        await pilot.pause()
        await pilot.pause()
        assert ms.request_list.selected == 11 and not ms.query_one("#goto", Input).display


async def test_digits_typed_in_the_request_list_go_to_a_request():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        box = ms.query_one("#goto", Input)
        await press(pilot, "1")
        assert box.display and box.value == "1"
        await press(pilot, "1", "enter")
        assert ms.request_list.selected == 11
        # In the prompt view digits are not a request number.
        await press(pilot, "tab", "5")
        assert not box.display and ms.request_list.selected == 11


async def test_goto_a_request_outside_the_session_filter_clears_it():
    app = create_app(TWO_SESSIONS)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        await press(pilot, "S", "down", "down", "enter")  # sess-b: requests 1, 2, 3, 5, ...
        assert 0 not in ms.request_list.shown
        await press(pilot, "colon", "0", "enter")
        assert ms.request_list.selected == 0 and ms.prompt.doc.index == 0
        assert len(ms.request_list.shown) == len(ms.data)


# ---- help

async def test_help_says_what_each_key_does_on_each_screen():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        main_rows = collect_bindings(ms)
        assert ("everywhere", "q", "Quit") in main_rows
        places = {where for where, _, _ in main_rows}
        assert places == {"this screen", "request list", "prompt view", "everywhere"}
        for key, screen_type in (("c", CurvesScreen), ("d", DiffScreen), ("S", SessionsScreen)):
            await press(pilot, key)
            screen = app.screen
            assert isinstance(screen, screen_type)
            rows = collect_bindings(screen)
            # q goes back here: said so, and the app's "q Quit" is not offered.
            assert any("q" in keys.split(", ") and desc == "Back to the main screen" for _, keys, desc in rows)
            assert not any(desc == "Quit" for _, _, desc in rows)
            pairs = [(where, keys) for where, keys, _ in rows]
            assert len(pairs) == len(set(pairs))
            flat = [k for where, keys, _ in rows if where == "this screen" for k in keys.split(", ")]
            assert len(flat) == len(set(flat)), flat  # no key (← say) listed twice
            await press(pilot, "question_mark")
            assert isinstance(app.screen, HelpScreen)
            text = plain(app.screen.query_one("#help-keys Static").content)
            assert "Back to the main screen" in text and "Quit" not in text
            assert "DataTable" not in text and "VerticalScroll" not in text
            await press(pilot, "escape")
            await press(pilot, "q")
            assert app.screen is ms


async def test_help_second_page_explains_colours_markers_and_causes():
    app = create_app(OPENCODE)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await press(pilot, "question_mark")
        help_screen = app.screen
        keys, colours = help_screen.query_one("#help-keys"), help_screen.query_one("#help-colours")
        assert keys.display and not colours.display
        await press(pilot, "tab")
        assert colours.display and not keys.display
        text = plain(colours.query_one(Static).content)
        for word in ("prefix hit", "substring hit", "miss", "▲ prefix hit ends here", "heatmap", "NO_COLOR",
                     "the prefix included"):  # one meaning of "substring" for the figures
            assert word in text, word
        # Every cause a request can be given (core.diagnose.CAUSES) is explained.
        from tracetui.core.diagnose import CAUSES

        for cause in CAUSES:
            assert f"\n{cause}" in text or text.startswith(cause) or f" {cause} " in text, cause
        # The swatches are the prompt view's own styles.
        pv = main_screen_of(app).prompt
        content = colours.query_one(Static).content
        assert content is not None and pv is not None
        await press(pilot, "tab")
        assert keys.display


def main_screen_of(app):
    from tracetui.app.screens.main import MainScreen

    return next(s for s in app.screen_stack if isinstance(s, MainScreen))


# ---- 80x24 and wide terminals

def footer_keys(screen) -> list[str]:
    footer = screen.query_one(KeyFooter)
    return [k.key_display for k in footer.query("FooterKey")]


async def test_footer_shows_help_and_q_first_on_every_screen_at_80x24():
    app = create_app(OPENCODE)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        await pilot.pause()
        assert footer_keys(ms)[:2] == ["?", "q"]
        for key in ("c", "d", "S"):
            await press(pilot, key)
            await pilot.pause()
            assert footer_keys(app.screen)[:2] == ["?", "q"], key
            await press(pilot, "q")
        # Every shown key fits: the footer is not cut before q.
        footer = ms.query_one(KeyFooter)
        first_two = list(footer.query("FooterKey"))[:2]
        assert all(k.region.right <= SMALL[0] and k.region.width > 0 for k in first_two)


async def test_header_keeps_every_figure_and_shortens_a_long_name_at_80(tmp_path):
    trace = tmp_path / ("a_very_long_trace_file_name_from_the_production_agent_" + "x" * 40 + ".jsonl")
    trace.write_bytes(OPENCODE.read_bytes())
    app = create_app(str(trace))
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        header = main_screen(app).query_one(TraceHeader)
        text = header.build().plain
        assert len(text) <= SMALL[0]
        for figure in ("12 req", "1 sess", "P 91.0%", "S 90.9%", "C 91.2%"):
            assert figure in text, (figure, text)
        assert "a_very_long" in text and "…" in text and ".jsonl" in text


def test_shorten_middle():
    assert shorten_middle("abcdef.jsonl", 20) == "abcdef.jsonl"
    assert shorten_middle("abcdefghij.jsonl", 9) == "abcd…sonl"
    assert len(shorten_middle("漢字漢字漢字.jsonl", 9)) <= 9
    from rich.cells import cell_len

    assert cell_len(shorten_middle("漢字漢字漢字.jsonl", 9)) <= 9


async def test_curves_keep_the_per_request_read_out_under_90_columns():
    app = create_app(AIDER)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await press(pilot, "j", "j", "j", "c")
        chart = app.screen.query_one("#curve-per-request", Static).content.plain
        assert "request 3: prefix 21.0%, substring 93.9%" in chart
        cumulative = app.screen.query_one("#curve-cumulative", Static).content.plain
        assert "cumulative hit rate" in cumulative


async def test_session_table_fits_80_columns():
    app = create_app(TWO_SESSIONS)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await press(pilot, "S")
        table = app.screen.query_one(DataTable)
        width = sum(c.get_render_width(table) for c in table.columns.values())
        assert width <= SMALL[0] and len(table.columns) == 8
        assert table.get_row_at(1)[0].plain == "sess-a"


async def test_wide_terminals_grow_session_model_and_bar():
    app = create_app(AIDER)
    async with app.run_test(size=(200, 30)) as pilot:
        await ready(pilot)
        rl = main_screen(app).request_list
        cols, bar = rl.columns
        widths = dict(cols)
        assert widths["session"] == len("aider-987f855cdff8") and widths["model"] == len("qwen2.5-coder-32b-instruct")
        assert bar > 12
        row = "".join(seg.text for seg in rl._draw_row(rl.data.rows[1], False))
        assert "aider-987f855cdff8 qwen2.5-coder-32b-instruct" in row


async def test_a_document_set_before_the_view_has_a_size_is_laid_out_at_its_width(monkeypatch):
    """The first-frame race: the main screen sets request 0 on its prompt view before the view
    has a size; laid out then, the prompt wrapped at 8 columns until the next key. The view now
    waits for its size (on_resize) to lay it out."""
    widths: list[int] = []
    set_document = PromptView.set_document

    def spy(self, *args, **kwargs):
        widths.append(self.scrollable_content_region.width)
        set_document(self, *args, **kwargs)
        if not widths[-1]:
            assert self.layout_ is None and self._pending is not None

    monkeypatch.setattr(PromptView, "set_document", spy)
    app = create_app(OPENCODE, at_break=True)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        pv = main_screen(app).prompt
        assert widths[0] == 0  # the race: no size yet at the first document
        assert pv.layout_.width == pv.scrollable_content_region.width - 2 == 80 - 1 - 2  # less the scrollbar
        assert pv.at_break()  # the deferred placement kept --at-break's cursor
        footer = main_screen(app).query_one(KeyFooter)
        assert len(footer.query("FooterKey")) > 2  # and the footer is there on the first frame


async def test_diff_title_names_the_block_once():
    app = create_app(AIDER)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await press(pilot, "d")
        title = app.screen.query_one("#diff-title", Static).content.plain
        assert "new in system ·" in title and "system system" not in title
