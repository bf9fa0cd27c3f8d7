"""Why the prefix cache missed: where each prompt broke from the entry it extends, and why.

For request i the engine gives the entry j that shared the longest prefix with it (unlimited
pool) and that prefix's length P in tokens. The break is token P of the input. Its cause is
decided by rules, in this order:

- new         nothing is shared: no prefix, and no chunk of the input was seen before (first
              request, new session). A request that shares chunks but not its first token
              breaks at token 0, against the entry most of its chunks were first seen in,
              and gets one of the causes below like any other break.
- empty       the input has no tokens: nothing to reuse, nothing lost (not a break).
- append      the whole source entry (or the whole input) was reused: nothing broke.
- retokenize  the texts agree across the break; only the tokens differ at a boundary.
- template    the texts differ only in role markers / special tokens / whitespace.
- rerender    the break lies inside the source's output as it comes back in the history
              (re-serialised tool call, re-templated turn, dropped <think> block, ...).
- reorder     the block holding the break has the same lines (or items) in another order.
- insert      new text sits before text of the source that follows unchanged.
- edit        text changed inside a block.

In a pool of limited size (`pool_breaks`), a request whose prefix the unlimited pool reuses
further broke because of the pool:
- evicted     the entry sharing the longer prefix was evicted (or cut to the pool's size).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .blocks import block_at, split_blocks
from .engines.study import AnalysisCancelled, PoolResult, analyze
from .model import Block
from .pipeline import Loaded

CAUSES = ("new", "empty", "append", "retokenize", "template", "rerender", "reorder", "insert", "edit",
          "evicted")

_ANCHOR = 96  # characters of the source compared to find where the texts meet again
_ANCHOR_STEPS = (0, 16, 64, 256, 1024, 4096, 16384)
_OLD_WINDOW, _NEW_WINDOW = 512, 1024  # characters after the break compared for a small edit
_MEET = 12  # characters the texts must agree on to have met again

_MARKERS = re.compile(
    r"<\|im_start\|>[a-z_]*\n?|<\|start_header_id\|>[a-z_]*<\|end_header_id\|>|<\|[^|<>\n]{1,64}\|>|\[/?INST\]|</?s>|<<?/?SYS>>?|</?(?:system|user|assistant|tool|human|ai)>|"
    r"^=== ?[A-Za-z]+ ?===$|^(?:system|user|assistant|tool):",
    re.MULTILINE | re.IGNORECASE,
)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Break:
    """Where and why request `request` stopped reusing the prefix of `source`."""

    request: int
    source: int
    """Entry the request is compared with: the one that gave the longest prefix (unlimited
    pool), or with no prefix hit the entry most of its reused chunks were first seen in; -1
    when nothing is shared."""
    cause: str
    prefix: int
    """Prefix hit in tokens (the break token's index)."""
    input_tokens: int
    char: int
    """Break character in the request's input (== in the source's text)."""
    in_source_output: bool
    block: Block | None
    """Block of the request's input holding the break."""
    removed: str
    """Source text replaced at the break (up to where the texts meet again)."""
    added: str
    """Request text put in its place."""
    description: str
    """What differs at the break (as the diff screen shows it), normalised for grouping like
    breaks across requests."""
    recovered: int | None
    """Tokens after the break that a substring cache still reused (unlimited pool); None in
    a limited pool's breaks, where the engine does not tell which chunks it reused."""
    where: str = ""
    """The block holding the break, named by its role and first line ("" when there is none
    to name; "previous output" for a break inside the source's output)."""
    example: str = ""
    """The change as this request's text has it, when the description (normalised for
    grouping: `chars_current=⟨<N>⟩ → ⟨<N>⟩`) hides it (`chars_current=⟨190⟩ → ⟨470⟩`); else ""."""

    @property
    def tokens_lost(self) -> int:
        """Input tokens after the break, not reused by the prefix cache."""
        return self.input_tokens - self.prefix

    @property
    def is_breaker(self) -> bool:
        return self.cause not in ("append", "empty")


@dataclass(frozen=True, slots=True)
class Breaker:
    """Breaks of several requests grouped by cause, block and normalised description."""

    cause: str
    block: str
    description: str
    requests: tuple[int, ...]
    tokens_lost: int
    recovered: int | None
    where: str = ""
    """The `where` of its breaks when they all agree, else ""."""
    example: str = ""
    """Its first break's change as the text has it (Break.example), "" when the description shows it."""


# --------------------------------------------------------------------------- normalising

_DAY = r"(?:Mon(?:day)?|Tue(?:s(?:day)?)?|Wed(?:nesday)?|Thu(?:rs(?:day)?)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)"
_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
          r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
_NORMALISERS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<UUID>"),
    # The year is optional: a change cut at a token boundary may hold "Sat Jan 31" only.
    (re.compile(rf"\b{_DAY},? +{_MONTH}\.? +\d{{1,2}}\b(?:,? +\d{{4}}\b)?", re.I), "<DATE>"),
    (re.compile(rf"\b{_MONTH}\.? +\d{{1,2}}\b(?:,? +\d{{4}}\b)?", re.I), "<DATE>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"),
     "<DATE>"),
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?(?: ?[AP]M)?\b", re.I), "<TIME>"),
    (re.compile(r"\b(?:toolu|call|chatcmpl|msg|req|run|ses|sess)[-_][A-Za-z0-9_-]{6,}\b"), "<ID>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b", re.I), "<HASH>"),
    (re.compile(r"\b[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*[A-Za-z][A-Za-z0-9_-]{10,}\b"), "<ID>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<N>"),
]


