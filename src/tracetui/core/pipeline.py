"""Read -> tokenize -> analyze, as one call shared by the CLI and the explorer."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .engines.study import DEFAULT_CHUNK, DEFAULT_POOL_SIZES, DEFAULT_TOKENS_PER_GB, Analysis
from .engines import DEFAULT_CONTEXT_LENGTH, DEFAULT_RECOMPUTE, EngineResult, EngineSettings, run_engine
from .engines import study_result as study
from .engines.study import PoolSize, parse_pool_size
from .engines.study.results import Sizes, frozen
from . import tokencache
from .display import display_text
from .model import Trace
from .once import Once
from .formats import DEFAULT_TEMPLATE, FormatOptions
from .formats.loader import read_traces
from .reader import DEFAULT_MAX_LINE_MB
from .tokenizer import (AUTO, DEFAULT_TOKENIZER, Tokenizer, load_tokenizer, tokenize_threads, tokenizer_for_model,
                        tokenizer_for_models, tokenizer_note)
from .tokens import TokenStore, dtype_for, entry_stores, release_freed_memory

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
    engines: tuple[str, ...] = ("study",)
    pool_tokens: tuple[str, ...] | None = None
    """Pool sizes in tokens ('unlimited' too); replaces pool_sizes when given."""
    context_length: int = DEFAULT_CONTEXT_LENGTH
    block_size: int | None = None
    page_size: int = 1
    recompute: float = DEFAULT_RECOMPUTE
    cache: bool = True
    """Read and write the on-disk token cache (tokencache)."""

    @property
    def format_options(self) -> FormatOptions:
        return FormatOptions(self.format, self.template, self.hash_block_size)

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
class Lengths(Sizes):
    """What the views read of a trace's size without the study: the same names and values as
    the study's Analysis has them (a view that reads only these never runs the study)."""

    chunk_size: int
    input_lens: np.ndarray
    output_lens: np.ndarray


StudyCompute = Callable[[Progress | None, threading.Event | None], Analysis]
"""compute(progress, cancel): the study's Analysis of a loaded trace (its whole sweep)."""


@dataclass(frozen=True, eq=False)
class Loaded:
    """A trace with its tokens, its engines' results and (computed when first read) the
    study's analysis: what every view consumes."""

    trace: Trace
    tokenizer: Tokenizer
    inputs: TokenStore
    """Input tokens per request (store[i] is a read-only array), one flat array with `outputs`."""
    outputs: TokenStore
    compute_study: StudyCompute
    """Computes the study's Analysis (see `study`); it is computed only if something reads it
    (`--engine vllm` shows none of its figures, and at scale its sweep costs seconds)."""
    settings: Settings
    tokenizer_note: str = ""
    """Which tokenizer the trace's model implies when it is not the one used, or why auto
    picked what it did ("" when nothing is worth saying)."""

    results: tuple[EngineResult, ...] = ()
    """One per engine of settings.engines, in that order."""
    _once: Once = field(default_factory=Once, init=False, repr=False)

    def study(self, progress: Progress | None = None, cancel: threading.Event | None = None) -> Analysis:
        """The study's Analysis, computed now if not yet (once, whichever thread asks first);
        `cancel` set stops it with AnalysisCancelled and keeps nothing (the explorer's loading
        worker passes its own, and its progress)."""
        return self._once.get("analysis", lambda: self.compute_study(progress, cancel))

    @property
    def analysis(self) -> Analysis:
        """The study's model (the default engine), which the explorer and --why read."""
        return self.study()

    @property
    def study_computed(self) -> bool:
        """Whether the Analysis was asked for already (never computes it)."""
        return "analysis" in self._once

    @property
    def lengths(self) -> Lengths:
        """Requests, input / output lengths and chunk size, as the Analysis has them."""
        return self._once.get("lengths", self._lengths)

    def _lengths(self) -> Lengths:
        t = self.trace
        if t.hashed:  # the tokens behind the blocks (inputs / outputs are block ids)
            reqs = [r.hashed for r in t.requests]
            return Lengths(t.block_size, frozen(np.array([h.input_length for h in reqs], dtype=np.int64)),
                           frozen(np.array([h.output_length for h in reqs], dtype=np.int64)))
        return Lengths(self.settings.chunk_size, self.inputs.lengths, self.outputs.lengths)

    def result(self, engine: str | None = None) -> EngineResult:
        """The result of `engine` (default: the first asked for)."""
        for r in self.results:
            if engine is None or r.engine == engine:
                return r
        return study.result_of(self.analysis, self.settings.sizes())


