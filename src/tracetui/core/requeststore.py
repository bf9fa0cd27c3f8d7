"""The requests of a trace read from disk, held as columns, each read again on demand.

A Request per request with its prompt and completion strings costs ~550 bytes of object
plus the texts (a 1 GB trace held twice over, once as JSON and once as text). Like
Textualize/toolong, the reader instead indexes the lines once and re-reads a line when its
request is asked for: per request it keeps where its line is (a file offset, or an offset
in a spool file for gzip, stdin, FIFOs and UTF-16, whose bytes cannot be found again), a
CRC of the line (a file changed since is said, never misread), and the fields that views
read for every request at once, as numpy columns: line number, timestamp, session and
model (interned in small tables), input / output lengths. Hashed traces have no text to
re-read: their block ids are held in one flat int64 array with offsets.

`LazyRequests[i]` re-parses line i (with a small LRU of the last requests asked for);
iterating reads the lines in file order in large blocks, building each Request once and
dropping it, so a pass over every prompt never holds them all.
"""

from __future__ import annotations

import os
import threading
import weakref
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from .model import HashedInput, Request, Requests, TraceError

__all__ = ["FileSource", "SpoolSource", "StoreBuilder", "Columns", "LazyRequests"]

TEXT, HASHED = 0, 1
_READ_AHEAD = 4 << 20  # bytes read at once by a pass in file order
_LRU_REQUESTS = 64
_ITER_BLOCK = 4096  # requests whose columns a pass reads at once
_LRU_CHARS = 16 << 20  # a few huge prompts do not stay in memory for long


def _pread(fd: int, n: int, offset: int, lock: threading.Lock) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, n, offset)
    with lock:  # no pread (Windows): seek and read, one thread at a time
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, n)


class FileSource:
    """A regular file read by offset (pread on a duplicate of the descriptor that read it:
    the same file even if it is renamed or replaced on disk afterwards)."""

    def __init__(self, fd: int) -> None:
        self._fd = os.dup(fd)
        self._lock = threading.Lock()
        weakref.finalize(self, os.close, self._fd)

    def store(self, line: bytes, offset: int) -> int:
        return offset

    def read(self, offset: int, n: int) -> bytes:
        return _pread(self._fd, n, offset, self._lock)


class SpoolSource:
    """The lines of a stream that cannot be read again (gzip, stdin, a FIFO, UTF-16 text),
    written as read to an anonymous temp file (already unlinked: nothing is left behind)."""

    def __init__(self) -> None:
        import tempfile  # here: a plain file never spools, and tempfile's imports cost ~5 ms

        self._file = tempfile.TemporaryFile(prefix="tracetui-")
        self._size = 0
        self._dirty = False
        self._lock = threading.Lock()

    def store(self, line: bytes, offset: int) -> int:
        at = self._size
        try:
            self._file.write(line)
        except OSError as e:  # a full temp dir
            import tempfile

            raise TraceError(f"cannot keep the trace's lines in {tempfile.gettempdir()}: "
                             f"{e.strerror or e} (set TMPDIR to a larger folder)") from None
        self._size += len(line)
        self._dirty = True
        return at

    def read(self, offset: int, n: int) -> bytes:
        with self._lock:
            if self._dirty:
                self._file.flush()
                self._dirty = False
            if hasattr(os, "pread"):
                return os.pread(self._file.fileno(), n, offset)
            self._file.seek(offset)
            data = self._file.read(n)
            self._file.seek(0, os.SEEK_END)
            return data


# The columns of a row and their dtypes (hashed rows also have the _HASHED_COLUMNS).
_COLUMNS = {"kind": np.int8, "src": np.int32, "off": np.int64, "length": np.int64, "piece": np.int16,
            "sub": np.int32, "crc": np.uint32, "line": np.int64, "ts": np.float64, "session": np.int32,
            "model": np.int32, "body_model": np.int32, "in_chars": np.int64, "out_chars": np.int64}
_HASHED_COLUMNS = ("h_row", "h_ends", "h_ids", "h_in", "h_out", "h_full")


