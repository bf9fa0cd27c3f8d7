"""`tracetui analyze --why`, `tracetui check` and `tracetui compare`: golden outputs on the sample
traces, exit codes, and the JSON documents' shape.

Goldens live in tests/golden/. They are compared exactly; after a deliberate change, rewrite
them with `TRACETUI_UPDATE_GOLDEN=1 pytest tests/test_why_cli.py` and review the diff by eye.
Text goldens are rendered 100 columns wide without colour (COLUMNS=100, TERM=dumb, NO_COLOR=1).
"""

from __future__ import annotations

import difflib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracetui.report.cli import main
from .paths import REPO, sample

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("TRACETUI_UPDATE_GOLDEN") == "1"

BREAKER_KEYS = {"cause", "block", "where", "description", "example", "requests", "tokens_lost", "substring_recovered"}
CAUSES = {"new", "empty", "append", "retokenize", "template", "rerender", "reorder", "insert", "edit"}
TEXT_ENV = {"COLUMNS": "100", "LINES": "50", "TERM": "dumb", "NO_COLOR": "1"}


# --------------------------------------------------------------------------- helpers

@pytest.fixture(autouse=True)
def _no_progress(monkeypatch):
    monkeypatch.setenv("TRACETUI_NO_PROGRESS", "1")


def run_main(capsys, *args: str | os.PathLike) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def run_cli(*args: str | os.PathLike, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "TRACETUI_NO_PROGRESS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "tracetui", *map(str, args)], capture_output=True, text=True,
                          env=full_env, timeout=300, cwd=REPO, stdin=subprocess.DEVNULL)


def assert_golden(name: str, actual: str) -> None:
    """Compare `actual` with tests/golden/<name> exactly (or rewrite it with TRACETUI_UPDATE_GOLDEN=1)."""
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"missing golden {path}: run with TRACETUI_UPDATE_GOLDEN=1 and review it")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                            f"golden/{name}", "actual", n=2))
        pytest.fail(f"output differs from golden/{name} (TRACETUI_UPDATE_GOLDEN=1 rewrites it):\n{diff[:6000]}")


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tracetui: error: ") and lines[0] != "tracetui: error: "
    assert proc.stdout == ""
    return lines[0]


# --------------------------------------------------------------------------- analyze --why: goldens

WHY_ARGS = ("--why", "--json", "--pool-sizes", "0.4", "unlimited")


@pytest.mark.parametrize("name", ["opencode_like", "aider_like"])
def test_analyze_why_json_golden(capsys, name):
    code, out, err = run_main(capsys, "analyze", sample(f"{name}.jsonl"), *WHY_ARGS)
    assert code == 0, err
    assert err == ""
    assert_golden(f"analyze_why_{name}.json", out)


def test_analyze_why_json_subprocess_matches_golden():
    """The same document from a real process (pool sizes given last, as in the README)."""
    proc = run_cli("analyze", sample("opencode_like.jsonl"), *WHY_ARGS)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert_golden("analyze_why_opencode_like.json", proc.stdout)


# --------------------------------------------------------------------------- analyze --why: content

def _why(capsys, name: str, *extra: str) -> dict:
    code, out, err = run_main(capsys, "analyze", sample(name), *WHY_ARGS, *extra)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("name", ["opencode_like.jsonl", "aider_like.jsonl", "two_sessions.jsonl"])
def test_analyze_why_json_shape(capsys, name):
    doc = _why(capsys, name)
    assert isinstance(doc["sessions"], int)  # the count, not overwritten by the per-session table
    assert len(doc["session_stats"]) == doc["sessions"]
    assert sum(s["requests"] for s in doc["session_stats"]) == doc["requests"]
    assert sum(s["input_tokens"] for s in doc["session_stats"]) == doc["input_tokens"]
    assert sum(doc["causes"].values()) == doc["requests"]
    assert set(doc["causes"]) <= CAUSES
    for g in doc["breakers"]:
        assert set(g) == BREAKER_KEYS
        assert g["cause"] in CAUSES - {"append"}
        assert 0 <= g["substring_recovered"] <= g["tokens_lost"]
    lost = [g["tokens_lost"] for g in doc["breakers"]]
    assert lost == sorted(lost, reverse=True)
    # Every request that is not an append is in exactly one breaker.
    listed = sorted(i for g in doc["breakers"] for i in g["requests"])
    assert len(listed) == doc["requests"] - doc["causes"].get("append", 0) == len(set(listed))
    for s in doc["session_stats"]:
        assert s["within_session_prefix_hit_rate"] <= s["prefix_hit_rate"] + 1e-9
        assert s["across_sessions_prefix_hit_rate"] >= -1e-9
    assert doc["provider_usage"] is None  # the samples carry no usage


