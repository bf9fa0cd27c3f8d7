"""No byte of a trace reaches the terminal raw: core.display, and every output path using it.

The property tests put generated hostile strings (C0 and C1 controls, whole escape sequences
such as OSC 52 clipboard writes and `ESC c`, the 8-bit CSI, bidirectional controls, zero-width
characters, rich markup) into every string field of a trace and into its file name, then
assert that what `analyze` (every mode), `check` and `compare` print, and what every screen of
the explorer draws, holds no control character but the newlines of the output itself.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import tempfile
import threading
import unicodedata
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text
from textual.app import App
from textual.widgets import Label

from tracetui.app.app import create_app
from tracetui.app.screens import loading as loading_module
from tracetui.app.screens.curves import CurvesScreen
from tracetui.app.screens.diff import DiffScreen
from tracetui.app.screens.error import ErrorScreen
from tracetui.app.screens.help import HelpScreen
from tracetui.app.screens.loading import LoadingScreen
from tracetui.app.screens.main import MainScreen
from tracetui.app.screens.sessions import SessionsScreen
from tracetui.app.screens.warnings import WarningsScreen
from tracetui.report.cli import main
from tracetui.core.display import MARKS, display_lines, display_text, json_safe

from .conftest import press, ready

# ---------------------------------------------------------------------------- what is unsafe

UNSAFE = frozenset(MARKS)
"""Every character no output may hold raw: C0 (newline included), DEL, C1, Cf, Zl, Zp, Cs."""


def unsafe_in(text: str, *, newlines: bool = True) -> set[str]:
    """The unsafe characters in `text` (its own line breaks allowed when `newlines`)."""
    found = set(UNSAFE.intersection(text))
    if newlines:
        found.discard("\n")
    return found


# ---------------------------------------------------------------------------- display_text

def _reference(s: str) -> str:
    """The brute force: every character looked up, one by one."""
    return "".join(MARKS.get(ch, ch) for ch in s)


def test_every_control_format_and_separator_character_is_marked():
    kinds = ("Cc", "Cf", "Zl", "Zp", "Cs")
    missing = [hex(c) for c in range(0x110000) if unicodedata.category(chr(c)) in kinds and chr(c) not in MARKS]
    assert missing == []
    for ch, mark in MARKS.items():
        # One character of one cell, itself safe: the prompt view counts one cell per character.
        assert len(mark) == 1 and cell_len(mark) == 1 and mark not in UNSAFE, hex(ord(ch))


def test_display_text_examples():
    # ESC [ and CSI (U+009B) start escape sequences; NEL (U+0085) moves the cursor; U+202E
    # reverses the text after it; U+200B hides.
    assert display_text("a\x1b[31mb\x9b2Jc\x85d\x7f\te\n\xa0é") == "a␛[31mb·2Jc·d␡→e↵\xa0é"
    assert display_text("\x1b]52;c;aGk=\x07 \x1bc \r\n") == "␛]52;c;aGk=␇ ␛c ␍↵"
    assert display_text("ab\u202ecd\u2066\u200b\u200d\ufeff\u2028\u2029\u061c\U000e0041") == "ab·cd" + "·" * 8
    assert display_text("\ud800x") == "�x"
    assert display_text("plain [bold] text ↵ → ·") == "plain [bold] text ↵ → ·"
    assert all(len(display_text(chr(c))) == 1 for c in range(0x3000))


FRAGMENTS = st.sampled_from([
    "\x1b]52;c;aGVsbG8=\x07", "\x1b]0;pwned\x07", "\x1b]8;;http://x\x1b\\", "\x1bc", "\x1b[2J", "\x1b[31m",
    "\x9b31m", "\x9d0;t\x9c", "\x07", "\x00", "\r", "\x08", "\x7f", "\x85", "\u2028", "\u2029",
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e",
    "\u200f", "\u061c", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\U000e0041",
    "[bold red]", "[/]", "[/x]", "[link=file:///etc/passwd]", "[@click=app.quit]", "\\[", "]", "\n", "\t",
    "user", "system", "<|im_start|>", "<|im_end|>", " ", "é", "日本", "😀", "e\u0301",
])
HOSTILE = st.lists(st.one_of(FRAGMENTS, st.text(max_size=3),
                             st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp"]), min_size=1, max_size=3)),
                   min_size=1, max_size=8).map("".join)
"""Strings mixing every control class with markup, text and role markers (no lone surrogate:
a trace file is UTF-8, and the reader repairs those)."""


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.text(st.characters(codec=None), max_size=60) | HOSTILE)
def test_display_text_is_the_brute_force_and_keeps_lengths(s):
    shown = display_text(s)
    assert shown == _reference(s)
    assert len(shown) == len(s) and not unsafe_in(shown, newlines=False)
    lines = display_lines(s)
    assert lines == _reference(s).replace("↵", "↵\n") or "↵" in s  # a ↵ of the text breaks no line
    assert lines.replace("↵\n", "↵") == shown and not unsafe_in(lines)


def test_display_lines_breaks_only_at_newlines():
    assert display_lines("a↵b\nc\r\n") == "a↵b↵\nc␍↵\n"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(st.characters(codec="utf-8")) | HOSTILE,
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(HOSTILE, kids, max_size=4),
                    max_leaves=12))
def test_json_safe_is_the_same_json_with_nothing_raw(value):
    for option in (0, orjson.OPT_INDENT_2):
        doc = json_safe(orjson.dumps(value, option=option).decode())
        assert json.loads(doc) == value and orjson.loads(doc) == value
        assert not unsafe_in(doc)


# ---------------------------------------------------------------------------- hostile traces

@st.composite
def hostile_traces(draw):
    """(records, garbage line, file name) with a hostile string in every string field."""
    h = {k: draw(HOSTILE) for k in ("sys", "user", "out", "session", "model", "role", "tool", "edit", "name")}
    system = f"system: You are a helpful agent. {h['sys']} Keep answers short. " * 3
    first = f"{system}\nuser: {h['user']}\nassistant:"
    body = {"model": h["model"], "tools": [{"type": "function", "function": {"name": h["tool"], "description": h["sys"]}}],
            "messages": [{"role": "system", "content": system},
                         {"role": h["role"], "content": h["user"]},
                         {"role": "user", "content": [{"type": "text", "text": h["out"]}]}]}
    records = [
        {"timestamp": 1000, "session_id": h["session"], "model": h["model"], "input": first, "output": h["out"],
         "usage": {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 3}}},
        {"timestamp": 1001, "session_id": h["session"], "model": h["model"],
         "input": f"{first}{h['out']}\nuser: {h['edit']}\nassistant:", "output": h["user"]},
        # The system prompt edited: a prefix breaker whose description quotes the trace.
        {"timestamp": 1002, "session_id": h["role"], "input": f"{h['edit']}{system}\nuser: {h['user']}\nassistant:",
         "output": h["edit"]},
        {"timestamp": 1003, "session_id": h["tool"],
         "input": f"<|im_start|>{h['role']}\n{h['sys']}<|im_end|>\n<|im_start|>user\n{h['user']}<|im_end|>\n",
         "output": h["out"]},
        {"timestamp": 1004, "session_id": h["session"], "model": h["tool"], "input": json.dumps(body),
         "output": {"choices": [{"message": {"role": h["role"], "content": h["out"]}}]}},
        {"timestamp": 1005, "session_id": h["session"], "input": body, "output": h["edit"]},
    ]
    # A file name: anything but "/" and NUL, within the file system's 255 bytes.
    name = h["name"].replace("/", "⁄").replace("\x00", "␀")
    while len(name.encode()) > 180:
        name = name[:-1]
    return records, f"{{not json {h['edit']!r}", f"t{name}.jsonl"


def write_trace(folder: Path, records, garbage: str, name: str) -> Path:
    path = folder / name
    lines = [json.dumps(r) for r in records]
    lines.insert(2, garbage)  # a skipped line: the trace has warnings
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(argv: list[str]) -> tuple[int, str, str]:
    """`tracetui ARGV` in-process: exit code, stdout and stderr as the terminal would get them."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    out.flush()
    err.flush()
    return code, out.buffer.getvalue().decode("utf-8"), err.buffer.getvalue().decode("utf-8")


