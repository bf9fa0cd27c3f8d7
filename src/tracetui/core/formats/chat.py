"""Chat messages as one provider-neutral list, and the chat templates that turn them into
the prompt text an engine would tokenize.

The OpenAI and Anthropic readers both build a `Chat`; a template renders it. Rendering
follows each model family's published chat template (the `chat_template` of the model's
tokenizer_config.json, which vLLM and SGLang apply through transformers, with the generation
prompt appended; tool-call arguments parsed to objects first, as vLLM does), so the prompt
text, tool definitions and tool calls cost the tokens they would cost there:

- ``chatml``: ``<|im_start|>role\\n...<|im_end|>``; tools and tool calls in the Hermes / Qwen
  style (a ``# Tools`` section with ``<tools>`` in the system message, ``<tool_call>`` JSON in
  assistant turns); tool results as ``tool`` messages. No default system message.
- ``qwen``: Qwen2.5-Instruct's template: its default system prompt, tool results grouped in a
  ``user`` turn of ``<tool_response>`` elements.
- ``qwen3``: Qwen3's (hybrid thinking) template: no default system prompt; an assistant
  turn's reasoning (``reasoning_content``, Anthropic thinking, or ``<think>`` in the content)
  is kept as ``<think>`` only after the last user query and dropped from earlier turns.
- ``llama3``: Llama 3.1 / 3.3 Instruct's template: the knowledge-date system header, tools in
  the first user message, one JSON call per assistant turn, tool results as ``ipython`` turns.
- ``json``: the request body as sent (compact JSON), split by the JSON splitter.

Where a template would refuse a chat (Llama 3.1 with several tool calls in one assistant
message) the rendering goes on as the conversation did (one call a turn) rather than drop it.
The block splitter (core.blocks) finds every message's boundary in the rendered text, so
message blocks survive the rendering.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TEMPLATES", "DEFAULT_TEMPLATE", "Chat", "Message", "ToolCall", "render_prompt", "render_output"]

TEMPLATES = ("chatml", "llama3", "qwen", "qwen3", "json")
DEFAULT_TEMPLATE = "chatml"


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: Any
    """The arguments as an object when they parse as JSON, else the raw string (as vLLM does
    before it applies a template)."""


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    """system, user, assistant or tool."""
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str = ""
    """Thinking the assistant returned (Anthropic `thinking` blocks), rendered in <think>."""


@dataclass(frozen=True, slots=True)
class Chat:
    messages: tuple[Message, ...]
    tools: tuple[dict, ...] = field(default=())
    """Tool definitions, OpenAI-shaped: {"type": "function", "function": {name, description, parameters}}."""


def tojson(value: Any, indent: int | None = None) -> str:
    """Jinja's `tojson` as Hugging Face chat templates define it (non-ASCII kept)."""
    return json.dumps(value, ensure_ascii=False, indent=indent)


