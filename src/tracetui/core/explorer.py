"""Headless state behind the explorer: per-request rows, prompt documents, search.

The Textual app only draws what this module computes, so every figure on screen can be
checked without a terminal.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from collections.abc import Sequence
from itertools import islice

import numpy as np

from .display import display_text
from .document import PREFIX, SUBSTRING, PromptDocument
from .explorer_engines import EngineState
from .pipeline import Loaded
from .result import TraceResult

_DOC_CACHE = 12
SEARCH_LIMIT = 100_000
"""Search stops past this many matches (the explorer then shows "100,000+ matches")."""


@dataclass(frozen=True, slots=True)
class RequestRow:
    index: int
    relative_time: float | None
    session: str
    model: str
    input_tokens: int
    output_tokens: int
    prefix_hit: int
    substring_hit: int
    combined_hit: int
    input_chars: int = 0
    pending: bool = False
    """Read, not yet tokenized: only index, time, session, model and input_chars are known."""

    @property
    def prefix_pct(self) -> float:
        return 100 * self.prefix_hit / self.input_tokens if self.input_tokens else 0.0

    @property
    def substring_pct(self) -> float:
        return 100 * self.substring_hit / self.input_tokens if self.input_tokens else 0.0


# ---- row building (scaleapp): rows are built when drawn, so a million requests cost arrays only.

class Rows(Sequence):
    """The request list's rows: rows[i] is built when asked for (only the rows on screen are).
    Without an analysis (the trace read, its tokens still being counted) the rows are
    `pending`: their figures are not known yet."""

    def __init__(self, trace, analysis=None) -> None:
        self.trace = trace
        self.analysis = analysis
        reqs = trace.requests
        # From the reader's columns: no request is re-read to list them (core.model.Requests).
        times = reqs.timestamps()
        known = times[~np.isnan(times)]
        self._times = times - known.min() if len(known) else times
        self._sessions = reqs.session_ids()
        self._models = reqs.body_models()
        self._chars = reqs.text_lengths()[0]
        # Session ids and models are drawn in the request list: no control characters. The
        # widest of each sizes the columns; distinct values only, there are few.
        self.longest = {"session": max((len(display_text(x or "")) for x in set(self._sessions)), default=0),
                        "model": max((len(display_text(x or "")) for x in set(self._models)), default=0)}

    def __len__(self) -> int:
        return len(self._times)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(len(self))))
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        t = float(self._times[i])
        head = (i, None if t != t else t, display_text(self._sessions[i] or ""), display_text(self._models[i] or ""))
        chars = int(self._chars[i])
        a = self.analysis
        if a is None:
            return RequestRow(*head, 0, 0, 0, 0, 0, chars, True)
        return RequestRow(*head, int(a.input_lens[i]), int(a.output_lens[i]), int(a.unlimited.prefix_hits[i]),
                          int(a.unlimited.substring_hits[i]), int(a.combined_hits[i]), chars)


class PendingData:
    """What the request list shows while the trace is being tokenized and analysed."""

    hashed = False

    def __init__(self, trace) -> None:
        self.trace = trace
        self.rows = Rows(trace)

    def __len__(self) -> int:
        return len(self.rows)

    def cause(self, i: int) -> str | None:
        return None

    def causes(self, indices, stop=None) -> None:
        return None


# ---- end of row building


@dataclass(frozen=True, slots=True)
class Match:
    request: int
    start: int
    end: int


class ExplorerData:
    """Everything the explorer shows about a loaded trace (thread-safe, lazily computed).

    Over the trace's TraceResult, the object the headless report reads too: the breaks,
    sessions and provider usage come from it, computed once for both."""

    def __init__(self, source: TraceResult | Loaded) -> None:
        self.result = source if isinstance(source, TraceResult) else TraceResult(source)
        loaded = self.result.loaded
        self.loaded = loaded
        self.trace = loaded.trace
        self.analysis = loaded.analysis
        self.byte_lengths = self.result.byte_lengths
        self._docs: OrderedDict[int, PromptDocument] = OrderedDict()
        self._lock = threading.Lock()
        self.engines = EngineState(loaded)
        """The engine and pool the prompt view, the header and the list show (`e`, the pool key)."""
        self.rows = Rows(self.trace, self.analysis)  # row building (scaleapp)
        if not self.hashed:  # each break computed when shown (core.diagnose.Diagnosis)
            self.__dict__["breaks"] = self.result.diagnosis

    def __len__(self) -> int:
        return len(self.rows)

    @cached_property
    def breaks(self):
        """Why each request's prefix broke (see core.diagnose): a text trace's are computed
        when asked for (core.diagnose.Diagnosis, set in __init__), a hashed trace's all at once
        (cheap), as the headless report has them (TraceResult.breaks)."""
        return self.result.breaks

    def cause(self, i: int) -> str | None:
        """Request i's cause if its break is computed already, else None (never computes)."""
        breaks = self.__dict__.get("breaks")
        if breaks is None:
            return None
        if isinstance(breaks, tuple):
            return breaks[i].cause
        got = breaks.peek(i)
        return None if got is None else got.cause

    def causes(self, indices, stop: threading.Event | None = None) -> None:
        """Compute the breaks of `indices` (a worker's job: what the list shows), until `stop`."""
        breaks = self.breaks
        for i in indices:
            if stop is not None and stop.is_set():
                return
            breaks[i]  # noqa: B018

    def next_breaker(self, i: int, delta: int) -> int | None:
        """The next (delta > 0) or previous request that broke, wrapping around; None if none did."""
        breaks = self.breaks
        if isinstance(breaks, tuple):
            order = [b.request for b in breaks if b.is_breaker]
            if not order:
                return None
            if delta > 0:
                after = [k for k in order if k > i]
                return after[0] if after else order[0]
            before = [k for k in order if k < i]
            return before[-1] if before else order[-1]
        return breaks.next_breaker(i, delta)

    @property
    def sessions(self):
        """Per-session figures (TraceResult.sessions: one replay of the trace), computed once: a
        second thread asking meanwhile waits for the first's."""
        return self.result.sessions

    @property
    def sessions_ready(self) -> bool:
        return self.result.computed("sessions")

    def usage(self, i: int):
        """What the provider reported about request i's prompt cache, or None."""
        return self.result.request_usage(i)

    @cached_property
    def provider_rate(self) -> float | None:
        """Cached / prompt tokens over the requests that carry provider usage."""
        return self.result.provider_rate

    @cached_property
    def warnings(self) -> tuple[str, ...]:
        """What the reader repaired, and whose provider usage was ignored (the explorer shows usage)."""
        return self.result.warnings()

    def breaker_indices(self) -> list[int]:
        """Requests whose prefix broke (everything but appends), in trace order."""
        breaks = self.breaks
        if isinstance(breaks, tuple):
            return [b.request for b in breaks if b.is_breaker]
        return breaks.breakers()

    @property
    def hashed(self) -> bool:
        return self.trace.hashed

    @cached_property
    def bounded_pool(self):
        """A hashed trace's block view marks as evicted the blocks the unlimited pool reuses and
        this pool does not: the largest bounded pool of the sweep (None without one)."""
        pools = [p for p in self.analysis.pools if p.size.capacity]
        return max(pools, key=lambda p: p.size.capacity) if pools else None

    def break_position(self, i: int) -> int:
        """Where request i's prefix broke, as the prompt view places its cursor: a character of
        a text trace, a block of a hashed one."""
        if self.hashed:
            return int(self.analysis.unlimited.prefix_hits[i]) // self.trace.block_size
        return self.breaks[i].char

    def document(self, i: int):
        """The prompt view's document of request i: a PromptDocument, or for a hashed trace a
        core.blockdoc.HashedDocument."""
        eng = self.engines
        version = eng.version  # the engine or pool switched since: drawn again
        with self._lock:
            doc = self._docs.get(i)
            if doc is not None and doc.version == version:
                self._docs.move_to_end(i)
                return doc
        r = self.trace.requests[i]
        a = self.analysis
        if self.hashed:
            from .blockdoc import HashedDocument

            doc = HashedDocument(i, r.hashed, self.trace.block_size, eng.block_classes(i), eng.prefix_hit(i),
                                 eng.pool_size.label)
        else:
            doc = PromptDocument(i, r.input, r.output, self.loaded.inputs[i], self.loaded.outputs[i],
                                 eng.token_classes(i), self.byte_lengths, eng.prefix_hit(i),
                                 r.input_doc, a.chunk_size, a.chunk_frequency(i), a.chunk_matched(i))
            doc.block_grid = eng.block_grid(i)
            doc.has_substring = eng.reuses_beyond_prefix
            if eng.active != "study":  # block headers count what this engine reuses, not the study's chunks
                n = doc.n_input_tokens
                doc.substring_reused[:n] = np.isin(doc.token_class[:n], (PREFIX, SUBSTRING))
        doc.version = version
        with self._lock:
            self._docs[i] = doc
            while len(self._docs) > _DOC_CACHE:
                self._docs.popitem(last=False)
        return doc

    def chunk_source(self, i: int, token: int) -> tuple[int, int] | None:
        """Where the chunk holding input token `token` of request i was seen first."""
        c = self.analysis.chunk_size
        req, off = self.analysis.chunk_sources(i)
        k = token // c
        if k >= len(req) or req[k] < 0:
            return None
        return int(req[k]), int(off[k])

    def search(self, query: str, cancel: threading.Event | None = None, limit: int = SEARCH_LIMIT) -> list[Match]:
        """Case-insensitive matches of `query` in the input and output of every request, in
        order; at most `limit` + 1 of them: one more than `limit` means "more than `limit`",
        the rest not looked for (a one-letter query would otherwise build millions)."""
        if not query:
            return []
        pattern = re.compile(re.escape(query), re.IGNORECASE)
        found: list[Match] = []
        for i, r in enumerate(self.trace.requests):
            if cancel is not None and cancel.is_set():
                break
            base = 0
            for text in (r.input, r.output):
                for m in islice(pattern.finditer(text), limit + 1 - len(found)):
                    found.append(Match(i, base + m.start(), base + m.end()))
                if len(found) > limit:
                    return found
                base = len(r.input)
        return found