def _known(analysis: Analysis) -> StudyCompute:
    return lambda progress, cancel: analysis


_SLICE_TEXTS = 1 << 16
_SLICE_CHARS = 1 << 23
"""Texts (characters) encoded per call: their arrays are packed into the flat store and
dropped, so that neither a million small arrays nor a second copy of all tokens exists."""


def _slices(trace: Trace) -> tuple[list[tuple[int, int]], int]:
    """The slices of requests encoded per call, and the characters of them all (from the
    columns: no request is read for them)."""
    in_chars, out_chars = trace.requests.text_lengths()
    chars = (in_chars + out_chars).tolist()
    out, lo, acc = [], 0, 0
    for i, c in enumerate(chars):
        acc += c
        if acc >= _SLICE_CHARS or 2 * (i + 1 - lo) >= _SLICE_TEXTS:
            out.append((lo, i + 1))
            lo, acc = i + 1, 0
    if lo < len(chars):
        out.append((lo, len(chars)))
    return out, int(sum(chars))


def tokenize(trace: Trace, tokenizer: Tokenizer, *, progress: Progress | None = None,
             cancel: threading.Event | None = None) -> tuple[TokenStore, TokenStore]:
    """Every input and output, as two TokenStores over one flat array (I_0 O_0 I_1 O_1 ...)."""
    reqs = trace.requests
    n = len(reqs)
    dtype = dtype_for(tokenizer.vocab_size)
    slices, chars = _slices(trace)
    threads = tokenize_threads(chars, 2 * n)  # serial or threads, chosen once for the whole trace
    # The flat array grows slice by slice in place (realloc: for an array this size the pages
    # are remapped, not copied): a list of parts concatenated at the end held every token twice.
    flat = np.zeros(0, dtype)
    lengths = np.zeros(2 * n, dtype=np.int64)
    tokens = 0
    for lo, hi in slices:
        texts: list[str] = []
        for r in reqs[lo:hi]:  # read in file order, one slice at a time
            texts.append(r.input)
            texts.append(r.output)

        def cb(texts_done: int, texts_total: int, slice_tokens: int, lo: int = lo) -> None:
            if progress is not None:  # two texts (input, output) per request
                progress("tokenize", lo + texts_done // 2, n, f"{tokens + slice_tokens:,} tokens")

        toks = tokenizer.encode_batch(texts, progress=cb, cancel=cancel, threads=threads)
        del texts
        got = [len(a) for a in toks]
        lengths[2 * lo: 2 * hi] = got
        k = sum(got)
        if k:
            flat.resize(tokens + k, refcheck=False)
            np.concatenate(toks, out=flat[tokens:], casting="same_kind")
        tokens += k
        del toks
    release_freed_memory()  # what the tokenizer threads' arenas freed
    return entry_stores(flat, lengths[0::2], lengths[1::2])


def load(path: str | Sequence[str], settings: Settings = Settings(), *, progress: Progress | None = None,
         cancel: threading.Event | None = None, on_read: Callable[[Trace], None] | None = None) -> Loaded:
    """Read the trace at `path` (a file, a folder, "-", or several of them), tokenize and analyze
    it. Raises TraceError, TokenizerError, ValueError (bad settings) or AnalysisCancelled.
    `on_read(trace)` is called once the trace is read, before it is tokenized (the explorer
    lists the requests meanwhile)."""
    auto = (settings.tokenizer or "").strip() == AUTO
    tokenizer = None if auto else load_tokenizer(settings.tokenizer)  # a bad name fails before the read
    # A plain file read before with the same options: its index (the requests' columns)
    # comes from the cache and no line is read (core.formats.loader._Cached).
    # A single trace file tokenized before with the same tokenizer and reading options: its
    # tokens (and its analysis, see analyze_trace) come from the on-disk cache (tokencache),
    # else they go into it. The file is hashed once, as it is read, and its hash remembered
    # (core.filehash): a warm reopen reads none of it.
    single = path[0] if isinstance(path, (list, tuple)) and len(path) == 1 else path
    cacheable = settings.cache and isinstance(single, (str, os.PathLike)) and os.fsdecode(single) != "-" \
        and os.path.isfile(single)
    trace = read_traces(path, settings.format_options,
                        progress=(lambda d, t: progress("read", d, t)) if progress else None, cancel=cancel,
                        max_line_mb=settings.max_line_mb,
                        index_dir=tokencache.cache_dir() / "index" if settings.cache else None,
                        digest_dir=tokencache.digest_dir() if settings.cache else None)
    if on_read is not None:
        on_read(trace)
    models, from_name = trace_models(trace)
    if trace.hashed:  # nothing to tokenize
        spec, note = DEFAULT_TOKENIZER, ""
        tokenizer = tokenizer or load_tokenizer(spec)
    elif auto:
        spec, note = tokenizer_for_models(models)
        tokenizer = load_tokenizer(spec)
    else:
        note = tokenizer_note(tokenizer.name, models)
    if note and from_name:
        note += " (model taken from the file name)"
    key = None
    if cacheable and not trace.hashed:
        options = repr((settings.format, settings.template, settings.hash_block_size, settings.max_line_mb))
        key = tokencache.key_for(os.fsdecode(single), tokenizer, f"{settings.tokenizer or ''}\0{options}")
    tokens = tokencache.load(key, len(trace.requests)) if key else None
    if tokens is not None:
        if progress is not None:
            n = len(trace.requests)
            progress("tokenize", n, n, f"{tokens[0].total() + tokens[1].total():,} tokens (cached)")
    elif key:
        tokens = tokenize(trace, tokenizer, progress=progress, cancel=cancel)
        tokencache.save(key, *tokens)
    return analyze_trace(trace, tokenizer, settings, progress=progress, cancel=cancel, tokenizer_note=note,
                         tokens=tokens, cache_key=key)


def trace_models(trace: Trace) -> tuple[dict[str, int], bool]:
    """(requests per model (from the record or its request body), True when no record names
    one and the trace's file name starting with a known model ("gpt-5-mini-task1.jsonl")
    stands in for them)."""
    counts = trace.requests.body_model_counts()
    if not counts:
        stem = _name_model(trace)
        if tokenizer_for_model(stem) is not None:
            return {stem: len(trace.requests)}, True
    return counts, False


def _name_model(trace: Trace) -> str:
    return trace.name.split(".")[0].replace("_", "-")


HASHED_ENGINES = ("study", "vllm", "sglang", "lmcache")
"""The engines that read a hashed trace's block ids (as _hashed_result does; CacheBlend needs
the prompts' tokens and message boundaries)."""


def engines_for(trace: Trace) -> tuple[str, ...]:
    """The engines that can replay `trace`, in ENGINES order (the explorer's `e` cycles them)."""
    from .engines import ENGINES

    return tuple(n for n in ENGINES if not trace.hashed or n in HASHED_ENGINES)


def engine_result(loaded: Loaded, name: str) -> EngineResult:
    """Engine `name` over a loaded trace, with its settings (pools, block / page size, context
    length): what `analyze --engine NAME` computes. Raises ValueError when it cannot read it."""
    for r in loaded.results:
        if r.engine == name:
            return r
    trace, settings = loaded.trace, loaded.settings
    sizes = settings.sizes()
    if name == "study":
        return study.result_of(loaded.analysis, sizes)
    if trace.hashed:
        return _hashed_result(name, trace, sizes, settings)
    segments = _segment_starts(trace, loaded.inputs, loaded.tokenizer) if name == "cacheblend" else None
    return run_engine(name, loaded.inputs, loaded.outputs, sizes, settings.engine_settings(), segments=segments)


def _hashed_result(name: str, trace: Trace, sizes: tuple[PoolSize, ...], settings: Settings) -> EngineResult:
    """An engine other than the study on a hashed trace: the block engines' stage (b) reads
    its block ids as they are (ids chained, as the engines' own), at the trace's block size B
    or a multiple of it (a run of ids is one engine block); SGLang's page defaults to B."""
    if name == "cacheblend":
        raise ValueError("--engine cacheblend needs the prompts' tokens and message boundaries: a hashed trace "
                         "has only block ids (its block engines are vllm, sglang and lmcache)")
    if name not in ("vllm", "sglang", "lmcache"):
        raise ValueError(f"--engine {name} does not read a hashed trace (study, vllm, sglang and lmcache do)")
    b = trace.block_size
    option, size = ("--page-size", settings.page_size) if name == "sglang" else ("--block-size", settings.block_size)
    if size is None or (name == "sglang" and size == 1):  # not given (SGLang's default page is 1)
        size = b
    if size % b:
        raise ValueError(f"this hashed trace has blocks of {b} tokens: {option} must be a multiple of {b}, "
                         f"not {size} (an engine block that splits the trace's blocks would need their tokens)")
    from .engines import lmcache, sglang, vllm
    from .engines.blockids import BlockTrace, coarsen

    reqs = [r.hashed for r in trace.requests]
    bt = BlockTrace(b, tuple(np.asarray(h.block_ids[:h.full_blocks], dtype=np.int64) for h in reqs),
                    np.array([h.input_length for h in reqs], dtype=np.int64),
                    np.array([h.output_length for h in reqs], dtype=np.int64))
    engine = {"vllm": vllm, "sglang": sglang, "lmcache": lmcache}[name]
    return engine.run_blocks(coarsen(bt, size // b), sizes, settings.engine_settings())


def order_warning(trace: Trace) -> str | None:
    """One line when timestamps go back in file order (the replay follows the file, so the
    figures may not be those of the requests as they were sent), else None. A trace of several
    files is looked at file by file (each file its own clock: a folder of sessions each timed
    from 0 is in order), and the line names the file."""
    ts = trace.requests.timestamps()
    lines = trace.requests.lines()
    spans = [(name, a, b) for (name, a), (_, b) in zip(trace.files, [*trace.files[1:], ("", len(ts))])] \
        if trace.files else [("", 0, len(ts))]
    late, first = 0, ""
    for name, a, b in spans:
        known = a + np.flatnonzero(~np.isnan(ts[a:b]))
        t = ts[known]
        if len(t) < 2:
            continue
        late_at = known[1:][t[1:] < np.maximum.accumulate(t)[:-1]]
        if len(late_at) and not first:
            first = f"{display_text(name)} line {int(lines[late_at[0]])}" if name else f"line {int(lines[late_at[0]])}"
        late += len(late_at)
    if not late:
        return None
    n = "1 request has a timestamp" if late == 1 else f"{late} requests have timestamps"
    where = " in its file" if trace.files and late == 1 else " in their file" if trace.files else ""
    return f"{n} earlier than a line above{where} (first: {first}); requests are replayed in file order"


def analyze_trace(trace: Trace, tokenizer: Tokenizer, settings: Settings, *,
                  progress: Progress | None = None, cancel: threading.Event | None = None,
                  tokenizer_note: str = "",
                  tokens: tuple[TokenStore, TokenStore] | None = None, cache_key: str | None = None) -> Loaded:
    """Analyze a trace read and (when `tokens` are given) tokenized. With `cache_key` (the
    token cache's key of the trace) the figures come from the analysis cache when these
    settings were analysed before, else they go into it."""
    late = order_warning(trace)
    if late is not None and late not in trace.warnings:
        trace = dataclasses.replace(trace, warnings=trace.warnings + (late,))
    sizes = settings.sizes()
    # The study runs here only when it is one of the engines asked for; else the Analysis is
    # computed when a view first reads it (Loaded.study), and never for `--engine vllm`.
    eager = "study" in settings.engines
    if trace.hashed:  # no text: the study model at block granularity (core.blockstudy)
        from .blockstudy import analyze_hashed, block_sequences

        inputs, outputs = block_sequences(trace)

        def hashed_study(progress: Progress | None, cancel: threading.Event | None) -> Analysis:
            return analyze_hashed(
                trace, pool_sizes=tuple(study.gb_text(s, settings.tokens_per_gb) or "unlimited" for s in sizes)
                if settings.pool_tokens else settings.pool_sizes, tokens_per_gb=settings.tokens_per_gb,
                progress=(lambda d, t: progress("analyze", d, t)) if progress else None, cancel=cancel,
                sequences=(inputs, outputs))[0]

        analysis = hashed_study(progress, cancel) if eager else None
        compute = hashed_study if analysis is None else _known(analysis)
        results = tuple(study.result_of(analysis, sizes) if name == "study"
                        else _hashed_result(name, trace, sizes, settings) for name in settings.engines)
        return Loaded(trace, tokenizer, inputs, outputs, compute, settings, "", results)
    inputs, outputs = tokens if tokens is not None else tokenize(trace, tokenizer, progress=progress, cancel=cancel)
    akey = None
    if cache_key is not None:
        akey = tokencache.analysis_key(cache_key, repr((
            [(s.gb, s.capacity, s.label) for s in sizes], settings.chunk_size, settings.tokens_per_gb,
            settings.engines, settings.engine_settings())))
        cached = tokencache.load_analysis(akey, inputs, outputs)
        if cached is not None:
            if progress is not None:
                progress("analyze", 1, 1, "cached")
            analysis, results = cached
            compute = _known(analysis) if analysis is not None else _text_study(inputs, outputs, settings, akey,
                                                                              results)
            return Loaded(trace, tokenizer, inputs, outputs, compute, settings, tokenizer_note, results)
    analysis = None
    results = []
    for name in settings.engines:
        if cancel is not None and cancel.is_set():
            raise study.AnalysisCancelled()
        if name == "study":
            analysis = _study(inputs, outputs, settings, progress, cancel)
            results.append(study.result_of(analysis, sizes))
            continue
        segments = _segment_starts(trace, inputs, tokenizer) if name == "cacheblend" else None
        results.append(run_engine(name, inputs, outputs, sizes, settings.engine_settings(), segments=segments))
    results = tuple(results)
    if akey is not None:  # the engines' results, and the study's when it ran (else when it does)
        tokencache.save_analysis(akey, (inputs.lengths, outputs.lengths), analysis, results)
    compute = _known(analysis) if analysis is not None else _text_study(inputs, outputs, settings, akey, results)
    return Loaded(trace, tokenizer, inputs, outputs, compute, settings, tokenizer_note, results)


def _text_study(inputs: TokenStore, outputs: TokenStore, settings: Settings, akey: str | None,
                results: tuple[EngineResult, ...]) -> StudyCompute:
    """The study's sweep over a text trace, when first asked for; with the analysis cache's key
    the Analysis joins the engines' results there (a reopen reads it, computes nothing)."""

    def compute(progress: Progress | None, cancel: threading.Event | None) -> Analysis:
        analysis = _study(inputs, outputs, settings, progress, cancel)
        if akey is not None:
            tokencache.save_analysis(akey, (inputs.lengths, outputs.lengths), analysis, results)
        return analysis

    return compute


def _study(inputs: TokenStore, outputs: TokenStore, settings: Settings, progress: Progress | None,
           cancel: threading.Event | None) -> Analysis:
    """The study's sweep over a text trace."""
    analysis, _ = study.run(inputs, outputs, settings.sizes(), chunk_size=settings.chunk_size,
                            tokens_per_gb=settings.tokens_per_gb,
                            progress=(lambda d, t: progress("analyze", d, t)) if progress else None, cancel=cancel)
    return analysis


def _segment_starts(trace: Trace, inputs, tokenizer):
    """CacheBlend's segment starts (its module imported only when CacheBlend runs)."""
    from .engines.cacheblend import segment_starts

    return segment_starts(trace, inputs, tokenizer)
