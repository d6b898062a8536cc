"""A rule's ``resource:`` block: script a stateful object (a batch, a run) instead of answering for it.

```yaml
- match: {operation: createBatch}
  times: 1
  resource:
    status: failed                      # a state the kind's lifecycle declares; entered with its stamp (failed_at)
    fields: {errors: {object: list, data: [{code: token_limit_exceeded, message: "..."}]}}
- match: {operation: createRun}
  resource:
    tool_calls: [{name: get_weather, arguments: {city: Paris}}]   # the run requires_action with these calls
```

The operation's own resource producer answers (create, retrieve, ...); the object it answers with is then
forced into ``status`` (lifecycle state, stamp and ``set`` values as the declarations say; work the state names
runs as on any entry), ``fields`` (templates) are merged in, and ``tool_calls`` make a run's pending calls. The
stored object follows, so later reads see the same. :func:`problems` is what ``fakeai check`` and the engine
check at load: unknown operations or states of the kind, fields its item schema does not have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from fakeai.context import Output, RequestContext
from fakeai.errors import APIError, closest
from fakeai.ids import new_id
from fakeai.scenario.match import Fail
from fakeai.scenario.template import Value, compile_value, render, templated

if TYPE_CHECKING:
    from fakeai.resources.declare import Declarations
    from fakeai.resources.graph import Graph
    from fakeai.scenario.model import Scenario

SCRIPTED_ROLES = ("create", "retrieve", "update", "action")  # answers that carry one object
REQUIRES_ACTION = "requires_action"  # the state tool calls put a run in (spec/resources/openai.yaml)

# (ctx, state, fields, tool calls) -> the operation's answer with them applied; None: no resource answers
ProduceForced = Callable[[RequestContext, str | None, Mapping[str, Any], Sequence[Mapping[str, Any]]], Output | None]


@dataclass(frozen=True, slots=True)
class Directive:
    where: str
    path: tuple[str | int, ...]  # YAML path of the block (``fakeai check`` points into it)
    status: str | None
    fields: Value | None
    raw_fields: Mapping[str, Any]  # as written (for ``fakeai check``)
    tool_calls: tuple[tuple[Value, Value, Value | None], ...] = ()
    status_path: tuple[str | int, ...] = ()  # where the state was given (``status:``, else ``tool_calls:``)
    produce: ProduceForced | None = None  # bound by the engine to its app's resource model when it decides


def compile_directive(spec: Mapping[str, Any], path: Sequence[str | int], fail: Fail, where: str) -> Directive:
    raw = spec.get("fields") or {}
    calls = tuple(
        (
            compile_value(call["name"], (*path, "tool_calls", i, "name"), fail),
            compile_value(call.get("arguments", {}), (*path, "tool_calls", i, "arguments"), fail),
            compile_value(call["id"], (*path, "tool_calls", i, "id"), fail) if "id" in call else None,
        )
        for i, call in enumerate(spec.get("tool_calls") or ())
    )
    status = spec.get("status")
    if status is None and calls:
        status = REQUIRES_ACTION
    if status is None and not raw:
        raise fail(path, "give 'status', 'fields' and/or 'tool_calls'")
    return Directive(
        where=where,
        path=tuple(path),
        status=status,
        fields=compile_value(dict(raw), (*path, "fields"), fail) if raw else None,
        raw_fields=dict(raw),
        tool_calls=calls,
        status_path=(*path, "status" if "status" in spec else "tool_calls"),
    )


def resource_output(ctx: RequestContext, directive: Directive, env: Mapping[str, Any]) -> Output:
    """The operation's resource answer with the directive applied (called by ``reply_output``)."""
    fields = render(directive.fields, env, directive.where) if directive.fields is not None else {}
    calls = []
    for name, arguments, call_id in directive.tool_calls:
        args = render(arguments, env, directive.where)
        text = args if isinstance(args, str) else orjson.dumps(args).decode()
        ident = render(call_id, env, directive.where) if call_id is not None else new_id(ctx.rng, "call_", 24)
        function = {"name": str(render(name, env, directive.where)), "arguments": text}
        calls.append({"id": str(ident), "type": "function", "function": function})
    output = directive.produce(ctx, directive.status, fields, calls) if directive.produce is not None else None
    if output is None:
        raise APIError(
            500,
            f"fakeai scenario {directive.where}: {ctx.operation_id} is not a stateful resource operation",
            type="server_error",
        )
    return output


def problems(
    directive: Directive,
    where: Callable[[Sequence[str | int]], str],
    operation_id: str,
    graph: Graph,
    decls: Declarations,
    properties: Callable[[Any], Mapping[str, Any]],
    valid: Callable[[Any, Any], str | None] | None = None,
) -> list[str]:
    """What is wrong with ``directive`` on ``operation_id``: ``file:line:column: message`` each.

    ``properties(item_schema)`` gives an item schema's top-level properties; ``valid(property schema, value)`` a
    problem with a field's value (``fakeai check`` validates against the spec; templated values are not)."""
    role = graph.role(operation_id)
    if role is None or role.kind not in graph.kinds:
        return [f"{where(directive.path)}: {operation_id} is not a stateful resource operation (resource: needs one)"]
    if role.role not in SCRIPTED_ROLES:
        scripted = ", ".join(SCRIPTED_ROLES)
        return [f"{where(directive.path)}: {operation_id} is a {role.role}; resource: scripts {scripted}"]
    kind = graph.kinds[role.kind]
    decl = decls.kinds.get(role.kind)
    lifecycle = decl.lifecycle if decl is not None else None
    found: list[str] = []
    if directive.status is not None:
        states = sorted(lifecycle.states) if lifecycle is not None else []
        at = where(directive.status_path)
        if not states:
            found.append(f"{at}: {role.kind} has no lifecycle (no state to set)")
        elif directive.status not in states:
            hint = closest(directive.status, states)
            found.append(
                f"{at}: unknown state {directive.status!r} for {role.kind}{hint}; expected one of: {', '.join(states)}"
            )
    props = properties(kind.item_schema)
    wanted = dict(directive.raw_fields)
    if directive.tool_calls:
        wanted.setdefault("required_action", None)
    for name, value in wanted.items():
        path = (*directive.path, "fields", name) if name in directive.raw_fields else (*directive.path, "tool_calls")
        if name not in props:
            hint = closest(name, sorted(props))
            found.append(f"{where(path)}: {role.kind} has no field {name!r}{hint}")
        elif valid is not None and name in directive.raw_fields and not templated(value):
            problem = valid(props[name], value)
            if problem:
                found.append(f"{where(path)}: {name} does not match the {role.kind} schema: {problem}")
    return found


def app_problems(scenario: Scenario, store: Any, document: Mapping[str, Any]) -> list[str]:
    """:func:`problems` of every ``resource:`` rule against the resource model an app compiled over ``store``."""
    from fakeai.resources.producer import built_for
    from fakeai.spec.pointer import deref

    built = built_for(store)
    if built is None:
        return []
    graph, _model, decls = built

    def properties(schema: Any) -> Mapping[str, Any]:
        resolved = deref(document, schema) if schema is not None else None
        return (resolved.get("properties") or {}) if isinstance(resolved, Mapping) else {}

    return [
        problem
        for rule in scenario.rules
        for reply in rule.replies
        if reply.resource is not None
        for op_id in sorted(rule.match.operations or ())
        for problem in problems(reply.resource, scenario.document.where, op_id, graph, decls, properties)
    ]
