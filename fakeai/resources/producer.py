"""The ``resources`` producer: one per operation the resource graph classifies, answering from the model.

Compiled at startup: the graph is inferred from the document once per :class:`CompileEnv` (cached by the
document's identity), the declarations (``spec/resources/*.yaml`` plus ``Settings.resources``) applied, and
per operation the generator it needs (the item body for create, the page for list, the answer for delete).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from fakeai.bundled import data_path
from fakeai.context import Output, RequestContext
from fakeai.generated.merge import absolute_refs
from fakeai.generated.schema import GenContext
from fakeai.producers.base import CompileEnv
from fakeai.producers.default import overrides
from fakeai.resources import derive as _derive  # noqa: F401 - registers the built-in derive functions
from fakeai.resources.declare import Declarations, load
from fakeai.resources.graph import Graph, Role, infer
from fakeai.resources.model import (
    DERIVE,
    ECHO,
    TOMBSTONE,
    CompiledKind,
    ListParams,
    ResourceModel,
    datetime_fields,
    schema_fields,
)
from fakeai.resources.run_stream import STREAMS
from fakeai.resources.work import INLINE_WORK, WORK
from fakeai.spec.operation import Operation, iter_operations
from fakeai.spec.pointer import deref
from fakeai.spec.validate import URN

Gen = Callable[[GenContext], Any]


def declaration_files(extra: tuple[str, ...] = ()) -> list[str]:
    shipped = sorted(str(p) for p in (data_path("spec") / "resources").glob("*.yaml"))
    return [*shipped, *extra]


def build(env: CompileEnv) -> tuple[Graph, ResourceModel, Declarations]:
    """The graph, model and declarations of ``env``'s document (built once per app: keyed by its store)."""
    cached: tuple[Graph, ResourceModel, Declarations] | None = env.store.compiled
    if cached is not None:
        return cached
    operations = list(iter_operations(env.document))
    graph, decls = declared_graph(env.document, tuple(env.settings.resources), operations)
    for name, declared in decls.kinds.items():  # declared stateless: other producers or generated data answer
        if declared.stateless and name in graph.kinds:
            del graph.kinds[name]
            graph.roles = {op: role for op, role in graph.roles.items() if role.kind != name}
    _declared_actions(graph, decls)
    scale = decls.scale * env.settings.lifecycle_scale
    kinds = {}
    for name, kind in graph.kinds.items():
        decl = decls.kinds.get(name)
        if decl is not None and decl.id_prefix is not None:
            kind.id_prefix = decl.id_prefix
        nullable, required = schema_fields(env.document, kind.item_schema)
        kinds[name] = CompiledKind(
            kind, decl, scale, nullable, required, datetime_fields(env.document, kind.item_schema)
        )
    generators = {}
    for name, kind in graph.kinds.items():
        create = next((op for op in operations if op.operation_id in kind.operations.get("create", [])), None)
        media = create.json_response if create is not None else None
        if media is not None and media.schema is not None:
            generators[name] = env.walker.deferred(media.schema)
    model = ResourceModel(kinds, env.store, env.settings.unknown_ids, generators)
    for name, kind in graph.kinds.items():  # objects stored by others (conversation items) filled on reads
        schema = _page_items(env, kind.item_schema) or kind.item_schema  # created as a page: its items
        item = deref(env.document, schema) if schema is not None else None
        if isinstance(item, Mapping) and "anyOf" in item:
            model.completers[name] = env.walker.completer(schema)
    model.operations = {op.operation_id: op for op in operations}
    model.inline = {name: WORK.get(name) for name in INLINE_WORK}
    env.store.compiled = (graph, model, decls)
    return graph, model, decls


def declared_graph(
    document: Any, extra: tuple[str, ...] = (), operations: list[Operation] | None = None
) -> tuple[Graph, Declarations]:
    """The resource graph of ``document`` with the declarations applied (also what ``fakeai check`` reads)."""
    operations = list(iter_operations(document)) if operations is None else operations
    graph = infer(document, operations)
    decls = load(
        declaration_files(extra),
        {op.operation_id for op in operations},
        set(DERIVE.names()),
        set(WORK.names()),
        set(ECHO.names()),
        set(STREAMS.names()),
    )
    _declare_extra_kinds(document, graph, decls, operations)
    return graph, decls


