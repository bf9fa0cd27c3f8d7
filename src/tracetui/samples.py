"""Deterministic generator of the small sample traces shipped in ``sample_traces/``.

Run ``python -m tracetui.samples [DIR]`` (DIR defaults to ``sample_traces`` in the
current directory) to rewrite them.  Every file is produced from a fixed seed with
``random.Random`` and written with ``json.dumps(..., ensure_ascii=False)`` and "\\n"
line endings, so two runs give byte-identical files on any Python >= 3.10.

All content (prompts, code, tool output) is made up here; it only has to *look*
like the traffic of a programming agent.

Files written:

* ``opencode_like.jsonl``: an append-only coding agent (ChatML, tool calls), with
  two deliberate prefix breakers (see ``OPENCODE_RESERIALISED``).
* ``aider_like.jsonl``: a repo map that changes every request and a chat history
  that is periodically replaced by a summary (see ``AIDER_SUMMARISED``).
* ``two_sessions.jsonl``: two interleaved sessions in plain ``role: text`` form.
* ``malformed.jsonl``: Llama 3 prompts plus one recoverable line (unescaped JSON in
  ``input``), one garbage line and one blank line (see ``MALFORMED_*_LINE``).
* ``big_prompt.jsonl``: three requests, two of which carry a ~250 KB prompt.
* ``README.md``: a short description of the above.

Only the standard library is used so that this module works without textual/rich.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "AIDER_SUMMARISED",
    "BASE_TIMESTAMP_MS",
    "MALFORMED_BLANK_LINE",
    "MALFORMED_GARBAGE_LINE",
    "MALFORMED_RECOVERABLE_LINE",
    "OPENCODE_RESERIALISED",
    "PROMPT_FILES",
    "SAMPLE_FILES",
    "main",
    "write_samples",
]

BASE_TIMESTAMP_MS = 1767225600000
"""2026-01-01T00:00:00Z in milliseconds: the first timestamp of every sample file."""

OPENCODE_RESERIALISED = (6, 8)
"""Indices of the opencode_like requests whose history holds the previous output
re-serialised (compact JSON in the tool call) instead of byte-for-byte."""

AIDER_SUMMARISED = (4, 8)
"""Indices of the aider_like requests whose chat history was replaced by a summary."""

MALFORMED_RECOVERABLE_LINE = 5
"""1-based line of malformed.jsonl holding unescaped JSON in "input" (recoverable)."""
MALFORMED_BLANK_LINE = 8
"""1-based line of malformed.jsonl that is empty."""
MALFORMED_GARBAGE_LINE = 10
"""1-based line of malformed.jsonl that is truncated garbage (to be skipped)."""

SAMPLE_FILES = (
    "opencode_like.jsonl",
    "aider_like.jsonl",
    "two_sessions.jsonl",
    "malformed.jsonl",
    "big_prompt.jsonl",
    "request_bodies.jsonl",
    "bailian_hashed.jsonl",
)

PROMPT_FILES = SAMPLE_FILES[:5]
"""The samples in tracetui's own record format (`input` / `output` text)."""

# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


class _Clock:
    """Millisecond timestamps starting at BASE_TIMESTAMP_MS, a few seconds apart."""

    def __init__(self, rng: random.Random, low: int = 2000, high: int = 9000) -> None:
        self._rng = rng
        self._low = low
        self._high = high
        self._now = BASE_TIMESTAMP_MS

    def next(self) -> int:
        now = self._now
        self._now += self._rng.randrange(self._low, self._high)
        return now


def _record(timestamp: int, session_id: str, model: str, prompt: str, output: str) -> dict:
    return {
        "timestamp": timestamp,
        "session_id": session_id,
        "model": model,
        "input": prompt,
        "output": output,
    }


def _dumps(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False)


def _hex(rng: random.Random, digits: int) -> str:
    return format(rng.getrandbits(4 * digits), f"0{digits}x")


def _im(role: str, content: str) -> str:
    """One ChatML message."""
    return f"<|im_start|>{role}\n{content}<|im_end|>\n"


_IM_ASSISTANT = "<|im_start|>assistant\n"


def _numbered(text: str) -> str:
    """File contents the way the made-up `read` tool shows them."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    body = "\n".join(f"{i:05d}| {line}" for i, line in enumerate(lines, 1))
    return f"<file>\n{body}\n\n(End of file - total {len(lines)} lines)\n</file>"


def _line_of(text: str, needle: str) -> int:
    """1-based number of the first line of `text` containing `needle`."""
    for i, line in enumerate(text.split("\n"), 1):
        if needle in line:
            return i
    raise ValueError(f"{needle!r} not found")


def _tool_call(name: str, arguments: dict, *, compact: bool = False) -> str:
    call = {"name": name, "arguments": arguments}
    if compact:
        body = json.dumps(call, ensure_ascii=False, separators=(",", ":"))
    else:
        body = json.dumps(call, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


# ---------------------------------------------------------------------------
# 1. opencode_like.jsonl
# ---------------------------------------------------------------------------

_OPENCODE_PROSE = """\
You are Quill, an interactive command-line agent that helps developers with software engineering work. Use the instructions below and the tools available to you to assist the user.

Do not invent URLs. Only use a URL when the user gave it to you or when you are confident it points to documentation that is directly relevant to the programming task at hand. When you are unsure, say so instead of guessing.

If the user asks for help or wants to give feedback, tell them that /help lists the available commands and that problems can be reported in the issue tracker of the project that ships this agent.

# Tone and style
Keep your answers short and to the point. Your replies are shown in a monospace terminal and rendered as CommonMark, so prefer plain sentences, inline code spans for identifiers and paths, and fenced blocks for anything longer than a line. Do not use headings for replies of a few lines.

Only use tools to get work done. Never use a shell command or a code comment as a way to talk to the user; everything you want the user to read goes into your reply text.

When you run a command that changes the system (installing packages, deleting files, rewriting history), explain in one sentence what it does and why before you run it.

Avoid preamble and postamble. Do not start with "Sure" or "Great question", and do not end with a summary of what you are about to do or have just done unless the user asks for one. A one-word answer is best when it is enough. Examples:
user: what is 7 * 6?
assistant: 42
user: which command lists the tests without running them?
assistant: pytest --collect-only -q

# Being proactive
You may take initiative, but only in service of what the user asked. Strike a balance between doing the right thing when asked, including obvious follow-up steps, and not surprising the user with changes they did not request. If the user asks how to approach something, answer the question first; do not start editing files straight away.

# Following conventions
Before changing a file, read enough of it, and of its neighbours, to understand the local conventions: naming, formatting, error handling, typing, and the libraries in use. Mimic them.
- Never assume a library is available. Check the dependency manifest (pyproject.toml, package.json, go.mod, Cargo.toml and so on) or look at how nearby modules import it before you use it.
- When you create a new component, look at existing components first and follow their structure, framework choice and naming.
- When you edit code, look at the surrounding imports and call sites so that the change fits in idiomatically.
- Follow security best practice. Never write code that logs or exposes secrets or keys, and never commit them.

# Task management
For work with several distinct steps, keep a task list with the todowrite tool and update it as you go: mark an item in_progress before you start it and completed as soon as it is done, without batching several completions together. The list is for you and for the user, who sees it next to the conversation, so phrase items as short imperative sentences. Do not use the list for a single trivial step.

When a step fails, say so plainly, keep the item in_progress, and add a new item for what is needed to unblock it. Never mark an item completed when tests fail, when the implementation is partial, or when you hit errors you have not resolved.

# Code style
Do not add comments to the code you write unless the user asks for them or the code is genuinely subtle. Never use comments to describe the change you just made.

# Doing tasks
The user will mostly ask you to fix bugs, add features, refactor code, explain code, or write tests. For these tasks:
1. Search the codebase to understand the problem and the code involved. Use the search tools generously, both in parallel and one after another.
2. Make the change with the tools available to you.
3. Verify the change with the project's tests. Never assume a particular test framework or test command: find out from the README, the build files or the CI configuration.
4. When you are done, run the project's lint and type-check commands if you know them. If you cannot find them, ask the user and suggest recording them in AGENTS.md so that you know next time.

Never commit changes unless the user explicitly asks you to. It is very important to only commit when asked; otherwise the user will feel that you are being too proactive.

# Tool usage policy
- When several independent pieces of information are needed, call the tools for them in the same turn.
- Prefer the dedicated tools to shell commands: use read instead of cat, grep instead of shell grep, glob instead of find, edit instead of sed.
- Tool results and user messages may include <system-reminder> tags. They carry useful information and reminders; they are added automatically and are not part of what the user typed.
- Keep long-running commands within the timeout. If a command needs to run in the background, say so and explain how to check on it.

# Code references
When you refer to a specific function or piece of code, use the pattern `file_path:line_number` so that the user can jump straight to the source location.
user: Where are request timeouts configured?
assistant: The default comes from `DEFAULT_TIMEOUT` in src/client/http.py:41 and can be overridden per call.

Here is useful information about the environment you are running in:
<env>
  Working directory: /home/dev/project
  Is directory a git repo: yes
  Platform: linux
  Today's date: Thu Jan 01 2026
</env>
<project>
  tally: a small command-line tool that imports bank statements into plain-text ledgers.
  Test command: pytest -q
</project>
"""

_OPENCODE_TOOLS = [
    {
        "name": "bash",
        "description": (
            "Runs a shell command in a persistent bash session in the working directory, with an "
            "optional timeout in milliseconds (default 120000, at most 600000). Output longer than "
            "30000 characters is truncated. Use it for builds, tests, git and package managers; do "
            "not use it to read, search or edit files, for which dedicated tools exist. Always quote "
            "paths that contain spaces. Give a short description of what the command does."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "The command to run."},
                "timeout": {"type": "number", "description": "Timeout in milliseconds."},
                "description": {
                    "type": "string",
                    "description": "Five to ten words saying what the command does.",
                },
            },
            "required": ["command", "description"],
        },
    },
    {
        "name": "read",
        "description": (
            "Reads a file from the local filesystem. The path must be absolute. By default up to "
            "2000 lines are returned from the start of the file; use offset and limit for long "
            "files. Lines are returned numbered, starting at 1. Reading a file that does not exist "
            "returns an error, which is fine. Read several files in one turn when you need them."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "filePath": {"type": "string", "description": "Absolute path of the file."},
                "offset": {"type": "number", "description": "First line to read (0-based)."},
                "limit": {"type": "number", "description": "Number of lines to read."},
            },
            "required": ["filePath"],
        },
    },
    {
        "name": "edit",
        "description": (
            "Performs an exact string replacement in a file. You must read the file at least once "
            "in this conversation before editing it. oldString must match the file exactly, "
            "including indentation, and must be unique in the file unless replaceAll is true. "
            "Keep oldString as small as possible while still unique."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "filePath": {"type": "string"},
                "oldString": {"type": "string"},
                "newString": {"type": "string"},
                "replaceAll": {"type": "boolean", "default": False},
            },
            "required": ["filePath", "oldString", "newString"],
        },
    },
    {
        "name": "write",
        "description": (
            "Writes a whole file, replacing it if it exists. Prefer edit for existing files. Never "
            "create documentation files unless the user asks for them."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "filePath": {"type": "string"},
                "content": {"type": "string"},
            },
            "required": ["filePath", "content"],
        },
    },
    {
        "name": "grep",
        "description": (
            "Searches file contents with a regular expression and returns matching lines with "
            "their paths and line numbers, most recently modified files first. Filter files with "
            "include, for example \"*.py\" or \"*.{ts,tsx}\"."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "pattern": {"type": "string"},
                "path": {"type": "string"},
                "include": {"type": "string"},
            },
            "required": ["pattern"],
        },
    },
    {
        "name": "glob",
        "description": "Finds files by name with a glob pattern such as \"src/**/*.py\".",
        "parameters": {
            "type": "object",
            "properties": {"pattern": {"type": "string"}, "path": {"type": "string"}},
            "required": ["pattern"],
        },
    },
    {
        "name": "list",
        "description": "Lists the files and directories under a path, skipping ignored ones.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "ignore": {"type": "array"}},
        },
    },
    {
        "name": "todowrite",
        "description": (
            "Creates or updates the structured task list for this session. Use it for work with "
            "three or more distinct steps, mark items in_progress before starting them and "
            "completed as soon as they are done."
        ),
        "parameters": {
            "type": "object",
            "properties": {"todos": {"type": "array"}},
            "required": ["todos"],
        },
    },
]


def _opencode_system() -> str:
    tools = "\n".join(json.dumps(t, ensure_ascii=False) for t in _OPENCODE_TOOLS)
    return (
        _OPENCODE_PROSE
        + "\n# Tools\n\nYou may call one or more functions to assist with the user query. "
        "The available functions are described inside <tools></tools>:\n<tools>\n"
        + tools
        + "\n</tools>\n\nFor each call, return a JSON object with the function name and its "
        "arguments inside <tool_call></tool_call> tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )


_CONFIG_PY = '''\
"""Loading and validating tally's configuration file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

