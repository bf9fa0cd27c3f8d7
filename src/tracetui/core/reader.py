"""Read a JSONL trace (plain, gzip or stdin) into a `Trace`.

One request per line. Well-formed lines take the fast path (`orjson.loads` on the
raw bytes); only lines orjson rejects go through the slower repairs: invalid UTF-8,
JSON that orjson refuses but the standard library accepts (lone surrogate escapes,
NaN), and records whose `input`/`output` hold a JSON document written without
escaping (see `_recover`).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import stat
import sys
import threading
import zlib
from collections.abc import Sequence
from typing import IO, Any, Callable, Iterator, NamedTuple

import orjson

from .model import Request, Trace, TraceError

__all__ = ["Convert", "read_trace", "request_from_record"]

Convert = Callable[[Any, int, int], "Sequence[Request] | None"]
"""convert(record, index of its first request, line number) -> the record's requests, or None
when it is not a request (a skipped line). core.formats passes one that knows every format."""

_CHUNK = 1 << 20  # read size; progress is reported once per chunk
_SNIFF = 64 * 1024  # NUL bytes in this much of the start mean "binary"
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"

_INPUT_KEYS = ("input", "prompt")
_OUTPUT_KEYS = ("output", "generation", "response")
_TEXT_KEYS = "input|prompt|output|generation|response"
_OTHER_KEYS = "session_id|timestamp|model|usage"

# Repairs of malformed lines (see `_recover`).
_VALUE_START = re.compile(rf'"({_TEXT_KEYS})"\s*:\s*"')
_VALUE_END = re.compile(rf'"\s*(?:,\s*"(?:{_TEXT_KEYS}|{_OTHER_KEYS})"\s*:|}}\s*$)')
_CLOSES_VALUE = re.compile(r'"\s*[,}]')
_DECODER = json.JSONDecoder(strict=False)  # strict=False: tolerate raw control chars

_OBJECT_START = re.compile(r"\s*\{")
_SURROGATE = re.compile("[\ud800-\udfff]")


def read_trace(
    path: str | os.PathLike,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    convert: Convert | None = None,
) -> Trace:
    """Read a JSONL trace: a file path, a gzip file, or "-" for stdin.

    `progress(bytes_done, bytes_total)` is called about every MB (bytes of the file
    as stored, so compressed bytes for gzip; total is 0 when unknown). Setting
    `cancel` makes the read raise `TraceError("cancelled")`. Any fatal problem
    raises `TraceError` with a one-line message. `convert` turns a parsed record into
    requests (default: today's `input` / `prompt` records only).
    """
    label = os.fsdecode(path)
    if label == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        if stdin is None:
            raise TraceError("no stdin to read from")
        return _read(stdin, "<stdin>", "<stdin>", _size(stdin), progress, cancel, convert)
    if os.path.isdir(label):
        raise TraceError(f"{label} is a directory, not a trace file")
    try:
        f = open(label, "rb")
    except FileNotFoundError:
        raise TraceError(f"no such file: {label}") from None
    except PermissionError:
        raise TraceError(f"permission denied: {label}") from None
    except OSError as e:
        raise TraceError(f"cannot open {label}: {e.strerror or e}") from None
    with f:
        return _read(f, label, os.path.basename(label), _size(f), progress, cancel, convert)


def _size(f: IO[bytes]) -> int:
    """Size of a regular file behind `f`, else 0 (pipes, BytesIO)."""
    try:
        st = os.fstat(f.fileno())
    except (OSError, AttributeError, ValueError):
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def _read(
    raw: IO[bytes],
    label: str,
    name: str,
    total: int,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
    convert: Convert | None = None,
) -> Trace:
    convert = convert or _convert
    requests: list[Request] = []
    recovered: list[int] = []
    skipped: list[int] = []
    bad_utf8 = 0
    nonblank = 0
    for lineno, line in enumerate(_lines(raw, label, total, progress, cancel), 1):
        if cancel is not None and cancel.is_set():
            raise TraceError("cancelled")
        if not line or line.isspace():
            continue
        nonblank += 1
        rec, repaired, replaced = _parse_line(line)
        bad_utf8 += replaced
        reqs = convert(rec, len(requests), lineno)
        if reqs is None:
            skipped.append(lineno)
            continue
        if repaired:
            recovered.append(lineno)
        requests.extend(reqs)

    if not nonblank:
        raise TraceError(f"{label} is empty")
    if not requests:
        raise TraceError(f"{label} has no readable requests ({len(skipped)} lines skipped)")
    warnings = []
    if recovered:
        warnings.append(
            f"recovered {_plural(len(recovered), 'malformed line')} "
            f"(unescaped JSON in input/output): {_line_list(recovered)}"
        )
    if skipped:
        warnings.append(f"skipped {_plural(len(skipped), 'unreadable line')}: {_line_list(skipped)}")
    if bad_utf8:
        warnings.append(f"replaced invalid UTF-8 in {_plural(bad_utf8, 'line')}")
    return Trace(
        name=name,
        requests=tuple(requests),
        warnings=tuple(warnings),
        recovered_lines=tuple(recovered),
        skipped_lines=tuple(skipped),
        invalid_utf8=bad_utf8,
    )


# --- bytes -> lines ---------------------------------------------------------


class _Source:
    """A read()-only stream that replays `head` before reading `rest`, counting
    the bytes taken from the underlying stream (for progress through gzip)."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head, self._rest = head, rest
        self.consumed = len(head)

    def read(self, n: int = -1) -> bytes:
        head, self._head = self._head, b""
        if n >= 0 and len(head) >= n:
            head, self._head = head[:n], head[n:]
            return head
        more = self._rest.read(-1 if n < 0 else n - len(head))
        self.consumed += len(more)
        return head + more


def _lines(
    raw: IO[bytes],
    label: str,
    total: int,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
) -> Iterator[bytes]:
    """Yield the physical lines of the stream (without the newline), reading in
    chunks. Decompresses gzip (detected by its magic bytes) and rejects binary data."""
    binary = TraceError(f"{label} does not look like a JSONL trace (binary data)")
    try:
        head = raw.read(_CHUNK)
    except OSError as e:
        raise TraceError(f"cannot read {label}: {e.strerror or e}") from None
    source = _Source(head, raw)
    is_gzip = head.startswith(_GZIP_MAGIC)
    stream: Any = gzip.GzipFile(fileobj=source, mode="rb") if is_gzip else source

    pending: list[bytes] = []  # pieces of a line longer than a chunk
    first = True
    while True:
        if cancel is not None and cancel.is_set():
            raise TraceError("cancelled")
        try:
            chunk = stream.read(_CHUNK)
        except (OSError, EOFError, zlib.error) as e:
            if is_gzip:  # BadGzipFile, truncated or corrupt data
                raise binary from None
            raise TraceError(f"cannot read {label}: {getattr(e, 'strerror', None) or e}") from None
        if not chunk:
            if progress is not None:
                progress(source.consumed, total)
            break
        if first:
            first = False
            if b"\0" in chunk[:_SNIFF]:
                raise binary
            chunk = chunk.removeprefix(_BOM)
        if progress is not None:
            progress(source.consumed, total)
        parts = chunk.split(b"\n")
        if len(parts) == 1:
            pending.append(chunk)
            continue
        if pending:
            pending.append(parts[0])
            parts[0] = b"".join(pending)
        pending = [parts.pop()]
        yield from parts
    tail = b"".join(pending)
    if tail:
        yield tail


# --- line -> record ---------------------------------------------------------


class _Embedded(NamedTuple):
    """A text value cut out of a malformed line, with its parsed document (or None)."""

    text: str
    doc: Any


def _parse_line(line: bytes) -> tuple[Any, bool, bool]:
    """Return (record or None, repaired as malformed?, had invalid UTF-8?)."""
    try:
        return orjson.loads(line), False, False
    except orjson.JSONDecodeError:
        pass
    try:
        text, replaced = line.decode("utf-8"), False
    except UnicodeDecodeError:
        text, replaced = line.decode("utf-8", "replace"), True
        try:
            return orjson.loads(text), False, True
        except orjson.JSONDecodeError:
            pass
    try:
        # orjson rejects lone surrogate escapes ("\ud83d" from text cut mid-emoji) and NaN.
        return _scrub(json.loads(text)), False, replaced
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        pass
    try:
        rec = _recover(text)
    except RecursionError:
        rec = None
    return rec, rec is not None, replaced


def _recover(text: str) -> dict | None:
    """Repair a line whose text values hold JSON written without escaping, e.g.
    `{"timestamp": 1, "input": "{"model":"x","messages":[...]}", "output": "{...}"}`.

    Each such value is cut out (in line order, so a later search never looks inside
    an earlier document) and replaced by `null`; the rest must then parse as JSON.
    """
    fields: dict[str, _Embedded] = {}
    pos = 0
    while m := _VALUE_START.search(text, pos):
        start = m.end()  # just after the opening quote
        found = _cut_value(text, start)
        if found is None:
            return None
        fields[m.group(1)], end = found
        text = text[: start - 1] + "null" + text[end + 1 :]
        pos = start + 3
    if not fields:
        return None
    try:
        rec = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(rec, dict):
        return None
    rec.update(fields)
    return rec


def _cut_value(text: str, start: int) -> tuple[_Embedded, int] | None:
    """Find the value starting at `start`; return it and the index of its closing quote."""
    # 1. An embedded document, followed by the closing quote then `,` or `}`.
    if text[start : start + 1] in ("{", "["):
        try:
            doc, end = _DECODER.raw_decode(text, start)
        except ValueError:
            pass
        else:
            if _CLOSES_VALUE.match(text, end):
                return _Embedded(text[start:end], _scrub(doc)), end
    # 2. A properly escaped string (the malformed part is elsewhere in the line).
    try:
        value, end = json.decoder.scanstring(text, start, False)
    except ValueError:
        pass
    else:
        if _CLOSES_VALUE.match(text, end - 1):
            return _Embedded(_scrub(value), None), end - 1
    # 3. Heuristic: up to the quote that precedes the next known key or the final `"}`.
    m = _VALUE_END.search(text, start)
    if m is None:
        return None
    return _Embedded(text[start : m.start()], None), m.start()


def _scrub(value: Any) -> Any:
    """Replace lone surrogates (valid as JSON escapes, not as text) by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


# --- record -> Request ------------------------------------------------------


def _convert(rec: Any, index: int, line: int) -> tuple[Request, ...] | None:
    req = request_from_record(rec, index, line)
    return None if req is None else (req,)


def request_from_record(rec: Any, index: int, line: int) -> Request | None:
    """Build the Request of a parsed record, or None if it is not a request."""
    if not isinstance(rec, dict):
        return None
    inp = _pick(rec, _INPUT_KEYS)
    if inp is None:
        return None
    text, input_doc = _text_and_doc(inp, input=True)
    output, output_doc = _text_and_doc(_pick(rec, _OUTPUT_KEYS), input=False)
    if text is None or output is None:  # a body nested too deep to write back as text
        return None
    usage = rec.get("usage")
    if not isinstance(usage, dict) and isinstance(output_doc, dict):
        usage = output_doc.get("usage")
    session = rec.get("session_id")
    if isinstance(session, bool) or not isinstance(session, (str, int)):
        session = None
    model = rec.get("model")
    return Request(
        index=index,
        line=line,
        input=text,
        output=output,
        timestamp=_timestamp(rec.get("timestamp")),
        session_id=None if session is None else str(session),
        model=None if model is None else str(model),
        input_doc=input_doc,
        output_doc=output_doc,
        usage=usage if isinstance(usage, dict) else None,
    )


def _pick(rec: dict, keys: tuple[str, ...]) -> Any:
    """The first of `keys` present with a non-null value."""
    for key in keys:
        value = rec.get(key)
        if value is not None:
            return value
    return None


def _text_and_doc(value: Any, *, input: bool) -> tuple[str | None, Any]:
    """The text of an input/output value, and its parsed JSON body if it has one.
    The text is None for a body that cannot be written back as JSON."""
    if value is None:
        return "", None
    if isinstance(value, _Embedded):
        return value.text, value.doc
    if isinstance(value, str):
        return value, _json_body(value, input=input)
    if isinstance(value, (dict, list)):  # an already-parsed body
        text = _dumps(value)
        return text, (value if text is not None else None)
    return str(value), None


def _dumps(value: Any) -> str | None:
    """Compact JSON text of a parsed body; None if even the standard library
    cannot write it (orjson stops at 254 levels of nesting, json near 1000)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: nested too deep
        pass
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return None


def _json_body(text: str, *, input: bool) -> dict | None:
    """Parse a string holding a JSON object: for an input, only a request body
    (OpenAI `messages`, Anthropic `messages`/`system`); for an output, any object."""
    if not _OBJECT_START.match(text):
        return None
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or (input and "messages" not in doc and "system" not in doc):
        return None
    return doc


def _timestamp(value: Any) -> float | None:
    """Seconds since the epoch from seconds, milliseconds or microseconds."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer of hundreds of digits
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    if value > 1e14:
        return value / 1e6
    if value > 1e11:
        return value / 1e3
    return value


# --- warnings ---------------------------------------------------------------


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _line_list(numbers: list[int], cap: int = 20) -> str:
    """`1-20, 25, 30-31`: runs compressed, at most `cap` items, then "… and N more"."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:cap])
    more = sum(b - a + 1 for a, b in runs[cap:])
    return f"{text}, … and {more} more" if more else text
