"""OpenAI Chat Completions: request bodies and responses as a provider-neutral `Chat`.

A body is `{"model", "messages": [...], "tools": [...]}`; it may come alone on a line,
wrapped as `{"request": body, "response": completion}`, or as a Batch API line
(`{"custom_id", "method", "url", "body"}`; a batch *output* line holds
`{"custom_id", "response": {"status_code", "body": completion}}`).
"""

from __future__ import annotations

from typing import Any

from .chat import Chat, Message, ToolCall, parse_arguments, placeholder

__all__ = ["is_body", "chat_of", "response_message"]

_ROLES = {"developer": "system", "function": "tool"}


def is_body(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("messages"), list)


def _text(content: Any) -> str:
    """A message's content: a string, or parts (text parts joined by newlines, as vLLM does)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, str):
                parts.append(p)
            elif isinstance(p, dict):
                kind = p.get("type")
                if kind in ("text", "input_text", "output_text") and isinstance(p.get("text"), str):
                    parts.append(p["text"])
                elif kind == "refusal" and isinstance(p.get("refusal"), str):
                    parts.append(p["refusal"])
                elif kind in ("image_url", "input_image"):
                    parts.append(placeholder("image", p.get("image_url", p)))
                elif kind in ("input_audio", "file"):
                    parts.append(placeholder(kind, p.get(kind, p)))
        return "\n".join(parts)
    return str(content)


def _calls(msg: dict) -> tuple[ToolCall, ...]:
    out = []
    calls = msg.get("tool_calls")
    if isinstance(calls, list):
        for c in calls:
            fn = c.get("function") if isinstance(c, dict) else None
            if isinstance(fn, dict):
                out.append(ToolCall(str(fn.get("name") or ""), parse_arguments(fn.get("arguments"))))
    fc = msg.get("function_call")  # the legacy single call
    if isinstance(fc, dict):
        out.append(ToolCall(str(fc.get("name") or ""), parse_arguments(fc.get("arguments"))))
    return tuple(out)


def message_of(msg: Any) -> Message | None:
    if not isinstance(msg, dict):
        return None
    role = str(msg.get("role") or "user").lower()
    role = _ROLES.get(role, role)
    if role != "assistant":
        return Message(role, _text(msg.get("content")))
    # reasoning_content: what vLLM's reasoning parsers return and Qwen3's template reads.
    reasoning = msg.get("reasoning_content")
    return Message(role, _text(msg.get("content")), _calls(msg), reasoning if isinstance(reasoning, str) else "")


def _tools(body: dict) -> tuple[dict, ...]:
    tools = body.get("tools")
    if isinstance(tools, list):
        return tuple(t for t in tools if isinstance(t, dict))
    functions = body.get("functions")  # the legacy form: bare function definitions
    if isinstance(functions, list):
        return tuple({"type": "function", "function": f} for f in functions if isinstance(f, dict))
    return ()


def chat_of(body: dict) -> Chat:
    msgs = tuple(m for m in map(message_of, body["messages"]) if m is not None)
    return Chat(msgs, _tools(body))


def response_message(resp: Any) -> Message | None:
    """The assistant message of a chat completion (its first choice)."""
    if not isinstance(resp, dict):
        return None
    choices = resp.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    msg = choices[0].get("message")
    if not isinstance(msg, dict):
        return None
    reasoning = msg.get("reasoning_content")
    return Message("assistant", _text(msg.get("content")), _calls(msg), reasoning if isinstance(reasoning, str) else "")