def test_analyze_why_opencode_like_figures(capsys):
    from tracetui.samples import OPENCODE_RESERIALISED

    doc = _why(capsys, "opencode_like.jsonl", "--per-request")
    assert doc["causes"] == {"new": 1, "append": 9, "rerender": 2}
    rerender = [g for g in doc["breakers"] if g["cause"] == "rerender"]
    assert len(rerender) == 1 and rerender[0]["requests"] == list(OPENCODE_RESERIALISED)
    detail = doc["requests_detail"]
    for row in detail:
        brk = row["break"]
        assert brk["break_token"] == row["prefix_hit"]
        assert brk["tokens_lost"] == row["input_tokens"] - row["prefix_hit"]
        assert brk["substring_recovered"] == row["combined_hit"] - row["prefix_hit"]
        assert brk["source"] == row["prefix_source"]
    assert rerender[0]["tokens_lost"] == sum(detail[i]["break"]["tokens_lost"] for i in OPENCODE_RESERIALISED)
    for i in OPENCODE_RESERIALISED:
        assert detail[i]["break"]["cause"] == "rerender"
        assert detail[i]["break"]["in_source_output"] is True
        assert detail[i]["break"]["break_block"] == "history"


def test_analyze_why_two_sessions(capsys):
    doc = _why(capsys, "two_sessions.jsonl")
    assert doc["sessions"] == 2
    assert {s["session_id"] for s in doc["session_stats"]} == {"sess-a", "sess-b"}
    # They share a system prompt: some prefix reuse crosses sessions.
    assert any(s["across_sessions_prefix_hit_rate"] > 0 for s in doc["session_stats"])


def test_analyze_why_provider_usage(capsys, tmp_path):
    prompt = "<|im_start|>system\nYou are a helper.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    records = [
        {"input": prompt, "output": "Hello!", "usage": {"input_tokens": 12, "cache_read_input_tokens": 2620,
                                                        "cache_creation_input_tokens": 2529}},
        {"input": prompt, "output": "Hello!", "usage": {"prompt_tokens": 1000,
                                                        "prompt_tokens_details": {"cached_tokens": 800}}},
        {"input": prompt, "output": "Hello!", "usage": {"prompt_tokens": "odd"}},
    ]
    path = tmp_path / "usage.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    code, out, err = run_main(capsys, "analyze", path, "--why", "--json", "--per-request")
    assert code == 0, err
    doc = json.loads(out)
    u = doc["provider_usage"]
    assert u["requests_with_usage"] == 2
    assert u["providers"] == ["anthropic", "openai"]
    assert (u["prompt_tokens"], u["cached_tokens"], u["cache_write_tokens"]) == (6161, 3420, 2529)
    assert u["provider_hit_rate"] == round(3420 / 6161, 6)
    assert [r["index"] for r in u["per_request"]] == [0, 1]
    assert "provider_usage" not in doc["requests_detail"][2]


# --------------------------------------------------------------------------- analyze --why: text

def test_render_why_text_golden():
    """render_why on two_sessions.jsonl, 100 columns, no colour."""
    from rich.console import Console

    from tracetui.core.pipeline import Settings
    from tracetui.core.result import build
    from tracetui.report.why import render_why

    result = build(str(sample("two_sessions.jsonl")), Settings())
    buf = io.StringIO()
    console = Console(file=buf, width=100, color_system=None, force_terminal=False, legacy_windows=False)
    render_why(console, result)
    assert_golden("why_two_sessions.txt", buf.getvalue())


def test_analyze_why_text_subprocess():
    proc = run_cli("analyze", sample("aider_like.jsonl"), "--why", "--pool-sizes", "0.4", "unlimited", env=TEXT_ENV)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Causes: edit 7, insert 2, new 1" in out
    assert "Prefix breakers" in out
    assert "Here are summaries of some files" in out
    assert "Sessions (unlimited pool)" in out
    assert "\x1b[" not in out
    assert max(map(len, out.splitlines())) <= 100


# --------------------------------------------------------------------------- check: goldens and exit codes

