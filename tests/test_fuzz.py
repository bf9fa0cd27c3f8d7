"""Fuzzing the reader and `tracetui analyze` in-process: random bytes, random JSON records and
mutated real lines must never raise anything but a one-line TraceError (or, through the CLI,
exit code 2), and every line that is a well-formed request must be kept as it is.

The runs are derandomized (the same examples every time) and small enough for CI (~10 s of CPU).
For a longer local run: `TRACETUI_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py` (examples
per test; the seed is then drawn at random, and a failure prints how to reproduce it).
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracetui.report.cli import main
from tracetui.core import reader
from tracetui.core.model import TraceError
from tracetui.core.reader import read_trace
from .paths import SAMPLES, TRACES

_LONG = os.environ.get("TRACETUI_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_LONG) if _LONG else 120,
    derandomize=not _LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)
ANALYZE = settings(FUZZ, max_examples=int(_LONG) // 5 if _LONG else 40)

_DIR = Path(tempfile.mkdtemp(prefix="tracetui-fuzz-"))


def _real_lines(limit: int = 400, max_len: int = 4000) -> list[bytes]:
    """Lines of the sample traces and (when present) the shared traces, short ones only:
    mutating a 200 KB line costs time without finding more."""
    lines: list[bytes] = []
    paths = sorted(SAMPLES.glob("*.jsonl")) + sorted(TRACES.glob("*/*.jsonl"))
    for path in paths:
        try:
            with open(path, "rb") as f:
                for k, line in enumerate(f):
                    if k >= 40:
                        break
                    line = line.rstrip(b"\n")
                    if line.strip() and len(line) <= max_len:
                        lines.append(line)
        except OSError:
            continue
        if len(lines) >= limit:
            break
    return lines or [b'{"input": "hello", "output": "world"}']


REAL = _real_lines()

# --- strategies -------------------------------------------------------------

# Text with what traces hold at worst: lone surrogates (written as escapes), controls, bidi.
_any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=30) | st.sampled_from(
    ["\ud800", "a\udfff", "\x1b]52;c;aGk=\x07", "\u202e", "\r", "\ufeff", "\x00", "\x85"])
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70),
                         st.floats(allow_nan=False), _any_text)
_json = st.recursive(_json_scalar, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                          st.dictionaries(_any_text, kids, max_size=4)),
                     max_leaves=12)
_keys = st.sampled_from(["input", "prompt", "output", "generation", "response", "session_id", "timestamp",
                         "model", "usage", "messages"])
_usage = st.dictionaries(st.sampled_from(["prompt_tokens", "input_tokens", "cache_read_input_tokens",
                                          "cache_creation_input_tokens", "prompt_tokens_details",
                                          "input_tokens_details", "cached_tokens"]),
                         st.one_of(st.integers(-(1 << 70), 1 << 70), _json), max_size=4)
# Request bodies as OpenAI and Anthropic write them, with any JSON where a field is expected.
_part = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.one_of(_any_text, _json)}),
    st.fixed_dictionaries({"type": st.just("tool_use"), "name": _any_text, "input": _json}),
    st.fixed_dictionaries({"type": st.just("tool_result"), "content": st.one_of(_any_text, _json)}),
    st.fixed_dictionaries({"type": st.sampled_from(["image", "thinking", "x"])}),
    _json,
)
_message = st.fixed_dictionaries(
    {"role": st.one_of(st.sampled_from(["system", "user", "assistant", "tool", "developer"]), _json),
     "content": st.one_of(st.text(max_size=40), st.lists(_part, max_size=3), _json)},
    optional={"tool_calls": st.lists(st.fixed_dictionaries(
        {"function": st.fixed_dictionaries({"name": _any_text, "arguments": st.one_of(_any_text, _json)})}),
        max_size=2), "name": _any_text})
_body = st.fixed_dictionaries(
    {"messages": st.one_of(st.lists(_message, max_size=4), _json)},
    optional={"system": st.one_of(_any_text, st.lists(_part, max_size=2), _json),
              "tools": st.one_of(st.lists(st.fixed_dictionaries({"name": _any_text, "description": _any_text}),
                                          max_size=3), _json),
              "model": _json})
_record = st.dictionaries(_keys, st.one_of(_json, _usage, _body, _body.map(json.dumps)), max_size=6)
_text = st.text(max_size=60) | _any_text


def _dump(rec) -> bytes:
    # json, not orjson: it writes lone surrogates as escapes and integers beyond 64 bits.
    return json.dumps(rec).encode()


@st.composite
def _mutated(draw) -> bytes:
    line = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(1, 4))):
        if not line:
            break
        k = draw(st.integers(0, len(line) - 1))
        op = draw(st.sampled_from(["flip", "cut", "insert", "truncate", "special", "dup"]))
        if op == "flip":
            line[k] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del line[k: k + draw(st.integers(1, 50))]
        elif op == "insert":
            line[k:k] = draw(st.binary(max_size=20))
        elif op == "truncate":
            del line[k:]
        elif op == "special":
            line[k:k] = draw(st.sampled_from([b"\r", b"\xef\xbb\xbf", b"\x00", b'"', b"\\", b"{", b"}",
                                              b"\\ud800", b"\xff", b"\x1b[2J", b"\n"]))
        else:
            line[k:k] = line[max(0, k - 30): k]
    return bytes(line)


_line = st.one_of(
    st.binary(max_size=80),
    _record.map(_dump),
    st.builds(lambda t: _dump({"input": t}), _text),
    st.builds(lambda t, o: _dump({"input": t, "output": o}), _text, _json),
    _mutated(),
    st.sampled_from(REAL),
)
_separator = st.sampled_from([b"\n", b"\n", b"\n", b"\r\n", b"\r", b"\n\n"])


@st.composite
def _trace_bytes(draw) -> bytes:
    lines = draw(st.lists(_line, min_size=1, max_size=12))
    out = bytearray()
    for line in lines:
        out += line + draw(_separator)
    if draw(st.booleans()):
        del out[len(out) - draw(st.integers(0, min(len(out), 5))):]
    return bytes(out)


# --- the reference: which lines must be kept --------------------------------


def _well_formed(data: bytes) -> dict[int, str]:
    """Line number -> input of every line that is a request as it stands (orjson parses it
    to an object with a string input), independently of the reader's code."""
    if data.startswith(b"\x1f\x8b") or reader._utf16(data[:4]):
        return {}  # read through gzip or UTF-16: the bytes are not the lines
    out = {}
    for lineno, line in enumerate(data.split(b"\n"), 1):
        if lineno == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(rec, dict):
            continue
        for key in ("input", "prompt"):
            value = rec.get(key)
            if value is not None:
                if isinstance(value, str) and len(value) <= reader._MAX_PIECE:
                    out[lineno] = value
                break
    return out


