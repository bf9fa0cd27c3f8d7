"""What every engine returns: per pool, per request, the hits a view needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .study.results import _rate, frozen  # one of each for the study and the real engines


if TYPE_CHECKING:
    from .study import PoolSize

DEFAULT_CONTEXT_LENGTH = 131072
DEFAULT_RECOMPUTE = 0.15


@dataclass(frozen=True)
class EngineSettings:
    """The knobs of the real engines (the study's engine reads none of them)."""

    context_length: int = DEFAULT_CONTEXT_LENGTH
    block_size: int | None = None
    """vLLM block / LMCache chunk size in tokens; None: the engine's default (16 / 256)."""
    page_size: int = 1
    """SGLang page size."""
    recompute: float = DEFAULT_RECOMPUTE
    """CacheBlend: fraction of the reused tokens recomputed."""


class Spans:
    """Per request, its (start, end) token ranges, in order: request i's are
    starts[bounds[i]:bounds[i + 1]] and the same of ends. Three flat arrays, not a tuple per
    request: a million requests build, store and load back as arrays; a view asks for one
    request's at a time."""

    __slots__ = ("bounds", "starts", "ends")

    def __init__(self, bounds: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
        if bounds.ndim != 1 or len(bounds) < 1 or starts.shape != ends.shape or starts.ndim != 1 or \
                int(bounds[0]) != 0 or int(bounds[-1]) != len(starts) or (np.diff(bounds) < 0).any():
            raise ValueError("inconsistent spans")
        self.bounds, self.starts, self.ends = frozen(bounds), frozen(starts), frozen(ends)

    @classmethod
    def of(cls, owner: np.ndarray, starts: np.ndarray, ends: np.ndarray, n: int) -> Spans:
        """The spans of n requests from flat ranges sorted by their request, `owner`."""
        bounds = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(owner, minlength=n), out=bounds[1:])
        return cls(bounds, np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def __getitem__(self, i: int) -> tuple[tuple[int, int], ...]:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        lo, hi = self.bounds[i:i + 2].tolist() if i >= 0 else self.bounds[[i - 1, i]].tolist()
        return tuple(zip(self.starts[lo:hi].tolist(), self.ends[lo:hi].tolist()))

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Spans):
            return all(np.array_equal(a, b) for a, b in
                       ((self.bounds, other.bounds), (self.starts, other.starts), (self.ends, other.ends)))
        if isinstance(other, (tuple, list)):
            return len(other) == len(self) and all(tuple(map(tuple, o)) == mine for o, mine in zip(other, self))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # arrays: compared, never hashed

    def __repr__(self) -> str:
        return f"Spans({len(self)} requests, {len(self.starts)} ranges)"


@dataclass(frozen=True)
class EnginePool:
    """One pool size of one engine (arrays are read-only, one value per request)."""

    size: PoolSize
    blocks: int | None
    """Whole blocks (pages, chunks) the capacity holds; None when unlimited or not a block engine."""
    prefix_hits: np.ndarray
    substring_hits: np.ndarray | None
    """Tokens reused away from the prefix too (study, CacheBlend); None for prefix-only engines."""
    rejected: np.ndarray
    """The engine refused the request (prompt too long for this pool / context): hit 0."""
    input_tokens: int
    recompute_tokens: np.ndarray | None = None
    """CacheBlend: tokens of the reused KV recomputed to blend it."""
    spans: Spans | None = None
    """CacheBlend: per request, the (start, end) token ranges of the prompt reused (the
    explorer colours them); prefix engines reuse [0, prefix hit)."""

    @property
    def capacity_tokens(self) -> int | None:
        return self.size.capacity

    @property
    def prefix_rate(self) -> float:
        return _rate(int(self.prefix_hits.sum()), self.input_tokens)

    @property
    def substring_rate(self) -> float | None:
        if self.substring_hits is None:
            return None
        return _rate(int(self.substring_hits.sum()), self.input_tokens)

    @property
    def reuse_hits(self) -> np.ndarray:
        """The tokens this engine reuses: the substring hits where there are, else the prefix."""
        return self.prefix_hits if self.substring_hits is None else self.substring_hits

    @property
    def rejected_count(self) -> int:
        return int(self.rejected.sum())


@dataclass(frozen=True)
class EngineResult:
    """One engine over every pool asked for, plus the unlimited pool it is measured against."""

    engine: str
    block_size: int | None
    """Granularity of the hits (vLLM block, SGLang page, LMCache chunk); None for the study."""
    pools: tuple[EnginePool, ...]
    unlimited: EnginePool
    """The same engine with no eviction (the context length still applies): hits beyond a pool's
    hit that this one has were cached once and evicted by that pool."""
    extra: dict = field(default_factory=dict, compare=False)

    def evicted(self, pool: EnginePool, i: int) -> int:
        """Prefix tokens of request i the unlimited pool reuses and `pool` does not (evicted, or
        refused by the pool's shorter max length)."""
        return max(0, int(self.unlimited.prefix_hits[i]) - int(pool.prefix_hits[i]))