def parse_arguments(value: Any) -> Any:
    """Tool-call arguments as an object when a string holds JSON."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def placeholder(kind: str, source: Any) -> str:
    """A short stand-in for an image / audio / document part: the same source gives the same
    text (a repeated image can be reused), two sources differ (no false hits)."""
    try:
        raw = json.dumps(source, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        raw = repr(source)
    digest = hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()[:16]
    return f"<{kind} {digest}>"


# --- rendering --------------------------------------------------------------


def render_prompt(chat: Chat, template: str) -> str:
    """The prompt text of `chat` under `template` (not "json"), generation prompt included."""
    if template == "llama3":
        return _llama3(chat)
    if template == "qwen3":
        return _qwen3(chat)
    return _chatml(chat, qwen=template == "qwen")


def render_output(message: Message, template: str) -> str:
    """The completion as the model wrote it: what follows the generation prompt, up to and
    including the end-of-turn token (so the next request's copy of it can be matched)."""
    if template == "llama3":
        return _llama3_assistant(message)
    if template == "qwen3":
        return _qwen3_assistant(message, bool(_split_think(message)[0])).removeprefix("\n") + "<|im_end|>"
    body = _chatml_assistant_body(message)
    return body.removeprefix("\n") + "<|im_end|>"


_QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
_TOOLS_INTRO = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
_TOOLS_OUTRO = (
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
    "within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)


def _content(m: Message) -> str:
    if m.reasoning:
        return f"<think>\n{m.reasoning}\n</think>\n\n{m.content}"
    return m.content


def _chatml_assistant_body(m: Message, reasoning: bool = True) -> str:
    """An assistant turn after `<|im_start|>assistant` (Qwen2.5's layout); reasoning: its
    reasoning as a <think> block (Qwen2.5's template has none: it drops the field)."""
    out = []
    text = _content(m) if reasoning else m.content
    if text or not m.tool_calls:
        out.append("\n" + text)
    for call in m.tool_calls:
        out.append(f'\n<tool_call>\n{{"name": "{call.name}", "arguments": {tojson(call.arguments)}}}\n</tool_call>')
    return "".join(out)


def _chatml(chat: Chat, *, qwen: bool) -> str:
    msgs = list(chat.messages)
    out: list[str] = []
    system = None
    if msgs and msgs[0].role == "system":
        system = msgs.pop(0).content
    if system is None and qwen:
        system = _QWEN_DEFAULT_SYSTEM
    if chat.tools:
        tools = "".join("\n" + tojson(t) for t in chat.tools)
        head = f"{system}\n\n" if system is not None else ""
        out.append(f"<|im_start|>system\n{head}{_TOOLS_INTRO}{tools}{_TOOLS_OUTRO}<|im_end|>\n")
    elif system is not None:
        out.append(f"<|im_start|>system\n{system}<|im_end|>\n")
    for k, m in enumerate(msgs):
        if m.role == "assistant":
            out.append(f"<|im_start|>assistant{_chatml_assistant_body(m, not qwen)}<|im_end|>\n")
        elif m.role == "tool" and qwen:
            first = k == 0 or msgs[k - 1].role != "tool"
            last = k == len(msgs) - 1 or msgs[k + 1].role != "tool"
            out.append(("<|im_start|>user" if first else "") + f"\n<tool_response>\n{m.content}\n</tool_response>"
                       + ("<|im_end|>\n" if last else ""))
        else:
            out.append(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n")
    out.append("<|im_start|>assistant\n")
    return "".join(out)


def _split_think(m: Message) -> tuple[str, str]:
    """(reasoning, content) as Qwen3's template reads an assistant turn: its reasoning, else
    the part of the content before ``</think>``."""
    content = m.content
    if m.reasoning:
        return m.reasoning, content
    if "</think>" in content:
        head, _, _ = content.partition("</think>")
        return head.rstrip("\n").split("<think>")[-1].lstrip("\n"), content.split("</think>")[-1].lstrip("\n")
    return "", content


def _qwen3_assistant(m: Message, think: bool) -> str:
    """An assistant turn after `<|im_start|>assistant`; think: its reasoning is kept (a turn
    after the last user query that has reasoning, or the last message), as a <think> block."""
    reasoning, content = _split_think(m)
    if think:
        text = f"\n<think>\n{reasoning.strip(chr(10))}\n</think>\n\n{content.lstrip(chr(10))}"
    else:
        text = "\n" + content
    calls = "\n".join(f'<tool_call>\n{{"name": "{c.name}", "arguments": {tojson(c.arguments)}}}\n</tool_call>'
                      for c in m.tool_calls)
    return text + ("\n" if calls and content else "") + calls


def _qwen3(chat: Chat) -> str:
    msgs = list(chat.messages)
    out: list[str] = []
    system = msgs[0].content if msgs and msgs[0].role == "system" else None
    if chat.tools:
        tools = "".join("\n" + tojson(t) for t in chat.tools)
        head = f"{system}\n\n" if system is not None else ""
        out.append(f"<|im_start|>system\n{head}{_TOOLS_INTRO}{tools}{_TOOLS_OUTRO}<|im_end|>\n")
    elif system is not None:
        out.append(f"<|im_start|>system\n{system}<|im_end|>\n")
    # The last user query: the last user message that is not a wrapped tool response.
    last_query = len(msgs) - 1
    for k in range(len(msgs) - 1, -1, -1):
        c = msgs[k].content
        if msgs[k].role == "user" and not (c.startswith("<tool_response>") and c.endswith("</tool_response>")):
            last_query = k
            break
    for k, m in enumerate(msgs):
        if k == 0 and system is not None:
            continue
        if m.role == "assistant":
            think = k > last_query
            reasoning, _ = _split_think(m)
            body = _qwen3_assistant(m, think and (k == len(msgs) - 1 or bool(reasoning)))
            out.append(f"<|im_start|>assistant{body}<|im_end|>\n")
        elif m.role == "tool":
            first = k == 0 or msgs[k - 1].role != "tool"
            last = k == len(msgs) - 1 or msgs[k + 1].role != "tool"
            out.append(("<|im_start|>user" if first else "") + f"\n<tool_response>\n{m.content}\n</tool_response>"
                       + ("<|im_end|>\n" if last else ""))
        elif m.role in ("user", "system"):
            out.append(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n")
    out.append("<|im_start|>assistant\n")
    return "".join(out)


_LLAMA_TOOLS_INTRO = (
    "Given the following functions, please respond with a JSON for a function call with its proper "
    "arguments that best answers the given prompt.\n\n"
    'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.'
    "Do not use variables.\n\n"
)


def _header(role: str) -> str:
    return f"<|start_header_id|>{role}<|end_header_id|>\n\n"


def _llama3_assistant(m: Message, reasoning: bool = True) -> str:
    """An assistant turn after its header (reasoning: as a <think> block, for an output; the
    template drops it from the history). Llama 3.1 takes one call a turn: further calls
    follow as turns of their own (the template itself would refuse them)."""
    if not m.tool_calls:
        return (_content(m) if reasoning else m.content).strip() + "<|eot_id|>"
    calls = [f'{{"name": "{c.name}", "parameters": {tojson(c.arguments)}}}<|eot_id|>' for c in m.tool_calls]
    return _header("assistant").join(calls)


def _llama3(chat: Chat) -> str:
    msgs = list(chat.messages)
    system = msgs.pop(0).content.strip() if msgs and msgs[0].role == "system" else ""
    out = ["<|begin_of_text|>", _header("system")]
    if chat.tools:
        out.append("Environment: ipython\n")
    out.append("Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n")
    out.append(system + "<|eot_id|>")
    if chat.tools:
        # The template takes the first message after the system one, whatever its role (it
        # refuses a chat with none: here the tools stand alone).
        first = msgs.pop(0).content.strip() if msgs else ""
        tools = "".join(tojson(t, indent=4) + "\n\n" for t in chat.tools)
        out.append(_header("user") + _LLAMA_TOOLS_INTRO + tools + first + "<|eot_id|>")
    for m in msgs:
        if m.role == "assistant":
            out.append(_header("assistant") + _llama3_assistant(m, False))
        elif m.role == "tool":
            # The template writes `content | tojson` (a string is iterable in Jinja): a JSON string.
            out.append(_header("ipython") + tojson(m.content) + "<|eot_id|>")
        else:
            out.append(_header(m.role) + m.content.strip() + "<|eot_id|>")
    out.append(_header("assistant"))
    return "".join(out)
