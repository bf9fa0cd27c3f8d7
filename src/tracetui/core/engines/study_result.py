"""The LMCache agent-trace study's model (core/engines/study), behind the engines' interface.

This is the one place the engines package imports core/engine.py: repoint it here when that
module moves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import ROUND_CEILING, Context, Decimal

import numpy as np

from .study import Analysis, AnalysisCancelled, PoolSize, analyze, parse_pool_size
from .base import EnginePool, EngineResult, frozen

NAME = "study"

__all__ = ["Analysis", "AnalysisCancelled", "PoolSize", "analyze", "parse_pool_size", "gb_text", "run"]


def gb_text(size: PoolSize, tokens_per_gb: float) -> str | None:
    """A GB figure that the study's parse_pool_size floors back to `size.capacity` tokens."""
    if size.capacity is None:
        return None
    ctx = Context(prec=40, rounding=ROUND_CEILING)
    return str(ctx.divide(Decimal(size.capacity), Decimal(str(tokens_per_gb))))


def run(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], sizes: Sequence[PoolSize], *,
        chunk_size: int, tokens_per_gb: float, progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None) -> tuple[Analysis, EngineResult]:
    """The study's Analysis (every view of it unchanged) and the same figures as an EngineResult."""
    specs = [s.label if s.capacity is None or parse_pool_size(s.label, tokens_per_gb) == s
             else gb_text(s, tokens_per_gb) for s in sizes]
    a = analyze(inputs, outputs, pool_sizes=specs, chunk_size=chunk_size, tokens_per_gb=tokens_per_gb,
                progress=progress, cancel=cancel)
    if specs != [s.label for s in sizes]:  # pools given in tokens: their labels, not the GB figure behind
        a = replace(a, pools=tuple(replace(p, size=s) for p, s in zip(a.pools, sizes)))
    return a, result_of(a, sizes)


def result_of(a: Analysis, sizes: Sequence[PoolSize] | None = None) -> EngineResult:
    no = frozen(np.zeros(a.requests, dtype=bool))

    def pool(p, size) -> EnginePool:
        return EnginePool(size, None, p.prefix_hits, p.substring_hits, no, a.input_tokens)

    sizes = sizes or [p.size for p in a.pools]
    pools = tuple(pool(p, s) for p, s in zip(a.pools, sizes))
    return EngineResult(NAME, None, pools, pool(a.unlimited, a.unlimited.size))