CHECK_CASES = {
    # name: (trace, args, exit code)
    "check_opencode_like.json": ("opencode_like.jsonl",
                                 ("--min-prefix", "0.9", "--min-substring", "0.9", "--min-combined", "0.9"), 0),
    "check_aider_like.json": ("aider_like.jsonl",
                              ("--min-prefix", "0.5", "--min-substring", "0.8", "--min-combined", "0.8"), 1),
    "check_opencode_like_pool.json": ("opencode_like.jsonl", ("--pool-size", "0.4", "--min-prefix", "0.8"), 1),
}


@pytest.mark.parametrize("golden", sorted(CHECK_CASES))
def test_check_json_golden(capsys, golden):
    trace, args, expected = CHECK_CASES[golden]
    code, out, err = run_main(capsys, "check", sample(trace), *args, "--json")
    assert code == expected, (out, err)
    assert err == ""
    assert_golden(golden, out)
    doc = json.loads(out)
    assert doc["ok"] is (expected == 0)
    assert [c["ok"] for c in doc["checks"]].count(False) == (0 if expected == 0 else
                                                             sum(1 for c in doc["checks"] if not c["ok"]))
    (pool,) = doc["pools"]
    if expected == 0:
        assert pool["top_breakers"] == []
    else:
        assert 1 <= len(pool["top_breakers"]) <= 5
        for c in doc["checks"]:
            assert c["ok"] is (c["value"] >= c["minimum"])


def test_check_json_figures(capsys):
    code, out, _ = run_main(capsys, "check", sample("aider_like.jsonl"), "--min-prefix", "0.5", "--json")
    assert code == 1
    doc = json.loads(out)
    _, aout, _ = run_main(capsys, "analyze", sample("aider_like.jsonl"), "--why", "--json", "--pool-sizes", "unlimited")
    ref = json.loads(aout)
    (pool,) = doc["pools"]
    assert pool["prefix_hit_rate"] == ref["unlimited"]["prefix_hit_rate"]
    assert pool["substring_hit_rate"] == ref["unlimited"]["substring_hit_rate"]
    assert pool["combined_hit_rate"] == ref["unlimited"]["combined_hit_rate"]
    assert pool["top_breakers"] == ref["breakers"][:5]
    assert doc["checks"] == [{"pool_gb": None, "metric": "prefix", "value": pool["prefix_hit_rate"], "minimum": 0.5,
                              "ok": False}]
    assert (pool["gb"], pool["capacity_tokens"], pool["ok"]) == (None, None, False)


def test_check_threshold_equal_to_the_rate_passes(capsys):
    _, out, _ = run_main(capsys, "check", sample("opencode_like.jsonl"), "--min-prefix", "0", "--json")
    rate = json.loads(out)["pools"][0]["prefix_hit_rate"]
    code, out, _ = run_main(capsys, "check", sample("opencode_like.jsonl"), "--min-prefix", str(rate), "--json")
    assert code == 0, out
    code, _, _ = run_main(capsys, "check", sample("opencode_like.jsonl"), "--min-prefix", "1")
    assert code == 1


def test_check_text_failure_golden():
    trace, args, _ = CHECK_CASES["check_aider_like.json"]
    proc = run_cli("check", sample(trace), *args, env=TEXT_ENV)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    # The figures, the failed threshold, and the top breakers.
    assert "aider_like.jsonl: 10 requests" in out
    assert "FAIL prefix hit rate 22.09% < 50.00%" in out
    assert "ok   substring hit rate" in out and "ok   combined hit rate" in out
    assert "Top prefix breakers" in out
    assert "Here are summaries of some files" in out
    assert_golden("check_aider_like.txt", out)


def test_check_text_success():
    proc = run_cli("check", sample("opencode_like.jsonl"), "--min-prefix", "0.9", env=TEXT_ENV)
    assert proc.returncode == 0, proc.stderr
    assert "ok   prefix hit rate 91.03% >= 90.00%" in proc.stdout
    assert "FAIL" not in proc.stdout and "breakers" not in proc.stdout


