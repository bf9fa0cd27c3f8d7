"""One trace from one or more paths: files, folders of trace files, or "-" for stdin.

A folder stands for every trace file in it (sorted by name, hidden files and sub-folders
left out); several paths are read in the order given. With more than one file, each file is
a session of its own unless its records name sessions. Batch API output lines are joined to
the input line of the same `custom_id`.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from .. import filehash, npyfolder
from ..model import Trace, TraceError
from ..reader import DEFAULT_MAX_LINE_MB, _line_list, _plural, read_into, reparser
from ..requeststore import HASHED, Columns, LazyRequests, StoreBuilder
from . import TEXT_FORMATS, Converter, FormatOptions

__all__ = ["read_traces", "trace_files", "trace_name", "trace_arrays", "trace_from_arrays", "save_index", "load_index"]

_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson", ".ndjson.gz", ".gz")


def trace_files(paths: Sequence[str]) -> list[str]:
    """The files the paths stand for, in order; TraceError for a folder with no trace file."""
    out: list[str] = []
    for p in paths:
        label = os.fsdecode(p)
        if label != "-" and os.path.isdir(label):
            try:
                names = sorted(os.listdir(label))
            except OSError as e:
                raise TraceError(f"cannot list {label}: {e.strerror or e}") from None
            files = [os.path.join(label, n) for n in names
                     if not n.startswith(".") and n.lower().endswith(_SUFFIXES)
                     and os.path.isfile(os.path.join(label, n))]
            if not files:
                raise TraceError(f"directory {label} holds no trace file (*.jsonl, *.json, *.gz)")
            out.extend(files)
        else:
            out.append(label)
    return out


def trace_name(paths: str | Sequence[str]) -> str:
    """Display name of the trace at `paths`: a base name (never a whole path), "<stdin>", or
    the first name and how many more paths follow."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    names = ["<stdin>" if os.fsdecode(p) == "-" else os.path.basename(os.path.normpath(os.fsdecode(p)))
             or os.fsdecode(p) for p in paths]
    return names[0] if len(names) == 1 else f"{names[0]} +{len(names) - 1} more"


