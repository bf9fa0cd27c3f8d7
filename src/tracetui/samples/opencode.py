"""opencode_like.jsonl: an append-only coding agent (ChatML, tool calls) with two deliberate
prefix breakers (see OPENCODE_RESERIALISED)."""

from __future__ import annotations

import json
import random

from .common import _Clock, _IM_ASSISTANT, _hex, _im, _line_of, _numbered, _record, _tool_call

OPENCODE_RESERIALISED = (6, 8)
"""Indices of the opencode_like requests whose history holds the previous output
re-serialised (compact JSON in the tool call) instead of byte-for-byte."""

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
