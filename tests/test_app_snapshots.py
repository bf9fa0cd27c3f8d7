"""SVG snapshots of the explorer: what a reviewer should see is in each test's docstring.

Every test is a plain `def` (snap_compare runs its own event loop), builds the app with
`create_app`, and does its key presses inside `run_before`, after the trace has loaded, so
that no worker is still running when the screenshot is taken. Snapshots live in
`snapshots/test_app_snapshots/` (see conftest.py); regenerate with `--snapshot-update` only on
purpose, and look at every changed SVG.
"""

from __future__ import annotations

import pytest

from tracetui.app.app import create_app
from tracetui.app.screens.main import MainScreen

from .conftest import after_load, ready, settle
from .paths import AIDER, MALFORMED, OPENCODE, TRACES

pytestmark = pytest.mark.usefixtures("frozen_terminal_size")

SIZE = (100, 32)
MEMGPT = TRACES / "memgpt" / "memgpt1.jsonl"


def test_main_screen(snap_compare):
    """opencode_like.jsonl just loaded, 100x32.

    Header line: trace name, 12 req · 1 sess, tokenizer, prefix/substring/combined rates.
    Request list (focused) with request 0 highlighted, a cause per row (new, append, request 6
    "rerender") and the stacked cache-reuse bars; the prompt view below shows request 0 from
    the top: the SYSTEM block header with the cursor ▶ on it, the marker "▼ no prefix hit
    (new): the first token already missed" above the first text row (a break at the start of a
    row is marked above it), then the system prompt in the red "miss" colour. Legend line, and
    the footer starting "? Help  q Quit", then the main screen's keys.
    """
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE, run_before=after_load())


def test_prefix_break_marker(snap_compare):
    """opencode_like.jsonl request 6 (six `j`), prompt focused (tab), `G` then `B` three times.

    The cursor sits on the header of block 18 (HISTORY · assistant · message 12, a tool call).
    Under the compact-JSON tool call line (`"timeout":120000`), the yellow marker row "▲ prefix
    hit ends here (rerender): 4,014 of 4,293 input tokens reused", its ▲ under the column where
    the hit ends: text before it is green (prefix hit), after it red (miss), with blue
    substring-hit runs in the CURRENT tool block below. Request 6 ("rerender") is highlighted
    in the list (unfocused cursor colour).
    """
    keys = ["j"] * 6 + ["tab", "G", "B", "B", "B"]
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE, run_before=after_load(*keys))


BLOCK_KINDS = ["system", "env", "tools", "history", "current", "output"]


@pytest.mark.parametrize("kind", BLOCK_KINDS)
def test_block_kind(snap_compare, kind):
    """opencode_like.jsonl request 2 (two `j`), then `b` until the cursor is on the first block of `kind`.

    The cursor ▶ is on this block's header, the top row of the prompt view (except for OUTPUT,
    the last block: the view cannot scroll past the end, so its header is lower down):
    "SYSTEM · message 0 …", "ENV · system · env · 42 tok …", "TOOLS · system · tools · 4 tok …"
    (the `<tools></tools>` mentioned in the system prompt's prose; the real 874-token TOOLS
    block follows a 1-token SYSTEM block just below), "HISTORY · user · message 1 …",
    "CURRENT · tool · message 5 …" or "OUTPUT · assistant · 56 tok" — each in its kind colour,
    as is the gutter bar ▌, with the token count and (except output) prefix / substring
    percentages. The block's text follows, coloured by cache class (green prefix hits, red
    misses, grey output).
    """

    async def run_before(pilot) -> None:
        await ready(pilot)
        await pilot.press("j", "j")
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, MainScreen)
        kinds = [b.kind for b in screen.prompt.doc.blocks]
        await pilot.press(*["b"] * kinds.index(kind))
        await settle(pilot)
        assert screen.prompt.current_kind() == kind

    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE, run_before=run_before)


