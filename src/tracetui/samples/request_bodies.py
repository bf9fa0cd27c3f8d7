"""request_bodies.jsonl: provider request bodies with their responses (OpenAI and Anthropic)."""

from __future__ import annotations

import json
import random

from .common import _Clock, _hex
from .opencode import _OPENCODE_PROSE

_BODY_SYSTEM = (
    "You are a careful coding assistant working in a Python repository. Read files before "
    "editing them, keep changes small, and run the tests after each change."
)
_BODY_TOOLS = [
    ("read_file", "Read a file of the repository.", {"path": {"type": "string"}}),
    ("run_tests", "Run the test suite, or the tests matching a pattern.", {"pattern": {"type": "string"}}),
]
_BODY_STEPS = [
    ("The CSV export drops the last row. Find out why.", "read_file", {"path": "export.py"},
     "def export(rows, out):\n    for i in range(len(rows) - 1):\n        out.write(','.join(rows[i]) + '\\n')\n"),
    (None, "run_tests", {"pattern": "test_export"},
     "FAILED tests/test_export.py::test_all_rows - assert 2 == 3\n1 failed, 4 passed"),
    (None, None, None, None),
]
_BODY_ANSWER = ("The loop stops one row early: `range(len(rows) - 1)` skips the last index. Iterate "
                "over `rows` directly and the failing test passes.")


def _usage_openai(prompt_chars: int, cached_chars: int, out_chars: int) -> dict:
    # OpenAI caches in steps of 128 tokens from 1024 on; 4 characters a token is close enough here.
    prompt, cached = prompt_chars // 4, cached_chars // 4
    cached = cached // 128 * 128 if cached >= 1024 else 0
    return {"prompt_tokens": prompt, "completion_tokens": out_chars // 4, "total_tokens": prompt + out_chars // 4,
            "prompt_tokens_details": {"cached_tokens": min(cached, prompt)}}


def _usage_anthropic(prompt_chars: int, cached_chars: int, out_chars: int) -> dict:
    prompt, cached = prompt_chars // 4, cached_chars // 4
    return {"input_tokens": prompt - cached, "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0, "output_tokens": out_chars // 4}


def _request_bodies(rng: random.Random) -> list[dict]:
    """Two sessions of the same task: one through the OpenAI API, one through Anthropic's,
    each line `{"timestamp", "session_id", "request": body, "response": completion}`."""
    clock = _Clock(rng, 3000, 12000)
    openai_tools = [{"type": "function", "function": {
        "name": n, "description": d, "parameters": {"type": "object", "properties": p, "required": list(p)}}}
        for n, d, p in _BODY_TOOLS]
    anthropic_tools = [{"name": n, "description": d,
                        "input_schema": {"type": "object", "properties": p, "required": list(p)}}
                       for n, d, p in _BODY_TOOLS]
    # The system prompt is long enough for provider caching to show in the usage.
    system = _BODY_SYSTEM + "\n\n" + "\n".join(
        f"- Rule {k + 1}: {_OPENCODE_PROSE.split(chr(10))[k % 20]}" for k in range(40))
    o_msgs: list[dict] = [{"role": "system", "content": system}]
    a_msgs: list[dict] = []
    records: list[tuple[int, dict]] = []
    o_prev = a_prev = 0
    for step, (user, tool, args, result) in enumerate(_BODY_STEPS):
        if user is not None:
            o_msgs.append({"role": "user", "content": user})
            a_msgs.append({"role": "user", "content": user})
        o_body = {"model": "gpt-4o-2024-08-06", "messages": [dict(m) for m in o_msgs], "tools": openai_tools}
        a_body = {"model": "claude-sonnet-4-5", "max_tokens": 4096, "system": system,
                  "messages": [dict(m) for m in a_msgs], "tools": anthropic_tools}
        o_chars, a_chars = len(json.dumps(o_body)), len(json.dumps(a_body))
        call_id = f"call_{_hex(rng, 12)}"
        if tool is None:
            o_resp_msg = {"role": "assistant", "content": _BODY_ANSWER}
            a_content: list[dict] = [{"type": "text", "text": _BODY_ANSWER}]
            out_chars = len(_BODY_ANSWER)
        else:
            o_resp_msg = {"role": "assistant", "content": None, "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": tool, "arguments": json.dumps(args)}}]}
            a_content = [{"type": "text", "text": "Let me look."},
                         {"type": "tool_use", "id": f"toolu_{_hex(rng, 12)}", "name": tool, "input": args}]
            out_chars = len(json.dumps(args))
        t = clock.next()
        records.append((t, {"timestamp": t, "session_id": "openai-1", "request": o_body, "response": {
            "id": f"chatcmpl-{_hex(rng, 16)}", "object": "chat.completion", "created": t // 1000,
            "model": o_body["model"], "choices": [{"index": 0, "message": o_resp_msg,
                                                   "finish_reason": "tool_calls" if tool else "stop"}],
            "usage": _usage_openai(o_chars, o_prev, out_chars)}}))
        records.append((t + 700, {"timestamp": t + 700, "session_id": "anthropic-1", "request": a_body,
                                  "response": {"id": f"msg_{_hex(rng, 16)}", "type": "message", "role": "assistant",
                                               "model": a_body["model"], "content": a_content,
                                               "stop_reason": "tool_use" if tool else "end_turn",
                                               "usage": _usage_anthropic(a_chars, a_prev, out_chars)}}))
        o_prev, a_prev = o_chars, a_chars
        if tool is not None:
            o_msgs.append(o_resp_msg)
            o_msgs.append({"role": "tool", "tool_call_id": call_id, "content": result})
            a_msgs.append({"role": "assistant", "content": a_content})
            a_msgs.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": a_content[1]["id"], "content": result}]})
    return [r for _, r in sorted(records, key=lambda x: x[0])]
