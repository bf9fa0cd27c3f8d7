"""Read -> tokenize -> analyze, as one call shared by the CLI and the explorer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .engine import DEFAULT_CHUNK, DEFAULT_POOL_SIZES, DEFAULT_TOKENS_PER_GB, Analysis
from .engines import DEFAULT_CONTEXT_LENGTH, DEFAULT_RECOMPUTE, EngineResult, EngineSettings, run_engine
from .engines import cacheblend, study
from .engines.study import PoolSize, parse_pool_size
from .model import Trace
from .reader import read_trace
from .tokenizer import Tokenizer, load_tokenizer

Progress = Callable[..., None]
"""progress(stage, done, total[, note]): stage "read" (bytes), "tokenize" (requests; the note
counts tokens) or "analyze" (pool sizes)."""


@dataclass(frozen=True)
class Settings:
    tokenizer: str | None = None
    pool_sizes: tuple[str, ...] = DEFAULT_POOL_SIZES
    chunk_size: int = DEFAULT_CHUNK
    tokens_per_gb: float = DEFAULT_TOKENS_PER_GB
    engines: tuple[str, ...] = ("study",)
    pool_tokens: tuple[str, ...] | None = None
    """Pool sizes in tokens ('unlimited' too); replaces pool_sizes when given."""
    context_length: int = DEFAULT_CONTEXT_LENGTH
    block_size: int | None = None
    page_size: int = 1
    recompute: float = DEFAULT_RECOMPUTE

    def sizes(self) -> tuple[PoolSize, ...]:
        """The pools asked for, in tokens (from GB, or as given by pool_tokens)."""
        if self.pool_tokens is None:
            return tuple(parse_pool_size(s, self.tokens_per_gb) for s in self.pool_sizes)
        return tuple(pool_in_tokens(t, self.tokens_per_gb) for t in self.pool_tokens)

    def engine_settings(self) -> EngineSettings:
        return EngineSettings(self.context_length, self.block_size, self.page_size, self.recompute)


def pool_in_tokens(text: str, tokens_per_gb: float) -> PoolSize:
    """'65536' -> a pool of 65536 tokens; 'unlimited' -> unlimited. Raises ValueError."""
    t = str(text).strip().lower()
    if t in ("unlimited", "inf", "∞"):
        return PoolSize(None, None, "∞")
    try:
        n = int(t.replace("_", "").replace(",", ""))
    except ValueError:
        raise ValueError(f"invalid pool size {text!r}: a whole number of tokens or 'unlimited'") from None
    if n < 0 or n >= 1 << 62:
        raise ValueError(f"invalid pool size {text!r}: a number of tokens >= 0 (or 'unlimited')")
    gb = n / tokens_per_gb
    return PoolSize(gb, n, f"{gb:.4g}")


@dataclass(frozen=True)
class Loaded:
    """A trace with its tokens and its analysis: what every view consumes."""

    trace: Trace
    tokenizer: Tokenizer
    inputs: tuple[np.ndarray, ...]
    outputs: tuple[np.ndarray, ...]
    analysis: Analysis
    """The study's model (the default engine), which the explorer and --why read."""
    settings: Settings
    results: tuple[EngineResult, ...] = ()
    """One per engine of settings.engines, in that order."""

    def result(self, engine: str | None = None) -> EngineResult:
        """The result of `engine` (default: the first asked for)."""
        for r in self.results:
            if engine is None or r.engine == engine:
                return r
        return study.result_of(self.analysis, self.settings.sizes())


def tokenize(trace: Trace, tokenizer: Tokenizer, *, progress: Progress | None = None,
             cancel: threading.Event | None = None) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    texts: list[str] = []
    for r in trace.requests:
        texts.append(r.input)
        texts.append(r.output)
    def cb(texts_done: int, texts_total: int, tokens: int) -> None:
        if progress is not None:  # two texts (input, output) per request
            progress("tokenize", texts_done // 2, texts_total // 2, f"{tokens:,} tokens")

    toks = tokenizer.encode_batch(texts, progress=cb, cancel=cancel)
    for a in toks:
        a.flags.writeable = False
    return tuple(toks[0::2]), tuple(toks[1::2])


def load(path: str, settings: Settings = Settings(), *, progress: Progress | None = None,
         cancel: threading.Event | None = None) -> Loaded:
    """Raises TraceError, TokenizerError, ValueError (bad settings) or AnalysisCancelled."""
    tokenizer = load_tokenizer(settings.tokenizer)
    trace = read_trace(path, progress=(lambda d, t: progress("read", d, t)) if progress else None,
                       cancel=cancel)
    return analyze_trace(trace, tokenizer, settings, progress=progress, cancel=cancel)


def analyze_trace(trace: Trace, tokenizer: Tokenizer, settings: Settings, *,
                  progress: Progress | None = None, cancel: threading.Event | None = None) -> Loaded:
    inputs, outputs = tokenize(trace, tokenizer, progress=progress, cancel=cancel)
    sizes = settings.sizes()
    analysis, study_result = study.run(inputs, outputs, sizes, chunk_size=settings.chunk_size,
                                       tokens_per_gb=settings.tokens_per_gb,
                                       progress=(lambda d, t: progress("analyze", d, t)) if progress else None,
                                       cancel=cancel)
    results = []
    for name in settings.engines:
        if cancel is not None and cancel.is_set():
            raise study.AnalysisCancelled()
        if name == "study":
            results.append(study_result)
            continue
        segments = cacheblend.segment_starts(trace, inputs, tokenizer) if name == "cacheblend" else None
        results.append(run_engine(name, inputs, outputs, sizes, settings.engine_settings(), segments=segments))
    return Loaded(trace, tokenizer, inputs, outputs, analysis, settings, tuple(results))
