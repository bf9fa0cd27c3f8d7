"""Time reading each trace format, the block-granularity study and the block engines on the
hashed traces.

    python benchmarks/bench_formats.py [TRACE_DIR] [--repeat R]

TRACE_DIR defaults to ../shared/traces. Reads the Mooncake trace, the Claude Code folder, and
the generated request-body and Bailian samples (rendered with each chat template), then runs
the default 12-pool sweep on the hashed traces: the study at block granularity, and each
block engine (vLLM, SGLang, LMCache) on the block ids at the trace's block size. Every figure
is the best of R runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tracetui.core.blockstudy import analyze_hashed
from tracetui.core.engines.study import DEFAULT_POOL_SIZES, DEFAULT_TOKENS_PER_GB
from tracetui.core.formats import TEMPLATES, FormatOptions
from tracetui.core.formats.loader import read_traces
from tracetui.core.pipeline import Settings, _hashed_result

REPO = Path(__file__).resolve().parents[1]


def best(fn, repeat: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("traces", nargs="?", default=str(REPO.parent / "shared" / "traces"))
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    root = Path(args.traces)
    cases = [(str(REPO / "sample_traces" / "request_bodies.jsonl"), t) for t in TEMPLATES]
    cases += [(str(REPO / "sample_traces" / "bailian_hashed.jsonl"), None)]
    for path in (root / "mooncake" / "conversation_trace.jsonl", root / "claude-code-hashed"):
        if path.exists():
            cases.append((str(path), None))
    engines = ("vllm", "sglang", "lmcache")
    settings = Settings()
    print(f"{'trace':<40} {'template':<8} {'requests':>9} {'read s':>8} {'sweep s':>8}"
          + "".join(f" {e + ' s':>9}" for e in engines))
    for path, template in cases:
        opts = FormatOptions(template=template or "chatml")
        read_s, trace = best(lambda: read_traces(path, opts), args.repeat)
        sweep, by_engine = "", ""
        if trace.hashed:
            sweep_s, _ = best(lambda: analyze_hashed(trace, pool_sizes=DEFAULT_POOL_SIZES,
                                                     tokens_per_gb=DEFAULT_TOKENS_PER_GB), args.repeat)
            sweep = f"{sweep_s:8.3f}"
            for e in engines:  # the study's analysis is not read by the block engines
                t, _ = best(lambda: _hashed_result(e, trace, None, settings.sizes(), settings), args.repeat)
                by_engine += f" {t:9.3f}"
        print(f"{Path(path).name:<40} {template or '-':<8} {len(trace.requests):>9,} {read_s:8.3f} {sweep:>8}"
              + by_engine)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
