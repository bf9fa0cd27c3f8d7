"""An on-disk cache of a trace's tokens and analysis, so that reopening a trace skips
tokenization and the replays.

Under the cache dir ($TRACETUI_CACHE_DIR, else $XDG_CACHE_HOME/tracetui, else
~/.cache/tracetui):

- `tokens/<key>/`, per (trace, tokenizer): the key hashes the file's size, mtime and
  content (SHA-256 of its bytes, core.filehash), the tokenizer's identity, the reading
  options and the cache format; the flat tokens and the lengths.
- `analysis/<key>/`, per (tokens, analysis settings): the key adds every setting that
  changes a figure (pool sizes, chunk size, tokens per GB, the engines and their settings)
  and the code that computes them (name, size and mtime of every core module, so an edited
  or upgraded tracetui never reads another version's figures); every engine's results and,
  once the study was computed (it is computed only when read: pipeline.Loaded), its
  per-request hits of every pool and the windows' content ids its views read.
- `index/<key>/`: the reader's index of the file (core.formats.loader); `digests/`: the
  files' content hashes, remembered by file identity (core.filehash).

An entry is a folder of plain .npy files and a meta.json of the scalars, loaded with
allow_pickle=False and memory-mapped (a reopen reads only the pages it uses): a cache file
can never run code, and one that does not read back (truncated, foreign, stale format) is
ignored and rewritten. An entry is written under a temporary name and renamed into place, so
a reader never sees half of one. Nothing is ever evicted: delete the folder to reclaim the
space.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import filehash, npyfolder
from .tokenizer import Tokenizer
from .tokens import TokenStore, entry_stores

FORMAT = 3
"""Bump when what the reader extracts from a line or the layout changes."""


def cache_dir() -> Path:
    explicit = os.environ.get("TRACETUI_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "tracetui"


def _tokenizer_identity(tokenizer: Tokenizer, spec: str | None) -> str:
    # The name is the identity of a built-in (loading its vocabulary costs more than a warm
    # reopen should); a tokenizer file is known by its path, size and mtime below.
    parts = [tokenizer.name, spec or ""]
    spec = (spec or "").split("\0")[0]  # what follows is the reading options
    if spec:
        path = Path(spec.split(":", 1)[1] if spec.startswith("llama3:") else spec).expanduser()
        try:
            st = path.stat()
            parts += [str(path.resolve()), str(st.st_size), str(st.st_mtime_ns)]
        except OSError:
            pass  # a tiktoken encoding name, not a file
    return "\0".join(parts)


def digest_dir() -> Path:
    """Where the trace files' content hashes are remembered (core.filehash)."""
    return cache_dir() / "digests"


def key_for(path: str, tokenizer: Tokenizer, spec: str | None) -> str | None:
    """The cache key of a trace file's tokens, or None when it cannot have one (stdin,
    unreadable). Its content hash is the one remembered (the reader remembers it as it reads
    the file), else it is computed now."""
    if path == "-":
        return None
    content = filehash.content_hash(path, digest_dir())
    if content is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    k = hashlib.blake2b(digest_size=20)
    for part in (str(FORMAT), str(st.st_size), str(st.st_mtime_ns), content, _tokenizer_identity(tokenizer, spec)):
        k.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return k.hexdigest()


def load(key: str, n: int) -> tuple[TokenStore, TokenStore] | None:
    """The cached tokens of `n` requests, or None (absent or unreadable: never an error).
    The flat array is mapped, not read: a warm reopen reads only what it uses."""
    try:
        arrays = _read("tokens", key)
        flat, in_len, out_len = arrays["flat"], arrays["in_len"], arrays["out_len"]
        if len(in_len) != n or len(out_len) != n or flat.ndim != 1 or flat.dtype.kind != "u":
            return None
        return entry_stores(flat, in_len, out_len)
    except Exception:  # a damaged or foreign entry: tokenize again and overwrite it
        return None


def save(key: str, inputs: TokenStore, outputs: TokenStore) -> None:
    """Store the tokens; a cache that cannot be written (read-only home, full disk) is skipped."""
    _write("tokens", key, {}, flat=inputs.flat, in_len=inputs.lengths, out_len=outputs.lengths)


def _entry(kind: str, key: str) -> Path:
    return cache_dir() / kind / key


def _write(kind: str, key: str, meta: dict, **arrays: np.ndarray) -> None:
    """One entry (core.npyfolder); a cache that cannot be written (read-only home, full disk)
    is skipped."""
    try:
        npyfolder.write(_entry(kind, key), meta, arrays)
    except OSError:
        pass


def _read(kind: str, key: str) -> dict:
    """An entry's arrays, memory-mapped read-only, and its meta under "meta" (raises when
    absent or damaged)."""
    return npyfolder.read(_entry(kind, key))


# --------------------------------------------------------------------------- analysis

