"""The requests held as columns and re-read on demand (core.requeststore) equal an eager read.

The eager reference: the Request objects the reader builds as it streams the file (recorded
as they are stored), put together the way the loader always did (a folder's files as their
own sessions, batch output lines joined to their input line, indices renumbered). Each trace
is read as a plain file, gzip, UTF-16, from stdin and split over a folder; its requests are
compared one by one, by index (in random order, through the LRU) and by iteration, and
its columns against the requests' own fields.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracetui.core import requeststore
from tracetui.core.formats import FormatOptions
from tracetui.core.formats.loader import read_traces
from tracetui.core.model import Request, Requests, Trace, TraceError
from tracetui.core.reader import OUTPUT_ONLY, read_trace

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
NAME = st.text("abcxyz019 -", min_size=1, max_size=6)


def _prompt_record(draw) -> dict:
    rec: dict = {"input": draw(TEXT)}
    if draw(st.booleans()):
        rec["output"] = draw(TEXT)
    if draw(st.booleans()):
        rec["session_id"] = draw(NAME)
    if draw(st.booleans()):
        rec["timestamp"] = draw(st.one_of(st.integers(0, 2 * 10**12), st.floats(0, 1e9)))
    if draw(st.booleans()):
        rec["model"] = draw(st.sampled_from(["gpt-4o", "claude-sonnet-4-5", "x"]))
    if draw(st.booleans()):
        rec["usage"] = {"prompt_tokens": draw(st.integers(0, 99))}
    return rec


def _openai_record(draw) -> dict:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": draw(TEXT)}]}
    return {"request": body, "response": {"choices": [{"message": {"role": "assistant", "content": draw(TEXT)}}],
                                          "usage": {"prompt_tokens": 3}}}


@st.composite
def trace_lines(draw) -> list[bytes]:
    """Lines of a trace: records of several formats, batch input / output pairs, and the
    lines the reader repairs or skips."""
    lines: list[bytes] = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["prompt", "prompt", "openai", "batch", "batch", "batch", "joined", "repaired", "bad_utf8",
                                     "garbage", "blank", "crlf", "json_input"]))
        if kind == "prompt":
            lines.append(json.dumps(_prompt_record(draw)).encode())
        elif kind == "openai":
            lines.append(json.dumps(_openai_record(draw)).encode())
        elif kind == "batch":
            cid = f"req-{draw(st.integers(0, 2))}"  # repeated ids too
            body = {"model": "gpt-4o", "messages": [{"role": "user", "content": draw(TEXT)}]}
            out = {"custom_id": cid, "response": {"status_code": 200, "body": {
                "choices": [{"message": {"role": "assistant", "content": draw(TEXT)}}], "created": 1700000000}}}
            inp = {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": body}
            pair = [json.dumps(inp).encode(), json.dumps(out).encode()]
            if draw(st.booleans()):
                pair.reverse()
            lines.extend(pair[: draw(st.integers(1, 2))])
        elif kind == "joined":
            sep = draw(st.sampled_from([b"\r", b"\xef\xbb\xbf"]))
            lines.append(sep.join(json.dumps(_prompt_record(draw)).encode() for _ in range(draw(st.integers(2, 3)))))
        elif kind == "repaired":
            doc = json.dumps({"model": "x", "messages": [{"role": "user", "content": "hi"}]})
            lines.append(b'{"timestamp": 5, "input": "' + doc.encode() + b'", "output": "ok"}')
        elif kind == "bad_utf8":
            lines.append(b'{"input": "caf\xe9 ' + draw(TEXT).encode() + b'"}')
        elif kind == "garbage":
            lines.append(draw(st.sampled_from([b"nope", b"[]", b'{"output": "x"}', b"{"])))
        elif kind == "blank":
            lines.append(b"  ")
        elif kind == "crlf":
            lines.append(json.dumps(_prompt_record(draw)).encode() + b"\r")
        else:
            lines.append(json.dumps({"input": json.dumps({"messages": [{"role": "user", "content": "x"}]}),
                                     "output": json.dumps({"a": 1})}).encode())
    if not any(b"input" in ln or b"request" in ln for ln in lines):
        lines.append(json.dumps({"input": "last"}).encode())
    return lines


def eager(files: list[str], many: bool, recorded: list[Request]) -> list[Request]:
    """What the loader made of the requests the reader streamed (`recorded`, per file in
    order), before requests were held as columns."""
    reqs: list[Request] = []
    for name, rs in zip(files, recorded):
        if many and all(r.session_id is None for r in rs):
            rs = [replace(r, session_id=os.path.basename(name)) for r in rs]
        reqs.extend(rs)
    outputs = {r.request_id: r for r in reqs if r.input_doc is OUTPUT_ONLY}
    out = []
    for r in reqs:
        if r.input_doc is OUTPUT_ONLY:
            continue
        o = outputs.pop(r.request_id, None) if r.request_id is not None and outputs else None
        if o is not None:
            r = replace(r, output=o.output, usage=r.usage if r.usage is not None else o.usage,
                        timestamp=r.timestamp if r.timestamp is not None else o.timestamp)
        out.append(r)
    return [replace(r, index=i) for i, r in enumerate(out)]


def read_recording(monkeypatch, paths, options=FormatOptions()) -> tuple[Trace, list[list[Request]]]:
    """Read `paths`, recording the Request the reader streamed for every stored row, per file."""
    import tracetui.core.formats.loader as loader

    recorded: list[list[Request]] = []
    real_add, real_read_into = requeststore.StoreBuilder.add, loader.read_into

    def add(self, r, *rest):
        recorded[-1].append(r)
        return real_add(self, r, *rest)

    def read_into(rows, path, **kw):
        recorded.append([])
        return real_read_into(rows, path, **kw)

    with monkeypatch.context() as m:
        m.setattr(requeststore.StoreBuilder, "add", add)
        m.setattr(loader, "read_into", read_into)
        trace = read_traces(paths, options)
    return trace, recorded


def check_equal(trace: Trace, expected: list[Request], order: list[int]) -> None:
    reqs = trace.requests
    assert len(reqs) == len(expected)
    assert list(reqs) == expected  # iteration (read ahead, in file order)
    for i in order:  # random access (through the LRU), twice
        assert reqs[i] == expected[i]
        assert reqs[i] == expected[i]
    assert list(reqs[1:3]) == expected[1:3] and reqs[-1] == expected[-1]
    # The columns agree with the requests' own fields.
    assert np.array_equal(reqs.timestamps(), np.array([np.nan if r.timestamp is None else r.timestamp
                                                       for r in expected], dtype=float), equal_nan=True)
    assert reqs.lines().tolist() == [r.line for r in expected]
    assert reqs.session_ids() == [r.session_id for r in expected]
    assert reqs.models() == [r.model for r in expected]
    assert reqs.body_models() == Requests(expected).body_models()
    assert list(reqs.body_model_counts().items()) == list(Requests(expected).body_model_counts().items())
    a, b = reqs.text_lengths()
    assert a.tolist() == [len(r.input) for r in expected] and b.tolist() == [len(r.output) for r in expected]
    assert trace.sessions == tuple(dict.fromkeys(r.session_id for r in expected))


_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(lines=trace_lines(), container=st.sampled_from(["plain", "gzip", "bom", "utf16"]), data=st.data())
def test_lazy_equals_eager(tmp_path_factory, monkeypatch, lines, container, data):
    tmp = tmp_path_factory.mktemp("lazy")
    raw = b"\n".join(lines) + data.draw(st.sampled_from([b"", b"\n"]))
    if container == "gzip":
        path, blob = tmp / "t.jsonl.gz", gzip.compress(raw)
    elif container == "bom":
        path, blob = tmp / "t.jsonl", b"\xef\xbb\xbf" + raw
    elif container == "utf16":
        path, blob = tmp / "t.jsonl", raw.decode("utf-8", "replace").encode("utf-16")
    else:
        path, blob = tmp / "t.jsonl", raw
    path.write_bytes(blob)
    try:
        trace, recorded = read_recording(monkeypatch, str(path))
    except TraceError:
        return  # only batch output lines, say: the same error as ever
    expected = eager([str(path)], False, recorded)
    check_equal(trace, expected, data.draw(st.permutations(range(len(expected)))))


@_SETTINGS
@given(lines=trace_lines(), cut=st.integers(0, 12), data=st.data())
def test_folder_lazy_equals_eager(tmp_path_factory, monkeypatch, lines, cut, data):
    """A folder: the first file plain, the second gzip; files without session ids are sessions."""
    tmp = tmp_path_factory.mktemp("folder")
    cut = min(cut, len(lines) - 1)
    parts = [lines[:cut] or [b'{"input": "a"}'], lines[cut:]]
    (tmp / "a.jsonl").write_bytes(b"\n".join(parts[0]) + b"\n")
    (tmp / "b.jsonl.gz").write_bytes(gzip.compress(b"\n".join(parts[1])))
    try:
        trace, recorded = read_recording(monkeypatch, str(tmp))
    except TraceError:
        return
    expected = eager([str(tmp / "a.jsonl"), str(tmp / "b.jsonl.gz")], True, recorded)
    check_equal(trace, expected, data.draw(st.permutations(range(len(expected)))))


def test_stdin_is_spooled(monkeypatch):
    raw = b"".join(json.dumps({"input": f"prompt {i}", "output": "o" * i}).encode() + b"\n" for i in range(50))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    trace = read_traces("-")
    assert [r.input for r in trace.requests] == [f"prompt {i}" for i in range(50)]
    assert trace.requests[49].output == "o" * 49 and trace.requests[3].line == 4


def test_changed_file_is_said_not_misread(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"input": "aaaa"}\n{"input": "bbbb"}\n')
    trace = read_trace(path)
    path.write_text('{"input": "cccc"}\n{"input": "dddd"}\n')  # same size, same inode
    with pytest.raises(TraceError, match="changed on disk since it was read"):
        trace.requests[1]


def test_replaced_file_keeps_its_requests(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"input": "aaaa"}\n{"input": "bbbb"}\n')
    trace = read_trace(path)
    (tmp_path / "new").write_text("{}\n")
    os.replace(tmp_path / "new", path)  # the descriptor still reads the file that was read
    assert trace.requests[1].input == "bbbb"


def test_many_files_past_the_open_limit(tmp_path, monkeypatch):
    monkeypatch.setattr("tracetui.core.reader._MAX_OPEN_FILES", 2)
    for k in range(5):
        (tmp_path / f"{k}.jsonl").write_text(json.dumps({"input": f"file {k}"}) + "\n")
    trace = read_traces(str(tmp_path))
    assert [r.input for r in trace.requests] == [f"file {k}" for k in range(5)]
    assert trace.sessions == tuple(f"{k}.jsonl" for k in range(5))


@_SETTINGS
@given(rows=st.lists(st.tuples(st.lists(st.integers(0, 30), max_size=6), st.integers(0, 200), st.integers(0, 9)),
                    min_size=1, max_size=12), bailian=st.booleans())
def test_hashed_lazy_equals_eager(tmp_path_factory, monkeypatch, rows, bailian):
    """Mooncake and Bailian lines: block ids in one flat array, Requests built from columns."""
    tmp = tmp_path_factory.mktemp("hashed")
    lines = []
    for k, (ids, n_in, n_out) in enumerate(rows):
        rec = {"timestamp": k * 10, "input_length": n_in, "output_length": n_out, "hash_ids": ids}
        if bailian:
            rec.update(chat_id=k, parent_chat_id=-1 if k % 2 == 0 else k - 1, turn=1)
        lines.append(json.dumps(rec))
    path = tmp / "h.jsonl"
    path.write_text("\n".join(lines) + "\n")
    trace, recorded = read_recording(monkeypatch, str(path))
    expected = [replace(r, index=i) for i, r in enumerate(recorded[0])]
    check_equal(trace, expected, list(range(len(expected)))[::-1])
    flat, offsets = trace.requests.hashed_ids()
    assert [tuple(flat[offsets[i]:offsets[i + 1]].tolist()) for i in range(len(expected))] == \
        [r.hashed.block_ids for r in expected]


def test_requests_of_a_trace_built_in_code():
    reqs = (Request(0, 1, "a", session_id="s"), Request(1, 2, "bb", timestamp=3.0, model="m"))
    t = Trace("x", reqs)
    assert isinstance(t.requests, Requests) and t.requests == reqs and t.requests[1:] == reqs[1:]
    assert t.sessions == ("s", None) and t.requests.models() == [None, "m"]
    assert t.requests.text_lengths()[0].tolist() == [1, 2]


@_SETTINGS
@given(lines=trace_lines(), data=st.data())
def test_index_saved_and_loaded(tmp_path_factory, lines, data):
    """A trace's index written and read back (the reopen of a cached trace) gives the same
    trace; a damaged index file is None, never an error."""
    from tracetui.core.formats.loader import load_index, save_index

    tmp = tmp_path_factory.mktemp("index")
    path = tmp / "t.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    try:
        trace = read_traces(str(path))
    except TraceError:
        return
    assert save_index(trace, tmp / "i")
    again = load_index(tmp / "i", str(path))
    assert again == trace and list(again.requests) == list(trace.requests)
    assert again.requests.timestamps().tobytes() == trace.requests.timestamps().tobytes()
    # A flipped byte in any file of the folder: None (the arrays are checksummed, meta.json
    # must parse), or a trace that says the truth or fails cleanly.
    files = sorted((tmp / "i").iterdir())
    f = files[data.draw(st.integers(0, len(files) - 1))]
    raw = f.read_bytes()
    cut = data.draw(st.integers(0, len(raw) - 1))
    f.write_bytes(raw[:cut] + bytes([raw[cut] ^ 0xFF]) + raw[cut + 1:])
    bad = load_index(tmp / "i", str(path))
    if f.suffix == ".npy" and cut >= 128:  # the data of an array, not its header: the checksum
        assert bad is None
    if bad is not None:
        try:
            list(bad.requests)
        except TraceError:
            pass


def test_index_of_a_spooled_or_hashed_trace(tmp_path):
    from tracetui.core.formats.loader import load_index, save_index

    gz = tmp_path / "t.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"input": "a"}\n'))
    assert not save_index(read_traces(str(gz)), tmp_path / "i")
    h = tmp_path / "h.jsonl"
    h.write_text('{"chat_id": 6, "parent_chat_id": -1, "timestamp": 1, "input_length": 40, "output_length": 2, '
                 '"hash_ids": [4, 5]}\n{"chat_id": 7, "parent_chat_id": -1, "timestamp": 2, "input_length": 20, "output_length": 1, '
                 '"hash_ids": [9]}\n')
    trace = read_traces(str(h))
    assert save_index(trace, tmp_path / "h")
    again = load_index(tmp_path / "h", str(h))
    assert again == trace and again.block_size == trace.block_size
    assert load_index(tmp_path / "missing", str(h)) is None


def test_reopen_reads_the_index_not_the_file(tmp_path, monkeypatch):
    """A plain file opened before with the same options: its index comes from the cache
    folder (no line parsed); a file rewritten with the same size and mtime is read again."""
    from tracetui.core import reader

    path = tmp_path / "t.jsonl"
    path.write_text('{"input": "aaaa", "session_id": "s"}\n{"input": "bbbb", "timestamp": 5}\n')
    first = read_traces(str(path), index_dir=tmp_path / "index")
    assert len(list((tmp_path / "index").iterdir())) == 1
    calls = []
    real = reader._parse_line
    monkeypatch.setattr(reader, "_parse_line", lambda line: (calls.append(line), real(line))[1])
    again = read_traces(str(path), index_dir=tmp_path / "index")
    assert calls == [] and again.requests.session_ids() == ["s", None]
    assert again == first and calls  # comparing the requests re-reads their lines
    st = os.stat(path)
    path.write_text('{"input": "cccc", "session_id": "s"}\n{"input": "dddd", "timestamp": 5}\n')
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    third = read_traces(str(path), index_dir=tmp_path / "index")
    assert [r.input for r in third.requests] == ["cccc", "dddd"]
    gz = tmp_path / "t.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert [r.input for r in read_traces(str(gz), index_dir=tmp_path / "index").requests] == ["cccc", "dddd"]


def test_session_count_from_the_codes_is_the_number_of_sessions(tmp_path):
    """The reader's session count (from the interned codes, in numpy) is len(sessions),
    records without a session (None) included, before and after a reopen through the index
    cache."""
    import json as _json

    path = tmp_path / "s.jsonl"
    ids = ["b", "a", None, "b", "c", None, "a", "d"]
    path.write_text("".join(_json.dumps({"input": f"p{k}", "output": "o", **({"session_id": s} if s else {})}) + "\n"
                            for k, s in enumerate(ids)))
    for _ in range(2):
        t = read_traces(str(path), index_dir=tmp_path / "index")
        assert t.session_count == len(t.sessions) == len(set(t.requests.session_ids()))
        assert [s for s in t.sessions if s] == ["b", "a", "c", "d"]
        assert Trace("x", list(t.requests)).session_count == t.session_count  # Request objects


def test_string_table_round_trips_and_is_decoded_only_when_read(tmp_path):
    """The index keeps the session / model strings as UTF-8 bytes and ends (no JSON table):
    ids with any text (non-ASCII, an escaped lone surrogate) come back as they were, and a
    reopen that only counts sessions decodes none of them."""
    from tracetui.core.requeststore import PackedStrings

    path = tmp_path / "u.jsonl"
    path.write_bytes(b'{"input": "a", "session_id": "\\u00e9t\\u00e9 \\ud83d\\ude00", "model": "m"}\n'
                     b'{"input": "b", "session_id": "\\ud800x"}\n{"input": "c", "session_id": ""}\n'
                     b'{"input": "d"}\n')
    first = read_traces(str(path), index_dir=tmp_path / "index")
    again = read_traces(str(path), index_dir=tmp_path / "index")
    table = again.requests._cols.strings
    assert isinstance(table, PackedStrings) and table._items is None
    assert again.session_count == first.session_count == 4 and table._items is None
    assert again.requests.body_model_counts() == first.requests.body_model_counts() == {"m": 1}
    assert table[0] == "été 😀" and table[-1] is None and table._items is None  # one string decoded
    assert again.requests.session_ids() == first.requests.session_ids()
    assert again.requests.session_ids()[0] == "été 😀" and again.requests.models() == ["m", None, None, None]
    assert [r.session_id for r in again.requests] == first.requests.session_ids()
    assert PackedStrings.pack([None]).items() == [None]
    bad = PackedStrings(np.frombuffer(b"\xff\xfeok", dtype=np.uint8), np.array([2, 4], dtype=np.int64))
    assert bad.items() == ["\ufffd\ufffd", "ok", None]
    with pytest.raises(ValueError):
        PackedStrings(np.zeros(3, np.uint8), np.array([2, 1], dtype=np.int64))
