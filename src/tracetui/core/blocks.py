"""Split a prompt into blocks (system, env, tools, history, current, prompt).

The splitter is pure and headless: it only looks at the prompt text (and, for
JSON request bodies, at the raw JSON) and returns `Block`s whose character
ranges cover the text exactly -- contiguous, non-overlapping, no empty block.
Exact coverage is what lets the explorer map every token of a prompt to a
block, so every rule below is written to keep it by construction.

Formats recognised, first match wins:

1. JSON request body (OpenAI / Anthropic) with a ``messages`` array;
2. ChatML ``<|im_start|>role ... <|im_end|>``;
3. Llama 3 ``<|start_header_id|>role<|end_header_id|> ... <|eot_id|>``;
4. ``=== ROLE ===`` header lines;
5. plain ``role: text`` lines;
6. anything else: one ``prompt`` block.

Separator ownership (one rule for every format): a message block starts at
its role marker (``<|im_start|>``, ``<|start_header_id|>``, the ``===`` line,
the ``role:`` line, the JSON key ``"messages"`` for the first message and the
element's ``{`` for the others) and runs up to the next marker.  End tokens
(``<|im_end|>``, ``<|eot_id|>``), newlines, commas and closing brackets thus
belong to the message they close.  Text before the first marker joins the
first block.  A trailing, empty ``assistant`` header (the generation prompt)
is not a message of its own: it stays in the last block.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from .model import Block

__all__ = ["block_at", "split_blocks", "split_output"]


def block_at(blocks: Sequence[Block], char: int) -> int:
    """Index of the block holding character `char`: blocks as the splitter returns them
    (contiguous, in order). Past the end (or before the start), the last block; -1 if none."""
    k = bisect.bisect_right(blocks, char, key=_start) - 1
    if k < 0 or char >= blocks[k].end:
        return len(blocks) - 1
    return k


def _start(b: Block) -> int:
    return b.start

# ---------------------------------------------------------------------------
# Roles

_ROLE_ALIASES = {
    "developer": "system",
    "human": "user",
    "ai": "assistant",
    "model": "assistant",
    "ipython": "tool",
    "function": "tool",
}


def _norm_role(role: Any) -> str:
    """Lower-case a role and map the aliases used by various providers/templates."""
    if not isinstance(role, str):
        return ""
    r = role.strip().lower()
    return _ROLE_ALIASES.get(r, r)


class _Unit(NamedTuple):
    """A contiguous piece of the prompt before kinds are assigned."""

    role: str
    start: int
    end: int
    head: int
    """Where the message content starts (after its role marker); -1 when unknown (JSON)."""
    index: int | None
    """Message index (0-based, in the parsed message list) or None for non-messages."""
    fixed: str | None = None
    """Kind imposed by the format (JSON tools / system / request params), else None."""
    label: str = ""


# ---------------------------------------------------------------------------
# Public API


def split_output(text: str) -> tuple[Block, ...]:
    """The completion as one block (nothing to split in an answer)."""
    if not text:
        return ()
    return (Block("output", "assistant", 0, len(text), source="output"),)


def split_blocks(text: str, doc: Any = None) -> tuple[Block, ...]:
    """Split a prompt into blocks covering `text` exactly.

    `doc` is the parsed JSON body when the caller already has it; it only
    serves as a hint (positions always come from `text` itself).
    """
    if not text:
        return ()
    units = _parse(text, doc)
    if not units:
        return (Block("prompt", "", 0, len(text)),)
    return _assign(text, units)


def _parse(text: str, doc: Any) -> list[_Unit] | None:
    """Try each format in order; None means "unstructured"."""
    maybe_json = doc is None or (isinstance(doc, dict) and isinstance(doc.get("messages"), list))
    if maybe_json and text.startswith("{", _WS_RE.match(text).end()):
        units = _parse_json(text)
        if units is not None:
            return units
    for parse in (_parse_chatml, _parse_llama3, _parse_headers, _parse_plain):
        marks = parse(text)
        if marks:
            return _units_from_marks(text, marks)
    return None


# ---------------------------------------------------------------------------
# Text formats: each parser returns [(role, marker_start, content_start), ...]

_WS_RE = re.compile(r"[ \t\n\r]*")
_CHATML_RE = re.compile(r"<\|im_start\|>[ \t]*(\w*)")
_LLAMA3_RE = re.compile(r"<\|start_header_id\|>[ \t]*(\w*)[ \t]*<\|end_header_id\|>")
_HEADER_RE = re.compile(
    r"^[ \t]*===[ \t]*(system|developer|user|human|assistant|ai|model|tool|function|ipython)"
    r"[ \t]*===[ \t]*\r?$",
    re.IGNORECASE | re.MULTILINE,
)
_PLAIN_RE = re.compile(r"^(system|user|assistant|tool|human|ai)[ \t]*:", re.IGNORECASE | re.MULTILINE)

_Mark = tuple[str, int, int]


def _marks(regex: re.Pattern[str], text: str) -> list[_Mark]:
    return [(_norm_role(m.group(1)), m.start(), m.end()) for m in regex.finditer(text)]


def _parse_chatml(text: str) -> list[_Mark]:
    return _marks(_CHATML_RE, text) if "<|im_start|>" in text else []


def _parse_llama3(text: str) -> list[_Mark]:
    return _marks(_LLAMA3_RE, text) if "<|start_header_id|>" in text else []


def _parse_headers(text: str) -> list[_Mark]:
    return _marks(_HEADER_RE, text) if "===" in text else []


def _parse_plain(text: str) -> list[_Mark]:
    marks = _marks(_PLAIN_RE, text)
    # "user:" can start an ordinary line of prose or code; demand a marker at the
    # very start of the text (after whitespace) or at least two of them.
    if marks and (marks[0][1] == _WS_RE.match(text).end() or len(marks) >= 2):
        return marks
    return []


def _units_from_marks(text: str, marks: list[_Mark]) -> list[_Unit]:
    """Turn role markers into message units that tile the text."""
    n = len(text)
    # The generation prompt (a last, empty assistant header) is not a message:
    # keep it in the previous block so the current turn ends the prompt.
    if len(marks) > 1:
        role, _, head = marks[-1]
        if role == "assistant" and _WS_RE.match(text, head).end() == n:
            marks = marks[:-1]
    units = []
    for i, (role, start, head) in enumerate(marks):
        s = 0 if i == 0 else start  # leading text joins the first block
        e = marks[i + 1][1] if i + 1 < len(marks) else n
        units.append(_Unit(role, s, e, head, i))
    return units


# ---------------------------------------------------------------------------
# JSON request bodies

_DECODER = json.JSONDecoder()
_TOOL_KEYS = ("tools", "functions")


class _Member(NamedTuple):
    key: str
    key_start: int
    value: Any
    elements: list[tuple[Any, int]] | None
    """For `messages`: (element, start) of every array element."""


def _scan_object(text: str) -> list[_Member] | None:
    """Walk the top-level JSON object, recording where each member starts.

    Values are skipped with `raw_decode` (C speed); only the `messages` array
    is walked element by element.  None if the text is not exactly one object.
    """
    ws = _WS_RE.match
    try:
        i = ws(text).end()
        if text[i] != "{":
            return None
        i = ws(text, i + 1).end()
        members: list[_Member] = []
        if text[i] == "}":
            return members if ws(text, i + 1).end() == len(text) else None
        while True:
            if text[i] != '"':
                return None
            key_start = i
            key, i = _DECODER.raw_decode(text, i)
            i = ws(text, i).end()
            if text[i] != ":":
                return None
            i = ws(text, i + 1).end()
            elements = None
            if key == "messages" and text[i] == "[":
                elements, i = _scan_array(text, i)
                value = [el for el, _ in elements]
            else:
                value, i = _DECODER.raw_decode(text, i)
            members.append(_Member(key, key_start, value, elements))
            i = ws(text, i).end()
            if text[i] == ",":
                i = ws(text, i + 1).end()
                continue
            if text[i] == "}":
                return members if ws(text, i + 1).end() == len(text) else None
            return None
    except (ValueError, IndexError, RecursionError):  # not JSON, truncated, or absurdly nested
        return None


def _scan_array(text: str, i: int) -> tuple[list[tuple[Any, int]], int]:
    """Elements of the array opening at text[i] ('['), and the index after its ']'."""
    ws = _WS_RE.match
    out: list[tuple[Any, int]] = []
    i = ws(text, i + 1).end()
    if text[i] == "]":
        return out, i + 1
    while True:
        start = i
        value, i = _DECODER.raw_decode(text, i)
        out.append((value, start))
        i = ws(text, i).end()
        if text[i] == ",":
            i = ws(text, i + 1).end()
        elif text[i] == "]":
            return out, i + 1
        else:
            raise ValueError("bad array")


def _json_role(msg: Any) -> str:
    if not isinstance(msg, dict):
        return ""
    role = _norm_role(msg.get("role"))
    # Anthropic sends tool results as "user" messages; call them what they are.
    content = msg.get("content")
    if role == "user" and isinstance(content, list) and content and all(
        isinstance(c, dict) and c.get("type") == "tool_result" for c in content
    ):
        return "tool"
    return role


def _parse_json(text: str) -> list[_Unit] | None:
    """Units of a chat request body, or None if `text` is not one."""
    members = _scan_object(text)
    if members is None or not any(m.key == "messages" and m.elements is not None for m in members):
        return None
    # Anchors: (position, role, fixed kind, label, message index), in text order.
    anchors: list[tuple[int, str, str | None, str, int | None]] = []
    for m in members:
        if m.key == "system":
            anchors.append((m.key_start, "system", "system", "system", None))
        elif m.key in _TOOL_KEYS:
            count = len(m.value) if isinstance(m.value, (list, dict)) else 0
            anchors.append((m.key_start, "", "tools", f"{count} tool{'' if count == 1 else 's'}", None))
        elif m.key == "messages" and m.elements:
            for idx, (msg, start) in enumerate(m.elements):
                # The first message owns the `"messages": [` that introduces it.
                pos = m.key_start if idx == 0 else start
                anchors.append((pos, _json_role(msg), None, f"message {idx}", idx))
    if not anchors:
        return []
    units: list[_Unit] = []
    first = anchors[0][0]
    if any(m.key_start < first for m in members):
        # Request parameters (model, max_tokens, ...) before any content.
        units.append(_Unit("", 0, first, -1, None, "prompt", "request"))
    else:
        anchors[0] = (0,) + anchors[0][1:]
    # Parameters after a content member (e.g. "stream") join the block before them.
    for k, (pos, role, fixed, label, idx) in enumerate(anchors):
        end = anchors[k + 1][0] if k + 1 < len(anchors) else len(text)
        units.append(_Unit(role, pos, end, -1, idx, fixed, label))
    return units


# ---------------------------------------------------------------------------
# Kinds

_ENV_LINE_RE = re.compile(
    # At a line start, or after a JSON-escaped newline / the opening quote of a JSON string.
    r"(?:^|\\n|\")[ \t>*-]*(working directory|cwd|platform|today.s date|current date|os version"
    r"|is directory a git repo)\b",
    re.IGNORECASE | re.MULTILINE,
)
_ENV_MAX = 2000
_ENV_SMALL = 400
_SECTION_RE = re.compile(r"<(env|tools|functions)>")
_SECTION_KIND = {"env": "env", "tools": "tools", "functions": "tools"}
_TOOLS_HEAD_RE = re.compile(r"\s*(?:#+[ \t]*tools\b|<tools>|<functions>)", re.IGNORECASE)


def _is_env_message(text: str, u: _Unit) -> bool:
    """A short message made of working-directory / platform / date lines.

    One such line is enough in a very short message; a longer one (up to
    ~2000 chars) needs two different ones, so that a system prompt merely
    ending with "Today's date: ..." stays a system prompt.
    """
    if u.end - u.start >= _ENV_MAX:
        return False
    names = {m.group(1).lower() for m in _ENV_LINE_RE.finditer(text, u.start, u.end)}
    return len(names) >= 2 or (len(names) == 1 and u.end - u.start < _ENV_SMALL)


def _sections(text: str, u: _Unit, with_tools: bool) -> list[tuple[str, int, int]]:
    """`<env>…</env>` (and `<tools>` / `<functions>`) spans inside a unit, in order."""
    out = []
    pos = u.start
    # A tag whose closing tag is missing stays missing further on: remembering
    # it keeps a message full of unclosed "<env>" linear instead of quadratic.
    unclosed = set() if with_tools else {"tools", "functions"}
    while True:
        m = _SECTION_RE.search(text, pos, u.end)
        if m is None:
            return out
        tag = m.group(1)
        pos = m.end()
        if tag in unclosed:
            continue
        close = f"</{tag}>"
        j = text.find(close, m.end(), u.end)
        if j < 0:
            unclosed.add(tag)
            continue
        pos = j + len(close)
        # An empty pair ("described inside <tools></tools>") is prose about a section.
        if text[m.end():j].strip():
            out.append((_SECTION_KIND[tag], m.start(), pos))


def _split_unit(text: str, u: _Unit, kind: str, label: str) -> list[Block]:
    """Blocks of a system (or first user) message, with env/tools carved out.

    A whole message is labelled "message N" whatever its kind (it is still a
    message); a section carved out of one is labelled by its kind.
    """
    is_system = u.role == "system" or u.fixed == "system"
    if is_system and u.head >= 0 and _TOOLS_HEAD_RE.match(text, u.head):
        return [Block("tools", u.role, u.start, u.end, label)]
    sections = _sections(text, u, with_tools=is_system)
    # Explicit tags are more precise than the env-lines heuristic: try them first.
    if not sections and _is_env_message(text, u):
        return [Block("env", u.role, u.start, u.end, label)]
    blocks = []
    pos = u.start
    for sec_kind, a, b in sections:
        if a > pos:
            blocks.append(Block(kind, u.role, pos, a, label))
        # Whitespace left after the last section is not worth its own block.
        if _WS_RE.match(text, b, u.end).end() == u.end:
            b = u.end
        blocks.append(Block(sec_kind, u.role, a, b, sec_kind))
        pos = b
    if pos < u.end:
        blocks.append(Block(kind, u.role, pos, u.end, label))
    return blocks


def _current_start(roles: list[str]) -> int:
    """Index of the first message of the current turn.

    The current turn is what follows the last assistant message (the latest
    user / tool messages); with no assistant message it is the last non-system
    message.  A prompt ending with an assistant message (a prefill) has that
    message as its current turn.
    """
    last_asst = max((k for k, r in enumerate(roles) if r == "assistant"), default=-1)
    if last_asst >= 0:
        return min(last_asst + 1, len(roles) - 1)
    non_system = [k for k, r in enumerate(roles) if r != "system"]
    return non_system[-1] if non_system else len(roles)


def _assign(text: str, units: list[_Unit]) -> tuple[Block, ...]:
    """Give every unit its kind(s): system/env/tools prefix, history, current."""
    conv = [u for u in units if u.fixed is None]
    roles = [u.role for u in conv]
    cur = _current_start(roles)
    pre = 0  # leading system messages
    while pre < cur and roles[pre] == "system":
        pre += 1
    # Env may also hide in the first user message (before the current turn).
    first_user = pre if pre < cur and roles[pre] == "user" else -1

    blocks: list[Block] = []
    k = 0  # position in conv
    for u in units:
        label = u.label or (f"message {u.index}" if u.index is not None else "")
        if u.fixed is not None:
            if u.fixed == "system":
                blocks.extend(_split_unit(text, u, "system", label))
            else:
                blocks.append(Block(u.fixed, u.role, u.start, u.end, label))
            continue
        if k < pre:
            blocks.extend(_split_unit(text, u, "system", label))
        elif k == first_user:
            blocks.extend(_split_unit(text, u, "history", label))
        elif k < cur:
            blocks.append(Block("history", u.role, u.start, u.end, label))
        else:
            blocks.append(Block("current", u.role, u.start, u.end, label))
        k += 1
    return tuple(blocks)