@pytest.mark.parametrize("args, message", [
    (("MISSING", "--min-prefix", "0.5"), "no such file"),
    (("SAMPLE",), "give at least one of --min-prefix"),
    (("SAMPLE", "--min-combined", "0.5", "--pool-size", "0.4"), "only defined for the unlimited pool"),
    (("SAMPLE", "--min-prefix", "1.5"), "between 0 and 1"),
    (("SAMPLE", "--min-substring", "-0.1"), "between 0 and 1"),
    (("SAMPLE", "--min-prefix", "nan"), "between 0 and 1"),
    (("SAMPLE", "--min-prefix", "abc"), "invalid float value"),
    (("SAMPLE", "--min-prefix", "0.5", "--pool-size", "lots"), "invalid pool size"),
])
def test_check_bad_input_exit_2(tmp_path, args, message):
    trace = sample("opencode_like.jsonl")
    argv = [str(tmp_path / "missing.jsonl") if a == "MISSING" else str(trace) if a == "SAMPLE" else a for a in args]
    line = assert_one_line_error(run_cli("check", *argv))
    assert message in line, line


def test_check_bad_input_in_process(capsys, tmp_path):
    code, out, err = run_main(capsys, "check", tmp_path / "missing.jsonl", "--min-prefix", "0.5")
    assert code == 2 and out == "" and "no such file" in err
    code, out, err = run_main(capsys, "check", sample("opencode_like.jsonl"), "--min-combined", "0.5",
                              "--pool-size", "0.4", "--json")
    assert code == 2 and out == "" and "unlimited" in err


def test_check_min_combined_with_unlimited_pool_size(capsys):
    code, out, _ = run_main(capsys, "check", sample("opencode_like.jsonl"), "--min-combined", "0.5",
                            "--pool-size", "unlimited", "--json")
    assert code == 0
    assert json.loads(out)["checks"][0]["metric"] == "combined"


def test_check_every_pool_and_its_own_breakers(capsys):
    """`--pool-sizes 0.1 unlimited` checks both pools (`--pool-size` is the same option); the
    failing small pool shows its breakers, where eviction cut the prefix."""
    trace = sample("opencode_like.jsonl")
    code, out, _ = run_main(capsys, "check", trace, "--pool-sizes", "0.1", "unlimited", "--min-prefix", "0.8", "--json")
    assert code == 1
    doc = json.loads(out)
    small, unlimited = doc["pools"]
    assert (small["gb"], small["ok"], unlimited["gb"], unlimited["ok"]) == (0.1, False, None, True)
    assert [(c["pool_gb"], c["ok"]) for c in doc["checks"]] == [(0.1, False), (None, True)]
    assert unlimited["top_breakers"] == []
    causes = {g["cause"] for g in small["top_breakers"]}
    assert "evicted" in causes, small["top_breakers"]
    assert all(g["substring_recovered"] is None for g in small["top_breakers"])
    # The small pool's breakers are not the unlimited pool's (rerender is all the unlimited has).
    _, aout, _ = run_main(capsys, "analyze", trace, "--why", "--json", "--pool-sizes", "unlimited")
    assert small["top_breakers"] != json.loads(aout)["breakers"][:5]
    lost = sum(g["tokens_lost"] for g in small["top_breakers"])
    _, rout, _ = run_main(capsys, "analyze", trace, "--json", "--per-request", "--pool-sizes", "0.1")
    rows = json.loads(rout)["requests_detail"]
    if len(small["top_breakers"]) < 5:
        assert lost == sum(r["input_tokens"] - r["pools"][0]["prefix_hit"] for r in rows)
    code, out2, _ = run_main(capsys, "check", trace, "--pool-size", "0.1", "unlimited", "--min-prefix", "0.8", "--json")
    assert (code, out2) == (1, out)
    code, text, _ = run_main(capsys, "check", trace, "--pool-sizes", "0.1", "unlimited", "--min-prefix", "0.8")
    assert "FAIL 0.1 GB pool (820 tokens): prefix hit rate" in text
    assert "ok   unlimited pool: prefix hit rate" in text
    assert "Top prefix breakers, 0.1 GB pool" in text and "evicted" in text


def test_check_min_combined_needs_the_unlimited_pool(capsys):
    code, out, err = run_main(capsys, "check", sample("opencode_like.jsonl"), "--pool-sizes", "0.4", "unlimited",
                              "--min-combined", "0.5", "--json")
    assert code == 0, err
    assert [(c["pool_gb"], c["metric"]) for c in json.loads(out)["checks"]] == [(None, "combined")]