def _declared_actions(graph: Graph, decls: Declarations) -> None:
    """Actions a spec routes elsewhere than ``POST item/<verb>`` (``cancelEvalRun`` is a POST on the run itself,
    which the inference reads as an update): the declared ``operation`` becomes that action."""
    for name, decl in decls.kinds.items():
        kind = graph.kinds.get(name)
        for action in decl.lifecycle.actions.values() if decl.lifecycle and kind else ():
            role = graph.roles.get(action.operation or "")
            if kind is None or role is None or role.kind != name:
                continue
            graph.roles[action.operation or ""] = replace(role, role="action", verb=action.verb)
            for ops in kind.operations.values():
                if action.operation in ops:
                    ops.remove(action.operation)
            kind.operations.setdefault("action", []).append(action.operation or "")


def built_for(store: Any) -> tuple[Graph, ResourceModel, Declarations] | None:
    """The resource graph and model an app compiled over ``store`` (its ``FakeAI.store``), if any."""
    built: tuple[Graph, ResourceModel, Declarations] | None = getattr(store, "compiled", None)
    return built


def completer(store: Any, kind: str) -> Callable[[Mapping[str, Any], float], dict[str, Any]] | None:
    """``(body, now) -> body`` with what the branch of ``kind``'s item schema that ``body`` names requires and it
    lacks (:meth:`ResourceModel.completed`), for the app compiled over ``store``; None without one or the kind."""
    built = built_for(store)
    compiled = built[1].kinds.get(kind) if built is not None else None
    if built is None or compiled is None:
        return None
    model = built[1]

    def fill(body: Mapping[str, Any], now: float) -> dict[str, Any]:
        return model.completed(compiled, body, now)

    return fill


def forced(store: Any) -> Callable[..., Output | None] | None:
    """``(ctx, state, fields, tool_calls) -> Output``: the operation's resource answer with a scenario's ``resource:``
    directive applied (:meth:`ResourceModel.force`), for the app compiled over ``store``; None without one."""
    built = built_for(store)
    if built is None:
        return None
    model = built[1]

    def produce(
        ctx: RequestContext, state: str | None, fields: Mapping[str, Any], tool_calls: Sequence[Mapping[str, Any]]
    ) -> Output | None:
        producer = model.producers.get(ctx.operation_id)
        if producer is None:
            return None
        answer: Output | None = model.force(ctx, producer.kind, producer.produce(ctx), state, fields, tool_calls)
        return answer

    return produce


def _declare_extra_kinds(document: Any, graph: Graph, decls: Declarations, operations: list[Operation]) -> None:
    """Kinds the inference could not name (no ``object`` enum), declared with a ``collection``."""
    from fakeai.resources.graph import Kind, _param, _segments

    declared = {decl.collection for decl in decls.kinds.values() if decl.collection is not None}
    for name, decl in decls.kinds.items():
        if decl.collection is None or name in graph.kinds:
            continue
        collection = decl.collection
        item = next(
            (
                op.path
                for op in operations
                if op.path.startswith(collection + "/{") and op.path.count("/") == collection.count("/") + 1
            ),
            None,
        )
        if item is None:
            continue
        item_param = _param(_segments(item)[-1]) or ""
        parents = tuple(p for p in (_param(s) for s in _segments(collection)) if p)
        kind = Kind(name, collection, item_param, parents, decl.id_prefix or "")
        for op in operations:
            role = _role_for(op, collection, item)
            if role is None or (role.role == "action" and op.path in declared):  # a sub-collection, not a verb
                continue
            if role.role in ("retrieve", "create") and kind.item_schema is None and op.json_response is not None:
                kind.item_schema = op.json_response.schema
            kind.operations.setdefault(role.role, []).append(op.operation_id)
            graph.roles[op.operation_id] = Role(role.role, name, parents, role.item_param, role.verb)
        graph.kinds[name] = kind


def _role_for(op: Operation, collection: str, item: str) -> Role | None:
    if op.path == collection:
        role = {"POST": "create", "GET": "list"}.get(op.method)
        return Role(role, "", (), None) if role else None
    if op.path == item:
        role = {"GET": "retrieve", "POST": "update", "DELETE": "delete"}.get(op.method)
        return Role(role, "", (), item.rsplit("{", 1)[-1].rstrip("}")) if role else None
    if op.path.startswith(item + "/") and op.path.count("/") == item.count("/") + 1 and op.method == "POST":
        return Role("action", "", (), item.rsplit("{", 1)[-1].rstrip("}"), op.path.rsplit("/", 1)[-1])
    if op.path == item + "/content" and op.method == "GET" and op.json_response is None:  # the object's bytes
        return Role("content", "", (), item.rsplit("{", 1)[-1].rstrip("}"), "content")
    return None


