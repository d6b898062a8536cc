"""Compare two normalized OpenAPI documents operation by operation: the diff engine's entry point.

Operations are paired by METHOD and path (path parameter names ignored), then the rest by
operationId. For each pair: parameters, request bodies (per content type) and every 2xx response
(per content type) are compared with :class:`~fakeai.drift.schema.SchemaDiff`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fakeai.drift.change import Change, Delta
from fakeai.drift.classify import severity
from fakeai.drift.schema import SchemaDiff
from fakeai.spec.operation import Operation, Parameter, iter_operations
from fakeai.spec.pointer import deref

JSON = "application/json"
_TEMPLATE = re.compile(r"\{[^}]*\}")


def route_key(op: Operation) -> str:
    return f"{op.method} {_TEMPLATE.sub('{}', op.path)}"


def compare_documents(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every classified change from ``old`` to ``new`` (both already normalized)."""
    old_ops = {route_key(op): op for op in iter_operations(old)}
    new_ops = {route_key(op): op for op in iter_operations(new)}
    pairs = [(old_ops[key], new_ops[key]) for key in old_ops if key in new_ops]
    gone = [op for key, op in old_ops.items() if key not in new_ops]
    fresh = {op.operation_id: op for key, op in new_ops.items() if key not in old_ops}
    changes: list[Change] = []
    for op in gone:
        moved = fresh.pop(op.operation_id, None)
        if moved is None:
            changes.append(_change(op, Delta("operation.removed", "", f"{op.method} {op.path}", ""), "operation"))
            continue
        shown = (f"{op.method} {op.path}", f"{moved.method} {moved.path}")
        changes.append(_change(moved, Delta("operation.path.changed", "", *shown), "operation"))
        pairs.append((op, moved))
    for op in fresh.values():
        changes.append(_change(op, Delta("operation.added", "", "", f"{op.method} {op.path}"), "operation"))
    diff = SchemaDiff(old, new)
    for before, after in pairs:
        changes.extend(_operation(diff, old, new, before, after))
    return changes


def _change(op: Operation, delta: Delta, prefix: str) -> Change:
    where = f"{prefix} {delta.path}" if delta.path else prefix
    return Change(
        kind=delta.kind,
        severity=severity(delta.kind),
        operation_id=op.operation_id,
        method=op.method,
        path=op.path,
        where=where,
        old=delta.old,
        new=delta.new,
        origin=delta.origin,
        tags=op.tags,
    )


def _operation(
    diff: SchemaDiff, old_doc: Mapping[str, Any], new_doc: Mapping[str, Any], old: Operation, new: Operation
) -> list[Change]:
    deltas: list[tuple[str, Delta]] = []
    if old.operation_id != new.operation_id:
        deltas.append(("operation", Delta("operation.id.changed", "", old.operation_id, new.operation_id)))
    if new.deprecated and not old.deprecated:
        deltas.append(("operation", Delta("operation.deprecated", "", "", "deprecated")))
    if old.summary != new.summary and old.summary and new.summary:
        deltas.append(("operation summary", Delta("description.changed", "", old.summary[:60], new.summary[:60])))
    deltas.extend(_parameters(diff, old, new))
    deltas.extend(_request(diff, old, new))
    deltas.extend(_responses(diff, old_doc, new_doc, old, new))
    return [_change(new, delta, prefix) for prefix, delta in deltas]


def _param_keys(op: Operation) -> dict[tuple[str, str], Parameter]:
    """Path parameters by position (renaming ``{file_id}`` to ``{id}`` changes nothing for clients)."""
    names = [m.group(0)[1:-1] for m in _TEMPLATE.finditer(op.path)]
    keys: dict[tuple[str, str], Parameter] = {}
    ordinal = 0
    for param in op.parameters:
        if param.location == "path":
            position = names.index(param.name) if param.name in names else ordinal
            keys[("path", str(position))] = param
            ordinal += 1
        else:
            keys[(param.location, param.name.lower() if param.location == "header" else param.name)] = param
    return keys


def _parameters(diff: SchemaDiff, old: Operation, new: Operation) -> list[tuple[str, Delta]]:
    before, after = _param_keys(old), _param_keys(new)
    out: list[tuple[str, Delta]] = []
    for key, param in before.items():
        where = f"request {param.location} {param.name}"
        if key not in after:
            out.append((where, Delta("request.parameter.removed", "", "present", "absent")))
            continue
        other = after[key]
        if other.required != param.required:
            verb = "added" if other.required else "removed"
            states = ("optional", "required") if other.required else ("required", "optional")
            out.append((where, Delta(f"request.parameter.required.{verb}", "", *states)))
        out.extend((where, d) for d in diff.compare(param.schema, other.schema, "request"))
    for key, param in after.items():
        if key not in before:
            kind = "request.parameter.required.added" if param.required else "request.parameter.added"
            out.append(
                (f"request {param.location} {param.name}", Delta(kind, "", "absent", "required" * param.required))
            )
    return out


def _media_label(direction: str, content_type: str) -> str:
    return direction if content_type == JSON else f"{direction} ({content_type})"


def _request(diff: SchemaDiff, old: Operation, new: Operation) -> list[tuple[str, Delta]]:
    out: list[tuple[str, Delta]] = []
    if new.body_required and not old.body_required:
        out.append(("request", Delta("request.body.required.added", "", "optional", "required")))
    for content_type, media in old.request_media.items():
        other = new.request_media.get(content_type)
        label = _media_label("request", content_type)
        if other is None:
            out.append(("request", Delta("request.media.removed", "", content_type, "")))
        elif media.schema is not None and other.schema is not None:
            out.extend((label, d) for d in diff.compare(media.schema, other.schema, "request"))
    for content_type in new.request_media:
        if content_type not in old.request_media:
            out.append(("request", Delta("request.media.added", "", "", content_type)))
    return out


def success_responses(document: Mapping[str, Any], op: Operation) -> dict[str, dict[str, Any]]:
    """Status -> content type -> schema, for every 2xx response of ``op`` (``$ref`` responses resolved)."""
    raw = document["paths"][op.path][op.method.lower()].get("responses") or {}
    found: dict[str, dict[str, Any]] = {}
    for status, response in raw.items():
        if not str(status).startswith("2"):
            continue
        response = deref(document, response)
        content = (response or {}).get("content") or {}
        found[str(status)] = {ct: media.get("schema") for ct, media in content.items() if isinstance(media, Mapping)}
    return found


def _responses(
    diff: SchemaDiff, old_doc: Mapping[str, Any], new_doc: Mapping[str, Any], old: Operation, new: Operation
) -> list[tuple[str, Delta]]:
    before, after = success_responses(old_doc, old), success_responses(new_doc, new)
    out: list[tuple[str, Delta]] = []
    for status in after:
        if status not in before:
            out.append((f"response {status}", Delta("response.status.added", "", "", status)))
    for status, media in before.items():
        if status not in after:
            out.append((f"response {status}", Delta("response.status.removed", "", status, "")))
            continue
        for content_type, schema in media.items():
            label = _media_label(f"response {status}", content_type)
            if content_type not in after[status]:
                out.append((f"response {status}", Delta("response.media.removed", "", content_type, "")))
            elif schema is not None and after[status][content_type] is not None:
                out.extend((label, d) for d in diff.compare(schema, after[status][content_type], "response"))
        for content_type in after[status]:
            if content_type not in media:
                out.append((f"response {status}", Delta("response.media.added", "", "", content_type)))
    return out