DEFAULTS = {
    "currency": "EUR",
    "date_format": "%Y-%m-%d",
    "rounding": 2,
    "ledger_dir": "ledgers",
}


class ConfigError(ValueError):
    """The configuration file is invalid."""


@dataclass(frozen=True)
class Config:
    currency: str
    date_format: str
    rounding: int
    ledger_dir: Path


def load_config(path: Path) -> Config:
    """Read `path` (TOML) and fill in defaults for missing keys."""
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) in {path}: {', '.join(unknown)}")
    values = dict(DEFAULTS)
    values.update(raw)
    return Config(**values)
'''


def _test_config_py(currency: str, rounding: int, ledger_dir: str) -> str:
    return f'''\
from pathlib import Path

import pytest

from tally.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tally.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_currency(tmp_path):
    cfg = load_config(write(tmp_path, 'currency = "{currency}"\\n'))
    assert cfg["currency"] == "{currency}"


def test_rounding_is_int(tmp_path):
    cfg = load_config(write(tmp_path, "rounding = {rounding}\\n"))
    assert cfg["rounding"] == {rounding}


def test_ledger_dir_is_path(tmp_path):
    cfg = load_config(write(tmp_path, 'ledger_dir = "{ledger_dir}"\\n'))
    assert cfg["ledger_dir"] == Path("{ledger_dir}")


def test_empty_file_uses_defaults(tmp_path):
    cfg = load_config(write(tmp_path, ""))
    assert cfg.currency == "EUR"
    assert cfg.rounding == 2


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "nope.toml")
'''


def _pytest_failure(name: str, run: int, source: str, fail_line: str, error: str, path: str) -> str:
    """One FAILURES section of a made-up pytest report for a test in `source`."""
    lines = source.split("\n")
    start = _line_of(source, f"def {name}(")
    end = start
    while end < len(lines) and lines[end].strip():
        end += 1
    body = []
    for line in lines[start - 1 : end]:
        marker = ">   " if line.strip() == fail_line.strip() else "    "
        body.append(f"{marker}{line}".rstrip())
    lineno = _line_of(source, fail_line.strip())
    kind = error.split(":", 1)[0]
    title = f" {name} "
    return (
        f"{title:_^80}\n\n"
        f"tmp_path = PosixPath('/tmp/pytest-of-dev/pytest-{run}/{name}0')\n\n"
        + "\n".join(body)
        + f"\nE       {error}\n\n{path}:{lineno}: {kind}\n"
    )


def _opencode(rng: random.Random) -> list[dict]:
    model = "qwen3-coder-30b-a3b-instruct"
    session = "ses_" + _hex(rng, 24)
    root = "/home/dev/project"
    currency = rng.choice(["USD", "GBP", "CHF", "SEK", "JPY"])
    rounding = rng.choice([0, 3, 4])
    ledger_dir = rng.choice(["books", "journal", "accounts", "ledger-2026"])
    run = rng.randrange(3, 40)
    suite_total = rng.randrange(38, 64)
    test_py = _test_config_py(currency, rounding, ledger_dir)
    test_path = "tests/test_config.py"

    def secs() -> str:
        return f"{rng.randrange(4, 95) / 100:.2f}s"

    # -- the first pytest run: three tests still subscript the Config -------------------
    failing = [
        ("test_reads_currency", f'assert cfg["currency"] == "{currency}"'),
        ("test_rounding_is_int", f'assert cfg["rounding"] == {rounding}'),
        ("test_ledger_dir_is_path", f'assert cfg["ledger_dir"] == Path("{ledger_dir}")'),
    ]
    err = "TypeError: 'Config' object is not subscriptable"
    report1 = (
        "FFF..                                                                    [100%]\n"
        + f"{' FAILURES ':=^80}\n"
        + "".join(_pytest_failure(n, run, test_py, fl, err, test_path) for n, fl in failing)
        + f"{' short test summary info ':=^80}\n"
        + "".join(f"FAILED {test_path}::{n} - {err}\n" for n, _ in failing)
        + f"3 failed, 2 passed in {secs()}"
    )

    # -- grep for subscripted configs ----------------------------------------------------
    cli_line = rng.randrange(20, 60)
    report_line = rng.randrange(30, 120)
    import_line = rng.randrange(60, 140)
    grep_out = (
        "Found 6 matches\n"
        f"{root}/tests/test_config.py:\n"
        f"  Line {_line_of(test_py, 'cfg = load_config(write(tmp_path, ' + chr(39) + 'currency')}: "
        f"    cfg = load_config(write(tmp_path, 'currency = \"{currency}\"\\n'))\n"
        f"  Line {_line_of(test_py, 'rounding = ')}: "
        f'    cfg = load_config(write(tmp_path, "rounding = {rounding}\\n"))\n'
        f"  Line {_line_of(test_py, 'cfg = load_config(write(tmp_path, ' + chr(39) + 'ledger_dir')}: "
        f"    cfg = load_config(write(tmp_path, 'ledger_dir = \"{ledger_dir}\"\\n'))\n\n"
        f"{root}/src/tally/cli.py:\n"
        f"  Line {cli_line}:     config = load_config(args.config)\n\n"
        f"{root}/src/tally/report.py:\n"
        f"  Line {report_line}:     cfg = load_config(config_path)\n\n"
        f"{root}/src/tally/importer.py:\n"
        f"  Line {import_line}:         self.config = load_config(path)"
    )

    # -- second run: the path is still a str -------------------------------------------
    fixed_test_py = test_py.replace('cfg["currency"]', "cfg.currency")
    fixed_test_py = fixed_test_py.replace('cfg["rounding"]', "cfg.rounding")
    fixed_test_py = fixed_test_py.replace('cfg["ledger_dir"]', "cfg.ledger_dir")
    path_fail = f'assert cfg.ledger_dir == Path("{ledger_dir}")'
    path_err = (
        f"AssertionError: assert '{ledger_dir}' == PosixPath('{ledger_dir}')\n"
        f"E        +  where '{ledger_dir}' = Config(currency='EUR', date_format='%Y-%m-%d', "
        f"rounding=2, ledger_dir='{ledger_dir}').ledger_dir"
    )
    report2 = (
        "..F..                                                                    [100%]\n"
        + f"{' FAILURES ':=^80}\n"
        + _pytest_failure("test_ledger_dir_is_path", run + 1, fixed_test_py, path_fail, path_err, test_path)
        + f"{' short test summary info ':=^80}\n"
        + f"FAILED {test_path}::test_ledger_dir_is_path - AssertionError: assert '{ledger_dir}' == "
        f"PosixPath('{ledger_dir}')\n"
        + f"1 failed, 4 passed in {secs()}"
    )
    dots = "".join("." for _ in range(suite_total))
    files = ["tests/test_cli.py", "tests/test_config.py", "tests/test_importer.py", "tests/test_report.py"]
    split = sorted(rng.sample(range(1, suite_total - 5), 2))
    counts = [split[0], 5, split[1] - split[0], suite_total - 5 - split[1]]
    report3 = "\n".join(
        f"{f} {dots[:n]}{' ' * max(1, 72 - len(f) - n)}[{100 * (sum(counts[: i + 1])) // suite_total:3d}%]"
        for i, (f, n) in enumerate(zip(files, counts))
    ) + f"\n\n{suite_total} passed in {secs()}"
    report4 = "......                                                                   [100%]\n" + (
        f"6 passed in {secs()}"
    )

    new_test = '''


