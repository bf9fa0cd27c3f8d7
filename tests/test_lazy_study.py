"""The study's sweep runs only when something reads it: `--engine vllm` never pays for it."""

from __future__ import annotations

import json
import shutil
import threading

import pytest

from tracetui.core import blockstudy, pipeline, tokencache
from tracetui.core.engines import study_result
from tracetui.core.engines.study import AnalysisCancelled
from tracetui.core.pipeline import Settings, load
from tracetui.report.cli import main

from .paths import OPENCODE, SAMPLES, need

HASHED = SAMPLES / "bailian_hashed.jsonl"
OTHERS = ("vllm", "sglang", "lmcache", "cacheblend")


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "t.jsonl"
    shutil.copy(need(OPENCODE), path)
    return path


@pytest.fixture
def sweeps(monkeypatch):
    """The study's sweeps run (text and hashed traces), counted."""
    calls: list[str] = []
    for module in (study_result, blockstudy):
        real = module.analyze

        def counted(*a, _real=real, **k):
            calls.append(threading.current_thread().name)
            return _real(*a, **k)
        monkeypatch.setattr(module, "analyze", counted)
    return calls


@pytest.mark.parametrize("engine", OTHERS)
@pytest.mark.parametrize("extra", [["--json"], ["--json", "--per-request"], [], ["--per-request"]])
def test_another_engine_never_runs_the_sweep(trace, sweeps, capsys, engine, extra):
    assert main(["analyze", *extra, str(trace), "--engine", engine]) == 0
    assert main(["analyze", *extra, str(trace), "--engine", engine]) == 0  # warm: from the cache
    assert main(["analyze", *extra, "--no-cache", str(trace), "--engine", engine]) == 0
    assert sweeps == []
    out = capsys.readouterr().out
    if "--json" in extra:
        assert json.loads(out.split("\n}\n")[0] + "\n}")["engine"] == engine


@pytest.mark.parametrize("engine", ("vllm", "sglang", "lmcache"))
def test_another_engine_never_runs_the_sweep_on_a_hashed_trace(sweeps, capsys, engine):
    assert main(["analyze", "--json", "--per-request", str(need(HASHED)), "--engine", engine]) == 0
    assert main(["analyze", str(need(HASHED)), "--engine", engine]) == 0
    assert sweeps == []


def test_the_gate_of_another_engine_never_runs_the_sweep(trace, sweeps, capsys):
    assert main(["check", str(trace), "--engine", "vllm", "--min-prefix", "0"]) == 0
    assert sweeps == []


def test_the_study_with_another_engine_runs_once(trace, sweeps, capsys):
    assert main(["analyze", "--json", "--why", "--per-request", str(trace), "--engine", "study", "vllm"]) == 0
    assert len(sweeps) == 1


def test_what_reads_the_study_computes_it(trace, sweeps, capsys):
    assert main(["analyze", "--json", "--why", str(trace), "--engine", "vllm"]) == 0  # the breaks read it
    assert len(sweeps) == 1


def test_lengths_are_the_analysis_s():
    for path, engines in ((OPENCODE, ("vllm",)), (HASHED, ("lmcache",))):
        loaded = load(str(need(path)), Settings(engines=engines))
        n = loaded.lengths
        assert not loaded.study_computed
        a = loaded.analysis
        assert loaded.study_computed
        assert (n.requests, n.input_tokens, n.output_tokens, n.chunk_size) == \
            (a.requests, a.input_tokens, a.output_tokens, a.chunk_size)
        assert n.input_lens.tolist() == a.input_lens.tolist() and n.output_lens.tolist() == a.output_lens.tolist()


def test_the_lazy_study_is_the_eager_one(trace):
    eager = load(str(trace), Settings(engines=("study", "vllm"), cache=False))
    lazy = load(str(trace), Settings(engines=("vllm",), cache=False))
    x, y = eager.analysis, lazy.analysis
    for p, q in zip((x.unlimited, *x.pools), (y.unlimited, *y.pools)):
        assert p.size == q.size
        assert p.prefix_hits.tolist() == q.prefix_hits.tolist()
        assert p.substring_hits.tolist() == q.substring_hits.tolist()
    assert x.combined_hits.tolist() == y.combined_hits.tolist()
    assert lazy.result("study").pools[0].prefix_hits.tolist() == eager.result("study").pools[0].prefix_hits.tolist()


