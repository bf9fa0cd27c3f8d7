"""The explorer on the new trace shapes: several paths, request bodies, hashed traces."""

from __future__ import annotations

import pytest

from tracetui.app.app import create_app
from tracetui.app.widgets.trace_header import TraceHeader
from tracetui.core.pipeline import Settings

from .conftest import main_screen, press, ready
from .paths import sample

pytestmark = pytest.mark.usefixtures("frozen_terminal_size")
SIZE = (160, 32)


async def test_several_paths_open_as_one_trace():
    app = create_app([str(sample("request_bodies.jsonl")), str(sample("two_sessions.jsonl"))])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        # The second file's requests are stamped before the first's, but each file has its own
        # clock and each is in order: no warning (core.pipeline.order_warning).
        ms = main_screen(app)
        assert app.screen is ms and not ms.data.warnings
        trace = ms.data.trace
        assert trace.name == "request_bodies.jsonl +1 more" and app.sub_title == trace.name
        assert trace.formats == ("openai", "anthropic", "prompt")
        assert set(trace.sessions) == {"openai-1", "anthropic-1", "sess-a", "sess-b"}
        await press(pilot, "down")
        assert ms.request_list.selected == 1


async def test_header_names_the_tokenizer_the_model_implies():
    app = create_app(str(sample("request_bodies.jsonl")))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        header = main_screen(app).query_one(TraceHeader).build().plain
        assert "cl100k_base (gpt-4o-2024-08-06 uses o200k_base: --tokenizer o200k_base" in header
    app = create_app(str(sample("request_bodies.jsonl")), Settings(tokenizer="auto"))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        header = main_screen(app).query_one(TraceHeader).build().plain
        # Half the requests are Claude's, which has no public tokenizer: the note says so.
        assert "· o200k_base (several models in the trace: o200k_base (for gpt-4o-2024-08-06))" in header