def test_unknown_key_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="colour"):
        load_config(write(tmp_path, 'colour = "blue"\\n'))'''

    # -- the conversation ---------------------------------------------------------------
    # messages[i] is appended just before request i; outputs[i] is (generated, in history).
    messages: list[tuple[str, str]] = []
    outputs: list[tuple[str, str]] = []

    def say(text: str, tool: str | None = None, args: dict | None = None, *, reserialise: bool = False):
        if tool is None:
            outputs.append((text, text))
            return
        generated = f"{text}\n\n{_tool_call(tool, args or {})}" if text else _tool_call(tool, args or {})
        history = (
            f"{text}\n\n{_tool_call(tool, args or {}, compact=True)}" if text else _tool_call(tool, args or {}, compact=True)
        ) if reserialise else generated
        outputs.append((generated, history))

    messages.append((
        "user",
        "I refactored `load_config` in src/tally/config.py to return a frozen `Config` dataclass "
        "instead of a dict, and now tests/test_config.py is failing. Can you fix it? The "
        "dataclass is what I want to keep.",
    ))
    say("I'll run the config tests first to see the failures.", "bash",
        {"command": f"pytest -q {test_path}", "description": "Run the config tests"})
    messages.append(("tool", report1))
    say("Three tests still index the result like a dict. Let me look at the test file.", "read",
        {"filePath": f"{root}/{test_path}"})
    messages.append(("tool", _numbered(test_py)))
    say("Before editing, I'll check whether anything outside the tests uses the old dict access.",
        "grep", {"pattern": "load_config\\(", "path": root, "include": "*.py"})
    messages.append(("tool", grep_out))
    say("", "read", {"filePath": f"{root}/src/tally/config.py"})
    messages.append(("tool", _numbered(_CONFIG_PY)))
    say(
        "`load_config` now returns `Config` (src/tally/config.py:29) and the callers in "
        "src/tally/cli.py, src/tally/report.py and src/tally/importer.py already use attribute "
        "access, so only the tests are stale. I'll switch the three subscripts to attributes.",
        "bash",
        {
            "command": f"sed -i -E 's/cfg\\[\"([a-z_]+)\"\\]/cfg.\\1/g' {test_path}",
            "description": "Replace cfg[...] with attribute access in tests",
        },
    )
    messages.append(("tool", "(command exited with status 0 and printed nothing)"))
    say("Re-running the config tests.", "bash",
        {"command": f"pytest -q {test_path}", "timeout": 120000, "description": "Re-run the config tests"},
        reserialise=True)
    messages.append(("tool", report2))
    say(
        "One real bug left: `ledger_dir` comes straight from TOML as a `str`, but the dataclass "
        "declares a `Path`. The old dict code converted it; the refactor lost that. I'll convert "
        "it in `load_config`.",
        "edit",
        {
            "filePath": f"{root}/src/tally/config.py",
            "oldString": "    values.update(raw)\n    return Config(**values)",
            "newString": "    values.update(raw)\n    values[\"ledger_dir\"] = Path(values[\"ledger_dir\"])\n"
            "    return Config(**values)",
        },
    )
    messages.append(("tool", "Edit applied successfully."))
    say("Now the whole suite, to make sure nothing else relied on the string.", "bash",
        {"command": "pytest -q", "timeout": 120000, "description": "Run the full test suite"},
        reserialise=True)
    messages.append(("tool", report3))
    say(
        f"All {suite_total} tests pass.\n\n"
        "- tests/test_config.py: replaced `cfg[\"...\"]` with attribute access in three tests.\n"
        "- src/tally/config.py: `load_config` converts `ledger_dir` to a `Path` before building "
        "the `Config`, which the dict version used to do implicitly."
    )
    messages.append((
        "user",
        "Thanks! Can you also add a test that an unknown key in the file raises ConfigError?",
    ))
    say("Adding it at the end of the config tests.", "edit", {
        "filePath": f"{root}/{test_path}",
        "oldString": '        load_config(tmp_path / "nope.toml")',
        "newString": '        load_config(tmp_path / "nope.toml")' + new_test,
    })
    messages.append(("tool", "Edit applied successfully."))
    say("", "bash", {"command": f"pytest -q {test_path}", "timeout": 120000,
                     "description": "Run the config tests"})
    messages.append(("tool", report4))
    say(
        "Done: `test_unknown_key_is_rejected` writes a file with a `colour` key and expects "
        "`ConfigError` mentioning it. All 6 config tests pass."
    )
    assert len(messages) == len(outputs) == 12

    clock = _Clock(rng, 3000, 15000)
    records = []
    history = _im("system", _opencode_system())
    for (role, text), (generated, in_history) in zip(messages, outputs):
        history += _im(role, text)
        records.append(_record(clock.next(), session, model, history + _IM_ASSISTANT, generated))
        history += _im("assistant", in_history)
    return records


# ---------------------------------------------------------------------------
# 2. aider_like.jsonl
# ---------------------------------------------------------------------------

_AIDER_SYSTEM = """\
You are a careful senior developer pairing with the user on their git repository.
Follow the conventions, libraries and style the code already uses, and do not add new dependencies without asking first.
Take requests for changes to the supplied code. When a request is ambiguous, ask one short clarifying question instead of guessing.
Answer in the language the user writes in.

When a change is needed:
1. Decide whether files that are not in the chat yet must be edited. If so, name them and stop, so that the user can add them. You may create new files without asking.
2. Explain the change in a few short sentences.
3. Describe every edit as a SEARCH/REPLACE block, following the rules below.

# SEARCH/REPLACE block rules
Each block has this shape:
1. The file path alone on a line, exactly as it appears in the chat, with no quotes or formatting.
2. An opening fence with the language, for example ```python
3. The line <<<<<<< SEARCH
4. A contiguous run of lines copied verbatim from the current file, comments, docstrings and indentation included.
5. The divider line =======
6. The lines that replace them.
7. The line >>>>>>> REPLACE
8. The closing fence ```

The SEARCH part must match the file exactly, character for character, and only its first occurrence is replaced, so include enough lines to make it unique and no more. Split large changes into several small blocks, in the order in which they apply.
To move code, use two blocks: one that deletes it where it was and one that inserts it where it belongs.
To create a file, use a block with an empty SEARCH part and the whole new content in the REPLACE part.
Only edit files that the user added to the chat; the summaries of other files are read-only.

If a shell command would help (running the tests, starting a server), suggest it in a ```bash block after the edits, one command per line, and never claim to have run it.

# Example
User: change greet() to take the name as an argument
Assistant: `greet()` gets a `name` parameter and uses it in the message.

app/hello.py
```python
<<<<<<< SEARCH
def greet():
    print("hello, world")
=======
def greet(name):
    print(f"hello, {name}")
>>>>>>> REPLACE
```
"""

_AIDER_MAP_INTRO = (
    "Here are summaries of some files present in my git repository.\n"
    "Do not propose changes to these files, treat them as *read-only*.\n"
    "If you need to edit any of these files, ask me to *add them to the chat* first.\n\n"
)
_AIDER_MAP_ACK = "Understood. I will treat those files as read-only and ask before touching them."
_AIDER_FILES_INTRO = (
    "These files are now in the chat and you may edit them.\n"
    "Their contents below are current; earlier messages may show older versions.\n\n"
)
_AIDER_FILES_ACK = "Ok, any edits I propose will be to these files."

_AIDER_REPO_MAP = [
    ("weatherlog/__init__.py", ['__version__ = "0.4.1"']),
    ("weatherlog/fetch.py", [
        "class FetchError(RuntimeError):",
        "def fetch_station(station: str, *, timeout: float = 10.0) -> dict:",
        "def fetch_many(stations: list[str]) -> dict[str, dict]:",
    ]),
    ("weatherlog/units.py", [
        "def c_to_f(celsius: float) -> float:",
        "def f_to_c(fahrenheit: float) -> float:",
        "def format_temp(value: float, unit: str = \"C\") -> str:",
    ]),
    ("weatherlog/stations.py", [
        "@dataclass(frozen=True)",
        "class Station:",
        "    code: str",
        "    name: str",
        "def load_stations(path: Path) -> dict[str, Station]:",
        "def nearest(stations: dict[str, Station], lat: float, lon: float) -> Station:",
    ]),
    ("weatherlog/plot.py", [
        "def sparkline(values: list[float], width: int = 40) -> str:",
        "def daily_means(readings: Iterable[Reading]) -> dict[date, float]:",
    ]),
    ("weatherlog/alerts.py", [
        "class Threshold(NamedTuple):",
        "def check(readings: Iterable[Reading], thresholds: list[Threshold]) -> list[str]:",
        "def notify(messages: list[str], webhook: str | None = None) -> None:",
    ]),
    ("weatherlog/config.py", [
        "DEFAULT_DB = Path.home() / \".weatherlog\" / \"weather.sqlite3\"",
        "def config_path() -> Path:",
        "def load() -> dict[str, str]:",
    ]),
    ("weatherlog/formats/json_export.py", [
        "def to_json(readings: Iterable[Reading], indent: int | None = None) -> str:",
        "def from_json(text: str) -> list[Reading]:",
    ]),
    ("weatherlog/formats/__init__.py", ["FORMATS = {\"json\": json_export, \"csv\": None}"]),
    ("scripts/import_noaa.py", [
        "def parse_isd_line(line: str) -> tuple[str, datetime, float] | None:",
        "def main(argv: list[str] | None = None) -> int:",
    ]),
    ("tests/conftest.py", [
        "@pytest.fixture",
        "def store(tmp_path):",
        "def make_reading(station=\"EGLL\", when=None, temp=11.5):",
    ]),
    ("tests/test_store.py", [
        "def test_add_and_read_back(store):",
        "def test_readings_filtered_by_station(store):",
        "def test_compact_removes_old_rows(store):",
    ]),
    ("tests/test_units.py", [
        "@pytest.mark.parametrize(\"c, f\", [(0, 32), (100, 212), (-40, -40)])",
        "def test_round_trip(c, f):",
    ]),
    ("tests/test_alerts.py", [
        "def test_frost_alert():",
        "def test_no_alert_when_within_range():",
    ]),
    ("pyproject.toml", [
        "[project]",
        "name = \"weatherlog\"",
        "[project.scripts]",
        "weatherlog = \"weatherlog.cli:main\"",
    ]),
]

_WEATHER_CLI = '''\
import argparse
import sys

from weatherlog.store import Store


def cmd_add(store, args):
    store.add(args.station, args.temp, args.when)
    return 0


def cmd_list(store, args):
    for reading in store.readings(args.station):
        print(f"{reading.when:%Y-%m-%d %H:%M}  {reading.station:<12} {reading.temp:6.1f}")
    return 0


def cmd_export(store, args):
    lines = []
    for reading in store.readings(args.station):
        lines.append(",".join([reading.station, reading.when.isoformat(), str(reading.temp)]))
    args.out.write("\\n".join(lines) + "\\n")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="weatherlog")
    parser.add_argument("--db", default="weather.sqlite3")
    sub = parser.add_subparsers(dest="command", required=True)

    add = sub.add_parser("add")
    add.add_argument("station")
    add.add_argument("temp", type=float)
    add.add_argument("--when")
    add.set_defaults(func=cmd_add)

    lst = sub.add_parser("list")
    lst.add_argument("station", nargs="?")
    lst.set_defaults(func=cmd_list)

    export = sub.add_parser("export")
    export.add_argument("station", nargs="?")
    export.add_argument("--out", type=argparse.FileType("w"), default=sys.stdout)
    export.set_defaults(func=cmd_export)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    with Store(args.db) as store:
        return args.func(store, args)
'''

_WEATHER_STORE = '''\
import sqlite3
from dataclasses import dataclass
from datetime import datetime


@dataclass
class Reading:
    station: str
    when: datetime
    temp: float


class Store:
    def __init__(self, path):
        self.path = path
        self.conn = None

    def __enter__(self):
        self.conn = sqlite3.connect(self.path)
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS readings (station TEXT, taken_at TEXT, temp REAL)"
        )
        return self

    def __exit__(self, *exc):
        self.conn.commit()
        self.conn.close()

    def add(self, station, temp, when=None):
        when = when or datetime.now()
        self.conn.execute(
            "INSERT INTO readings VALUES (?, ?, ?)", (station, when.isoformat(), temp)
        )

    def readings(self, station=None):
        query = "SELECT station, taken_at, temp FROM readings"
        params = ()
        if station:
            query += " WHERE station = ?"
            params = (station,)
        for station, taken_at, temp in self.conn.execute(query + " ORDER BY taken_at", params):
            yield Reading(station, datetime.fromisoformat(taken_at), temp)

    def compact(self, keep_days=365):
        cutoff = datetime.now().timestamp() - keep_days * 86400
        rows = self.conn.execute("SELECT rowid, taken_at FROM readings").fetchall()
        for rowid, taken_at in rows:
            if datetime.fromisoformat(taken_at).timestamp() < cutoff:
                self.conn.execute("DELETE FROM readings WHERE rowid = ?", (rowid,))
'''


def _fence_lang(path: str) -> str:
    return {"py": "python", "md": "markdown", "toml": "toml"}.get(path.rsplit(".", 1)[-1], "")


def _aider_turns(rng: random.Random) -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    """(user message, explanation, edits) for every request; edits are (path, search, replace)."""
    cli, store = "weatherlog/cli.py", "weatherlog/store.py"
    days = sorted(rng.sample(range(1, 29), 3))
    bad_day = rng.choice(["31/04/2026", "31/06/2026", "30/02/2026"])
    stations = rng.sample(["EGLL", "LFPG", "EDDB", "KSFO", "RJTT", "YSSY", "CYYZ", "LEMD"], 2)
    limit = rng.choice([5, 10, 20])
    batch = 500
    tests = f'''\
import argparse
from datetime import datetime

import pytest