def test_check_a_hashed_trace_in_a_bounded_pool(capsys):
    """A hashed trace has no text to place an eviction in: the failing pool's breakers are
    its blocks' (an IndexError before), and the unlimited pool's hold."""
    code, out, err = run_main(capsys, "check", sample("bailian_hashed.jsonl"), "--min-prefix", "0.5",
                              "--pool-sizes", "0.01", "unlimited", "--json")
    assert code == 1, err
    small, unlimited = json.loads(out)["pools"]
    assert not small["ok"] and small["top_breakers"][0]["cause"] == "evicted"
    assert small["top_breakers"][0]["where"] == "" and unlimited["ok"]


# --------------------------------------------------------------------------- compare

COMPARE_KEYS = {"a", "b", "pools", "block_kinds", "breakers_only_in_a", "breakers_only_in_b"}


def _compare(capsys, a: Path, b: Path, *extra: str) -> dict:
    code, out, err = run_main(capsys, "compare", a, b, *extra, "--json")
    assert code == 0, err
    return json.loads(out)


def test_compare_with_itself(capsys):
    trace = sample("aider_like.jsonl")
    doc = _compare(capsys, trace, trace, "--pool-sizes", "0.4", "unlimited")
    assert set(doc) == COMPARE_KEYS
    assert doc["breakers_only_in_a"] == [] and doc["breakers_only_in_b"] == []
    assert doc["a"] == doc["b"]
    assert [p["gb"] for p in doc["pools"]] == [0.4, None]
    for p in doc["pools"]:
        assert p["a"] == p["b"]
    for row in doc["block_kinds"]:
        assert row["a"] == row["b"]


def test_compare_two_traces(capsys):
    a, b = sample("opencode_like.jsonl"), sample("aider_like.jsonl")
    doc = _compare(capsys, a, b, "--pool-sizes", "0.4", "unlimited")
    assert set(doc) == COMPARE_KEYS
    assert doc["a"]["trace"] == "opencode_like.jsonl" and doc["b"]["trace"] == "aider_like.jsonl"
    assert doc["a"]["requests"] == 12 and doc["b"]["requests"] == 10
    for side in ("a", "b"):
        assert set(doc[side]) == {"trace", "requests", "input_tokens", "combined_hit_rate"}
    # Both start with a "first request" breaker: it is in neither list.
    only_a, only_b = doc["breakers_only_in_a"], doc["breakers_only_in_b"]
    assert [g["cause"] for g in only_a] == ["rerender"]
    assert {g["cause"] for g in only_b} == {"edit", "insert"}
    for g in only_a + only_b:
        assert set(g) == BREAKER_KEYS
    keys_a = {(g["cause"], g["block"], g["description"]) for g in only_a}
    keys_b = {(g["cause"], g["block"], g["description"]) for g in only_b}
    assert not keys_a & keys_b
    # Pools: one row per size, figures as `analyze` gives them.
    _, out, _ = run_main(capsys, "analyze", a, "--json", "--pool-sizes", "0.4", "unlimited")
    ref = json.loads(out)
    assert [p["a"]["prefix_hit_rate"] for p in doc["pools"]] == [p["prefix_hit_rate"] for p in ref["pools"]]
    assert [p["capacity_tokens"] for p in doc["pools"]] == [3280, None]
    # Block kinds: the union of both traces' kinds, sorted, with the token totals of each side.
    kinds = [row["block"] for row in doc["block_kinds"]]
    assert kinds == sorted(kinds) and {"system", "history", "current"} <= set(kinds)
    assert sum(row["a"]["tokens"] for row in doc["block_kinds"]) == doc["a"]["input_tokens"]
    assert sum(row["b"]["tokens"] for row in doc["block_kinds"]) == doc["b"]["input_tokens"]
    for row in doc["block_kinds"]:
        for side in ("a", "b"):
            r = row[side]
            if r["tokens"] == 0:
                assert r["prefix_hit_rate"] is None and r["substring_hit_rate"] is None
            else:
                assert 0 <= r["prefix_hit_rate"] <= 1 and 0 <= r["substring_hit_rate"] <= 1


def test_compare_text():
    proc = run_cli("compare", sample("opencode_like.jsonl"), sample("opencode_like.jsonl"), "--pool-sizes", "0.4",
                   "unlimited", env=TEXT_ENV)
    assert proc.returncode == 0, proc.stderr
    assert "No breaker only in A." in proc.stdout and "No breaker only in B." in proc.stdout
    assert "Hit rate by pool size" in proc.stdout and "By block kind" in proc.stdout


