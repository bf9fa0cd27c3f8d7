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

from .core.display import display_text
from .core.engine import DEFAULT_CHUNK, DEFAULT_POOL_SIZES, DEFAULT_TOKENS_PER_GB, AnalysisCancelled, parse_pool_size
from .core.kvmodels import PRESETS, UnknownKVModel, kv_model
from .core.model import TraceError
from .core.formats import DEFAULT_TEMPLATE, FORMATS, TEMPLATES
from .core.tokenizer import DEFAULT_TOKENIZER, TokenizerError

SUBCOMMANDS = ("analyze", "check", "compare")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def _common(p: argparse.ArgumentParser, traces: int = 1) -> None:
    if traces == 1:
        p.add_argument("trace", nargs="+", help="trace file(s) or folder(s) of trace files, read as one trace "
                                                "(.gz is read transparently; - reads stdin)")
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
                   help=f"tiktoken encoding name (default {DEFAULT_TOKENIZER}, bundled), a local .tiktoken "
                        "file, llama3:PATH to Llama 3's tokenizer.model, or a HF tokenizer.json")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, metavar="N",
                   help=f"substring chunk size in tokens (default {DEFAULT_CHUNK})")
    p.add_argument("--pool-sizes", nargs="+", default=None, metavar="GB",
                   help="pool sizes in GB, 'unlimited' for no eviction (default: "
                        + " ".join(DEFAULT_POOL_SIZES) + ")")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tokens-per-gb", type=float, default=None, metavar="N",
                   help=f"KV cache tokens per GB (default {DEFAULT_TOKENS_PER_GB}: Llama-3.1-8B, bf16)")
    g.add_argument("--kv-model", default=None, metavar="M",
                   help="derive tokens per GB from a model preset: " + ", ".join(PRESETS) + " (:fp8 for fp8)")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    main = _Parser(prog="tracetui", description="Explore how much of every prompt in an LLM agent trace "
                                                 "a KV cache could reuse, and why the rest was missed.")
    main.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _common(main)
    main.add_argument("--at-break", action="store_true",
                      help="explorer: open every request at its prefix break (M toggles)")
    analyze = _Parser(prog="tracetui analyze", description="Hit rates of a trace, headless: tables, a chart, JSON.")
    _common(analyze)
    analyze.add_argument("--json", action="store_true", help="print one JSON document (see README)")
    analyze.add_argument("--per-request", action="store_true", help="add per-request figures")
    analyze.add_argument("--log-matches", metavar="FILE",
                         help="write every substring match (unlimited pool) as JSONL, as the seed study did")
    analyze.add_argument("--why", action="store_true",
                         help="also rank the prefix breakers, and show sessions and provider-reported usage")
    check = _Parser(prog="tracetui check", description="A CI gate: exit 0 when every threshold holds, "
                                                       "1 when one fails, 2 for bad input.")
    _common(check)
    check.add_argument("--min-prefix", type=float, metavar="X", help="minimum prefix hit rate (0-1)")
    check.add_argument("--min-substring", type=float, metavar="X", help="minimum substring hit rate (0-1)")
    check.add_argument("--min-combined", type=float, metavar="X",
                       help="minimum combined hit rate (0-1; unlimited pool only)")
    check.add_argument("--pool-size", default="unlimited", metavar="GB",
                       help="pool size the thresholds apply to (default unlimited)")
    check.add_argument("--json", action="store_true", help="print one JSON document")
    compare = _Parser(prog="tracetui compare", description="Two traces side by side: figures per pool size, "
                                                           "per block kind, and breakers found in only one.")
    _common(compare, traces=2)
    compare.add_argument("--json", action="store_true", help="print one JSON document")
    return main, {"analyze": analyze, "check": check, "compare": compare}


def _version() -> str:
    from . import __version__

    return __version__


def settings_from(args: argparse.Namespace):
    from .core.pipeline import Settings

    if args.chunk_size < 1:
        raise UsageError("--chunk-size must be at least 1")
    if args.hash_block_size is not None and args.hash_block_size < 1:
        raise UsageError("--hash-block-size must be at least 1")
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
    return Settings(tokenizer=args.tokenizer, pool_sizes=sizes, chunk_size=args.chunk_size,
                    tokens_per_gb=tpg, format=args.format, template=args.template,
                    hash_block_size=args.hash_block_size), kv


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    main_parser, sub = build_parser()
    try:
        if argv and argv[0] in SUBCOMMANDS:
            args = sub[argv[0]].parse_args(argv[1:])
            if argv[0] == "analyze":
                from .report import run_analyze

                return run_analyze(args, *settings_from(args))
            from . import gate

            settings, _ = settings_from(args)  # --kv-model only sets the tokens per GB here
            if argv[0] == "check":
                return gate.run_check(args, settings)
            return gate.run_compare(args, settings)
        args = main_parser.parse_args(argv)
        settings, _ = settings_from(args)
        try:
            from .app.run import run_explorer
        except ImportError as exc:  # a broken textual install: say so in one line
            raise UsageError(f"the explorer cannot start ({exc}); `tracetui analyze` works without it") from None
        return run_explorer(args.trace, settings, at_break=args.at_break)
    except (UsageError, TraceError, TokenizerError, UnknownKVModel, ValueError) as exc:  # GateUsageError too
        return _fail(str(exc))
    except (AnalysisCancelled, KeyboardInterrupt):
        return _fail("cancelled", code=130)
    except BrokenPipeError:
        # `tracetui analyze ... | head`: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _fail(message: str, code: int = 2) -> int:
    # One line, whatever the message quotes: a file name may hold a newline or an escape.
    print(f"tracetui: error: {display_text(message.strip()) or 'error'}", file=sys.stderr)
    return code
