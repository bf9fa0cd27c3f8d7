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

    @property
    def prefix_pct(self) -> float:
        return 100 * self.prefix_hit / self.input_tokens if self.input_tokens else 0.0

    @property
    def substring_pct(self) -> float:
        return 100 * self.substring_hit / self.input_tokens if self.input_tokens else 0.0


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
        a = self.analysis
        times = [r.timestamp for r in self.trace.requests]
        known = [t for t in times if t is not None]
        t0 = min(known) if known else None
        # Session ids and models are drawn in the request list: no control characters.
        self.rows = tuple(
            RequestRow(i, None if t is None or t0 is None else t - t0, display_text(r.session_id or ""),
                       display_text(r.model or _doc_model(r.input_doc)), int(a.input_lens[i]), int(a.output_lens[i]),
                       int(a.unlimited.prefix_hits[i]), int(a.unlimited.substring_hits[i]),
                       int(a.combined_hits[i]))
            for i, (r, t) in enumerate(zip(self.trace.requests, times))
        )

    def __len__(self) -> int:
        return len(self.rows)

    @cached_property
    def breaks(self):
        """Why each request's prefix broke (see core.diagnose)."""
        return self.result.breaks

    @cached_property
    def sessions(self):
        return self.result.sessions

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
        return [b.request for b in self.breaks if b.is_breaker]

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


def _doc_model(doc) -> str:
    if isinstance(doc, dict) and isinstance(doc.get("model"), str):
        return doc["model"]
    return ""
