"""Read -> tokenize -> analyze, as one call shared by the CLI and the explorer."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .engines.study import DEFAULT_CHUNK, DEFAULT_POOL_SIZES, DEFAULT_TOKENS_PER_GB, Analysis, analyze
from . import tokencache
from .model import Trace
from .formats import DEFAULT_TEMPLATE, FormatOptions
from .formats.loader import read_traces
from .reader import DEFAULT_MAX_LINE_MB
from .tokenizer import AUTO, DEFAULT_TOKENIZER, Tokenizer, load_tokenizer, tokenizer_for_model, tokenizer_for_models, tokenizer_note
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
    max_line_mb: float = DEFAULT_MAX_LINE_MB
    """A longer trace line is skipped unread."""
    format: str | None = None
    """Read every record as this format (core.formats.FORMATS); None detects each record's."""
    template: str = DEFAULT_TEMPLATE
    """Chat template that renders request bodies into prompt text."""
    hash_block_size: int | None = None
    """Block size of hashed files that do not say theirs."""

    @property
    def format_options(self) -> FormatOptions:
        return FormatOptions(self.format, self.template, self.hash_block_size)
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
    tokenizer_note: str = ""
    """Which tokenizer the trace's model implies when it is not the one used, or why auto
    picked what it did ("" when nothing is worth saying)."""


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


def load(path: str | Sequence[str], settings: Settings = Settings(), *, progress: Progress | None = None,
         cancel: threading.Event | None = None) -> Loaded:
    """Read the trace at `path` (a file, a folder, "-", or several of them), tokenize and analyze
    it. Raises TraceError, TokenizerError, ValueError (bad settings) or AnalysisCancelled."""
    auto = (settings.tokenizer or "").strip() == AUTO
    tokenizer = None if auto else load_tokenizer(settings.tokenizer)  # a bad name fails before the read
    trace = read_traces(path, settings.format_options,
                        progress=(lambda d, t: progress("read", d, t)) if progress else None, cancel=cancel,
                        max_line_mb=settings.max_line_mb)
    models = trace_models(trace)
    if trace.hashed:  # nothing to tokenize
        spec, note = DEFAULT_TOKENIZER, ""
        tokenizer = tokenizer or load_tokenizer(spec)
    elif auto:
        spec, note = tokenizer_for_models(models)
        tokenizer = load_tokenizer(spec)
    else:
        note = tokenizer_note(tokenizer.name, models)
    if note and not any(r.model for r in trace.requests) and models and models[0] == _name_model(trace):
        note += " (model taken from the file name)"
    # A single trace file tokenized before with the same tokenizer and reading options: its
    # tokens come from the on-disk cache (tokencache), else they go into it.
    key = None
    single = path[0] if isinstance(path, (list, tuple)) and len(path) == 1 else path
    if settings.cache and not trace.hashed and isinstance(single, (str, os.PathLike)) and os.path.isfile(single):
        path = single
        options = repr((settings.format, settings.template, settings.hash_block_size, settings.max_line_mb))
        key = tokencache.key_for(os.fsdecode(path), tokenizer, f"{settings.tokenizer or ''}\0{options}")
    tokens = tokencache.load(key, len(trace.requests)) if key else None
    if tokens is not None:
        if progress is not None:
            n = len(trace.requests)
            progress("tokenize", n, n, f"{tokens[0].total() + tokens[1].total():,} tokens (cached)")
    elif key:
        tokens = tokenize(trace, tokenizer, progress=progress, cancel=cancel)
        tokencache.save(key, *tokens)
    return analyze_trace(trace, tokenizer, settings, progress=progress, cancel=cancel, tokenizer_note=note,
                         tokens=tokens)


def trace_models(trace: Trace) -> list[str | None]:
    """The model of every request (from the record or its request body); when no record
    names one, the trace's file name if it starts with a known model ("gpt-5-mini-task1.jsonl")."""
    models = []
    for r in trace.requests:
        m = r.model
        if m is None and isinstance(r.input_doc, dict) and isinstance(r.input_doc.get("model"), str):
            m = r.input_doc["model"]
        models.append(m)
    if not any(models):
        stem = _name_model(trace)
        if tokenizer_for_model(stem) is not None:
            return [stem]
    return models


def _name_model(trace: Trace) -> str:
    return trace.name.split(".")[0].replace("_", "-")


def analyze_trace(trace: Trace, tokenizer: Tokenizer, settings: Settings, *,
                  progress: Progress | None = None, cancel: threading.Event | None = None,
                  tokenizer_note: str = "",
                  tokens: tuple[TokenStore, TokenStore] | None = None) -> Loaded:
    if trace.hashed:  # no text: the study model at block granularity (core.blockstudy)
        from .blockstudy import analyze_hashed

        analysis, inputs, outputs = analyze_hashed(
            trace, pool_sizes=settings.pool_sizes, tokens_per_gb=settings.tokens_per_gb,
            progress=(lambda d, t: progress("analyze", d, t)) if progress else None, cancel=cancel)
        return Loaded(trace, tokenizer, inputs, outputs, analysis, settings, "")
    inputs, outputs = tokens if tokens is not None else tokenize(trace, tokenizer, progress=progress, cancel=cancel)
    analysis = analyze(inputs, outputs, pool_sizes=settings.pool_sizes, chunk_size=settings.chunk_size,
                       tokens_per_gb=settings.tokens_per_gb,
                       progress=(lambda d, t: progress("analyze", d, t)) if progress else None,
                       cancel=cancel)
    return Loaded(trace, tokenizer, inputs, outputs, analysis, settings, tokenizer_note)

