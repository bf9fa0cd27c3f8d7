"""Tests of tracetui.core.reader.read_trace."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracetui.core import reader
from tracetui.core.model import TraceError
from tracetui.core.reader import read_trace
from .paths import TRACES, agent_traces

EMPTY_TRACE = TRACES / "taubench" / "ea09a0dc475dbe00b56101ef665b8c03.jsonl"


def write_lines(path: Path, *records) -> Path:
    """Write records (dicts are JSON-encoded, str/bytes written as-is) one per line."""
    out = []
    for r in records:
        if isinstance(r, dict):
            r = json.dumps(r)
        out.append(r.encode() if isinstance(r, str) else r)
    path.write_bytes(b"\n".join(out) + b"\n")
    return path


def load(tmp_path: Path, *records):
    return read_trace(write_lines(tmp_path / "t.jsonl", *records))


def single(tmp_path: Path, record):
    (req,) = load(tmp_path, record).requests
    return req


# --- fields -----------------------------------------------------------------


def test_basic_fields(tmp_path):
    trace = load(
        tmp_path,
        {"timestamp": 1700000000, "input": "hi", "output": "yo", "session_id": "s1", "model": "m"},
        {"timestamp": 1700000001, "input": "hi again", "output": "ok", "session_id": "s2", "model": None},
    )
    assert trace.name == "t.jsonl"
    assert trace.warnings == () and trace.skipped_lines == () and trace.recovered_lines == ()
    a, b = trace.requests
    assert (a.index, a.line, a.input, a.output, a.timestamp, a.session_id, a.model) == (
        0, 1, "hi", "yo", 1700000000.0, "s1", "m",
    )
    assert (b.index, b.line, b.model) == (1, 2, None)
    assert a.input_doc is None and a.output_doc is None and a.usage is None
    assert trace.sessions == ("s1", "s2")


@pytest.mark.parametrize(
    "record",
    [
        {"prompt": "p", "generation": "g"},
        {"prompt": "p", "response": "g"},
        {"input": None, "prompt": "p", "output": None, "response": "g"},
    ],
)
def test_aliases(tmp_path, record):
    req = single(tmp_path, record)
    assert (req.input, req.output) == ("p", "g")


@pytest.mark.parametrize(
    "value, expected",
    [
        (1700000000, 1700000000.0),
        (1700000000.25, 1700000000.25),
        (1700000000250, 1700000000.25),
        (1700000000250000, 1700000000.25),
        ("1700000000250", 1700000000.25),
        (" 1700000000.5 ", 1700000000.5),
        ("yesterday", None),
        (None, None),
        (True, None),
    ],
)
def test_timestamp_units(tmp_path, value, expected):
    req = single(tmp_path, {"timestamp": value, "input": "x"})
    assert req.timestamp == pytest.approx(expected) if expected else req.timestamp is None


def test_missing_timestamp_session_model(tmp_path):
    req = single(tmp_path, {"input": "x"})
    assert (req.timestamp, req.session_id, req.model) == (None, None, None)


def test_int_session_id(tmp_path):
    assert single(tmp_path, {"input": "x", "session_id": 42}).session_id == "42"


@pytest.mark.parametrize("record", [{"input": "x"}, {"input": "x", "output": None}, {"input": "x", "output": ""}])
def test_missing_output_is_empty(tmp_path, record):
    assert single(tmp_path, record).output == ""


def test_blank_lines_skipped_silently(tmp_path):
    trace = load(tmp_path, "", {"input": "a"}, "   \t", "\r", {"input": "b"}, "")
    assert [(r.index, r.line, r.input) for r in trace.requests] == [(0, 2, "a"), (1, 5, "b")]
    assert trace.warnings == () and trace.skipped_lines == ()


def test_crlf_bom_and_no_final_newline(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"input": "a"}\r\n{"input": "b"}')
    assert [r.input for r in read_trace(path).requests] == ["a", "b"]


def test_lines_longer_than_a_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "_CHUNK", 7)  # every line spans several chunks
    records = [{"input": "x" * n, "output": "y"} for n in (1, 30, 5, 100)]
    trace = load(tmp_path, *records, "", {"input": "last"})
    assert [r.input for r in trace.requests] == ["x", "x" * 30, "x" * 5, "x" * 100, "last"]
    assert trace.requests[-1].line == 6


# --- JSON bodies and usage --------------------------------------------------


def test_parsed_input_output_documents(tmp_path):
    body = {"model": "gpt", "messages": [{"role": "user", "content": "hé"}]}
    resp = {"choices": [{"message": {"content": "ok"}}], "usage": {"prompt_tokens": 3}}
    req = single(tmp_path, {"input": body, "output": resp})
    assert req.input_doc == body and req.output_doc == resp
    assert req.input == '{"model":"gpt","messages":[{"role":"user","content":"hé"}]}'
    assert json.loads(req.output) == resp
    assert req.usage == {"prompt_tokens": 3}


def test_top_level_usage_wins(tmp_path):
    req = single(tmp_path, {"input": "x", "output": {"usage": {"a": 1}}, "usage": {"b": 2}})
    assert req.usage == {"b": 2}


@pytest.mark.parametrize(
    "body",
    [
        {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]},
        {"system": "be nice", "messages": []},
        {"system": [{"type": "text", "text": "be nice"}]},
    ],
)
def test_escaped_request_body_is_parsed(tmp_path, body):
    text = json.dumps(body, indent=1)
    req = single(tmp_path, {"input": text})
    assert req.input == text and req.input_doc == body


@pytest.mark.parametrize("text", ['{"foo": 1}', '["messages"]', "{not json", "plain text"])
def test_input_that_is_not_a_request_body(tmp_path, text):
    req = single(tmp_path, {"input": text})
    assert req.input == text and req.input_doc is None


def test_escaped_output_object_is_parsed(tmp_path):
    out = json.dumps({"content": [{"type": "text", "text": "hi"}], "usage": {"output_tokens": 2}})
    req = single(tmp_path, {"input": "x", "output": out})
    assert req.output == out
    assert req.output_doc["content"][0]["text"] == "hi"
    assert req.usage == {"output_tokens": 2}
    assert single(tmp_path, {"input": "x", "output": "[1, 2]"}).output_doc is None


# --- compression and stdin --------------------------------------------------


def test_gzip_file(tmp_path):
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"input": "a"}\n\n{"input": "b", "output": "c"}\n'))
    trace = read_trace(path)
    assert trace.name == "t.jsonl.gz"
    assert [(r.line, r.input, r.output) for r in trace.requests] == [(1, "a", ""), (3, "b", "c")]


class FakeStdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def test_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(b'{"input": "a"}\n{"input": "b"}\n'))
    calls = []
    trace = read_trace("-", progress=lambda done, total: calls.append((done, total)))
    assert trace.name == "<stdin>"
    assert [r.input for r in trace.requests] == ["a", "b"]
    assert calls and calls[-1] == (30, 0)


def test_gzipped_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(gzip.compress(b'{"input": "a"}\n')))
    assert read_trace("-").requests[0].input == "a"


# --- repairs and skipped lines ----------------------------------------------


def test_invalid_utf8_is_replaced_and_counted(tmp_path):
    trace = load(tmp_path, b'{"input": "caf\xe9"}', {"input": "ok"}, b'{"input": "x", "output": "\xff\xfe"}')
    assert [r.input for r in trace.requests] == ["caf\ufffd", "ok", "x"]
    assert trace.requests[2].output == "\ufffd\ufffd"
    assert trace.invalid_utf8 == 2
    assert trace.warnings == ("replaced invalid text (bad UTF-8, lone surrogates) in 2 lines: 1, 3",)


def test_lone_surrogate_escape_is_replaced(tmp_path):
    req = single(tmp_path, r'{"input": "cut \ud83d", "output": "\ud83d\ude00"}')
    assert req.input == "cut \ufffd" and req.output == "\U0001f600"


def test_unreadable_lines_are_skipped_and_listed(tmp_path):
    trace = load(
        tmp_path,
        {"input": "a"}, {"input": "b"}, {"input": "c"},
        "{broken",  # line 4
        {"input": "d"}, {"input": "e"}, {"input": "f"}, {"input": "g"},
        "[1, 2, 3]",  # line 9: valid JSON, not an object
        {"output": "no input"},  # line 10
        {"input": "h"},
    )
    assert [r.input for r in trace.requests] == list("abcdefgh")
    assert [r.index for r in trace.requests] == list(range(8))
    assert trace.requests[-1].line == 11
    assert trace.skipped_lines == (4, 9, 10)
    assert trace.warnings == ("skipped 3 unreadable lines: 4, 9-10",)


def test_huge_integer_timestamp_is_ignored(tmp_path):
    # float() of a 400-digit integer raises OverflowError
    req = single(tmp_path, '{"input": "x", "timestamp": ' + "9" * 400 + "}")
    assert req.input == "x" and req.timestamp is None


@pytest.mark.parametrize(
    "line",
    [
        '{"input": ' + "[" * 200_000 + "]" * 200_000 + "}",  # RecursionError in json.loads
        '{"input": "{"messages": ' + "[" * 200_000 + "]" * 200_000 + '}"}',  # ... in the repair
        '{"input": ' + "[" * 1000 + "]" * 1000 + "}",  # orjson reads it; neither json module writes it
    ],
    ids=["json-recursion", "repair-recursion", "too-deep-to-write"],
)
def test_lines_nested_too_deep_are_skipped(tmp_path, line):
    trace = load(tmp_path, {"input": "a"}, line, {"input": "b"})
    assert [r.input for r in trace.requests] == ["a", "b"]
    assert trace.warnings == ("skipped 1 unreadable line: 2",)


def test_deep_body_beyond_orjson_dump_limit_is_kept(tmp_path):
    # orjson.dumps refuses more than 254 levels; the standard library writes it
    inner: object = "é"
    for _ in range(300):
        inner = [inner]
    body = {"messages": [{"role": "user", "content": inner}]}
    req = single(tmp_path, {"input": body})
    assert json.loads(req.input) == body and req.input_doc == body
    assert req.input.startswith('{"messages":[{"role":"user","content":[[') and "é" in req.input


def test_long_lists_of_line_numbers_are_capped(tmp_path):
    trace = load(tmp_path, {"input": "a"}, *(["oops", ""] * 25))
    assert len(trace.skipped_lines) == 25
    (warning,) = trace.warnings
    assert warning == "skipped 25 unreadable lines: " + ", ".join(map(str, range(2, 41, 2))) + ", … and 5 more"
    assert reader._line_list([1, 2, 3, 5, 7, 8]) == "1-3, 5, 7-8"


def test_unescaped_documents_are_recovered(tmp_path):
    body = '{"model":"claude","system":"say \\"hi\\"","messages":[{"role":"user","content":"a, \\"b\\""}]}'
    out = '{"content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":5,"cache_read_input_tokens":3}}'
    bad = f'{{"timestamp": 1760587779519310, "input": "{body}", "output": "{out}", "session_id": "s"}}'
    trace = load(tmp_path, {"input": "fine"}, bad)
    assert trace.recovered_lines == (2,)
    assert trace.warnings == ("recovered 1 malformed line (unescaped JSON in input/output): 2",)
    req = trace.requests[1]
    assert req.input == body and req.output == out  # the raw text, not re-serialised
    assert req.input_doc == json.loads(body) and req.output_doc == json.loads(out)
    assert req.usage == {"input_tokens": 5, "cache_read_input_tokens": 3}
    assert (req.timestamp, req.session_id, req.line, req.index) == (pytest.approx(1760587779.51931), "s", 2, 1)


def test_recovery_falls_back_to_delimiters(tmp_path):
    # Truncated document: raw_decode fails, the value ends before the next known key.
    bad = '{"input": "{"messages": [{"role": "user", "content": "hi"}", "output": "plain", "model": "m"}'
    req = single(tmp_path, bad)
    assert req.input == '{"messages": [{"role": "user", "content": "hi"}'
    assert req.input_doc is None
    assert (req.output, req.model) == ("plain", "m")
    # A correctly escaped input next to an unescaped output keeps its decoded text.
    bad = '{"input": "line\\none \\"q\\"", "output": "{"a": 1}"}'
    req = single(tmp_path, bad)
    assert (req.input, req.output, req.output_doc) == ('line\none "q"', '{"a": 1}', {"a": 1})


def memgpt_trace() -> Path:
    path = TRACES / "memgpt" / "memgpt1.jsonl"
    if not path.parent.is_dir():
        pytest.skip("shared traces are not available")
    return path


def test_memgpt_trace_is_recovered():
    path = memgpt_trace()
    trace = read_trace(path)
    assert len(trace.requests) == 20
    assert trace.recovered_lines == tuple(range(1, 21))
    assert trace.skipped_lines == ()
    assert trace.warnings == ("recovered 20 malformed lines (unescaped JSON in input/output): 1-20",)
    lines = path.read_text(encoding="utf-8").split("\n")
    for req in trace.requests:
        assert isinstance(req.input_doc, dict) and "messages" in req.input_doc
        assert {"system", "tools"} <= req.input_doc.keys()
        assert isinstance(req.output_doc, dict)
        assert "cache_read_input_tokens" in req.usage
        assert req.session_id == "0c6629b0a328cc379ad0e3a62b0353bb"
        assert 1.7e9 < req.timestamp < 1.8e9
        # The texts are the embedded documents exactly as written in the file.
        assert f'"input": "{req.input}", "output": "{req.output}"' in lines[req.line - 1]


def test_all_shared_traces_load():
    memgpt_trace()  # skips when absent
    paths = [p for p in agent_traces() if p != EMPTY_TRACE]
    assert len(paths) >= 10
    for path in paths:
        trace = read_trace(path)
        assert trace.requests, path
        assert trace.skipped_lines == () and trace.invalid_utf8 == 0, path
        assert trace.name == path.name
    assert len(read_trace(TRACES / "opencode" / "gpt-5-mini-task2.jsonl").requests) == 11


# --- fatal errors -----------------------------------------------------------


def fatal(path) -> str:
    with pytest.raises(TraceError) as info:
        read_trace(path)
    message = str(info.value)
    assert message and "\n" not in message
    return message


def test_shared_empty_trace_is_fatal():
    memgpt_trace()  # skips when absent
    assert fatal(EMPTY_TRACE).endswith("ea09a0dc475dbe00b56101ef665b8c03.jsonl is empty")


def test_empty_and_blank_files(tmp_path):
    (tmp_path / "e.jsonl").write_bytes(b"")
    (tmp_path / "b.jsonl").write_bytes(b"\n  \n\n")
    assert fatal(tmp_path / "e.jsonl").endswith("e.jsonl is empty")
    assert fatal(tmp_path / "b.jsonl").endswith("b.jsonl is empty")


def test_missing_path(tmp_path):
    assert fatal(tmp_path / "nope.jsonl") == f"no such file: {tmp_path / 'nope.jsonl'}"


def test_directory(tmp_path):
    assert fatal(tmp_path) == f"{tmp_path} is a directory, not a trace file"


def test_binary_file(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(200))
    assert fatal(path) == f"{path} does not look like a JSONL trace (binary data)"


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(b"\x1f\x8bnot really gzip")
    assert fatal(path).endswith("does not look like a JSONL trace (binary data: corrupt gzip)")


def test_no_readable_requests(tmp_path):
    path = write_lines(tmp_path / "t.jsonl", "nope", "", "[]", {"output": "x"})
    assert fatal(path) == f"{path} has no readable requests (3 lines skipped)"
    path = write_lines(tmp_path / "t.jsonl", "nope")
    assert fatal(path) == f"{path} has no readable requests (1 line skipped)"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_permission_denied(tmp_path):
    path = write_lines(tmp_path / "t.jsonl", {"input": "a"})
    path.chmod(0)
    assert fatal(path) == f"permission denied: {path}"


def test_permission_denied_simulated(tmp_path, monkeypatch):
    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(reader, "open", deny, raising=False)  # shadows the builtin, even as root
    path = write_lines(tmp_path / "t.jsonl", {"input": "a"})
    assert fatal(path) == f"permission denied: {path}"


# --- progress, cancel, imports ----------------------------------------------


def test_progress_reports_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "_CHUNK", 64)
    path = write_lines(tmp_path / "t.jsonl", *({"input": f"request {i}"} for i in range(20)))
    size = path.stat().st_size
    calls = []
    read_trace(path, progress=lambda done, total: calls.append((done, total)))
    assert len(calls) > 5
    assert all(total == size for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1] == (size, size)


def test_cancel(tmp_path):
    path = write_lines(tmp_path / "t.jsonl", {"input": "a"})
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TraceError, match="^cancelled$"):
        read_trace(path, cancel=cancel)


def test_cancel_while_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "_CHUNK", 64)
    path = write_lines(tmp_path / "t.jsonl", *({"input": f"request {i}"} for i in range(50)))
    cancel = threading.Event()
    with pytest.raises(TraceError, match="^cancelled$"):
        read_trace(path, progress=lambda done, total: cancel.set(), cancel=cancel)


def test_core_imports_neither_textual_nor_rich():
    code = "import sys, tracetui.core.reader; print(sorted({'textual', 'rich'} & sys.modules.keys()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- hostile or careless input: nothing lost to one bad spot -----------------

GZ_LINES = b"".join(b'{"input": "request %d"}\n' % i for i in range(2000))


def gz_trace(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(data)
    return path


def test_truncated_gzip_keeps_every_complete_line(tmp_path):
    data = gzip.compress(GZ_LINES)
    trace = read_trace(gz_trace(tmp_path, data[: len(data) // 2]))
    n = len(trace.requests)
    assert 100 < n < 2000
    assert [r.input for r in trace.requests] == [f"request {i}" for i in range(n)]
    assert trace.warnings[0] == "the gzip data ends early (truncated, or its trailer is missing): read up to there"
    # The line cut in the middle is the only one lost.
    assert trace.skipped_lines in ((), (n + 1,))


def test_gzip_without_trailer(tmp_path):
    trace = read_trace(gz_trace(tmp_path, gzip.compress(GZ_LINES)[:-8]))
    assert len(trace.requests) == 2000
    assert trace.warnings == ("the gzip data ends early (truncated, or its trailer is missing): read up to there",)


def test_gzip_with_trailing_garbage(tmp_path):
    trace = read_trace(gz_trace(tmp_path, gzip.compress(GZ_LINES) + b"garbage, not gzip"))
    assert len(trace.requests) == 2000
    assert trace.warnings == ("ignored the bytes after the end of the gzip data (not gzip)",)
    # Zero padding (as tape blocks leave it) is ignored silently, as gzip does.
    trace = read_trace(gz_trace(tmp_path, gzip.compress(GZ_LINES) + bytes(512)))
    assert len(trace.requests) == 2000 and trace.warnings == ()


def test_concatenated_gzip_members(tmp_path):
    trace = read_trace(gz_trace(tmp_path, gzip.compress(GZ_LINES) + gzip.compress(b'{"input": "last"}\n')))
    assert len(trace.requests) == 2001 and trace.requests[-1].input == "last" and trace.warnings == ()


def test_gzip_corrupt_midway_keeps_what_came_before(tmp_path):
    lines = b"".join(b'{"input": "request %d %s"}\n' % (i, os.urandom(8).hex().encode()) for i in range(5000))
    data = gzip.compress(lines)
    trace = read_trace(gz_trace(tmp_path, data[:20000] + b"\xff" * 64 + data[20064:]))
    assert len(trace.requests) > 500
    assert [r.input for r in trace.requests[:500]] == [lines.splitlines()[i][11:-2].decode() for i in range(500)]
    assert trace.warnings[0].startswith("the gzip data is corrupt after ")


def test_decompression_bomb_is_refused(tmp_path):
    path = gz_trace(tmp_path, gzip.compress(b'{"input": "' + b"a" * (100 << 20) + b'"}\n'))
    message = fatal(path)
    assert message.startswith(f"{path}: gzip data expanding over 100x (")
    assert "decompression bomb" in message


def test_nul_byte_near_the_start_costs_one_line_only(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"input": "a"}\n\x00\x01\x02 binary\n{"input": "b"}\n')
    trace = read_trace(path)
    assert [r.input for r in trace.requests] == ["a", "b"]
    assert trace.skipped_lines == (2,)


def test_binary_file_with_many_lines(tmp_path):
    path = tmp_path / "t.bin"
    path.write_bytes(b"\n".join(os.urandom(50) + b"\x00" for _ in range(100)))
    assert fatal(path) == f"{path} does not look like a JSONL trace (binary data)"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_file_is_read(tmp_path, encoding):
    path = tmp_path / "t.jsonl"
    path.write_bytes('{"input": "café"}\n{"input": "b"}\n'.encode(encoding))
    trace = read_trace(path)
    assert [r.input for r in trace.requests] == ["café", "b"]
    assert trace.warnings == (f"read as {encoding.upper()} text (not UTF-8)",)


def test_lone_surrogate_in_a_key_is_repaired(tmp_path):
    trace = load(tmp_path, {"input": "a"}, '{"input": "b", "output": {"\\ud800": 1}}')
    assert [r.input for r in trace.requests] == ["a", "b"]
    assert trace.requests[1].output == '{"\ufffd":1}'
    assert trace.warnings == ("replaced invalid text (bad UTF-8, lone surrogates) in 1 line: 2",)


def test_scalar_input_is_read_as_its_text(tmp_path):
    trace = load(tmp_path, {"input": 12345}, {"input": "ok"}, {"input": True, "output": 1.5})
    assert [(r.input, r.output) for r in trace.requests] == [("12345", ""), ("ok", ""), ("true", "1.5")]
    assert trace.warnings == ("read a number or boolean input/output as its JSON text in 2 lines: 1, 3",)


@pytest.mark.parametrize("data", [
    b'{"input": "a"}\r{"input": "b"}\n{"input": "c"}\n',  # a lone CR between records
    b'{"input": "a"}\r{"input": "b"}\r{"input": "c"}\r',  # a CR-only file
    b'{"input": "a"}\r\n{"input": "b"}\xef\xbb\xbf{"input": "c"}\n',  # files concatenated, no final newline
])
def test_records_joined_on_one_line_are_split(tmp_path, data):
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    trace = read_trace(path)
    assert [r.input for r in trace.requests] == ["a", "b", "c"]
    assert trace.skipped_lines == ()
    assert trace.warnings[0].startswith("split 1 line holding several records")


def test_byte_order_mark_at_the_start_of_a_later_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"input": "a"}\n\xef\xbb\xbf{"input": "b"}\n')
    trace = read_trace(path)
    assert [r.input for r in trace.requests] == ["a", "b"] and trace.skipped_lines == ()


def test_raw_cr_inside_a_value_is_not_a_split(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"input": "a\rb"}\n')
    trace = read_trace(path)
    assert [r.input for r in trace.requests] == ["a\rb"]


# --- bounded resources ------------------------------------------------------


def test_line_longer_than_the_limit_is_skipped_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "_CHUNK", 1000)  # the long line spans many chunks
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"input": "a"}\n{"input": "' + b"x" * 5000 + b'"}\n{"input": "b"}\n{"input": "' + b"y" * 5000)
    trace = read_trace(path, max_line_mb=3000 / (1 << 20))
    assert [r.input for r in trace.requests] == ["a", "b"]
    assert trace.skipped_lines == (2, 4)
    assert trace.warnings == ("skipped 2 lines longer than 0.00286102 MB (--max-line-mb): 2, 4",)
    assert len(read_trace(path).requests) == 3  # the last line is cut: unreadable at any limit


def test_request_with_one_huge_word_is_skipped(tmp_path):
    trace = load(tmp_path, {"input": "a"}, {"input": "x" * (reader._MAX_PIECE + 1)},
                 {"input": " ".join(["word"] * (reader._MAX_PIECE // 4))}, {"input": "y", "output": "=" * (2 << 20)})
    assert [r.input[:4] for r in trace.requests] == ["a", "word"]
    assert trace.skipped_lines == (2, 4)
    assert "too costly to tokenize" in trace.warnings[0]


def test_fifo_is_read_as_a_stream(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def write():
        with open(fifo, "wb") as f:
            f.write(b'{"input": "a"}\n{"input": "b"}\n')

    writer = threading.Thread(target=write)
    writer.start()
    trace = read_trace(fifo)
    writer.join()
    assert [r.input for r in trace.requests] == ["a", "b"]


def test_fifo_without_writer_can_be_cancelled(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(TraceError, match="^cancelled$"):
        read_trace(fifo, cancel=cancel)  # no writer ever comes: only cancel ends it


def test_device_is_refused(tmp_path):
    assert fatal("/dev/zero") == ("/dev/zero is not a regular file (a device or socket); "
                                  "pipe it to `tracetui analyze -` if it really holds a trace")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab 1_-é\u0301\u3000\n日٣", max_size=40))
def test_costly_runs_match_a_brute_force(text):
    """The numpy run finder (block by block) against a plain loop over the characters."""
    longest, kind, length = 0, None, 0
    for ch in text:
        c = reader._char_class(ch)
        length = length + 1 if c == kind else 1
        kind = c
        if c != reader._DIGIT:
            longest = max(longest, length)
    saved = reader._MAX_PIECE, reader._RUN_BLOCK
    reader._MAX_PIECE, reader._RUN_BLOCK = 5, 7  # runs cross the blocks' borders
    try:
        assert reader._too_costly(text) == (longest > 5)
    finally:
        reader._MAX_PIECE, reader._RUN_BLOCK = saved
