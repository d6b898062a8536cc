"""The resource graph, inferred from the spec's paths and schemas at startup.

A *collection* is a path ending in a literal segment that has an *item* path below it
(``/assistants`` + ``/assistants/{assistant_id}``); a *sub-collection* hangs below an item
(``/threads/{thread_id}/messages``); an *action* is a POST on ``item/<verb>`` (``/batches/{batch_id}/cancel``);
*content* is a GET on ``item/content`` that answers bytes; a POST on ``<collection>/<sub-collection name>``
(``/threads/runs`` beside ``/threads/{thread_id}/runs``) creates a new parent and the child in it.
Each operation gets one :class:`Role`:

    create   POST collection            list     GET collection (a page with ``data``)
    retrieve GET item                   update   POST item
    delete   DELETE item                action   POST item/<verb>
    content  GET item/content

A kind is named by its object type (the ``object`` enum of the item schema: ``assistant``,
``thread.message``, ``batch``); the id prefix comes from the spec's examples (``asst_abc123`` -> ``asst_``).
Nothing here is per operationId: a new spec with the same path shapes gets the same behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from fakeai.spec.operation import Operation
from fakeai.spec.pointer import deref

ROLES = ("create", "list", "retrieve", "update", "delete", "action", "content")
_PARAM = re.compile(r"^\{([^}]+)\}$")
_PREFIX = re.compile(r"^([A-Za-z]+[_-])[A-Za-z0-9]")
NEW_PARENT = "\0new-parent"  # marks a create that makes its parent first, while roles are collected


@dataclass(frozen=True, slots=True)
class Role:
    """What one operation does to one kind of resource."""

    role: str  # one of ROLES
    kind: str  # object type of the resource, e.g. "assistant"
    parents: tuple[str, ...]  # path parameters naming the parents, outermost first (e.g. ("thread_id",))
    item_param: str | None  # the path parameter naming the resource itself (item, action, content)
    verb: str | None = None  # the action's last path segment (cancel, submit_tool_outputs...)
    new_parent: bool = False  # a create that makes its innermost parent first (``POST /threads/runs``)


@dataclass(slots=True)
class Kind:
    """One resource kind: where it lives and what its objects look like."""

    name: str
    collection: str  # the collection path template
    item_param: str
    parents: tuple[str, ...]
    id_prefix: str = ""
    item_schema: Any = None  # the item's response schema (as in the document, maybe a $ref)
    operations: dict[str, list[str]] = field(default_factory=dict)  # role -> operationIds


@dataclass(slots=True)
class Graph:
    kinds: dict[str, Kind] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)  # operationId -> role

    def role(self, operation_id: str) -> Role | None:
        return self.roles.get(operation_id)

    def summary(self) -> dict[str, dict[str, list[str]]]:
        return {name: dict(kind.operations) for name, kind in sorted(self.kinds.items())}


def _segments(path: str) -> list[str]:
    return [s for s in path.split("?")[0].split("/") if s]  # "/v1/x?beta=true": a variant of /v1/x


def _param(segment: str) -> str | None:
    match = _PARAM.match(segment)
    return match.group(1) if match else None


def _response_schema(document: Mapping[str, Any], operation: Operation) -> Mapping[str, Any] | None:
    media = operation.json_response
    if media is None or media.schema is None:
        return None
    schema = deref(document, media.schema)
    return schema if isinstance(schema, Mapping) else None


def _object_type(document: Mapping[str, Any], schema: Mapping[str, Any] | None) -> str | None:
    """The ``object`` enum/const of an item schema (``assistant``), through one level of anyOf/allOf."""
    if schema is None:
        return None
    for candidate in (schema, *(deref(document, s) for s in schema.get("allOf") or ())):
        if not isinstance(candidate, Mapping):
            continue
        props = candidate.get("properties") or {}
        # OpenAI names the object type in "object"; Anthropic in "type" (message_batch, model, file)
        prop = deref(document, props.get("object") or props.get("type") or {})
        if isinstance(prop, Mapping):
            values = prop.get("enum") or ([prop["const"]] if "const" in prop else [])
            if len(values) == 1 and isinstance(values[0], str):
                return values[0]
    return None


def _list_item_schema(document: Mapping[str, Any], schema: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """A page's item schema (``data: {type: array, items: ...}``), or None if ``schema`` is not a page."""
    if schema is None:
        return None
    data = deref(document, (schema.get("properties") or {}).get("data") or {})
    if isinstance(data, Mapping) and data.get("type") == "array" and isinstance(data.get("items"), Mapping):
        items = deref(document, data["items"])
        return items if isinstance(items, Mapping) else None
    return None


def _example_id(operation: Operation) -> str | None:
    for example in operation.examples:
        try:
            body = orjson.loads(example.response) if example.response else None
        except orjson.JSONDecodeError:
            continue
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            return str(body["id"])
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, list) and data and isinstance(data[0], dict) and isinstance(data[0].get("id"), str):
            return str(data[0]["id"])
    return None


def id_prefix(example_id: str | None) -> str:
    """``asst_abc123`` -> ``asst_``; ``ftjob-abc123`` -> ``ftjob-``; no prefix -> ``""``."""
    match = _PREFIX.match(example_id or "")
    return match.group(1) if match else ""


