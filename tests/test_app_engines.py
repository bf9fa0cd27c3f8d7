"""Pilot tests for the explorer's engines: `e` switches the engine (computed in a worker, kept),
`P` the pool size, `t` draws the engine's block grid; header, list and prompt follow."""

from __future__ import annotations

import threading

import pytest

from tracetui.app.app import create_app
from tracetui.app.screens.curves import CurvesScreen
from tracetui.app.widgets.legend import Legend
from tracetui.app.widgets.prompt_view import BLOCKS, OFF, TOKENS
from tracetui.app.widgets.request_info import RequestInfo
from tracetui.app.widgets.trace_header import TraceHeader
from tracetui.core.document import EVICTED, PREFIX
from tracetui.core.explorer_engines import EngineState
from tracetui.core.pipeline import Settings

from .conftest import main_screen, press, ready, settle
from .paths import OPENCODE, sample

pytestmark = pytest.mark.usefixtures("frozen_terminal_size")

SIZE = (100, 32)
TWO = "sample_traces/two_sessions.jsonl"


def header(ms) -> str:
    return ms.query_one(TraceHeader).build().plain


def legend(ms) -> str:
    return ms.query_one(Legend).content.plain


def list_row(ms, index: int) -> str:
    rl = ms.request_list
    return rl._draw_row(ms.data.rows[index], False).text


async def to_pool(pilot, ms, capacity: int) -> None:
    while ms.data.engines.pool_size.capacity != capacity:
        await press(pilot, "P")


async def test_e_cycles_the_engines_computing_each_once(monkeypatch):
    calls = []
    real = EngineState.compute
    monkeypatch.setattr(EngineState, "compute", lambda self, name: calls.append(name) or real(self, name))
    app = create_app(TWO)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        before = header(ms)
        assert "vllm" not in before and "combined" in before  # today's header until an engine is switched to
        seen = []
        for _ in range(5):
            await press(pilot, "e")
            await settle(pilot)
            seen.append(ms.data.engines.active)
        assert seen == ["vllm", "sglang", "lmcache", "cacheblend", "study"]
        assert calls == ["vllm", "sglang", "lmcache", "cacheblend"]
        await press(pilot, "e")  # vllm again: kept, no worker
        assert ms.data.engines.active == "vllm" and calls == ["vllm", "sglang", "lmcache", "cacheblend"]
        text = header(ms)
        assert "vllm ∞" in text and "prefix" in text and "substring" not in text
        assert ms._status == ""  # the header says it all
        row = list_row(ms, 3)
        assert "–" in row  # no substring column for a prefix-only engine
        r = ms.data.engines.result("vllm").unlimited
        assert f"{100 * int(r.prefix_hits[3]) / ms.data.rows[3].input_tokens:5.1f}%" in row
        assert "vllm:" in ms.query_one(RequestInfo).content.plain


async def test_engines_given_on_the_command_line_are_there_at_once(monkeypatch):
    app = create_app(TWO, Settings(engines=("vllm", "sglang")))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        assert ms.data.engines.active == "vllm" and "vllm ∞" in header(ms)
        monkeypatch.setattr(EngineState, "compute", lambda self, name: pytest.fail(f"computed {name}"))
        await press(pilot, "e")  # sglang: computed with the load, switched to at once
        assert ms.data.engines.active == "sglang" and "sglang ∞" in header(ms)


async def test_the_ui_answers_while_an_engine_computes_and_esc_cancels(monkeypatch):
    release = threading.Event()
    real = EngineState.compute

    def slow(self, name):
        release.wait(30)
        return real(self, name)

    monkeypatch.setattr(EngineState, "compute", slow)
    app = create_app(TWO)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        await press(pilot, "e")
        assert "computing vllm" in legend(ms) and "Esc: cancel" in legend(ms)
        await press(pilot, "j", "j")  # the list still moves
        assert ms.request_list.selected == 2
        await press(pilot, "escape")
        assert ms.data.engines.active == "study" and "cancelled" in legend(ms)
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert ms.data.engines.active == "study"  # the cancelled result does not switch the view
        assert ms.data.engines.is_computed("vllm")  # but it is kept: e now switches at once
        await press(pilot, "e")
        assert ms.data.engines.active == "vllm"