def _placeholders(text: str) -> str:
    for pattern, repl in _NORMALISERS:
        text = pattern.sub(repl, text)
    return text


def normalise(text: str, limit: int = 72) -> str:
    """Replace numbers, dates, hashes and ids by placeholders; squeeze whitespace; shorten."""
    text = _SPACE.sub(" ", _placeholders(text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


_JSON_TEXT = re.compile(r'"(?:text|content)"\s*:\s*"((?:[^"\\]|\\.){1,400})')


def _first_line(text: str) -> str:
    """First line with content, role markers removed; inside a JSON message, the first line
    of its text rather than the JSON around it."""
    if text.lstrip()[:1] in ("{", '"', "["):
        m = _JSON_TEXT.search(text)
        if m:
            text = m.group(1).replace("\\n", "\n").replace('\\"', '"')
    for line in _MARKERS.sub("", text).splitlines():
        if any(ch.isalnum() for ch in line):  # skip lines of bare punctuation ("{", "```")
            return line.strip()
    return ""


def _visible(text: str, limit: int = 32, grouped: bool = True) -> str:
    """A short change normalised for grouping (or as it is), its whitespace made visible, shortened."""
    if not text:
        return "∅"
    shown = (_placeholders(text) if grouped else text).replace(" ", "␣").replace("\n", "↵").replace("\t", "→")
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _change(old: str, new: str, c: int, removed_n: int, added_n: int, grouped: bool = True) -> str:
    """What differs at the break, as the diff screen marks it: `context⟨removed⟩ → ⟨added⟩`,
    normalised so that `chars_current=190` -> `470` and `534` -> `810` read alike.

    The texts agree before c and again after c + removed_n / c + added_n. A change that
    starts or ends inside a word is widened to the whole word ("Sat" -> "Sun", not "at" ->
    "un"), so that the placeholders see whole numbers and dates; a change that starts at a
    word boundary is left as it is (`120000` -> `120000.0` stays ∅ -> `.0`)."""
    d = c + len(_common_prefix(old[c: c + removed_n], new[c: c + added_n]))
    e_old, e_new = c + removed_n, c + added_n
    # Trim what both sides share at the end, as the minimal change would.
    while e_old > d and e_new > d and old[e_old - 1] == new[e_new - 1]:
        e_old, e_new = e_old - 1, e_new - 1
    start = d
    if _is_word(old[d: d + 1]) or _is_word(new[d: d + 1]):
        while start > 0 and start > c - 32 and _is_word(new[start - 1]):
            start -= 1
    for _ in range(32):  # the texts agree from e_old / e_new on: widen both alike
        if not (e_old < len(old) and e_new < len(new) and old[e_old] == new[e_new] and _is_word(old[e_old])
                and (_is_word(old[e_old - 1: e_old]) or _is_word(new[e_new - 1: e_new]))):
            break
        e_old, e_new = e_old + 1, e_new + 1
    ctx = _context(new, start)
    tail = " " if ctx[-1:].isspace() else ""
    if grouped:
        lead = normalise(ctx, 32)
    else:  # as the text has it (Break.example)
        lead = _SPACE.sub(" ", ctx).strip()
        lead = lead if len(lead) <= 32 else lead[:31] + "…"
    return f"{lead}{tail}⟨{_visible(old[start:e_old], grouped=grouped)}⟩ → " \
           f"⟨{_visible(new[start:e_new], grouped=grouped)}⟩"


# --------------------------------------------------------------------------- per request

def char_at(text: str, tokens: np.ndarray, token: int, byte_lengths: np.ndarray) -> int:
    """Character where token `token` of `text` starts (len(text) from the last token on):
    `document.char_offsets(text, tokens, byte_lengths)[token]`, without building the offsets
    of every token (a sum of byte lengths, and for non-ASCII text a count of the bytes that
    start a character)."""
    if token >= len(tokens):
        return len(text)
    b = int(byte_lengths[np.minimum(tokens[:token], len(byte_lengths) - 1)].sum(dtype=np.int64))
    if text.isascii():
        return min(b, len(text))
    raw = text.encode("utf-8", "surrogatepass")
    if b >= len(raw):
        return len(text)
    head = np.frombuffer(raw, dtype=np.uint8, count=b + 1)
    return int(np.count_nonzero((head & 0xC0) != 0x80)) - 1


def _entry_char(loaded: Loaded, j: int, token: int, byte_lengths: np.ndarray) -> int:
    """Character of token `token` in entry j's text (input + output)."""
    r = loaded.trace.requests[j]
    n_in = len(loaded.inputs[j])
    if token < n_in:
        return char_at(r.input, loaded.inputs[j], token, byte_lengths)
    out = loaded.outputs[j]
    return len(r.input) + char_at(r.output, out, min(token - n_in, len(out)), byte_lengths)


def _resync(new: str, old: str, c: int) -> tuple[int, int] | None:
    """Where the texts meet again after the break at c: (chars added, chars removed).

    Small edits are found in a local window: the first block of at least 12 equal characters
    (fewer when the window is shorter) of `difflib.SequenceMatcher(None, old[c:c+512],
    new[c:c+1024], autojunk=False).get_matching_blocks()` (or, when there is none, a shorter
    block ending the source's text), found without the whole diff. Large insertions (a repo map, a summary)
    are found by looking for an anchor of the source's text further on in the request.
    """
    old_end = min(len(old), c + _OLD_WINDOW)
    if old_end <= c:
        return len(new) - c, 0
    new_end = min(len(new), c + _NEW_WINDOW)
    need = min(_MEET, old_end - c)
    # That first block without the full diff: difflib's blocks come from the longest match of
    # the windows, then recursively from the longest matches left and right of it. So the
    # first block of >= `need` characters is the longest match of the part left of the
    # previous one, for as long as that is still >= `need` long.
    found = None
    hi_old, hi_new = old_end, new_end
    while True:
        b, a, k = _longest_match(old, new, c, hi_old, c, hi_new, need)
        if k < need:
            break
        found, hi_old, hi_new = (a - c, b - c), b, a
    if found is not None:
        return found
    if old_end == len(old):
        # No 12-character match, but a shorter block that ends the source's text still counts:
        # if it is difflib's last block. That one is on the right edge of difflib's recursion
        # (each longest match, then the longest match right of it, while there is one), and
        # without junk no two blocks are adjacent (either would extend the other), so none
        # merges into it: a few longest-match calls instead of the whole diff.
        old_w, new_w = old[c: old_end], new[c: new_end]
        sm = difflib.SequenceMatcher(None, old_w, new_w, autojunk=False)
        lo_old = lo_new = 0
        last = None
        while lo_old < len(old_w) and lo_new < len(new_w):
            b, a, size = sm.find_longest_match(lo_old, len(old_w), lo_new, len(new_w))
            if not size:
                break
            last = (b, a, size)
            lo_old, lo_new = b + size, a + size
        if last is not None and last[0] + last[2] == len(old_w):
            return last[1], last[0]
    for b in _ANCHOR_STEPS:
        anchor = old[c + b: c + b + _ANCHOR]
        if len(anchor) < 16:
            return None
        pos = new.find(anchor, c)
        if pos >= 0:
            return pos - c, b
    return None


def _longest_match(old: str, new: str, o0: int, o1: int, n0: int, n1: int, need: int) -> tuple[int, int, int]:
    """The longest common run of old[o0:o1] and new[n0:n1] as (old start, new start, length),
    when it is at least `need` long (length < need otherwise). Ties go as in difflib's
    `find_longest_match`: first in `old`, then first in `new`.

    Every run of >= `need` characters starts with its first `need` characters: those are
    looked up with str.find, and only from where a run starts (not one character into it).
    """
    best_o, best_n, best = o0, n0, 0
    for o in range(o0, o1 - need + 1):
        if o1 - o <= best:  # no longer run can start here or later
            break
        anchor = old[o: o + need]
        n = new.find(anchor, n0, n1)
        while n >= 0:
            if o == o0 or n == n0 or old[o - 1] != new[n - 1]:
                k = need + _run(old, o + need, new, n + need, min(o1 - o, n1 - n) - need)
                if k > best:
                    best_o, best_n, best = o, n, k
            n = new.find(anchor, n + 1, n1)
    return best_o, best_n, best


def _run(a: str, i: int, b: str, j: int, limit: int) -> int:
    """Length of the common run of a[i:] and b[j:], at most `limit` (slices compare in C)."""
    n, step = 0, 16
    while n < limit:
        k = min(step, limit - n)
        if a[i + n: i + n + k] != b[j + n: j + n + k]:
            while k > 1:  # the run ends in this piece: halve it down
                h = k // 2
                if a[i + n: i + n + h] == b[j + n: j + n + h]:
                    n += h
                    k -= h
                else:
                    k = h
            return n
        n += k
        step *= 4
    return limit


def _common_prefix(a: str, b: str) -> str:
    import os.path

    return os.path.commonprefix([a, b])


def _items(text: str) -> list[str]:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) >= 3:
        return lines
    return [p.strip() for p in re.split(r"\}\s*,\s*\{|\n", text) if p.strip()]


def _markup_change(old: str, new: str, c: int, removed_n: int, added_n: int) -> tuple[str, str] | None:
    """The change at c, widened to the role markers / special tokens it is in or borders,
    when it touches one and nothing but markers and whitespace differ; else None.

    The minimal change rarely holds a whole marker: `<|im_end|>\n<|im_start|>` ->
    `<|im_end|><|im_start|>` removes "\n" (after the shared `<|im_end|>`), `<|eot_id|>` ->
    `<|eom_id|>` replaces "ot" by "om"."""
    def strip(s: str) -> str:
        return _SPACE.sub("", _MARKERS.sub("", s))

    removed_n, added_n = min(removed_n, 2000), min(added_n, 2000)
    # The texts agree before c: the marker covering (or ending at) c is the same in both.
    a = _marker_start(old, c, ending=True)
    removed = old[a: _marker_end(old, c + removed_n)]
    added = new[a: _marker_end(new, c + added_n)]
    if removed == added or strip(removed) != strip(added):
        return None
    return (removed, added) if _MARKERS.search(removed) or _MARKERS.search(added) else None


def _marker_start(text: str, pos: int, ending: bool = False) -> int:
    """Start of the role marker / special token of `text` that covers character pos (or,
    with `ending`, ends right before it), else pos."""
    for m in _MARKERS.finditer(text, max(0, pos - 64), min(len(text), pos + 64)):
        if m.start() > pos:
            break
        if pos < m.end() or (ending and pos == m.end()):
            return m.start()
    return pos


def _marker_end(text: str, pos: int) -> int:
    """End of the marker of `text` that covers character pos - 1 or starts at pos, else pos."""
    for m in _MARKERS.finditer(text, max(0, pos - 64), min(len(text), pos + 64)):
        if m.start() > pos:
            break
        if m.start() < pos < m.end() or m.start() == pos:
            return m.end()
    return pos


def _context(text: str, c: int) -> str:
    """The few characters before c, from the last separator on: a newline (or a JSON-escaped
    one), a comma or a brace; else from the last space before them."""
    ctx = text[max(0, c - 32): c]
    cut = max(ctx.rfind("\n"), ctx.rfind(","), ctx.rfind("{"))
    esc = ctx.rfind("\\n")
    if esc >= 0 and esc + 1 > cut:
        cut = esc + 1
    if cut < 0:
        cut = ctx.rstrip().rfind(" ")
    return ctx[cut + 1:] if cut >= 0 else ctx


def _matching_block(blocks: tuple[Block, ...], like: Block) -> Block | None:
    same = [b for b in blocks if b.kind == like.kind and b.role == like.role and b.label == like.label]
    return same[0] if same else None


_RECENT_BLOCKS = 64
"""Requests whose blocks are kept while diagnosing the whole trace: a request and its source
are most often close in the trace."""
_CACHE = 4096
"""Breaks a Diagnosis keeps (those shown, most recently first)."""


class _Recent:
    """`compute(i)` for a request index, kept for the few most recently used requests (each
    request is looked at for itself and again as the source of later ones)."""

    def __init__(self, compute: Callable[[int], Any], size: int) -> None:
        self._compute = compute
        self._size = size
        self._cache: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, i: int) -> Any:
        with self._lock:
            return self._cache.get(i)

    def __call__(self, i: int) -> Any:
        with self._lock:
            got = self._cache.get(i)
            if got is not None:
                self._cache.move_to_end(i)
                return got
        got = self._compute(i)  # outside the lock: two threads may compute the same, alike
        with self._lock:
            self._cache[i] = got
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return got


