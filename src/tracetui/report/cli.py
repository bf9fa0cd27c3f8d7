"""Command line: `tracetui TRACE` opens the explorer, `tracetui analyze TRACE` reports headless.

Every failure the user can cause (bad path, bad trace, bad option) ends with one line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

# Before numpy's first import (core.display's, just below): tracetui multiplies no float
# matrices, so OpenBLAS's threads, started with numpy, only cost every run their start-up
# (~20-50 ms of CPU on 2 cores, a tenth of analysing a small trace). A value set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from ..core.display import display_text  # noqa: E402
from ..core.engines import DEFAULT_CONTEXT_LENGTH, DEFAULT_RECOMPUTE, ENGINES  # noqa: E402
from ..core.engines.study import DEFAULT_CHUNK, DEFAULT_POOL_SIZES, DEFAULT_TOKENS_PER_GB, AnalysisCancelled, parse_pool_size  # noqa: E402
from ..core.kvmodels import PRESETS, UnknownKVModel, kv_model  # noqa: E402
from ..core.model import TraceError  # noqa: E402
from ..core.formats import DEFAULT_TEMPLATE, FORMATS, TEMPLATES  # noqa: E402
from ..core.reader import DEFAULT_MAX_LINE_MB  # noqa: E402
from ..core.tokenizer import AUTO, DEFAULT_TOKENIZER, TokenizerError  # noqa: E402
from .output import OUTPUTS  # noqa: E402

SUBCOMMANDS = ("analyze", "check", "compare", "serve")
MAX_CHUNK = (1 << 31) - 1  # beyond any prompt; keeps chunk offsets far from int64 overflow
MAX_LINE_MB = 1 << 20  # 1 TB: beyond it the option is a typo

COMMANDS = """\
commands:
  tracetui TRACE          open the explorer on a trace (its options are below)
  tracetui analyze TRACE… hit rates per pool size, per request, prefix breakers (headless)
  tracetui check TRACE    a CI gate: exit 0 when the hit-rate thresholds hold, 1 when not
  tracetui compare A B    two traces side by side: hit rates, block kinds, breakers
  tracetui serve TRACE    the explorer as a web page (textual-serve), on 127.0.0.1
  tracetui help [COMMAND] this list, or one command's options