async def test_an_engine_that_cannot_read_the_trace_says_why(monkeypatch):
    def refuse(self, name):
        raise ValueError("needs the prompts' tokens")

    monkeypatch.setattr(EngineState, "compute", refuse)
    app = create_app(TWO)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        await press(pilot, "e")
        await settle(pilot)
        assert "vllm: needs the prompts' tokens" in legend(ms) and ms.data.engines.active == "study"


async def test_the_pool_key_draws_evicted_tokens():
    app = create_app(TWO)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        await press(pilot, "e")
        await settle(pilot)
        await to_pool(pilot, ms, 820)
        assert "vllm 0.1 GB" in header(ms) and "rejected" in header(ms)
        assert "evicted (0.1 GB)" in legend(ms) and "substring" not in legend(ms)
        await press(pilot, *["j"] * 11)
        doc = ms.prompt.doc
        cls = doc.token_class[:doc.n_input_tokens]
        pool = ms.data.engines.pool()
        assert doc.index == 11 and int((cls == PREFIX).sum()) == int(pool.prefix_hits[11]) > 0
        assert (cls == EVICTED).any()
        assert "evicted" in list_row(ms, 11)  # the cause column
        assert ms.prompt.cause == "evicted"
        # Back to ∞: nothing is evicted.
        await to_pool(pilot, ms, None)
        doc = ms.prompt.doc
        assert not (doc.token_class == EVICTED).any() and "evicted" not in legend(ms)


async def test_t_cycles_tokens_then_the_engines_blocks():
    app = create_app(TWO)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        pv = ms.prompt
        await press(pilot, "t")
        assert pv.boundaries == TOKENS
        await press(pilot, "t")  # the study has no blocks: off again
        assert pv.boundaries == OFF
        await press(pilot, "e")
        await settle(pilot)
        await press(pilot, "tab", "t", "t")
        assert pv.boundaries == BLOCKS and "vllm blocks of 16 tokens" in legend(ms)
        # Drawn: tokens alternate block by block (16 tokens share a style), not token by token.
        blocks = [pv.render_line(y) for y in range(3)]
        await press(pilot, "t")
        assert pv.boundaries == OFF and "blocks of 16" not in legend(ms)
        await press(pilot, "t")
        tokens = [pv.render_line(y) for y in range(3)]
        assert [s.text for s in blocks] == [s.text for s in tokens]
        assert [list(s) for s in blocks] != [list(s) for s in tokens]


async def test_a_hashed_trace_cycles_its_engines_and_pools():
    app = create_app(str(sample("bailian_hashed.jsonl")))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        seen = []
        for _ in range(4):
            await press(pilot, "e")
            await settle(pilot)
            seen.append(ms.data.engines.active)
        assert seen == ["vllm", "sglang", "lmcache", "study"]
        await press(pilot, "e")
        await settle(pilot)
        for _ in range(len(ms.data.engines.pools) - 1):
            await press(pilot, "P")
        assert ms.data.engines.pool_size.capacity == min(s.capacity for s in ms.data.engines.pools[1:])
        assert "vllm" in header(ms)


async def test_the_curves_screen_draws_every_computed_engine():
    app = create_app(TWO)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        ms = main_screen(app)
        await press(pilot, "c")
        assert isinstance(app.screen, CurvesScreen)
        assert not app.screen.query_one("#curve-engines").display  # one engine: the study's charts only
        await press(pilot, "q")
        for _ in range(2):
            await press(pilot, "e")
            await settle(pilot)
        await press(pilot, "c")
        chart = app.screen.query_one("#curve-engines")
        assert chart.display
        text = chart.content.plain
        for label in ("study substring", "vllm prefix", "sglang prefix"):
            assert label in text


def test_each_engine_has_its_own_marker_without_colour():
    from tracetui.app.screens.curves import ENGINE_SERIES, engines_chart
    from tracetui.core.pipeline import load

    eng = EngineState(load(TWO, Settings(engines=("study", "vllm", "sglang", "lmcache", "cacheblend"))))
    chart = engines_chart(eng.curves(), width=100, height=16, color=False)
    assert "\x1b[" not in chart
    legend_lines = [line for line in chart.splitlines() if any(f" {n} " in line + " " for n in ENGINE_SERIES)]
    glyphs = []
    for name in ENGINE_SERIES:
        line = next(line for line in legend_lines if f" {name} " in line)
        glyphs.append(line.split(name)[0].strip()[-1])
    assert len(set(glyphs)) == len(ENGINE_SERIES), glyphs
