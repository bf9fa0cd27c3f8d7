"""Golden outputs of `tracetui analyze` for each trace format (tests/golden/formats_*).

After a deliberate change, rewrite them with TRACETUI_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import pytest

from .paths import TRACES, need, sample
from .test_why_cli import TEXT_ENV, _no_progress, assert_golden, run_cli, run_main  # noqa: F401

POOLS = ("--pool-sizes", "0.1", "unlimited")


@pytest.mark.parametrize("template", ["chatml", "qwen", "qwen3", "llama3", "json"])
def test_request_bodies_golden(capsys, template):
    code, out, err = run_main(capsys, "analyze", sample("request_bodies.jsonl"), "--json", "--per-request",
                              "--template", template, *POOLS)
    assert code == 0 and err == "", err
    assert_golden(f"formats_request_bodies_{template}.json", out)


def test_request_bodies_why_text_golden():
    proc = run_cli("analyze", sample("request_bodies.jsonl"), "--why", *POOLS, env=TEXT_ENV)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert_golden("formats_request_bodies_why.txt", proc.stdout)


def test_bailian_golden(capsys):
    code, out, err = run_main(capsys, "analyze", sample("bailian_hashed.jsonl"), "--json", "--per-request", *POOLS)
    assert code == 0 and err == "", err
    assert_golden("formats_bailian_hashed.json", out)


def test_bailian_text_golden():
    proc = run_cli("analyze", sample("bailian_hashed.jsonl"), *POOLS, env=TEXT_ENV)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert_golden("formats_bailian_hashed.txt", proc.stdout)


def test_claude_code_golden(capsys):
    path = need(TRACES / "claude-code-hashed" / "trace_0012.json")
    code, out, err = run_main(capsys, "analyze", path, "--json", *POOLS)
    assert code == 0 and err == "", err
    assert_golden("formats_claude_code_trace_0012.json", out)


def test_mooncake_golden(capsys):
    path = need(TRACES / "mooncake" / "conversation_trace.jsonl")
    code, out, err = run_main(capsys, "analyze", path, "--json", *POOLS)
    assert code == 0 and err == "", err
    assert_golden("formats_mooncake_conversation.json", out)


def test_servegen_golden(capsys, tmp_path):
    """ServeGen offline records (request_id, input_length, hash_ids; blocks of 16): a shared
    system prompt of 3 blocks, requests that extend it, one partial last block."""
    import json

    records = [{"request_id": k, "input_length": n, "output_length": 7, "hash_ids": ids} for k, (n, ids) in
               enumerate([(48, [1, 2, 3]), (70, [1, 2, 3, 4, 5]), (40, [1, 2, 9]), (64, [1, 2, 3, 4])])]
    path = tmp_path / "servegen.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    code, out, err = run_main(capsys, "analyze", path, "--json", "--per-request", *POOLS)
    assert code == 0 and err == "", err
    assert_golden("formats_servegen.json", out)