"""

SAMPLE_HINT = ("Try it on a sample trace: tracetui sample_traces/opencode_like.jsonl "
               "(`python -m tracetui.samples DIR` writes the samples to DIR)")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def _common(p: argparse.ArgumentParser, traces: int = 1, pools: str | None = None,
            engines: bool = True, stdin: bool = True) -> None:
    if traces == 1:
        # serve runs the explorer once per browser tab: a pipe can be read only once.
        p.add_argument("trace", nargs="+", help="trace file(s) or folder(s) of trace files, read as one trace "
                                                "(.gz is read transparently" + ("; - reads stdin)" if stdin else ")"))
    else:
        p.add_argument("trace", help="first trace, a file or a folder (e.g. before a prompt change)")
        p.add_argument("other", help="second trace (e.g. after)")
    p.add_argument("--format", default=None, choices=FORMATS, metavar="NAME",
                   help="read every record as NAME (default: detect each record's): " + ", ".join(FORMATS))
    p.add_argument("--template", default=DEFAULT_TEMPLATE, choices=TEMPLATES, metavar="NAME",
                   help=f"chat template that renders request bodies (default {DEFAULT_TEMPLATE}): "
                        + ", ".join(TEMPLATES))
    p.add_argument("--hash-block-size", type=int, default=None, metavar="B",
                   help="tokens per block of a hashed trace whose file does not say (default: the format's)")
    p.add_argument("--tokenizer", default=None, metavar="T",
                   help=f"{AUTO} (from the trace's model), {DEFAULT_TOKENIZER} (the default), o200k_base (both "
                        "bundled), llama3 or qwen (the vocab extra), another tiktoken encoding name, "
                        "a local .tiktoken file, llama3:PATH to Llama 3's tokenizer.model, or a HF tokenizer.json")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, metavar="N",
                   help=f"substring chunk size in tokens (default {DEFAULT_CHUNK})")
    # One spelling in every command; --pool-size is the same option.
    p.add_argument("--pool-sizes", "--pool-size", dest="pool_sizes", nargs="+", default=None, metavar="GB",
                   help=pools or ("pool sizes in GB, 'unlimited' for no eviction (default: "
                                  + " ".join(DEFAULT_POOL_SIZES) + ")"))
    p.add_argument("--max-line-mb", type=float, default=DEFAULT_MAX_LINE_MB, metavar="MB",
                   help=f"skip (with a warning) any trace line longer than this (default {DEFAULT_MAX_LINE_MB})")
    p.add_argument("--pool-tokens", nargs="+", default=None, metavar="N",
                   help="pool sizes in tokens instead of GB, 'unlimited' for no eviction")
    p.add_argument("--engine", nargs="+" if engines else None, default=None, metavar="NAME",
                   choices=ENGINES, help="cache model: " + ", ".join(ENGINES) + " (default study"
                   + ("; several are shown side by side)" if engines else ")"))
    p.add_argument("--context-length", type=int, default=DEFAULT_CONTEXT_LENGTH, metavar="N",
                   help=f"model's maximum sequence (vLLM max_model_len, SGLang context; default {DEFAULT_CONTEXT_LENGTH})")
    p.add_argument("--block-size", type=int, default=None, metavar="N",
                   help="vLLM block size (default 16) / LMCache and CacheBlend chunk size (default 256)")
    p.add_argument("--page-size", type=int, default=1, metavar="N", help="SGLang page size (default 1; on a hashed trace, the trace's block size)")
    p.add_argument("--recompute", type=float, default=DEFAULT_RECOMPUTE, metavar="X",
                   help=f"CacheBlend: fraction of the reused tokens recomputed (default {DEFAULT_RECOMPUTE})")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tokens-per-gb", type=float, default=None, metavar="N",
                   help=f"KV cache tokens per GB (default {DEFAULT_TOKENS_PER_GB}: Llama-3.1-8B, bf16)")
    g.add_argument("--kv-model", default=None, metavar="M",
                   help="derive tokens per GB from a model preset: " + ", ".join(PRESETS) + " (:fp8 for fp8)")
    p.add_argument("--no-cache", action="store_true",
                   help="tokenize and analyse afresh, neither reading nor writing the cache (see README)")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """Every parser: the explorer's and each command's."""
    return _main_parser(), {name: _sub_parser(name) for name in SUBCOMMANDS}


def _main_parser() -> argparse.ArgumentParser:
    main = _Parser(prog="tracetui", usage="tracetui TRACE [options] | tracetui COMMAND ...",
                   formatter_class=argparse.RawDescriptionHelpFormatter,
                   description="Explore how much of every prompt in an LLM agent trace a KV cache could "
                               "reuse, and why the rest was missed.\n\n" + COMMANDS, epilog=SAMPLE_HINT)
    main.add_argument("-V", "--version", action="version", version=f"%(prog)s {_version()}")
    _common(main)
    main.add_argument("--at-break", action="store_true",
                      help="explorer: open every request at its prefix break (M toggles)")
    return main


def _sub_parser(name: str) -> argparse.ArgumentParser:
    """One command's parser (SUBCOMMANDS), built only when that command runs: argparse checks
    every option as it is added, and all five parsers cost ~10 ms of every start."""
    if name == "analyze":
        analyze = _Parser(prog="tracetui analyze", description="Hit rates of traces, headless: tables, a chart, "
                                                               "JSON; with several traces, each and a summary.")
        _common(analyze)
        analyze.add_argument("--json", action="store_true", help="print one JSON document (see README)")
        analyze.add_argument("-o", "--output", choices=OUTPUTS, default=None, metavar="FORMAT",
                             help="table (default), csv or tsv (one table: per request with --per-request, else "
                                  "the breakers with --why, else the pools), markdown (every table), json (= --json)")
        analyze.add_argument("--each", action="store_true",
                             help="several paths: analyze each as its own trace, then a table of them all "
                                  "(without it they are read as one trace)")
        analyze.add_argument("--per-request", action="store_true", help="add per-request figures")
        analyze.add_argument("--log-matches", metavar="FILE",
                             help="write every substring match (unlimited pool) as JSONL, as the seed study did")
        analyze.add_argument("--why", action="store_true",
                             help="also rank the prefix breakers, and show sessions and provider-reported usage")
        return analyze
    if name == "check":
        check = _Parser(prog="tracetui check", description="A CI gate: exit 0 when every threshold holds, "
                                                           "1 when one fails, 2 for bad input.")
        _common(check, engines=False, pools="pool sizes in GB the thresholds apply to, each checked (default unlimited)")
        check.add_argument("--min-prefix", type=float, metavar="X", help="minimum prefix hit rate (0-1)")
        check.add_argument("--min-substring", type=float, metavar="X", help="minimum substring hit rate (0-1)")
        check.add_argument("--min-combined", type=float, metavar="X",
                           help="minimum combined hit rate (0-1; unlimited pool only)")
        check.add_argument("--json", action="store_true", help="print one JSON document")
        return check
    if name == "compare":
        compare = _Parser(prog="tracetui compare", description="Two traces side by side: figures per pool size, "
                                                               "per block kind, and breakers found in only one.")
        _common(compare, traces=2)
        compare.add_argument("--json", action="store_true", help="print one JSON document")
        compare.add_argument("-o", "--output", choices=OUTPUTS, default=None, metavar="FORMAT",
                             help="table (default), csv or tsv (one table: the hit rates by pool size), "
                                  "markdown (every table), json (= --json)")
        return compare
    serve = _Parser(prog="tracetui serve", description="The explorer as a web page, through textual-serve: "
                                                       "each browser tab runs its own explorer.")
    _common(serve, stdin=False)
    serve.add_argument("--port", type=int, default=8000, metavar="N", help="port to listen on (default 8000)")
    serve.add_argument("--host", default="127.0.0.1", metavar="ADDR",
                       help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 for every network)")
    return serve


def _version() -> str:
    from .. import __version__

    return __version__


def settings_from(args: argparse.Namespace):
    from ..core.pipeline import Settings

    if not 1 <= args.chunk_size <= MAX_CHUNK:
        raise UsageError(f"--chunk-size must be from 1 to {MAX_CHUNK:,}")
    if not math.isfinite(args.max_line_mb) or not 0 < args.max_line_mb <= MAX_LINE_MB:
        raise UsageError(f"--max-line-mb must be a number of MB above 0 and at most {MAX_LINE_MB:,}")
    if args.hash_block_size is not None and not 1 <= args.hash_block_size <= MAX_CHUNK:
        raise UsageError(f"--hash-block-size must be from 1 to {MAX_CHUNK:,}")
    kv = None
    if args.kv_model:
        kv = kv_model(args.kv_model)
        tpg: float = kv.tokens_per_gb
    elif args.tokens_per_gb is not None:
        if not math.isfinite(args.tokens_per_gb) or args.tokens_per_gb <= 0:
            raise UsageError("--tokens-per-gb must be a positive number")
        tpg = args.tokens_per_gb
        if tpg == int(tpg):
            tpg = int(tpg)  # 8200, not 8200.0, in the JSON
    else:
        tpg = DEFAULT_TOKENS_PER_GB
    sizes = tuple(args.pool_sizes) if args.pool_sizes else DEFAULT_POOL_SIZES
    for s in sizes:
        try:
            parse_pool_size(s, tpg)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    engines = args.engine or ("study",)
    engines = tuple(dict.fromkeys([engines] if isinstance(engines, str) else engines))
    if args.pool_tokens and args.pool_sizes:
        raise UsageError("give --pool-sizes (GB) or --pool-tokens, not both")
    if args.context_length < 2:
        raise UsageError("--context-length must be at least 2")
    if args.block_size is not None and args.block_size < 1 or args.page_size < 1:
        raise UsageError("--block-size and --page-size must be at least 1")
    if not math.isfinite(args.recompute) or not 0 <= args.recompute <= 1:
        raise UsageError("--recompute is a fraction between 0 and 1")
    settings = Settings(tokenizer=args.tokenizer, pool_sizes=sizes, chunk_size=args.chunk_size,
                        tokens_per_gb=tpg, format=args.format, template=args.template,
                        hash_block_size=args.hash_block_size, max_line_mb=args.max_line_mb,
                        cache=not args.no_cache, engines=engines,
                        pool_tokens=tuple(args.pool_tokens) if args.pool_tokens else None,
                        context_length=args.context_length, block_size=args.block_size,
                        page_size=args.page_size, recompute=args.recompute)
    try:
        settings.sizes()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return settings, kv


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if sys.stdout is None:  # started with stdout closed (`>&-`): Python leaves it None
        return _fail("standard output is closed")
    try:
        code = _run(argv)
        sys.stdout.flush()  # here, not at exit, so that a write error is caught below
        return code
    except (UsageError, TraceError, TokenizerError, UnknownKVModel, ValueError) as exc:  # GateUsageError too
        return _fail(str(exc))
    except (AnalysisCancelled, KeyboardInterrupt):
        return _fail("cancelled", code=130)
    except BrokenPipeError:
        # `tracetui analyze ... | head`: not an error worth a traceback.
        _drop_stdout()
        return 0
    except OSError as exc:  # stdout on a full disk (/dev/full), a closed terminal
        _drop_stdout()
        return _fail(f"cannot write the output: {exc.strerror or exc}")


def entry() -> NoReturn:
    """The `tracetui` command (and `python -m tracetui`): main(), then the process ends at
    once. Tearing the interpreter down after it (freeing every module, array and the
    tokenizer's tables) took 0.08-0.15 s once the output was written, a third of the whole
    run on a small trace, for nothing: by then the output is flushed, the caches are written
    and the terminal is restored. A worker thread still running (the explorer quit while it
    analyses) ends with the process instead of being waited for. (So `python -m cProfile -m
    tracetui` writes no stats: profile main(), which returns.)"""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing more can reach it
            pass
    os._exit(code)


def _run(argv: list[str]) -> int:
    if not argv or argv[0] == "help":
        return _help(argv[1:])
    if argv[0] in SUBCOMMANDS:
        args = _sub_parser(argv[0]).parse_args(argv[1:])
        if argv[0] == "analyze":
            from .analyze import run_analyze

            return run_analyze(args, *settings_from(args))
        settings, _ = settings_from(args)  # --kv-model only sets the tokens per GB here
        if argv[0] == "serve":
            from ..app.run import run_serve

            return run_serve(args, settings)
        if argv[0] == "check":
            from .check import run_check

            return run_check(args, settings)
        from .compare import run_compare

        return run_compare(args, settings)
    args = _main_parser().parse_args(argv)
    settings, _ = settings_from(args)
    try:
        from ..app.run import run_explorer
    except ImportError as exc:  # a broken textual install: say so in one line
        raise UsageError(f"the explorer cannot start ({exc}); `tracetui analyze` works without it") from None
    return run_explorer(args.trace, settings, at_break=args.at_break)


def _drop_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered would fail again when Python
    flushes it at exit ("Exception ignored ..." and exit code 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _help(topic: list[str]) -> int:
    """`tracetui`, `tracetui help`: the commands; `tracetui help COMMAND`: its options."""
    if len(topic) > 1 or (topic and topic[0] not in SUBCOMMANDS and topic[0] not in ("explorer", "help")):
        raise UsageError(f"no command {' '.join(topic)!r}: the commands are {', '.join(SUBCOMMANDS)} "
                         "(and tracetui TRACE, the explorer)")
    parser = _sub_parser(topic[0]) if topic and topic[0] in SUBCOMMANDS else _main_parser()
    sys.stdout.write(parser.format_help())
    sys.stdout.flush()
    return 0


def _fail(message: str, code: int = 2) -> int:
    # One line, whatever the message quotes: a file name may hold a newline or an escape.
    if sys.stderr is not None:  # started with stderr closed: nowhere to say it
        print(f"tracetui: error: {display_text(message.strip()) or 'error'}", file=sys.stderr)
    return code