def test_memgpt_tools_block(snap_compare):
    """memgpt1.jsonl (shared trace, skipped when absent): the warning modal dismissed with Enter,
    request 1 (`j`), then `b` once: the cursor is on the header "TOOLS · 5 tools · 1,989 tok ·
    prefix 100% · substring 0%", the top row of the prompt view, followed by the JSON tool
    definitions of a MemGPT agent, all green (prefix hit). The header line ends with the
    warning count ("⚠ 1…", cut at 100 columns: recovered lines).
    """
    if not MEMGPT.exists():
        pytest.skip(f"shared trace absent: {MEMGPT.name}")
    keys = ["enter", "j", "b"]
    assert snap_compare(create_app(str(MEMGPT)), terminal_size=SIZE, run_before=after_load(*keys))


def test_search_matches(snap_compare):
    """opencode_like.jsonl, `/` then "pytest" then Enter.

    The search box is gone again; the status, first on the legend line, reads "“pytest”: match
    1/151 (request 0) · n/N · Esc clears"; in the prompt view (request 0, the match a third of
    the way down) the current match is orange and bold, with the cursor ▶ on its row.
    """
    keys = ["slash", *"pytest", "enter"]
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE, run_before=after_load(*keys))


def test_source_jump(snap_compare):
    """aider_like.jsonl request 3 (three `j`), then `s` (source of the first substring hit).

    The selection jumped to request 0, where that chunk was first seen; the 16-token chunk is
    highlighted in purple (bold) in the prompt view ("(RuntimeError):" and the next line of the
    repo map), the cursor ▶ on its first row. The status, first on the legend line, says
    "chunk of request 3 @ token 576 first seen in request 0 @ token … · Esc/⌫ back".
    """
    keys = ["j", "j", "j", "s"]
    assert snap_compare(create_app(str(AIDER)), terminal_size=SIZE, run_before=after_load(*keys))


def test_curves(snap_compare):
    """opencode_like.jsonl, `c`: the curves screen.

    The first chart, titled "hit rate (%) per request, unlimited pool · request 0: prefix 0.0%,
    substring 0.0%" (plotext: prefix in green, substring in cyan, x ticks 0, 2, … 10, a vertical
    line at request 0 next to the y axis), then the top of the "hit rate (%) vs pool size (GB,
    log scale)" chart; the footer lists h / l (previous / next request), Enter (open request),
    Esc (back). Some SVG renderers draw the quadrant glyphs wider (font fallback), which makes
    rows look torn; the text itself is aligned.
    """
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE, run_before=after_load("c"))


def test_help(snap_compare):
    """opencode_like.jsonl, `?`: the help modal over the main screen (seen through it).

    A box with a thick blue border, "Keys on the main screen", a table keys | what it does |
    where: ] Next turn, [ Prev turn, n, p, N, b, B, m (jump to the prefix-break marker; again:
    back), M (open every request at its break), : (go to request N), / Search, s Source, Esc,
    ⌫, c, f, t, d, S ("this screen"); then the request list's keys (↑, k Previous request...)
    in the "where" column as "request list"; the rest (prompt view keys, q Quit and ? Help
    "everywhere", 0-9, Tab) scrolls. No widget class name anywhere.
    """
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE, run_before=after_load("question_mark"))


def test_no_color(snap_compare, monkeypatch):
    """NO_COLOR=1, opencode_like.jsonl, same position as test_prefix_break_marker.

    Everything is in greys; token classes still differ by text style: prefix hits are
    underlined (above the "▲ prefix hit ends here (rerender)" marker), substring hits bold,
    misses plain; the legend shows the same styles (output italic). Headers stay bold.
    """
    monkeypatch.setenv("NO_COLOR", "1")
    keys = ["j"] * 6 + ["tab", "G", "B", "B", "B"]
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE, run_before=after_load(*keys))


def test_warnings_modal(snap_compare):
    """malformed.jsonl: the main screen is loaded, with the warnings modal over it; the main
    screen shows through around the box (dimmed), not a blank screen.

    A box with a thick yellow border: "⚠ malformed.jsonl: read with warnings", one bullet for the recovered line (line 5) and one for the skipped line (line 10),
    and "The rest of the trace is loaded. Enter or Esc to dismiss.". The header behind it says
    "⚠ 2 warnings".
    """
    assert snap_compare(create_app(str(MALFORMED)), terminal_size=SIZE, run_before=after_load())