def test_compare_output_formats(capsys):
    """compare -o: CSV / TSV hold the hit-rate table (the JSON's figures, B - A as a
    fraction), Markdown every table, json the --json document; --json with -o csv is refused."""
    import csv
    import io

    a, b = sample("opencode_like.jsonl"), sample("aider_like.jsonl")
    pools = ("--pool-sizes", "0.4", "unlimited")
    doc = _compare(capsys, a, b, *pools)
    code, out, err = run_main(capsys, "compare", a, b, *pools, "-o", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["pool_gb", "capacity_tokens", "a_prefix_hit_rate", "b_prefix_hit_rate", "prefix_delta",
                             "a_substring_hit_rate", "b_substring_hit_rate", "substring_delta"]
    assert [(r["pool_gb"], r["capacity_tokens"]) for r in rows] == [("0.4", "3280"), ("", "")]
    for row, p in zip(rows, doc["pools"]):
        for side in ("a", "b"):
            assert float(row[f"{side}_prefix_hit_rate"]) == p[side]["prefix_hit_rate"]
            assert float(row[f"{side}_substring_hit_rate"]) == p[side]["substring_hit_rate"]
        assert abs(float(row["prefix_delta"]) - (p["b"]["prefix_hit_rate"] - p["a"]["prefix_hit_rate"])) < 2e-6
    code, tsv, _ = run_main(capsys, "compare", a, b, *pools, "--output", "tsv")
    assert tsv == out.replace(",", "\t")
    code, md, _ = run_main(capsys, "compare", a, b, *pools, "-o", "markdown")
    assert md.startswith("A = opencode_like.jsonl (12 requests)   B = aider_like.jsonl (10 requests)\n\n")
    for title in ("### Hit rate by pool size", "### By block kind (unlimited pool)", "### Breakers only in A",
                  "### Breakers only in B"):
        assert title in md
    assert "| ∞ |" in md and ("| +" in md or "| -" in md)
    code, js, _ = run_main(capsys, "compare", a, b, *pools, "-o", "json")
    assert json.loads(js) == doc
    assert "two formats" in assert_one_line_error(run_cli("compare", a, b, "--json", "-o", "csv"))
    # With engines: an engine column, one row per pool and engine.
    code, out, err = run_main(capsys, "compare", a, b, *pools, "--engine", "study", "vllm", "-o", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["pool_gb"], r["engine"]) for r in rows] == [("0.4", "study"), ("0.4", "vllm"), ("", "study"),
                                                           ("", "vllm")]
    assert "substring_delta" not in rows[0]


def test_compare_missing_file(tmp_path):
    line = assert_one_line_error(run_cli("compare", sample("opencode_like.jsonl"), tmp_path / "nope.jsonl", "--json"))
    assert "no such file" in line


# --------------------------------------------------------------------------- trace data is not markup

def test_markup_in_trace_data_is_printed_as_is(capsys, tmp_path, monkeypatch):
    """Session ids, prompt lines and file names holding "[/x]" or "[bold]" are printed
    verbatim by analyze --why, check and compare (rich would raise MarkupError on "[/x]")."""
    from .conftest import write_markup_trace

    monkeypatch.setenv("COLUMNS", "200")  # one table row per breaker: the descriptions are not folded
    a = write_markup_trace(tmp_path / "[bold]a[red].jsonl")
    b = write_markup_trace(tmp_path / "b.jsonl", edit="three")

    code, out, err = run_main(capsys, "analyze", a, "--why", "--per-request", "--pool-sizes", "unlimited")
    assert code == 0, err
    assert "[bold]a[red].jsonl" in out
    assert "[/x]sess[bold]" in out and "[/s]" in out
    assert "user “other [/x]”" in out
    assert "Rule [/x] two [bold]always[/] whisper." in out
    # The request without a session id is "–" in the sessions table, as in the explorer.
    assert "None" not in out
    assert any(line.startswith("│ –  ") for line in out.split("Sessions (unlimited pool)")[1].splitlines())

    code, out, err = run_main(capsys, "check", a, "--min-prefix", "0.99")
    assert code == 1, err
    assert out.startswith("[bold]a[red].jsonl: 4 requests")
    assert "FAIL" in out and "user “other [/x]”" in out

    code, out, err = run_main(capsys, "compare", a, b, "--pool-sizes", "unlimited")
    assert code == 0, err
    assert "A = [bold]a[red].jsonl" in out
    assert "Rule [/x] two [bold]always[/] whisper." in out.split("Breakers only in B")[0]
    assert "Rule [/x] three [bold]always[/]" in out.split("Breakers only in B")[1]