class PackedStrings:
    """The string table as the on-disk index keeps it: the UTF-8 bytes of every string and
    where each ends, with None last (code -1). Decoded into a list the first time a string
    is read: a warm `analyze` of a million sessions reads none of their ids."""

    def __init__(self, blob: np.ndarray, ends: np.ndarray) -> None:
        if blob.dtype != np.uint8 or blob.ndim != 1 or ends.dtype != np.int64 or ends.ndim != 1 or \
                (len(ends) and (int(ends[0]) < 0 or (np.diff(ends) < 0).any() or int(ends[-1]) != len(blob))) or \
                (not len(ends) and len(blob)):
            raise ValueError("bad string table")
        self.blob, self.ends = blob, ends
        self._items: list[str | None] | None = None

    @classmethod
    def pack(cls, strings: list[str | None]) -> PackedStrings:
        # surrogatepass: an id with a lone surrogate (JSON allows one) round-trips as it was.
        parts = [x.encode("utf-8", "surrogatepass") for x in strings[:-1]]
        ends = np.cumsum([len(x) for x in parts], dtype=np.int64) if parts else np.zeros(0, np.int64)
        return cls(np.frombuffer(b"".join(parts), dtype=np.uint8), ends)

    def items(self) -> list[str | None]:
        if self._items is None:
            data, ends = self.blob.tobytes(), self.ends.tolist()
            self._items = [_decode(data[a:b]) for a, b in zip([0, *ends[:-1]], ends)] + [None]
        return self._items

    def __len__(self) -> int:
        return len(self.ends) + 1

    def __getitem__(self, code: int) -> str | None:
        if self._items is not None:
            return self._items[code]
        k = len(self.ends)
        if code == -1 or code == k:  # from_arrays checked every code is in -1 .. k - 1
            return None
        lo = int(self.ends[code - 1]) if code else 0
        return _decode(self.blob[lo:int(self.ends[code])].tobytes())


def _decode(b: bytes) -> str:
    # "replace": only a damaged index file could hold bytes that are not UTF-8; never raise.
    try:
        return b.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return b.decode("utf-8", "replace")


def _table(strings: list[str | None] | PackedStrings) -> list[str | None]:
    return strings.items() if isinstance(strings, PackedStrings) else strings


class Columns:
    """Per row (one request as read, before the loader drops or joins any), numpy arrays."""

    def __init__(self, b: StoreBuilder | None) -> None:
        if b is None:  # filled by from_arrays
            return
        self.sources = b.sources
        self.strings = b.strings
        self._codes = b._codes
        for name, dtype in _COLUMNS.items():  # views of the builder's arrays: no copy
            setattr(self, name, np.frombuffer(getattr(b, name), dtype=dtype))
        self.output_only = b.output_only
        self.request_ids = b.request_ids
        self.hashed_rows = b.hashed_rows
        if b.hashed_rows:
            for name in _HASHED_COLUMNS:
                setattr(self, name, np.frombuffer(getattr(b, name), dtype=np.int64))
        self.h_rid = b.h_rid

    def __len__(self) -> int:
        return len(self.kind)

    def intern(self, s: str | None) -> int:
        """The code of `s` in `strings` (-1 for None), added if new (before `seal`)."""
        if s is None:
            return -1
        code = self._codes.get(s)
        if code is None:
            code = self._codes[s] = len(self.strings) - 1
            self.strings.insert(code, s)  # keep None last: code -1 reads it
        return code

    def seal(self) -> None:
        """Drop the string -> code table (as large as the strings) and pack the strings as the
        on-disk index does (a million session ids: 45 MB of str objects, 13 MB packed; they
        are decoded when a view reads them): nothing is added after."""
        self._codes = {}
        if not isinstance(self.strings, PackedStrings):
            self.strings = PackedStrings.pack(self.strings)