def run_safe(argv: list[str]) -> str:
    """`tracetui ARGV` ends well (0, or 1 for a failed check) and prints nothing raw: its stdout."""
    code, out, err = run(argv)
    assert code in (0, 1), (argv, err)
    assert not unsafe_in(out) and not unsafe_in(err), (argv, unsafe_in(out), unsafe_in(err))
    return out


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_traces())
def test_cli_prints_no_control_character_from_a_trace(trace):
    records, garbage, name = trace
    with tempfile.TemporaryDirectory() as tmp:
        path = write_trace(Path(tmp), records, garbage, name)
        other = write_trace(Path(tmp), records[::-1], garbage, "other-" + name)
        p, o = str(path), str(other)
        pools = ["--pool-sizes", "0.001", "unlimited"]
        for argv in (["analyze", p], ["analyze", p, "--per-request", *pools], ["analyze", p, "--why", *pools],
                     ["analyze", p, "--why", "--per-request", *pools], ["check", p, "--min-prefix", "1"],
                     ["compare", p, o, *pools], ["compare", p, o, "-o", "markdown", *pools]):
            run_safe(argv)
        # JSON: the same values as the trace, nothing raw on the terminal.
        for argv in (["analyze", p, "--json", "--why", "--per-request", *pools],
                     ["check", p, "--min-prefix", "1", "--json"], ["compare", p, o, "--json", *pools]):
            doc = json.loads(run_safe(argv))
            if argv[0] == "analyze":
                assert doc["trace"] == name
                assert [r["session_id"] for r in doc["requests_detail"]] == [r.get("session_id") for r in records]
                assert doc["requests_detail"][0]["model"] == records[0]["model"]
        # Error lines: one line, the file name shown, not obeyed.
        for bad in (Path(tmp) / ("missing-" + name), Path(tmp) / ("dir-" + name)):
            if bad.name.startswith("dir-"):
                bad.mkdir()
            code, out, err = run(["analyze", str(bad)])
            assert code == 2 and out == ""
            assert err.startswith("tracetui: error: ") and err.count("\n") == 1 and not unsafe_in(err), err
            assert display_text(bad.name) in err