def infer(document: Mapping[str, Any], operations: Iterable[Operation]) -> Graph:
    """Classify every operation whose path has a resource shape; the rest get no role."""
    ops = list(operations)
    paths = {op.path.split("?")[0] for op in ops}
    items: dict[str, str] = {}  # collection path -> item param, from paths "<collection>/{param}"
    for path in paths:
        segs = _segments(path)
        if len(segs) >= 2 and _param(segs[-1]) and not _param(segs[-2]):
            items["/" + "/".join(segs[:-1])] = _param(segs[-1]) or ""
    for path in paths:  # collections whose items only have actions (/uploads/{upload_id}/complete)
        segs = _segments(path)
        collection = "/" + "/".join(segs[:-2])
        if len(segs) >= 3 and _param(segs[-2]) and collection in paths and collection not in items:
            items[collection] = _param(segs[-2]) or ""
    graph = Graph()
    pending: list[tuple[Operation, str, str, str | None]] = []  # op, role, collection, verb (or NEW_PARENT)
    sublists: list[Operation] = []  # GET item/<literal> answering a page: a list-only child (job events)
    for op in ops:
        segs = _segments(op.path)
        if not segs:
            continue
        last = _param(segs[-1])
        if last is not None:  # .../collection/{id}
            collection = "/" + "/".join(segs[:-1])
            if collection in items and items[collection] == last:
                role = {"GET": "retrieve", "POST": "update", "DELETE": "delete"}.get(op.method)
                if role:
                    pending.append((op, role, collection, None))
            continue
        path = "/" + "/".join(segs)
        parent = "/" + "/".join(segs[:-1])
        if op.method == "POST" and path not in items and parent in items:  # /threads/runs: a thread and its run
            child = f"{parent}/{{{items[parent]}}}/{segs[-1]}"
            if child in items:
                pending.append((op, "create", child, NEW_PARENT))
                continue
        if path in items:  # the collection itself
            role = {"POST": "create", "GET": "list"}.get(op.method)
            if role:
                pending.append((op, role, path, None))
            continue
        if len(segs) >= 3 and _param(segs[-2]):  # collection/{id}/<literal>
            collection = "/" + "/".join(segs[:-2])
            if collection in items and items[collection] == _param(segs[-2]):
                if op.method == "POST":
                    pending.append((op, "action", collection, segs[-1]))
                elif op.method == "GET" and op.json_response is None and op.binary_response is not None:
                    pending.append((op, "content", collection, segs[-1]))
                elif op.method == "GET":
                    sublists.append(op)
    by_collection: dict[str, list[tuple[Operation, str, str | None]]] = {}
    pending.sort(key=lambda member: member[3] == NEW_PARENT)  # a kind's plain create stays its first one
    for op, role, collection, verb in pending:
        by_collection.setdefault(collection, []).append((op, role, verb))
    for collection, members in sorted(by_collection.items()):
        kind = _kind_for(document, collection, items[collection], members)
        if kind is None:
            continue
        graph.kinds.setdefault(kind.name, kind)
        if graph.kinds[kind.name] is not kind:  # two collections of one object type (rare): keep both apart
            kind.name = f"{kind.name}@{collection}"
            graph.kinds[kind.name] = kind
        for op, role, verb in members:
            if role == "list" and _list_item_schema(document, _response_schema(document, op)) is None:
                continue  # a GET on the collection that is not a page
            kind.operations.setdefault(role, []).append(op.operation_id)
            new_parent = verb == NEW_PARENT
            verb = None if new_parent else verb
            graph.roles[op.operation_id] = Role(
                role, kind.name, kind.parents, _item_param(role, kind), verb, new_parent
            )
    for op in sublists:
        items_schema = _list_item_schema(document, _response_schema(document, op))
        name = _object_type(document, items_schema)
        if name is None or name in graph.kinds or op.operation_id in graph.roles:
            continue
        parents = tuple(p for p in (_param(seg) for seg in _segments(op.path)) if p is not None)
        kind = Kind(name, op.path.split("?")[0], "", parents, id_prefix(_example_id(op)), items_schema)
        kind.operations["list"] = [op.operation_id]
        graph.kinds[name] = kind
        graph.roles[op.operation_id] = Role("list", name, parents, None)
    return graph


def _item_param(role: str, kind: Kind) -> str | None:
    return None if role in ("create", "list") else kind.item_param


def _kind_for(
    document: Mapping[str, Any], collection: str, item_param: str, members: list[tuple[Operation, str, str | None]]
) -> Kind | None:
    """The kind behind one collection: object type and id prefix from its item-returning operations."""
    name: str | None = None
    schema: Any = None
    prefix = ""
    order = {"retrieve": 0, "create": 1, "update": 2, "list": 3}
    for op, role, _verb in sorted(members, key=lambda member: order.get(member[1], 9)):
        response = _response_schema(document, op)
        if role in ("retrieve", "create", "update") and response is not None:
            found = _object_type(document, response)
            if found == "list":  # createConversationItems answers a page of the items it made
                found = _object_type(document, _list_item_schema(document, response))
            if found and name is None:
                name, schema = found, op.json_response.schema if op.json_response else None
            prefix = prefix or id_prefix(_example_id(op))
        elif role == "list":
            item = _list_item_schema(document, response)
            found = _object_type(document, item)
            if found and name is None:
                name = found
                schema = (response or {}).get("properties", {}).get("data", {}).get("items")
            prefix = prefix or id_prefix(_example_id(op))
    if name is None:
        return None
    if not prefix:  # Anthropic puts examples on the schema's id property: "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF"
        item = deref(document, schema) if schema is not None else None
        id_schema = (
            deref(document, ((item or {}).get("properties") or {}).get("id") or {}) if isinstance(item, Mapping) else {}
        )
        examples = id_schema.get("examples") if isinstance(id_schema, Mapping) else None
        prefix = (
            id_prefix(examples[0]) if isinstance(examples, list) and examples and isinstance(examples[0], str) else ""
        )
    segs = _segments(collection)
    parents = tuple(p for p in (_param(s) for s in segs) if p is not None)
    return Kind(name, collection, item_param, parents, prefix, schema)
