"""`tracetui TRACE`: check the path, then run the explorer."""

from __future__ import annotations

import os
import sys

from ..core.model import TraceError
from ..core.pipeline import Settings
from ..core.tokenizer import load_tokenizer


def run_explorer(path: str, settings: Settings) -> int:
    # Fail before the UI starts for what can be told at once: one line, exit code 2.
    if path == "-":
        raise TraceError("the explorer cannot read a trace from stdin: save it to a file "
                         "(or use `tracetui analyze -`)")
    if not os.path.exists(path):
        raise TraceError(f"no such file: {path}")
    if os.path.isdir(path):
        raise TraceError(f"{path} is a directory, not a trace file")
    load_tokenizer(settings.tokenizer)  # an unknown tokenizer is a usage error, not a screen
    if not sys.stdout.isatty():
        raise TraceError("the explorer needs a terminal; use `tracetui analyze` for headless output")
    from .app import create_app

    app = create_app(path, settings)
    code = app.run()
    if app.error_message:
        raise TraceError(app.error_message)  # the CLI prints it as its one error line, exit 2
    return int(code or 0)