def read_traces(
    paths: str | Sequence[str],
    options: FormatOptions = FormatOptions(),
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    max_line_mb: float = DEFAULT_MAX_LINE_MB,
    index_dir: str | os.PathLike | None = None,
    digest_dir: str | os.PathLike | None = None,
) -> Trace:
    """Read every file the paths stand for into one Trace; raise TraceError (one line).
    A line longer than `max_line_mb` MB is skipped unread. With `index_dir`, a single plain
    file read before with the same options is not read again: its index comes from there
    (see `_Cached`), else it goes there; `digest_dir` remembers the file's content hash
    (core.filehash), which is computed while the file is read."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [os.fsdecode(paths)]
    if not paths:
        raise TraceError("no trace given")
    try:
        convert = Converter(options)
    except ValueError as e:
        raise TraceError(str(e)) from None
    cached = _Cached(index_dir, digest_dir, paths, options, max_line_mb) if index_dir is not None else None
    if cached is not None and cached.file is not None:
        trace = cached.load()
        if trace is not None:
            if progress is not None:
                progress(cached.size, cached.size)
            return trace
    trace = _read_traces(paths, convert, options, progress, cancel, max_line_mb,
                         cached.digest if cached is not None and cached.file is not None else None)
    if cached is not None and cached.file is not None:
        cached.save(trace)
    return trace


def _read_traces(paths: Sequence[str], convert: Converter, options: FormatOptions,
                 progress: Callable[[int, int], None] | None, cancel: threading.Event | None,
                 max_line_mb: float, digest: Any) -> Trace:
    files = trace_files(paths)
    sizes = [_size(f) for f in files]
    total = sum(sizes)
    many = len(files) > 1 or any(os.fsdecode(p) != "-" and os.path.isdir(os.fsdecode(p)) for p in paths)
    rows = StoreBuilder()
    warnings: list[str] = []
    recovered: list[int] = []
    skipped: list[int] = []
    bad_utf8 = 0
    done = 0
    own_sessions: list[tuple[int, int, str]] = []  # files whose records name no session: (rows, name)
    starts: list[tuple[str, int]] = []  # (file name, its first row)
    for k, f in enumerate(files):
        convert.file = "<stdin>" if f == "-" else os.path.basename(f)
        convert.file_index = k
        cb = None
        if progress is not None:
            cb = (lambda d, t, base=done: progress(base + d, total or t))
        t = read_into(rows, f, progress=cb, cancel=cancel, convert=convert, max_line_mb=max_line_mb, digest=digest)
        starts.append((convert.file, t.start))
        done += sizes[k]
        if many and all(c < 0 for c in rows.session[t.start:t.end]):
            own_sessions.append((t.start, t.end, convert.file))
        prefix = f"{convert.file}: " if len(files) > 1 else ""
        warnings.extend(prefix + w for w in t.warnings)
        if len(files) == 1:
            recovered, skipped, bad_utf8 = list(t.recovered_lines), list(t.skipped_lines), t.invalid_utf8
        else:
            bad_utf8 += t.invalid_utf8
    cols = rows.freeze()
    del rows
    for start, end, name in own_sessions:
        cols.session[start:end] = cols.intern(name)
    keep = np.ones(len(cols), dtype=bool)
    formats = tuple(convert.formats)
    hashed = [f for f in formats if f not in TEXT_FORMATS]
    if hashed and len(hashed) != len(formats):
        # One kind of record per trace (text and block hashes cannot be replayed together):
        # the kind most requests have stays, the others are skipped and named, so a stray
        # line of another trace costs only itself.
        keep, formats, dropped, warning = _one_kind(cols, formats, many)
        warnings.append(warning)
        if len(files) == 1:
            skipped = sorted(skipped + dropped)
        hashed = [f for f in formats if f not in TEXT_FORMATS]
    block_size = None
    if hashed:
        if len(convert.block_sizes) > 1:
            (a, fa), (b, fb) = list(convert.block_sizes.items())[:2]
            raise TraceError(f"hash blocks of different sizes: {a} tokens ({fa}) and {b} ({fb})")
        block_size = next(iter(convert.block_sizes))
    partner, joined_warning = _join_batch_outputs(cols, keep)
    if joined_warning:
        warnings.append(joined_warning)
    if not keep.any():
        raise TraceError(f"{trace_name(paths)} has no readable requests (only batch output lines: "
                         "give the batch input file too)")
    kept = None if keep.all() else np.flatnonzero(keep)
    if partner is not None and kept is not None:
        partner = partner[kept]
    # Text requests are re-read through a converter of their own: the reading one holds the
    # hash-id table, which nothing needs once the block ids are in the columns.
    requests = LazyRequests(cols, reparser(Converter(options)), trace_name(paths), kept, partner)
    # Each file's first request among those kept (a file may have lost rows, or all of them).
    file_starts = () if len(files) < 2 else tuple(
        (name, int(start if kept is None else np.searchsorted(kept, start))) for name, start in starts)
    return Trace(name=trace_name(paths), requests=requests, warnings=tuple(warnings),
                 recovered_lines=tuple(recovered), skipped_lines=tuple(skipped), invalid_utf8=bad_utf8,
                 formats=formats, block_size=block_size, files=file_starts)


def _one_kind(cols: Columns, formats: tuple[str, ...],
              many: bool) -> tuple[np.ndarray, tuple[str, ...], list[int], str]:
    """Keep the requests of the kind (hashed or text) most requests have, text on a tie."""
    is_hashed = cols.kind == HASHED
    n_hashed = int(is_hashed.sum())
    keep_hashed = n_hashed > len(cols) - n_hashed
    keep = is_hashed == keep_hashed
    dropped = cols.line[~keep].tolist()
    kept_formats = tuple(f for f in formats if (f not in TEXT_FORMATS) == keep_hashed)
    other = [f for f in formats if f not in kept_formats]
    where = f"{len(dropped)} line(s) of another trace" if many else \
        f"{_plural(len(dropped), 'line')} ({_line_list(sorted(dropped))})"
    warning = (f"{where} skipped: {', '.join(other)} records among the "
               f"{', '.join(kept_formats)} records of this trace (read them apart)")
    return keep, kept_formats, dropped, warning


def _join_batch_outputs(cols: Columns, keep: np.ndarray) -> tuple[np.ndarray | None, str]:
    """Join each batch output line (kept) to the first batch input line of its custom_id:
    per row, the row of its output line (or -1), and the rows of output lines dropped from
    `keep` (in place). The request's missing timestamp is the output line's."""
    outputs = {cols.request_ids[r]: r for r in cols.output_only if keep[r]}
    if not outputs:
        return None, ""
    keep[cols.output_only] = False
    partner = np.full(len(cols), -1, dtype=np.int64)
    for row, rid in cols.request_ids.items():  # rows in file order (dict order)
        if keep[row]:
            o = outputs.pop(rid, None)
            if o is not None:
                partner[row] = o
    warning = f"{len(outputs)} batch output line(s) match no batch input line (custom_id)" if outputs else ""
    return partner, warning


def trace_arrays(trace: Trace) -> dict[str, Any] | None:
    """A trace read from one plain file as plain arrays and JSON-able values (what an
    on-disk cache keeps so that a reopen reads no line), or None when it cannot be kept
    (read from gzip, stdin or several files: its lines are not in the file at an offset)."""
    reqs = trace.requests
    d = reqs.to_arrays() if isinstance(reqs, LazyRequests) else None
    if d is None:
        return None
    d["trace"] = {"name": trace.name, "warnings": list(trace.warnings), "recovered_lines": list(trace.recovered_lines),
                  "skipped_lines": list(trace.skipped_lines), "invalid_utf8": trace.invalid_utf8,
                  "formats": list(trace.formats), "block_size": trace.block_size}
    return d


def trace_from_arrays(d: dict[str, Any], path: str, options: FormatOptions = FormatOptions()) -> Trace | None:
    """The trace `trace_arrays` made of the file at `path`, or None when `d` is not such a
    thing or the file cannot be opened (the caller reads it then). Its requests are read
    again from the file when asked for, as after read_traces; the caller makes sure `path`
    is the same file (size, mtime, content hash), each line's CRC the rest."""
    try:
        t = d["trace"]
        fd = os.open(path, os.O_RDONLY)
    except (KeyError, TypeError, OSError, ValueError):
        return None
    try:
        requests = LazyRequests.from_arrays(d, fd, reparser(Converter(options)), str(t["name"]))
        trace = Trace(name=str(t["name"]), requests=requests, warnings=tuple(map(str, t["warnings"])),
                      recovered_lines=tuple(map(int, t["recovered_lines"])),
                      skipped_lines=tuple(map(int, t["skipped_lines"])), invalid_utf8=int(t["invalid_utf8"]),
                      formats=tuple(map(str, t["formats"])),
                      block_size=None if t["block_size"] is None else int(t["block_size"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    finally:
        os.close(fd)  # the requests hold a duplicate
    return trace


_JSON_KEYS = ("h_rid", "trace")


def save_index(trace: Trace, folder: str | os.PathLike, content: str = "") -> bool:
    """Write `trace_arrays(trace)` to `folder` (core.npyfolder: plain .npy files, checksummed,
    and its JSON-able values with `content`, the file's hash, in meta.json): never pickle.
    False when the trace cannot be kept this way. Raises OSError when it cannot be written."""
    d = trace_arrays(trace)
    if d is None:
        return False
    meta = {k: d.pop(k) for k in _JSON_KEYS}
    meta["content"] = content
    npyfolder.write(folder, meta, d, checksum=True)
    return True


def index_meta(folder: str | os.PathLike) -> dict | None:
    """The meta.json `save_index` wrote in `folder` (its "content": the file's hash), or None
    (missing or damaged)."""
    try:
        meta = npyfolder.read_meta(folder)
        return meta if isinstance(meta, dict) and isinstance(meta.get("content"), str) else None
    except Exception:  # noqa: BLE001 - whatever a damaged file raises, it is read again
        return None


def load_index(folder: str | os.PathLike, path: str, options: FormatOptions = FormatOptions(),
               meta: dict | None = None) -> Trace | None:
    """The trace `save_index` wrote to `folder`, its requests read from `path`; None when
    `folder` is missing, damaged or foreign (read the trace then). Its columns are mapped,
    not read. `meta`: its index_meta, when the caller has read it already."""
    try:
        d: dict[str, Any] = npyfolder.read(folder, meta)
        meta = d.pop("meta")
        d.update({k: meta[k] for k in _JSON_KEYS})
    except Exception:  # noqa: BLE001 - whatever a damaged file raises, it is read again
        return None
    return trace_from_arrays(d, path, options)


INDEX_FORMAT = 3
"""Bump when what the index holds, or what the reader makes of a line, changes."""


class _Cached:
    """The index file of a trace given as one regular file, in `index_dir`: named by the
    file's identity (core.filehash: path, device, inode, size, mtime, ctime) and the reading
    options, holding the SHA-256 of the file's bytes (fed while the file is read), which must
    be the file's content hash (remembered in `digest_dir`, else computed) for it to be used."""

    def __init__(self, index_dir: str | os.PathLike, digest_dir: str | os.PathLike | None, paths: Sequence[str],
                 options: FormatOptions, max_line_mb: float) -> None:
        import hashlib

        self.file: str | None = None
        self.size = 0
        self.digest = filehash.hasher()
        self.digest_dir = digest_dir
        p = os.fsdecode(paths[0]) if len(paths) == 1 else "-"
        if p == "-":
            return
        self.ident = filehash.identity(p)
        if self.ident is None:
            return
        self.path, self.size = p, os.path.getsize(p)
        k = hashlib.blake2b(digest_size=20)
        for part in (INDEX_FORMAT, self.ident, repr((options.format, options.template, options.hash_block_size)),
                     max_line_mb, trace_name(p)):
            k.update(str(part).encode("utf-8", "surrogateescape") + b"\0")
        self.file = os.path.join(os.fsdecode(index_dir), k.hexdigest())
        self.options = options

    def load(self) -> Trace | None:
        meta = index_meta(self.file)
        if meta is None or filehash.content_hash(self.path, self.digest_dir) != meta["content"]:
            return None
        return load_index(self.file, self.path, self.options, meta)

    def save(self, trace: Trace) -> None:
        """Remember the content hash and write the index; a folder that cannot be written
        (read-only home, full disk) is skipped."""
        content = self.digest.hexdigest()
        filehash.remember(self.path, self.ident, content, self.digest_dir)
        try:
            save_index(trace, self.file, content=content)
        except OSError:
            pass


def _size(path: str) -> int:
    try:
        return os.path.getsize(path) if path != "-" else 0
    except OSError:
        return 0
