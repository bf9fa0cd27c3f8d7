"""The explorer's engine state: which engine and pool size it shows, and every engine computed.

`e` cycles the engines that can read the trace (core.pipeline.engines_for), each computed
once (in a worker of the app, through `compute`) with the trace's tokens and settings and
kept; a pool key cycles the pools of the sweep (∞ first, today's view, then smaller and
smaller). Everything the views draw for the active (engine, pool) is computed here, without
a terminal: the request list's figures, the header's rates, each prompt token's class
(prefix hit, substring hit, miss, evicted) and the engine's block grid for `t`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from .document import EVICTED, MISS, PREFIX, SUBSTRING
from .engines import ENGINES, EnginePool, EngineResult
from .engines.study import PoolSize
from .pipeline import Loaded, engine_result, engines_for

UNLIMITED = PoolSize(None, None, "∞")

REUSE_LABEL = {"study": "substring", "cacheblend": "reuse"}
"""What an engine's curve counts: the reuse beyond the prefix where it has one, else the prefix."""


@dataclass(frozen=True, slots=True)
class Figures:
    """One request under the active engine and pool."""

    prefix: int
    substring: int | None
    """Tokens reused in all (the prefix included) for engines that reuse beyond it, else None."""
    reuse: int
    """What the request list's bar fills: prefix plus what is reused beyond it."""
    rejected: bool


def pool_choices(sizes) -> tuple[PoolSize, ...]:
    """The pools the pool key cycles: ∞ first (the default), then the bounded ones of the sweep
    from the largest down (one each: two GB figures can floor to one capacity)."""
    seen, bounded = set(), []
    for s in sorted((s for s in sizes if s.capacity is not None), key=lambda s: -s.capacity):
        if s.capacity not in seen:
            seen.add(s.capacity)
            bounded.append(s)
    return (UNLIMITED, *bounded)


def pool_of(result: EngineResult, size: PoolSize) -> EnginePool:
    """`result`'s pool of `size` (the unlimited one for ∞)."""
    if size.capacity is None:
        return result.unlimited
    for p in result.pools:
        if p.size.capacity == size.capacity:
            return p
    raise KeyError(f"{result.engine} has no pool of {size.capacity} tokens")


def span_mask(spans, n: int) -> np.ndarray:
    """Token ranges [(start, end), ...] as a mask over n tokens."""
    m = np.zeros(n, dtype=bool)
    for a, b in spans:
        m[max(0, a):min(n, b)] = True
    return m


def classes_of(loaded: Loaded, result: EngineResult, pool: EnginePool, i: int) -> np.ndarray:
    """Per input token of request i: PREFIX, SUBSTRING, MISS or EVICTED under `result` at `pool`.

    - study: today's classes (prefix hit of the pool; chunks seen in any earlier entry, as the
      unlimited pool finds them); the prefix the unlimited pool reuses beyond the pool's: evicted.
    - cacheblend: its reused spans at the pool (beyond the prefix: substring), and what its
      unlimited pool reuses that this one does not: evicted.
    - prefix engines: the pool's prefix hit, and the unlimited pool's beyond it: evicted.
    A request the pool rejects reuses nothing, and loses nothing to eviction: all misses.
    """
    n = int(loaded.lengths.input_lens[i])
    u = result.unlimited
    if pool.rejected[i]:
        return np.zeros(n, dtype=np.uint8)
    p, up = int(pool.prefix_hits[i]), int(u.prefix_hits[i])
    if result.engine == "study":
        cls = loaded.analysis.token_classes(i).copy()  # [0, unlimited prefix) PREFIX
        cls[p:up] = EVICTED
        return cls
    cls = np.full(n, MISS, dtype=np.uint8)
    if pool.spans is not None:
        here = span_mask(pool.spans[i], n)
        gone = span_mask(u.spans[i], n) & ~here if not u.rejected[i] else np.zeros(n, bool)
        cls[here] = SUBSTRING
        cls[gone] = EVICTED
        cls[:p] = PREFIX
        return cls
    cls[:p] = PREFIX
    if not u.rejected[i]:
        cls[p:up] = EVICTED
    return cls


