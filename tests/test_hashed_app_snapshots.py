"""SVG snapshot of the block-cell prompt view of a hashed trace (see test_app_snapshots.py for how)."""

from __future__ import annotations

import pytest

from tracetui.app.app import create_app

from .conftest import after_load
from .paths import sample

pytestmark = pytest.mark.usefixtures("frozen_terminal_size")


def test_block_cells(snap_compare):
    """bailian_hashed.jsonl, 100x30, textual-dark, request 2 (two `down`), prompt focused, `m`.

    Header ends "blocks of 16 tok". The prompt view: "PROMPT · 46 blocks of 16 tok · 735 tok ·
    prefix 87% · ◔ last block 15 tok, never hit", rows of cells labelled by their first block
    (0 │, 12 │, 24 │, 36 │), each cell its id and its tokens: "0·16" to "39·16" green (prefix
    hit), then "56·16" to "60·16" red (miss) and "◔61·15" the partial last block; under the
    last row the yellow marker "▲ first missed block 40 (edit): 40 of 46 blocks reused" with the
    cursor ▶ on it; then "OUTPUT · 161 tok · no ids: takes room in the pool, can never be hit"
    and its note. The legend lists prefix hit, seen elsewhere, miss, output never hit (the
    unlimited pool is shown: nothing is evicted; P picks a bounded pool).
    """

    app = create_app(str(sample("bailian_hashed.jsonl")), theme="textual-dark")
    assert snap_compare(app, terminal_size=(100, 30), run_before=after_load("down", "down", "tab", "m"))
