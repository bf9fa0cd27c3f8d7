"""What an analysis returns: pool sizes, per-pool hits, and the Analysis the views read."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .index import Index

DEFAULT_CHUNK = 16
DEFAULT_TOKENS_PER_GB = 8200
DEFAULT_POOL_SIZES: tuple[str, ...] = (
    "0.01", "0.04", "0.1", "0.2", "0.4", "0.8", "1", "2", "4", "8", "16", "unlimited",
)


class AnalysisCancelled(Exception):
    """Raised when the caller's cancel event is set during an analysis."""


# --------------------------------------------------------------------------- pool sizes

@dataclass(frozen=True, slots=True)
class PoolSize:
    """A pool size as asked for: GB (None = unlimited) and capacity in tokens."""

    gb: float | None
    capacity: int | None
    label: str

    @property
    def unlimited(self) -> bool:
        return self.capacity is None


@functools.lru_cache(maxsize=256)  # the same few sizes, for every analysis and every session replayed
def parse_pool_size(text: str | float | None, tokens_per_gb: float) -> PoolSize:
    """'0.4' -> PoolSize(0.4, floor(0.4 x tokens_per_gb)); 'unlimited' / None -> unlimited.

    The floor is taken on the decimal value as written, so 0.1 GB is 820 tokens, not 819.
    """
    if text is None or (isinstance(text, str) and text.strip().lower() in ("unlimited", "inf", "∞")):
        return PoolSize(None, None, "∞")
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValueError(f"invalid pool size {text!r}: a number of GB or 'unlimited'") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"invalid pool size {text!r}: a number of GB >= 0 or 'unlimited'")
    try:
        capacity = int((value * Decimal(str(tokens_per_gb))).to_integral_value(rounding="ROUND_FLOOR"))
    except ArithmeticError:  # decimal.Overflow: "1e999999999" overflows even Decimal
        capacity = 1 << 62
    if capacity >= 1 << 62:
        raise ValueError(f"pool size {text!r} is beyond any cache: use 'unlimited'")
    label = format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
    return PoolSize(float(value), capacity, label)


# --------------------------------------------------------------------------- results

@dataclass(frozen=True)
class PoolResult:
    """Per-request hits of one pool size (arrays are read-only)."""

    size: PoolSize
    prefix_hits: np.ndarray
    prefix_source: np.ndarray
    """Index of the entry that gave the prefix hit, -1 when the hit is 0."""
    substring_hits: np.ndarray
    input_tokens: int

    @property
    def prefix_rate(self) -> float:
        return _rate(int(self.prefix_hits.sum()), self.input_tokens)

    @property
    def substring_rate(self) -> float:
        return _rate(int(self.substring_hits.sum()), self.input_tokens)


def _rate(hits: int, total: int) -> float:
    return hits / total if total else 0.0


def frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class Sizes:
    """A trace's size, read from its per-request lengths (`input_lens`, `output_lens`): what
    the study's Analysis and the study-free pipeline.Lengths both answer."""

    input_lens: np.ndarray
    output_lens: np.ndarray

    @property
    def requests(self) -> int:
        return len(self.input_lens)

    @property
    def input_tokens(self) -> int:
        return int(self.input_lens.sum())

    @property
    def output_tokens(self) -> int:
        return int(self.output_lens.sum())


@dataclass(frozen=True)
class Analysis(Sizes):
    """Everything the CLI and the explorer show, computed once."""

    chunk_size: int
    tokens_per_gb: float
    input_lens: np.ndarray
    output_lens: np.ndarray
    pools: tuple[PoolResult, ...]
    """In the order asked for."""
    unlimited: PoolResult
    combined_hits: np.ndarray
    """Unlimited pool: tokens covered by the prefix hit or by a matched chunk, counted once."""
    _index: Index

    @property
    def combined_rate(self) -> float:
        return _rate(int(self.combined_hits.sum()), self.input_tokens)

    def chunk_matched(self, i: int) -> np.ndarray:
        """Unlimited pool: for every whole chunk of input i, was it seen in an earlier entry."""
        return self._index.first_entry[self._index.chunk_ids(i)] < i

    def chunk_sources(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """For every whole chunk of input i: (request, token offset) where it was seen first.

        -1 / -1 for chunks not seen before request i.
        """
        ix = self._index
        ids = ix.chunk_ids(i)
        req = ix.first_entry[ids].astype(np.int64)
        off = ix.first_pos[ids].astype(np.int64)
        seen = req < i
        return np.where(seen, req, -1), np.where(seen, off, -1)

    def token_classes(self, i: int) -> np.ndarray:
        """Unlimited pool, per input token of request i: 1 prefix hit, 2 substring hit, 0 miss."""
        n = int(self.input_lens[i])
        c = self.chunk_size
        cls = np.zeros(n, dtype=np.uint8)
        matched = self.chunk_matched(i)
        if matched.size:
            cls[: matched.size * c] = np.repeat(matched.astype(np.uint8) * 2, c)
        cls[: int(self.unlimited.prefix_hits[i])] = 1
        return cls

    def chunk_frequency(self, i: int) -> np.ndarray:
        """For every whole chunk of input i: how many requests' entries contain it."""
        ix = self._index
        if ix._freq is None:
            oid, _, _, _ = ix.occurrences()
            ix._freq = np.bincount(oid, minlength=ix.n_ids) if ix.n_ids else np.zeros(0, np.int64)
        return ix._freq[ix.chunk_ids(i)]

    def iter_matches(self, i: int):
        """Unlimited pool: every (window, chunk) equal pair of input i with an earlier entry.

        Yields (match_start, match_end, prev_step, prev_start, prev_end), as the seed
        study's --log-matches wrote them.
        """
        yield from self._index.iter_matches(i)

    def match_count(self) -> int:
        """The number of items iter_matches yields over every request (linear time)."""
        return self._index.match_count()


