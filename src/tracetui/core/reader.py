"""Read a JSONL trace (plain, gzip, UTF-16, a FIFO or stdin) into a `Trace`.

One request per line. Well-formed lines take the fast path (`orjson.loads` on the
raw bytes); only lines orjson rejects go through the slower repairs: invalid UTF-8,
JSON that orjson refuses but the standard library accepts (lone surrogate escapes,
NaN), records whose `input`/`output` hold a JSON document written without escaping
(see `_recover`), and records joined on one line by a lone CR or a byte-order mark.

Traces are untrusted: each line is judged on its own (one bad spot costs that line,
listed in the warnings), a damaged gzip stream keeps what it held, and the cost of one
line (`max_line_mb`), one request (`_too_costly`) and decompression (`_Gunzip`) is bounded.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import select
import stat
import sys
import threading
import unicodedata
import zlib
from collections.abc import Sequence
from typing import IO, Any, Callable, Iterator, NamedTuple

import numpy as np
import orjson

from .model import Request, Trace, TraceError
from .requeststore import LazyRequests, StoreBuilder

__all__ = ["DEFAULT_MAX_LINE_MB", "Convert", "read_trace", "request_from_record", "reparser"]

Convert = Callable[[Any, int, int], "Sequence[Request] | None"]
"""convert(record, index of its first request, line number) -> the record's requests, or None
when it is not a request (a skipped line). core.formats passes one that knows every format."""

_CHUNK = 1 << 20  # read size; progress is reported once per chunk
DEFAULT_MAX_LINE_MB = 512  # a longer line is skipped unread (--max-line-mb)
# gzip output past _BOMB_FLOOR bytes at over _BOMB_RATIO times its compressed size is refused
# (real traces compress 5-40x; deflate can reach ~1000x).
_BOMB_FLOOR = 64 << 20
_BOMB_RATIO = 100
# A request with a longer run of characters that a tokenizer takes as one piece (letters,
# symbols, whitespace) is skipped: see `_too_costly`.
_MAX_PIECE = 1 << 20
# Where a line that fails to parse may hold several records: a lone CR (old Mac line ends)
# or a UTF-8 byte-order mark (files concatenated with `cat`).
_JOINED = re.compile(rb"\r(?!\n|$)|\xef\xbb\xbf")
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

OUTPUT_ONLY = object()
"""`input_doc` of a batch output line's placeholder Request: the loader joins it to the batch
input line of the same `custom_id`, then drops it."""
_SURROGATE = re.compile("[\ud800-\udfff]")


def read_trace(
    path: str | os.PathLike,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    max_line_mb: float = DEFAULT_MAX_LINE_MB,
    convert: Convert | None = None,
) -> Trace:
    """Read a JSONL trace: a file path, a gzip file, a FIFO, or "-" for stdin.

    `progress(bytes_done, bytes_total)` is called about every MB (bytes of the file
    as stored, so compressed bytes for gzip; total is 0 when unknown). Setting
    `cancel` makes the read raise `TraceError("cancelled")`. A line longer than
    `max_line_mb` MB is skipped unread. Any fatal problem raises `TraceError` with a
    one-line message. `convert` turns a parsed record into requests (default: today's
    `input` / `prompt` records only). The requests are held as columns and re-read from
    the file when asked for (core.requeststore).
    """
    convert = convert or _convert
    rows = StoreBuilder()
    got = read_into(rows, path, progress=progress, cancel=cancel, max_line_mb=max_line_mb, convert=convert)
    requests = LazyRequests(rows.freeze(), reparser(convert), got.name)
    return Trace(name=got.name, requests=requests, warnings=got.warnings, recovered_lines=got.recovered_lines,
                 skipped_lines=got.skipped_lines, invalid_utf8=got.invalid_utf8)


class FileRead(NamedTuple):
    """What reading one file added to a StoreBuilder: rows [start, end), and its warnings."""

    name: str
    start: int
    end: int
    warnings: tuple[str, ...]
    recovered_lines: tuple[int, ...]
    skipped_lines: tuple[int, ...]
    invalid_utf8: int


def read_into(
    rows: StoreBuilder,
    path: str | os.PathLike,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    max_line_mb: float = DEFAULT_MAX_LINE_MB,
    convert: Convert,
    digest: Any = None,
) -> FileRead:
    """Read one trace file's requests into `rows` (see read_trace); `digest` (a hashlib
    object) is fed the file's bytes as they are read."""
    label = os.fsdecode(path)
    max_line = int(max_line_mb * (1 << 20))
    if label == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        if stdin is None:
            raise TraceError("no stdin to read from")
        return _read(stdin, "<stdin>", "<stdin>", _size(stdin), progress, cancel, max_line, convert, rows)
    try:
        st = os.stat(label)
    except FileNotFoundError:
        raise TraceError(f"no such file: {label}") from None
    except PermissionError:
        raise TraceError(f"permission denied: {label}") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise TraceError(f"cannot open {label}: {getattr(e, 'strerror', None) or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise TraceError(f"{label} is a directory, not a trace file")
    if stat.S_ISFIFO(st.st_mode):
        # open() of a FIFO blocks until a writer comes, beyond the reach of `cancel`:
        # open it non-blocking and wait for data in short, cancellable steps.
        try:
            fd = os.open(label, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as e:
            raise TraceError(f"cannot open {label}: {e.strerror or e}") from None
        try:
            return _read(_Pipe(fd, cancel), label, os.path.basename(label), 0, progress, cancel, max_line,
                         convert, rows)
        finally:
            os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        # A device (/dev/zero, a terminal) or a socket: an endless or interactive stream.
        raise TraceError(f"{label} is not a regular file (a device or socket); "
                         "pipe it to `tracetui analyze -` if it really holds a trace")
    try:
        f = open(label, "rb")
    except FileNotFoundError:
        raise TraceError(f"no such file: {label}") from None
    except PermissionError:
        raise TraceError(f"permission denied: {label}") from None
    except OSError as e:
        raise TraceError(f"cannot open {label}: {e.strerror or e}") from None
    with f:
        return _read(f, label, os.path.basename(label), _size(f), progress, cancel, max_line, convert, rows,
                     fd=f.fileno(), digest=digest)


def _size(f: Any) -> int:
    """Size of a regular file behind `f`, else 0 (pipes, BytesIO)."""
    try:
        st = os.fstat(f.fileno())
    except (OSError, AttributeError, ValueError):
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


# Past this many files of one trace open for re-reading, the next ones are spooled instead
# (a folder of thousands of files would exhaust the process's file descriptors).
_MAX_OPEN_FILES = 64


def _read(
    raw: Any,
    label: str,
    name: str,
    total: int,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
    max_line: int,
    convert: Convert,
    rows: StoreBuilder,
    fd: int | None = None,
    digest: Any = None,
) -> FileRead:
    """Read the stream's requests into `rows`. `fd`: a regular file's descriptor, for
    re-reading its lines by offset (else the lines that hold requests are spooled);
    `digest`: a hashlib object fed every byte read."""
    start = len(rows)
    n_requests = 0
    source: int | None = None  # the rows' source of this file (chosen at its first request)
    recovered: list[int] = []
    skipped: list[int] = []
    invalid_text: list[int] = []  # invalid UTF-8 or lone surrogates replaced
    split: list[int] = []  # several records on one line (lone CR, byte-order mark)
    not_text: list[int] = []  # an input/output that was a number or a boolean
    too_long: list[int] = []  # lines over max_line
    costly: list[int] = []  # one run of characters beyond _MAX_PIECE
    notes = _Notes()
    nonblank = 0
    nul_lines = 0
    for lineno, (offset, line) in enumerate(_lines(raw, label, total, progress, cancel, max_line, notes, digest), 1):
        if cancel is not None and cancel.is_set():
            raise TraceError("cancelled")
        if line is None:
            nonblank += 1
            too_long.append(lineno)
            continue
        if not line or line.isspace():
            continue
        nonblank += 1
        rec, repaired, replaced = _parse_line(line)
        reqs = convert(rec, n_requests, lineno)
        pieces = _joined_pieces(line) if reqs is None else None
        if pieces:  # a lone CR or a byte-order mark between records: each piece is a line's worth
            _note_line(split, lineno)
            parsed = [_parse_line(piece) for piece in pieces]
        else:
            parsed = [(rec, repaired, replaced)]
        stored = None  # (offset in the source, CRC) once the line is stored
        for k, (rec, repaired, replaced) in enumerate(parsed):  # a line is listed once, whatever its pieces
            if replaced:
                _note_line(invalid_text, lineno)
            if pieces:
                reqs = convert(rec, n_requests, lineno)
            if reqs is None:
                _note_line(skipped, lineno)
                nul_lines += b"\0" in line
                continue
            if any(_too_costly(r.input) or _too_costly(r.output) for r in reqs):
                _note_line(costly, lineno)
                continue
            if repaired:
                _note_line(recovered, lineno)
            if _coerced(rec):
                _note_line(not_text, lineno)
            if stored is None:
                if source is None:
                    plain = fd is not None and notes.plain and len(rows.sources) < _MAX_OPEN_FILES
                    source = rows.file_source(fd) if plain else rows.spool_source()
                stored = rows.sources[source].store(line, offset), zlib.crc32(line)
            for sub, r in enumerate(reqs):
                rows.add(r, source, stored[0], len(line), k if pieces else -1, sub, stored[1],
                         r.input_doc is OUTPUT_ONLY)
            n_requests += len(reqs)

    if notes.gzip_corrupt_at_start and not n_requests:
        raise TraceError(f"{label} does not look like a JSONL trace (binary data: corrupt gzip)")
    if not nonblank:
        raise TraceError(f"{label} is empty")
    if not n_requests:
        if notes.saw_nul and (nul_lines or too_long):
            raise TraceError(f"{label} does not look like a JSONL trace (binary data)")
        lost = len(skipped) + len(too_long) + len(costly)
        raise TraceError(f"{label} has no readable requests ({_plural(lost, 'line')} skipped)")
    warnings = list(notes.warnings)
    if recovered:
        warnings.append(
            f"recovered {_plural(len(recovered), 'malformed line')} "
            f"(unescaped JSON in input/output): {_line_list(recovered)}"
        )
    if split:
        warnings.append(
            f"split {_plural(len(split), 'line')} holding several records (a lone CR line end, "
            f"or a byte-order mark of concatenated files): {_line_list(split)}"
        )
    if skipped:
        warnings.append(f"skipped {_plural(len(skipped), 'unreadable line')}: {_line_list(skipped)}")
    if too_long:
        warnings.append(
            f"skipped {_plural(len(too_long), 'line')} longer than {max_line / (1 << 20):g} MB "
            f"(--max-line-mb): {_line_list(too_long)}"
        )
    if costly:
        warnings.append(
            f"skipped {_plural(len(costly), 'request')} holding a run of over {_MAX_PIECE:,} characters "
            f"with no word break (one tokenizer piece, too costly to tokenize): {_line_list(costly)}"
        )
    if not_text:
        warnings.append(
            f"read a number or boolean input/output as its JSON text in {_plural(len(not_text), 'line')}: "
            f"{_line_list(not_text)}"
        )
    if invalid_text:
        warnings.append(
            f"replaced invalid text (bad UTF-8, lone surrogates) in {_plural(len(invalid_text), 'line')}: "
            f"{_line_list(invalid_text)}"
        )
    return FileRead(name, start, len(rows), tuple(warnings), tuple(recovered),
                    tuple(sorted(skipped + too_long + costly)), len(invalid_text))




def _note_line(lines: list[int], lineno: int) -> None:
    if not lines or lines[-1] != lineno:
        lines.append(lineno)


def _joined_pieces(line: bytes) -> list[bytes] | None:
    """The records of a line that did not parse, when a lone CR or a byte-order mark (other
    than the line's last byte) may join several: its non-blank pieces, or None."""
    if not _JOINED.search(line):
        return None
    pieces = [p for p in _JOINED.split(line) if p and not p.isspace()]
    return pieces if len(pieces) > 1 or (pieces and pieces[0] != line) else None


def _coerced(rec: Any) -> bool:
    """Whether the record's input or output is a scalar (read as its JSON text)."""
    return isinstance(rec, dict) and any(isinstance(_pick(rec, keys), (int, float))
                                         for keys in (_INPUT_KEYS, _OUTPUT_KEYS))


def _too_costly(text: str) -> bool:
    """Whether `text` holds a run of characters that a tokenizer would take as one piece
    longer than _MAX_PIECE: byte-pair merging of one piece costs ~50 bytes of memory per
    character and time that grows faster than its length (10 M letters: 0.5 GB, 9 s).
    A piece is a run of letters (with marks), of symbols or of whitespace (digits come in
    threes); runs are found with numpy, a block of characters at a time."""
    if len(text) <= _MAX_PIECE:
        return False
    kind, length = -1, 0  # the run still open at the end of the previous block
    for start in range(0, len(text), _RUN_BLOCK):
        classes = _classes(text[start : start + _RUN_BLOCK])
        bounds = np.flatnonzero(classes[1:] != classes[:-1]) + 1
        starts = np.concatenate(([0], bounds))
        lengths = np.diff(np.concatenate((starts, [len(classes)])))
        kinds = classes[starts]
        if kinds[0] == kind:
            lengths[0] += length
        if np.any((lengths > _MAX_PIECE) & (kinds != _DIGIT)):
            return True
        kind, length = int(kinds[-1]), int(lengths[-1])
    return False


_SPACE, _LETTER, _DIGIT, _SYMBOL = 0, 1, 2, 3
_RUN_BLOCK = 1 << 22


def _char_class(ch: str) -> int:
    if ch.isspace():
        return _SPACE
    if ch.isalpha() or unicodedata.category(ch).startswith("M"):
        return _LETTER
    if ch.isnumeric():
        return _DIGIT
    return _SYMBOL


_ASCII_CLASS = np.array([_char_class(chr(c)) for c in range(128)], dtype=np.int8)


def _classes(text: str) -> np.ndarray:
    """The character class of every character of `text`."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    high = codes >= 128
    classes = _ASCII_CLASS[np.where(high, 0, codes)]
    if high.any():  # few distinct non-ASCII characters, even in a long text: classify each once
        distinct, where = np.unique(codes[high], return_inverse=True)
        classes[high] = np.array([_char_class(chr(c)) for c in distinct.tolist()], dtype=np.int8)[where]
    return classes


# --- bytes -> lines ---------------------------------------------------------


class _Notes:
    """What the byte level found on the way: how a gzip stream ended, the text encoding,
    NUL bytes (for the message when nothing was readable)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.saw_nul = False
        self.gzip_corrupt_at_start = False
        self.plain = True
        """Whether the lines' offsets are the file's (not gzip or UTF-16 text)."""


class _Source:
    """A read()-only stream that replays `head` before reading `rest`, counting
    the bytes taken from the underlying stream (for progress through gzip)."""

    def __init__(self, head: bytes, rest: IO[bytes], digest: Any = None) -> None:
        self._head, self._rest = head, rest
        self.consumed = len(head)
        self._digest = digest
        if digest is not None:
            digest.update(head)

    def read(self, n: int = -1) -> bytes:
        head, self._head = self._head, b""
        if n >= 0 and len(head) >= n:
            head, self._head = head[:n], head[n:]
            return head
        more = self._rest.read(-1 if n < 0 else n - len(head))
        self.consumed += len(more)
        if self._digest is not None:
            self._digest.update(more)
        return head + more


class _Pipe:
    """A FIFO (or any pipe given as a path) read without ever blocking for good: each read
    waits at most 0.1 s at a time for data, so `cancel` is seen even while no writer has
    connected yet (an open() or read() that blocks could not be interrupted from the UI)."""

    def __init__(self, fd: int, cancel: threading.Event | None) -> None:
        self._fd, self._cancel = fd, cancel

    def read(self, n: int = -1) -> bytes:
        n = _CHUNK if n < 0 else n
        while True:
            if self._cancel is not None and self._cancel.is_set():
                raise TraceError("cancelled")
            ready, _, _ = select.select([self._fd], [], [], 0.1)
            if not ready:
                continue
            try:
                return os.read(self._fd, n)
            except BlockingIOError:
                continue

    def fileno(self) -> int:
        return self._fd


class _Gunzip:
    """gzip decompression that keeps what it could read: a stream cut short (truncated, no
    trailer), corrupt further on, or followed by non-gzip bytes yields every byte it
    decompressed and leaves a note saying how it ended. Concatenated members are read in
    turn. Output past `_BOMB_FLOOR` bytes at over `_BOMB_RATIO` times the compressed bytes
    read is refused as a likely decompression bomb."""

    def __init__(self, source: _Source, label: str, notes: _Notes) -> None:
        self._src, self._label, self._notes = source, label, notes
        self._z: Any = zlib.decompressobj(31)
        self._pending = b""  # compressed bytes not yet fed
        self._done = False
        self.out = 0

    def read(self, n: int = _CHUNK) -> bytes:
        while not self._done:
            z = self._z
            data = z.unconsumed_tail if z is not None and z.unconsumed_tail else self._pending
            self._pending = b""
            if not data:
                data = self._src.read(_CHUNK)
            if not data:  # end of input
                self._done = True
                if z is not None:  # inside a member: cut short
                    self._note("the gzip data ends early (truncated, or its trailer is missing): "
                               "read up to there")
                break
            if z is None:  # between members: another one, zero padding, or garbage
                if data.startswith(_GZIP_MAGIC) or (len(data) == 1 and data == _GZIP_MAGIC[:1]):
                    self._z = zlib.decompressobj(31)
                    self._pending = data
                    continue
                if not data.strip(b"\0"):
                    continue  # zero padding (tape blocks): gzip itself ignores it
                self._done = True
                self._note("ignored the bytes after the end of the gzip data (not gzip)")
                break
            backup = z.copy()
            try:
                out = z.decompress(data, n)
            except zlib.error:
                # The call that meets the corrupt spot returns nothing: decompress the same
                # bytes again in small steps to keep what came before it.
                out = _salvage(backup, data, n)
                self._done = True
                self.out += len(out)
                if self.out == 0:
                    self._notes.gzip_corrupt_at_start = True
                else:
                    self._note(f"the gzip data is corrupt after {self.out:,} bytes: the rest was not read")
                return out
            if z.eof:
                self._z, self._pending = None, z.unused_data
            self.out += len(out)
            if self.out > _BOMB_FLOOR and self.out > _BOMB_RATIO * self._src.consumed:
                raise TraceError(
                    f"{self._label}: gzip data expanding over {_BOMB_RATIO}x ({self.out >> 20:,} MiB from "
                    f"{self._src.consumed / (1 << 20):,.1f} MiB), stopped as a likely decompression bomb; "
                    "if the trace is genuine, decompress it first")
            if out:
                return out
        return b""

    def _note(self, text: str) -> None:
        self._notes.warnings.append(text)


def _salvage(z: Any, data: bytes, n: int) -> bytes:
    """What `z` decompresses from `data` (at most `n` bytes) before a zlib error."""
    out: list[bytes] = []
    size = 0
    tail = b""  # input left over by the previous step (its output reached the limit)
    for k in range(0, len(data), 512):
        try:
            piece = z.decompress(tail + data[k : k + 512], n - size)
        except zlib.error:
            break
        tail = z.unconsumed_tail
        out.append(piece)
        size += len(piece)
        if size >= n:
            break
    return b"".join(out)


class _Utf16:
    """UTF-16 text read as UTF-8 bytes (invalid code units become U+FFFD)."""

    def __init__(self, stream: Any, encoding: str) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder(encoding)("replace")
        self._done = False

    def read(self, n: int = _CHUNK) -> bytes:
        while not self._done:
            data = self._stream.read(n)
            text = self._decoder.decode(data, final=not data)
            self._done = not data
            if text:
                return text.encode("utf-8", "surrogatepass")
        return b""


def _utf16(head: bytes) -> str | None:
    """The UTF-16 codec a stream starting with `head` is written in, or None."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"  # the byte-order mark says which, and is dropped
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] and head[2]:
        return "utf-16-le"
    if len(head) >= 4 and head[0] == 0 and head[2] == 0 and head[1] and head[3]:
        return "utf-16-be"
    return None


def _lines(
    raw: IO[bytes],
    label: str,
    total: int,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
    max_line: int,
    notes: _Notes,
    digest: Any = None,
) -> Iterator[tuple[int, bytes | None]]:
    """Yield the physical lines of the stream (without the newline), each with its offset
    in the decoded stream (the file's own offset unless `notes.plain` turns False), reading
    in chunks, and None for a line longer than `max_line` bytes (dropped unread, so that one
    line never costs more memory than that). Decompresses gzip (detected by its magic bytes)
    and reads UTF-16 (detected by its byte-order mark or NULs in every other byte).
    `digest` (a hashlib object) is updated with every byte read from `raw`."""
    try:
        head = raw.read(_CHUNK)
    except OSError as e:
        raise TraceError(f"cannot read {label}: {e.strerror or e}") from None
    source = _Source(head, raw, digest)
    stream: Any = source
    if head.startswith(_GZIP_MAGIC):
        stream = _Gunzip(source, label, notes)
        notes.plain = False

    pending: list[bytes] = []  # pieces of a line longer than a chunk
    pending_size = 0
    overlong = False  # inside a line past max_line: drop bytes until its end
    first = True
    pos = 0  # offset of the chunk in the decoded stream
    line_start = 0  # offset of the line being read
    while True:
        if cancel is not None and cancel.is_set():
            raise TraceError("cancelled")
        try:
            chunk = stream.read(_CHUNK)
        except OSError as e:
            raise TraceError(f"cannot read {label}: {getattr(e, 'strerror', None) or e}") from None
        if not chunk:
            if progress is not None:
                progress(source.consumed, total)
            break
        if first:
            first = False
            encoding = _utf16(chunk)
            if encoding is not None:
                notes.warnings.append(f"read as {encoding.upper()} text (not UTF-8)")
                notes.plain = False
                stream = _Utf16(_Source(chunk, stream), encoding)
                continue
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM):]
                pos = line_start = len(_BOM)
        if progress is not None:
            progress(source.consumed, total)
        if not notes.saw_nul and b"\0" in chunk:
            notes.saw_nul = True
        parts = chunk.split(b"\n")
        last = parts.pop()
        cursor = pos
        for part in parts:
            cursor += len(part) + 1
            if overlong or pending_size + len(part) > max_line:
                yield line_start, None
            elif pending:
                pending.append(part)
                yield line_start, b"".join(pending)
            else:
                yield line_start, part
            pending, pending_size, overlong = [], 0, False
            line_start = cursor
        pos += len(chunk)
        if overlong:
            continue
        pending_size += len(last)
        if pending_size > max_line:
            pending, overlong = [], True
        elif last:
            pending.append(last)
    if overlong:
        yield line_start, None
    elif pending:
        yield line_start, b"".join(pending)


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
        doc = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        pass
    else:
        found: list[bool] = []
        return _scrub(doc, found), False, replaced or bool(found)
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
    kept: list[str] = []  # the line with each value cut out, in pieces: one join, linear time
    pos = 0  # start of the text not yet kept
    while m := _VALUE_START.search(text, pos):
        start = m.end()  # just after the opening quote
        found = _cut_value(text, start)
        if found is None:
            return None
        fields[m.group(1)], end = found
        kept += (text[pos : start - 1], "null")
        pos = end + 1
    if not fields:
        return None
    try:
        rec = orjson.loads("".join(kept) + text[pos:])
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


def _scrub(value: Any, found: list[bool] | None = None) -> Any:
    """Replace lone surrogates (valid as JSON escapes, not as text) by U+FFFD, in values
    and keys alike; append to `found` when one was replaced."""
    if isinstance(value, str):
        fixed = _SURROGATE.sub("\ufffd", value)
        if found is not None and fixed != value:
            found.append(True)
        return fixed
    if isinstance(value, list):
        return [_scrub(v, found) for v in value]
    if isinstance(value, dict):
        return {_scrub(k, found): _scrub(v, found) for k, v in value.items()}
    return value


# --- record -> Request ------------------------------------------------------


def reparser(convert: Convert):
    """The function that reads a stored line again into the request it was read as (see
    core.requeststore): the same parse, the same piece of a joined line, the same record."""

    def reparse(data: bytes, piece: int, sub: int, index: int, line: int) -> Request | None:
        if piece >= 0:
            pieces = _joined_pieces(data)
            if not pieces or piece >= len(pieces):
                return None
            data = pieces[piece]
        reqs = convert(_parse_line(data)[0], index, line)
        return reqs[sub] if reqs is not None and sub < len(reqs) else None

    return reparse



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
    if isinstance(value, (bool, int)):  # 12345 -> "12345", true -> "true": its JSON text
        return _dumps(value) or str(value), None
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