def block_classes(loaded: Loaded, result: EngineResult, pool: EnginePool, i: int) -> np.ndarray:
    """A hashed request's classes per block id (core.blockdoc): the token classes of its blocks.
    The study's "seen elsewhere" is a full block seen in an earlier entry (unlimited pool)."""
    h = loaded.trace.requests[i].hashed
    b = loaded.trace.block_size
    n, full = len(h.block_ids), min(h.full_blocks, len(h.block_ids))
    cls = np.full(n, MISS, dtype=np.uint8)
    if pool.rejected[i]:
        return cls
    p, up = int(pool.prefix_hits[i]) // b, int(result.unlimited.prefix_hits[i]) // b
    if result.engine == "study":
        m = np.asarray(loaded.analysis.chunk_matched(i)[:full], dtype=bool)
        cls[: len(m)][m] = SUBSTRING
    cls[: min(up, n)] = EVICTED
    cls[: min(p, n)] = PREFIX
    return cls


def block_grid(loaded: Loaded, result: EngineResult, i: int) -> tuple[int, np.ndarray] | None:
    """The engine's block grid over request i's tokens (input then output) for `t`: (block
    size, ordinal of each token's block), or None when the engine has no blocks (the study,
    SGLang with pages of 1). vLLM's blocks run on through the output (it caches prompt and
    output); LMCache stores only the prompt's chunks; CacheBlend's chunks start again at each
    segment (message) start."""
    b = result.block_size
    if not b or b <= 1:
        return None
    n_in, n_out = int(loaded.lengths.input_lens[i]), int(loaded.lengths.output_lens[i])
    if result.engine == "vllm":
        return b, np.arange(n_in + n_out, dtype=np.int64) // b
    grid = np.zeros(n_in + n_out, dtype=np.int64)
    starts = [0]
    if result.engine == "cacheblend" and n_in:
        from .engines.cacheblend import segment_starts

        one = SimpleNamespace(requests=[loaded.trace.requests[i]])
        starts = segment_starts(one, [loaded.inputs[i]], loaded.tokenizer)[0]
    base = 0
    for a, z in zip(starts, list(starts[1:]) + [n_in]):
        grid[a:z] = base + np.arange(z - a) // b
        base = int(grid[z - 1]) + 1 if z > a else base
    grid[n_in:] = -1  # the output: not stored, no grid
    return b, grid


