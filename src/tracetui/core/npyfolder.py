"""A folder of plain .npy files and a meta.json: how the on-disk caches keep arrays.

Written under a temporary name beside it and renamed into place (a reader never sees half
of one); read back memory-mapped read-only with allow_pickle=False (a reopen reads only the
pages it uses, and a cache file can never run code).
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["write", "read"]


_CRC = "crc32"  # the meta key of the arrays' checksums, when written with them


def _crc(a: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(a).reshape(-1).view(np.uint8))


def write(final: str | os.PathLike, meta: dict, arrays: dict[str, np.ndarray], checksum: bool = False) -> None:
    """Write the entry `final` (a folder; one already there is replaced: open maps of its
    files stay valid). `checksum`: keep each array's CRC-32 in the meta, checked by every
    read (for small entries whose damage would otherwise last: a damaged line index would
    say "changed on disk" on every reopen). Raises OSError when it cannot be written."""
    import shutil  # here: a reopen only reads, and these imports cost a few ms of every start
    import tempfile

    final = Path(final)
    if checksum:
        meta = {**meta, _CRC: {name: _crc(a) for name, a in arrays.items()}}
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, suffix=".part"))
    try:
        for name, a in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(a), allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps(meta), "utf-8")
        if final.exists():
            shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_meta(folder: str | os.PathLike) -> dict:
    """The entry's meta.json alone (raises when absent or damaged)."""
    return json.loads((Path(folder) / "meta.json").read_text("utf-8"))


def read(folder: str | os.PathLike, meta: dict | None = None) -> dict:
    """The entry's arrays, memory-mapped read-only, and its meta under "meta" (`meta`: the
    one read_meta already gave). Raises when absent or damaged."""
    folder = Path(folder)
    out: dict = {"meta": read_meta(folder) if meta is None else meta}
    for f in folder.iterdir():
        if f.suffix == ".npy":
            out[f.stem] = np.load(f, mmap_mode="r", allow_pickle=False)
    crcs = out["meta"].get(_CRC)
    if crcs is not None:
        if set(crcs) != set(out) - {"meta"} or any(_crc(out[name]) != c for name, c in crcs.items()):
            raise ValueError(f"{folder}: damaged")
    return out
