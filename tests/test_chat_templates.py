"""--template llama3 / qwen / qwen3 against the published chat templates.

The expected texts below were rendered from the `chat_template` of Meta-Llama-3.1-8B-Instruct,
Qwen2.5-7B-Instruct and Qwen3-8B (tokenizer_config.json) with jinja2, as transformers applies
them (trim_blocks, lstrip_blocks, tojson without ASCII escapes, add_generation_prompt) to
the messages vLLM hands them (tool-call arguments parsed to objects, text parts joined by
newlines). The templates themselves are not in this repository: only what they render.
"""

from __future__ import annotations

import json

import pytest

from tracetui.core.formats.anthropic import chat_of as anthropic_chat
from tracetui.core.formats.chat import Message, render_output, render_prompt
from tracetui.core.formats.openai import chat_of

TOOL = {"type": "function", "function": {"name": "calc", "description": "Calculate é", "parameters": {
    "type": "object", "properties": {"e": {"type": "string"}}, "required": ["e"]}}}


def call(name, args, i="c1"):
    return {"id": i, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


CASES = {
    "plain": {"messages": [{"role": "system", "content": "Be brief. "}, {"role": "user", "content": " Hi there\n"},
                           {"role": "assistant", "content": "Hello! "}, {"role": "user", "content": "Weather? ünï"}]},
    "nosystem": {"messages": [{"role": "user", "content": "Hi"}]},
    "tools": {"tools": [TOOL], "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": None, "tool_calls": [call("calc", {"e": "2+2"})]},
        {"role": "tool", "tool_call_id": "c1", "content": "4"}]},
    "tools_nosys": {"tools": [TOOL], "messages": [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "Let me see.", "tool_calls": [call("calc", {"e": "2+2"})]},
        {"role": "tool", "tool_call_id": "c1", "content": "4"},
        {"role": "assistant", "content": "It is 4."}, {"role": "user", "content": "thanks"}]},
    "two_calls": {"tools": [TOOL], "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": [call("calc", {"e": "1"}), call("calc", {"e": "2"}, "c2")]},
        {"role": "tool", "content": "A"}, {"role": "tool", "content": "B"}]},
    "tool_json": {"tools": [TOOL], "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("calc", {"e": "1", "n": [1, 2]})]},
        {"role": "tool", "content": "{\"x\": 1}"}]},
    "think_history": {"messages": [
        {"role": "user", "content": "q1"}, {"role": "assistant", "content": "<think>\nr1\n</think>\n\na1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "<think>r2</think>a2", "tool_calls": [call("calc", {"e": "1"})]},
        {"role": "tool", "content": "x"}, {"role": "assistant", "content": "no think"}, {"role": "tool", "content": "y"}]},
    "reasoning_field": {"messages": [
        {"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1", "reasoning_content": "r1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "", "reasoning_content": "\nr2\n", "tool_calls": [call("calc", {"e": "1"})]},
        {"role": "tool", "content": "x"}]},
    "tools_assistant_first": {"tools": [TOOL], "messages": [
        {"role": "system", "content": "s"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "u"}]},
    "later_system": {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"},
                                  {"role": "user", "content": "c"}]},
}