# ---------------------------------------------------------------------------- the explorer

def screen_text(app) -> str:
    """What the current screen sends to the terminal, less the app's own control sequences:
    the compositor's full update printed to a recording console, its text exported (rich
    keeps segments' text as it is, so a raw control from a trace shows up here)."""
    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(), record=True,
                      force_terminal=True, color_system="truecolor", legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


def assert_safe_screen(app, where: str) -> str:
    text = screen_text(app)
    assert not unsafe_in(text), (where, type(app.screen).__name__, unsafe_in(text))
    for title in (app.title, app.sub_title, app.screen.title, app.screen.sub_title):
        assert not unsafe_in(title or "", newlines=False), (where, title)
    return text


async def test_screen_text_sees_a_raw_control():
    """The capture itself: a widget drawing raw trace text is caught (Textual passes it on)."""
    class Raw(App):
        def compose(self):
            yield Label(Text("a\x1b]52;c;eA==\x07b\x9bc\u202ed"))

    app = Raw()
    async with app.run_test(size=(40, 4)) as pilot:
        await pilot.pause()
        assert {"\x1b", "\x9b", "\u202e"} <= unsafe_in(screen_text(app))


async def shows_safely(pilot, keys: tuple[str, ...], screen: type, where: str) -> None:
    """Press `keys`: `screen` is on top, and it draws nothing raw."""
    await press(pilot, *keys)
    assert isinstance(pilot.app.screen, screen), (where, pilot.app.screen_stack)
    assert_safe_screen(pilot.app, where)


