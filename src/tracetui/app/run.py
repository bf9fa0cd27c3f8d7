"""`tracetui TRACE`: check the path, then run the explorer."""

from __future__ import annotations

import os
import sys

from ..core.model import TraceError
from ..core.pipeline import Settings
from ..core.tokenizer import load_tokenizer


def _check_trace(path: str, settings: Settings) -> None:
    """Fail before the UI starts for what can be told at once: one line, exit code 2."""
    if path == "-":
        raise TraceError("the explorer cannot read a trace from stdin: save it to a file "
                         "(or use `tracetui analyze -`)")
    if not os.path.exists(path):
        raise TraceError(f"no such file: {path}")
    if os.path.isdir(path):
        raise TraceError(f"{path} is a directory, not a trace file")
    load_tokenizer(settings.tokenizer)  # an unknown tokenizer is a usage error, not a screen


def run_explorer(path: str, settings: Settings) -> int:
    _check_trace(path, settings)
    # textual-serve runs the explorer with its web driver, its output a pipe to the server.
    served = "web_driver" in os.environ.get("TEXTUAL_DRIVER", "")
    if not sys.stdout.isatty() and not served:
        raise TraceError("the explorer needs a terminal; use `tracetui analyze` for headless output")
    from .app import create_app

    app = create_app(path, settings)
    code = app.run()
    if app.error_message:
        raise TraceError(app.error_message)  # the CLI prints it as its one error line, exit 2
    return int(code or 0)


def run_serve(args, settings: Settings) -> int:
    """`tracetui serve TRACE`: textual-serve runs `tracetui TRACE` (with the same settings)
    for every browser tab that opens the page."""
    import shlex

    from ..core.display import display_text

    _check_trace(args.trace, settings)
    if not 0 < args.port < 65536:
        raise TraceError(f"--port must be between 1 and 65535, not {args.port}")
    try:
        from textual_serve.server import Server
    except ImportError:
        raise TraceError("tracetui serve needs textual-serve: pip install 'tracetui[serve]'") from None
    command = [sys.executable, "-m", "tracetui", os.path.abspath(args.trace), "--chunk-size", str(settings.chunk_size),
               "--tokens-per-gb", repr(settings.tokens_per_gb), "--pool-sizes", *settings.pool_sizes]
    if settings.tokenizer:
        command += ["--tokenizer", settings.tokenizer]
    Server(shlex.join(command), host=args.host, port=args.port,
           title=f"tracetui {display_text(os.path.basename(args.trace))}").serve()
    return 0