PUBLISHED = {
    ('llama3', 'plain'): (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
        "\n"
        "Cutting Knowledge Date: December 2023\n"
        "Today Date: 26 Jul 2024\n"
        "\n"
        "Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
        "\n"
        "Hi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
        "\n"
        "Hello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
        "\n"
        "Weather? ünï<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
        "\n"
    ),
    ('llama3', 'tools'): (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
        "\n"
        "Environment: ipython\n"
        "Cutting Knowledge Date: December 2023\n"
        "Today Date: 26 Jul 2024\n"
        "\n"
        "Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
        "\n"
        "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n"
        "\n"
        "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n"
        "\n"
        "{\n"
        "    \"type\": \"function\",\n"
        "    \"function\": {\n"
        "        \"name\": \"calc\",\n"
        "        \"description\": \"Calculate é\",\n"
        "        \"parameters\": {\n"
        "            \"type\": \"object\",\n"
        "            \"properties\": {\n"
        "                \"e\": {\n"
        "                    \"type\": \"string\"\n"
        "                }\n"
        "            },\n"
        "            \"required\": [\n"
        "                \"e\"\n"
        "            ]\n"
        "        }\n"
        "    }\n"
        "}\n"
        "\n"
        "2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
        "\n"
        "{\"name\": \"calc\", \"parameters\": {\"e\": \"2+2\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n"
        "\n"
        "\"4\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
        "\n"
    ),
    ('llama3', 'tools_nosys'): (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
        "\n"
        "Environment: ipython\n"
        "Cutting Knowledge Date: December 2023\n"
        "Today Date: 26 Jul 2024\n"
        "\n"
        "<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
        "\n"
        "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n"
        "\n"
        "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n"
        "\n"
        "{\n"
        "    \"type\": \"function\",\n"
        "    \"function\": {\n"
        "        \"name\": \"calc\",\n"
        "        \"description\": \"Calculate é\",\n"
        "        \"parameters\": {\n"
        "            \"type\": \"object\",\n"
        "            \"properties\": {\n"
        "                \"e\": {\n"
        "                    \"type\": \"string\"\n"
        "                }\n"
        "            },\n"
        "            \"required\": [\n"
        "                \"e\"\n"
        "            ]\n"
        "        }\n"
        "    }\n"
        "}\n"
        "\n"
        "2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
        "\n"
        "{\"name\": \"calc\", \"parameters\": {\"e\": \"2+2\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n"
        "\n"
        "\"4\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
        "\n"
        "It is 4.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
        "\n"
        "thanks<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
        "\n"
    ),
    ('llama3', 'tool_json'): (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
        "\n"
        "Environment: ipython\n"
        "Cutting Knowledge Date: December 2023\n"
        "Today Date: 26 Jul 2024\n"
        "\n"
        "<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
        "\n"
        "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n"
        "\n"
        "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n"
        "\n"
        "{\n"
        "    \"type\": \"function\",\n"
        "    \"function\": {\n"
        "        \"name\": \"calc\",\n"
        "        \"description\": \"Calculate é\",\n"
        "        \"parameters\": {\n"
        "            \"type\": \"object\",\n"
        "            \"properties\": {\n"
        "                \"e\": {\n"
        "                    \"type\": \"string\"\n"
        "                }\n"
        "            },\n"
        "            \"required\": [\n"
        "                \"e\"\n"
        "            ]\n"
        "        }\n"
        "    }\n"
        "}\n"
        "\n"
        "go<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
        "\n"
        "{\"name\": \"calc\", \"parameters\": {\"e\": \"1\", \"n\": [1, 2]}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n"
        "\n"
        "\"{\\\"x\\\": 1}\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
        "\n"
    ),
    ('llama3', 'reasoning_field'): (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
        "\n"
        "Cutting Knowledge Date: December 2023\n"
        "Today Date: 26 Jul 2024\n"
        "\n"
        "<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
        "\n"
        "q1<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
        "\n"
        "a1<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
        "\n"
        "q2<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
        "\n"
        "{\"name\": \"calc\", \"parameters\": {\"e\": \"1\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n"
        "\n"
        "\"x\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
        "\n"
    ),
    ('llama3', 'tools_assistant_first'): (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
        "\n"
        "Environment: ipython\n"
        "Cutting Knowledge Date: December 2023\n"
        "Today Date: 26 Jul 2024\n"
        "\n"
        "s<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
        "\n"
        "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n"
        "\n"
        "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n"
        "\n"
        "{\n"
        "    \"type\": \"function\",\n"
        "    \"function\": {\n"
        "        \"name\": \"calc\",\n"
        "        \"description\": \"Calculate é\",\n"
        "        \"parameters\": {\n"
        "            \"type\": \"object\",\n"
        "            \"properties\": {\n"
        "                \"e\": {\n"
        "                    \"type\": \"string\"\n"
        "                }\n"
        "            },\n"
        "            \"required\": [\n"
        "                \"e\"\n"
        "            ]\n"
        "        }\n"
        "    }\n"
        "}\n"
        "\n"
        "hello<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
        "\n"
        "u<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
        "\n"
    ),
    ('qwen', 'plain'): (
        "<|im_start|>system\n"
        "Be brief. <|im_end|>\n"
        "<|im_start|>user\n"
        " Hi there\n"
        "<|im_end|>\n"
        "<|im_start|>assistant\n"
        "Hello! <|im_end|>\n"
        "<|im_start|>user\n"
        "Weather? ünï<|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    ('qwen', 'nosystem'): (
        "<|im_start|>system\n"
        "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n"
        "Hi<|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    ('qwen', 'tools'): (
        "<|im_start|>system\n"
        "Be brief.\n"
        "\n"
        "# Tools\n"
        "\n"
        "You may call one or more functions to assist with the user query.\n"
        "\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n"
        "<tools>\n"
        "{\"type\": \"function\", \"function\": {\"name\": \"calc\", \"description\": \"Calculate é\", \"parameters\": {\"type\": \"object\", \"properties\": {\"e\": {\"type\": \"string\"}}, \"required\": [\"e\"]}}}\n"
        "</tools>\n"
        "\n"
        "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
        "<tool_call>\n"
        "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
        "</tool_call><|im_end|>\n"
        "<|im_start|>user\n"
        "2+2?<|im_end|>\n"
        "<|im_start|>assistant\n"
        "<tool_call>\n"
        "{\"name\": \"calc\", \"arguments\": {\"e\": \"2+2\"}}\n"
        "</tool_call><|im_end|>\n"
        "<|im_start|>user\n"
        "<tool_response>\n"
        "4\n"
        "</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    ('qwen', 'two_calls'): (
        "<|im_start|>system\n"
        "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n"
        "\n"
        "# Tools\n"
        "\n"
        "You may call one or more functions to assist with the user query.\n"
        "\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n"
        "<tools>\n"
        "{\"type\": \"function\", \"function\": {\"name\": \"calc\", \"description\": \"Calculate é\", \"parameters\": {\"type\": \"object\", \"properties\": {\"e\": {\"type\": \"string\"}}, \"required\": [\"e\"]}}}\n"
        "</tools>\n"
        "\n"
        "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
        "<tool_call>\n"
        "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
        "</tool_call><|im_end|>\n"
        "<|im_start|>user\n"
        "go<|im_end|>\n"
        "<|im_start|>assistant\n"
        "<tool_call>\n"
        "{\"name\": \"calc\", \"arguments\": {\"e\": \"1\"}}\n"
        "</tool_call>\n"
        "<tool_call>\n"
        "{\"name\": \"calc\", \"arguments\": {\"e\": \"2\"}}\n"
        "</tool_call><|im_end|>\n"
        "<|im_start|>user\n"
        "<tool_response>\n"
        "A\n"
        "</tool_response>\n"
        "<tool_response>\n"
        "B\n"
        "</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    ('qwen', 'reasoning_field'): (
        "<|im_start|>system\n"
        "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n"
        "q1<|im_end|>\n"
        "<|im_start|>assistant\n"
        "a1<|im_end|>\n"
        "<|im_start|>user\n"
        "q2<|im_end|>\n"
        "<|im_start|>assistant\n"
        "<tool_call>\n"
        "{\"name\": \"calc\", \"arguments\": {\"e\": \"1\"}}\n"
        "</tool_call><|im_end|>\n"
        "<|im_start|>user\n"
        "<tool_response>\n"
        "x\n"
        "</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    ('qwen3', 'nosystem'): (
        "<|im_start|>user\n"
        "Hi<|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    ('qwen3', 'tools_nosys'): (
        "<|im_start|>system\n"
        "# Tools\n"
        "\n"
        "You may call one or more functions to assist with the user query.\n"
        "\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n"
        "<tools>\n"
        "{\"type\": \"function\", \"function\": {\"name\": \"calc\", \"description\": \"Calculate é\", \"parameters\": {\"type\": \"object\", \"properties\": {\"e\": {\"type\": \"string\"}}, \"required\": [\"e\"]}}}\n"
        "</tools>\n"
        "\n"
        "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
        "<tool_call>\n"
        "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
        "</tool_call><|im_end|>\n"
        "<|im_start|>user\n"
        "2+2?<|im_end|>\n"
        "<|im_start|>assistant\n"
        "Let me see.\n"
        "<tool_call>\n"
        "{\"name\": \"calc\", \"arguments\": {\"e\": \"2+2\"}}\n"
        "</tool_call><|im_end|>\n"
        "<|im_start|>user\n"
        "<tool_response>\n"
        "4\n"
        "</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
        "It is 4.<|im_end|>\n"
        "<|im_start|>user\n"
        "thanks<|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    ('qwen3', 'two_calls'): (
        "<|im_start|>system\n"
        "# Tools\n"
        "\n"
        "You may call one or more functions to assist with the user query.\n"
        "\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n"
        "<tools>\n"
        "{\"type\": \"function\", \"function\": {\"name\": \"calc\", \"description\": \"Calculate é\", \"parameters\": {\"type\": \"object\", \"properties\": {\"e\": {\"type\": \"string\"}}, \"required\": [\"e\"]}}}\n"
        "</tools>\n"
        "\n"
        "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
        "<tool_call>\n"
        "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
        "</tool_call><|im_end|>\n"
        "<|im_start|>user\n"
        "go<|im_end|>\n"
        "<|im_start|>assistant\n"
        "<tool_call>\n"
        "{\"name\": \"calc\", \"arguments\": {\"e\": \"1\"}}\n"
        "</tool_call>\n"
        "<tool_call>\n"
        "{\"name\": \"calc\", \"arguments\": {\"e\": \"2\"}}\n"
        "</tool_call><|im_end|>\n"
        "<|im_start|>user\n"
        "<tool_response>\n"
        "A\n"
        "</tool_response>\n"
        "<tool_response>\n"
        "B\n"
        "</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    ('qwen3', 'think_history'): (
        "<|im_start|>user\n"
        "q1<|im_end|>\n"
        "<|im_start|>assistant\n"
        "a1<|im_end|>\n"
        "<|im_start|>user\n"
        "q2<|im_end|>\n"
        "<|im_start|>assistant\n"
        "<think>\n"
        "r2\n"
        "</think>\n"
        "\n"
        "a2\n"
        "<tool_call>\n"
        "{\"name\": \"calc\", \"arguments\": {\"e\": \"1\"}}\n"
        "</tool_call><|im_end|>\n"
        "<|im_start|>user\n"
        "<tool_response>\n"
        "x\n"
        "</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
        "no think<|im_end|>\n"
        "<|im_start|>user\n"
        "<tool_response>\n"
        "y\n"
        "</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    ('qwen3', 'reasoning_field'): (
        "<|im_start|>user\n"
        "q1<|im_end|>\n"
        "<|im_start|>assistant\n"
        "a1<|im_end|>\n"
        "<|im_start|>user\n"
        "q2<|im_end|>\n"
        "<|im_start|>assistant\n"
        "<think>\n"
        "r2\n"
        "</think>\n"
        "\n"
        "<tool_call>\n"
        "{\"name\": \"calc\", \"arguments\": {\"e\": \"1\"}}\n"
        "</tool_call><|im_end|>\n"
        "<|im_start|>user\n"
        "<tool_response>\n"
        "x\n"
        "</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    ('qwen3', 'later_system'): (
        "<|im_start|>user\n"
        "a<|im_end|>\n"
        "<|im_start|>system\n"
        "b<|im_end|>\n"
        "<|im_start|>user\n"
        "c<|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
}


@pytest.mark.parametrize("key", list(PUBLISHED), ids=["-".join(k) for k in PUBLISHED])
def test_rendering_equals_the_published_template(key):
    template, case = key
    assert render_prompt(chat_of(CASES[case]), template) == PUBLISHED[key]


def test_llama3_several_calls_go_on_one_turn_each():
    """Llama 3.1's template refuses an assistant message with two calls; the trace did send
    it, so each call is a turn of its own, as the model would have answered them."""
    text = render_prompt(chat_of(CASES["two_calls"]), "llama3")
    assert ('<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "calc", "parameters": {"e": "1"}}<|eot_id|>'
            '<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "calc", "parameters": {"e": "2"}}<|eot_id|>'
            '<|start_header_id|>ipython<|end_header_id|>\n\n"A"<|eot_id|>') in text


def test_anthropic_thinking_follows_each_template():
    """An Anthropic conversation with thinking: Qwen3 keeps the reasoning only after the last
    user query; Qwen2.5 and Llama 3.1 drop it; ChatML (ours) keeps it as <think>."""
    body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "r1", "signature": "s"},
                                          {"type": "text", "text": "a1"}]},
        {"role": "user", "content": "q2"}]}
    chat = anthropic_chat(body)
    assert "r1" not in render_prompt(chat, "qwen3") and "r1" not in render_prompt(chat, "qwen")
    assert "r1" not in render_prompt(chat, "llama3")
    assert "<think>\nr1\n</think>\n\na1" in render_prompt(chat, "chatml")


@pytest.mark.parametrize("template", ["chatml", "qwen", "qwen3", "llama3"])
def test_output_is_what_follows_the_generation_prompt(template):
    """The completion rendered as the model wrote it is what the next prompt's history holds
    (for a turn with no reasoning, which every template keeps as written)."""
    answer = Message("assistant", "It is 4.")
    body = {"messages": [{"role": "user", "content": "2+2?"}]}
    prompt = render_prompt(chat_of(body), template)
    following = render_prompt(chat_of({"messages": body["messages"] + [
        {"role": "assistant", "content": "It is 4."}, {"role": "user", "content": "ok"}]}), template)
    assert following.startswith(prompt + render_output(answer, template))


def test_qwen3_output_keeps_its_reasoning():
    out = render_output(Message("assistant", "a", reasoning="r"), "qwen3")
    assert out == "<think>\nr\n</think>\n\na<|im_end|>"
