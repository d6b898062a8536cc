"""What a chat or Responses request says about its conversation, read the same way for both APIs.

Chat Completions carry ``messages``; the Responses API carries ``input`` (a string or items) and
``instructions``; Anthropic's Messages API carries ``messages`` with content blocks, a top-level ``system`` (a
string or text blocks), ``tool_use`` blocks in assistant turns and ``tool_result`` blocks in user messages (a user
message of tool results only is not a user turn, as a chat ``tool`` message is not). The helpers below return
``None``/empty when the body is none of these.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

CONVERSATION_HEADER = "x-fakeai-conversation"


def _items(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return []
    messages = body.get("messages")
    if isinstance(messages, list):
        return [m for m in messages if isinstance(m, dict)]
    source = body.get("input")
    if isinstance(source, str):
        return [{"role": "user", "content": source}]
    if isinstance(source, list):
        return [m if "role" in m or "type" in m else {"role": "user", **m} for m in source if isinstance(m, dict)]
    return []


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def _is_user_turn(item: dict[str, Any]) -> bool:
    if item.get("role") != "user":
        return False
    content = item.get("content")
    blocks = content if isinstance(content, list) else ()
    return not blocks or any(not isinstance(b, dict) or b.get("type") != "tool_result" for b in blocks)


def last_user_message(body: Any) -> Any:
    for item in reversed(_items(body)):
        if _is_user_turn(item):
            return text_of(item.get("content"))
    return None


def system_prompt(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("instructions"), str):
        return body["instructions"]
    if isinstance(body, dict) and isinstance(body.get("system"), (str, list)) and "messages" in body:  # Anthropic
        return text_of(body["system"])
    for item in _items(body):
        if item.get("role") in ("system", "developer"):
            return text_of(item.get("content"))
    return None


def turn(body: Any) -> int:
    return sum(1 for item in _items(body) if _is_user_turn(item))


def tool_names(body: Any) -> frozenset[str]:
    if not isinstance(body, dict) or not isinstance(body.get("tools"), list):
        return frozenset()
    names: set[str] = set()
    for tool in body["tools"]:
        if isinstance(tool, dict):
            function = tool.get("function")
            name = function.get("name") if isinstance(function, dict) else tool.get("name")
            if isinstance(name, str):
                names.add(name)
    return frozenset(names)


def tool_results(body: Any) -> list[tuple[str, str | None]]:
    """``(call_id, tool name or None)`` for every tool result the client sent back."""
    items = _items(body)
    called: dict[str, str] = {}
    for item in items:
        for call in item.get("tool_calls") or ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                called[str(call.get("id"))] = str(call["function"].get("name"))
        if item.get("type") == "function_call":
            called[str(item.get("call_id"))] = str(item.get("name"))
        for block in _blocks(item, "tool_use"):
            called[str(block.get("id"))] = str(block.get("name"))
    results: list[tuple[str, str | None]] = []
    for item in items:
        for block in _blocks(item, "tool_result"):
            call_id = str(block.get("tool_use_id"))
            results.append((call_id, called.get(call_id)))
        if item.get("role") == "tool":
            call_id = str(item.get("tool_call_id"))
            results.append((call_id, called.get(call_id)))
        elif item.get("type") == "function_call_output":
            call_id = str(item.get("call_id"))
            results.append((call_id, called.get(call_id)))
    return results


def _blocks(item: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """An Anthropic message's content blocks of type ``kind``."""
    content = item.get("content")
    return [b for b in content if isinstance(b, dict) and b.get("type") == kind] if isinstance(content, list) else []


def opening_hash(body: Any) -> str:
    """A conversation fingerprint: the first system prompt and the first user message."""
    items = _items(body)
    digest = hashlib.blake2b(digest_size=8)
    digest.update((system_prompt(body) or "").encode())
    for item in items:
        if item.get("role") == "user":
            digest.update(b"\x00" + text_of(item.get("content")).encode())
            break
    return "h:" + digest.hexdigest()


def response_ids(body: Any, frames: Any) -> Iterator[str]:
    """Ids of Responses API objects in an answer (to follow ``previous_response_id`` later)."""
    if isinstance(body, dict) and body.get("object") == "response" and isinstance(body.get("id"), str):
        yield body["id"]
    for frame in frames or ():
        data = getattr(frame, "data", None)
        if isinstance(data, dict) and isinstance(data.get("response"), dict):
            response_id = data["response"].get("id")
            if isinstance(response_id, str):
                yield response_id
                return
