"""The entry point: replay a trace for every pool size.

Definitions (the seed study's, with its oversize-entry bug fixed):

The trace is replayed in file order. Request i has input tokens I_i and output tokens O_i;
after it is served the pool holds E_i = I_i + O_i as one entry.

- prefix hit_i: the longest common prefix of I_i with any entry in the pool (0 when empty).
- substring hit_i: C x the number of whole chunks of I_i (offsets 0, C, 2C, ...) that occur
  contiguously at any offset inside some pool entry.
- The pool has a capacity in tokens (None: unlimited). LRU over whole entries: before an entry
  is stored, least-recently-used entries are evicted until it fits; an entry longer than the
  whole pool is cut to its first `capacity` tokens. In the prefix replay the entry that gave
  the longest match (first in LRU order on ties) is touched when the hit is > 0; in the
  substring replay, the entry with the most (window, chunk) equal pairs (first in LRU order on
  ties). The two replays use separate pools.

What does not depend on the pool size is computed once (index.Index). What a pool size
changes is replayed only where it can change anything:

- Pools that hold the whole trace are the unlimited pool.
- A smaller pool is the unlimited pool until its first store that evicts or cuts: its
  replays start there, from the unlimited replays' LRU order at that request.
- Once any two consecutive entries overflow a pool, a pool holding just the previous entry
  keeps doing so: from there (for the smallest pools, from the start) the hits follow from
  the LCP with the previous entry, without a replay.
- A substring replay only decides touches and evictions; which chunks hit is settled for
  all requests and pools at once from the eviction times (settle).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from ...tokens import entries_view, release_freed_memory
from .index import Index
from .prefix import chains, replay_bounds, replay_prefix, single_entry_fill
from .results import (DEFAULT_CHUNK, DEFAULT_POOL_SIZES, DEFAULT_TOKENS_PER_GB, Analysis, AnalysisCancelled,
                      PoolResult, PoolSize, frozen, parse_pool_size)
from .settle import combined, settle_substring, settle_unlimited
from .substring import replay_substring, scoring


def entries_of(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(I_0 O_0 I_1 O_1 ... as one flat array, input lengths, output lengths). Token stores
    laid out that way already (pipeline.tokenize's) give their flat array, not a copy."""
    flat = entries_view(inputs, outputs)
    if flat is not None:
        return flat, inputs.lengths, outputs.lengths
    n = len(inputs)
    in_len = np.fromiter((len(a) for a in inputs), dtype=np.int64, count=n)
    out_len = np.fromiter((len(a) for a in outputs), dtype=np.int64, count=n)
    parts: list[np.ndarray] = []
    for a, b in zip(inputs, outputs):
        parts.append(np.asarray(a))
        parts.append(np.asarray(b))
    tok = np.concatenate(parts).astype(np.uint32, copy=False) if parts else np.zeros(0, np.uint32)
    return tok, in_len, out_len


def analyze(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], *,
            pool_sizes: Sequence[str | float | None] = DEFAULT_POOL_SIZES,
            chunk_size: int = DEFAULT_CHUNK, tokens_per_gb: float = DEFAULT_TOKENS_PER_GB,
            progress: Callable[[int, int], None] | None = None,
            cancel: threading.Event | None = None) -> Analysis:
    """Replay the trace for every pool size; `progress(done, total)` counts the steps (the
    unlimited replay, one per smaller pool, then settling their substring hits)."""
    if chunk_size < 1:
        raise ValueError("chunk size must be >= 1")
    if len(inputs) != len(outputs):
        raise ValueError("inputs and outputs differ in length")
    sizes = [parse_pool_size(s, tokens_per_gb) for s in pool_sizes]
    tok, in_len, out_len = entries_of(inputs, outputs)
    ix = Index(tok, in_len, out_len, chunk_size)
    total_input = int(ix.in_len.sum())
    total_stored = int(ix.ent_len.sum())

    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise AnalysisCancelled()

    # Pools that hold every entry are the unlimited pool: only the smaller ones are replayed.
    replayed = sorted({s.capacity for s in sizes if s.capacity is not None and s.capacity < total_stored})
    steps = 1 + len(replayed) + bool(replayed)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, steps)

    check()
    bounds = replay_bounds(ix, replayed)
    starts = {cap: start for cap, (start, tail) in bounds.items() if tail > 1}
    wanted = set(starts.values())
    release_freed_memory()  # the index's temporaries
    ch = chains(ix)
    u_hits, u_src, p_orders = replay_prefix(ix, ch, None, 0, [], wanted=wanted)
    unlimited = PoolResult(PoolSize(None, None, "∞"), frozen(u_hits), frozen(u_src), frozen(settle_unlimited(ix)),
                           total_input)
    tick()
    # All prefix replays first, then all substring replays: each replay's structures (the
    # chains, the scoring) are dropped before the next stage, settling included, needs memory.
    prefix: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    filled: dict[int, np.ndarray] = {}  # departures of the pools filled without replaying
    for cap in replayed:
        check()
        t0, tail = bounds[cap]
        if tail <= 1:
            p_hits, p_src, filled[cap] = single_entry_fill(ix, cap)
        else:
            p_hits, p_src, _ = replay_prefix(ix, ch, cap, t0, p_orders[t0].tolist(), u_hits, u_src, tail=tail)
        prefix[cap] = (p_hits, p_src)
    del ch, p_orders
    ix.release_prefix()  # the substring stage needs no prefix structure
    release_freed_memory()  # the replays' holes in the C heap, before the substring stage
    sc = None
    orders: dict[int, np.ndarray] = {}
    if starts:
        check()
        sc = scoring(ix)
        # The substring pool's LRU order where each bounded pool first overflows.
        orders = replay_substring(ix, None, 0, [], sc, wanted=wanted)[1]
    departures: dict[int, np.ndarray] = {}  # when each entry left each pool
    for cap in replayed:
        check()
        t0, tail = bounds[cap]
        if cap in filled:
            departures[cap] = filled.pop(cap)
        else:
            assert sc is not None  # every pool with tail > 1 is in `starts`
            departures[cap] = replay_substring(ix, cap, t0, orders[t0].tolist(), sc, tail=tail)[0]
        tick()
    del sc, orders
    ix.release_scoring()
    release_freed_memory()
    substring: dict[int, np.ndarray] = {}
    for cap in replayed:
        check()
        # Each pool's departures are dropped once settled.
        substring[cap] = settle_substring(ix, departures.pop(cap), cap)
    if replayed:
        tick()
    results: list[PoolResult] = []
    for size in sizes:
        if size.capacity in prefix:
            p_hits, p_src = prefix[size.capacity]
            results.append(PoolResult(size, frozen(p_hits), frozen(p_src), frozen(substring[size.capacity]),
                                      total_input))
        else:  # a pool that holds every entry never evicts nor cuts: it is the unlimited pool
            results.append(PoolResult(size, unlimited.prefix_hits, unlimited.prefix_source,
                                      unlimited.substring_hits, total_input))
    both = frozen(combined(ix, unlimited.prefix_hits))
    ix.release()
    return Analysis(chunk_size, tokens_per_gb, frozen(ix.in_len.copy()), frozen(ix.ent_len - ix.in_len),
                    tuple(results), unlimited, both, ix)
