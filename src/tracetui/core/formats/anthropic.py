"""Anthropic Messages: request bodies and responses as a provider-neutral `Chat`.

A body is `{"model", "system", "messages": [...], "tools": [...]}`. Content blocks:
`text`, `image` / `document` (stand-ins), `tool_use` (a tool call), `tool_result` (a tool
message of its own, in block order), `thinking` (the assistant's reasoning).
"""

from __future__ import annotations

from typing import Any

from .chat import Chat, Message, ToolCall, placeholder

__all__ = ["looks_like", "chat_of", "response_message"]

_BLOCK_TYPES = {"tool_use", "tool_result", "thinking", "redacted_thinking", "image", "document"}


def looks_like(body: dict) -> bool:
    """An Anthropic body rather than an OpenAI one: a top-level `system`, Anthropic-shaped tools
    (`input_schema`) or Anthropic content blocks. A body with none of them reads the same
    either way (plain string messages)."""
    if "system" in body:
        return True
    tools = body.get("tools")
    if isinstance(tools, list) and any(isinstance(t, dict) and "input_schema" in t for t in tools):
        return True
    for m in body.get("messages") or ():
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") in _BLOCK_TYPES for b in content):
            return True
    return False


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return ""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text") or "")
    if kind in ("image", "document"):
        return placeholder(kind, block.get("source", block))
    return ""


def _join(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(t for t in map(_block_text, content) if t)
    return ""


def _messages(msg: Any) -> list[Message]:
    """One Anthropic message as neutral messages: a user message's tool results become tool
    messages of their own, in block order, with the text around them as user messages."""
    if not isinstance(msg, dict):
        return []
    role = str(msg.get("role") or "user").lower()
    content = msg.get("content")
    if isinstance(content, str) or not isinstance(content, list):
        return [Message(role, _join(content))]
    if role == "assistant":
        text, calls, thinking = [], [], []
        for b in content:
            if not isinstance(b, dict):
                continue
            kind = b.get("type")
            if kind == "tool_use":
                calls.append(ToolCall(str(b.get("name") or ""), b.get("input", {})))
            elif kind == "thinking":
                thinking.append(str(b.get("thinking") or ""))
            elif t := _block_text(b):
                text.append(t)
        return [Message("assistant", "\n".join(text), tuple(calls), "\n".join(thinking))]
    out: list[Message] = []
    pending: list[str] = []
    for b in content:
        if isinstance(b, dict) and b.get("type") == "tool_result":
            if pending:
                out.append(Message(role, "\n".join(pending)))
                pending = []
            out.append(Message("tool", _join(b.get("content"))))
        elif t := _block_text(b):
            pending.append(t)
    if pending or not out:
        out.append(Message(role, "\n".join(pending)))
    return out


def _tools(body: dict) -> tuple[dict, ...]:
    out = []
    for t in body.get("tools") or ():
        if not isinstance(t, dict):
            continue
        fn: dict[str, Any] = {"name": t.get("name", t.get("type", ""))}
        if "description" in t:
            fn["description"] = t["description"]
        if "input_schema" in t:
            fn["parameters"] = t["input_schema"]
        out.append({"type": "function", "function": fn})
    return tuple(out)


def chat_of(body: dict) -> Chat:
    msgs: list[Message] = []
    system = body.get("system")
    if system:
        msgs.append(Message("system", _join(system)))
    for m in body["messages"]:
        msgs.extend(_messages(m))
    return Chat(tuple(msgs), _tools(body))


def response_message(resp: Any) -> Message | None:
    """The assistant message of a Messages API response."""
    if not isinstance(resp, dict) or not isinstance(resp.get("content"), list):
        return None
    msgs = _messages({"role": "assistant", "content": resp["content"]})
    return msgs[0] if msgs else None