class ResourceProducer:
    source = "resource"

    def __init__(
        self,
        model: ResourceModel,
        kind: CompiledKind,
        role: Role,
        body: Gen | None,
        check: Callable[[str, Any], bool],
        paging: ListParams | None,
        view: Gen | None = None,
        parents: Sequence[tuple[str, CompiledKind]] = (),
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.kind = kind
        self.role = role
        self.body = body
        self.check = check
        self.paging = paging
        self.view = view  # generator of this operation's item schema, when it is not the stored one
        self.parents = tuple(parents)  # (path parameter, the kind it names), outermost first
        self.defaults = dict(defaults or {})  # the request schema's defaults: what a create without them means

    def _viewed(self, ctx: RequestContext, output: Output | None, page: bool) -> Output | None:
        """The stored object seen through this operation's own schema when it differs from the one it was
        created with (a role assignment retrieved as a role): its fields kept where they fit, the rest generated."""
        if output is None or self.view is None or not isinstance(output.body, dict):
            return output
        view = self.view

        def seen(stored: Any) -> Any:
            if not isinstance(stored, dict):
                return stored
            made = view(GenContext(rng=ctx.rng, now=ctx.now, overrides={"id": stored.get("id")}, echo=stored))
            return made if isinstance(made, dict) else stored

        if page:
            body = {**output.body, "data": [seen(item) for item in output.body.get("data") or []]}
        else:
            body = seen(output.body)
        return replace(output, body=body)

    def _generated(self, ctx: RequestContext) -> dict[str, Any]:
        if self.body is None:
            return {}
        echo = ctx.body if isinstance(ctx.body, dict) else {}
        if self.defaults:  # an assistant created without tools has none (``tools`` defaults to [])
            echo = {**self.defaults, **echo}
        values = overrides(ctx)
        values.pop("id", None)  # the path's last id is the parent's for creates and lists
        generated = self.body(GenContext(rng=ctx.rng, now=ctx.now, overrides=values, echo=echo))
        return dict(generated) if isinstance(generated, dict) else {}

    def _touched(self, ctx: RequestContext, output: Output | None) -> Output | None:
        if not self.parents or self.kind.decl is None or self.kind.decl.touches is None:
            return output
        param, parent = self.parents[-1]
        return self.model.touch(ctx, parent, param, self.kind.decl.touches, output)

    def produce(self, ctx: RequestContext) -> Output | None:
        output = self._answer(ctx)
        stream = self.kind.decl.stream if self.kind.decl is not None else None
        if (
            stream is not None
            and output is not None
            and ctx.wants_stream
            and ctx.operation.stream_response is not None  # the operations the spec (or an overlay) lets stream
            and self.role.role in ("create", "action")
        ):
            return STREAMS.get(stream)(self.model, ctx, self.kind, output, self.role.role == "create")
        return output

    def _answer(self, ctx: RequestContext) -> Output | None:
        role = self.role.role
        ident = ctx.path_params.get(self.role.item_param or "", "")
        parents = self.parents[:-1] if self.role.new_parent else self.parents  # /threads/runs makes its thread
        for param, parent in parents:  # a child of a deleted or never-issued parent is OpenAI's 404
            parent_ident = ctx.path_params.get(param, "")
            parent_key = parent.key(ctx.path_params, parent_ident)
            record = self.model.store.get(ctx.namespace, parent.name, parent_key)
            if record is None or record.meta.get(TOMBSTONE):
                self.model.missing(ctx, parent, parent_ident, record)
        if role == "create" and self.role.new_parent and self.parents:
            param, parent = self.parents[-1]
            return self.model.create_in_new_parent(ctx, self.kind, parent, param, self._generated(ctx))
        if role == "create":
            return self._touched(ctx, self.model.create(ctx, self.kind, self._generated(ctx)))
        if role == "list":
            assert self.paging is not None
            return self._viewed(ctx, self.model.listing(ctx, self.kind, self._generated(ctx), self.paging), True)
        if role == "retrieve":
            return self._viewed(ctx, self.model.retrieve(ctx, self.kind, ident), False)
        if role == "update":
            return self._viewed(ctx, self.model.update(ctx, self.kind, ident, self.check), False)
        if role == "delete":
            return self._touched(ctx, self.model.delete(ctx, self.kind, ident, self._generated(ctx)))
        if role == "action":
            return self.model.action(ctx, self.kind, ident, self.role.verb or "", self._generated(ctx))
        if role == "content":
            return self.model.content(ctx, self.kind, ident)
        return None


def _property_check(env: CompileEnv, schema: Any) -> Callable[[str, Any], bool]:
    resolved = deref(env.document, schema) if schema is not None else None
    props: Mapping[str, Any] = (resolved or {}).get("properties") or {} if isinstance(resolved, Mapping) else {}
    cache: dict[str, Any] = {}

    def check(name: str, value: Any) -> bool:
        if name not in props:
            return False
        validator = cache.get(name)
        if validator is None:
            validator = cache[name] = env.validators.for_schema(absolute_refs(props[name], URN))
        return bool(validator.is_valid(value))

    return check


def _paging(env: CompileEnv, operation: Operation) -> ListParams:
    limit, order = 20, "desc"
    for param in operation.parameters:
        schema = deref(env.document, param.schema) if param.schema else {}
        if param.location == "query" and param.name == "limit" and isinstance(schema.get("default"), int):
            limit = schema["default"]
        if param.location == "query" and param.name == "order" and isinstance(schema.get("default"), str):
            order = schema["default"]
    if operation.operation_id == "listFiles" and not any(p.name == "limit" for p in operation.parameters):
        limit = 10_000
    media = operation.json_response
    nullable, _ = schema_fields(env.document, media.schema if media else None)
    return ListParams(limit, order, nullable)


def resources_factory(operation: Operation, env: CompileEnv) -> ResourceProducer | None:
    if env.store is None:
        return None
    graph, model, _decls = build(env)
    role = graph.role(operation.operation_id)
    if role is None:
        return None
    kind = model.kinds[role.kind]
    media = operation.json_response
    body = env.walker.deferred(media.schema) if media is not None and media.schema is not None else None
    paging = _paging(env, operation) if role.role == "list" else None
    check = _property_check(env, kind.kind.item_schema)
    view = _view(env, model, kind, role, operation)
    defaults = _request_defaults(env, operation) if role.role == "create" else {}
    producer = ResourceProducer(model, kind, role, body, check, paging, view, _parents(model, kind), defaults)
    model.producers[operation.operation_id] = producer
    return producer


def _request_defaults(env: CompileEnv, operation: Operation) -> dict[str, Any]:
    """Top-level ``default`` values of a create's JSON request schema (``tools: []``, ``metadata``...)."""
    media = operation.request_media.get("application/json")
    schema = deref(env.document, media.schema) if media is not None and media.schema is not None else None
    props = (schema.get("properties") or {}) if isinstance(schema, Mapping) else {}
    found = {}
    for name, prop in props.items():
        prop = deref(env.document, prop)
        if isinstance(prop, Mapping) and "default" in prop:
            found[name] = prop["default"]
    return found


def _parents(model: ResourceModel, kind: CompiledKind) -> list[tuple[str, CompiledKind]]:
    """The kinds a kind's path parameters name: ``/threads/{thread_id}/runs`` -> (thread_id, thread)."""
    found = []
    for param in kind.kind.parents:
        prefix = kind.kind.collection.split("{" + param + "}")[0].rstrip("/")
        parent = next(
            (k for k in model.kinds.values() if k.kind.collection == prefix and k.kind.item_param == param), None
        )
        if parent is not None:
            found.append((param, parent))
    return found


def _page_items(env: CompileEnv, schema: Any) -> Any:
    """The item schema of a page schema (``data: {type: array, items: ...}``), else None."""
    page = deref(env.document, schema)
    data = ((page or {}).get("properties") or {}).get("data") if isinstance(page, Mapping) else None
    data = deref(env.document, data) if data is not None else None
    return data.get("items") if isinstance(data, Mapping) and data.get("type") == "array" else None


def _view(env: CompileEnv, model: ResourceModel, kind: CompiledKind, role: Role, operation: Operation) -> Gen | None:
    """A generator for this operation's item schema if it differs from the schema objects are stored in."""
    if role.role not in ("retrieve", "update", "list"):
        return None
    create = next((model.operations[i] for i in kind.kind.operations.get("create", []) if i in model.operations), None)
    stored = create.json_response.schema if create is not None and create.json_response is not None else None
    if stored is not None and _page_items(env, stored) is not None:  # created as a page (conversation items)
        stored = _page_items(env, stored)
    media = operation.json_response
    mine = media.schema if media is not None else None
    if role.role == "list" and mine is not None:
        mine = _page_items(env, mine)
    if stored is None or mine is None or deref(env.document, stored) == deref(env.document, mine):
        return None
    view: Gen = env.walker.deferred(mine)
    return view
