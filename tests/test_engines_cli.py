"""`--engine` and its options in analyze, check and compare."""

from __future__ import annotations

import json

import pytest

from tracetui.report.cli import main

from .paths import OPENCODE, TRACES, need

SYMPY = TRACES / "aider" / "gpt-4o-mini__sympy__sympy-13974.jsonl"


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("TRACETUI_NO_PROGRESS", "1")


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_per_request_figures_are_the_engines(capsys):
    code, out, _ = run(capsys, "analyze", need(SYMPY), "--engine", "vllm", "--pool-tokens", "32768", "65536",
                       "unlimited", "--json", "--per-request")
    assert code == 0
    doc = json.loads(out)
    assert doc["engine"] == "vllm" and doc["block_size"] == 16
    assert [p["blocks"] for p in doc["pools"]] == [2048, 4096, None]
    assert [p["capacity_tokens"] for p in doc["pools"]] == [32768, 65536, None]
    assert all(p["substring_hit_rate"] is None and p["rejected"] == 0 for p in doc["pools"])
    sums = [sum(r["pools"][k]["prefix_hit"] for r in doc["requests_detail"]) for k in range(3)]
    assert sums == [87856, 90160, 90160]
    assert sum(r["prefix_hit"] for r in doc["requests_detail"]) == 90160


def test_several_engines_side_by_side(capsys):
    code, out, _ = run(capsys, "analyze", OPENCODE, "--engine", "study", "vllm", "sglang", "lmcache", "cacheblend",
                       "--pool-tokens", "2000", "unlimited", "--json", "--per-request")
    assert code == 0
    doc = json.loads(out)
    assert [e["engine"] for e in doc["engines"]] == ["study", "vllm", "sglang", "lmcache", "cacheblend"]
    assert "pools" not in doc
    by = {e["engine"]: e for e in doc["engines"]}
    assert by["study"]["pools"][1]["substring_hit_rate"] is not None
    assert by["vllm"]["pools"][1]["substring_hit_rate"] is None
    assert "recompute_tokens" in by["cacheblend"]["pools"][0]
    row = doc["requests_detail"][1]
    assert [e["engine"] for e in row["engines"]] == list(by)
    assert all("rejected" in p for e in row["engines"] for p in e["pools"])
    code, out, _ = run(capsys, "analyze", OPENCODE, "--engine", "study", "vllm", "--pool-tokens", "2000", "unlimited")
    assert code == 0 and "vllm" in out and "blocks" in out


def test_default_engine_keeps_todays_document(capsys):
    _, plain, _ = run(capsys, "analyze", OPENCODE, "--json", "--per-request")
    _, study, _ = run(capsys, "analyze", OPENCODE, "--json", "--per-request", "--engine", "study")
    assert plain == study and '"engine"' not in plain


def test_pool_tokens_equal_the_gb_pool(capsys):
    _, a, _ = run(capsys, "analyze", OPENCODE, "--json", "--pool-sizes", "0.4")
    _, b, _ = run(capsys, "analyze", OPENCODE, "--json", "--pool-tokens", "3280", "--engine", "study", "vllm")
    pa = json.loads(a)["pools"][0]
    pb = json.loads(b)["engines"][0]["pools"][0]
    assert pb["capacity_tokens"] == pa["capacity_tokens"] == 3280
    assert pb["prefix_hit_rate"] == pa["prefix_hit_rate"] and pb["substring_hit_rate"] == pa["substring_hit_rate"]


def test_rejections_are_counted(capsys):
    code, out, _ = run(capsys, "analyze", OPENCODE, "--engine", "vllm", "sglang", "--context-length", "64",
                       "--json")
    doc = json.loads(out)
    assert all(e["unlimited"]["rejected"] > 0 for e in doc["engines"])


def test_check_with_an_engine(capsys):
    code, out, _ = run(capsys, "check", OPENCODE, "--engine", "vllm", "--pool-tokens", "4000", "--min-prefix", "0",
                       "--json")
    doc = json.loads(out)
    (pool,) = doc["pools"]
    assert code == 0 and doc["engine"] == "vllm" and pool["capacity_tokens"] == 4000 and pool["blocks"] == 250
    assert pool["substring_hit_rate"] is None and pool["rejected"] == 7  # prompts of 4000 tokens or more


def test_check_judges_every_pool_in_tokens(capsys):
    code, out, _ = run(capsys, "check", OPENCODE, "--engine", "vllm", "--pool-tokens", "4000", "unlimited",
                       "--min-prefix", "0", "--json")
    doc = json.loads(out)
    assert code == 0 and [p["capacity_tokens"] for p in doc["pools"]] == [4000, None]
    assert len(doc["checks"]) == 2 and all(c["ok"] for c in doc["checks"])