class Diagnosis(Sequence):
    """The break of each request of a text trace, computed when asked for and kept (the
    explorer diagnoses what it shows, not the whole trace); `is_breaker` says whether a
    request broke without diagnosing it. Thread-safe."""

    def __init__(self, loaded: Loaded, byte_lengths: np.ndarray | None = None, cache: int = _CACHE) -> None:
        self.loaded = loaded
        self.byte_lengths = loaded.tokenizer.byte_lengths() if byte_lengths is None else byte_lengths
        reqs = loaded.trace.requests
        self._blocks = _Recent(lambda i: split_blocks(reqs[i].input, reqs[i].input_doc), _RECENT_BLOCKS)
        self._breaks = _Recent(self._compute, cache)
        self._first: dict[Any, int] | None = None
        self._breaker = np.full(len(loaded.inputs), -1, dtype=np.int8)
        """1 / 0 once is_breaker knows, -1 before."""

    def __len__(self) -> int:
        return len(self.loaded.inputs)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(len(self))))
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._breaks(i)

    def peek(self, i: int) -> Break | None:
        """Request i's break if already computed, else None (never computes)."""
        return self._breaks.peek(i)

    def first_of_session(self, i: int) -> bool:
        """Whether no earlier request has request i's session id."""
        if self._first is None:
            first: dict[Any, int] = {}
            for k, r in enumerate(self.loaded.trace.requests):
                first.setdefault(r.session_id, k)
            self._first = first
        return self._first[self.loaded.trace.requests[i].session_id] == i

    def _compute(self, i: int) -> Break:
        return _diagnose_one(self.loaded, i, self.byte_lengths, self._blocks, self.first_of_session)

    def is_breaker(self, i: int) -> bool:
        """`self[i].is_breaker`, from the prefix hit, the source's length and the texts at the
        break only (no block split, no resync, no diff)."""
        known = int(self._breaker[i])
        if known < 0:
            got = self.peek(i)
            known = int(got.is_breaker if got is not None else _is_breaker(self.loaded, i, self.byte_lengths))
            self._breaker[i] = known
        return bool(known)

    def next_breaker(self, i: int, delta: int, cancel: threading.Event | None = None) -> int | None:
        """The first breaking request after i (delta > 0) or before it, wrapping around the
        trace; None when no request broke."""
        n = len(self)
        for step in range(1, n + 1):
            if cancel is not None and cancel.is_set():
                return None
            k = (i + step * (1 if delta > 0 else -1)) % n
            if self.is_breaker(k):
                return k
        return None

    def breakers(self) -> list[int]:
        return [i for i in range(len(self)) if self.is_breaker(i)]


