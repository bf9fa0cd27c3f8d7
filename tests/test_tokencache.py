"""The on-disk cache: a reopen skips tokenization and the analysis, and a bad cache never hurts."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from tracetui.report.cli import main
from tracetui.core import pipeline, tokencache
from tracetui.core.pipeline import Settings, load

from .paths import OPENCODE, need


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "t.jsonl"
    shutil.copy(need(OPENCODE), path)
    return path


def _no_tokenize(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("tokenized although cached")
    monkeypatch.setattr(pipeline, "tokenize", fail)


def _entries(kind):
    """The complete cache entries of a kind (folders; a half-written one ends in .part)."""
    return [p for p in (tokencache.cache_dir() / kind).glob("*") if p.is_dir() and p.suffix != ".part"]


def _same(a, b):
    assert [x.tolist() for x in a.inputs] == [x.tolist() for x in b.inputs]
    assert [x.tolist() for x in a.outputs] == [x.tolist() for x in b.outputs]
    assert a.analysis.pools[0].prefix_hits.tolist() == b.analysis.pools[0].prefix_hits.tolist()


def test_reopen_reads_the_cache(trace, monkeypatch):
    first = load(str(trace))
    assert list(_entries("tokens"))
    _no_tokenize(monkeypatch)
    _same(first, load(str(trace)))


def test_no_cache_neither_reads_nor_writes(trace):
    load(str(trace), Settings(cache=False))
    assert not (tokencache.cache_dir() / "tokens").exists()


def test_a_changed_file_is_tokenized_again(trace, monkeypatch):
    load(str(trace))
    data = trace.read_bytes()
    trace.write_bytes(data.replace(b"the", b"teh", 1))  # same size, other content
    os.utime(trace, ns=(os.stat(trace).st_atime_ns, os.stat(trace).st_mtime_ns))
    calls = []
    real = pipeline.tokenize
    monkeypatch.setattr(pipeline, "tokenize", lambda *a, **k: calls.append(1) or real(*a, **k))
    load(str(trace))
    assert calls


def test_a_damaged_cache_file_is_ignored_and_rewritten(trace):
    first = load(str(trace))
    (cached,) = _entries("tokens")
    (cached / "flat.npy").write_bytes(b"not a numpy file")
    _same(first, load(str(trace)))
    (cached,) = _entries("tokens")
    assert sorted(f.name for f in cached.iterdir()) == ["flat.npy", "in_len.npy", "meta.json", "out_len.npy"]
    np.load(cached / "flat.npy", allow_pickle=False)


def test_cli_no_cache(trace, capsys):
    assert main(["analyze", "--json", "--no-cache", str(trace)]) == 0
    assert not (tokencache.cache_dir() / "tokens").exists()
    out = capsys.readouterr().out
    assert main(["analyze", "--json", str(trace)]) == 0
    assert list(_entries("tokens"))
    assert main(["analyze", "--json", str(trace)]) == 0  # from the cache
    assert capsys.readouterr().out == out * 2


# ---- the analysis cache: a reopen with the same settings skips the replays too

def _no_analyze(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("analysed although cached")
    monkeypatch.setattr(pipeline.study, "run", fail)
    monkeypatch.setattr(pipeline, "run_engine", fail)


ALL = ("study", "vllm", "sglang", "lmcache", "cacheblend")


def _same_results(a, b):
    _same(a, b)
    x, y = a.analysis, b.analysis
    for p, q in zip((x.unlimited, *x.pools), (y.unlimited, *y.pools)):
        assert p.size == q.size
        for f in ("prefix_hits", "prefix_source", "substring_hits"):
            assert getattr(p, f).tolist() == getattr(q, f).tolist()
    assert x.combined_hits.tolist() == y.combined_hits.tolist()
    for i in range(x.requests):  # what the views read from the index
        assert x.chunk_sources(i)[0].tolist() == y.chunk_sources(i)[0].tolist()
        assert x.chunk_frequency(i).tolist() == y.chunk_frequency(i).tolist()
        assert list(x.iter_matches(i)) == list(y.iter_matches(i))
    assert x.match_count() == y.match_count()
    assert [r.engine for r in a.results] == [r.engine for r in b.results]
    for r, s in zip(a.results, b.results):
        assert (r.engine, r.block_size) == (s.engine, s.block_size)
        for p, q in zip((r.unlimited, *r.pools), (s.unlimited, *s.pools)):
            assert (p.size, p.blocks, p.input_tokens, p.spans) == (q.size, q.blocks, q.input_tokens, q.spans)
            for f in ("prefix_hits", "substring_hits", "rejected", "recompute_tokens"):
                u, v = getattr(p, f), getattr(q, f)
                assert (u is None and v is None) or u.tolist() == v.tolist()


def test_reopen_reads_the_analysis_cache(trace, monkeypatch):
    settings = Settings(engines=ALL)
    first = load(str(trace), settings)
    assert list(_entries("analysis"))
    _no_tokenize(monkeypatch)
    _no_analyze(monkeypatch)
    _same_results(first, load(str(trace), settings))


def test_other_settings_are_analysed_again(trace, monkeypatch):
    load(str(trace))
    calls = []
    real = pipeline.study.run
    monkeypatch.setattr(pipeline.study, "run", lambda *a, **k: calls.append(1) or real(*a, **k))
    load(str(trace), Settings(chunk_size=8))
    load(str(trace), Settings(pool_sizes=("0.1",)))
    load(str(trace), Settings(engines=("study", "vllm")))
    assert len(calls) == 3
    load(str(trace), Settings(chunk_size=8))  # cached now
    assert len(calls) == 3


def test_a_damaged_analysis_file_is_ignored_and_rewritten(trace):
    first = load(str(trace), Settings(engines=ALL))
    (cached,) = _entries("analysis")
    meta = cached / "meta.json"
    data = meta.read_bytes()
    meta.write_bytes(data[: len(data) // 2])
    _same_results(first, load(str(trace), Settings(engines=ALL)))
    (cached,) = _entries("analysis")
    assert json.loads((cached / "meta.json").read_text())["results"]


def test_cli_warm_output_is_the_cold_one(trace, capsys):
    args = ["analyze", "--json", "--per-request", str(trace), "--engine", *ALL]
    assert main(args[:2] + ["--no-cache"] + args[2:]) == 0
    cold = capsys.readouterr().out
    assert main(args) == 0
    assert main(args) == 0  # from the cache
    assert capsys.readouterr().out == cold * 2


def test_a_warm_reopen_never_loads_the_vocabulary(trace, monkeypatch):
    from tracetui.core import tokenizer as tk

    load(str(trace))
    fresh = tk._load("cl100k_base")  # deferred: nothing loaded yet
    monkeypatch.setattr(tk, "_cache", {"cl100k_base": fresh})
    loaded = load(str(trace))
    assert loaded.tokenizer is fresh and "_encode_one" not in fresh.__dict__
    # First use loads it, from any method (byte_lengths holds the tokenizer's lock meanwhile).
    assert fresh.byte_lengths()[fresh.encode("hello")[0]] == len(b"hello")


# ---- the content hash: computed once, as the file is read, and remembered by identity

class _Counting:
    """A hashlib SHA-256 that counts the bytes it is fed."""

    fed = 0

    def __init__(self):
        import hashlib
        self._h = hashlib.sha256()

    def update(self, b):
        _Counting.fed += len(b)
        self._h.update(b)

    def hexdigest(self):
        return self._h.hexdigest()


def test_a_cold_open_hashes_the_file_once_and_a_warm_one_not_at_all(trace, monkeypatch):
    from tracetui.core import filehash

    monkeypatch.setattr(filehash, "hasher", _Counting)
    _Counting.fed = 0
    first = load(str(trace))
    assert _Counting.fed == trace.stat().st_size
    _Counting.fed = 0
    _no_tokenize(monkeypatch)
    _same(first, load(str(trace)))
    assert _Counting.fed == 0


def test_content_hash_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    import hashlib

    from tracetui.core import filehash

    f, memo = tmp_path / "a.jsonl", tmp_path / "digests"
    f.write_bytes(b"one\n")
    assert filehash.content_hash(f, memo) == hashlib.sha256(b"one\n").hexdigest()
    monkeypatch.setattr(filehash, "hasher", lambda: (_ for _ in ()).throw(AssertionError("hashed again")))
    assert filehash.content_hash(f, memo) == hashlib.sha256(b"one\n").hexdigest()
    st = f.stat()
    f.write_bytes(b"two\n")  # same size; the mtime set back: the ctime still moves
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    monkeypatch.undo()
    assert filehash.content_hash(f, memo) == hashlib.sha256(b"two\n").hexdigest()


def test_a_file_changed_while_read_is_not_remembered(tmp_path):
    from tracetui.core import filehash

    f, memo = tmp_path / "a.jsonl", tmp_path / "digests"
    f.write_bytes(b"one\n")
    ident = filehash.identity(f)
    f.write_bytes(b"one more\n")
    filehash.remember(f, ident, "0" * 64, memo)
    assert filehash.remembered(ident, memo) is None
    assert filehash.remembered(filehash.identity(f), memo) is None
    (memo / "x").parent.mkdir(exist_ok=True)
    assert filehash.content_hash(tmp_path / "missing", memo) is None
