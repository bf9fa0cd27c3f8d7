"""The sample traces are generated, deterministic, and have the properties they are meant to show."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tracetui import samples

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMITTED = REPO_ROOT / "sample_traces"
KEYS = ["timestamp", "session_id", "model", "input", "output"]
IM_ASSISTANT = "<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("samples")
    samples.write_samples(directory)
    return directory


def _records(directory: Path, name: str) -> list[dict]:
    """Every parseable line of a sample file (the deliberate bad lines of malformed.jsonl left out)."""
    lines = (directory / name).read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "", f"{name} must end with a newline"
    records = []
    for number, line in enumerate(lines[:-1], 1):
        if name == "malformed.jsonl" and number in (
            samples.MALFORMED_RECOVERABLE_LINE,
            samples.MALFORMED_BLANK_LINE,
            samples.MALFORMED_GARBAGE_LINE,
        ):
            continue
        records.append(json.loads(line))
    return records


def _contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_write_samples_returns_the_trace_files(generated: Path, tmp_path: Path) -> None:
    paths = samples.write_samples(tmp_path)
    assert [p.name for p in paths] == list(samples.SAMPLE_FILES)
    assert all(p.parent == tmp_path and p.is_file() for p in paths)
    assert (tmp_path / "README.md").is_file()


def test_generation_is_byte_identical(generated: Path, tmp_path: Path) -> None:
    samples.write_samples(tmp_path)
    assert _contents(tmp_path) == _contents(generated)


def test_committed_samples_match_the_generator(generated: Path) -> None:
    fresh = _contents(generated)
    committed = {
        name: data for name, data in _contents(COMMITTED).items() if name.endswith(".jsonl") or name == "README.md"
    }
    assert sorted(committed) == sorted(fresh), "run `python -m tracetui.samples` from the repo root"
    for name, data in fresh.items():
        assert committed[name] == data, f"sample_traces/{name} is stale: run `python -m tracetui.samples`"


def test_main_writes_into_the_given_directory(tmp_path: Path, generated: Path) -> None:
    assert samples.main([str(tmp_path / "out")]) == 0
    assert _contents(tmp_path / "out") == _contents(generated)


def test_module_runs_as_a_script(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tracetui.samples"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "sample_traces").glob("*.jsonl")) == sorted(samples.SAMPLE_FILES)


@pytest.mark.parametrize("name", samples.PROMPT_FILES)
def test_every_valid_line_has_the_expected_keys(generated: Path, name: str) -> None:
    data = (generated / name).read_bytes()
    assert b"\r" not in data
    records = _records(generated, name)
    assert records
    for record in records:
        assert list(record) == KEYS
        assert isinstance(record["timestamp"], int)
        assert all(isinstance(record[k], str) for k in KEYS[1:])
        assert record["input"]
    stamps = [r["timestamp"] for r in records]
    assert stamps[0] == samples.BASE_TIMESTAMP_MS
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert all(1000 <= b - a <= 60_000 for a, b in zip(stamps, stamps[1:]))


def test_sizes(generated: Path) -> None:
    sizes = {name: (generated / name).stat().st_size for name in samples.SAMPLE_FILES}
    for name, size in sizes.items():
        assert 2_000 < size < 600_000, (name, size)
    assert sizes["big_prompt.jsonl"] > 400_000


def test_opencode_is_append_only_except_the_reserialised_requests(generated: Path) -> None:
    records = _records(generated, "opencode_like.jsonl")
    assert 10 <= len(records) <= 14
    assert len({r["session_id"] for r in records}) == 1
    first = records[0]["input"]
    assert first.startswith("<|im_start|>system\n")
    assert (
        "<env>\n  Working directory: /home/dev/project\n  Is directory a git repo: yes\n"
        "  Platform: linux\n  Today's date: Thu Jan 01 2026\n</env>" in first
    )
    system = first[: first.index("<|im_end|>")]
    assert 1300 <= len(system.split()) <= 1800
    breaks = []
    for i in range(1, len(records)):
        previous, current = records[i - 1], records[i]
        assert previous["input"].endswith(IM_ASSISTANT)
        assert current["input"].endswith(IM_ASSISTANT)
        # The assistant header of the previous request is always kept...
        assert current["input"].startswith(previous["input"])
        # ...and the previous output follows it byte for byte, except at the deliberate breakers.
        if not current["input"].startswith(previous["input"] + previous["output"] + "<|im_end|>\n"):
            breaks.append(i)
    assert breaks == list(samples.OPENCODE_RESERIALISED)
    for i in breaks:
        output = records[i - 1]["output"]
        assert '"timeout": 120000' in output
        assert '"timeout":120000' in records[i]["input"][len(records[i - 1]["input"]) :]
    assert any("<tool_call>" in r["output"] for r in records)
    assert any("<|im_start|>tool\n" in r["input"] for r in records)


def test_aider_repo_map_changes_and_history_is_summarised(generated: Path) -> None:
    records = _records(generated, "aider_like.jsonl")
    assert 8 <= len(records) <= 12
    maps = []
    for record in records:
        prompt = record["input"]
        assert prompt.startswith("<|im_start|>system\n") and prompt.endswith(IM_ASSISTANT)
        start = prompt.index("Here are summaries of some files present in my git repository.")
        maps.append(prompt[start : prompt.index("<|im_end|>", start)])
    assert len(set(maps)) == len(maps)
    system = records[0]["input"][: records[0]["input"].index("<|im_end|>")]
    assert all(r["input"].startswith(system) for r in records)
    summarised = [i for i, r in enumerate(records) if "I spoke to you previously about a number of things." in r["input"]]
    assert summarised[0] == samples.AIDER_SUMMARISED[0]
    assert set(samples.AIDER_SUMMARISED) <= set(summarised)
    # The summary replaces the history: the first user request no longer appears afterwards.
    first_user = records[0]["input"].rsplit("<|im_start|>user\n", 1)[1].split("<|im_end|>")[0]
    assert first_user in records[samples.AIDER_SUMMARISED[0] - 1]["input"]
    assert first_user not in records[samples.AIDER_SUMMARISED[0]]["input"]


def test_two_sessions(generated: Path) -> None:
    records = _records(generated, "two_sessions.jsonl")
    ids = [r["session_id"] for r in records]
    assert sorted(set(ids)) == ["sess-a", "sess-b"]
    assert ids != sorted(ids), "the sessions must be interleaved"
    assert any(r["output"] == "" for r in records)
    system = records[0]["input"].split("\nuser: ", 1)[0]
    assert system.startswith("system: ")
    for session in ("sess-a", "sess-b"):
        mine = [r for r in records if r["session_id"] == session]
        assert 6 <= len(mine) <= 10
        for previous, current in zip(mine, mine[1:]):
            assert current["input"].startswith(previous["input"])
            assert current["input"].startswith(system + "\nuser: ")
            if previous["output"] == "":
                assert current["input"] == previous["input"], "an empty output is followed by a retry"


def test_malformed_lines(generated: Path) -> None:
    lines = (generated / "malformed.jsonl").read_text(encoding="utf-8").split("\n")[:-1]
    good = _records(generated, "malformed.jsonl")
    assert len(good) >= 7
    assert len(good) + 3 == len(lines)
    for record in good:
        assert record["input"].startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n")
        assert record["input"].endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")

    assert lines[samples.MALFORMED_BLANK_LINE - 1] == ""

    recoverable = lines[samples.MALFORMED_RECOVERABLE_LINE - 1]
    with pytest.raises(json.JSONDecodeError):
        json.loads(recoverable)
    match = re.fullmatch(
        r'\{"timestamp": (\d+), "session_id": "([^"]*)", "model": "([^"]*)", "input": "(.*)", "output": "(.*)"\}',
        recoverable,
    )
    assert match is not None
    assert json.loads(match.group(4))["messages"][0]["role"] == "user"
    stamp = int(match.group(1))
    before = json.loads(lines[samples.MALFORMED_RECOVERABLE_LINE - 2])["timestamp"]
    after = json.loads(lines[samples.MALFORMED_RECOVERABLE_LINE])["timestamp"]
    assert before < stamp < after

    garbage = lines[samples.MALFORMED_GARBAGE_LINE - 1]
    with pytest.raises(json.JSONDecodeError):
        json.loads(garbage)
    assert garbage.startswith("{") and not garbage.endswith("}")


def test_big_prompt(generated: Path) -> None:
    records = _records(generated, "big_prompt.jsonl")
    assert len(records) == 3
    assert max(len(r["input"]) for r in records) > 200_000
    for previous, current in zip(records, records[1:]):
        assert current["input"].startswith(previous["input"])
