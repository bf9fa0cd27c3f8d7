"""Read -> tokenize -> analyze, as one call shared by the CLI and the explorer."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .engine import DEFAULT_CHUNK, DEFAULT_POOL_SIZES, DEFAULT_TOKENS_PER_GB, Analysis, analyze
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


@dataclass(frozen=True)
class Loaded:
    """A trace with its tokens and its analysis: what every view consumes."""

    trace: Trace
    tokenizer: Tokenizer
    inputs: tuple[np.ndarray, ...]
    outputs: tuple[np.ndarray, ...]
    analysis: Analysis
    settings: Settings


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


def order_warning(trace: Trace) -> str | None:
    """One line when timestamps go back in file order (the replay follows the file, so the
    figures may not be those of the requests as they were sent), else None."""
    late, latest = [], None
    for r in trace.requests:
        if r.timestamp is None:
            continue
        if latest is not None and r.timestamp < latest:
            late.append(r.line)
        latest = r.timestamp if latest is None else max(latest, r.timestamp)
    if not late:
        return None
    n = "1 request has a timestamp" if len(late) == 1 else f"{len(late)} requests have timestamps"
    return f"{n} earlier than a line above (first: line {late[0]}); requests are replayed in file order"


def analyze_trace(trace: Trace, tokenizer: Tokenizer, settings: Settings, *,
                  progress: Progress | None = None, cancel: threading.Event | None = None) -> Loaded:
    late = order_warning(trace)
    if late is not None and late not in trace.warnings:
        trace = dataclasses.replace(trace, warnings=trace.warnings + (late,))
    inputs, outputs = tokenize(trace, tokenizer, progress=progress, cancel=cancel)
    analysis = analyze(inputs, outputs, pool_sizes=settings.pool_sizes, chunk_size=settings.chunk_size,
                       tokens_per_gb=settings.tokens_per_gb,
                       progress=(lambda d, t: progress("analyze", d, t)) if progress else None,
                       cancel=cancel)
    return Loaded(trace, tokenizer, inputs, outputs, analysis, settings)

