"""Immutable records shared by the reader, the tokenizer, the splitter and the engine.

Nothing here imports textual or rich: the core is usable headless and from tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


class TraceError(Exception):
    """A trace that cannot be read at all (missing, a directory, binary, empty...).

    The message is one line meant for the user; the CLI prints it and exits 2,
    the app shows it on an error screen.
    """


@dataclass(frozen=True, slots=True)
class Request:
    """One LLM request of a trace, in file order."""

    index: int
    """Position in the trace (0-based, after skipped lines)."""
    line: int
    """1-based line number in the file."""
    input: str
    """The prompt text exactly as the engine tokenizes it."""
    output: str = ""
    """The completion ("" when missing)."""
    timestamp: float | None = None
    """Seconds since the epoch (normalised from s / ms / us)."""
    session_id: str | None = None
    model: str | None = None
    input_doc: Any = None
    """The parsed JSON request body when `input` holds one (OpenAI / Anthropic), else None."""
    output_doc: Any = None
    """The parsed JSON response body when `output` holds one, else None."""
    usage: Any = None
    """Provider-reported usage when the record carries it (a dict), else None."""
    request_id: str | None = None
    """The record's own id when it has one (batch `custom_id`, Bailian `chat_id`...)."""
    hashed: HashedInput | None = None
    """For a hashed trace (no text: `input` and `output` are ""), the prompt's block hashes."""


@dataclass(frozen=True, slots=True)
class HashedInput:
    """A request of a hashed trace (Mooncake, Bailian, ServeGen, Claude Code): the prompt as
    block hash ids, at the trace's `Trace.block_size` B tokens a block.

    `block_ids[k]` stands for block k *and the whole prefix before it* (ids are chained
    hashes), so two requests share a prefix of k blocks exactly when their first k ids are
    equal. Only the first `full_blocks` ids cover B tokens; a last id beyond them covers the
    partial tail (input_length - full_blocks * B tokens) and can never be hit. No ids exist
    for the output: its `output_length` tokens take room in a pool but are never shared.
    """

    block_ids: tuple[int, ...]
    input_length: int
    """Prompt tokens (what the engines' L-1 cap and rejection rules apply to)."""
    output_length: int
    full_blocks: int
    """floor(input_length / B), at most len(block_ids)."""


class Requests(Sequence):
    """The requests of a trace, in order: a sequence of `Request`, plus the columns that views
    read for every request at once (timestamps, sessions, models, lines, text lengths), so
    that a pass over a whole trace for one field never builds a Request per request.

    This base class holds Request objects (a trace built in code, the tests); the reader's
    `core.reader.LazyRequests` holds only the columns and re-reads a request's line when it
    is asked for. Equal to any sequence of equal requests."""

    __slots__ = ("_items",)

    def __init__(self, items: Sequence[Request] = ()) -> None:
        self._items = tuple(items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i):
        return self._items[i]

    def __iter__(self) -> Iterator[Request]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} requests)"

    # --- columns (one entry per request) ---

    def timestamps(self) -> np.ndarray:
        """Every request's timestamp as float64 seconds, NaN where it has none."""
        return np.array([np.nan if r.timestamp is None else r.timestamp for r in self._items], dtype=np.float64)

    def lines(self) -> np.ndarray:
        """Every request's 1-based line number (int64)."""
        return np.array([r.line for r in self._items], dtype=np.int64)

    def session_ids(self) -> list[str | None]:
        return [r.session_id for r in self._items]

    def models(self) -> list[str | None]:
        """Every request's `model` field."""
        return [r.model for r in self._items]

    def body_models(self) -> list[str | None]:
        """Every request's model: its `model`, else its request body's `model` string."""
        return [r.model if r.model is not None else _doc_model(r.input_doc) for r in self._items]

    def body_model_counts(self) -> dict[str, int]:
        """How many requests name each model (body_models; None and "" left out), in the
        order the models first appear."""
        counts: dict[str, int] = {}
        for m in self.body_models():
            if m:
                counts[m] = counts.get(m, 0) + 1
        return counts

    def session_count(self) -> int:
        """Distinct session ids (None is one)."""
        return len(set(self.session_ids()))

    def text_lengths(self) -> tuple[np.ndarray, np.ndarray]:
        """(len(input), len(output)) of every request, in characters (int64)."""
        return (np.array([len(r.input) for r in self._items], dtype=np.int64),
                np.array([len(r.output) for r in self._items], dtype=np.int64))


def _doc_model(doc: Any) -> str | None:
    m = doc.get("model") if isinstance(doc, dict) else None
    return m if isinstance(m, str) else None


@dataclass(frozen=True, slots=True)
class Trace:
    """A whole trace as read from disk, with what the reader had to repair."""

    name: str
    """Display name: the file's base name (never an absolute path), or "<stdin>"."""
    requests: Requests
    """The requests in order (any sequence of Request given is held as a `Requests`)."""
    warnings: tuple[str, ...] = ()
    """One-line human warnings (recovered lines, skipped lines, invalid UTF-8)."""
    recovered_lines: tuple[int, ...] = ()
    skipped_lines: tuple[int, ...] = ()
    invalid_utf8: int = 0
    """Number of lines in which invalid UTF-8 was replaced."""
    formats: tuple[str, ...] = ()
    """The record formats read (core.formats.FORMATS names), in order of first appearance."""
    block_size: int | None = None
    """Tokens per hash block for a hashed trace (every request has `hashed`), else None."""
    files: tuple[tuple[str, int], ...] = ()
    """A trace read from several files: (file name, its first request) of each, in order
    (each file has its own clock: timestamps are compared within a file); () for one file."""

    def __post_init__(self) -> None:
        if not isinstance(self.requests, Requests):
            object.__setattr__(self, "requests", Requests(self.requests))

    @property
    def hashed(self) -> bool:
        return self.block_size is not None

    @property
    def sessions(self) -> tuple[str | None, ...]:
        """Distinct session ids in order of first appearance."""
        return tuple(dict.fromkeys(self.requests.session_ids()))

    @property
    def session_count(self) -> int:
        """len(sessions), without building it (a million requests: from the session codes)."""
        return self.requests.session_count()


BLOCK_KINDS = ("system", "env", "tools", "history", "current", "output", "prompt")
"""Kinds of prompt blocks, in the order they usually appear."""


@dataclass(frozen=True, slots=True)
class Block:
    """A contiguous part of a prompt (or the output), as character offsets into its text."""

    kind: str
    """One of BLOCK_KINDS."""
    role: str
    """Role of the message(s) in the block: system, user, assistant, tool, or ""."""
    start: int
    """First character (inclusive) in the text the block belongs to."""
    end: int
    """Last character (exclusive)."""
    label: str = ""
    """Short extra description (e.g. "message 3", "3 tools")."""
    source: str = "input"
    """"input" or "output": which text the offsets refer to."""
