"""Where vLLM's replay switches from its scalar step to its numpy step (vllm.SHORT).

    python benchmarks/bench_vllm.py [--requests N] [--repeat R]

Synthetic traces of N requests of one size each (blocks of 16 tokens), in two shapes: `grow`
(an agent: every prompt the same long prefix and two new blocks, so nearly every block is a
hit) and `fresh` (every block a miss), each in the unlimited pool and in a pool of three
requests' blocks (every request evicts). Prints the CPU microseconds per request of each step
(best of R, time.process_time, so a loaded machine skews it less); the scalar step's cost
grows with the blocks, the numpy step's is mostly fixed, and SHORT sits near where they cross.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tracetui.core.engines import vllm
from tracetui.core.engines.blockids import block_trace

B = 16


def trace(rng: np.random.Generator, nblk: int, shape: str, n: int):
    base = rng.integers(0, 50_000, nblk * B).astype(np.uint32)
    inputs, outputs = [], []
    for _ in range(n):
        tail = rng.integers(0, 50_000, 2 * B - 3).astype(np.uint32)
        fresh = rng.integers(0, 50_000, nblk * B - 3).astype(np.uint32)
        inputs.append(np.concatenate((base[:(nblk - 2) * B], tail)) if shape == "grow" else fresh)
        outputs.append(rng.integers(0, 50_000, 20).astype(np.uint32))
    return block_trace(inputs, outputs, B)


def per_request(bt, cap, prep, short: int, repeat: int, n: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        vllm.replay(bt, cap, 131_072, prep, short=short)
        best = min(best, time.process_time() - t0)
    return best / n * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300, metavar="N")
    ap.add_argument("--repeat", type=int, default=5, metavar="R")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"SHORT = {vllm.SHORT} blocks; CPU us per request, best of {args.repeat}")
    print(f"| blocks | shape | pool | scalar step | numpy step |\n|---|---|---|---|---|")
    for shape in ("grow", "fresh"):
        for nblk in (4, 8, 16, 32, 48, 64, 128, 256):
            bt = trace(rng, nblk, shape, args.requests)
            prep = vllm.prepare(bt)
            for cap, label in ((None, "unlimited"), (3 * nblk * B, "3 requests")):
                s = per_request(bt, cap, prep, 1 << 62, args.repeat, args.requests)
                v = per_request(bt, cap, prep, 0, args.repeat, args.requests)
                print(f"| {nblk} | {shape} | {label} | {s:.1f} | {v:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
