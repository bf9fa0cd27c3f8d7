"""`tracetui TRACE`: check the path, then run the explorer."""

from __future__ import annotations

import os
import sys

from collections.abc import Sequence

from ..core.formats.loader import trace_files
from ..core.model import TraceError
from ..core.pipeline import Settings
from ..core.tokenizer import AUTO, load_tokenizer

TTY = "/dev/tty"


def keys_from_terminal(tty: str = TTY) -> None:
    """`... | tracetui -`: the trace comes down the pipe on stdin, the keys from the terminal.

    Textual's Linux driver reads keys from file descriptor 0 (sys.__stdin__): the pipe moves to
    a new descriptor, kept as sys.stdin (where the reader takes "-" from, in the load worker,
    with its progress bar), and the terminal takes descriptor 0."""
    try:
        term = os.open(tty, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        raise TraceError("a piped trace needs a terminal for the keys, and there is none "
                         "(use `tracetui analyze -`)") from None
    pipe = os.dup(0)
    os.dup2(term, 0)
    os.close(term)
    sys.stdin = os.fdopen(pipe, "r", encoding="utf-8", errors="replace", closefd=True)


def _check_traces(paths: str | Sequence[str], settings: Settings, *, pipe: bool = False) -> str | list[str]:
    """Fail before the UI starts for what can be told at once: one line, exit code 2."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    if "-" in paths:
        if not pipe:
            raise TraceError("tracetui serve reads a trace file or folder, not `-` (a pipe)")
        if len(paths) > 1:
            raise TraceError("`-` (a piped trace) is read alone, not with other paths")
        if sys.stdin is None or sys.stdin.isatty():
            raise TraceError("`-` reads the trace from a pipe (`cat trace.jsonl | tracetui -`); "
                             "stdin is the terminal")
    else:
        for path in paths:
            if not os.path.exists(path):
                raise TraceError(f"no such file: {path}")
        trace_files(paths)  # a folder with no trace file in it
    if (settings.tokenizer or "").strip() != AUTO:  # auto is resolved from the trace, once read
        load_tokenizer(settings.tokenizer)  # an unknown tokenizer is a usage error, not a screen
    return paths[0] if len(paths) == 1 else paths


def run_explorer(paths: str | Sequence[str], settings: Settings, *, at_break: bool = False) -> int:
    paths = _check_traces(paths, settings, pipe=True)
    piped = paths == "-"
    # textual-serve runs the explorer with its web driver, its output a pipe to the server.
    served = "web_driver" in os.environ.get("TEXTUAL_DRIVER", "")
    if not sys.stdout.isatty() and not served:
        raise TraceError("the explorer needs a terminal; use `tracetui analyze` for headless output")
    if piped:
        keys_from_terminal()
    from .app import create_app

    app = create_app(paths, settings, at_break=at_break)
    code = app.run()
    if app.error_message:
        raise TraceError(app.error_message)  # the CLI prints it as its one error line, exit 2
    return int(code or 0)


def run_serve(args, settings: Settings) -> int:
    """`tracetui serve TRACE`: textual-serve runs `tracetui TRACE` (with the same settings)
    for every browser tab that opens the page."""
    import shlex

    from ..core.display import display_text

    paths = _check_traces(args.trace, settings)
    paths = [paths] if isinstance(paths, str) else paths
    if not 0 < args.port < 65536:
        raise TraceError(f"--port must be between 1 and 65535, not {args.port}")
    try:
        server = _server_class()
    except ImportError:
        raise TraceError("tracetui serve needs textual-serve: pip install 'tracetui[serve]'") from None
    command = [sys.executable, "-m", "tracetui", *map(os.path.abspath, paths), *explorer_options(settings)]
    name = os.path.basename(paths[0]) + (f" +{len(paths) - 1} more" if len(paths) > 1 else "")
    server(shlex.join(command), host=args.host, port=args.port, title=f"tracetui {display_text(name)}").serve()
    return 0


def explorer_options(settings: Settings) -> list[str]:
    """The command-line options that give the explorer `settings` (each tab `tracetui serve`
    opens runs `tracetui TRACE` with them: every setting, so the page shows what was asked)."""
    opts = ["--chunk-size", str(settings.chunk_size), "--tokens-per-gb", repr(settings.tokens_per_gb),
            "--template", settings.template, "--max-line-mb", repr(settings.max_line_mb),
            "--context-length", str(settings.context_length), "--page-size", str(settings.page_size),
            "--recompute", repr(settings.recompute), "--engine", *settings.engines]
    if settings.pool_tokens is not None:
        opts += ["--pool-tokens", *settings.pool_tokens]
    else:
        opts += ["--pool-sizes", *settings.pool_sizes]
    for option, value in (("--tokenizer", settings.tokenizer), ("--format", settings.format),
                          ("--hash-block-size", settings.hash_block_size), ("--block-size", settings.block_size)):
        if value is not None:
            opts += [option, str(value)]
    if not settings.cache:
        opts.append("--no-cache")
    return opts


def _server_class():
    """textual-serve's Server, but its start-up line names the trace through display_text
    (its own prints the command through rich markup: a path holding `[/]` would crash it, and
    the repr of a path is not the terminal-safe form the rest of tracetui prints)."""
    from textual_serve.server import Server

    from ..core.display import display_text

    class SafeServer(Server):
        async def on_startup(self, app) -> None:  # noqa: ARG002 (aiohttp's hook signature)
            self.console.print(f"tracetui serve: {display_text(self.title)} on {self.public_url}",
                               markup=False, highlight=False)
            self.console.print("Press Ctrl+C to quit", markup=False, highlight=False)

    return SafeServer
