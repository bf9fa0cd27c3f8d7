"""Read -> tokenize -> analyze, as one call shared by the CLI and the explorer."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .engines.study import DEFAULT_CHUNK, DEFAULT_POOL_SIZES, DEFAULT_TOKENS_PER_GB, Analysis, analyze
from . import tokencache
from .model import Trace
from .reader import read_trace
from .tokenizer import Tokenizer, load_tokenizer
from .tokens import TokenStore, dtype_for, entry_stores

Progress = Callable[..., None]
"""progress(stage, done, total[, note]): stage "read" (bytes), "tokenize" (requests; the note
counts tokens) or "analyze" (pool sizes)."""


@dataclass(frozen=True)
class Settings:
    tokenizer: str | None = None
    pool_sizes: tuple[str, ...] = DEFAULT_POOL_SIZES
    chunk_size: int = DEFAULT_CHUNK
    tokens_per_gb: float = DEFAULT_TOKENS_PER_GB
    cache: bool = True
    """Read and write the on-disk token cache (tokencache)."""


@dataclass(frozen=True)
class Loaded:
    """A trace with its tokens and its analysis: what every view consumes."""

    trace: Trace
    tokenizer: Tokenizer
    inputs: TokenStore
    """Input tokens per request (store[i] is a read-only array), one flat array with `outputs`."""
    outputs: TokenStore
    analysis: Analysis
    settings: Settings


_SLICE_TEXTS = 1 << 16
_SLICE_CHARS = 1 << 23
"""Texts (characters) encoded per call: their arrays are packed into the flat store and
dropped, so that neither a million small arrays nor a second copy of all tokens exists."""


def _slices(reqs) -> list[tuple[int, int]]:
    out, lo, chars = [], 0, 0
    for i, r in enumerate(reqs):
        chars += len(r.input) + len(r.output)
        if chars >= _SLICE_CHARS or 2 * (i + 1 - lo) >= _SLICE_TEXTS:
            out.append((lo, i + 1))
            lo, chars = i + 1, 0
    if lo < len(reqs):
        out.append((lo, len(reqs)))
    return out


def tokenize(trace: Trace, tokenizer: Tokenizer, *, progress: Progress | None = None,
             cancel: threading.Event | None = None) -> tuple[TokenStore, TokenStore]:
    """Every input and output, as two TokenStores over one flat array (I_0 O_0 I_1 O_1 ...)."""
    reqs = trace.requests
    n = len(reqs)
    dtype = dtype_for(tokenizer.vocab_size)
    parts: list[np.ndarray] = []
    lengths = np.zeros(2 * n, dtype=np.int64)
    tokens = 0
    for lo, hi in _slices(reqs):
        texts: list[str] = []
        for r in reqs[lo:hi]:
            texts.append(r.input)
            texts.append(r.output)

        def cb(texts_done: int, texts_total: int, slice_tokens: int, lo: int = lo) -> None:
            if progress is not None:  # two texts (input, output) per request
                progress("tokenize", lo + texts_done // 2, n, f"{tokens + slice_tokens:,} tokens")

        toks = tokenizer.encode_batch(texts, progress=cb, cancel=cancel)
        lengths[2 * lo: 2 * hi] = [len(a) for a in toks]
        part = np.concatenate(toks).astype(dtype, copy=False) if toks else np.zeros(0, dtype)
        tokens += len(part)
        parts.append(part)
        del toks, texts
    if len(parts) == 1:
        flat = parts.pop()
    else:
        flat = np.concatenate(parts) if parts else np.zeros(0, dtype)
    del parts
    return entry_stores(flat, lengths[0::2], lengths[1::2])


def load(path: str, settings: Settings = Settings(), *, progress: Progress | None = None,
         cancel: threading.Event | None = None) -> Loaded:
    """Raises TraceError, TokenizerError, ValueError (bad settings) or AnalysisCancelled.

    With settings.cache, the tokens come from the on-disk token cache when this file was
    tokenized before with this tokenizer, and go into it otherwise."""
    tokenizer = load_tokenizer(settings.tokenizer)
    trace = read_trace(path, progress=(lambda d, t: progress("read", d, t)) if progress else None,
                       cancel=cancel)
    key = tokencache.key_for(os.fsdecode(path), tokenizer, settings.tokenizer) if settings.cache else None
    tokens = tokencache.load(key, len(trace.requests)) if key else None
    if tokens is not None:
        if progress is not None:
            n = len(trace.requests)
            progress("tokenize", n, n, f"{tokens[0].total() + tokens[1].total():,} tokens (cached)")
    else:
        tokens = tokenize(trace, tokenizer, progress=progress, cancel=cancel)
        if key:
            tokencache.save(key, *tokens)
    return analyze_trace(trace, tokenizer, settings, progress=progress, cancel=cancel, tokens=tokens)


def analyze_trace(trace: Trace, tokenizer: Tokenizer, settings: Settings, *,
                  progress: Progress | None = None, cancel: threading.Event | None = None,
                  tokens: tuple[TokenStore, TokenStore] | None = None) -> Loaded:
    inputs, outputs = tokens if tokens is not None else tokenize(trace, tokenizer, progress=progress, cancel=cancel)
    analysis = analyze(inputs, outputs, pool_sizes=settings.pool_sizes, chunk_size=settings.chunk_size,
                       tokens_per_gb=settings.tokens_per_gb,
                       progress=(lambda d, t: progress("analyze", d, t)) if progress else None,
                       cancel=cancel)
    return Loaded(trace, tokenizer, inputs, outputs, analysis, settings)