def _code_identity() -> str:
    """Name, size and mtime of every module under core/: figures computed by other code
    (an upgrade, an edit) are never read back as this code's."""
    root = Path(__file__).resolve().parent
    parts = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".py"):
                st = os.stat(os.path.join(dirpath, name))
                parts.append(f"{os.path.relpath(os.path.join(dirpath, name), root)}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts)


def analysis_key(tokens_key: str, settings: str) -> str:
    """The key of an analysis: the tokens' key, `settings` (every setting that changes a
    figure, as text) and the code's identity."""
    k = hashlib.blake2b(digest_size=20)
    for part in (str(FORMAT), tokens_key, settings, _code_identity()):
        k.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return k.hexdigest()


class _Packer:
    """Arrays to store under short names, each distinct array once (the pools that are the
    unlimited one share its arrays)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._names: dict[int, str] = {}

    def ref(self, a: np.ndarray | None) -> str | None:
        if a is None:
            return None
        name = self._names.get(id(a))
        if name is None:
            name = self._names[id(a)] = f"a{len(self.arrays)}"
            self.arrays[name] = a
        return name


def _size_meta(size) -> list:
    return [size.gb, size.capacity, size.label]


def save_analysis(key: str, lengths: tuple[np.ndarray, np.ndarray], analysis, results: Sequence) -> None:
    """Store the EngineResults of the other engines and, when it was computed, the study's
    Analysis (its index released); `lengths` (input, output) tell a stale file."""
    pk = _Packer()

    def pool(p) -> dict:
        return {"size": _size_meta(p.size), "prefix": pk.ref(p.prefix_hits), "source": pk.ref(p.prefix_source),
                "sub": pk.ref(p.substring_hits), "input": p.input_tokens}

    def epool(p) -> dict:
        return {"size": _size_meta(p.size), "blocks": p.blocks, "prefix": pk.ref(p.prefix_hits),
                "sub": pk.ref(p.substring_hits), "rejected": pk.ref(p.rejected), "input": p.input_tokens,
                "recompute": pk.ref(p.recompute_tokens), "spans": _spans(pk, p.spans)}

    a = analysis
    meta = {
        "input_lens": pk.ref(lengths[0]), "output_lens": pk.ref(lengths[1]),
        "study": None if a is None else {
            "chunk": a.chunk_size, "tokens_per_gb": a.tokens_per_gb, "n_ids": int(a._index.n_ids),
            "combined": pk.ref(a.combined_hits), "unlimited": pool(a.unlimited), "pools": [pool(p) for p in a.pools],
            "index": {name: pk.ref(getattr(a._index, name)) for name in a._index.SAVED}},
        "results": [{"engine": r.engine, "block_size": r.block_size, "pools": [epool(p) for p in r.pools],
                     "unlimited": epool(r.unlimited)} for r in results],
    }
    _write("analysis", key, meta, **pk.arrays)


def _spans(pk: _Packer, spans) -> list | None:
    """CacheBlend's per-request ranges: their three flat arrays (engines.base.Spans)."""
    return None if spans is None else [pk.ref(spans.bounds), pk.ref(spans.starts), pk.ref(spans.ends)]


def load_analysis(key: str, inputs: TokenStore, outputs: TokenStore):
    """(Analysis or None when the study was not computed, EngineResults) stored under `key`
    for these tokens, or None (absent or unreadable: never an error)."""
    from .engines.base import EnginePool, EngineResult, Spans
    from .engines.study.index import Index
    from .engines.study.results import Analysis, PoolResult, PoolSize, frozen

    try:
        arrays = _read("analysis", key)
        meta = arrays.pop("meta")
        arrays = {name: frozen(a) for name, a in arrays.items()}
        n = len(inputs)

        def arr(name: str | None, dtype=None) -> np.ndarray | None:
            if name is None:
                return None
            a = arrays[name]
            if dtype is not None and (a.dtype.kind != np.dtype(dtype).kind or a.ndim != 1):
                raise ValueError("stale")
            return a

        def req(name: str | None, dtype=np.int64) -> np.ndarray | None:
            a = arr(name, dtype)
            if a is not None and len(a) != n:
                raise ValueError("stale")
            return a

        def size(m) -> PoolSize:
            return PoolSize(m[0], m[1], m[2])

        def pool(m) -> PoolResult:
            return PoolResult(size(m["size"]), req(m["prefix"]), req(m["source"]), req(m["sub"]), m["input"])

        def spans(m) -> Spans | None:
            if m is None:
                return None
            bounds, starts, ends = (arr(x, np.int64) for x in m)
            if len(bounds) != n + 1:
                raise ValueError("stale")
            return Spans(bounds, starts, ends)

        def epool(m) -> EnginePool:
            return EnginePool(size(m["size"]), m["blocks"], req(m["prefix"]), req(m["sub"]), req(m["rejected"], bool),
                              m["input"], req(m["recompute"]), spans(m["spans"]))

        in_lens, out_lens = req(meta["input_lens"]), req(meta["output_lens"])
        if not (np.array_equal(in_lens, inputs.lengths) and np.array_equal(out_lens, outputs.lengths)):
            return None
        analysis, m = None, meta["study"]
        if m is not None:
            ix = Index.restored(inputs.flat, in_lens, out_lens, m["chunk"], m["n_ids"],
                                {name: arr(ref) for name, ref in m["index"].items()})
            analysis = Analysis(m["chunk"], m["tokens_per_gb"], in_lens, out_lens,
                                tuple(pool(p) for p in m["pools"]), pool(m["unlimited"]), req(m["combined"]), ix)
        results = tuple(EngineResult(r["engine"], r["block_size"], tuple(epool(p) for p in r["pools"]),
                                     epool(r["unlimited"])) for r in meta["results"])
        return analysis, results
    except Exception:  # a damaged, foreign or stale file: analyse again and overwrite it
        return None