def diagnose(loaded: Loaded, byte_lengths: np.ndarray | None = None,
             cancel: threading.Event | None = None) -> tuple[Break, ...]:
    """The break and its cause for every request of the trace. Setting `cancel` makes it
    raise `AnalysisCancelled` (checked before each request)."""
    if loaded.trace.hashed:  # no text: the first missed block
        from .blockstudy import diagnose_hashed

        return diagnose_hashed(loaded, cancel)
    d = Diagnosis(loaded, byte_lengths, cache=1)  # each break computed once, kept in `out`
    out = []
    for i in range(len(d)):
        if cancel is not None and cancel.is_set():
            raise AnalysisCancelled()
        out.append(d._compute(i))
    return tuple(out)


def _is_breaker(loaded: Loaded, i: int, byte_lengths: np.ndarray) -> bool:
    """_diagnose_one(...).is_breaker, by the same tests up to its appends (a test checks it)."""
    a = loaded.analysis
    n_in = int(a.input_lens[i])
    if n_in == 0:
        return False  # empty
    p = int(a.unlimited.prefix_hits[i])
    j = int(a.unlimited.prefix_source[i])
    if p == 0:
        j = _chunk_source(a, i) if int(a.combined_hits[i]) > 0 else -1
        if j < 0:
            return True  # new
    if p >= n_in or p >= len(loaded.inputs[j]) + len(loaded.outputs[j]):
        return False  # append
    r, src = loaded.trace.requests[i], loaded.trace.requests[j]
    new_text, old_text = r.input, src.input + src.output
    c = char_at(new_text, loaded.inputs[i], p, byte_lengths)
    return not (new_text.startswith(old_text[c:], c) or old_text.startswith(new_text[c:], c))


