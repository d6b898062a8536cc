"""Input tokens of a Messages request, the one count ``messages.create`` and ``count_tokens`` both report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from fakeai.producers.bindings import Binding
from fakeai.producers.text.common import content_text
from fakeai.producers.text.tokenizer import Tokenizer, count_chat_prompt

__all__ = ["count_input", "uses_cache"]


def count_input(body: Mapping[str, Any], tokenizer: Tokenizer, binding: Binding | None = None) -> int:
    """Input tokens of a Messages request: ``system`` and the messages counted like chat messages (text blocks
    exactly, ``tool_use`` by name + input JSON, ``tool_result`` by its text, images a fixed cost) plus the
    compact JSON of each tool definition. An approximation of Anthropic's private count, exactly repeatable."""
    binding = binding or Binding("messages")
    chat: list[dict[str, Any]] = []
    system = body.get(binding.name_of("system"))
    if system:
        chat.append({"role": "system", "content": content_text(system)})
    messages = body.get(binding.name_of("messages"))
    for message in messages if isinstance(messages, list) else ():
        if isinstance(message, Mapping):
            chat.append(_chat_message(message))
    tools = body.get(binding.name_of("tools"))
    definitions = [t for t in tools if isinstance(t, Mapping)] if isinstance(tools, list) else None
    return count_chat_prompt(chat, None, definitions, tokenizer)


def _chat_message(message: Mapping[str, Any]) -> dict[str, Any]:
    role = str(message.get("role", "user"))
    content = message.get("content")
    if not isinstance(content, list):
        return {"role": role, "content": content if isinstance(content, str) else ""}
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind in ("thinking", "redacted_thinking"):
            parts.append({"type": "text", "text": str(block.get("thinking", ""))})
        elif kind == "image":
            parts.append({"type": "input_image"})
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append({"function": {"name": str(block.get("name", "")), "arguments": arguments}})
        elif kind == "tool_result":
            parts.append({"type": "text", "text": content_text(block.get("content"))})
    chat: dict[str, Any] = {"role": role, "content": parts}
    if calls:
        chat["tool_calls"] = calls
    return chat


def uses_cache(body: Mapping[str, Any]) -> bool:
    """Whether the request sets a ``cache_control`` breakpoint anywhere (top level, system, tools, messages)."""
    if body.get("cache_control"):
        return True
    raw = orjson.dumps({k: body.get(k) for k in ("system", "tools", "messages")})
    return b'"cache_control":{' in raw