class StoreBuilder:
    """Rows appended while the files of one trace are read (typed arrays: 8 bytes or less
    a field, not a Python object)."""

    def __init__(self) -> None:
        self.sources: list[Any] = []
        self._spool: int | None = None
        self.strings: list[str | None] = [None]  # code -1 -> None (the last entry)
        self._codes: dict[str, int] = {}
        self.kind = array("b")
        self.src = array("i")
        self.off = array("q")
        self.length = array("q")
        self.piece = array("h")
        self.sub = array("i")
        self.crc = array("I")
        self.line = array("q")
        self.ts = array("d")
        self.session = array("i")
        self.model = array("i")
        self.body_model = array("i")
        self.in_chars = array("q")
        self.out_chars = array("q")
        self.output_only: list[int] = []
        """Rows of batch output lines (joined to their input line by the loader)."""
        self.request_ids: dict[int, str] = {}
        """Row -> request_id of the text rows that have one (batch lines)."""
        # Hashed rows: their block ids, flat.
        self.hashed_rows = 0
        self.h_row = array("q")  # per row: its hashed row, or -1
        self.h_ends = array("q")
        self.h_ids = array("q")
        self.h_in = array("q")
        self.h_out = array("q")
        self.h_full = array("q")
        self.h_rid: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.kind)

    def file_source(self, fd: int) -> int:
        self.sources.append(FileSource(fd))
        return len(self.sources) - 1

    def spool_source(self) -> int:
        if self._spool is None:
            self.sources.append(SpoolSource())
            self._spool = len(self.sources) - 1
        return self._spool

    def intern(self, s: str | None) -> int:
        if s is None:
            return -1
        code = self._codes.get(s)
        if code is None:
            code = self._codes[s] = len(self.strings) - 1
            self.strings.insert(code, s)
        return code

    def add(self, r: Request, src: int, off: int, length: int, piece: int, sub: int, crc: int,
            output_only: bool) -> None:
        row = len(self.kind)
        hashed = r.hashed is not None
        self.kind.append(HASHED if hashed else TEXT)
        self.src.append(src)
        self.off.append(off)
        self.length.append(length)
        self.piece.append(piece)
        self.sub.append(sub)
        self.crc.append(crc)
        self.line.append(r.line)
        self.ts.append(np.nan if r.timestamp is None else r.timestamp)
        self.session.append(self.intern(r.session_id))
        self.model.append(self.intern(r.model))
        doc = r.input_doc
        dm = doc.get("model") if isinstance(doc, dict) else None
        self.body_model.append(self.intern(r.model if r.model is not None else dm if isinstance(dm, str) else None))
        self.in_chars.append(len(r.input))
        self.out_chars.append(len(r.output))
        if output_only:
            self.output_only.append(row)
        if hashed:
            h = r.hashed
            self.h_row.append(self.hashed_rows)
            self.hashed_rows += 1
            self.h_ids.extend(h.block_ids)
            self.h_ends.append(len(self.h_ids))
            self.h_in.append(h.input_length)
            self.h_out.append(h.output_length)
            self.h_full.append(h.full_blocks)
            if r.request_id is not None:
                self.h_rid[row] = r.request_id
        else:
            self.h_row.append(-1)
            if r.request_id is not None:
                self.request_ids[row] = r.request_id

    def freeze(self) -> Columns:
        return Columns(self)


def line_crc(line: bytes) -> int:
    return zlib.crc32(line)


Reparse = Callable[[bytes, int, int, int, int], "Request | None"]
"""reparse(line bytes, piece, sub, index, line number) -> the request the row was read as."""