def _diagnose_one(loaded: Loaded, i: int, byte_lengths: np.ndarray, blocks_of: _Recent,
                  first_of_session: Callable[[int], bool]) -> Break:
    a = loaded.analysis
    r = loaded.trace.requests[i]
    n_in = int(a.input_lens[i])
    p = int(a.unlimited.prefix_hits[i])
    j = int(a.unlimited.prefix_source[i])
    recovered = int(a.combined_hits[i]) - p

    def make(cause: str, char: int, block: Block | None, removed: str = "", added: str = "",
             description: str = "", in_output: bool = False, where: str = "", example: str = "") -> Break:
        return Break(i, j, cause, p, n_in, char, in_output, block, removed, added, description, recovered, where,
                     example if example != description else "")

    if n_in == 0:
        # Nothing to reuse, nothing lost: not a break (and not an append of anything).
        blocks = blocks_of(i)
        return make("empty", 0, blocks[0] if blocks else None, description="no input tokens")
    if p == 0:
        # No prefix hit: the first token differs. When chunks of the input were seen before,
        # it broke at token 0 like any other break (a prompt starting `assistant:` where the
        # earlier ones start `user:`); compare it with the entry holding most of them.
        j = _chunk_source(a, i) if recovered > 0 else -1
        if j < 0:
            if i == 0:
                desc = "first request"
            elif first_of_session(i):
                desc = "new session"
            else:
                desc = "shares nothing with earlier requests"
            blocks = blocks_of(i)
            return make("new", 0, blocks[0] if blocks else None, description=desc)
    src = loaded.trace.requests[j]
    entry_len = len(loaded.inputs[j]) + len(loaded.outputs[j])
    if p >= n_in or p >= entry_len:
        return make("append", len(r.input), None, description="continues the source entry")
    blocks = blocks_of(i)
    new_text = r.input
    old_text = src.input + src.output
    tokens_i = loaded.inputs[i]
    c = char_at(new_text, tokens_i, p, byte_lengths)
    # First character where the texts differ: the break token may be the source's last input
    # token merged with what follows it in the request, the change itself in the output.
    d = c + len(_common_prefix(new_text[c: c + 512], old_text[c: c + 512]))
    in_output = p >= len(loaded.inputs[j]) or d >= len(src.input)
    block = blocks[block_at(blocks, c)] if blocks else None
    where = "previous output" if in_output else _block_identity(block, new_text)
    if new_text.startswith(old_text[c:], c):
        # The source's whole text continues in the request: only the tokens at the seam
        # differ (its last token merges with what was appended). Nothing broke.
        return make("append", c, block, description="continues the source entry (tokens merge at the seam)",
                    in_output=in_output)
    if old_text.startswith(new_text[c:], c):
        # The request's whole text is in the source's: it stops where the source went on,
        # and only its last tokens differ. Nothing broke either.
        return make("append", c, block, description="the whole input is in the source entry (tokens differ at its end)",
                    in_output=in_output)
    # Texts that agree through both break tokens (and 32 characters on) differ in tokens
    # only: the same text was tokenized differently.
    end_i = char_at(new_text, tokens_i, p + 1, byte_lengths)
    c_j = _entry_char(loaded, j, p, byte_lengths)
    end_j = _entry_char(loaded, j, p + 1, byte_lengths) if p + 1 < entry_len else len(old_text)
    span = min(len(old_text), max(end_i, end_j) + 32)
    if c_j == c and new_text[c:span] == old_text[c:span]:
        return make("retokenize", c, block, description="same text, different tokens at the boundary",
                    in_output=in_output, where=where)
    sync = _resync(new_text, old_text, c)
    added_n, removed_n = sync if sync is not None else (min(len(new_text) - c, 400), min(len(old_text) - c, 400))
    added = new_text[c: c + added_n]
    removed = old_text[c: c + removed_n]
    markup = _markup_change(old_text, new_text, c, removed_n, added_n)
    if markup is not None:
        return make("template", c, block, removed, added,
                    f"⟨{_visible(markup[0], 40)}⟩ → ⟨{_visible(markup[1], 40)}⟩", in_output, where)
    if in_output:
        out_start = len(src.input)
        # From the start of the marker the texts differ in (`<|im_end|>` vs `<tool_call>` differ
        # after their shared `<`).
        h = _marker_start(new_text, d)
        head_new = new_text[h: h + 64].lstrip()
        if _MARKERS.match(head_new) and not _MARKERS.match(old_text[h: h + 64].lstrip()):
            # The request closes the turn where the source's output went on.
            what = "the output" if h <= out_start + 2 else "the rest of the output"
            return make("rerender", c, block, removed, added,
                        f"{what} does not come back in the history (dropped or re-templated)", True, where)
        if removed.lstrip().startswith("<think>") and "<think>" not in added[:64]:
            return make("rerender", c, block, removed, added, "the <think> block of the output is dropped", True,
                        where)
        head_out = src.output.strip()[:64]
        if sync is None or c + removed_n >= len(old_text) - 2 or (
                d <= out_start + 2 and head_out and new_text.find(head_out, c) < 0):
            # (The texts meet again, but on text that follows: the output itself is not there.)
            what = "the output" if d <= out_start + 2 else "the rest of the output"
            return make("rerender", c, block, removed, added,
                        f"{what} does not come back in the history as generated", True, where)
    # Name the change by its normalised text, with a little context, so that
    # `"timeout\": 120000` and `"timeout\": 60000` group together.
    change = _change(old_text, new_text, c, removed_n, added_n)
    example = _change(old_text, new_text, c, removed_n, added_n, grouped=False)
    if in_output:
        return make("rerender", c, block, removed, added, change, in_output, where, example)
    if block is not None:
        src_blocks = blocks_of(j)
        twin = _matching_block(src_blocks, block)
        if twin is not None:
            mine, theirs = _items(new_text[block.start:block.end]), _items(src.input[twin.start:twin.end])
            if mine != theirs and sorted(mine) == sorted(theirs):
                return make("reorder", c, block, removed, added, "same items, another order", where=where)
    if sync is not None and removed_n == 0 and added_n > 0:
        return make("insert", c, block, removed, added, change, where=where, example=example)
    return make("edit", c, block, removed, added, change, where=where, example=example)


