"""An on-disk cache of a trace's tokens and analysis, so that reopening a trace skips
tokenization and the replays.

Two files per analysed trace, under the cache dir ($TRACETUI_CACHE_DIR, else
$XDG_CACHE_HOME/tracetui, else ~/.cache/tracetui):

- `tokens/<key>.npz`, per (trace, tokenizer): the key hashes the file's size, mtime and
  content (BLAKE2b of its bytes), the tokenizer's identity, the reading options and the
  cache format; the flat tokens and the lengths.
- `analysis/<key>.npz`, per (tokens, analysis settings): the key adds every setting that
  changes a figure (pool sizes, chunk size, tokens per GB, the engines and their settings)
  and the code that computes them (name, size and mtime of every core module, so an edited
  or upgraded tracetui never reads another version's figures); every engine's results and,
  once the study was computed (it is computed only when read: pipeline.Loaded), its
  per-request hits of every pool and the windows' content ids its views read.

Both hold plain numpy arrays (and a JSON text of the scalars), loaded with
allow_pickle=False: a cache file can never run code, and one that does not read back
(truncated, foreign, stale format) is ignored and rewritten. Writes go to a temporary file
renamed into place, so a reader never sees half a file. Nothing is ever evicted: delete the
folder to reclaim the space.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .tokenizer import Tokenizer
from .tokens import TokenStore, entry_stores

FORMAT = 2
"""Bump when what the reader extracts from a line or the layout changes."""
_HASH_BLOCK = 1 << 22


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


class FileDigest:
    """The size, mtime and content hash of a trace file, hashed in a thread while the trace
    is read (hashlib releases the GIL: on two cores the hash costs no wall time)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._parts: list[str] | None = None
        self._thread = threading.Thread(target=self._run, name="tracetui-digest", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            st = os.stat(self.path)
            h = hashlib.blake2b(digest_size=20)
            with open(self.path, "rb") as f:
                while block := f.read(_HASH_BLOCK):
                    h.update(block)
        except OSError:
            return
        self._parts = [str(st.st_size), str(st.st_mtime_ns), h.hexdigest()]

    def key(self, tokenizer: Tokenizer, spec: str | None) -> str | None:
        """The cache key of the tokens, or None when the file could not be hashed."""
        self._thread.join()
        if self._parts is None:
            return None
        k = hashlib.blake2b(digest_size=20)
        for part in (str(FORMAT), *self._parts, _tokenizer_identity(tokenizer, spec)):
            k.update(part.encode("utf-8", "surrogateescape") + b"\0")
        return k.hexdigest()


def key_for(path: str, tokenizer: Tokenizer, spec: str | None) -> str | None:
    """The cache key of a trace file, or None when it cannot have one (stdin, unreadable)."""
    if path == "-":
        return None
    return FileDigest(path).key(tokenizer, spec)


def load(key: str, n: int) -> tuple[TokenStore, TokenStore] | None:
    """The cached tokens of `n` requests, or None (absent or unreadable: never an error)."""
    path = cache_dir() / "tokens" / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            flat, in_len, out_len = z["flat"], z["in_len"], z["out_len"]
        if len(in_len) != n or len(out_len) != n or flat.ndim != 1 or flat.dtype.kind != "u":
            return None
        return entry_stores(flat, in_len, out_len)
    except Exception:  # a damaged or foreign file: tokenize again and overwrite it
        return None


def save(key: str, inputs: TokenStore, outputs: TokenStore) -> None:
    """Store the tokens; a cache that cannot be written (read-only home, full disk) is skipped."""
    _write("tokens", key, flat=inputs.flat, in_len=inputs.lengths, out_len=outputs.lengths)


def _write(kind: str, key: str, **arrays: np.ndarray) -> None:
    folder = cache_dir() / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, folder / f"{key}.npz")
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


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
    _write("analysis", key, meta=np.array(json.dumps(meta)), **pk.arrays)


def _spans(pk: _Packer, spans) -> list | None:
    """CacheBlend's per-request (start, end) ranges, as a count per request and two arrays."""
    if spans is None:
        return None
    counts = np.fromiter((len(s) for s in spans), dtype=np.int64, count=len(spans))
    flat = np.array([x for s in spans for pair in s for x in pair], dtype=np.int64).reshape(-1, 2)
    return [pk.ref(counts), pk.ref(np.ascontiguousarray(flat[:, 0])), pk.ref(np.ascontiguousarray(flat[:, 1]))]


def load_analysis(key: str, inputs: TokenStore, outputs: TokenStore):
    """(Analysis or None when the study was not computed, EngineResults) stored under `key`
    for these tokens, or None (absent or unreadable: never an error)."""
    from .engines.base import EnginePool, EngineResult
    from .engines.study.index import Index
    from .engines.study.results import Analysis, PoolResult, PoolSize, frozen

    path = cache_dir() / "analysis" / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {name: frozen(z[name]) for name in z.files if name != "meta"}
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

        def spans(m):
            if m is None:
                return None
            counts, s, e = (arr(x).tolist() for x in m)
            pairs = list(zip(s, e))
            out, k = [], 0
            for c in counts:
                out.append(tuple(pairs[k:k + c]))
                k += c
            return tuple(out)

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