async def _explore(path: Path, records) -> None:
    app = create_app(str(path))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await shows_safely(pilot, (), WarningsScreen, "warnings")  # the skipped line
        for i in range(len(records)):
            # t: token boundaries, each token a segment of its own; ]: the next request.
            keys = ("enter", "t") if i == 0 else ("escape", "right_square_bracket")
            await shows_safely(pilot, keys, MainScreen, f"main, request {i}")
            await shows_safely(pilot, ("d",), DiffScreen, f"diff of request {i}")
        await press(pilot, "escape")
        for key, screen in (("question_mark", HelpScreen), ("c", CurvesScreen), ("S", SessionsScreen)):
            await shows_safely(pilot, (key,), screen, screen.__name__)
            if screen is not SessionsScreen:
                await press(pilot, "escape")
        # Filter to the first session: the header's note.
        await shows_safely(pilot, ("down", "down", "enter"), MainScreen, "main, filtered to a session")
        await press(pilot, "slash", *"ab", "enter")
        await pilot.app.workers.wait_for_complete()
        await shows_safely(pilot, (), MainScreen, "main, after a search")


async def _error_and_loading(folder: Path, name: str, monkeypatch_load) -> None:
    binary = folder / ("bin-" + name)
    binary.write_bytes(bytes(range(256)) * 8)
    app = create_app(str(binary))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert_safe_screen(app, "error")
    gate = threading.Event()
    app = create_app(str(folder / name))
    with monkeypatch_load(gate):
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, LoadingScreen)
            assert_safe_screen(app, "loading")
            gate.set()
            await ready(pilot)


class _SlowLoad:
    """loading.load held back until `gate` is set (so the loading screen can be captured)."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.real = loading_module.load

    def __enter__(self):
        def slow(*args, **kwargs):
            self.gate.wait(30)
            return self.real(*args, **kwargs)

        loading_module.load = slow
        return self

    def __exit__(self, *exc) -> None:
        loading_module.load = self.real


@pytest.mark.usefixtures("frozen_terminal_size")
@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_traces())
def test_explorer_draws_no_control_character_from_a_trace(trace):
    records, garbage, name = trace
    with tempfile.TemporaryDirectory() as tmp:
        path = write_trace(Path(tmp), records, garbage, name)
        asyncio.run(_explore(path, records))


NAME = "t\x1b]52;c;aGk=\x07\x1bc\x9b2J\u202e\u2066\u200b\x85\n\r[bold red]x[@click=app.quit].jsonl"
"""A file name with every control class (and markup) in it."""


@pytest.mark.usefixtures("frozen_terminal_size")
def test_error_and_loading_screens_show_no_control_character_from_a_file_name(tmp_path):
    records = [{"session_id": NAME, "input": "user: hello", "output": "hi"}]
    write_trace(tmp_path, records, "{", NAME)
    asyncio.run(_error_and_loading(tmp_path, NAME, _SlowLoad))


def test_the_error_line_of_the_explorer_is_display_text(tmp_path, monkeypatch):
    """`tracetui TRACE` on an unreadable trace: the error screen's message becomes the CLI's
    one error line, escapes and newlines of the file name shown, not obeyed."""
    from tracetui.app import run as run_module

    name = "a\x1b]0;title\x07\nb.jsonl"
    (tmp_path / name).write_bytes(bytes(range(256)) * 8)
    monkeypatch.chdir(tmp_path)

    class FakeApp:
        error_message = f"{name}: binary data, not a JSONL trace"

        def run(self):
            return 2

    monkeypatch.setattr(run_module, "sys", SimpleNamespace(stdout=SimpleNamespace(isatty=lambda: True)))
    monkeypatch.setattr("tracetui.app.app.create_app", lambda path, settings, **options: FakeApp())
    code, out, err = run([name])
    assert code == 2
    assert err == f"tracetui: error: {display_text(FakeApp.error_message)}\n"
    assert os.path.exists(name)
