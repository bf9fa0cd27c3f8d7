"""Record formats: detection, chat templates, containers, folders, hashed traces, tokenizers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracetui.report.cli import main
from tracetui.core.blocks import split_blocks
from tracetui.core.diagnose import provider_usage
from tracetui.core.formats import FORMATS, Converter, FormatOptions, detect
from tracetui.core.formats.loader import read_traces
from tracetui.core.model import TraceError
from tracetui.core.tokenizer import load_tokenizer, tokenizer_for_model, tokenizer_for_models

from .paths import TRACES, need, sample

TOOL = {"type": "function", "function": {"name": "calc", "description": "Calculate",
                                         "parameters": {"type": "object", "properties": {"e": {"type": "string"}}}}}
OPENAI = {"model": "gpt-4o", "tools": [TOOL], "messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": "{\"e\": \"2+2\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "4"},
]}
ANTHROPIC = {"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "Be brief.", "messages": [
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "calc", "input": {"e": "2+2"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "4"}]},
], "tools": [{"name": "calc", "description": "Calculate",
              "input_schema": {"type": "object", "properties": {"e": {"type": "string"}}}}]}

TOOLS_SECTION = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
    '{"type": "function", "function": {"name": "calc", "description": "Calculate", "parameters": '
    '{"type": "object", "properties": {"e": {"type": "string"}}}}}\n</tools>\n\n'
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)
CALL = '<tool_call>\n{"name": "calc", "arguments": {"e": "2+2"}}\n</tool_call>'


def write_lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def read(tmp_path, records, **options):
    return read_traces(str(write_lines(tmp_path / "t.jsonl", records)), FormatOptions(**options))


# --- templates ----------------------------------------------------------------


def test_chatml_renders_tools_calls_and_results(tmp_path):
    (r,) = read(tmp_path, [OPENAI]).requests
    assert r.input == (
        f"<|im_start|>system\nBe brief.\n\n{TOOLS_SECTION}<|im_end|>\n"
        "<|im_start|>user\n2+2?<|im_end|>\n"
        f"<|im_start|>assistant\n{CALL}<|im_end|>\n"
        "<|im_start|>tool\n4<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert r.model == "gpt-4o"


def test_anthropic_renders_as_the_same_chat(tmp_path):
    # The same conversation sent to either API is the same prompt under one template.
    for template in ("chatml", "qwen", "qwen3", "llama3"):
        a, b = read(tmp_path, [OPENAI, ANTHROPIC], template=template).requests
        assert a.input == b.input, template


def test_qwen_groups_tool_results_and_has_a_default_system(tmp_path):
    body = {"model": "qwen3", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "ok", "tool_calls": [
            {"function": {"name": "a", "arguments": "{}"}}, {"function": {"name": "b", "arguments": "{}"}}]},
        {"role": "tool", "content": "A"}, {"role": "tool", "content": "B"}]}
    (r,) = read(tmp_path, [body], template="qwen").requests
    assert r.input == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\ngo<|im_end|>\n"
        '<|im_start|>assistant\nok\n<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>'
        '\n<tool_call>\n{"name": "b", "arguments": {}}\n</tool_call><|im_end|>\n'
        "<|im_start|>user\n<tool_response>\nA\n</tool_response>\n<tool_response>\nB\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_llama3_template(tmp_path):
    (r,) = read(tmp_path, [OPENAI], template="llama3").requests
    assert r.input.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                              "Environment: ipython\nCutting Knowledge Date: December 2023\n"
                              "Today Date: 26 Jul 2024\n\nBe brief.<|eot_id|>"
                              "<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions")
    assert r.input.endswith('2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n'
                            '{"name": "calc", "parameters": {"e": "2+2"}}<|eot_id|>'
                            '<|start_header_id|>ipython<|end_header_id|>\n\n"4"<|eot_id|>'
                            "<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert '    "function": {\n        "name": "calc",' in r.input  # tojson(indent=4)


def test_json_template_is_the_body_as_sent(tmp_path):
    (r,) = read(tmp_path, [OPENAI], template="json").requests
    assert json.loads(r.input) == OPENAI and r.input_doc == OPENAI


@pytest.mark.parametrize("template", ["chatml", "qwen", "qwen3", "llama3", "json"])
def test_splitter_keeps_message_boundaries(tmp_path, template):
    for r in read(tmp_path, [OPENAI, ANTHROPIC], template=template).requests:
        blocks = split_blocks(r.input, r.input_doc)
        assert blocks[0].start == 0 and blocks[-1].end == len(r.input)
        roles = [b.role for b in blocks if b.kind in ("history", "current")]
        # user, assistant (the tool call), tool result: one block each (Qwen's result is a user turn)
        assert roles[-3:-1] == ["user", "assistant"], (template, roles)
        assert [b.kind for b in blocks].count("current") == 1


def test_images_are_stand_ins_that_tell_sources_apart(tmp_path):
    def body(url):
        return {"model": "gpt-4o", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": url}}]}]}
    a, b, c = read(tmp_path, [body("data:1"), body("data:1"), body("data:2")]).requests
    assert a.input == b.input != c.input
    assert "data:" not in a.input and "<image " in a.input


# --- containers, usage, sessions ----------------------------------------------


def test_wrapped_request_response_gives_output_and_usage(tmp_path):
    rec = {"request": OPENAI, "response": {
        "created": 1767225600, "choices": [{"message": {"role": "assistant", "content": "4."}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 64}}}}
    (r,) = read(tmp_path, [rec]).requests
    assert r.output == "4.<|im_end|>"
    assert r.timestamp == 1767225600
    u = provider_usage(r.usage, 0)
    assert (u.prompt_tokens, u.cached_tokens) == (100, 64)


def test_anthropic_wrapped_usage(tmp_path):
    rec = {"request": ANTHROPIC, "response": {"type": "message", "content": [{"type": "text", "text": "4."}],
                                             "usage": {"input_tokens": 10, "cache_read_input_tokens": 90}}}
    (r,) = read(tmp_path, [rec]).requests
    assert r.output == "4.<|im_end|>"
    u = provider_usage(r.usage, 0)
    assert (u.prompt_tokens, u.cached_tokens) == (100, 90)


def test_batch_input_and_output_files_are_joined(tmp_path):
    d = tmp_path / "batch"
    d.mkdir()
    write_lines(d / "a_input.jsonl", [
        {"custom_id": f"r{k}", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": f"q{k}"}]}} for k in range(3)])
    write_lines(d / "b_output.jsonl", [
        {"id": "x", "custom_id": f"r{k}", "response": {"status_code": 200, "body": {
            "choices": [{"message": {"role": "assistant", "content": f"a{k}"}}],
            "usage": {"prompt_tokens": 9, "prompt_tokens_details": {"cached_tokens": k}}}}} for k in (2, 0)])
    t = read_traces(str(d))
    assert [r.request_id for r in t.requests] == ["r0", "r1", "r2"]
    assert [r.output for r in t.requests] == ["a0<|im_end|>", "", "a2<|im_end|>"]
    assert [r.index for r in t.requests] == [0, 1, 2]
    assert t.requests[2].usage["prompt_tokens_details"]["cached_tokens"] == 2
    with pytest.raises(TraceError, match="batch input"):
        read_traces(str(d / "b_output.jsonl"))


def test_folder_files_are_sessions_sorted_by_name(tmp_path, capsys):
    d = tmp_path / "logs"
    d.mkdir()
    write_lines(d / "b.jsonl", [OPENAI])
    write_lines(d / "a.jsonl", [ANTHROPIC, ANTHROPIC])
    write_lines(d / "c.jsonl", [{"input": "hi", "session_id": "s"}])
    (d / "notes.txt").write_text("not a trace")
    t = read_traces(str(d))
    assert [r.session_id for r in t.requests] == ["a.jsonl", "a.jsonl", "b.jsonl", "s"]
    assert t.name == "logs" and t.formats == ("anthropic", "openai", "prompt")
    same = read_traces([str(d / "a.jsonl"), str(d / "b.jsonl"), str(d / "c.jsonl")])
    assert [r.input for r in same.requests] == [r.input for r in t.requests]
    assert main(["analyze", str(d / "a.jsonl"), str(d / "b.jsonl"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["requests"] == 3 and doc["sessions"] == 2 and doc["formats"] == ["anthropic", "openai"]


def test_single_file_keeps_no_session(tmp_path):
    assert read(tmp_path, [OPENAI]).requests[0].session_id is None


def test_format_override_skips_what_does_not_fit(tmp_path):
    t = read(tmp_path, [OPENAI, {"input": "plain"}], format="openai")
    assert len(t.requests) == 1 and t.skipped_lines == (2,)
    t = read(tmp_path, [OPENAI, ANTHROPIC], format="anthropic")
    assert t.formats == ("anthropic",) and len(t.requests) == 2


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    p = write_lines(tmp_path / "t.jsonl", [OPENAI])
    assert main(["analyze", str(p), "--format", "nope"]) == 2
    assert main(["analyze", str(p), "--template", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("tracetui: error:") for e in err)


def test_a_stray_record_of_the_other_kind_costs_only_its_line(tmp_path):
    # Text and hashed records cannot be replayed together: the kind most requests have stays.
    mooncake = {"timestamp": 0, "input_length": 5, "output_length": 1, "hash_ids": [1]}
    t = read(tmp_path, [OPENAI, mooncake, OPENAI])
    assert len(t.requests) == 2 and t.formats == ("openai",) and t.skipped_lines == (2,)
    assert any("1 line (2) skipped: mooncake records" in w for w in t.warnings), t.warnings
    t = read(tmp_path, [mooncake, OPENAI, mooncake])
    assert len(t.requests) == 2 and t.formats == ("mooncake",) and t.skipped_lines == (2,)
    assert all(r.hashed is not None for r in t.requests) and t.block_size is not None
    t = read(tmp_path, [mooncake, OPENAI])  # a tie keeps the text
    assert [r.hashed for r in t.requests] == [None]


# --- detection never takes one format for another -----------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_ids = st.lists(st.integers(0, 10**6), min_size=1, max_size=8)
_n = st.integers(0, 10**5)


def _openai_msg():
    return st.one_of(
        st.builds(lambda c: {"role": "user", "content": c}, _text),
        st.builds(lambda c: {"role": "system", "content": c}, _text),
        st.builds(lambda c: {"role": "user", "content": [{"type": "text", "text": c}]}, _text),
        st.builds(lambda n, a: {"role": "assistant", "content": None, "tool_calls": [
            {"id": "x", "type": "function", "function": {"name": n, "arguments": a}}]}, _text, _text),
        st.builds(lambda c: {"role": "tool", "tool_call_id": "x", "content": c}, _text))


def _anthropic_body():
    block = st.one_of(
        st.builds(lambda c: {"type": "tool_result", "tool_use_id": "x", "content": c}, _text),
        st.builds(lambda n: {"type": "tool_use", "id": "x", "name": n, "input": {}}, _text))
    return st.builds(lambda s, b, m: {"model": m, "max_tokens": 10, "system": s,
                                      "messages": [{"role": "user", "content": [b]}]}, _text, block, _text)


_openai_body = st.builds(lambda m, ms: {"model": m, "messages": ms}, _text, st.lists(_openai_msg(), max_size=4))

RECORDS = {
    "prompt": st.builds(lambda i, o, s: {"input": i, "output": o, "session_id": s, "timestamp": 1}, _text, _text,
                        _text),
    "openai": st.one_of(
        _openai_body,
        st.builds(lambda b: {"request": b, "response": {"choices": [{"message": {"content": "x"}}]}}, _openai_body),
        st.builds(lambda b, c: {"custom_id": c, "method": "POST", "url": "/v1/chat/completions", "body": b},
                  _openai_body, _text),
        st.builds(lambda c: {"custom_id": c, "response": {"status_code": 200, "body": {
            "choices": [{"message": {"content": "x"}}]}}}, _text)),
    "anthropic": st.one_of(_anthropic_body(),
                           st.builds(lambda b: {"request": b, "response": {"type": "message", "content": []}},
                                     _anthropic_body())),
    "mooncake": st.builds(lambda t, i, o, h: {"timestamp": t, "input_length": i, "output_length": o, "hash_ids": h},
                          _n, _n, _n, _ids),
    "bailian": st.builds(lambda c, p, t, i, o, h: {"chat_id": c, "parent_chat_id": p, "timestamp": t / 7,
                                                   "input_length": i, "output_length": o, "type": "text",
                                                   "turn": 1, "hash_ids": h}, _n, _n, _n, _n, _n, _ids),
    "servegen": st.builds(lambda r, i, h: {"request_id": r, "input_length": i, "hash_ids": h}, _n, _n, _ids),
    "claude-code": st.builds(lambda b, h: {"id": "t", "block_size": b, "hash_id_scope": "local",
                                           "requests": [{"t": 0.0, "type": "n", "in": 5, "out": 1, "hash_ids": h}]},
                             st.integers(1, 512), _ids),
}


def test_every_format_has_records():
    assert set(RECORDS) == set(FORMATS)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(RECORDS)).flatmap(lambda f: st.tuples(st.just(f), RECORDS[f])))
def test_detection_never_confuses_formats(case):
    fmt, rec = case
    assert detect(rec) == fmt
    assert Converter()(rec, 0, 1) is not None  # and the record is read, not skipped


# --- hashed traces ------------------------------------------------------------


def test_mooncake_trace():
    t = read_traces(str(need(TRACES / "mooncake" / "conversation_trace.jsonl")))
    assert t.formats == ("mooncake",) and t.block_size == 512 and len(t.requests) == 12031
    r = t.requests[0]
    assert r.hashed.input_length == 6758 and r.hashed.output_length == 500
    assert len(r.hashed.block_ids) == 14 and r.hashed.full_blocks == 6758 // 512


def test_hash_block_size_option(tmp_path):
    t = read(tmp_path, [{"timestamp": 0, "input_length": 40, "output_length": 1, "hash_ids": [7, 8, 9]}],
             hash_block_size=16)
    assert t.block_size == 16 and t.requests[0].hashed.full_blocks == 2


def test_claude_code_subagents_are_sessions_in_time_order(tmp_path):
    doc = {"id": "tr", "block_size": 64, "hash_id_scope": "local", "requests": [
        {"t": 0.0, "type": "n", "in": 130, "out": 5, "hash_ids": [1, 2, 3]},
        {"t": 10.0, "type": "subagent", "requests": [
            {"t": 0.0, "type": "n", "in": 64, "out": 1, "hash_ids": [9]},
            {"t": 30.0, "type": "n", "in": 64, "out": 1, "hash_ids": [9]}]},
        {"t": 20.0, "type": "n", "in": 200, "out": 5, "hash_ids": [1, 2, 3, 4]},
    ]}
    (tmp_path / "a.json").write_text(json.dumps(doc))
    (tmp_path / "b.json").write_text(json.dumps(doc))
    t = read_traces(str(tmp_path))
    assert [r.timestamp for r in t.requests[:4]] == [0.0, 10.0, 20.0, 40.0]
    assert [r.session_id for r in t.requests[:4]] == ["tr", "tr/subagent 1", "tr", "tr/subagent 1"]
    assert t.block_size == 64 and len(t.requests) == 8
    # Local scope: the second file's ids are its own.
    a, b = t.requests[0].hashed.block_ids, t.requests[4].hashed.block_ids
    assert len(a) == len(b) == 3 and not set(a) & set(b)


def test_real_claude_code_traces():
    d = need(TRACES / "claude-code-hashed")
    t = read_traces(str(d))
    assert t.formats == ("claude-code",) and t.block_size == 64
    times = {}
    for r in t.requests:
        assert r.hashed.full_blocks == min(r.hashed.input_length // 64, len(r.hashed.block_ids))
        times.setdefault(r.session_id.split("/")[0], []).append(r.timestamp)
    assert len(times) == 5 and all(ts == sorted(ts) for ts in times.values())


def test_bailian_sessions_follow_parent_chats(tmp_path):
    recs = [{"chat_id": 1, "parent_chat_id": -1, "timestamp": 0.5, "input_length": 20, "output_length": 3,
             "type": "text", "turn": 1, "hash_ids": [1, 2]},
            {"chat_id": 2, "parent_chat_id": -1, "timestamp": 1.0, "input_length": 20, "output_length": 3,
             "type": "text", "turn": 1, "hash_ids": [5, 6]},
            {"chat_id": 3, "parent_chat_id": 1, "timestamp": 2.0, "input_length": 40, "output_length": 3,
             "type": "text", "turn": 2, "hash_ids": [1, 2, 3]},
            {"chat_id": 4, "parent_chat_id": 3, "timestamp": 3.0, "input_length": 60, "output_length": 3,
             "type": "text", "turn": 3, "hash_ids": [1, 2, 3, 4]}]
    t = read(tmp_path, recs)
    assert t.block_size == 16 and [r.session_id for r in t.requests] == ["chat 1", "chat 2", "chat 1", "chat 1"]
    assert t.requests[3].hashed.block_ids[:3] == t.requests[2].hashed.block_ids


# --- tokenizers ---------------------------------------------------------------

HELLO = "Hello world, this is a test."


def test_o200k_base_offline():
    assert load_tokenizer("o200k_base").encode(HELLO).tolist() == [13225, 2375, 11, 495, 382, 261, 1746, 13]


@pytest.mark.parametrize("spec, ids", [("llama3", [9906, 1917, 11, 420, 374, 264, 1296, 13]),
                                       ("qwen", [9707, 1879, 11, 419, 374, 264, 1273, 13])])
def test_optional_vocabularies(spec, ids):
    pytest.importorskip("quicktok")
    tok = load_tokenizer(spec)
    assert tok.encode(HELLO).tolist() == ids
    assert [a.tolist() for a in tok.encode_batch([HELLO, "", HELLO])] == [ids, [], ids]
    assert b"".join(tok.token_bytes(t) for t in ids) == HELLO.encode()
    # Special-token text is plain text.
    assert len(tok.encode("<|im_start|>")) > 1


@pytest.mark.parametrize("model, spec", [
    ("gpt-4o-mini", "o200k_base"), ("gpt-4.1", "o200k_base"), ("gpt-5-mini", "o200k_base"), ("o1", "o200k_base"),
    ("o3-mini", "o200k_base"), ("o4-mini", "o200k_base"), ("gpt-4", "cl100k_base"), ("gpt-4-turbo", "cl100k_base"),
    ("gpt-3.5-turbo", "cl100k_base"), ("meta-llama/Llama-3.1-8B-Instruct", "llama3"),
    ("Qwen/Qwen2.5-7B-Instruct", "qwen"), ("qwen3-32b", "qwen"), ("claude-opus-4-5", None), ("o1x", None)])
def test_tokenizer_for_model(model, spec):
    assert tokenizer_for_model(model) == spec


def test_auto_notes_models_without_a_public_tokenizer():
    spec, note = tokenizer_for_models({"claude-opus-4-5": 3})
    assert spec == "cl100k_base" and "no public tokenizer for claude-opus-4-5" in note
    assert tokenizer_for_models({"gpt-5-mini": 1}) == ("o200k_base", "")


@pytest.mark.parametrize("name", ["gpt-5-mini-task1.jsonl", "gpt-5-mini-task2.jsonl"])
def test_auto_on_opencode_uses_o200k(name, capsys):
    path = need(TRACES / "opencode" / name)
    assert main(["analyze", str(path), "--tokenizer", "auto", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["tokenizer"] == "o200k_base" and doc["tokenizer_note"] is None
    assert main(["analyze", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["tokenizer"] == "cl100k_base" and "--tokenizer o200k_base" in doc["tokenizer_note"]


# --- the study model on hashed traces -------------------------------------------


def _leading_seen(trace) -> list[int]:
    """Brute force: per request, tokens of the leading full blocks seen in an earlier request."""
    seen: set[int] = set()
    out = []
    for r in trace.requests:
        full = r.hashed.block_ids[: r.hashed.full_blocks]
        k = 0
        while k < len(full) and full[k] in seen:
            k += 1
        out.append(k * trace.block_size)
        seen.update(full)
    return out


@pytest.mark.parametrize("source", ["mooncake", "claude-code"])
def test_hashed_unlimited_prefix_is_leading_blocks_seen_before(tmp_path, source):
    from tracetui.core.pipeline import Settings, load

    if source == "mooncake":
        lines = need(TRACES / "mooncake" / "conversation_trace.jsonl").read_text().splitlines()[:400]
        path = tmp_path / "mooncake.jsonl"
        path.write_text("\n".join(lines) + "\n")
    else:
        path = need(TRACES / "claude-code-hashed" / "trace_0012.json")
    loaded = load(str(path), Settings(pool_sizes=("unlimited", "1")))
    a, t = loaded.analysis, loaded.trace
    assert a.unlimited.prefix_hits.tolist() == _leading_seen(t)
    assert a.input_lens.tolist() == [r.hashed.input_length for r in t.requests]
    assert a.chunk_size == t.block_size
    small = a.pools[1]
    assert (small.prefix_hits <= a.unlimited.prefix_hits).all() and small.prefix_hits.sum() % t.block_size == 0


def test_hashed_analyze_cli(capsys):
    path = need(TRACES / "claude-code-hashed" / "trace_0012.json")
    assert main(["analyze", str(path), "--json", "--pool-sizes", "unlimited"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["block_size"] == 64 and doc["tokenizer"] is None and doc["formats"] == ["claude-code"]
    assert 0 < doc["unlimited"]["prefix_hit_rate"] < 1


def test_hashed_breaks_are_the_first_missed_block(tmp_path):
    from tracetui.core.diagnose import diagnose
    from tracetui.core.pipeline import Settings, load

    def rec(chat, parent, ids, n):
        return {"chat_id": chat, "parent_chat_id": parent, "timestamp": chat, "input_length": n,
                "output_length": 5, "type": "text", "turn": 1, "hash_ids": ids}
    path = write_lines(tmp_path / "b.jsonl", [
        rec(1, -1, [1, 2, 3], 48),           # first request
        rec(2, 1, [1, 2, 3, 4, 5], 80),      # appends to its parent
        rec(3, 2, [1, 2, 9, 10, 11], 80),    # block 2 changed inside the session
        rec(4, -1, [1, 2, 20], 48),          # a new session sharing two blocks: not `new`
        rec(5, -1, [], 0),                   # no input: `empty`, not `append`
    ])
    loaded = load(str(path), Settings(pool_sizes=("unlimited",)))
    breaks = diagnose(loaded)
    assert [(b.cause, b.description, b.prefix) for b in breaks] == [
        ("new", "first request", 0),
        ("append", "continues the source entry", 48),
        ("edit", "block changed inside the session", 32),
        ("edit", "new session: block changed after the shared prefix", 32),
        ("empty", "no input tokens", 0),
    ]
    assert not breaks[4].is_breaker
    assert [b.source >= 0 for b in breaks][:4] == [False, True, True, True]
    assert [b.tokens_lost for b in breaks] == [48, 32, 48, 16, 0]


def test_coarse_blocks_are_runs_of_ids():
    from tracetui.core.blockstudy import coarse_blocks
    from tracetui.core.model import HashedInput

    h = HashedInput((1, 2, 3, 4, 5), 5 * 16 - 3, 7, 4)
    assert coarse_blocks(h, 1) is h
    assert coarse_blocks(h, 2) == HashedInput((2, 4, 5), 77, 7, 2)
    assert coarse_blocks(h, 4) == HashedInput((4, 5), 77, 7, 1)
    assert coarse_blocks(HashedInput((1, 2, 3, 4), 64, 0, 4), 2) == HashedInput((2, 4), 64, 0, 2)
    assert coarse_blocks(h, 8) == HashedInput((5,), 77, 7, 0)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.just(10**400) | st.floats(allow_nan=False) | _text,
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
                         st.sampled_from(["role", "content", "type", "text", "tool_calls", "function", "name",
                                          "arguments", "input", "tool_use_id", "messages", "system", "tools",
                                          "body", "response", "choices", "message", "usage", "hash_ids",
                                          "requests", "t", "in", "out", "block_size", "custom_id", "result",
                                          "input_length", "output_length", "chat_id", "request"]),
                         kids, max_size=5), max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["messages", "request", "response", "custom_id", "body", "system",
                                        "tools", "model", "hash_ids", "input_length", "requests",
                                        "block_size", "chat_id", "timestamp", "params", "result"]),
                       _json, max_size=6),
       st.sampled_from([None, *FORMATS]), st.sampled_from(["chatml", "qwen", "qwen3", "llama3", "json"]))
def test_converter_never_raises_on_odd_records(rec, fmt, template):
    reqs = Converter(FormatOptions(format=fmt, template=template))(rec, 0, 1)
    assert reqs is None or all(isinstance(r.input, str) and isinstance(r.output, str) for r in reqs)


def test_hashed_session_figures_within_are_the_session_read_alone(tmp_path):
    """A hashed session's "within" figures are those of its requests read as a trace of their
    own, in tokens (they once came back in blocks: 1/B of the truth)."""
    from tracetui.core.diagnose import session_stats
    from tracetui.core.pipeline import Settings, load

    path = sample("bailian_hashed.jsonl")
    lines = path.read_text().splitlines()
    loaded = load(str(path), Settings(pool_sizes=("unlimited",)))
    stats = {s.session: s for s in session_stats(loaded)}
    assert len(stats) > 1
    for sid in list(stats)[:6]:
        own = [lines[r.line - 1] for r in loaded.trace.requests if r.session_id == sid]
        alone = load(str(write_lines(tmp_path / "s.jsonl", [json.loads(x) for x in own])),
                     Settings(pool_sizes=("unlimited",), cache=False)).analysis
        assert stats[sid].within_prefix_hits == int(alone.unlimited.prefix_hits.sum())
        assert stats[sid].within_substring_hits == int(alone.unlimited.substring_hits.sum())
