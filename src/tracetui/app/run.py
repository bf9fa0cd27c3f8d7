"""`tracetui TRACE`: check the path, then run the explorer."""

from __future__ import annotations

import os
import sys

from collections.abc import Sequence

from ..core.formats.loader import trace_files
from ..core.model import TraceError
from ..core.pipeline import Settings
from ..core.tokenizer import AUTO, load_tokenizer


def run_explorer(paths: str | Sequence[str], settings: Settings) -> int:
    # Fail before the UI starts for what can be told at once: one line, exit code 2.
    paths = [paths] if isinstance(paths, str) else list(paths)
    for path in paths:
        if path == "-":
            raise TraceError("the explorer cannot read a trace from stdin: save it to a file "
                             "(or use `tracetui analyze -`)")
        if not os.path.exists(path):
            raise TraceError(f"no such file: {path}")
    trace_files(paths)  # a folder with no trace file in it
    if len(paths) == 1:
        paths = paths[0]
    if (settings.tokenizer or "").strip() != AUTO:  # auto is resolved from the trace, once read
        load_tokenizer(settings.tokenizer)  # an unknown tokenizer is a usage error, not a screen
    if not sys.stdout.isatty():
        raise TraceError("the explorer needs a terminal; use `tracetui analyze` for headless output")
    from .app import create_app

    app = create_app(path, settings)
    code = app.run()
    if app.error_message:
        raise TraceError(app.error_message)  # the CLI prints it as its one error line, exit 2
    return int(code or 0)