class EngineState:
    """Which engine and pool the explorer shows, and the engines computed so far (thread-safe:
    `compute` runs in a worker while the UI reads the active one)."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.available: tuple[str, ...] = engines_for(loaded.trace)
        """The engines that can read the trace, in ENGINES order."""
        self._results: dict[str, EngineResult] = {r.engine: r for r in loaded.results}
        self._lock = threading.Lock()
        self.active: str = loaded.results[0].engine if loaded.results else "study"
        for name in {self.active, "study"} - set(self._results):
            # The study's figures come with the load (its Analysis): nothing to replay.
            self._results[name] = engine_result(loaded, name)
        self.pools = pool_choices(loaded.settings.sizes())
        self.pool_index = 0
        self.version = 0
        """Grows at every switch: documents drawn for an older version are stale."""

    # ---- engines

    @property
    def computed(self) -> tuple[str, ...]:
        """The engines computed so far, in ENGINES order."""
        with self._lock:
            return tuple(n for n in ENGINES if n in self._results)

    def is_computed(self, name: str) -> bool:
        with self._lock:
            return name in self._results

    def next_engine(self, after: str | None = None) -> str:
        """The engine `e` switches to: the next one that can read the trace after `after` (the
        active one by default)."""
        after = after or self.active
        order = self.available or (after,)
        k = order.index(after) if after in order else -1
        return order[(k + 1) % len(order)]

    def compute(self, name: str) -> EngineResult:
        """Engine `name` with the trace's settings, kept once computed (slow: call it in a worker).
        Raises ValueError when it cannot read the trace."""
        with self._lock:
            got = self._results.get(name)
        if got is not None:
            return got
        result = engine_result(self.loaded, name)
        with self._lock:
            return self._results.setdefault(name, result)

    def activate(self, name: str) -> None:
        """Show engine `name` (computed before)."""
        with self._lock:
            if name not in self._results:
                raise KeyError(f"{name} is not computed")
        self.active = name
        self.version += 1

    def result(self, name: str | None = None) -> EngineResult:
        with self._lock:
            return self._results[name or self.active]

    def results(self) -> tuple[EngineResult, ...]:
        """Every engine computed, in ENGINES order (the curves screen draws each)."""
        with self._lock:
            return tuple(self._results[n] for n in ENGINES if n in self._results)

    # ---- pools

    @property
    def pool_size(self) -> PoolSize:
        return self.pools[self.pool_index]

    def cycle_pool(self, step: int = 1) -> PoolSize:
        self.pool_index = (self.pool_index + step) % len(self.pools)
        self.version += 1
        return self.pool_size

    def pool(self, name: str | None = None) -> EnginePool:
        return pool_of(self.result(name), self.pool_size)

    @property
    def bounded(self) -> bool:
        return self.pool_size.capacity is not None

    @property
    def is_default(self) -> bool:
        """Today's view: the study's model, unlimited pool, nothing else computed (the header and
        the list then draw exactly what they drew before engines existed)."""
        return self.active == "study" and not self.bounded and self.computed == ("study",)

    # ---- what the views draw

    def figures(self, i: int) -> Figures:
        """Request i under the active engine and pool."""
        pool = self.pool()
        if pool.rejected[i]:
            return Figures(0, None if pool.substring_hits is None else 0, 0, True)
        p = int(pool.prefix_hits[i])
        if self.active == "study" and not self.bounded:  # today's row: the bar shows prefix ∪ chunks
            return Figures(p, int(pool.substring_hits[i]), int(self.loaded.analysis.combined_hits[i]), False)
        s = None if pool.substring_hits is None else int(pool.substring_hits[i])
        return Figures(p, s, max(p, s or 0), False)

    def cause(self, i: int, cause: str) -> str:
        """Why request i's prefix stopped under the active engine and pool: "rejected" (the pool
        refused it), "evicted" (its unlimited pool reuses more), else the diagnosis' `cause`."""
        pool = self.pool()
        if pool.rejected[i]:
            return "rejected"
        if self.bounded and int(pool.prefix_hits[i]) < int(self.result().unlimited.prefix_hits[i]):
            return "evicted"
        return cause

    def token_classes(self, i: int) -> np.ndarray:
        r = self.result()
        return classes_of(self.loaded, r, pool_of(r, self.pool_size), i)

    def block_classes(self, i: int) -> np.ndarray:
        r = self.result()
        return block_classes(self.loaded, r, pool_of(r, self.pool_size), i)

    def prefix_hit(self, i: int) -> int:
        """Where the active pool's prefix hit ends (the break marker), 0 when rejected."""
        pool = self.pool()
        return 0 if pool.rejected[i] else int(pool.prefix_hits[i])

    def block_grid(self, i: int) -> tuple[int, np.ndarray] | None:
        return block_grid(self.loaded, self.result(), i)

    @property
    def reuses_beyond_prefix(self) -> bool:
        """The active engine has substring hits (the study, CacheBlend)."""
        return self.pool().substring_hits is not None

    def summary(self) -> tuple[str, float, float | None, int]:
        """(engine, prefix rate, substring rate or None, rejected requests) at the active pool."""
        pool = self.pool()
        return self.active, pool.prefix_rate, pool.substring_rate, pool.rejected_count

    def curves(self) -> list[tuple[str, list[tuple[PoolSize, float]]]]:
        """Per computed engine: (label, [(pool size, hit rate) for every pool of the sweep]),
        the hit rate being its reuse beyond the prefix where it has one, else its prefix."""
        out = []
        for r in self.results():
            points = []
            for s in self.pools[1:][::-1] + self.pools[:1]:
                p = pool_of(r, s)
                points.append((s, p.substring_rate if p.substring_rate is not None else p.prefix_rate))
            out.append((f"{r.engine} {REUSE_LABEL.get(r.engine, 'prefix')}", points))
        return out
