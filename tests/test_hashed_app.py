"""The explorer on hashed traces (no text, block ids): they open, navigate, and draw block cells."""

from __future__ import annotations

import pytest

from tracetui.app.screens.curves import CurvesScreen
from tracetui.app.screens.diff import DiffScreen
from tracetui.app.screens.warnings import WarningsScreen
from tracetui.app.widgets.block_view import BlockView
from tracetui.app.widgets.trace_header import TraceHeader
from tracetui.core.blockdoc import EVICTED, HashedDocument
from tracetui.core.document import MISS, PREFIX
from tracetui.core.model import HashedInput

from .conftest import main_screen, press, ready
from .paths import TRACES, need, sample

pytestmark = pytest.mark.usefixtures("frozen_terminal_size")
SIZE = (100, 30)


def _rows(view: BlockView) -> list[str]:
    return [view.render_line(y).text for y in range(view.size.height)]


async def _open(pilot) -> None:
    await ready(pilot)
    if isinstance(pilot.app.screen, WarningsScreen):
        await press(pilot, "enter")


@pytest.mark.parametrize("path", [
    pytest.param(lambda: sample("bailian_hashed.jsonl"), id="bailian"),
    pytest.param(lambda: need(TRACES / "mooncake" / "conversation_trace.jsonl"), id="mooncake"),
    pytest.param(lambda: need(TRACES / "claude-code-hashed"), id="claude-code"),
])
async def test_hashed_trace_opens_navigates_and_draws_block_cells(path):
    from tracetui.app.app import create_app

    p = path()
    app = create_app(str(p))
    async with app.run_test(size=SIZE) as pilot:
        await _open(pilot)
        ms = main_screen(app)
        data = ms.data
        view = ms.prompt
        assert isinstance(view, BlockView)
        assert f"· blocks of {data.trace.block_size} tok" in ms.query_one(TraceHeader).build().plain
        await press(pilot, "down", "down")
        assert ms.request_list.selected == 2
        doc = view.doc
        assert doc.index == 2
        rows = _rows(view)
        assert any("PROMPT" in r and f"blocks of {data.trace.block_size} tok" in r for r in rows)
        # The first row of cells starts at block 0 and holds the first block ids, each with its
        # tokens (B for a full block).
        cells = next(r for r in rows if "│" in r)
        b = data.trace.block_size
        assert cells.split("│")[1].split()[:2] == [f"{i}·{b}" for i in doc.ids[:2]]
        # The break marker sits under the row of the first missed block.
        await press(pilot, "tab", "m")
        if doc.break_char is not None:
            assert view.at_break()
            assert "▲" in _rows(view)[view.cursor_row - int(view.scroll_offset.y)]
        await press(pilot, "G")
        assert "output: " in _rows(view)[view.cursor_row - int(view.scroll_offset.y)]
        assert "never hit" in _rows(view)[view.cursor_row - int(view.scroll_offset.y)]
        # Keys that need text say so instead of failing.
        for key, word in (("slash", "search"), ("s", "substring source"), ("f", "heatmap"), ("t", "token boundaries")):
            await press(pilot, key)
            assert ms._status.startswith("hashed trace: no text") and word in ms._status, (key, ms._status)
        await press(pilot, "d")
        assert isinstance(app.screen, DiffScreen)
        await press(pilot, "n", "escape")
        at = main_screen(app).request_list.selected
        await press(pilot, "c")
        assert isinstance(app.screen, CurvesScreen)
        await press(pilot, "right", "enter")
        assert main_screen(app).request_list.selected == at + 1


async def test_diff_shows_block_ids_around_the_break():
    from tracetui.app.app import create_app

    app = create_app(str(sample("bailian_hashed.jsonl")))
    async with app.run_test(size=SIZE) as pilot:
        await _open(pilot)
        ms = main_screen(app)
        b = next(b for b in ms.data.breaks if b.source >= 0 and b.cause != "append")
        ms.select_request(b.request)
        await press(pilot, "d")
        screen = app.screen
        assert isinstance(screen, DiffScreen)
        right = str(screen.query_one("#diff-right").render())
        left = str(screen.query_one("#diff-left").render())
        k = b.prefix // ms.data.trace.block_size
        assert f"request {b.request}: block ids from block" in right and f"entry {b.source} (source)" in left
        r = ms.data.trace.requests
        line = f"{k:>7}  {r[b.request].hashed.block_ids[k]}"
        assert line in right


def test_block_classes_and_partial_block():
    """Prefix blocks, blocks the bounded pool lost (evicted), misses; the partial last block never
    hit; each cell shows its id and its tokens (B, the partial block its count)."""
    h = HashedInput((1, 2, 3, 4, 9), input_length=4 * 16 + 5, output_length=7, full_blocks=4)
    import numpy as np

    classes = np.array([PREFIX, EVICTED, EVICTED, MISS, MISS], np.uint8)
    doc = HashedDocument(0, h, 16, classes, prefix_hit=16, pool_label="1")
    assert doc.block_class.tolist() == classes.tolist()
    assert [doc.cell_text(k) for k in range(5)] == ["1·16", "2·16", "3·16", "4·16", "◔9·5"]
    assert doc.tail_tokens == 5 and doc.break_char == 1
    lay = doc.layout(8 + 4 * 5)  # 4 cells of 5 a row (the partial "◔9·5" and a space)
    assert lay.per_row == 4 and lay.marker_row == 2 and len(lay) == 6  # header, cells, marker, cells, header, note
    assert lay.row_of_char(4) == 3 and lay.row_of_char(5) == 5