def test_compare_with_engines(capsys):
    code, out, _ = run(capsys, "compare", OPENCODE, OPENCODE, "--engine", "vllm", "sglang", "--json")
    doc = json.loads(out)
    assert code == 0 and [e["engine"] for e in doc["engines"]] == ["vllm", "sglang"]
    assert all(p["a"] == p["b"] for e in doc["engines"] for p in e["pools"])


@pytest.mark.parametrize("args", [
    ["analyze", OPENCODE, "--engine", "nope"],
    ["analyze", OPENCODE, "--pool-tokens", "12.5"],
    ["analyze", OPENCODE, "--pool-tokens", "-1"],
    ["analyze", OPENCODE, "--pool-tokens", "100", "--pool-sizes", "1"],
    ["analyze", OPENCODE, "--recompute", "2"],
    ["analyze", OPENCODE, "--block-size", "0"],
    ["analyze", OPENCODE, "--page-size", "0"],
    ["analyze", OPENCODE, "--context-length", "1"],
    ["check", OPENCODE, "--engine", "vllm", "--min-substring", "0.1"],
    ["check", OPENCODE, "--engine", "vllm", "sglang", "--min-prefix", "0.1"],
])
def test_bad_engine_options_are_one_line(capsys, args):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("tracetui: error: ") and len(err.strip().splitlines()) == 1


def test_why_splits_the_tokens_lost(capsys):
    code, out, _ = run(capsys, "analyze", OPENCODE, "--engine", "vllm", "sglang", "--pool-tokens", "3000",
                       "unlimited", "--why", "--json", "--per-request")
    assert code == 0
    doc = json.loads(out)
    for e in doc["engines"]:
        for p in e["pools"]:
            lost = p["tokens_lost"]
            assert set(lost) == {"divergence", "eviction", "rounding", "rejection"}
            hit = round(p["prefix_hit_rate"] * doc["input_tokens"])
            assert abs(sum(lost.values()) - (doc["input_tokens"] - hit)) <= 1
    row = doc["requests_detail"][2]["engines"][0]["pools"][0]
    assert sum(row["tokens_lost"].values()) == doc["requests_detail"][2]["input_tokens"] - row["prefix_hit"]
    code, out, _ = run(capsys, "analyze", OPENCODE, "--engine", "vllm", "--why")
    assert code == 0 and "Tokens lost" in out


def test_hashed_trace_feeds_the_block_engines(capsys, tmp_path):
    """Mooncake-style records (hash_ids, 16-token blocks here): the block engines read the ids
    as their chains (SGLang's pages too); CacheBlend needs tokens and says so in one line, and
    so does a block size the trace's blocks do not divide."""
    rows = [{"timestamp": 0, "input_length": 40, "output_length": 1, "hash_ids": [7, 8, 9]},
            {"timestamp": 1, "input_length": 50, "output_length": 3, "hash_ids": [7, 8, 9, 10]},
            {"timestamp": 2, "input_length": 33, "output_length": 0, "hash_ids": [7, 8, 11]}]
    path = tmp_path / "mooncake.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, err = run(capsys, "analyze", path, "--format", "mooncake", "--hash-block-size", "16",
                         "--engine", "vllm", "sglang", "lmcache", "--pool-tokens", "unlimited", "--json",
                         "--per-request")
    assert code == 0, err
    doc = json.loads(out)
    assert [e["block_size"] for e in doc["engines"]] == [16, 16, 16]
    hits = [[r["engines"][k]["prefix_hit"] for r in doc["requests_detail"]] for k in range(3)]
    assert hits[0] == hits[1] == [0, 32, 32]  # 40 tokens cached blocks 7, 8 only (its block 9 is partial)
    code, out, err = run(capsys, "analyze", path, "--format", "mooncake", "--hash-block-size", "16",
                         "--engine", "vllm", "--block-size", "32", "--pool-tokens", "unlimited", "--json",
                         "--per-request")
    assert code == 0 and [r["prefix_hit"] for r in json.loads(out)["requests_detail"]] == [0, 32, 32]
    for args, words in ((("--engine", "cacheblend"), "message boundaries"),
                        (("--engine", "vllm", "--block-size", "8"), "multiple of 16"),
                        (("--engine", "sglang", "--page-size", "24"), "multiple of 16")):
        code, out, err = run(capsys, "analyze", path, "--format", "mooncake", "--hash-block-size", "16", *args)
        assert code == 2 and err.startswith("tracetui: error:") and words in err and err.count("\n") == 1, err
