"""Immutable records shared by the reader, the tokenizer, the splitter and the engine.

Nothing here imports textual or rich: the core is usable headless and from tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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


@dataclass(frozen=True, slots=True)
class Trace:
    """A whole trace as read from disk, with what the reader had to repair."""

    name: str
    """Display name: the file's base name (never an absolute path), or "<stdin>"."""
    requests: tuple[Request, ...]
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

    @property
    def hashed(self) -> bool:
        return self.block_size is not None

    @property
    def sessions(self) -> tuple[str | None, ...]:
        """Distinct session ids in order of first appearance."""
        seen: dict[str | None, None] = {}
        for r in self.requests:
            seen.setdefault(r.session_id, None)
        return tuple(seen)


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