class LazyRequests(Requests):
    """The requests of a trace as columns; `self[i]` re-reads request i's line."""

    __slots__ = ("_cols", "_rows", "_partner", "_reparse", "_name", "_lru", "_lru_chars", "_lock", "_n")

    def __init__(self, cols: Columns, reparse: Reparse, name: str, rows: np.ndarray | None = None,
                 partner: np.ndarray | None = None) -> None:
        """`rows`: the row of each request (default: every row, in order); `partner`: per
        request, the row of the batch output line joined to it, or -1."""
        self._items = ()
        cols.seal()
        self._cols = cols
        self._rows = rows
        self._partner = partner if partner is not None and (partner >= 0).any() else None
        self._reparse = reparse
        self._name = name
        self._n = len(cols) if rows is None else len(rows)
        self._lru: OrderedDict[int, Request] = OrderedDict()
        self._lru_chars = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._n

    def _row(self, i: int) -> int:
        return i if self._rows is None else int(self._rows[i])

    def _col(self, a: np.ndarray) -> np.ndarray:
        return a if self._rows is None else a[self._rows]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self._iter(range(*i.indices(self._n))))
        i = int(i)  # numpy integers too
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("request index out of range")
        with self._lock:
            r = self._lru.get(i)
            if r is not None:
                self._lru.move_to_end(i)
                return r
        r = self._make(i, _direct)
        with self._lock:
            if i not in self._lru:
                self._lru[i] = r
                self._lru_chars += len(r.input) + len(r.output)
                while len(self._lru) > 1 and (len(self._lru) > _LRU_REQUESTS or self._lru_chars > _LRU_CHARS):
                    _, old = self._lru.popitem(last=False)
                    self._lru_chars -= len(old.input) + len(old.output)
        return r

    def __iter__(self) -> Iterator[Request]:
        return self._iter(range(self._n))

    def _iter(self, indices: range) -> Iterator[Request]:
        buf = _ReadAhead(self._cols.sources)
        c = self._cols
        for lo in range(indices.start, indices.stop, indices.step * _ITER_BLOCK):
            block = range(lo, min(lo + indices.step * _ITER_BLOCK, indices.stop), indices.step) \
                if indices.step > 0 else range(lo, max(lo + indices.step * _ITER_BLOCK, indices.stop), indices.step)
            rows = np.asarray(block) if self._rows is None else self._rows[np.asarray(block, dtype=np.int64)]
            if self._partner is not None or (c.kind[rows] != TEXT).any():
                for i in block:
                    yield self._make(i, buf.read)
                continue
            # Text rows, nothing joined: each row's fields as Python values, a block at a time
            # (a numpy scalar read per field per request costs as much as the parse).
            strings, sources, reparse = _table(c.strings), c.sources, self._reparse
            for i, src, off, n, crc, piece, sub, line, sess in zip(
                    block, c.src[rows].tolist(), c.off[rows].tolist(), c.length[rows].tolist(),
                    c.crc[rows].tolist(), c.piece[rows].tolist(), c.sub[rows].tolist(), c.line[rows].tolist(),
                    c.session[rows].tolist()):
                try:
                    data = buf.read(sources[src], src, off, n)
                except OSError as e:
                    raise TraceError(f"cannot read {self._name} again: {e.strerror or e}") from None
                r = reparse(data, piece, sub, i, line) if len(data) == n and zlib.crc32(data) == crc else None
                if r is None:
                    raise TraceError(f"{self._name} changed on disk since it was read (line {line}): open it again")
                sid = strings[sess]
                yield r if r.index == i and r.session_id == sid else replace(r, index=i, session_id=sid)

    def _make(self, i: int, read: Callable[[Any, int, int, int], bytes]) -> Request:
        c = self._cols
        row = self._row(i)
        sid = c.strings[int(c.session[row])]
        ts = float(c.ts[row])
        if c.kind[row] == HASHED:
            h = int(c.h_row[row])
            start = int(c.h_ends[h - 1]) if h else 0
            ids = tuple(c.h_ids[start: int(c.h_ends[h])].tolist())
            return Request(index=i, line=int(c.line[row]), input="", timestamp=None if ts != ts else ts,
                           session_id=sid, model=c.strings[int(c.model[row])], request_id=c.h_rid.get(row),
                           hashed=HashedInput(ids, int(c.h_in[h]), int(c.h_out[h]), int(c.h_full[h])))
        r = self._reread(row, i, read)
        changes: dict[str, Any] = {}
        if r.index != i:
            changes["index"] = i
        if r.session_id != sid:
            changes["session_id"] = sid
        if self._partner is not None and self._partner[i] >= 0:
            o = self._reread(int(self._partner[i]), i, read)
            changes["output"] = o.output
            if r.usage is None:
                changes["usage"] = o.usage
            if r.timestamp is None:
                changes["timestamp"] = o.timestamp
        return replace(r, **changes) if changes else r

    def _reread(self, row: int, i: int, read: Callable[[Any, int, int, int], bytes]) -> Request:
        c = self._cols
        src = int(c.src[row])
        n = int(c.length[row])
        try:
            data = read(c.sources[src], src, int(c.off[row]), n)
        except OSError as e:
            raise TraceError(f"cannot read {self._name} again: {e.strerror or e}") from None
        r = None
        if len(data) == n and zlib.crc32(data) == int(c.crc[row]):
            r = self._reparse(data, int(c.piece[row]), int(c.sub[row]), i, int(c.line[row]))
        if r is None:
            raise TraceError(f"{self._name} changed on disk since it was read (line {int(c.line[row])}): "
                             "open it again")
        return r

    # --- as plain arrays (the on-disk cache of a trace's index) ---

    def to_arrays(self) -> dict[str, Any] | None:
        """The index as plain numpy arrays and JSON-able values, or None when it cannot be
        kept: its lines are in a spool file, or in more than one file."""
        c = self._cols
        if len(c.sources) != 1 or not isinstance(c.sources[0], FileSource):
            return None
        out: dict[str, Any] = {f"col_{name}": getattr(c, name) for name in _COLUMNS}
        if c.hashed_rows:
            out.update({f"col_{name}": getattr(c, name) for name in _HASHED_COLUMNS})
        if self._rows is not None:
            out["rows"] = self._rows
        if self._partner is not None:
            out["partner"] = self._partner
        packed = c.strings if isinstance(c.strings, PackedStrings) else PackedStrings.pack(c.strings)
        out["str_blob"], out["str_ends"] = packed.blob, packed.ends
        out["h_rid"] = sorted(c.h_rid.items())
        return out

    @classmethod
    def from_arrays(cls, d: dict[str, Any], fd: int, reparse: Reparse, name: str) -> LazyRequests:
        """The requests of `to_arrays`, re-read from the file open as `fd`. Raises KeyError,
        ValueError or TypeError when `d` is not what to_arrays made."""
        c = Columns(None)
        c.sources = [FileSource(fd)]
        c.strings = PackedStrings(np.asarray(d["str_blob"]), np.asarray(d["str_ends"]))
        c._codes = {}
        n = len(d["col_kind"])
        for col, dtype in _COLUMNS.items():
            a = np.asarray(d[f"col_{col}"])
            if a.dtype != dtype or a.shape != (n,):
                raise ValueError(f"bad column {col}")
            setattr(c, col, a)
        c.output_only, c.request_ids = [], {}
        c.h_rid = {int(r): str(v) for r, v in d["h_rid"]}
        c.hashed_rows = int((c.kind == HASHED).sum())
        if c.hashed_rows:
            for col in _HASHED_COLUMNS:
                setattr(c, col, np.asarray(d[f"col_{col}"], dtype=np.int64))
            h = c.h_row[c.kind == HASHED]
            if len(c.h_row) != n or not np.array_equal(h, np.arange(c.hashed_rows)) or \
                    any(len(getattr(c, x)) != c.hashed_rows for x in ("h_ends", "h_in", "h_out", "h_full")) or \
                    (np.diff(c.h_ends, prepend=0) < 0).any() or \
                    int(c.h_ends[-1]) != len(c.h_ids):
                raise ValueError("bad hashed columns")
        k = len(c.strings)
        codes = np.concatenate((c.session, c.model, c.body_model))
        if ((codes < -1) | (codes >= k - 1)).any() or (c.kind[(c.kind != TEXT)] != HASHED).any() or \
                (c.src != 0).any() or (c.off < 0).any() or (c.length < 0).any():
            raise ValueError("bad columns")
        rows = np.asarray(d["rows"], dtype=np.int64) if "rows" in d else None
        partner = np.asarray(d["partner"], dtype=np.int64) if "partner" in d else None
        m = n if rows is None else len(rows)
        if (rows is not None and ((rows < 0) | (rows >= n)).any()) or \
                (partner is not None and (len(partner) != m or (partner >= n).any())):
            raise ValueError("bad rows")
        return cls(c, reparse, name, rows, partner)

    # --- columns ---

    def timestamps(self) -> np.ndarray:
        ts = self._col(self._cols.ts)
        if self._partner is not None:  # a joined output line's time stands in for a missing one
            ts = ts.copy()
            for i in np.flatnonzero(self._partner >= 0).tolist():
                if ts[i] != ts[i]:
                    ts[i] = self._cols.ts[int(self._partner[i])]
        return ts.copy() if ts is self._cols.ts else ts

    def lines(self) -> np.ndarray:
        return self._col(self._cols.line).copy()

    def _strings(self, codes: np.ndarray) -> list[str | None]:
        table = _table(self._cols.strings)
        return [table[c] for c in self._col(codes).tolist()]

    def session_ids(self) -> list[str | None]:
        return self._strings(self._cols.session)

    def session_count(self) -> int:
        # The interned codes, one per distinct id (None: -1), marked in a table as long as the
        # string table (a linear pass; np.unique's sort or hash cost ~0.8 s on a million).
        seen = np.zeros(len(self._cols.strings) + 1, dtype=bool)
        seen[self._col(self._cols.session) + 1] = True
        return int(np.count_nonzero(seen))

    def models(self) -> list[str | None]:
        return self._strings(self._cols.model)

    def body_models(self) -> list[str | None]:
        return self._strings(self._cols.body_model)

    def body_model_counts(self) -> dict[str, int]:
        # Counted on the codes, in the order the names first appear (as Requests does): only
        # the distinct names are decoded.
        codes = self._col(self._cols.body_model) + 1
        counts = np.bincount(codes, minlength=1)
        first = np.full(len(counts), len(codes), dtype=np.int64)
        np.minimum.at(first, codes, np.arange(len(codes)))
        present = np.flatnonzero(counts[1:]) + 1
        table = self._cols.strings
        out = {}
        for code in present[np.argsort(first[present], kind="stable")].tolist():
            name = table[code - 1]
            if name:
                out[name] = int(counts[code])
        return out

    def text_lengths(self) -> tuple[np.ndarray, np.ndarray]:
        out = self._col(self._cols.out_chars).copy()
        if self._partner is not None:
            joined = self._partner >= 0
            out[joined] = self._cols.out_chars[self._partner[joined]]
        return self._col(self._cols.in_chars).copy(), out

    def hashed_ids(self) -> tuple[np.ndarray, np.ndarray] | None:
        """For a hashed trace: every request's block ids as one flat int64 array and the
        offsets of each request's ids in it (len + 1 of them), else None."""
        c = self._cols
        h = self._col(c.h_row) if c.hashed_rows else None
        if h is None or (h < 0).any():
            return None
        all_ends = np.concatenate(([0], c.h_ends))
        if np.array_equal(h, np.arange(c.hashed_rows)):
            return c.h_ids, all_ends
        starts, ends = all_ends[h], all_ends[h + 1]
        offsets = np.zeros(len(h) + 1, dtype=np.int64)
        np.cumsum(ends - starts, out=offsets[1:])
        flat = np.concatenate([c.h_ids[s:e] for s, e in zip(starts.tolist(), ends.tolist())]) \
            if len(h) else np.zeros(0, np.int64)
        return flat, offsets


def _direct(source: Any, src: int, offset: int, n: int) -> bytes:
    return source.read(offset, n)


class _ReadAhead:
    """Reads in file order through one large block per source (one pread a few MB)."""

    def __init__(self, sources: list[Any]) -> None:
        self._sources = sources
        self._blocks: dict[int, tuple[int, bytes]] = {}

    def read(self, source: Any, src: int, offset: int, n: int) -> bytes:
        got = self._blocks.get(src)
        if got is not None:
            start, data = got
            if start <= offset and offset + n <= start + len(data):
                return data[offset - start: offset - start + n]
        if n >= _READ_AHEAD:
            return source.read(offset, n)
        data = source.read(offset, _READ_AHEAD)
        self._blocks[src] = (offset, data)
        return data[:n]
