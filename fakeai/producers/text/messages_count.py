"""Input tokens of a Messages request, the one count ``messages.create`` and ``count_tokens`` both report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from fakeai.producers.bindings import Binding
from fakeai.producers.text.common import content_text
from fakeai.producers.text.tokenizer import Tokenizer, count_chat_prompt

__all__ = ["cacheable_prefix", "count_input", "uses_cache"]


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


def cacheable_prefix(body: Mapping[str, Any], binding: Binding | None = None) -> dict[str, Any] | None:
    """The part of the prompt a cache breakpoint covers, as a request body (Anthropic caches ``tools``, then
    ``system``, then ``messages``, up to and including the last block carrying ``cache_control``); the whole body
    for automatic caching (a top-level ``cache_control``); None without a breakpoint."""
    binding = binding or Binding("messages")
    if body.get("cache_control"):
        return dict(body)
    names = [binding.name_of("tools"), binding.name_of("system"), binding.name_of("messages")]
    last: tuple[int, int, int] | None = None  # (part, item, block) of the last breakpoint
    for part, name in enumerate(names):
        value = body.get(name)
        for item, entry in enumerate(value if isinstance(value, list) else ()):
            if not isinstance(entry, Mapping):
                continue
            if entry.get("cache_control"):
                last = (part, item, -1)
            content = entry.get("content") if part == 2 else None
            for block, piece in enumerate(content if isinstance(content, list) else ()):
                if isinstance(piece, Mapping) and piece.get("cache_control"):
                    last = (part, item, block)
    if last is None:
        return None
    part, item, block = last
    prefix: dict[str, Any] = {name: body[name] for name in names[:part] if name in body}
    kept = list(body[names[part]][: item + 1])
    if block >= 0:
        kept[-1] = {**kept[-1], "content": kept[-1]["content"][: block + 1]}
    prefix[names[part]] = kept
    return prefix
