"""The output formats of the headless commands: a rich table, CSV, TSV, Markdown or JSON.

A `Data` table holds raw values (ints, rates as fractions, text); each format writes them its
own way: the rich table and Markdown as a person reads them (`12,345`, `98.55%`), CSV and TSV
as a program reads them (`12345`, `0.985512`). `print_table` never cuts a figure: on a pipe
the table takes the width it needs.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..core.display import display_text, json_safe

OUTPUTS = ("table", "csv", "tsv", "markdown", "json")

INT, RATE, TEXT, LABEL, DELTA = "int", "rate", "text", "label", "delta"
"""LABEL: a short figure-like text of ours (`0.4`, `∞`, `unlimited`): set right, never cut.
DELTA: the difference of two rates, shown in percentage points (`+1.25`)."""


@dataclass(frozen=True)
class Col:
    label: str
    """Header of the rich table and Markdown."""
    key: str
    """Header of CSV / TSV (as the JSON keys)."""
    kind: str = INT
    style: str = ""
    show: str = "both"
    grow: bool = False
    """The text column that takes the room left in an expanded table."""
    """"human" (rich table, Markdown), "machine" (CSV, TSV) or "both"."""


@dataclass
class Data:
    title: str
    cols: list[Col]
    rows: list[list[Any]] = field(default_factory=list)
    caption: str = ""
    section_ends: frozenset[int] = frozenset()
    """Rows the rich table draws a line under (groups of rows, e.g. one pool's engines)."""

    def with_trace(self, name: str) -> Data:
        """The same rows with the trace's name first (several traces in one CSV table)."""
        return Data(self.title, [Col("trace", "trace", TEXT)] + self.cols, [[name, *r] for r in self.rows],
                    self.caption, self.section_ends)


def _human(kind: str, v: Any) -> str:
    if v is None:
        return "–"
    if kind == INT:
        return f"{v:,}"
    if kind == RATE:
        return f"{100 * v:.2f}%"
    if kind == DELTA:
        return f"{100 * v:+.2f}"
    return str(v)


def _machine(kind: str, v: Any) -> str:
    if v is None:
        return ""
    if kind in (RATE, DELTA):
        return f"{round(float(v), 6)}"
    # display_text: trace text (session ids, descriptions) holds no control character.
    return display_text(str(v)) if kind == TEXT else str(v)


def _lines(s: str) -> str:
    """Trace text as visible lines: each line through display_text (the newlines between
    them are ours: a description, then where it is)."""
    return "\n".join(display_text(x) for x in s.split("\n"))


def rich_table(d: Data, *, expand: bool = False):
    from rich.table import Table
    from rich.text import Text

    t = Table(title=d.title, title_justify="left", caption=d.caption or None, caption_justify="left",
              expand=expand)
    cols = [c for c in d.cols if c.show != "machine"]
    for c in cols:
        if c.kind == TEXT:  # text folds; figures are never wrapped nor cut (on a pipe, see print_table)
            t.add_column(c.label, overflow="fold", style=c.style or None, ratio=1 if expand and c.grow else None,
                         min_width=24 if expand and c.grow else None, no_wrap=not c.grow and expand)
        else:  # as wide as its widest figure: only the header may wrap
            k = d.cols.index(c)
            width = max((len(_human(c.kind, r[k])) for r in d.rows), default=1)
            t.add_column(c.label, justify="right", overflow="fold", min_width=width, style=c.style or None)
    for k, row in enumerate(d.rows):
        # Text, not str: trace text is not rich markup ("[/x]" in a prompt prints as is); and
        # through display_text, no control character of it reaches the terminal.
        t.add_row(*(Text(_lines(_human(c.kind, v))) for c, v in zip(d.cols, row) if c.show != "machine"),
                  end_section=k in d.section_ends)
    return t


def print_table(console, table) -> None:
    """Print a rich table; on a pipe (not a terminal) at the width it needs, so that no
    figure is cut: its natural width, or the console's (COLUMNS) when wider than the figure
    columns' widths (`min_width`) and a few cells for each text column, which fold."""
    if console.is_terminal:
        console.print(table)
        return
    if console.width >= 10 ** 4:  # no COLUMNS: the natural width, not 10,000 cells
        table.expand = False
    need = 1 + 3 * len(table.columns)  # the borders and the padding of every cell
    for col in table.columns:
        if col.min_width:
            need += col.min_width
        else:
            cells = [len(str(c)) for c in col.cells]
            need += min(16, max(cells, default=1))
    width = console.width
    console.width = max(width, need)  # print(width=) cannot go past the console's width
    try:
        console.print(table)
    finally:
        console.width = width


def delimited(d: Data, delimiter: str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow([c.key for c in d.cols if c.show != "human"])
    for row in d.rows:
        w.writerow([_machine(c.kind, v) for c, v in zip(d.cols, row) if c.show != "human"])
    return buf.getvalue()


def markdown(d: Data) -> str:
    def cell(s: str) -> str:
        return "<br>".join(display_text(x).replace("|", "\\|") for x in s.split("\n"))

    cols = [k for k, c in enumerate(d.cols) if c.show != "machine"]
    out = [f"### {d.title}", "", "| " + " | ".join(cell(d.cols[k].label) for k in cols) + " |",
           "|" + "|".join("---" if d.cols[k].kind == TEXT else "---:" for k in cols) + "|"]
    for row in d.rows:
        out.append("| " + " | ".join(cell(_human(d.cols[k].kind, row[k])) for k in cols) + " |")
    if d.caption:
        out += ["", d.caption]
    return "\n".join(out) + "\n"


def write(tables: list[Data], fmt: str) -> None:
    """`tables` on stdout as CSV / TSV (the first only: one table per file) or Markdown."""
    if fmt in ("csv", "tsv"):
        text = delimited(tables[0], "," if fmt == "csv" else "\t")
    else:
        text = "\n".join(markdown(d) for d in tables)
    sys.stdout.write(text)
    sys.stdout.flush()


def make_console():
    """A rich Console whose closed pipe surfaces as BrokenPipeError (rich exits 1 itself).

    On a pipe (a file, `less`) without COLUMNS, lines are as wide as they need: nothing is
    wrapped at 80 columns, and tables take their natural width (see print_table)."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError

    piped = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return _Console(width=10 ** 4 if piped else None)


def print_json(doc: dict[str, Any]) -> None:
    """`doc` on stdout, indented (the --json output of analyze, check and compare), with the
    characters a terminal would act on written as JSON escapes (see json_safe): the same values."""
    sys.stdout.buffer.write(json_safe(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()).encode() + b"\n")
    sys.stdout.flush()


def rounded(x: float | None) -> float | None:
    """A rate as the JSON documents hold it: six decimals."""
    return None if x is None else round(float(x), 6)


def pct(x: float | None) -> str:
    """A rate as the rich tables show it."""
    return "–" if x is None else f"{100 * x:.2f}%"


def output_format(args) -> str:
    """The format asked for by -o/--output and --json (one of OUTPUTS; default table)."""
    fmt = getattr(args, "output", None)
    if getattr(args, "json", False):
        if fmt not in (None, "json"):
            raise ValueError(f"--json and --output {fmt} ask for two formats; give one")
        return "json"
    return fmt or "table"
