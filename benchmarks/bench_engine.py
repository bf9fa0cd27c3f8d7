"""Time read, tokenize and the full default sweep on every trace of a directory.

    python benchmarks/bench_engine.py [TRACE_DIR] [--repeat R] [--json] [--tokenizer T]
                                      [--pool-sizes GB ...]

TRACE_DIR defaults to ../shared/traces (next to the repository). Everything runs in one
process; the tokenizer is loaded once, before any timing. Every figure is the best of R runs
after one warm-up run: where the time goes on the real traces, in-process. (The study's
targets are whole-process and at scale: benchmarks/bench_scale.py.) --pool-sizes times another
sweep instead (for instance `unlimited` alone: what every analysis costs before any bounded
pool). --engines also times the real engines' sweeps over the same pool sizes (default: all
four; CacheBlend's time includes finding the segments). No target is judged here: issue 12
withdrew the per-trace one (each sweep at most half the tokenization) for whole-process
targets, which bench_scale.py checks. Hashed traces (Mooncake's: block ids, no text to
tokenize) are skipped and said so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tiktoken

from tracetui.core.engines.study import DEFAULT_POOL_SIZES, analyze, parse_pool_size
from tracetui.core.engines import EngineSettings, cacheblend, run_engine
from tracetui.core.model import TraceError
from tracetui.core.pipeline import tokenize
from tracetui.core.formats.loader import read_traces
from tracetui.core.reader import read_trace
from tracetui.core.tokenizer import load_tokenizer

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "traces"


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """(minimum seconds over `repeat` runs after one warm-up run, the last result)."""
    result = fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


ENGINES = ("vllm", "sglang", "lmcache", "cacheblend")


def bench(path: Path, root: Path, tokenizer, repeat: int,
          pool_sizes: tuple[str, ...] = DEFAULT_POOL_SIZES, engines: tuple[str, ...] = ()) -> dict[str, Any]:
    read_s, trace = best_of(lambda: read_trace(path), repeat)
    tok_s, (inputs, outputs) = best_of(lambda: tokenize(trace, tokenizer), repeat)
    sweep_s, analysis = best_of(lambda: analyze(inputs, outputs, pool_sizes=pool_sizes), repeat)
    ratio = sweep_s / tok_s if tok_s > 0 else float("inf")
    sizes = [parse_pool_size(s, 8200) for s in pool_sizes]

    def engine_sweep(name: str):
        segs = cacheblend.segment_starts(trace, inputs, tokenizer) if name == "cacheblend" else None
        return run_engine(name, inputs, outputs, sizes, EngineSettings(), segments=segs)

    timed = {name: best_of(lambda: engine_sweep(name), repeat)[0] for name in engines}
    return {
        "trace": str(path.relative_to(root)),
        "requests": analysis.requests,
        "input_tokens": analysis.input_tokens,
        "read_ms": round(read_s * 1e3, 3),
        "tokenize_ms": round(tok_s * 1e3, 3),
        "sweep_ms": round(sweep_s * 1e3, 3),
        "ratio": round(ratio, 4),
        "engines": {name: {"sweep_ms": round(t * 1e3, 3), "ratio": round(t / tok_s if tok_s > 0 else float("inf"), 4)}
                    for name, t in timed.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace_dir", nargs="?", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--repeat", type=int, default=7, metavar="R", help="timed runs per figure (default 7)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--tokenizer", default=None, metavar="T", help="as tracetui's --tokenizer")
    ap.add_argument("--pool-sizes", nargs="+", default=list(DEFAULT_POOL_SIZES), metavar="GB",
                    help="the sweep to time (default: the default sweep of 12 sizes)")
    ap.add_argument("--engines", nargs="*", default=list(ENGINES), choices=ENGINES, metavar="NAME",
                    help="real engines to time too (default: " + " ".join(ENGINES) + "; none: just the study)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    root = args.trace_dir.resolve()
    if not root.is_dir():
        print(f"bench_engine: no trace directory {root}", file=sys.stderr)
        return 2

    log = sys.stderr if args.json else sys.stdout
    print(f"Python {platform.python_version()}, numpy {np.__version__}, tiktoken {tiktoken.__version__}, "
          f"cpus {os.cpu_count()}, repeat {args.repeat} (best of, after 1 warm-up), "
          f"pool sizes {' '.join(args.pool_sizes)}", file=log)
    t0 = time.perf_counter()
    tokenizer = load_tokenizer(args.tokenizer)
    tokenizer.encode("warm up")
    print(f"tokenizer {tokenizer.name} loaded in {(time.perf_counter() - t0) * 1e3:.1f} ms (once)", file=log)

    rows: list[dict[str, Any]] = []
    for path in sorted(root.rglob("*.jsonl")):
        rel = path.relative_to(root)
        try:
            if read_traces(str(path)).hashed:
                print(f"skipped {rel}: a hashed trace (block ids, no text to tokenize)", file=log)
                continue
            read_trace(path)
        except TraceError as exc:
            print(f"skipped {rel}: {exc}", file=log)
            continue
        rows.append(bench(path, root, tokenizer, args.repeat, tuple(args.pool_sizes), tuple(args.engines)))

    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        w = max([len("trace")] + [len(r["trace"]) for r in rows])
        eng = "".join(f"  {e + ' ms':>14}  {e[:6] + '/tok':>10}" for e in args.engines)
        print(f"{'trace':<{w}}  {'requests':>8}  {'input tok':>10}  {'read ms':>9}  {'tokenize ms':>11}  "
              f"{'sweep ms':>9}  {'sweep/tok':>9}{eng}")
        for r in rows:
            eng = "".join(f"  {r['engines'][e]['sweep_ms']:>14.1f}  {r['engines'][e]['ratio']:>10.3f}"
                          for e in args.engines)
            print(f"{r['trace']:<{w}}  {r['requests']:>8,}  {r['input_tokens']:>10,}  {r['read_ms']:>9.1f}  "
                  f"{r['tokenize_ms']:>11.1f}  {r['sweep_ms']:>9.1f}  {r['ratio']:>9.3f}{eng}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