def _chunk_source(a, i: int) -> int:
    """The earlier entry in which most of request i's reused chunks were first seen (the
    latest on ties), or -1 when none was."""
    req, _ = a.chunk_sources(i)
    req = req[req >= 0]
    if not len(req):
        return -1
    counts = np.bincount(req)
    return int(len(counts) - 1 - np.argmax(counts[::-1]))


def _block_identity(block: Block | None, text: str) -> str:
    if block is None:
        return "prompt"
    head = normalise(_first_line(text[block.start: block.end][:2000]), 56)
    role = block.role if block.role and block.role != block.kind else ""
    return f"{role} “{head}”".strip() if head else (role or block.kind)


# --------------------------------------------------------------------------- across the trace

def rank_breakers(breaks: tuple[Break, ...]) -> list[Breaker]:
    """Breaks grouped by (cause, block kind, description), most tokens lost first."""
    groups: dict[tuple[str, str, str], list[Break]] = defaultdict(list)
    for b in breaks:
        if b.is_breaker:
            groups[(b.cause, b.block.kind if b.block else "", b.description)].append(b)
    ranked = [Breaker(cause, kind, desc, tuple(x.request for x in items), sum(x.tokens_lost for x in items),
                      None if any(x.recovered is None for x in items) else sum(x.recovered for x in items),
                      items[0].where if all(x.where == items[0].where for x in items) else "",
                      items[0].example)
              for (cause, kind, desc), items in groups.items()]
    ranked.sort(key=lambda g: (-g.tokens_lost, -len(g.requests), g.cause, g.description))
    return ranked


def pool_breaks(loaded: Loaded, pool: PoolResult, breaks: tuple[Break, ...],
                byte_lengths: np.ndarray | None = None) -> tuple[Break, ...]:
    """The breaks as a pool of limited size sees them, from the unlimited pool's (`breaks`):
    where the pool reuses the same prefix, the same break; where it reuses less, the entry
    that shared more was evicted (or cut): cause `evicted`, at the pool's break token."""
    if pool.size.unlimited:
        return breaks
    if byte_lengths is None:
        byte_lengths = loaded.tokenizer.byte_lengths()
    reqs = loaded.trace.requests
    out = []
    for b in breaks:
        i = b.request
        p = int(pool.prefix_hits[i])
        if p >= b.prefix:
            out.append(dataclasses.replace(b, recovered=None))
            continue
        if loaded.trace.hashed:  # no text to place the break in: block ids only (see diagnose_hashed)
            char, block, where = 0, None, ""
        else:
            text = reqs[i].input
            char = char_at(text, loaded.inputs[i], p, byte_lengths)
            blocks = split_blocks(text, reqs[i].input_doc)
            block = blocks[block_at(blocks, char)] if blocks else None
            where = _block_identity(block, text)
        out.append(Break(i, int(pool.prefix_source[i]), "evicted", p, b.input_tokens, char, False, block, "", "",
                         "the entry sharing a longer prefix was evicted (or cut to the pool size)", None, where))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SessionStats:
    session: str | None
    requests: int
    input_tokens: int
    prefix_hits: int
    substring_hits: int
    combined_hits: int
    within_prefix_hits: int
    """Prefix hits when only this session's own earlier requests are in the (unlimited) pool."""
    within_substring_hits: int

    def rate(self, hits: int) -> float:
        return hits / self.input_tokens if self.input_tokens else 0.0


