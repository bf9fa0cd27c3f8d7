"""The SGLang replay alone, in process: CPU time and memory of sglang.run on a trace's tokens,
and optionally a baseline copy of the module side by side (same tokens, same pools, results
compared).

    python benchmarks/bench_sglang.py TRACE [--base OLD_SGLANG.py [--only-base]] [--tracemalloc] [--repeat N]

The tokens come through the on-disk token cache (TRACETUI_CACHE_DIR), so only the first run
tokenizes. CPU is time.process_time around sglang.run; memory is the RSS growth while it runs
(sampled every millisecond) or, with --tracemalloc, the peak of traced bytes above the start.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def measure(fn, trace_mem: bool):
    gc.collect()
    if trace_mem:
        import tracemalloc

        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        t0 = time.process_time()
        out = fn()
        cpu = time.process_time() - t0
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        return out, cpu, peak
    start = rss()
    top = [start]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            top[0] = max(top[0], rss())
            time.sleep(0.001)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.process_time()
    out = fn()
    cpu = time.process_time() - t0
    stop.set()
    th.join()
    return out, cpu, max(top[0], rss()) - start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--base", help="a baseline copy of sglang.py, run side by side")
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only-base", action="store_true",
                    help="run the baseline alone (RSS growth is only meaningful for the first run of a process)")
    a = ap.parse_args()
    from tracetui.core import pipeline
    from tracetui.core.engines import sglang

    settings = pipeline.Settings(engines=())
    loaded = pipeline.load(a.trace, settings)
    sizes, es = settings.sizes(), settings.engine_settings()
    mods = [("new", sglang)]
    if a.base:
        spec = importlib.util.spec_from_file_location("tracetui.core.engines._sglang_base", a.base)
        old = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = old
        spec.loader.exec_module(old)
        mods.insert(0, ("base", old))
        if a.only_base:
            mods = mods[:1]
    results = {}
    mib = 2 ** 20
    for r in range(a.repeat):
        for name, mod in mods:
            res, cpu, mem = measure(lambda: mod.run(loaded.inputs, loaded.outputs, sizes, es), a.tracemalloc)
            kind = "traced" if a.tracemalloc else "RSS +"
            print(f"{name:>5}: CPU {cpu:7.2f} s, {kind} {mem / mib:7.1f} MiB", flush=True)
            results[name] = res
            del res
            gc.collect()
    if a.base and not a.only_base:
        x, y = results["base"], results["new"]
        same = all((p.prefix_hits == q.prefix_hits).all() and (p.rejected == q.rejected).all()
                   for p, q in zip((*x.pools, x.unlimited), (*y.pools, y.unlimited)))
        print("results identical" if same else "RESULTS DIFFER")
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
