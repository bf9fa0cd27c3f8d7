"""One trace's result: the loaded trace and everything derived from it, built once.

The headless report (tracetui.report) and the explorer (core.explorer) read the same
`TraceResult`: the analysis and engine results of `pipeline.Loaded`, and the parts derived
from them (the prefix breaks, the sessions replayed on their own, the provider-reported usage,
the tokens lost per engine), each computed the first time it is asked for and kept. A view
never calls core.diagnose itself, so nothing is computed twice and every view shows the
same figures.

Thread-safe (core.once): the explorer computes the slow parts in its loading worker while the
UI thread may already read the quick ones; each part is computed once.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from . import diagnose as _diagnose
from .once import Once, derived
from .pipeline import Loaded, Progress, Settings, load


def _diag():
    """core.diagnose, imported on first use: `analyze --json` never reads a break (its
    dataclasses cost ~10 ms of every start)."""
    from . import diagnose

    return diagnose


@dataclass(frozen=True, eq=False)
class TraceResult:
    """A loaded trace and its derived parts (immutable; the parts are computed lazily, once)."""

    loaded: Loaded
    _once: Once = field(default_factory=Once, init=False, repr=False)

    def computed(self, name: str) -> bool:
        """Whether the derived part `name` is computed already (the explorer says "wait" else)."""
        return name in self._once

    # The loaded trace, as the views read it.
    @property
    def trace(self):
        return self.loaded.trace

    @property
    def analysis(self):
        """The study's Analysis, computed on first access (pipeline.Loaded.analysis)."""
        return self.loaded.analysis

    @property
    def lengths(self):
        """Requests, input / output lengths and chunk size, without the study (pipeline.Lengths)."""
        return self.loaded.lengths

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    @property
    def results(self):
        """Each engine's result (pipeline.Loaded.results), in the order asked for."""
        return self.loaded.results

    @derived
    def byte_lengths(self) -> np.ndarray:
        """Bytes of every token of the vocabulary (to place tokens in the text)."""
        return self.loaded.tokenizer.byte_lengths()

    # ----------------------------------------------------------------- prefix breaks

    def diagnose(self, cancel: threading.Event | None = None) -> tuple[_diagnose.Break, ...]:
        """The breaks (see `breaks`), computed now if not yet; `cancel` set stops the work with
        AnalysisCancelled and keeps nothing (the explorer's loading worker passes its own)."""
        return self._once.get("breaks", lambda: _diag().diagnose(
            self.loaded, None if self.trace.hashed else self.byte_lengths, cancel=cancel))

    @property
    def breaks(self) -> tuple[_diagnose.Break, ...]:
        """Why each request's prefix broke (core.diagnose.diagnose), one Break per request."""
        return self.diagnose()

    @derived
    def diagnosis(self) -> _diagnose.Diagnosis:
        """A text trace's breaks one by one, each computed when first asked for and equal to
        `breaks`'s (the explorer's: it diagnoses what it shows, not the whole trace)."""
        return _diag().Diagnosis(self.loaded, self.byte_lengths)

    @derived
    def breakers(self) -> list[_diagnose.Breaker]:
        """The breaks grouped by what changed, the most costly first (unlimited pool)."""
        return _diag().rank_breakers(self.breaks)

    def pool_breakers(self, pool) -> list[_diagnose.Breaker]:
        """The breakers of one of the study's pools: also where it evicted the longer prefix."""
        return _diag().rank_breakers(_diag().pool_breaks(self.loaded, pool, self.breaks))

    @derived
    def causes(self) -> dict[str, int]:
        """How many requests each cause has, in order of first appearance."""
        out: dict[str, int] = {}
        for b in self.breaks:
            out[b.cause] = out.get(b.cause, 0) + 1
        return out

    # ----------------------------------------------------------------- sessions, blocks

    @derived
    def sessions(self) -> list[_diagnose.SessionStats]:
        """Per session: hit rates in the trace and within the session alone (replays each)."""
        return _diag().session_stats(self.loaded)

    @derived
    def block_kinds(self) -> dict[str, tuple[int, int, int]]:
        """Input tokens, prefix hits and substring hits per block kind (unlimited pool)."""
        return _diag().block_kind_stats(self.loaded, None if self.trace.hashed else self.byte_lengths)

    # ----------------------------------------------------------------- provider usage

    @derived
    def usage(self) -> list[_diagnose.ProviderUsage]:
        """What the providers reported about their prompt caches, for the requests that say."""
        return _diag().usage_table(self.loaded)

    @derived
    def usage_by_request(self) -> dict[int, _diagnose.ProviderUsage]:
        return {u.request: u for u in self.usage}

    def request_usage(self, i: int) -> _diagnose.ProviderUsage | None:
        return self.usage_by_request.get(i)

    @derived
    def provider_totals(self) -> tuple[int, int, int]:
        """(prompt, cached, cache-write) tokens summed over the requests with provider usage."""
        return _diag().provider_totals(self.loaded, self.usage)

    @derived
    def provider_rate(self) -> float | None:
        """Cached / prompt tokens over the requests that carry provider usage."""
        prompt, cached, _ = self.provider_totals
        return cached / prompt if prompt else None

    @derived
    def usage_warning(self) -> str | None:
        """The warning naming the requests whose provider usage was ignored, if any."""
        return _diag().usage_warning(self.loaded)

    def warnings(self, *, usage_shown: bool = True) -> tuple[str, ...]:
        """What the reader repaired, and (when provider usage is shown) whose usage was ignored."""
        usage = self.usage_warning if usage_shown else None
        return self.trace.warnings + ((usage,) if usage else ())

    # ----------------------------------------------------------------- engines

    @derived
    def loss_splits(self) -> dict[str, list[dict[str, np.ndarray]]]:
        """Per prefix engine, per pool: the tokens each request lost, by cause (engines.losses)."""
        from .engines import losses

        out: dict[str, list[dict[str, np.ndarray]]] = {}
        loaded = self.loaded
        plen = loaded.lengths.input_lens.astype(np.int64)
        for r in loaded.results:
            if r.engine in losses.ENGINES:
                reach = (losses.reachable_blocks(r, loaded.trace) if self.trace.hashed else  # block ids only
                         losses.reachable(r, loaded.inputs, loaded.outputs, loaded.settings.engine_settings()))
                out[r.engine] = [losses.split(r, p, reach, plen) for p in r.pools]
        return out


def build(path: str | Sequence[str], settings: Settings = Settings(), *, progress: Progress | None = None,
          cancel: threading.Event | None = None) -> TraceResult:
    """Read, tokenize and analyze the trace at `path` (see pipeline.load): its TraceResult."""
    return TraceResult(load(path, settings, progress=progress, cancel=cancel))
