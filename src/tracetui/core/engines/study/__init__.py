"""The `study` engine: the seed study's exact cache-reuse figures (see sweep.py)."""

from .sweep import analyze
from .results import (DEFAULT_CHUNK, DEFAULT_POOL_SIZES, DEFAULT_TOKENS_PER_GB, Analysis, AnalysisCancelled,
                      PoolResult, PoolSize, parse_pool_size)

__all__ = ["analyze", "Analysis", "AnalysisCancelled", "PoolResult", "PoolSize", "parse_pool_size",
           "DEFAULT_CHUNK", "DEFAULT_POOL_SIZES", "DEFAULT_TOKENS_PER_GB"]
