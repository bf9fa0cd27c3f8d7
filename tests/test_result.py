"""core.result.TraceResult: one trace's derived parts, computed once, the same for every view."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from tracetui.core import diagnose as diagnose_module
from tracetui.core.engines.study import AnalysisCancelled
from tracetui.core.explorer import ExplorerData
from tracetui.core.pipeline import Settings, load
from tracetui.core.result import TraceResult, build

from .paths import sample


@pytest.fixture(scope="module")
def loaded():
    return load(str(sample("request_bodies.jsonl")), Settings(pool_sizes=("0.01", "unlimited")))


def test_parts_are_core_diagnose_s(loaded):
    r = TraceResult(loaded)
    breaks = diagnose_module.diagnose(loaded)
    assert r.breaks == breaks
    assert r.breakers == diagnose_module.rank_breakers(breaks)
    assert r.pool_breakers(loaded.analysis.pools[0]) == diagnose_module.rank_breakers(
        diagnose_module.pool_breaks(loaded, loaded.analysis.pools[0], breaks))
    assert r.sessions == diagnose_module.session_stats(loaded)
    assert r.usage == diagnose_module.usage_table(loaded) and r.usage  # the sample carries provider usage
    assert r.provider_totals == diagnose_module.provider_totals(loaded)
    assert r.block_kinds == diagnose_module.block_kind_stats(loaded)
    assert [r.request_usage(i) for i in range(len(loaded.trace.requests))] == \
        [diagnose_module.provider_usage(q.usage, i) for i, q in enumerate(loaded.trace.requests)]
    assert sum(r.causes.values()) == len(breaks)


def test_each_part_is_computed_once_across_threads(loaded, monkeypatch):
    calls = []
    real = diagnose_module.diagnose
    gate = threading.Event()

    def slow(*args, **kwargs):
        calls.append(threading.current_thread().name)
        gate.wait(5)  # every thread asks while the first one computes
        return real(*args, **kwargs)

    monkeypatch.setattr(diagnose_module, "diagnose", slow)
    r = TraceResult(loaded)
    got = []
    threads = [threading.Thread(target=lambda: got.append(r.breaks)) for _ in range(4)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len(got) == 4 and all(g is got[0] for g in got)
    assert r.breakers is r.breakers


def test_a_cancelled_diagnosis_keeps_nothing(loaded):
    r = TraceResult(loaded)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(AnalysisCancelled):
        r.diagnose(cancel=cancel)
    assert r.breaks == diagnose_module.diagnose(loaded)  # computed afresh, in full


def test_immutable(loaded):
    r = TraceResult(loaded)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.loaded = loaded  # type: ignore[misc]


def test_the_explorer_reads_the_same_object(loaded):
    r = TraceResult(loaded)
    data = ExplorerData(r)
    assert data.result is r and data.loaded is loaded
    assert data.breaks is r.breaks and data.sessions is r.sessions
    assert data.provider_rate == r.provider_rate
    assert ExplorerData(loaded).result.loaded is loaded  # a Loaded is wrapped


def test_build_loads():
    r = build(str(sample("two_sessions.jsonl")), Settings(pool_sizes=("unlimited",)))
    assert len(r.sessions) == 2 and r.trace.name == "two_sessions.jsonl"
