"""`analyze --log-matches FILE`: every substring match of the unlimited pool, as the seed study wrote them."""

from __future__ import annotations

import os
import sys

import orjson

from ..core.engines.study import Analysis

# Bytes per line item of --log-matches (`{"MatchStart":1234,...,"PrevMatchEnd":56789},`), and
# per request line; past LOG_WARN_BYTES the size is announced on stderr before writing.
MATCH_BYTES = 90
LOG_WARN_BYTES = 100 << 20


def check_log_path(path: str, traces: str | list[str]) -> None:
    """Refuse a --log-matches path that is one of the trace's files: opening it for writing
    would empty that file before it is read."""
    from ..core.formats.loader import trace_files
    from ..core.model import TraceError

    try:
        files = trace_files([traces] if isinstance(traces, str) else traces)
    except TraceError:  # a folder with no trace file: the read says so
        return
    for trace in files:
        if trace == "-":
            continue
        try:
            same = os.path.samefile(path, trace)
        except (OSError, ValueError):  # either does not exist (yet): not the same file
            same = False
        if same:
            raise ValueError(f"--log-matches {path} is the trace itself: give another file")


def write_matches(a: Analysis, path: str) -> None:
    """One JSON line per request, in the seed study's --log-matches format."""
    estimate = a.match_count() * MATCH_BYTES + a.requests * 60
    if estimate > LOG_WARN_BYTES:
        print(f"tracetui: warning: --log-matches writes about {estimate / 1e6:,.0f} MB to {path} "
              "(one item per matching (window, chunk) pair)", file=sys.stderr)
    try:
        with open(path, "wb") as f:
            for i in range(a.requests):
                matches = [{"MatchStart": s, "MatchEnd": e, "PrevStep": j, "PrevMatchStart": ps,
                            "PrevMatchEnd": pe} for s, e, j, ps, pe in a.iter_matches(i)] if i else []
                f.write(orjson.dumps({"StepID": i, "InputLen": int(a.input_lens[i]),
                                      "OutputLen": int(a.output_lens[i]), "Matches": matches}) + b"\n")
    except OSError as exc:  # a full disk (/dev/full), a directory, no permission
        raise ValueError(f"cannot write {path}: {exc.strerror or exc}") from None