def session_stats(loaded: Loaded, cancel: threading.Event | None = None) -> list[SessionStats]:
    """Per session: hit rates in the whole trace, and with reuse within the session only.

    Reuse within the session, for every session in one replay: each token becomes the pair
    (session, token), so that entries of different sessions never share a token, hence never
    a prefix nor a chunk, while within a session everything matches as before. The unlimited
    pool's hits are then those of each session replayed alone (a test checks it against the
    per-session replays)."""
    a = loaded.analysis
    reqs = loaded.trace.requests
    n = len(reqs)
    ids: dict[Any, int] = {}
    sid = np.fromiter((ids.setdefault(r.session_id, len(ids)) for r in reqs), dtype=np.int64, count=n)
    keys = list(ids)
    scale = 1
    if len(keys) <= 1:
        own = a  # the session is the whole trace: reuse within it is all the reuse
    else:
        # A hashed trace's stores hold one id per block, replayed a block at a time (chunk 1)
        # and counted back in tokens, as blockstudy.analyze_hashed does for the whole trace.
        chunk, scale = (1, loaded.trace.block_size) if loaded.trace.hashed else (a.chunk_size, 1)
        own = analyze(*_session_tokens(loaded, sid), pool_sizes=["unlimited"], chunk_size=chunk, cancel=cancel)
    k = len(keys)
    requests = np.bincount(sid, minlength=k)

    def per_session(values: np.ndarray) -> list[int]:
        # Float weights sum integers exactly below 2**53 tokens.
        w = np.asarray(values, dtype=np.float64)
        return np.bincount(sid, weights=w, minlength=k).round().astype(np.int64).tolist()

    cols = [per_session(x) for x in (a.input_lens, a.unlimited.prefix_hits, a.unlimited.substring_hits,
                                     a.combined_hits, own.unlimited.prefix_hits * scale,
                                     own.unlimited.substring_hits * scale)]
    return [SessionStats(keys[s], int(requests[s]), *(c[s] for c in cols)) for s in range(k)]


def _session_tokens(loaded: Loaded, sid: np.ndarray):
    """The trace's inputs and outputs with every token replaced by an id of (session, token)."""
    from .engines.study.sweep import entries_of
    from .tokens import entry_stores

    flat, in_len, out_len = entries_of(loaded.inputs, loaded.outputs)
    lens = np.asarray(in_len, dtype=np.int64) + np.asarray(out_len, dtype=np.int64)
    vocab = int(flat.max()) + 1 if len(flat) else 1
    if int(sid.max()) < (1 << 32) // vocab:
        # session * vocab + token is below 2**32: built in place in 4 bytes a token (a 1 GB
        # trace has ~250M of them), no renumbering needed.
        key = np.repeat((sid * vocab).astype(np.uint32), lens)
        key += flat
    else:
        key = np.unique(np.repeat(sid, lens) * vocab + flat.astype(np.int64), return_inverse=True)[1]
    return entry_stores(key.astype(np.uint32, copy=False), in_len, out_len)


# --------------------------------------------------------------------------- provider usage

@dataclass(frozen=True, slots=True)
class ProviderUsage:
    request: int
    prompt_tokens: int
    """All prompt tokens as the provider counted them (cached ones included)."""
    cached_tokens: int
    cache_write_tokens: int
    provider: str


# A provider count outside [0, MAX_USAGE_COUNT] is no real count (a negative one gave a hit
# rate of 2.0; one beyond 64 bits could not be written as JSON): that request's usage is
# ignored, with a warning. Sums over up to 2^31 requests then stay within 64 bits.
MAX_USAGE_COUNT = (1 << 32) - 1


class _BadCount(ValueError):
    pass


def provider_usage(r_usage: Any, index: int) -> ProviderUsage | None:
    """Anthropic reports cached tokens apart from `input_tokens`; OpenAI counts them inside
    `prompt_tokens`. Both become (prompt total, cached). None when the usage is missing or
    its counts are not numbers, negative or beyond MAX_USAGE_COUNT."""
    try:
        return _provider_usage(r_usage, index)
    except (TypeError, ValueError, OverflowError, AttributeError):  # "n/a", [1], NaN, -1, 2**70 ...
        return None


def implausible_usage(loaded: Loaded) -> list[int]:
    """Lines of the requests whose provider usage was ignored for a count that is negative,
    beyond MAX_USAGE_COUNT, or (OpenAI) cached tokens beyond the prompt's."""
    lines = []
    for i, r in enumerate(loaded.trace.requests):
        try:
            _provider_usage(r.usage, i)
        except _BadCount:
            lines.append(r.line)
        except (TypeError, ValueError, OverflowError, AttributeError):
            pass
    return lines