def test_unreadable_file(snap_compare, tmp_path, monkeypatch):
    """A binary file opened by a relative name (the test chdirs into a temporary folder).

    The error screen, centred: "Cannot open this trace" in red, then "trace.bin does not look
    like a JSONL trace (binary data)" (no absolute path anywhere), "press q to quit", and the
    footer with q Quit.
    """
    (tmp_path / "trace.bin").write_bytes(bytes(range(256)) * 8)
    monkeypatch.chdir(tmp_path)
    assert snap_compare(create_app("trace.bin"), terminal_size=SIZE, run_before=after_load())


def test_heatmap(snap_compare):
    """opencode_like.jsonl request 6 at the prefix break (as test_prefix_break_marker), then `f`.

    The prompt text is coloured by how many requests contain each chunk (dark blue = 1 … red =
    17+) instead of by cache class; the legend line shows the heatmap scale "chunk in N
    requests: 1 2 3-4 5-8 9-16 17+".
    """
    keys = ["j"] * 6 + ["tab", "G", "B", "B", "B", "f"]
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE, run_before=after_load(*keys))


def test_token_boundaries(snap_compare):
    """opencode_like.jsonl request 6 at the prefix break (as test_prefix_break_marker), then `t`.

    Every other token is drawn in a light orange foreground, so token boundaries are visible
    inside words; backgrounds still show the cache class (green prefix, red miss, blue substring).
    """
    keys = ["j"] * 6 + ["tab", "G", "B", "B", "B", "t"]
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE, run_before=after_load(*keys))


def test_main_screen_80x24(snap_compare):
    """opencode_like.jsonl just loaded, in a small 80x24 terminal.

    Same screen as test_main_screen: the header keeps every figure ("12 req · 1 sess · P 91.0% ·
    S 90.9% · C 91.2%", short labels; the tokenizer name is what gets cut), a shorter request
    list (five rows, model column dropped, the cache-reuse bar whole), the prompt view of
    request 0 wrapped at the narrower width (the scrollbar's column left free), legend, and the
    compact footer starting with ? Help and q Quit; nothing overlaps.
    """
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=(80, 24), run_before=after_load())


def test_long_file_name_80x24(snap_compare, tmp_path):
    """opencode_like.jsonl copied under a 90-character file name, 80x24.

    The header line: the name shortened in its middle ("a_very_long_trace…x.jsonl", bold
    reverse), then every figure in full: "12 req · 1 sess · P 91.0% · S 90.9% · C 91.2%".
    """
    trace = tmp_path / ("a_very_long_trace_file_name_from_the_production_agent_" + "x" * 30 + ".jsonl")
    trace.write_bytes(OPENCODE.read_bytes())
    assert snap_compare(create_app(str(trace)), terminal_size=(80, 24), run_before=after_load())


def test_curves_80x24(snap_compare):
    """aider_like.jsonl request 3, `c`, in 80x24: the per-request chart keeps its read-out as
    its title ("per request · request 3: prefix 21.0%, substring 93.9%"), prefix drawn in half
    blocks (green), substring in dots (cyan); footer "? Help  q Back  ← Previous request ...".
    """
    keys = ["j", "j", "j", "c"]
    assert snap_compare(create_app(str(AIDER)), terminal_size=(80, 24), run_before=after_load(*keys))


def test_help_colours_page(snap_compare):
    """opencode_like.jsonl, `?` then Tab: the help's second page.

    "Token colours (prompt view)": swatches prefix hit (green), substring hit (blue), miss
    (red), output, each with what it means, and the NO_COLOR styles; "Markers": the break
    marker, the cursor ▶, the gutter colours per block kind, ↵ →, search matches, ...; the
    causes follow below (scrolled); after the NO_COLOR note, "Figures (header P S C, ...)": a substring figure counts the prefix too.
    """
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE, run_before=after_load("question_mark", "tab"))


def test_at_break(snap_compare):
    """opencode_like.jsonl opened with at_break (`tracetui TRACE --at-break`), six `j`.

    Request 6 opens at its break: the cursor ▶ on the marker row "▲ prefix hit ends here
    (rerender): 4,014 of 4,293 input tokens reused", a third of the way down the prompt view,
    green prefix-hit text above it, red misses after.
    """
    keys = ["j"] * 6
    assert snap_compare(create_app(str(OPENCODE), at_break=True), terminal_size=SIZE, run_before=after_load(*keys))