def test_the_study_is_computed_once_across_threads(trace, sweeps, monkeypatch):
    loaded = load(str(trace), Settings(engines=("vllm",), cache=False))
    gate = threading.Event()
    real = study_result.analyze  # the counted one

    def slow(*a, **k):
        gate.wait(5)  # every thread asks while the first one computes
        return real(*a, **k)
    monkeypatch.setattr(study_result, "analyze", slow)
    got = []
    threads = [threading.Thread(target=lambda: got.append(loaded.analysis)) for _ in range(4)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert len(got) == 4 and all(g is got[0] for g in got)
    assert len(sweeps) == 1  # `slow` calls the counted sweep
    assert loaded.analysis is got[0]


def test_a_cancelled_study_keeps_nothing(trace, sweeps):
    loaded = load(str(trace), Settings(engines=("vllm",), cache=False))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(AnalysisCancelled):
        loaded.study(cancel=cancel)
    assert not loaded.study_computed
    assert loaded.analysis.requests == loaded.lengths.requests  # computed now, without the cancel
    assert loaded.study_computed


# ---- the analysis cache: the engines' results without the study, the study once computed

def _no_replay(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("replayed although cached")
    monkeypatch.setattr(pipeline.study, "run", fail)
    monkeypatch.setattr(pipeline, "run_engine", fail)
    monkeypatch.setattr(pipeline, "tokenize", fail)


def test_the_cache_holds_the_engines_then_the_study(trace, monkeypatch, sweeps):
    settings = Settings(engines=OTHERS)
    first = load(str(trace), settings)
    assert sweeps == []
    with monkeypatch.context() as m:
        _no_replay(m)
        warm = load(str(trace), settings)  # the engines' results from the cache
        for r, s in zip(first.results, warm.results):
            assert r.engine == s.engine and r.unlimited.prefix_hits.tolist() == s.unlimited.prefix_hits.tolist()
    study = warm.analysis  # not in the cache: computed now, and written there
    assert len(sweeps) == 1
    with monkeypatch.context() as m:
        _no_replay(m)
        again = load(str(trace), settings)
        assert again.analysis.unlimited.prefix_hits.tolist() == study.unlimited.prefix_hits.tolist()
        assert [x.tolist() for x in again.analysis.chunk_sources(3)] == [x.tolist() for x in study.chunk_sources(3)]
        assert [r.engine for r in again.results] == list(OTHERS)
    assert len(sweeps) == 1
    (cached,) = (tokencache.cache_dir() / "analysis").iterdir()  # one entry, rewritten
    assert json.loads((cached / "meta.json").read_text("utf-8"))["study"] is not None


@pytest.mark.parametrize("fmt", ["csv", "tsv", "markdown"])
def test_machine_formats_show_the_engines_figures_without_the_sweep(trace, sweeps, capsys, fmt):
    """-o csv / tsv / markdown with other engines: their pools and per-request rows (this
    crashed with a KeyError before), agreeing with the JSON, and no study replayed."""
    assert main(["analyze", "--json", "--per-request", str(trace), "--engine", "vllm", "sglang"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert main(["analyze", "-o", fmt, str(trace), "--engine", "vllm", "sglang"]) == 0
    pools = capsys.readouterr().out
    assert main(["analyze", "-o", fmt, "--per-request", str(trace), "--engine", "vllm", "sglang"]) == 0
    rows = capsys.readouterr().out
    assert sweeps == []
    if fmt == "markdown":
        assert "### Hit rate by pool size, by engine" in pools and "| vllm |" in pools
        assert "### Per request (unlimited pool)" in rows
        return
    sep = "," if fmt == "csv" else "\t"
    head, *lines = pools.splitlines()
    assert head.split(sep) == ["pool_gb", "capacity_tokens", "engine", "blocks", "prefix_hit_rate",
                               "substring_hit_rate", "rejected"]
    assert len(lines) == 2 * len(doc["engines"][0]["pools"])
    head, *lines = rows.splitlines()
    assert head.split(sep)[-4:] == ["vllm_hit_rate", "vllm_refused", "sglang_hit_rate", "sglang_refused"]
    assert len(lines) == doc["requests"]
    first = dict(zip(head.split(sep), lines[1].split(sep)))
    want = doc["requests_detail"][1]
    assert int(first["input_tokens"]) == want["input_tokens"]
    for e in want["engines"]:
        assert float(first[f"{e['engine']}_hit_rate"]) == round(e["prefix_hit"] / want["input_tokens"], 6)
        assert first[f"{e['engine']}_refused"] == str(int(e["rejected"]))
