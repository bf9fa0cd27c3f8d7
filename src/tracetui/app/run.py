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


def run_explorer(paths: str | Sequence[str], settings: Settings, *, at_break: bool = False) -> int:
    # Fail before the UI starts for what can be told at once: one line, exit code 2.
    paths = [paths] if isinstance(paths, str) else list(paths)
    piped = "-" in paths
    if piped:
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
    if len(paths) == 1:
        paths = paths[0]
    if (settings.tokenizer or "").strip() != AUTO:  # auto is resolved from the trace, once read
        load_tokenizer(settings.tokenizer)  # an unknown tokenizer is a usage error, not a screen
    if not sys.stdout.isatty():
        raise TraceError("the explorer needs a terminal; use `tracetui analyze` for headless output")
    if piped:
        keys_from_terminal()
    from .app import create_app

    app = create_app(paths, settings, at_break=at_break)
    code = app.run()
    if app.error_message:
        raise TraceError(app.error_message)  # the CLI prints it as its one error line, exit 2
    return int(code or 0)