from weatherlog.cli import parse_date


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-01-{days[0]:02d}", datetime(2026, 1, {days[0]})),
        ("{days[1]:02d}/01/2026", datetime(2026, 1, {days[1]})),
        ("29/02/2024", datetime(2024, 2, 29)),
    ],
)
def test_parse_date_formats(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2026-13-01", "{bad_day}", "yesterday", ""])
def test_parse_date_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_date(text)
'''
    usage = f'''\
# Using weatherlog

Record a reading (temperature in °C):

    weatherlog add {stations[0]} 7.5 --when 2026-01-{days[2]:02d}T09:00

List readings, optionally for one station, since a date, and at most N of them:

    weatherlog list {stations[1]} --since 2026-01-01 --limit {limit}
    weatherlog list --since {days[2]:02d}/01/2026

`--since` accepts `YYYY-MM-DD` and `DD/MM/YYYY`.

Export to CSV (with a header row `station,when,temperature_c`):

    weatherlog export {stations[0]} --out {stations[0].lower()}.csv
'''
    return [
        (
            "Add a --since option to the list command that only shows readings taken on or after "
            "a date given as YYYY-MM-DD.",
            "I'll add a small `parse_date` helper, use it as the `type` of a new `--since` option, "
            "and skip older readings in `cmd_list`.",
            [
                (cli, "import argparse\nimport sys\n", "import argparse\nimport sys\nfrom datetime import datetime\n"),
                (
                    cli,
                    "def cmd_list(store, args):\n    for reading in store.readings(args.station):\n",
                    'def parse_date(text):\n    return datetime.strptime(text, "%Y-%m-%d")\n\n\n'
                    "def cmd_list(store, args):\n    for reading in store.readings(args.station):\n"
                    "        if args.since and reading.when < args.since:\n            continue\n",
                ),
                (
                    cli,
                    '    lst.add_argument("station", nargs="?")\n',
                    '    lst.add_argument("station", nargs="?")\n    lst.add_argument("--since", type=parse_date)\n',
                ),
            ],
        ),
        (
            f"It should also accept day-first dates like {days[1]:02d}/01/2026.",
            "`parse_date` now tries the ISO format first and then day/month/year. If neither "
            "matches it raises `argparse.ArgumentTypeError`, so argparse prints a clean usage error "
            "instead of a traceback.",
            [
                (
                    cli,
                    'def parse_date(text):\n    return datetime.strptime(text, "%Y-%m-%d")\n',
                    'DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")\n\n\n'
                    "def parse_date(text):\n    for fmt in DATE_FORMATS:\n        try:\n"
                    "            return datetime.strptime(text, fmt)\n        except ValueError:\n"
                    "            pass\n"
                    '    raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD or DD/MM/YYYY)")\n',
                ),
            ],
        ),
        (
            "Please add tests for parse_date in tests/test_cli.py.",
            "Here is a new test module covering both accepted formats, a leap day, and a few "
            "inputs that must be rejected.",
            [("tests/test_cli.py", "", tests)],
        ),
        (
            "Rename Reading.temp to Reading.temperature_c everywhere.",
            "Only the dataclass field and its two uses in the CLI change; the database column can "
            "stay `temp` because `readings()` builds `Reading` positionally.",
            [
                (store, "    temp: float\n", "    temperature_c: float\n"),
                (cli, "{reading.temp:6.1f}", "{reading.temperature_c:6.1f}"),
                (cli, "str(reading.temp)", "str(reading.temperature_c)"),
            ],
        ),
        (
            "export should write a header row first: station,when,temperature_c.",
            "The header goes in as the first line of the output.",
            [(cli, "    lines = []\n", '    lines = ["station,when,temperature_c"]\n')],
        ),
        (
            "Use the csv module instead of joining strings by hand, so that station names with "
            "commas get quoted.",
            "`cmd_export` now writes through `csv.writer`, which handles quoting; I set "
            "`lineterminator` so the file keeps Unix line endings.",
            [
                (cli, "import argparse\nimport sys\n", "import argparse\nimport csv\nimport sys\n"),
                (
                    cli,
                    '    lines = ["station,when,temperature_c"]\n    for reading in store.readings(args.station):\n'
                    '        lines.append(",".join([reading.station, reading.when.isoformat(), '
                    "str(reading.temperature_c)]))\n"
                    '    args.out.write("\\n".join(lines) + "\\n")\n',
                    '    writer = csv.writer(args.out, lineterminator="\\n")\n'
                    '    writer.writerow(["station", "when", "temperature_c"])\n'
                    "    for reading in store.readings(args.station):\n"
                    "        writer.writerow([reading.station, reading.when.isoformat(), reading.temperature_c])\n",
                ),
            ],
        ),
        (
            f"Add a --limit N option to list that stops after N readings (e.g. --limit {limit}).",
            "`cmd_list` counts the readings it prints and stops once it has shown `--limit` of "
            "them; without the option it prints everything as before.",
            [
                (
                    cli,
                    "def cmd_list(store, args):\n    for reading in store.readings(args.station):\n"
                    "        if args.since and reading.when < args.since:\n            continue\n",
                    "def cmd_list(store, args):\n    shown = 0\n    for reading in store.readings(args.station):\n"
                    "        if args.since and reading.when < args.since:\n            continue\n"
                    "        if args.limit is not None and shown >= args.limit:\n            break\n"
                    "        shown += 1\n",
                ),
                (
                    cli,
                    '    lst.add_argument("--since", type=parse_date)\n',
                    '    lst.add_argument("--since", type=parse_date)\n'
                    '    lst.add_argument("--limit", type=int, metavar="N")\n',
                ),
            ],
        ),
        (
            "What does Store.compact() do? It takes minutes on my big database.",
            "`compact()` deletes readings older than `keep_days` (365 by default). It is slow "
            "because it fetches the rowid and timestamp of *every* row with `fetchall()`, parses "
            "each timestamp in Python, and then runs one `DELETE` statement per old row: on a big "
            "table that is millions of Python-level date parses and as many separate statements.\n\n"
            "`taken_at` is stored as an ISO 8601 string, and those sort correctly as plain strings, "
            "so SQLite can do the filtering itself with `DELETE ... WHERE taken_at < ?`. If you "
            "like, I can change it to delete in batches so that the database is never locked for "
            "long.",
            [],
        ),
        (
            f"Yes, make compact() delete old rows in batches of {batch} instead of loading everything.",
            f"`compact()` now computes the cutoff as an ISO string and deletes up to {batch} old "
            "rows per statement, committing between batches, until a batch comes back short.",
            [
                (store, "from datetime import datetime\n", "from datetime import datetime, timedelta\n"),
                (
                    store,
                    "    def compact(self, keep_days=365):\n"
                    "        cutoff = datetime.now().timestamp() - keep_days * 86400\n"
                    '        rows = self.conn.execute("SELECT rowid, taken_at FROM readings").fetchall()\n'
                    "        for rowid, taken_at in rows:\n"
                    "            if datetime.fromisoformat(taken_at).timestamp() < cutoff:\n"
                    '                self.conn.execute("DELETE FROM readings WHERE rowid = ?", (rowid,))\n',
                    f"    def compact(self, keep_days=365, batch_size={batch}):\n"
                    "        cutoff = (datetime.now() - timedelta(days=keep_days)).isoformat()\n"
                    "        while True:\n"
                    "            cur = self.conn.execute(\n"
                    '                "DELETE FROM readings WHERE rowid IN "\n'
                    '                "(SELECT rowid FROM readings WHERE taken_at < ? LIMIT ?)",\n'
                    "                (cutoff, batch_size),\n"
                    "            )\n"
                    "            self.conn.commit()\n"
                    "            if cur.rowcount < batch_size:\n"
                    "                break\n",
                ),
            ],
        ),
        (
            "Write a short docs/usage.md describing list --since, list --limit and export.",
            "Here is a short usage page with one example per option.",
            [("docs/usage.md", "", usage)],
        ),
    ]


_AIDER_SUMMARY_1 = (
    "I spoke to you previously about a number of things.\n"
    "I asked for a `--since` option on `weatherlog list`. You added a `parse_date` helper to "
    "weatherlog/cli.py and made `cmd_list` skip readings older than the given date. I then asked "
    "for day-first dates as well, so `parse_date` now tries `%Y-%m-%d` and `%d/%m/%Y` in turn and "
    "raises `argparse.ArgumentTypeError` when neither matches. You wrote tests/test_cli.py with "
    "parametrized tests for accepted and rejected dates. Finally I asked you to rename "
    "`Reading.temp` to `Reading.temperature_c`; you changed the dataclass in weatherlog/store.py "
    "and its two uses in the CLI, and kept the database column called `temp`."
)

_AIDER_SUMMARY_2 = (
    "I spoke to you previously about a number of things.\n"
    "We added `--since` (ISO or day-first dates, parsed by `parse_date`, with tests in "
    "tests/test_cli.py) and `--limit N` to `weatherlog list`, and renamed `Reading.temp` to "
    "`Reading.temperature_c`. `weatherlog export` now writes a `station,when,temperature_c` "
    "header and uses `csv.writer` so that odd station names are quoted. Last, I asked why "
    "`Store.compact()` is slow; you explained that it loads every row with `fetchall()` and "
    "deletes old rows one statement at a time, and suggested letting SQLite compare the ISO "
    "timestamps itself, deleting in batches."
)


def _render_edits(edits: list[tuple[str, str, str]]) -> str:
    blocks = []
    for path, search, replace in edits:
        blocks.append(
            f"{path}\n```{_fence_lang(path)}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```"
        )
    return "\n\n".join(blocks)


def _apply_edits(files: dict[str, str], edits: list[tuple[str, str, str]]) -> None:
    for path, search, replace in edits:
        if search == "":
            files[path] = replace
            continue
        text = files[path]
        if text.count(search) != 1:
            raise AssertionError(f"SEARCH block does not match {path} exactly once: {search!r}")
        files[path] = text.replace(search, replace)


def _aider(rng: random.Random) -> list[dict]:
    model = "qwen2.5-coder-32b-instruct"
    session = "aider-" + _hex(rng, 12)
    turns = _aider_turns(rng)
    summaries = {AIDER_SUMMARISED[0]: _AIDER_SUMMARY_1, AIDER_SUMMARISED[1]: _AIDER_SUMMARY_2}
    files = {"weatherlog/cli.py": _WEATHER_CLI, "weatherlog/store.py": _WEATHER_STORE}
    clock = _Clock(rng, 4000, 20000)
    history: list[tuple[str, str]] = []
    records = []
    for i, (user, explanation, edits) in enumerate(turns):
        if i in summaries:
            history = [("user", summaries[i]), ("assistant", "Ok.")]
        chosen = rng.sample([e for e in _AIDER_REPO_MAP if e[0] not in files], rng.randrange(6, 11))
        repo_map = _AIDER_MAP_INTRO + "\n".join(
            f"{path}:\n⋮\n" + "\n".join(f"│{sig}" for sig in sigs) + "\n⋮" for path, sigs in chosen
        )
        chat_files = _AIDER_FILES_INTRO + "\n".join(
            f"{path}\n```{_fence_lang(path)}\n{text}```\n" for path, text in sorted(files.items())
        )
        prompt = (
            _im("system", _AIDER_SYSTEM)
            + _im("user", repo_map)
            + _im("assistant", _AIDER_MAP_ACK)
            + "".join(_im(role, text) for role, text in history)
            + _im("user", chat_files)
            + _im("assistant", _AIDER_FILES_ACK)
            + _im("user", user)
            + _IM_ASSISTANT
        )
        output = explanation + ("\n\n" + _render_edits(edits) if edits else "")
        if any(path.startswith("tests/") for path, _, _ in edits):
            output += "\n\nRun them with:\n\n```bash\npytest -q tests/test_cli.py\n```"
        records.append(_record(clock.next(), session, model, prompt, output))
        _apply_edits(files, edits)
        history += [("user", user), ("assistant", output)]
    return records


# ---------------------------------------------------------------------------
# 3. two_sessions.jsonl
# ---------------------------------------------------------------------------

_PLAIN_SYSTEM = (
    "You are a concise assistant for software engineers. Answer with working code when code is "
    "asked for, state the assumptions you made, and prefer standard tools that are installed "
    "everywhere over clever dependencies. When the user reports an error, explain its cause in "
    "one or two sentences before giving the fix. Do not repeat the question back. Use fenced "
    "code blocks with a language tag. If a command is destructive, say so."
)


def _session_a(rng: random.Random) -> list[tuple[str, str]]:
    """(user message, output) pairs; an empty output is followed by a retry of the same prompt."""
    months = rng.choice([6, 12])
    slow = rng.randrange(7, 15)
    rows = rng.randrange(20, 90)
    fast = rng.randrange(6, 19) / 10
    return [
        (
            "I have a Postgres table events(user_id bigint, kind text, created_at timestamptz). "
            f"How do I count monthly active users for the last {months} months?",
            "Count distinct users per calendar month:\n\n```sql\n"
            "SELECT date_trunc('month', created_at) AS month,\n"
            "       count(DISTINCT user_id)       AS active_users\n"
            "FROM events\n"
            f"WHERE created_at >= date_trunc('month', now()) - interval '{months - 1} months'\n"
            "GROUP BY 1\nORDER BY 1;\n```\n\n"
            f"The `WHERE` clause starts at the first day of the month {months - 1} months ago, so the "
            f"current (partial) month is included and you get {months} rows at most.",
        ),
        (
            "Months with no activity at all are missing from the result. I want them as 0.",
            "Generate the months and left-join the counts onto them:\n\n```sql\n"
            "WITH months AS (\n"
            "    SELECT generate_series(\n"
            f"        date_trunc('month', now()) - interval '{months - 1} months',\n"
            "        date_trunc('month', now()),\n"
            "        interval '1 month') AS month\n"
            ")\n"
            "SELECT m.month, count(DISTINCT e.user_id) AS active_users\n"
            "FROM months m\n"
            "LEFT JOIN events e\n"
            "       ON e.created_at >= m.month\n"
            "      AND e.created_at <  m.month + interval '1 month'\n"
            "GROUP BY m.month\nORDER BY m.month;\n```\n\n"
            "`count(DISTINCT e.user_id)` ignores the NULLs produced by the join, so empty months "
            "come out as 0.",
        ),
        (
            f"That takes {slow} seconds on {rows}M rows. EXPLAIN says Seq Scan on events.",
            "There is no index the range condition can use. Events are appended in time order, so "
            "a BRIN index is tiny and works well here:\n\n```sql\n"
            "CREATE INDEX CONCURRENTLY events_created_at_brin\n"
            "    ON events USING brin (created_at);\n```\n\n"
            "If rows are often inserted out of order (backfills), use a regular B-tree on "
            "`created_at` instead; it is bigger but does not depend on physical order. Run "
            "`ANALYZE events;` afterwards.",
        ),
        (
            f"BRIN index created, now {fast} s. Can I also split the count into kind = 'purchase' "
            "and everything else in the same query?",
            "",
        ),
        (
            f"BRIN index created, now {fast} s. Can I also split the count into kind = 'purchase' "
            "and everything else in the same query?",
            "Yes, with aggregate `FILTER` clauses:\n\n```sql\n"
            "SELECT m.month,\n"
            "       count(DISTINCT e.user_id) FILTER (WHERE e.kind = 'purchase')  AS buyers,\n"
            "       count(DISTINCT e.user_id) FILTER (WHERE e.kind <> 'purchase') AS others\n"
            "FROM months m\n"
            "LEFT JOIN events e\n"
            "       ON e.created_at >= m.month\n"
            "      AND e.created_at <  m.month + interval '1 month'\n"
            "GROUP BY m.month\nORDER BY m.month;\n```\n\n"
            "A user who did both in a month is counted in both columns; if you want them only in "
            "`buyers`, compute the others as a set difference instead.",
        ),
        (
            "How do I turn this into a materialized view that is refreshed every night?",
            "Wrap the query in a materialized view and schedule the refresh, for example with the "
            "pg_cron extension:\n\n```sql\n"
            "CREATE MATERIALIZED VIEW monthly_active AS\n"
            "    <the query above>;\n\n"
            "SELECT cron.schedule('refresh-mau', '15 3 * * *',\n"
            "                     'REFRESH MATERIALIZED VIEW CONCURRENTLY monthly_active');\n```\n\n"
            "Without pg_cron, a crontab line calling `psql -c 'REFRESH MATERIALIZED VIEW ...'` "
            "does the same.",
        ),
        (
            "The refresh fails: ERROR:  cannot refresh materialized view \"public.monthly_active\" "
            "concurrently. HINT: Create a unique index with no WHERE clause on one or more columns "
            "of the materialized view.",
            "`CONCURRENTLY` needs a way to match old and new rows, which is what the unique index "
            "provides. `month` is unique in this view:\n\n```sql\n"
            "CREATE UNIQUE INDEX monthly_active_month ON monthly_active (month);\n```\n\n"
            "The first refresh after creating it may still take a lock-free full pass; later ones "
            "only touch changed rows.",
        ),
        (
            "Last one: can the view also show month-over-month growth in percent?",
            "Add a window function over the ordered months:\n\n```sql\n"
            "SELECT month,\n"
            "       active_users,\n"
            "       round(100.0 * (active_users - lag(active_users) OVER w)\n"
            "             / nullif(lag(active_users) OVER w, 0), 1) AS growth_pct\n"
            "FROM monthly_active\n"
            "WINDOW w AS (ORDER BY month)\n"
            "ORDER BY month;\n```\n\n"
            "The first month has no predecessor and a month after a zero month would divide by "
            "zero; `nullif` turns both into NULL instead of an error.",
        ),
    ]


def _session_b(rng: random.Random) -> list[tuple[str, str]]:
    top = rng.choice([10, 15, 20])
    field = 9  # the status code in the combined log format
    rotations = rng.randrange(7, 31)
    line = rng.choice([13, 15])  # the zcat line or the head line of the script below
    threshold = rng.choice([50, 100, 200])
    return [
        (
            f"Bash one-liner to print the {top} most frequent IP addresses in access.log? The IP is "
            "the first field.",
            f"```bash\nawk '{{print $1}}' access.log | sort | uniq -c | sort -rn | head -n {top}\n```\n\n"
            "`uniq -c` only merges adjacent lines, hence the first `sort`.",
        ),
        (
            f"Only count requests that returned a 5xx status. The status code is field {field}.",
            f"Filter in awk before counting:\n\n```bash\n"
            f"awk '${field} ~ /^5[0-9][0-9]$/ {{print $1}}' access.log | sort | uniq -c | sort -rn | head -n {top}\n"
            "```",
        ),
        (
            f"The logs are rotated and compressed: access.log, access.log.1, access.log.2.gz up to "
            f"access.log.{rotations}.gz. Include all of them.",
            "`zcat -f` reads compressed and plain files alike:\n\n```bash\n"
            f"zcat -f access.log* | awk '${field} ~ /^5[0-9][0-9]$/ {{print $1}}' | sort | uniq -c | sort -rn | head -n {top}\n"
            "```",
        ),
        (
            "Make it a script that takes the log directory and N as arguments and prints a usage "
            "message when they are missing.",
            "```bash\n#!/usr/bin/env bash\n# top-errors.sh DIR N: the N IPs with the most 5xx responses.\n"
            "set -euo pipefail\n\n"
            "if [ $# -ne 2 ]; then\n"
            "    echo \"usage: $0 LOG_DIR N\" >&2\n"
            "    exit 2\n"
            "fi\n\n"
            "dir=$1\n"
            "n=$2\n\n"
            f"zcat -f $dir/access.log* \\\n    | awk '${field} ~ /^5[0-9][0-9]$/ {{print $1}}' \\\n"
            "    | sort | uniq -c | sort -rn | head -n $n\n```",
        ),
        (
            f"shellcheck says SC2086 (double quote to prevent globbing and word splitting) on line "
            f"{line}.",
            "",
        ),
        (
            f"shellcheck says SC2086 (double quote to prevent globbing and word splitting) on line "
            f"{line}.",
            "`$dir` and `$n` are unquoted, so a directory with a space in its name would be split "
            "into two words. Quote the variables but leave the glob outside the quotes so it still "
            "expands:\n\n```bash\n"
            f"zcat -f \"$dir\"/access.log* \\\n    | awk '${field} ~ /^5[0-9][0-9]$/ {{print $1}}' \\\n"
            "    | sort | uniq -c | sort -rn | head -n \"$n\"\n```",
        ),
        (
            f"Thanks. How do I run it every hour and get an email only when some IP has more than "
            f"{threshold} errors?",
            "Let the script print only offenders and rely on cron mailing any output:\n\n```bash\n"
            f"./top-errors.sh /var/log/nginx 50 | awk '$1 > {threshold}'\n```\n\n"
            "and in `crontab -e`:\n\n```\n"
            "MAILTO=ops@example.com\n"
            f"0 * * * * /usr/local/bin/top-errors.sh /var/log/nginx 50 | awk '$1 > {threshold}'\n```\n\n"
            "cron sends mail only when the command writes something, so quiet hours stay quiet.",
        ),
        (
            "How can I test the threshold part without waiting for real errors?",
            f"Feed it a fake log. This writes {threshold + 20} error lines for one address and 3 "
            "for another:\n\n"
            "```bash\ntmp=$(mktemp -d)\n"
            f"for i in $(seq {threshold + 20}); do\n"
            f"    echo '203.0.113.7 - - [01/Jan/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 502 0' >> \"$tmp/access.log\"\n"
            "done\n"
            "for i in 1 2 3; do\n"
            f"    echo '198.51.100.4 - - [01/Jan/2026:10:00:01 +0000] \"GET / HTTP/1.1\" 503 0' >> \"$tmp/access.log\"\n"
            "done\n"
            f"./top-errors.sh \"$tmp\" 50 | awk '$1 > {threshold}'\n```\n\n"
            "Only 203.0.113.7 should be printed. Remove the directory afterwards.",
        ),
    ]


def _plain_session(system: str, turns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(input, output) for every request of an append-only plain-text session."""
    requests = []
    prompt = f"system: {system}"
    for user, output in turns:
        # An empty output leaves the history untouched, so the retry that follows it (same
        # user message) sends exactly the same prompt again.
        current = f"{prompt}\nuser: {user}\nassistant:"
        requests.append((current, output))
        if output:
            prompt = f"{current} {output}"
    return requests


def _two_sessions(rng: random.Random) -> list[dict]:
    model = "mistral-small-3.2-24b-instruct"
    queues = {
        "sess-a": _plain_session(_PLAIN_SYSTEM, _session_a(rng)),
        "sess-b": _plain_session(_PLAIN_SYSTEM, _session_b(rng)),
    }
    clock = _Clock(rng, 1500, 7000)
    order = ["sess-a", "sess-b"]
    records = []
    positions = {name: 0 for name in queues}
    while any(positions[n] < len(queues[n]) for n in order):
        open_ = [n for n in order if positions[n] < len(queues[n])]
        name = open_[0] if len(records) == 0 else rng.choice(open_)
        prompt, output = queues[name][positions[name]]
        positions[name] += 1
        records.append(_record(clock.next(), name, model, prompt, output))
    return records


# ---------------------------------------------------------------------------
# 4. malformed.jsonl
# ---------------------------------------------------------------------------

_LLAMA_SYSTEM = (
    "Cutting Knowledge Date: December 2023\nToday Date: 01 Jan 2026\n\n"
    "You are a helpful assistant for Linux system administration. Prefer POSIX tools and bash. "
    "Point out anything that could lose data before the user runs it."
)


def _llama(role: str, content: str) -> str:
    return f"<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>"


def _backup_script(src: str, dest: str, keep: int, *, full: bool) -> str:
    head = (
        "#!/usr/bin/env bash\n"
        f"# Daily snapshot of {src} into {dest}, keeping {keep} days.\n"
        "set -euo pipefail\n\n"
        f"SRC={src}/\n"
        f"DEST={dest}\n"
        f"KEEP={keep}\n"
        'TODAY=${BACKUP_DATE:-$(date +%F)}\n'
    )
    if not full:
        return head + (
            'LATEST=$(ls -1d "$DEST"/20* 2>/dev/null | tail -n 1 || true)\n\n'
            'rsync -a --delete ${LATEST:+--link-dest="$LATEST"} "$SRC" "$DEST/$TODAY"\n\n'
            'ls -1d "$DEST"/20* | head -n -"$KEEP" | xargs -r rm -rf --\n'
        )
    return head + (
        "LOG=/var/log/backup.log\n\n"
        'log() { printf \'%s %s\\n\' "$(date \'+%F %T\')" "$*" >> "$LOG"; }\n\n'
        f'if ! mountpoint -q {dest.rsplit("/", 1)[0] or "/"}; then\n'
        f'    log "backup disk not mounted, skipping"\n'
        "    exit 1\n"
        "fi\n\n"
        'LATEST=$(ls -1d "$DEST"/20* 2>/dev/null | tail -n 1 || true)\n'
        'log "starting snapshot $TODAY (link-dest: ${LATEST:-none})"\n\n'
        "set +e\n"
        'rsync -a --delete --exclude node_modules/ --exclude .venv/ \\\n'
        '    ${LATEST:+--link-dest="$LATEST"} "$SRC" "$DEST/$TODAY"\n'
        "status=$?\n"
        "set -e\n"
        'if [ "$status" -ne 0 ] && [ "$status" -ne 24 ]; then\n'
        '    log "rsync failed with status $status"\n'
        '    exit "$status"\n'
        "fi\n\n"
        'ls -1d "$DEST"/20* | head -n -"$KEEP" | xargs -r rm -rf --\n'
        'log "done"\n'
    )


def _malformed_good(rng: random.Random) -> list[tuple[str, str]]:
    src = rng.choice(["/home/dev/projects", "/srv/www", "/home/dev/work"])
    dest = rng.choice(["/mnt/backup/snapshots", "/media/usb1/backups"])
    keep = rng.choice([7, 10, 14])
    return [
        (
            f"Write a bash script that backs up {src} to {dest} with rsync and keeps {keep} daily "
            "snapshots, using hard links so unchanged files take no extra space.",
            "This uses `--link-dest`: files unchanged since the previous snapshot become hard links "
            "to it.\n\n```bash\n" + _backup_script(src, dest, keep, full=False) + "```\n\n"
            f"The last line deletes everything but the newest {keep} snapshots. It relies on the "
            "directory names sorting by date, which `date +%F` guarantees.",
        ),
        (
            "What happens if the backup disk is not mounted when cron runs it?",
            f"Then {dest} is just a directory on the root filesystem, and rsync happily fills it, "
            "possibly filling `/`. Check first:\n\n```bash\n"
            f"mountpoint -q {dest.rsplit('/', 1)[0]} || {{ echo 'backup disk not mounted' >&2; exit 1; }}\n```",
        ),
        (
            "Add logging to /var/log/backup.log with a timestamp on every line.",
            "A small function keeps it readable:\n\n```bash\nLOG=/var/log/backup.log\n"
            "log() { printf '%s %s\\n' \"$(date '+%F %T')\" \"$*\" >> \"$LOG\"; }\n\n"
            'log "starting snapshot $TODAY"\n```\n\nThe script needs write access to the log, so '
            "run it as root or create the file with the right owner first.",
        ),
        (
            "rsync sometimes exits with code 24. Is that a failure?",
            "Code 24 means some source files vanished while rsync was running (for example "
            "temporary files deleted by an editor or a build). The snapshot is otherwise "
            "complete, so it is usually safe to treat 24 like success and fail on anything else.",
        ),
        (
            "How do I exclude node_modules and .venv directories everywhere in the tree?",
            "Add `--exclude node_modules/ --exclude .venv/`. A pattern without a leading slash "
            "matches at any depth, and the trailing slash limits it to directories.",
        ),
        (
            "Can you show the final script in full?",
            "```bash\n" + _backup_script(src, dest, keep, full=True) + "```",
        ),
        (
            "How can I test the retention logic without waiting a week?",
            "The script reads `BACKUP_DATE` when it is set, so you can fake the days:\n\n```bash\n"
            f"for d in $(seq 1 {keep + 3}); do\n"
            "    BACKUP_DATE=2026-01-$(printf %02d \"$d\") ./backup.sh\n"
            "done\n"
            f"ls {dest}\n```\n\n"
            f"You should see only the last {keep} dates. Use a scratch DEST while testing.",
        ),
        ("Thanks, that works.", "Glad it works. Remember to try a restore once, too."),
    ]


def _malformed(rng: random.Random) -> list[str]:
    """Lines of malformed.jsonl (without line endings)."""
    model = "llama-3.1-8b-instruct"
    session = "m1"
    clock = _Clock(rng, 3000, 12000)
    turns = _malformed_good(rng)
    stamps = [clock.next() for _ in range(len(turns) + 1)]
    recoverable_stamp = stamps.pop(4)  # the recoverable line sits between good requests 3 and 4
    good = []
    prompt = "<|begin_of_text|>" + _llama("system", _LLAMA_SYSTEM)
    for (user, output), stamp in zip(turns, stamps):
        prompt += _llama("user", user)
        full = prompt + "<|start_header_id|>assistant<|end_header_id|>\n\n"
        good.append(_dumps(_record(stamp, session, model, full, output)))
        prompt += _llama("assistant", output)
    recoverable = (
        f'{{"timestamp": {recoverable_stamp}, "session_id": "{session}", "model": "{model}", '
        '"input": "{"messages":[{"role":"user","content":"ping"}],"max_tokens":1}", "output": "pong"}'
    )
    garbage = '{"timestamp": 17672256, "session_id": "m1", "input": "<|begin_of_text|><|start_header_id|>sys'
    lines = good[:4] + [recoverable] + good[4:6] + [""] + [good[6], garbage, good[7]]
    assert lines[MALFORMED_RECOVERABLE_LINE - 1] == recoverable
    assert lines[MALFORMED_BLANK_LINE - 1] == ""
    assert lines[MALFORMED_GARBAGE_LINE - 1] == garbage
    return lines


# ---------------------------------------------------------------------------
# 5. big_prompt.jsonl
# ---------------------------------------------------------------------------

_AREAS = [
    "api", "auth", "blobs", "cache", "config", "manifests", "mirror", "policy",
    "storage", "sync", "webhooks", "audit", "gc", "quota",
]
_NOUNS = [
    "manifest", "layer", "blob", "tag", "digest", "repository", "token", "session", "chunk",
    "mirror", "policy", "quota", "webhook", "event", "label", "artifact", "signature", "upload",
    "replica", "lease", "credential", "endpoint", "snapshot", "bucket", "namespace", "schedule",
    "checksum", "annotation", "reference", "index",
]
_VERBS = [
    "load", "fetch", "resolve", "build", "render", "prune", "sync", "collect", "apply",
    "compute", "upload", "verify", "refresh", "rotate", "scan", "export", "select", "publish",
]
_ADJS = ["stale", "pending", "orphaned", "pinned", "signed", "partial", "remote", "active", "locked", "cold"]
_STR_FIELDS = ["name", "key", "owner", "region", "kind", "url", "media_type", "reference", "tenant", "host"]
_INT_FIELDS = ["size", "count", "priority", "retries", "ttl", "generation", "offset", "version", "weight", "shard"]
_BOOL_FIELDS = ["enabled", "pinned", "signed", "deleted", "public", "immutable"]
_FLOAT_FIELDS = ["created_at", "updated_at", "last_seen", "expires_at"]


def _camel(*words: str) -> str:
    return "".join(w[:1].upper() + w[1:] for part in words for w in part.split("_"))


def _plural(noun: str) -> str:
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


class _Entity:
    """The dataclass a generated module is about, and the names of its fields."""

    def __init__(self, rng: random.Random, noun: str, adj: str | None) -> None:
        self.noun = noun
        self.plural = _plural(noun)
        self.cls = _camel(adj, noun) if adj else _camel(noun)
        self.s1, self.s2 = rng.sample(_STR_FIELDS, 2)
        self.i1, self.i2 = rng.sample(_INT_FIELDS, 2)
        self.b1 = rng.choice(_BOOL_FIELDS)
        self.f1 = rng.choice(_FLOAT_FIELDS)

    def definition(self, rng: random.Random) -> str:
        doc = rng.choice([
            f"One {self.noun} as stored by the registry.",
            f"A {self.noun} and the bookkeeping the mirror keeps about it.",
            f"Immutable view of a {self.noun} returned by the upstream API.",
        ])
        frozen = rng.choice(["(frozen=True)", "(frozen=True, slots=True)", ""])
        return (
            f"@dataclass{frozen}\nclass {self.cls}:\n    \"\"\"{doc}\"\"\"\n\n"
            f"    {self.s1}: str\n"
            f"    {self.s2}: str = \"\"\n"
            f"    {self.i1}: int = 0\n"
            f"    {self.i2}: int = {rng.choice([0, 1, 3, 10])}\n"
            f"    {self.b1}: bool = False\n"
            f"    {self.f1}: float = field(default_factory=time.time)\n"
        )


# Each template: (rng, entity) -> (code, imports). Imports are "module" or "module:name".
_Template = Callable[[random.Random, _Entity], tuple[str, list[str]]]


def _t_filter(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    verb, adj = rng.choice(_VERBS), rng.choice(_ADJS)
    code = f'''\
def {verb}_{adj}_{e.plural}(items: Iterable[{e.cls}], *, limit: int = {rng.choice([50, 100, 256, 1000])}) -> list[{e.cls}]:
    """Return up to `limit` {adj} {e.plural}, in input order."""
    result: list[{e.cls}] = []
    for item in items:
        if not item.{e.b1}:
            continue
        if item.{e.i1} < {rng.randrange(1, 64)}:
            continue
        result.append(item)
        if len(result) >= limit:
            break
    return result
'''
    return code, ["collections.abc:Iterable"]


def _t_group(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
def group_{e.plural}_by_{e.s1}(items: Iterable[{e.cls}]) -> dict[str, list[{e.cls}]]:
    """Bucket {e.plural} by `{e.s1}`, keeping the input order inside each bucket."""
    groups: dict[str, list[{e.cls}]] = defaultdict(list)
    for item in items:
        groups[item.{e.s1}].append(item)
    return dict(groups)
'''
    return code, ["collections:defaultdict", "collections.abc:Iterable"]


def _t_parse(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    upper = e.noun.upper()
    sep = rng.choice([":", "@", "/"])
    code = f'''\
_{upper}_RE = re.compile(r"^(?P<{e.s1}>[a-z0-9][a-z0-9._-]*)(?:{sep}(?P<{e.s2}>[A-Za-z0-9_.-]{{1,{rng.choice([64, 128, 255])}}}))?$")


def parse_{e.noun}(text: str) -> {e.cls}:
    """Parse `{e.s1}[{sep}{e.s2}]` into a {e.cls}."""
    match = _{upper}_RE.match(text.strip())
    if match is None:
        raise ValueError(f"not a valid {e.noun}: {{text!r}}")
    return {e.cls}({e.s1}=match.group("{e.s1}"), {e.s2}=match.group("{e.s2}") or "")
'''
    return code, ["re"]


def _t_retry(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    verb = rng.choice(["fetch", "upload", "resolve", "publish", "refresh"])
    code = f'''\
def {verb}_{e.noun}_with_retry(client: Any, key: str, *, attempts: int = {rng.randrange(3, 7)}, delay: float = {rng.choice([0.1, 0.25, 0.5, 1.0])}) -> bytes:
    """Call `client.{verb}(key)`, backing off exponentially on timeouts."""
    for attempt in range(1, attempts + 1):
        try:
            return client.{verb}(key)
        except TimeoutError:
            if attempt == attempts:
                raise
            log.warning("{verb} %s timed out (attempt %d/%d)", key, attempt, attempts)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
'''
    return code, ["typing:Any", "time", "logging"]


def _t_load(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    sep = rng.choice(["\\t", ",", "|"])
    code = f'''\
def load_{e.plural}(path: Path) -> Iterator[{e.cls}]:
    """Yield one {e.cls} per non-empty, non-comment line of `path`."""
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split("{sep}")
            if len(parts) != 3:
                log.debug("%s:%d: expected 3 fields, got %d", path, lineno, len(parts))
                continue
            yield {e.cls}({e.s1}=parts[0], {e.s2}=parts[1], {e.i1}=int(parts[2]))
'''
    return code, ["pathlib:Path", "collections.abc:Iterator", "logging"]


def _t_digest(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
def {e.noun}_digest(item: {e.cls}, *, length: int = {rng.choice([12, 16, 20, 32])}) -> str:
    """A short, stable fingerprint of the identifying fields of `item`."""
    h = hashlib.{rng.choice(["sha256", "blake2b", "sha1"])}()
    for part in (item.{e.s1}, item.{e.s2}, item.{e.i1}):
        h.update(str(part).encode("utf-8"))
        h.update(b"\\0")
    return h.hexdigest()[:length]
'''
    return code, ["hashlib"]


def _t_validate(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    limit = rng.choice([16, 100, 1024, 65535])
    code = f'''\
def validate_{e.noun}(item: {e.cls}) -> list[str]:
    """Return human-readable problems with `item`; empty when it is valid."""
    problems: list[str] = []
    if not item.{e.s1}:
        problems.append("{e.s1} is empty")
    if item.{e.i1} < 0:
        problems.append(f"{e.i1} must be >= 0, got {{item.{e.i1}}}")
    if item.{e.i2} > {limit}:
        problems.append(f"{e.i2} must be <= {limit}, got {{item.{e.i2}}}")
    if item.{e.b1} and not item.{e.s2}:
        problems.append("{e.s2} is required when {e.b1} is set")
    return problems
'''
    return code, []


def _t_summary(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
def summarise_{e.plural}(items: Iterable[{e.cls}]) -> dict[str, int]:
    """Count, total and largest `{e.i1}` over `items`."""
    count = total = largest = 0
    for item in items:
        count += 1
        total += item.{e.i1}
        largest = max(largest, item.{e.i1})
    return {{"count": count, "total": total, "largest": largest}}
'''
    return code, ["collections.abc:Iterable"]


def _t_cache(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
class {e.cls}Cache:
    """A small least-recently-used cache of {e.plural} keyed by `{e.s1}`."""

    def __init__(self, capacity: int = {rng.choice([64, 128, 512, 4096])}) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._items: OrderedDict[str, {e.cls}] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> {e.cls} | None:
        item = self._items.get(key)
        if item is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return item

    def put(self, item: {e.cls}) -> None:
        self._items[item.{e.s1}] = item
        self._items.move_to_end(item.{e.s1})
        while len(self._items) > self.capacity:
            evicted, _ = self._items.popitem(last=False)
            log.debug("evicted {e.noun} %s", evicted)

    def __len__(self) -> int:
        return len(self._items)
'''
    return code, ["collections:OrderedDict", "logging"]


def _t_merge(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
def merge_{e.plural}(old: Sequence[{e.cls}], new: Sequence[{e.cls}]) -> list[{e.cls}]:
    """Merge two lists of {e.plural}; on equal `{e.s1}` the higher `{e.i2}` wins."""
    by_key: dict[str, {e.cls}] = {{item.{e.s1}: item for item in old}}
    for item in new:
        current = by_key.get(item.{e.s1})
        if current is None or item.{e.i2} >= current.{e.i2}:
            by_key[item.{e.s1}] = item
    return sorted(by_key.values(), key=lambda item: (item.{e.s1}, -item.{e.i2}))
'''
    return code, ["collections.abc:Sequence"]


def _t_serialise(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
def {e.noun}_to_dict(item: {e.cls}) -> dict[str, Any]:
    """Serialise `item` for the JSON API, leaving out empty values."""
    data = asdict(item)
    return {{k: v for k, v in data.items() if v not in (None, "", 0, False)}}


def {e.noun}_from_dict(data: dict[str, Any]) -> {e.cls}:
    """Inverse of `{e.noun}_to_dict`; unknown keys are ignored."""
    known = {{f.name for f in fields({e.cls})}}
    return {e.cls}(**{{k: v for k, v in data.items() if k in known}})
'''
    return code, ["dataclasses:asdict", "dataclasses:fields", "typing:Any"]


def _t_expire(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
def expire_{e.plural}(items: list[{e.cls}], *, max_age: float = {rng.choice([60.0, 3600.0, 86400.0, 604800.0])}, now: float | None = None) -> list[{e.cls}]:
    """Drop {e.plural} whose `{e.f1}` is more than `max_age` seconds old."""
    now = time.time() if now is None else now
    kept = [item for item in items if now - item.{e.f1} <= max_age]
    if len(kept) != len(items):
        log.info("expired %d of %d {e.plural}", len(items) - len(kept), len(items))
    return kept
'''
    return code, ["time", "logging"]


def _t_paginate(rng: random.Random, e: _Entity) -> tuple[str, list[str]]:
    code = f'''\
def iter_{e.plural}(client: Any, {e.s2}: str, *, page_size: int = {rng.choice([50, 100, 250])}) -> Iterator[{e.cls}]:
    """Yield every {e.noun} of `{e.s2}`, following the API's `next` links."""
    url: str | None = f"/v2/{{{e.s2}}}/{e.plural}?n={{page_size}}"
    while url:
        response = client.get(url)
        response.raise_for_status()
        for data in response.json().get("{e.plural}", []):
            yield {e.cls}(**data)
        url = response.links.get("next", {{}}).get("url")
'''
    return code, ["typing:Any", "collections.abc:Iterator"]


_TEMPLATES: list[_Template] = [
    _t_filter, _t_group, _t_parse, _t_retry, _t_load, _t_digest, _t_validate,
    _t_summary, _t_cache, _t_merge, _t_serialise, _t_expire, _t_paginate,
]


def _render_imports(imports: Sequence[str]) -> str:
    plain: list[str] = []
    froms: dict[str, list[str]] = {}
    for spec in imports:
        if ":" in spec:
            module, name = spec.split(":", 1)
            names = froms.setdefault(module, [])
            if name not in names:
                names.append(name)
        elif spec not in plain:
            plain.append(spec)
    lines = [f"import {m}" for m in sorted(plain)]
    lines += [f"from {m} import {', '.join(sorted(froms[m]))}" for m in sorted(froms)]
    return "\n".join(lines)


def _gen_module(rng: random.Random, area: str, entity: _Entity) -> tuple[str, list[str]]:
    """Source of one module about `entity`, and the names of the functions it defines."""
    doc = rng.choice([
        f"Helpers for {entity.plural} in the {area} layer.",
        f"{_camel(entity.noun)} records and the operations the {area} service needs on them.",
        f"Everything about {entity.plural} that the {area} package shares with the rest of harbor.",
        f"Reading, checking and caching {entity.plural} for {area}.",
    ])
    chosen = rng.sample(_TEMPLATES, rng.randrange(4, 8))
    imports = ["dataclasses:dataclass", "dataclasses:field", "time"]
    parts = []
    for template in chosen:
        code, needs = template(rng, entity)
        parts.append(code)
        imports += needs
    uses_log = "logging" in imports
    head = f'"""{doc}"""\n\nfrom __future__ import annotations\n\n{_render_imports(imports)}\n'
    if uses_log:
        head += "\nlog = logging.getLogger(__name__)\n"
    upper = entity.noun.upper()
    head += f"\nDEFAULT_{upper}_{entity.i1.upper()} = {rng.choice([1, 4, 8, 30, 300, 3600])}\n"
    source = head + "\n\n" + entity.definition(rng) + "\n\n" + "\n\n".join(parts)
    names = [template.__name__ for template in chosen]
    return source, names


def _gen_tests(rng: random.Random, module: str, entity: _Entity, templates: list[str]) -> str | None:
    tests = []
    imported = [entity.cls]
    if "_t_validate" in templates:
        imported.append(f"validate_{entity.noun}")
        tests.append(
            f"def test_validate_{entity.noun}_flags_empty_{entity.s1}():\n"
            f"    assert \"{entity.s1} is empty\" in validate_{entity.noun}({entity.cls}({entity.s1}=\"\"))\n\n\n"
            f"def test_validate_{entity.noun}_accepts_minimal():\n"
            f"    assert validate_{entity.noun}({entity.cls}({entity.s1}=\"x\")) == []\n"
        )
    if "_t_summary" in templates:
        imported.append(f"summarise_{entity.plural}")
        a, b = rng.randrange(1, 50), rng.randrange(50, 500)
        tests.append(
            f"def test_summarise_{entity.plural}():\n"
            f"    items = [{entity.cls}(\"a\", {entity.i1}={a}), {entity.cls}(\"b\", {entity.i1}={b})]\n"
            f"    assert summarise_{entity.plural}(items) == {{\"count\": 2, \"total\": {a + b}, \"largest\": {b}}}\n"
        )
    if "_t_group" in templates:
        imported.append(f"group_{entity.plural}_by_{entity.s1}")
        tests.append(
            f"def test_group_{entity.plural}_keeps_order():\n"
            f"    items = [{entity.cls}(\"a\"), {entity.cls}(\"b\"), {entity.cls}(\"a\", {entity.i1}=2)]\n"
            f"    groups = group_{entity.plural}_by_{entity.s1}(items)\n"
            f"    assert [i.{entity.i1} for i in groups[\"a\"]] == [0, 2]\n"
        )
    if "_t_digest" in templates:
        imported.append(f"{entity.noun}_digest")
        tests.append(
            f"def test_{entity.noun}_digest_is_stable():\n"
            f"    item = {entity.cls}(\"{rng.choice(_NOUNS)}\")\n"
            f"    assert {entity.noun}_digest(item) == {entity.noun}_digest(item)\n"
        )
    if not tests:
        return None
    return f"from {module} import {', '.join(imported)}\n\n\n" + "\n\n".join(tests)


def _gen_repository(rng: random.Random, target_chars: int) -> list[tuple[str, str, _Entity]]:
    """(path, source, entity) of generated files until about `target_chars` of source."""
    files: list[tuple[str, str, _Entity]] = []
    used: list[str] = []
    total = 0
    while total < target_chars:
        area = rng.choice(_AREAS)
        noun = rng.choice(_NOUNS)
        adj = rng.choice(_ADJS) if rng.random() < 0.3 else None
        stem = f"{adj}_{_plural(noun)}" if adj else _plural(noun)
        path = f"src/harbor/{area}/{stem}.py"
        if path in used:
            continue
        used.append(path)
        entity = _Entity(rng, noun, adj)
        source, templates = _gen_module(rng, area, entity)
        files.append((path, source, entity))
        total += len(source)
        if rng.random() < 0.4:
            test = _gen_tests(rng, f"harbor.{area}.{stem}", entity, templates)
            if test is not None:
                files.append((f"tests/{area}/test_{stem}.py", test, entity))
                total += len(test)
    return files


_BIG_SYSTEM = (
    "You are a senior Python engineer reviewing a code base for a colleague. Be specific: name "
    "files and functions, quote the lines you mean, and separate facts you can see in the code "
    "from guesses. Keep answers under 400 words unless asked for more."
)


def _big_prompt(rng: random.Random) -> list[dict]:
    model = "qwen3-coder-30b-a3b-instruct"
    session = "ses_" + _hex(rng, 24)
    files = _gen_repository(rng, 232_000)
    tree = "\n".join(path for path, _, _ in files)
    dump = "\n\n".join(f"### {path}\n```python\n{source}```" for path, source, _ in files)
    modules = [(p, e) for p, _, e in files if p.startswith("src/")]
    caches = [(p, e) for p, s, e in files if p.startswith("src/") and f"class {e.cls}Cache" in s]
    cache_names = list(dict.fromkeys(f"`{e.cls}Cache`" for _, e in caches))
    retries = [(p, e) for p, s, e in files if p.startswith("src/") and "_with_retry(" in s]
    areas = sorted({p.split("/")[2] for p, _ in modules})

    turns = [
        (
            f"I'm about to paste the whole source of harbor, our container registry mirror "
            f"({len(modules)} modules, roughly 60k tokens). Anything you want me to leave out?",
            "Paste everything under src/ and tests/. Leave out lock files, vendored code and "
            "generated protobuf modules if there are any; they rarely matter for an architecture "
            "review and cost a lot of context.",
        ),
        (
            "Here is the repository. File list first, then every file.\n\n"
            + tree + "\n\n" + dump
            + "\n\nGive me an overview of the architecture and the three places you consider the "
            "riskiest.",
            f"harbor is organised by domain: {', '.join(areas)}. Each module is built around one "
            "dataclass (for example "
            + ", ".join(f"`{e.cls}` in {p}" for p, e in modules[:3])
            + ") plus free functions that filter, validate, merge or serialise lists of it. There "
            "is no central service layer; modules do not import each other, so the wiring must "
            "live outside this tree.\n\nRiskiest places:\n\n"
            f"1. The {len(caches)} LRU caches ("
            + ", ".join(cache_names[:3])
            + ", ...) mutate an `OrderedDict` in `get()` without a lock. Shared between threads, "
            "`move_to_end` and `popitem` can race.\n"
            f"2. The retry helpers ({', '.join(p for p, _ in retries[:2])}) double `delay` but "
            "never cap it or add jitter, so many clients that time out together retry together.\n"
            "3. The `*_from_dict` helpers silently drop unknown keys, so a renamed field in the "
            "upstream API turns into default values instead of an error.",
        ),
        (
            "Which of the caches would be safe to share between threads as they are?",
            "None of them. Even `get()` writes (`move_to_end`, the hit and miss counters), so "
            "concurrent readers race with each other, not only with writers. Wrap the body of "
            "`get` and `put` in a `threading.Lock`, or give each worker its own cache if the hit "
            "rate allows it.",
        ),
    ]
    clock = _Clock(rng, 5000, 60000)
    records = []
    prompt = _im("system", _BIG_SYSTEM)
    for user, output in turns:
        prompt += _im("user", user)
        records.append(_record(clock.next(), session, model, prompt + _IM_ASSISTANT, output))
        prompt += _im("assistant", output)
    return records


# ---------------------------------------------------------------------------
# request_bodies.jsonl: provider request bodies with their responses
# ---------------------------------------------------------------------------

_BODY_SYSTEM = (
    "You are a careful coding assistant working in a Python repository. Read files before "
    "editing them, keep changes small, and run the tests after each change."
)
_BODY_TOOLS = [
    ("read_file", "Read a file of the repository.", {"path": {"type": "string"}}),
    ("run_tests", "Run the test suite, or the tests matching a pattern.", {"pattern": {"type": "string"}}),
]
_BODY_STEPS = [
    ("The CSV export drops the last row. Find out why.", "read_file", {"path": "export.py"},
     "def export(rows, out):\n    for i in range(len(rows) - 1):\n        out.write(','.join(rows[i]) + '\\n')\n"),
    (None, "run_tests", {"pattern": "test_export"},
     "FAILED tests/test_export.py::test_all_rows - assert 2 == 3\n1 failed, 4 passed"),
    (None, None, None, None),
]
_BODY_ANSWER = ("The loop stops one row early: `range(len(rows) - 1)` skips the last index. Iterate "
                "over `rows` directly and the failing test passes.")


def _usage_openai(prompt_chars: int, cached_chars: int, out_chars: int) -> dict:
    # OpenAI caches in steps of 128 tokens from 1024 on; 4 characters a token is close enough here.
    prompt, cached = prompt_chars // 4, cached_chars // 4
    cached = cached // 128 * 128 if cached >= 1024 else 0
    return {"prompt_tokens": prompt, "completion_tokens": out_chars // 4, "total_tokens": prompt + out_chars // 4,
            "prompt_tokens_details": {"cached_tokens": min(cached, prompt)}}


def _usage_anthropic(prompt_chars: int, cached_chars: int, out_chars: int) -> dict:
    prompt, cached = prompt_chars // 4, cached_chars // 4
    return {"input_tokens": prompt - cached, "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0, "output_tokens": out_chars // 4}


def _request_bodies(rng: random.Random) -> list[dict]:
    """Two sessions of the same task: one through the OpenAI API, one through Anthropic's,
    each line `{"timestamp", "session_id", "request": body, "response": completion}`."""
    clock = _Clock(rng, 3000, 12000)
    openai_tools = [{"type": "function", "function": {
        "name": n, "description": d, "parameters": {"type": "object", "properties": p, "required": list(p)}}}
        for n, d, p in _BODY_TOOLS]
    anthropic_tools = [{"name": n, "description": d,
                        "input_schema": {"type": "object", "properties": p, "required": list(p)}}
                       for n, d, p in _BODY_TOOLS]
    # The system prompt is long enough for provider caching to show in the usage.
    system = _BODY_SYSTEM + "\n\n" + "\n".join(
        f"- Rule {k + 1}: {_OPENCODE_PROSE.split(chr(10))[k % 20]}" for k in range(40))
    o_msgs: list[dict] = [{"role": "system", "content": system}]
    a_msgs: list[dict] = []
    records: list[tuple[int, dict]] = []
    o_prev = a_prev = 0
    for step, (user, tool, args, result) in enumerate(_BODY_STEPS):
        if user is not None:
            o_msgs.append({"role": "user", "content": user})
            a_msgs.append({"role": "user", "content": user})
        o_body = {"model": "gpt-4o-2024-08-06", "messages": [dict(m) for m in o_msgs], "tools": openai_tools}
        a_body = {"model": "claude-sonnet-4-5", "max_tokens": 4096, "system": system,
                  "messages": [dict(m) for m in a_msgs], "tools": anthropic_tools}
        o_chars, a_chars = len(json.dumps(o_body)), len(json.dumps(a_body))
        call_id = f"call_{_hex(rng, 12)}"
        if tool is None:
            o_resp_msg = {"role": "assistant", "content": _BODY_ANSWER}
            a_content: list[dict] = [{"type": "text", "text": _BODY_ANSWER}]
            out_chars = len(_BODY_ANSWER)
        else:
            o_resp_msg = {"role": "assistant", "content": None, "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": tool, "arguments": json.dumps(args)}}]}
            a_content = [{"type": "text", "text": "Let me look."},
                         {"type": "tool_use", "id": f"toolu_{_hex(rng, 12)}", "name": tool, "input": args}]
            out_chars = len(json.dumps(args))
        t = clock.next()
        records.append((t, {"timestamp": t, "session_id": "openai-1", "request": o_body, "response": {
            "id": f"chatcmpl-{_hex(rng, 16)}", "object": "chat.completion", "created": t // 1000,
            "model": o_body["model"], "choices": [{"index": 0, "message": o_resp_msg,
                                                   "finish_reason": "tool_calls" if tool else "stop"}],
            "usage": _usage_openai(o_chars, o_prev, out_chars)}}))
        records.append((t + 700, {"timestamp": t + 700, "session_id": "anthropic-1", "request": a_body,
                                  "response": {"id": f"msg_{_hex(rng, 16)}", "type": "message", "role": "assistant",
                                               "model": a_body["model"], "content": a_content,
                                               "stop_reason": "tool_use" if tool else "end_turn",
                                               "usage": _usage_anthropic(a_chars, a_prev, out_chars)}}))
        o_prev, a_prev = o_chars, a_chars
        if tool is not None:
            o_msgs.append(o_resp_msg)
            o_msgs.append({"role": "tool", "tool_call_id": call_id, "content": result})
            a_msgs.append({"role": "assistant", "content": a_content})
            a_msgs.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": a_content[1]["id"], "content": result}]})
    return [r for _, r in sorted(records, key=lambda x: x[0])]


# ---------------------------------------------------------------------------
# bailian_hashed.jsonl: a hashed trace in Alibaba Bailian's layout (16-token blocks)
# ---------------------------------------------------------------------------

BAILIAN_BLOCK = 16


def _bailian(rng: random.Random) -> list[dict]:
    """Chats of 1-4 turns sharing a 40-block system prompt; a follow-up turn extends its
    parent's blocks (its last, partial block included, as the hashes are of what was sent)."""
    next_id = 40
    system = list(range(40))
    pending: list[tuple[float, dict]] = []
    chat_id = 0
    for chat in range(24):
        t = chat * 2.5 + rng.random()
        ids = list(system)
        parent = -1
        for turn in range(1, rng.randint(1, 4) + 1):
            # A follow-up sends the history again, so its hashes start with the parent's full blocks.
            new = rng.randint(3, 30)
            ids = ids + list(range(next_id, next_id + new))
            next_id += new
            input_length = len(ids) * BAILIAN_BLOCK - rng.randint(0, BAILIAN_BLOCK - 1)
            pending.append((t, {"chat_id": chat_id, "parent_chat_id": parent, "timestamp": round(t, 3),
                                "input_length": input_length, "output_length": rng.randint(20, 400),
                                "type": "text", "turn": turn, "hash_ids": ids}))
            ids = ids[: input_length // BAILIAN_BLOCK]  # the partial block is not shared
            parent = chat_id
            chat_id += 1
            t += rng.uniform(8, 40)
    return [r for _, r in sorted(pending, key=lambda x: x[0])]


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

_README = """\
# Sample traces

These files are generated by `python -m tracetui.samples` (src/tracetui/samples.py) from
fixed seeds; do not edit them by hand, re-run the generator instead. The content is made up.
Every line is one request: `timestamp` (ms), `session_id`, `model`, `input`, `output`.

- `opencode_like.jsonl`: an append-only coding agent (ChatML, ~1500-word system prompt with an
  `<env>` block, tool calls and tool results), 12 requests in one session. Requests 6 and 8
  (0-based; lines 7 and 9) break the prefix: the previous tool call comes back in the history
  re-serialised as compact JSON (`"timeout":120000` instead of `"timeout": 120000`).
- `aider_like.jsonl`: 10 requests in one session. The repo map near the top of every prompt
  changes each time, and the chat history is replaced by a summary at requests 4 and 8
  (0-based), so the prefix breaks early but most chunks recur at shifted offsets.
- `two_sessions.jsonl`: two interleaved sessions (`sess-a`, `sess-b`) in plain
  `system:`/`user:`/`assistant:` form sharing one system prompt; two outputs are empty and are
  followed by a retry with the identical prompt.
- `malformed.jsonl`: 8 good Llama 3 requests, plus one line with unescaped JSON in `input`
  (line 5, recoverable), one blank line (line 8) and one truncated garbage line (line 10).
- `big_prompt.jsonl`: 3 append-only requests; the last two carry a ~240 KB (~60k-token) prompt
  (a generated Python repository) for exercising fast rendering and long shared prefixes.

Two more files are in other formats (see the README's "Trace formats"):

- `request_bodies.jsonl`: provider request bodies with their responses, one
  `{"timestamp", "session_id", "request", "response"}` a line: the same debugging task through
  the OpenAI Chat Completions API (session `openai-1`) and Anthropic's Messages API
  (`anthropic-1`), with tools, tool calls, tool results and provider usage (cached tokens).
- `bailian_hashed.jsonl`: a hashed trace in Alibaba Bailian's layout (`chat_id`,
  `parent_chat_id`, `turn`, `timestamp` in s, `input_length`, `output_length`, `hash_ids` of
  16-token blocks): 24 chats of 1-4 turns sharing a 40-block system prompt.
"""


def _generators() -> list[tuple[str, Callable[[], list[str]]]]:
    def lines(seed: int, make: Callable[[random.Random], list[dict]]) -> Callable[[], list[str]]:
        return lambda: [_dumps(r) for r in make(random.Random(seed))]

    return [
        ("opencode_like.jsonl", lines(1001, _opencode)),
        ("aider_like.jsonl", lines(1002, _aider)),
        ("two_sessions.jsonl", lines(1003, _two_sessions)),
        ("malformed.jsonl", lambda: _malformed(random.Random(1004))),
        ("big_prompt.jsonl", lines(1005, _big_prompt)),
        ("request_bodies.jsonl", lines(1006, _request_bodies)),
        ("bailian_hashed.jsonl", lines(1007, _bailian)),
    ]


def write_samples(directory: Path) -> list[Path]:
    """Write the sample traces (and a README.md) into `directory`; return the trace paths.

    The directory is created if needed. Files are written as UTF-8 with "\\n" line endings
    and are byte-identical on every run.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in _generators():
        path = directory / name
        path.write_bytes(("\n".join(make()) + "\n").encode("utf-8"))
        paths.append(path)
    (directory / "README.md").write_bytes(_README.encode("utf-8"))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tracetui.samples",
        description="Write the deterministic sample traces (and a README.md) into DIR.",
    )
    parser.add_argument(
        "directory",
        nargs="?",
        default="sample_traces",
        metavar="DIR",
        help="output directory (default: sample_traces in the current directory)",
    )
    args = parser.parse_args(argv)
    for path in write_samples(Path(args.directory)):
        print(f"{path}  {path.stat().st_size:,} bytes", file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
