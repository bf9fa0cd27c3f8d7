"""SVG snapshots of the "why did the prefix break" screens: each test's docstring says what a
reviewer should see.

The diff screen (`d`), the session table (`S`) and the cause column of the request list.
Every test is a plain `def` (snap_compare runs its own event loop), builds the app with
`create_app`, and presses its keys inside `run_before`, after the trace has loaded.
Snapshots live in `snapshots/test_why_app_snapshots/` (see conftest.py); regenerate with
`--snapshot-update` only on purpose, and look at every changed SVG.
"""

from __future__ import annotations

import pytest

from tracetui.app.app import create_app
from tracetui.app.screens.diff import DiffScreen
from tracetui.app.screens.main import MainScreen
from tracetui.app.screens.sessions import SessionsScreen

from .conftest import after_load
from .paths import AIDER, OPENCODE, TWO_SESSIONS

pytestmark = pytest.mark.usefixtures("frozen_terminal_size")

SIZE = (100, 32)


def test_diff_rerender(snap_compare):
    """opencode_like.jsonl request 6 (six `j`), then `d`: the diff screen.

    Title (two lines): " request 6 " (reverse) "vs entry 5 (its prefix source) · rerender (bold
    yellow) in history assistant · break at token 4,014 of 4,293 · lost 279, substring
    recovers 48", then the italic description `"name⟨":␣"bash",␣⟩ → ⟨":"bash",⟩`. Two panes
    side by side: left "entry 5 (source)", right "request 6" (bold, underlined), the same text
    around the break with ↵ ending each line. In the `<tool_call>` the source's spaced JSON
    `{"name": "bash", "arguments": {...` has each dropped space marked on dark red; the
    request's compact `{"name":"bash",...` follows, and after its `</tool_call>` everything the
    source does not have (`<|im_end|>`, the tool's pytest output with its `/tmp/pytest-of-dev/…`
    path, which is text of the sample trace) is marked bold on dark green. The `"` closing
    "name", where the break token starts, is in reverse video in both panes. Footer: ? Help,
    q Back, n Next break, p Previous break.
    """
    keys = ["j"] * 6 + ["d"]
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE,
                        run_before=after_load(*keys, screen=DiffScreen))


def test_diff_next_break(snap_compare):
    """As test_diff_rerender, then `n`: the next breaking request, 8 (7 is an append, skipped).

    Title " request 8 " "vs entry 7 (its prefix source) · rerender in history assistant ·
    break at token 4,475 of 4,586 · lost 111, substring recovers 0" and the same description
    as request 6. Left pane "entry 7 (source)": the spaced `"pytest -q"` tool call with its
    dropped spaces on dark red; right pane "request 8": the compact tool call, then the test
    run output ("tests/test_cli.py ....", "51 passed in 0.10s") marked on dark green.
    """
    keys = ["j"] * 6 + ["d", "n"]
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE,
                        run_before=after_load(*keys, screen=DiffScreen))


def test_diff_append(snap_compare):
    """opencode_like.jsonl request 2 (two `j`), then `d`: a request that only appends.

    Title " request 2 " "vs entry 1 (its prefix source) · append in history assistant · break
    at token 2,766 of 3,174 · lost 408, substring recovers 0" and the italic description
    "continues the source entry (tokens merge at the seam)"; the left pane says, in italics,
    "Nothing broke: this request continues its source entry."; the right pane is empty.
    """
    keys = ["j", "j", "d"]
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE,
                        run_before=after_load(*keys, screen=DiffScreen))


def test_sessions_table(snap_compare):
    """two_sessions.jsonl, `S`: the session table.

    Title line "Sessions · unlimited pool · “within” counts reuse of the session's own earlier
    requests only"; a table with columns session, requests, input tokens, prefix, substring,
    combined, prefix within, prefix across; rows "(all sessions)" (16 requests, 7,791 input
    tokens, 79.1% / 89.9% / 91.5%, the within / across cells empty; highlighted by the row
    cursor), sess-a (8 requests, 4,444 tokens, prefix within 78.6%, across 0.0%) and sess-b
    (8, 3,347, within 77.4%, across 2.6%: its first request reuses sess-a's system prompt);
    the figures right-aligned. Footer: ? Help, q Back, ⏎ Filter to session, a All sessions.
    """
    assert snap_compare(create_app(str(TWO_SESSIONS)), terminal_size=SIZE,
                        run_before=after_load("S", screen=SessionsScreen))


def test_sessions_filtered(snap_compare):
    """two_sessions.jsonl, `S`, two `down`, Enter: the main screen filtered to sess-b.

    The header, after the whole trace's rates (short labels P, S, C), shows the italic note
    "session sess-b (8 requests)", then the tokenizer name cut with "…". The request list
    holds only sess-b's requests 1, 2, 3, 5, 11, 13, 14, 15 (session column sess-b
    throughout; causes edit, template ×4, append ×2, template), request 1 highlighted; the
    prompt view shows request 1: its SYSTEM block all prefix hit (green), then the CURRENT
    user block with the marker "▲ prefix hit ends here (edit): 86 of 112 input tokens reused"
    under "15 most frequent IP addresses".
    """
    keys = ["S", "down", "down", "enter"]
    assert snap_compare(create_app(str(TWO_SESSIONS)), terminal_size=SIZE,
                        run_before=after_load(*keys, screen=MainScreen))


def test_cause_column_80x24(snap_compare):
    """aider_like.jsonl, 80x24, five `j`: the request list's cause column.

    At 80 columns the model column is dropped; each of the five visible rows (requests 1-5,
    the list scrolled by one) shows #, time, session (cut with "…"), input, prefix,
    substr, cause and the cache-reuse bar (short green prefix, long blue substring part).
    Causes "edit" for 1-4 (the repo map changed), "insert" for request 5, which is
    highlighted; the prompt view below shows request 5's SYSTEM block, all green (prefix hit).
    """
    keys = ["j"] * 5
    assert snap_compare(create_app(str(AIDER)), terminal_size=(80, 24),
                        run_before=after_load(*keys, screen=MainScreen))


def test_sessions_table_80x24(snap_compare):
    """two_sessions.jsonl, `S`, in 80x24: every column on screen, none cut: session, reqs,
    input, prefix, substr, comb, within, across (short labels under 110 columns); the title
    wraps to two lines; footer ? Help, q Back, ⏎ Filter to session, a All sessions.
    """
    assert snap_compare(create_app(str(TWO_SESSIONS)), terminal_size=(80, 24),
                        run_before=after_load("S", screen=SessionsScreen))


def test_diff_80x24(snap_compare):
    """aider_like.jsonl request 1 (`j`), `d`, in 80x24: the title "request 1 vs entry 0 (its
    prefix source) · edit in system · break at ..." (the block named once), the two panes side
    by side, the footer with ? Help and q Back first.
    """
    assert snap_compare(create_app(str(AIDER)), terminal_size=(80, 24),
                        run_before=after_load("j", "d", screen=DiffScreen))
