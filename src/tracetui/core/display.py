"""Trace text made safe to show: the one function every output path uses.

A trace is other people's text. Printed raw, an ESC or an 8-bit CSI (U+009B) in a session id
would drive the terminal (set its title, write the clipboard with OSC 52, clear the screen),
a bidirectional override would reorder what is shown around it, and a zero-width character
would hide a difference. `display_text` replaces every such character by a visible mark of
one cell, so that one character of text stays one cell on screen (the prompt view relies on
it) and nothing in a trace reaches the terminal as a control:

- newline ↵, tab →, the other C0 controls and DEL as their control pictures (␛ ␇ ␀ ␍ … ␡);
- C1 controls (U+0080-U+009F), every format character (Unicode category Cf: bidirectional
  marks, embeddings, overrides and isolates, zero-width spaces and joiners, the byte-order
  mark, invisible operators, tags ...), the line and paragraph separators U+2028 / U+2029, as ·;
- lone surrogates (which no terminal encoding can write) as �.

Markup (rich's "[bold]") is not this module's business: the app and the CLI pass trace text as
rich Text, never as a markup string.
"""

from __future__ import annotations

import re

import numpy as np

NEWLINE_MARK = "↵"
TAB_MARK = "→"
MARK = "·"
"""C1 controls, format characters and separators."""

# Format characters (Cf) of Unicode 15.1, plus the line and paragraph separators (Zl, Zp).
# Written out rather than derived from unicodedata at import (a scan of 1.1 M code points);
# a test checks that this Python's unicodedata has no Cc / Cf / Zl / Zp character outside it.
_FORMAT_RANGES = (
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F),
    (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x2028, 0x202E),
    (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)
_MARKED_RANGES = ((0x0080, 0x009F),) + _FORMAT_RANGES

MARKS: dict[str, str] = {chr(c): chr(0x2400 + c) for c in range(0x20)}  # ␀ … ␟
MARKS["\n"] = NEWLINE_MARK
MARKS["\t"] = TAB_MARK
MARKS["\x7f"] = "␡"
for _a, _b in _MARKED_RANGES:
    MARKS.update({chr(c): MARK for c in range(_a, _b + 1)})
MARKS.update({chr(c): "�" for c in range(0xD800, 0xE000)})
"""Every character `display_text` replaces, and what it shows instead (one character each)."""

_ASCII = tuple((ch, m) for ch, m in MARKS.items() if ch < "\x80" and ch != "\n")
_MARKED = np.zeros(0x110000, dtype=bool)
"""By code point: is it a marked character (the non-ASCII ones are looked up here)."""
_MARKED[[ord(ch) for ch in MARKS]] = True


def display_text(s: str) -> str:
    """`s` as one line of visible text: every control, format or separator character (see the
    module) replaced by a mark of one cell, newlines included. Same length as `s`."""
    return _display(s, NEWLINE_MARK)


def display_lines(s: str) -> str:
    """`s` as lines of visible text: as `display_text`, but each newline, still shown as ↵,
    also ends its line (for panes that show text laid out as it was written)."""
    return _display(s, NEWLINE_MARK + "\n")


def _display(s: str, newline: str) -> str:
    # Only the marked characters present are replaced: a scan per ASCII control, and one
    # table lookup of every code point for the others (5 MB of prompts: ~50 ms; str.translate
    # looks every character up in a dict, ~180 ms a MB, and a regex scan is ~60 ms a MB).
    if s.isascii():
        other: list[str] = []
    else:
        codes = np.frombuffer(s.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        other = [chr(c) for c in np.unique(codes[_MARKED[codes]]).tolist() if c >= 0x80]
    for ch, shown in _ASCII:
        if ch in s:
            s = s.replace(ch, shown)
    for ch in other:
        s = s.replace(ch, MARKS[ch])
    return s.replace("\n", newline) if "\n" in s else s


_JSON_UNSAFE = re.compile("[\x7f" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in _MARKED_RANGES) + "]")


def json_safe(doc: str) -> str:
    """JSON text with the characters a terminal would act on written as \\u escapes (the JSON
    encoder escapes C0 controls only: DEL, C1 and bidi controls would reach the terminal raw).
    The document decodes to exactly the same values. Surrogates cannot be in `doc`: it is
    the UTF-8 text an encoder wrote."""
    if doc.isascii() and "\x7f" not in doc:
        return doc
    return _JSON_UNSAFE.sub(_json_escape, doc)


def _json_escape(m: re.Match) -> str:
    c = ord(m.group())
    if c < 0x10000:
        return f"\\u{c:04x}"
    c -= 0x10000
    return f"\\u{0xD800 + (c >> 10):04x}\\u{0xDC00 + (c & 0x3FF):04x}"
