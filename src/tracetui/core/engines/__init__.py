"""The cache models a trace can be replayed under, behind one interface.

`run_engine(name, ...)` -> EngineResult: per pool size, per request, the prefix hit, the
substring hit (None for engines that reuse only prefixes), whether the engine refused the
request, the pool's capacity in tokens and blocks; plus the engine's unlimited pool, which
tells what a pool lost to eviction.

- study: the LMCache agent-trace study's model (core/engine.py), the default;
- vllm: vLLM V1 automatic prefix caching;
- sglang: SGLang's RadixCache;
- lmcache: LMCache's chunk store; cacheblend: LMCache's CacheBlend.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import DEFAULT_CONTEXT_LENGTH, DEFAULT_RECOMPUTE, EnginePool, EngineResult, EngineSettings
from .study import PoolSize

# Each engine's module is imported when it runs: a command that replays one engine does not
# pay for the others' (their dataclasses and tables cost a few ms of every start each).
ENGINES = ("study", "vllm", "sglang", "lmcache", "cacheblend")
DEFAULT_ENGINE = "study"
PREFIX_ONLY = frozenset({"vllm", "sglang", "lmcache"})

__all__ = ["DEFAULT_CONTEXT_LENGTH", "DEFAULT_ENGINE", "DEFAULT_RECOMPUTE", "ENGINES", "EnginePool",
           "EngineResult", "EngineSettings", "PREFIX_ONLY", "run_engine"]


def run_engine(name: str, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray],
               sizes: Sequence[PoolSize], settings: EngineSettings = EngineSettings(), *,
               segments: Sequence[Sequence[int]] | None = None) -> EngineResult:
    """A real engine's replay (the study's runs through study.run, which also gives its Analysis).
    `segments`: CacheBlend's segment starts per prompt (token offsets)."""
    if name == "vllm":
        from . import vllm

        return vllm.run(inputs, outputs, sizes, settings)
    if name == "sglang":
        from . import sglang

        return sglang.run(inputs, outputs, sizes, settings)
    if name == "lmcache":
        from . import lmcache

        return lmcache.run(inputs, outputs, sizes, settings)
    if name == "cacheblend":
        from . import cacheblend

        return cacheblend.run(inputs, outputs, sizes, settings, segments)
    raise ValueError(f"unknown engine {name!r}: one of {', '.join(ENGINES)}")
