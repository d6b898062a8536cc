"""Tool calls a model-like fake would make, with arguments valid against each function's schema.

Policy (``tool_choice``):

* ``"none"`` or no function tools: answer with text;
* ``"required"``: call tools;
* ``{"type": "function", "function": {"name": N}}``: call ``N`` exactly once (400 if no tool has
  that name);
* ``{"type": "allowed_tools", "allowed_tools": {"mode": M, "tools": [...]}}``: as ``M`` (``auto`` or
  ``required``) restricted to the listed functions;
* ``"auto"`` (the default): call tools when the last message is the user's (or a system/developer
  message); after a ``tool`` result (or an assistant turn) answer with text, like a model that got
  what it needed.

How many: ``parallel_tool_calls: false`` or a single tool -> one call; otherwise one or two
distinct tools (drawn from the choice's RNG). Arguments are compact JSON instances of the
function's ``parameters`` (enums, formats, bounds, ``$defs`` respected), deterministic per RNG, with
string arguments taken from the user's words where the property says what it holds
(``fakeai.producers.text.arguments``: "weather in Paris" -> ``{"city": "Paris"}``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fakeai.errors import APIError
from fakeai.ids import new_id
from fakeai.producers.text.arguments import argument_overrides, user_texts
from fakeai.producers.text.structured import generate_json

__all__ = ["ToolCall", "function_tools", "plan_calls", "wants_calls"]

_CALLING_ROLES = frozenset({"user", "system", "developer"})


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str  # call_...
    name: str
    arguments: str  # compact JSON


def function_tools(tools: Any) -> list[Mapping[str, Any]]:
    """The ``function`` objects of the request's function tools (others are ignored)."""
    found: list[Mapping[str, Any]] = []
    for tool in tools if isinstance(tools, list) else ():
        function = tool.get("function") if isinstance(tool, Mapping) and tool.get("type") == "function" else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            found.append(function)
    return found


def _named(choice: Mapping[str, Any]) -> str | None:
    function = choice.get("function")
    name = function.get("name") if isinstance(function, Mapping) else choice.get("name")
    return name if isinstance(name, str) else None


def wants_calls(body: Mapping[str, Any], functions: list[Mapping[str, Any]]) -> tuple[bool, list[Mapping[str, Any]]]:
    """Whether to call tools, and which functions are candidates (see the module policy)."""
    choice = body.get("tool_choice", "auto")
    if not functions or choice == "none":
        return False, []
    if isinstance(choice, Mapping):
        if choice.get("type") == "allowed_tools":
            allowed = choice.get("allowed_tools")
            allowed = allowed if isinstance(allowed, Mapping) else {}
            names = {_named(t) for t in allowed.get("tools") or () if isinstance(t, Mapping)}
            candidates = [f for f in functions if f["name"] in names]
            if allowed.get("mode") == "required":
                return bool(candidates), candidates
            return bool(candidates) and _last_role(body) in _CALLING_ROLES, candidates
        name = _named(choice)
        picked = [f for f in functions if f["name"] == name]
        if not picked:
            raise APIError(
                400, f"Invalid value for 'tool_choice': no function named {name!r} in 'tools'.", param="tool_choice"
            )
        return True, picked[:1]
    if choice == "required":
        return True, functions
    return _last_role(body) in _CALLING_ROLES, functions


def _last_role(body: Mapping[str, Any]) -> str | None:
    messages = body.get("messages")
    if isinstance(messages, Sequence) and messages and isinstance(messages[-1], Mapping):
        role = messages[-1].get("role")
        return role if isinstance(role, str) else None
    return "user"  # Responses-style string input


def plan_calls(
    body: Mapping[str, Any], rng: random.Random, now: float, said: Sequence[str] | None = None
) -> tuple[ToolCall, ...]:
    """The tool calls for one choice; empty when the model should answer with text. ``said``: the user's
    messages, newest first (default: the chat ``messages`` of ``body``)."""
    functions = function_tools(body.get("tools"))
    call, candidates = wants_calls(body, functions)
    if not call:
        return ()
    single = body.get("parallel_tool_calls") is False or len(candidates) == 1  # a named function: one
    count = 1 if single else rng.randint(1, 2)
    picked = rng.sample(candidates, count)
    said = user_texts(body.get("messages")) if said is None else said
    return tuple(
        ToolCall(
            new_id(rng, "call_"),
            f["name"],
            generate_json(_parameters(f), rng, now, "tools", argument_overrides(_parameters(f), said)),
        )
        for f in picked
    )


def _parameters(function: Mapping[str, Any]) -> Mapping[str, Any] | None:
    parameters = function.get("parameters")
    return parameters if isinstance(parameters, Mapping) else None
