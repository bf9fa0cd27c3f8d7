"""Time the reader on hostile input at two sizes: each case must grow linearly (time ratio
close to the size ratio), never quadratically, and none may hold more than its bound.

    python benchmarks/bench_reader.py [--scale K]

Cases: many well-formed lines (the fast path), a line of unescaped values (`_recover`),
lines joined by lone CRs (the split), a long prompt scanned for one-piece runs
(`_too_costly`), a line over --max-line-mb (dropped unread) and gzip at ~30x (`_Gunzip`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from tracetui.core.reader import read_trace


def _cases(n: int) -> dict[str, tuple[bytes, dict]]:
    words = " ".join(f"word{i % 997}" for i in range(200))
    lines = b"".join(json.dumps({"input": f"{i} {words}", "session_id": str(i % 7)}).encode() + b"\n"
                     for i in range(n))
    return {
        "well-formed lines": (lines, {}),
        "one line of unescaped values": (b"{" + b'"input": "a", ' * (n * 10) + b"}\n" + b'{"input": "b"}\n', {}),
        "records joined by lone CRs": (lines.replace(b"\n", b"\r"), {}),
        "long prompt, run scan": (json.dumps({"input": words * (n // 2)}).encode() + b"\n", {}),
        "line over --max-line-mb": (b'{"input": "' + b"x" * (n * 2000) + b'"}\n{"input": "b"}\n',
                                    {"max_line_mb": 1}),
        "gzip": (gzip.compress(lines, 6), {}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20_000, help="lines of the smaller size (default 20000)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tracetui-bench-"))
    small, large = _cases(args.scale), _cases(args.scale * 4)
    print(f"{'case':32} {'MB':>8} {'s':>8} {'MB x4':>8} {'s x4':>8} {'ratio':>6}")
    for name in small:
        times = []
        sizes = []
        for cases in (small, large):
            data, kwargs = cases[name]
            path = tmp / "t.jsonl"
            path.write_bytes(data)
            best = float("inf")
            for _ in range(2):
                start = time.perf_counter()
                read_trace(path, **kwargs)
                best = min(best, time.perf_counter() - start)
            times.append(best)
            sizes.append(len(data) / 1e6)
        print(f"{name:32} {sizes[0]:8.1f} {times[0]:8.3f} {sizes[1]:8.1f} {times[1]:8.3f} "
              f"{times[1] / max(times[0], 1e-9):6.1f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
