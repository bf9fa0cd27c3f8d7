"""The on-disk token cache: a reopen skips tokenization, and a bad cache never hurts."""

from __future__ import annotations

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


def _same(a, b):
    assert [x.tolist() for x in a.inputs] == [x.tolist() for x in b.inputs]
    assert [x.tolist() for x in a.outputs] == [x.tolist() for x in b.outputs]
    assert a.analysis.pools[0].prefix_hits.tolist() == b.analysis.pools[0].prefix_hits.tolist()


def test_reopen_reads_the_cache(trace, monkeypatch):
    first = load(str(trace))
    assert list((tokencache.cache_dir() / "tokens").glob("*.npz"))
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
    (cached,) = (tokencache.cache_dir() / "tokens").glob("*.npz")
    cached.write_bytes(b"not a numpy file")
    _same(first, load(str(trace)))
    with np.load(cached, allow_pickle=False) as z:
        assert set(z.files) == {"flat", "in_len", "out_len"}


def test_cli_no_cache(trace, capsys):
    assert main(["analyze", "--json", "--no-cache", str(trace)]) == 0
    assert not (tokencache.cache_dir() / "tokens").exists()
    out = capsys.readouterr().out
    assert main(["analyze", "--json", str(trace)]) == 0
    assert list((tokencache.cache_dir() / "tokens").glob("*.npz"))
    assert main(["analyze", "--json", str(trace)]) == 0  # from the cache
    assert capsys.readouterr().out == out * 2
