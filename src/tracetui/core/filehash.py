"""A trace file's content hash, computed once per version of the file.

The caches key a trace by its content. Hashing a gigabyte takes about a second on a small
machine, twice what a warm reopen may take in all, so the hash is remembered under the file's
identity: real path, device, inode, size, mtime and ctime, in nanoseconds. Every write to a
file moves its ctime, which no system call can set back, so a file whose identity is the one
remembered holds the bytes that were hashed (the rule git's index relies on). A file that
changed while it was read is not remembered.

SHA-256, not BLAKE2b: hashlib's SHA-256 ran at 1.16 GB/s here against BLAKE2b's 0.37 GB/s
(both over the 1 GB benchmark trace from the page cache).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_BLOCK = 1 << 22


def hasher():
    """A fresh hash of the kind `content_hash` computes (the reader feeds one as it reads)."""
    return hashlib.sha256()


def identity(path: str | os.PathLike) -> str | None:
    """The file's identity as text, or None when it is not a regular file one can stat."""
    try:
        st = os.stat(path)
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return None
    if not os.path.isfile(path):
        return None
    return "\0".join(map(str, (real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)))


def _memo(folder: Path, ident: str) -> Path:
    return folder / hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:40]


def remembered(ident: str | None, folder: str | os.PathLike | None) -> str | None:
    """The content hash remembered for this identity, or None."""
    if ident is None or folder is None:
        return None
    try:
        text = _memo(Path(folder), ident).read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else None


def remember(path: str | os.PathLike, ident: str | None, content: str, folder: str | os.PathLike | None) -> None:
    """Remember `content` as the hash of the file, if it still has the identity it had when
    its reading began; a folder that cannot be written is skipped."""
    if ident is None or folder is None or identity(path) != ident:
        return
    import tempfile  # here: only a first read writes (its imports cost a few ms of every start)

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(content)
            os.replace(tmp, _memo(folder, ident))
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def content_hash(path: str | os.PathLike, folder: str | os.PathLike | None) -> str | None:
    """The hex SHA-256 of the file's bytes: remembered, else computed (and remembered). None
    when the file cannot be read."""
    ident = identity(path)
    if ident is None:
        return None
    known = remembered(ident, folder)
    if known is not None:
        return known
    h = hasher()
    try:
        with open(path, "rb") as f:
            while block := f.read(_BLOCK):
                h.update(block)
    except OSError:
        return None
    content = h.hexdigest()
    remember(path, ident, content, folder)
    return content
