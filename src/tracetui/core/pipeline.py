"""Read -> tokenize -> analyze, as one call shared by the CLI and the explorer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .engine import DEFAULT_CHUNK, DEFAULT_POOL_SIZES, DEFAULT_TOKENS_PER_GB, Analysis, analyze
from .model import Trace
from .formats import DEFAULT_TEMPLATE, FormatOptions
from .formats.loader import read_traces
from .tokenizer import AUTO, DEFAULT_TOKENIZER, Tokenizer, load_tokenizer, tokenizer_for_model, tokenizer_for_models, tokenizer_note

Progress = Callable[..., None]
"""progress(stage, done, total[, note]): stage "read" (bytes), "tokenize" (requests; the note
counts tokens) or "analyze" (pool sizes)."""


@dataclass(frozen=True)
class Settings:
    tokenizer: str | None = None
    pool_sizes: tuple[str, ...] = DEFAULT_POOL_SIZES
    chunk_size: int = DEFAULT_CHUNK
    tokens_per_gb: float = DEFAULT_TOKENS_PER_GB
    format: str | None = None
    """Read every record as this format (core.formats.FORMATS); None detects each record's."""
    template: str = DEFAULT_TEMPLATE
    """Chat template that renders request bodies into prompt text."""
    hash_block_size: int | None = None
    """Block size of hashed files that do not say theirs."""

    @property
    def format_options(self) -> FormatOptions:
        return FormatOptions(self.format, self.template, self.hash_block_size)


@dataclass(frozen=True)
class Loaded:
    """A trace with its tokens and its analysis: what every view consumes."""

    trace: Trace
    tokenizer: Tokenizer
    inputs: tuple[np.ndarray, ...]
    outputs: tuple[np.ndarray, ...]
    analysis: Analysis
    settings: Settings
    tokenizer_note: str = ""
    """Which tokenizer the trace's model implies when it is not the one used, or why auto
    picked what it did ("" when nothing is worth saying)."""


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


def load(path: str | Sequence[str], settings: Settings = Settings(), *, progress: Progress | None = None,
         cancel: threading.Event | None = None) -> Loaded:
    """Read the trace at `path` (a file, a folder, "-", or several of them), tokenize and analyze
    it. Raises TraceError, TokenizerError, ValueError (bad settings) or AnalysisCancelled."""
    auto = (settings.tokenizer or "").strip() == AUTO
    tokenizer = None if auto else load_tokenizer(settings.tokenizer)  # a bad name fails before the read
    trace = read_traces(path, settings.format_options,
                        progress=(lambda d, t: progress("read", d, t)) if progress else None, cancel=cancel)
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
    return analyze_trace(trace, tokenizer, settings, progress=progress, cancel=cancel, tokenizer_note=note)


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
                  tokenizer_note: str = "") -> Loaded:
    if trace.hashed:  # no text: the study model at block granularity (core.blockstudy)
        from .blockstudy import analyze_hashed

        analysis, inputs, outputs = analyze_hashed(
            trace, pool_sizes=settings.pool_sizes, tokens_per_gb=settings.tokens_per_gb,
            progress=(lambda d, t: progress("analyze", d, t)) if progress else None, cancel=cancel)
        return Loaded(trace, tokenizer, inputs, outputs, analysis, settings, "")
    inputs, outputs = tokenize(trace, tokenizer, progress=progress, cancel=cancel)
    analysis = analyze(inputs, outputs, pool_sizes=settings.pool_sizes, chunk_size=settings.chunk_size,
                       tokens_per_gb=settings.tokens_per_gb,
                       progress=(lambda d, t: progress("analyze", d, t)) if progress else None,
                       cancel=cancel)
    return Loaded(trace, tokenizer, inputs, outputs, analysis, settings, tokenizer_note)

