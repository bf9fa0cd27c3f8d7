"""Where the peak RSS of `tracetui analyze --json` is, stage by stage (issue 12's memory target).

    python benchmarks/profile_memory.py TRACE [ANALYZE ARGS...]   (e.g. --engine vllm)

Runs the CLI in this process with a sampler thread reading VmRSS (every millisecond) and a
stack of named stages (wrappers around the pipeline's and the engines' steps). Prints, per
stage, the RSS at its entry and the highest RSS sampled while it was the innermost stage,
then the process's VmHWM and its CPU time. numpy releases the GIL in its big loops, so the
sampler sees most peaks; VmHWM is exact. With --tracemalloc: traced bytes (Python and
numpy's allocations, exact, without the allocator's retention or the libraries' own heaps)
instead of RSS, at a few times the CPU cost.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
stack: list[str] = []
peaks: dict[str, list[float]] = {}  # stage -> [rss at entry, max rss seen, calls, seconds]
order: list[str] = []


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def hwm() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def sampler(stop: threading.Event) -> None:
    while not stop.is_set():
        r = rss()
        if stack:
            p = peaks[stack[-1]]
            if r > p[1]:
                p[1] = r
        time.sleep(0.001)


TRACE = "--tracemalloc" in sys.argv
if TRACE:
    sys.argv.remove("--tracemalloc")


def traced_peak() -> int:
    """The peak of traced bytes since the last call (tracemalloc mode), then reset."""
    import tracemalloc

    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    return peak


def wrap(owner, attr: str, label: str | None = None) -> None:
    fn = getattr(owner, attr)
    name = label or f"{getattr(owner, '__name__', type(owner).__name__)}.{attr}"

    @functools.wraps(fn)
    def inner(*a, **k):
        path = "/".join([*stack[-1:], name]) if stack else name
        if TRACE:
            import tracemalloc

            if stack:
                q = peaks[stack[-1]]
                q[1] = max(q[1], traced_peak())
            else:
                traced_peak()
            r = tracemalloc.get_traced_memory()[0]
        else:
            r = rss()
        if path not in peaks:
            peaks[path] = [r, r, 0, 0.0]
            order.append(path)
        p = peaks[path]
        p[2] += 1
        stack.append(path)
        t0 = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            p[3] += time.process_time() - t0
            p[1] = max(p[1], traced_peak() if TRACE else rss())
            stack.pop()
            if stack:
                q = peaks[stack[-1]]
                q[1] = max(q[1], p[1])

    setattr(owner, attr, inner)


def install() -> None:
    from tracetui.core import pipeline
    from tracetui.core.engines import blockids, vllm, sglang, lmcache, cacheblend, study_result
    import tracetui.core.engines as engines
    from tracetui.core.engines.study import index, sweep, settle
    from tracetui.report import analyze as report_analyze

    wrap(pipeline, "read_traces")
    wrap(pipeline, "tokenize")
    wrap(pipeline, "analyze_trace")
    wrap(pipeline, "run_engine")
    wrap(study_result, "run", "study.run")
    wrap(study_result, "analyze", "study.analyze")
    wrap(sweep, "Index", "Index")
    for m in ("_build_ranks", "earliest_sharers", "_build_window_ids", "occurrences", "chunk_rows",
              "entry_occurrences", "prev_held_chunks"):
        wrap(index.Index, m, f"Index.{m}")
    for m in ("replay_bounds", "chains", "replay_prefix", "scoring", "replay_substring", "settle_substring",
              "settle_unlimited", "combined", "single_entry_fill"):
        wrap(sweep, m)
    for mod in (vllm, sglang, lmcache, cacheblend):
        for m in ("block_trace", "run_blocks", "replay"):
            if hasattr(mod, m):
                wrap(mod, m, f"{mod.__name__.rsplit('.', 1)[-1]}.{m}")
    wrap(blockids, "chain_ids")
    wrap(report_analyze, "load_result")
    wrap(report_analyze, "to_json")


def main() -> int:
    argv = sys.argv[1:]
    install()
    from tracetui.report.cli import main as cli

    stop = threading.Event()
    t = threading.Thread(target=sampler, args=(stop,), daemon=True)
    if TRACE:  # exact live bytes (numpy's included) instead of sampled RSS
        import tracemalloc

        tracemalloc.start()
    else:
        t.start()
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    t0 = time.process_time()
    with contextlib.redirect_stdout(out):
        code = cli(["analyze", "--json", "--no-cache", *argv])
    cpu = time.process_time() - t0
    stop.set()
    if not TRACE:
        t.join()
    mib = 2 ** 20
    print(f"{'stage':<70} {'entry MiB':>10} {'peak MiB':>10} {'calls':>6} {'CPU s':>7}")
    for path in order:
        e, p, n, s = peaks[path]
        print(f"{path:<70} {e / mib:>10.0f} {p / mib:>10.0f} {n:>6} {s:>7.2f}")
    print(f"VmHWM {hwm() / mib:.0f} MiB, CPU {cpu:.2f} s, exit {code}, output {out.buffer.tell():,} bytes")
    return code


if __name__ == "__main__":
    sys.exit(main())
