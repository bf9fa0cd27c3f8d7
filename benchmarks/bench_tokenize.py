"""Serial, thread batches or process batches: which tokenizes a trace fastest on this machine.

    python benchmarks/bench_tokenize.py [--repeat R] [--scratch DIR] [--sizes CHARS ...] [--json]

The texts are those of the generated scale traces (benchmarks/gen_traces.py: the chat trace's
short prompts, also two and four of them joined end to end, and the agent trace's long ones),
cut to each total size in characters (default 0.1M, 1M, 10M, 50M). Each strategy encodes
the same texts with tracetui's tokenizer (cl100k_base, tiktoken's encode_to_numpy,
special-token text as plain text):

- serial: one text after another in the calling thread;
- threads: slices of the texts over os.cpu_count() threads (tiktoken's Rust core releases
  the GIL while it encodes);
- processes: slices over os.cpu_count() forked processes, each returning its tokens as one
  flat uint32 array with lengths.

The figure is the best of R interleaved runs (the machine is shared: runs side by side, ratios
count); the load average is printed with the table. core/tokenizer.py picks its strategy from
this table (see _THREADS_MIN_MEAN_CHARS there and the README's "Tokenization" paragraph).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import orjson

from tracetui.core.tokenizer import load_tokenizer

HERE = Path(__file__).resolve().parent
SIZES = (100_000, 1_000_000, 10_000_000, 50_000_000)
# (name, scale row, texts joined into one): chat prompts as they are (~75 characters), two and
# four of them end to end (~150, ~300), and agent prompts (~12k).
SHAPES = (("chat", "chat100k", 1), ("chat x2", "chat100k", 2), ("chat x4", "chat100k", 4), ("agent", "agent10", 1))
_TEXTS: list[str] = []


def texts_of(path: Path, chars: int, join: int = 1) -> list[str]:
    """The trace's inputs and outputs up to `chars` characters; with `join` each text is that
    many consecutive ones end to end (longer texts of the same words: where the crossover is)."""
    out, total = [], 0
    with open(path, "rb") as f:
        for line in f:
            rec = orjson.loads(line)
            for k in ("input", "output"):
                t = str(rec.get(k) or "")
                out.append(t)
                total += len(t)
            if total >= chars:
                break
    return ["".join(out[k: k + join]) for k in range(0, len(out), join)]


def _encode(lo_hi: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    enc = load_tokenizer(None).encode
    arrays = [enc(t) for t in _TEXTS[lo_hi[0]: lo_hi[1]]]
    lengths = np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays))
    return (np.concatenate(arrays) if arrays else np.zeros(0, np.uint32)), lengths


def _slices(n: int, parts: int) -> list[tuple[int, int]]:
    step = max(1, -(-n // parts))
    return [(k, min(n, k + step)) for k in range(0, n, step)]


def serial(texts: list[str]) -> int:
    enc = load_tokenizer(None).encode
    return sum(len(enc(t)) for t in texts)


def threads(texts: list[str], cores: int) -> int:
    global _TEXTS
    _TEXTS = texts
    with ThreadPoolExecutor(cores) as pool:
        # 8 slices a thread: one thread is not left alone with the long prompts.
        return sum(len(a) for a, _ in pool.map(_encode, _slices(len(texts), 8 * cores)))


def processes(texts: list[str], cores: int) -> int:
    global _TEXTS
    _TEXTS = texts  # inherited by the forked children: only the tokens travel back
    with multiprocessing.get_context("fork").Pool(cores) as pool:
        return sum(len(a) for a, _ in pool.map(_encode, _slices(len(texts), 8 * cores)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, metavar="R")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/tracetui-bench"))
    ap.add_argument("--sizes", type=float, nargs="+", default=list(SIZES), metavar="CHARS")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from bench_scale import trace_for

    cores = os.cpu_count() or 1
    load_tokenizer(None).encode("warm up")  # the vocabulary loads once, before any timing
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {cores} cores")
    print("| texts | chars | mean chars/text | serial | threads | processes | best |")
    print("|---|---|---|---|---|---|---|")
    for shape, row, join in SHAPES:
        path = trace_for(row, args.scratch, 0)
        for chars in args.sizes:
            texts = texts_of(path, int(chars), join)
            total = sum(map(len, texts))
            if total < chars * 0.9:  # the trace is smaller than this size
                continue
            times = {"serial": [], "threads": [], "processes": []}
            for _ in range(args.repeat):
                for name, fn in (("serial", lambda: serial(texts)), ("threads", lambda: threads(texts, cores)),
                                 ("processes", lambda: processes(texts, cores))):
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
            best = {k: min(v) for k, v in times.items()}
            win = min(best, key=best.get)
            print(f"| {shape} | {total / 1e6:.1f}M | {total / len(texts):,.0f} | {best['serial']:.3f} s | "
                  f"{best['threads']:.3f} s | {best['processes']:.3f} s | {win} |", flush=True)
            if args.json:
                print(json.dumps({"shape": shape, "chars": total, "texts": len(texts), **best}))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
