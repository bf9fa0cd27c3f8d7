"""An on-disk cache of a trace's tokens, so that reopening a trace skips tokenization.

One file per (trace, tokenizer): `<cache dir>/tokens/<key>.npz`, where the cache dir is
$TRACETUI_CACHE_DIR, else $XDG_CACHE_HOME/tracetui, else ~/.cache/tracetui. The key hashes
the file's size, mtime and content (BLAKE2b of its bytes), the tokenizer's identity and the
cache format. The file holds plain numpy arrays (the flat tokens and the lengths), loaded
with allow_pickle=False: a cache file can never run code, and one that does not read back
(truncated, foreign, stale format) is ignored and rewritten. Writes go to a temporary file
renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from .tokenizer import Tokenizer
from .tokens import TokenStore, entry_stores

FORMAT = 1
"""Bump when what the reader extracts from a line or the layout changes."""
_HASH_BLOCK = 1 << 22


def cache_dir() -> Path:
    explicit = os.environ.get("TRACETUI_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "tracetui"


def _tokenizer_identity(tokenizer: Tokenizer, spec: str | None) -> str:
    parts = [tokenizer.name, str(tokenizer.vocab_size), spec or ""]
    spec = (spec or "").split("\0")[0]  # what follows is the reading options
    if spec:
        path = Path(spec.split(":", 1)[1] if spec.startswith("llama3:") else spec).expanduser()
        try:
            st = path.stat()
            parts += [str(path.resolve()), str(st.st_size), str(st.st_mtime_ns)]
        except OSError:
            pass  # a tiktoken encoding name, not a file
    return "\0".join(parts)


def key_for(path: str, tokenizer: Tokenizer, spec: str | None) -> str | None:
    """The cache key of a trace file, or None when it cannot have one (stdin, unreadable)."""
    if path == "-":
        return None
    try:
        st = os.stat(path)
        h = hashlib.blake2b(digest_size=20)
        with open(path, "rb") as f:
            while block := f.read(_HASH_BLOCK):
                h.update(block)
    except OSError:
        return None
    k = hashlib.blake2b(digest_size=20)
    for part in (str(FORMAT), str(st.st_size), str(st.st_mtime_ns), h.hexdigest(),
                 _tokenizer_identity(tokenizer, spec)):
        k.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return k.hexdigest()


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
    folder = cache_dir() / "tokens"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, flat=inputs.flat, in_len=inputs.lengths, out_len=outputs.lengths)
            os.replace(tmp, folder / f"{key}.npz")
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