def usage_warning(loaded: Loaded) -> str | None:
    """The warning naming the requests whose provider usage was ignored, if any."""
    from .reader import _line_list, _plural

    lines = implausible_usage(loaded)
    if not lines:
        return None
    return (f"ignored the provider usage of {_plural(len(lines), 'line')} (a count negative, over "
            f"{MAX_USAGE_COUNT:,}, or cached beyond the prompt): {_line_list(lines)}")


def _count(value: Any) -> int:
    n = int(value or 0)
    if not 0 <= n <= MAX_USAGE_COUNT:
        raise _BadCount(n)
    return n


def _provider_usage(u: Any, index: int) -> ProviderUsage | None:
    if not isinstance(u, dict):
        return None
    if "cache_read_input_tokens" in u or "cache_creation_input_tokens" in u:
        read = _count(u.get("cache_read_input_tokens"))
        write = _count(u.get("cache_creation_input_tokens"))
        fresh = _count(u.get("input_tokens"))
        return ProviderUsage(index, fresh + read + write, read, write, "anthropic")
    if "prompt_tokens" in u:
        details = u.get("prompt_tokens_details") or {}
        cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else 0
        return _openai(index, _count(u.get("prompt_tokens")), cached)
    if "input_tokens" in u and isinstance(u.get("input_tokens_details"), dict):
        cached = _count(u["input_tokens_details"].get("cached_tokens"))
        return _openai(index, _count(u.get("input_tokens")), cached)
    return None


def _openai(index: int, prompt: int, cached: int) -> ProviderUsage:
    if cached > prompt:  # OpenAI counts cached tokens inside the prompt's
        raise _BadCount(cached)
    return ProviderUsage(index, prompt, cached, 0, "openai")


def usage_table(loaded: Loaded) -> list[ProviderUsage]:
    out = []
    for i, r in enumerate(loaded.trace.requests):
        u = provider_usage(r.usage, i)
        if u is not None:
            out.append(u)
    return out


def provider_totals(loaded: Loaded, usage: list[ProviderUsage] | None = None) -> tuple[int, int, int]:
    """(prompt tokens, cached tokens, cache-write tokens) summed over the requests that carry
    provider usage (`usage`: the trace's usage_table, when already at hand). The provider's
    hit rate is cached / prompt tokens (none when prompt is 0)."""
    if usage is None:
        usage = usage_table(loaded)
    return (sum(u.prompt_tokens for u in usage), sum(u.cached_tokens for u in usage),
            sum(u.cache_write_tokens for u in usage))


# --------------------------------------------------------------------------- side by side

@dataclass(frozen=True)
class SideBySide:
    """Text around a break in the source entry (left) and the request (right), with the
    differing character ranges of each (relative to the excerpts)."""

    left: str
    right: str
    left_marks: list[tuple[int, int]] = field(default_factory=list)
    right_marks: list[tuple[int, int]] = field(default_factory=list)
    left_start: int = 0
    right_start: int = 0


def side_by_side(loaded: Loaded, brk: Break, context: int = 600) -> SideBySide:
    r = loaded.trace.requests[brk.request]
    if brk.source < 0:
        return SideBySide("", r.input[:context], [], [(0, min(len(r.input), context))], 0, 0)
    src = loaded.trace.requests[brk.source]
    old = src.input + src.output
    new = r.input
    c = brk.char
    a0 = max(0, c - context // 3)
    left = old[a0: c + context]
    right = new[a0: c + context]
    sm = difflib.SequenceMatcher(None, left, right, autojunk=False)
    lm, rm = [], []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        if i2 > i1:
            lm.append((i1, i2))
        if j2 > j1:
            rm.append((j1, j2))
    return SideBySide(left, right, lm, rm, a0, a0)


# --------------------------------------------------------------------------- per block kind

def block_kind_stats(loaded: Loaded, byte_lengths: np.ndarray | None = None) -> dict[str, tuple[int, int, int]]:
    """Input tokens, prefix hits and substring hits (unlimited pool) per block kind. Substring
    hits count every token a substring cache reuses, the prefix included, as the totals do:
    the kinds' substring hits add up to the trace's."""
    from .document import PromptDocument

    a = loaded.analysis
    if loaded.trace.hashed:  # no text, so no kinds: the prompt as one block
        u = a.unlimited
        return {"prompt": (a.input_tokens, int(u.prefix_hits.sum()), int(u.substring_hits.sum()))}
    if byte_lengths is None:
        byte_lengths = loaded.tokenizer.byte_lengths()
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for i, r in enumerate(loaded.trace.requests):
        doc = PromptDocument(i, r.input, "", loaded.inputs[i], loaded.outputs[i][:0], a.token_classes(i),
                             byte_lengths, int(a.unlimited.prefix_hits[i]), r.input_doc, a.chunk_size,
                             chunk_matched=a.chunk_matched(i))
        for st in doc.block_stats:
            t = totals[st.block.kind]
            t[0] += st.tokens
            t[1] += st.prefix
            t[2] += st.substring
    return {k: (v[0], v[1], v[2]) for k, v in totals.items()}
