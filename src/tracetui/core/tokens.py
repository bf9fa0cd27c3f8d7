"""Token ids of a whole trace, held once: one flat array of the narrowest dtype, with offsets.

A trace of a million requests as a million small arrays costs ~100 bytes of object per
request and a copy when the engine concatenates them; one flat array costs neither. The
flat array is laid out as the engine's entries, I_0 O_0 I_1 O_1 ..., so the inputs and the
outputs are two TokenStores over the same array and the engine reads it as it is.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator, Sequence

import numpy as np


def dtype_for(vocab_size: int) -> np.dtype:
    """The narrowest unsigned dtype holding every token id of a vocabulary."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


def _malloc_trim():
    # The process's own symbols (dlopen(NULL)) hold libc's: no ctypes.util.find_library, whose
    # import (subprocess, shutil, tempfile...) and ldconfig child cost ~15 ms of every run.
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, Windows, musl)
        return None


_TRIM = _malloc_trim()


def _fix_mmap_threshold() -> None:
    # glibc raises its mmap threshold to the size of each mmapped block freed (up to 32 MiB),
    # so after the first large numpy temporary is freed, arrays of up to 32 MiB come from the
    # heap, whose holes stay resident under the next stage's arrays. Fixed at its starting
    # 128 KiB, every large array goes back to the OS when freed: the study on a million chat
    # requests peaked at 1075 MiB instead of 1138 (benchmarks/profile_memory.py), same CPU.
    try:
        ctypes.CDLL(None).mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError, TypeError):  # not glibc
        pass


_fix_mmap_threshold()


def release_freed_memory() -> None:
    """Hand the pages the C allocator holds free back to the OS (glibc's malloc_trim; a no-op
    elsewhere). glibc keeps what a thread's arena freed (the tokenizer threads' arrays, ~45 MB
    after 100 MB of agent traces) and the holes between live small blocks: the next stage's
    arrays would add to them in the peak RSS."""
    if _TRIM is not None:
        _TRIM(0)


class TokenStore(Sequence):
    """A sequence of token arrays, all views of one flat array: store[i] is text i's tokens,
    flat[starts[i]: starts[i] + lengths[i]], read-only."""

    __slots__ = ("flat", "starts", "lengths")

    def __init__(self, flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> None:
        flat.flags.writeable = False
        self.flat = flat
        self.starts = np.asarray(starts, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64)

    @property
    def offsets(self) -> np.ndarray:
        """Where each text starts in `flat` (its end is offsets + lengths)."""
        return self.starts

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(len(self))))
        n = len(self.starts)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("TokenStore index out of range")
        s = int(self.starts[i])
        return self.flat[s: s + int(self.lengths[i])]

    def __iter__(self) -> Iterator[np.ndarray]:
        flat = self.flat
        for s, k in zip(self.starts.tolist(), self.lengths.tolist()):
            yield flat[s: s + k]

    def total(self) -> int:
        return int(self.lengths.sum())


def entry_stores(flat: np.ndarray, in_len: np.ndarray, out_len: np.ndarray) -> tuple[TokenStore, TokenStore]:
    """The inputs and outputs of a flat array laid out I_0 O_0 I_1 O_1 ..."""
    in_len = np.asarray(in_len, dtype=np.int64)
    out_len = np.asarray(out_len, dtype=np.int64)
    off = np.zeros(len(in_len) + 1, dtype=np.int64)
    np.cumsum(in_len + out_len, out=off[1:])
    if int(off[-1]) != len(flat):
        raise ValueError("token array and lengths disagree")
    return TokenStore(flat, off[:-1], in_len), TokenStore(flat, off[:-1] + in_len, out_len)


def entries_view(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> np.ndarray | None:
    """The shared flat array when `inputs` and `outputs` are entry_stores' pair, else None."""
    if not (isinstance(inputs, TokenStore) and isinstance(outputs, TokenStore)):
        return None
    if inputs.flat is not outputs.flat or len(inputs) != len(outputs):
        return None
    n = len(inputs)
    ends = inputs.starts + inputs.lengths
    if not np.array_equal(ends, outputs.starts):
        return None
    if n and (int(inputs.starts[0]) != 0 or int(outputs.starts[-1] + outputs.lengths[-1]) != len(inputs.flat)
              or not np.array_equal(outputs.starts[:-1] + outputs.lengths[:-1], inputs.starts[1:])):
        return None
    return inputs.flat
