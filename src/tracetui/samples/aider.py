"""aider_like.jsonl: a repo map that changes every request and a chat history periodically
replaced by a summary (see AIDER_SUMMARISED)."""

from __future__ import annotations

import random

from .common import _Clock, _IM_ASSISTANT, _hex, _im, _record

AIDER_SUMMARISED = (4, 8)
"""Indices of the aider_like requests whose chat history was replaced by a summary."""

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