def _write(data: bytes) -> Path:
    path = _DIR / "fuzz.jsonl"
    path.write_bytes(data)
    return path


def _check_read(data: bytes):
    expected = _well_formed(data)
    try:
        trace = read_trace(_write(data))
    except TraceError as exc:
        message = str(exc)
        assert message and "\n" not in message.strip()
        assert not expected, (message, expected)
        return None
    got = {r.line: r.input for r in trace.requests}
    for lineno, text in expected.items():
        assert got.get(lineno) == text, (lineno, text, got.get(lineno))
    assert [r.index for r in trace.requests] == list(range(len(trace.requests)))
    for r in trace.requests:
        assert isinstance(r.input, str) and isinstance(r.output, str)
        r.input.encode("utf-8")  # no lone surrogate reaches the tokenizer
        r.output.encode("utf-8")
    return trace


# --- the fuzz tests ---------------------------------------------------------


@FUZZ
@given(st.binary(max_size=600))
def test_reader_random_bytes(data):
    _check_read(data)


@FUZZ
@given(_trace_bytes())
def test_reader_random_traces(data):
    _check_read(data)


@FUZZ
@given(st.lists(_mutated(), min_size=1, max_size=8))
def test_reader_mutated_real_lines(lines):
    _check_read(b"\n".join(lines) + b"\n")


@pytest.fixture(autouse=True)
def _no_progress(monkeypatch):
    monkeypatch.setenv("TRACETUI_NO_PROGRESS", "1")


@ANALYZE
@given(_trace_bytes(), st.sampled_from([["--json", "--why", "--per-request"], ["--why", "--per-request"], []]))
def test_analyze_in_process(capsys, data, mode):
    path = _write(data)
    code = main(["analyze", str(path), "--pool-sizes", "0.001", "unlimited", "--chunk-size", "4", *mode])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if code == 2:
        assert len(err.splitlines()) == 1 and err.startswith("tracetui: error: "), err
        assert not _well_formed(data), err
        return
    assert code == 0, err
    if "--json" in mode:
        doc = json.loads(out)
        assert doc["requests"] >= len(_well_formed(data))


def _requests(path: Path):
    try:
        return [(r.line, r.input, r.output) for r in read_trace(path).requests]
    except TraceError:
        return []


@FUZZ
@given(_trace_bytes(), st.integers(0, 10_000), st.sampled_from([b"", b"garbage", bytes(64)]))
def test_reader_gzip_damaged(data, cut, tail):
    """Through gzip, whole: what the plain file gives. Cut anywhere: what the plain file gives
    up to the cut (the last request may be a line cut short that still parses)."""
    plain = _requests(_write(data))
    packed = gzip.compress(data)
    gz = _DIR / "fuzz.jsonl.gz"
    gz.write_bytes(packed + tail)
    assert _requests(gz) == plain
    gz.write_bytes(packed[: cut % (len(packed) + 1)])
    got = _requests(gz)
    n = max(len(got) - 1, 0)
    assert got[:n] == plain[:n]
