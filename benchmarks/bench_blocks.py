"""Time split_blocks (the prompt's blocks) on a large chat and on pathological prompts, at two
sizes: each case must grow linearly (time ratio close to the size ratio), never quadratically.

    python benchmarks/bench_blocks.py [--scale K]

Cases: a ChatML prompt of many turns, unclosed tags (`<env><tools>` repeated), a JSON body
with many keys, and lines that look like headers (`=== = ===`). tests/test_blocks.py checks
that each is covered by its blocks; this script measures how fast.
"""

from __future__ import annotations

import argparse
import sys
import time

from tracetui.core.blocks import split_blocks


def _chatml(turns: int) -> str:
    parts = [f"<|im_start|>system\n{'S' * 5000}<|im_end|>\n"]
    for i in range(turns):
        parts.append(f"<|im_start|>user\nquestion {i} {'u' * 600}<|im_end|>\n")
        parts.append(f"<|im_start|>assistant\nanswer {i} {'a' * 600}<|im_end|>\n")
    return "".join(parts)


def _cases(n: int) -> dict[str, str]:
    """n: the size unit (the tests' cases are n = 1000)."""
    return {
        "large chat": _chatml(n // 5),
        "unclosed tags": "<|im_start|>system\n" + "<env><tools>" * (20 * n),
        "many JSON keys": "{" + '"a": 1, ' * (30 * n) + '"messages": []}',
        "fake headers": "=== = ===\n" * (25 * n),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1000, help="size unit of the smaller case (default 1000)")
    args = parser.parse_args()
    small, large = _cases(args.scale), _cases(args.scale * 4)
    print(f"{'case':20} {'MB':>8} {'s':>8} {'MB x4':>8} {'s x4':>8} {'ratio':>6}")
    for name in small:
        sizes, times = [], []
        for cases in (small, large):
            text = cases[name]
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                split_blocks(text)
                best = min(best, time.perf_counter() - start)
            sizes.append(len(text) / 1e6)
            times.append(best)
        print(f"{name:20} {sizes[0]:8.2f} {times[0]:8.3f} {sizes[1]:8.2f} {times[1]:8.3f} "
              f"{times[1] / max(times[0], 1e-9):6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
