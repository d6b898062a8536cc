"""Stateful answers for every operation the resource graph classifies (create, list, retrieve, ...).

Create stores the object the client sees (the schema generator's body with the request's fields echoed,
a fresh id with the kind's prefix, the parents' ids, the lifecycle's initial status); retrieve returns it;
update merges; delete removes (later reads are 404); list pages through what is stored (``after``,
``before``, ``limit``, ``order``, ``has_more``, ``first_id``/``last_id``) and is empty when nothing is.
Lifecycles advance lazily when a record is read, on the injected clock (``ctx.now``): every transition
that is due is applied at the time it was due, with its timestamps, so reads agree however often they
poll. Producers never write: every change is an :class:`~fakeai.context.Effect`.

Unknown ids: an id this server could have issued (the kind's prefix and at least 12 more id characters)
or one that was deleted is OpenAI's 404. A placeholder such as ``file_id`` or ``asst_abc123`` falls through
to generated data (the SDKs' own test suites call endpoints with such ids and expect a 200);
``unknown_ids: "404"`` in the settings makes every unknown id a 404.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fakeai.context import Effect, Output, RequestContext, UploadedFile
from fakeai.errors import APIError
from fakeai.generated.schema import GenContext
from fakeai.ids import new_id
from fakeai.plugins import Registry
from fakeai.resources.declare import KindDecl, Lifecycle
from fakeai.resources.graph import Kind
from fakeai.spec.pointer import deref
from fakeai.store import Record, ResourceStore

if TYPE_CHECKING:
    from fakeai.pipeline import Runner

WELL_FORMED = 12  # id characters after the prefix from which an unknown id is "one we would have issued"
TOMBSTONE = "deleted"
WORKED = "worked"  # meta: the states whose work has run
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

Echo = Callable[[Any], Any]
ECHO: Registry[Echo] = Registry("echo transform")  # request value -> the answer's value (``echo:`` in YAML)
echo = ECHO.register

Completer = Callable[[GenContext, Mapping[str, Any]], dict[str, Any]]  # fakeai.generated SchemaWalker.completer
Derive = Callable[[ResourceStore, str, "CompiledKind", dict[str, Any], Record], None]
DERIVE: Registry[Derive] = Registry("derive function")
derive = DERIVE.register


@dataclass(slots=True)
class CompiledKind:
    """A kind with its declarations applied, ready for requests."""

    kind: Kind
    decl: KindDecl | None
    scale: float
    nullable: frozenset[str]  # top-level fields whose schema allows null
    required: frozenset[str]
    datetimes: frozenset[str] = frozenset()  # top-level fields that are RFC 3339 strings

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def prefix(self) -> str:
        return (self.decl.id_prefix if self.decl and self.decl.id_prefix is not None else None) or self.kind.id_prefix

    @property
    def lifecycle(self) -> Lifecycle | None:
        return self.decl.lifecycle if self.decl else None

    def key(self, parents: Mapping[str, str], ident: str) -> str:
        return "/".join([*(parents.get(p, "") for p in self.kind.parents), ident])

    def not_found(self, ident: str) -> APIError:
        label = self.name.split("@")[0].split(".")[-1].replace("_", " ")
        template = (self.decl.not_found if self.decl else None) or "No {object} found with id '{id}'."
        return APIError(404, fill(template, {"object": label, "id": ident}))


def fill(template: str, values: Mapping[str, Any]) -> str:
    """``{name}`` placeholders from ``values`` (no attribute access, no format spec: data, not code)."""
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), template)


def schema_fields(document: Mapping[str, Any], schema: Any) -> tuple[frozenset[str], frozenset[str]]:
    """(nullable, required) top-level property names of an item schema."""
    resolved = deref(document, schema) if schema is not None else None
    if not isinstance(resolved, Mapping):
        return frozenset(), frozenset()
    nullable = set()
    for name, prop in (resolved.get("properties") or {}).items():
        prop = deref(document, prop)
        if isinstance(prop, Mapping) and _allows_null(document, prop):
            nullable.add(name)
    return frozenset(nullable), frozenset(resolved.get("required") or ())


def datetime_fields(document: Mapping[str, Any], schema: Any) -> frozenset[str]:
    """Top-level properties that are RFC 3339 strings (``format: date-time``, Anthropic's timestamps)."""
    resolved = deref(document, schema) if schema is not None else None
    found = set()
    for name, prop in ((resolved or {}).get("properties") or {}).items() if isinstance(resolved, Mapping) else ():
        prop = deref(document, prop)
        branches = [prop, *(deref(document, b) for b in (prop.get("anyOf") or ()))] if isinstance(prop, Mapping) else []
        if any(isinstance(b, Mapping) and b.get("format") == "date-time" for b in branches):
            found.add(name)
    return frozenset(found)


def stamp(kind: CompiledKind, name: str, at: float) -> Any:
    """A timestamp as the field wants it: unix seconds, or an RFC 3339 string."""
    if name in kind.datetimes:
        return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
    return int(at)


def _allows_null(document: Mapping[str, Any], schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    for branch in (*(schema.get("anyOf") or ()), *(schema.get("oneOf") or ())):
        branch = deref(document, branch)
        if isinstance(branch, Mapping) and _allows_null(document, branch):
            return True
    return False


class ResourceModel:
    """The graph's kinds with their declarations, over one :class:`ResourceStore`."""

    def __init__(
        self,
        kinds: Mapping[str, CompiledKind],
        store: ResourceStore,
        unknown_ids: str = "well-formed",
        generators: Mapping[str, Callable[[GenContext], Any]] | None = None,
    ) -> None:
        self.kinds = kinds
        self.store = store
        self.unknown_ids = unknown_ids
        self.generators = generators or {}  # kind -> its create answer's generator (for nested creates)
        self.operations: dict[str, Any] = {}  # operationId -> Operation of the document
        self.inline: dict[str, Callable[..., Any]] = {}  # work run while answering (fakeai.resources.work)
        self.producers: dict[str, Any] = {}  # operationId -> its ResourceProducer (scenario ``resource:`` rules)
        self.completers: dict[str, Completer] = {}  # kind (item schema a union) -> fills a branch's required fields
        # the pipeline's runner (create_app sets it): a streamed run does its work while it is answered
        self.runner: Runner | None = None

    # -- reading -----------------------------------------------------------------------------------
    def load(self, ctx: RequestContext, kind: CompiledKind, ident: str) -> tuple[Record | None, list[Effect]]:
        """The record as of ``ctx.now`` (lifecycle advanced), and the effect that stores the advance."""
        key = kind.key(ctx.path_params, ident)
        record = self.store.get(ctx.namespace, kind.name, key)
        if record is None or record.meta.get(TOMBSTONE):
            return record, []
        advanced = self.advance(ctx, kind, record)
        effects = [] if advanced is record else [Effect("put", kind.name, key, advanced)]
        return self.with_work(ctx.namespace, ctx.now, kind, key, advanced, effects)

    def completed(self, kind: CompiledKind, body: Mapping[str, Any], now: float) -> dict[str, Any]:
        """``body`` with what the branch of its kind's item schema it names by ``type`` requires and it lacks:
        items other code stored (a conversation's ``computer_call_output`` added as sent) get ``status:
        completed``. Seeded by the id, not the request, so every read (and the create's answer) agrees."""
        fill = self.completers.get(kind.name)
        if fill is None:
            return dict(body)
        rng = random.Random(f"{kind.name}/{body.get('id')}")
        return fill(GenContext(rng=rng, now=now, overrides={}), body)

    def missing(self, ctx: RequestContext, kind: CompiledKind, ident: str, record: Record | None) -> Output | None:
        """A 404 for ids we would have issued or that were deleted; None lets generated data answer."""
        if record is not None and record.meta.get(TOMBSTONE):
            raise kind.not_found(ident)
        if self.unknown_ids == "404" or is_well_formed(ident, kind.prefix):
            raise kind.not_found(ident)
        return None

    def advance(self, ctx: RequestContext, kind: CompiledKind, record: Record) -> Record:
        return self._advance(ctx.now, ctx.namespace, kind, record)

    def _advance(self, now: float, namespace: str, kind: CompiledKind, record: Record) -> Record:
        lifecycle = kind.lifecycle
        if lifecycle is None:
            return self._derived(namespace, kind, record)
        body = dict(record.body)
        since = float(record.meta.get("since", body.get("created_at") or now))
        state = lifecycle.states.get(str(body.get(lifecycle.field)))
        changed = False
        worked = record.meta.get(WORKED, ())
        while state is not None and state.after is not None and state.next is not None:
            if state.work is not None and state.name not in worked:
                break  # the state's work has not run yet: it holds (the work's effect comes with this answer)
            due = since + state.after * kind.scale
            if due > now:
                break
            state = lifecycle.states[state.next]
            since = due
            enter(body, state.name, lifecycle, state.stamp, state.set, due, kind)
            changed = True
        if not changed:
            return self._derived(namespace, kind, record)
        return self._derived(namespace, kind, replace(record, body=body, meta={**record.meta, "since": since}))

    def _derived(self, namespace: str, kind: CompiledKind, record: Record) -> Record:
        if not kind.decl or not kind.decl.derive:
            return record
        body = dict(record.body)
        for name in kind.decl.derive:
            DERIVE.get(name)(self.store, namespace, kind, body, record)
        return record if body == record.body else replace(record, body=body)

    # -- operations ----------------------------------------------------------------------------------
    def create(self, ctx: RequestContext, kind: CompiledKind, body: dict[str, Any]) -> Output:
        request = ctx.body if isinstance(ctx.body, dict) else {}
        record, _key, effects = self.make(
            ctx.namespace, kind, request, ctx.path_params, ctx.rng, ctx.now, body, ctx.files
        )
        return Output(status=ctx.operation.status, body=record.body, source="resource", effects=tuple(effects))

    def create_in_new_parent(
        self, ctx: RequestContext, kind: CompiledKind, parent: CompiledKind, param: str, body: dict[str, Any]
    ) -> Output:
        """``POST /threads/runs``: the parent made first from the request field named like it (``thread``: its
        messages too), then the object in it, as the two creates would."""
        request = ctx.body if isinstance(ctx.body, dict) else {}
        field_name = parent.name.split(".")[-1]
        given = request.get(field_name)
        parent_request: dict[str, Any] = given if isinstance(given, dict) else {}
        generate = self.generators.get(parent.name)
        made = generate(GenContext(rng=ctx.rng, now=ctx.now, overrides={}, echo=parent_request)) if generate else {}
        parent_body = dict(made) if isinstance(made, dict) else {}
        record, _key, effects = self.make(
            ctx.namespace, parent, parent_request, ctx.path_params, ctx.rng, ctx.now, parent_body
        )
        parents = {**ctx.path_params, param: str(record.body["id"])}
        own = {name: value for name, value in request.items() if name != field_name}
        child, _key, more = self.make(ctx.namespace, kind, own, parents, ctx.rng, ctx.now, body, ctx.files)
        return Output(status=ctx.operation.status, body=child.body, source="resource", effects=(*effects, *more))

    def make(
        self,
        namespace: str,
        kind: CompiledKind,
        request: Mapping[str, Any],
        parents: Mapping[str, str],
        rng: Any,
        now: float,
        body: dict[str, Any],
        files: Mapping[str, Sequence[UploadedFile]] | None = None,
    ) -> tuple[Record, str, list[Effect]]:
        """A new object of ``kind`` (``body`` generated from its schema, the request echoed into it), the
        objects its request nests (a thread's ``messages``), and the effects that store them."""
        id_field = kind.decl.id_from if kind.decl else None
        ident = str(request[id_field]) if id_field and isinstance(request.get(id_field), str) else None
        prefix = kind.prefix or (kind.name.split(".")[-1][:4] + "_")
        while ident is None or (not id_field and self.store.get(namespace, kind.name, kind.key(parents, ident))):
            # the same request twice makes two objects: draw again while the id is taken (still deterministic)
            ident = new_id(rng, prefix, 24)
        body["id"] = ident
        for param in kind.kind.parents:
            if param in body or param in (kind.required | kind.nullable):
                body[param] = parents.get(param, body.get(param))
        for name in ("created_at", "created"):
            if isinstance(body.get(name), int) or name in kind.datetimes:
                body[name] = stamp(kind, name, now)
        decl = kind.decl
        for name, value in (decl.defaults if decl else {}).items():
            if name not in request:
                body[name] = value
        if decl is not None and decl.inherit is not None:  # e.g. a run takes its assistant's model and tools
            link, source_kind, names = decl.inherit
            linked = self.store.get(namespace, source_kind, str(request.get(link, "")))
            source = linked.body if linked is not None else {}
            for name in names:
                if name not in request and name in source:
                    body[name] = source[name]
        for name, transform in (decl.echo if decl else {}).items():
            if name in request:
                body[name] = ECHO.get(transform)(request[name])
        for name in decl.unset if decl else ():
            clear(body, name, kind)
        data = self._content(namespace, kind, request, files or {}, body)
        lifecycle = kind.lifecycle
        if lifecycle is not None:
            state = lifecycle.states[lifecycle.initial]
            enter(body, state.name, lifecycle, state.stamp, state.set, now, kind)
        lists = {k: v for k, v in request.items() if isinstance(v, list) and len(v) <= 10_000}  # e.g. file_ids
        record = Record(body, data, meta={"since": now, "parents": dict(parents), "request": lists})
        record = self._advance(now, namespace, kind, record)  # zero-duration states pass at once (scale 0)
        key = kind.key(parents, ident)
        record, effects = self.with_work(namespace, now, kind, key, record, [Effect("put", kind.name, key, record)])
        for field_name, child_name in (decl.nested if decl else {}).items():
            child = self.kinds.get(child_name)
            generate = self.generators.get(child_name)
            items = request.get(field_name)
            if child is None or generate is None or not isinstance(items, list):
                continue
            child_parents = {**parents, kind.kind.item_param: ident, **dict.fromkeys(child.kind.parents[-1:], ident)}
            for item in items[:1000]:
                copy = child.decl.content.copy if child.decl and child.decl.content else None
                if isinstance(item, str) and copy:  # a list of File ids: a child copying each (container file_ids)
                    item = {copy: item}
                if isinstance(item, dict):
                    made = generate(GenContext(rng=rng, now=now, overrides={}, echo=item))
                    child_body = dict(made) if isinstance(made, dict) else {}
                    effects += self.make(namespace, child, item, child_parents, rng, now, child_body)[2]
        return record, key, effects

    def _content(
        self,
        namespace: str,
        kind: CompiledKind,
        request: Mapping[str, Any],
        files: Mapping[str, Sequence[UploadedFile]],
        body: dict[str, Any],
    ) -> bytes:
        """The bytes a new object keeps (``content:`` of its kind): the multipart part, else a copy of the
        uploaded File the request names (an unknown one is OpenAI's 404), and the fields ``set`` fills from
        them. Neither given (the spec requires neither) or a placeholder id: no bytes, generated names."""
        content = kind.decl.content if kind.decl else None
        if content is None:
            return b""
        uploads = files.get(content.part or "") or ()
        values: dict[str, Any] = {"bytes": 0}
        data = b""
        if uploads:
            data, values["filename"] = uploads[0].data, uploads[0].filename or content.part or "file"
        elif content.copy and isinstance(request.get(content.copy), str):
            ident = str(request[content.copy])
            source = self.store.get(namespace, "file", ident)
            files_kind = self.kinds.get("file")
            if source is not None and not source.meta.get(TOMBSTONE):
                data, values["filename"] = source.data, str(source.body.get("filename") or ident)
            elif files_kind is not None and (self.unknown_ids == "404" or is_well_formed(ident, files_kind.prefix)):
                missing = files_kind.not_found(ident)
                missing.param = content.copy
                raise missing
        values["bytes"] = len(data)
        for name, template in content.set.items():
            if not isinstance(template, str):
                body[name] = template
                continue
            wanted = _PLACEHOLDER.findall(template)
            if not all(w in values for w in wanted):
                continue  # no filename to say: the generated value stays
            whole = _PLACEHOLDER.fullmatch(template)
            body[name] = values[whole.group(1)] if whole else fill(template, values)  # "{bytes}" stays an integer
        return data

    def _taken(self, ctx: RequestContext, kind: CompiledKind, ident: str) -> bool:
        return self.store.get(ctx.namespace, kind.name, kind.key(ctx.path_params, ident)) is not None

    def retrieve(self, ctx: RequestContext, kind: CompiledKind, ident: str) -> Output | None:
        record, effects = self.load(ctx, kind, ident)
        if record is None or record.meta.get(TOMBSTONE):
            return self.missing(ctx, kind, ident, record)
        body = self.completed(kind, record.body, float(record.meta.get("since", ctx.now)))
        return Output(status=ctx.operation.status, body=body, source="resource", effects=tuple(effects))

    def with_work(
        self, namespace: str, now: float, kind: CompiledKind, key: str, record: Record, effects: list[Effect]
    ) -> tuple[Record, list[Effect]]:
        """The record and ``effects`` plus the work its current state still needs. Work that only reads the
        store (``inline``: a fine-tune's trail) runs now, so this very answer shows its result; work that asks
        other operations (a batch's lines) is an effect the simulate stage runs with the pipeline's runner."""
        lifecycle = kind.lifecycle
        state = lifecycle.states.get(str(record.body.get(lifecycle.field))) if lifecycle else None
        if state is None or state.work is None or state.name in record.meta.get(WORKED, ()):
            return record, effects
        request = Effect("work", kind.name, key, record, work=state.work)
        inline = self.inline.get(state.work)
        if inline is None:
            return record, [*effects, request]
        made = list(inline(None, self.store, namespace, request, now))
        mine = [e for e in made if e.action == "put" and (e.kind, e.id) == (kind.name, key)]
        kept = [e for e in effects if not (e.action == "put" and (e.kind, e.id) == (kind.name, key))]
        return (mine[-1].record if mine else record), [*kept, *made]

    def update(
        self, ctx: RequestContext, kind: CompiledKind, ident: str, check: Callable[[str, Any], bool]
    ) -> Output | None:
        record, _ = self.load(ctx, kind, ident)
        if record is None or record.meta.get(TOMBSTONE):
            return self.missing(ctx, kind, ident, record)
        request = ctx.body if isinstance(ctx.body, dict) else {}
        body = dict(record.body)
        for name, value in request.items():
            if name in body and check(name, value):
                body[name] = value
        updated = replace(record, body=body)
        key = kind.key(ctx.path_params, ident)
        return Output(
            status=ctx.operation.status, body=body, source="resource", effects=(Effect("put", kind.name, key, updated),)
        )

    def delete(self, ctx: RequestContext, kind: CompiledKind, ident: str, answer: dict[str, Any]) -> Output | None:
        record, _ = self.load(ctx, kind, ident)
        if record is None or record.meta.get(TOMBSTONE):
            return self.missing(ctx, kind, ident, record)
        answer["id"] = ident
        if "deleted" in answer:
            answer["deleted"] = True
        key = kind.key(ctx.path_params, ident)
        tombstone = Record({"id": ident}, meta={TOMBSTONE: True})
        return Output(
            status=ctx.operation.status,
            body=answer,
            source="resource",
            effects=(Effect("put", kind.name, key, tombstone), *self._children_gone(ctx.namespace, kind, key)),
        )

    def touch(
        self, ctx: RequestContext, parent: CompiledKind, param: str, field_name: str, output: Output | None
    ) -> Output | None:
        """``output`` and the stamp of the parent's ``field_name`` (``touches``: a container's ``last_active_at``
        when a file is added or removed): what a child's create or delete does to the parent it is filed under."""
        if output is None or output.status >= 400:
            return output
        key = parent.key(ctx.path_params, ctx.path_params.get(param, ""))
        record = self.store.get(ctx.namespace, parent.name, key)
        if record is None or record.meta.get(TOMBSTONE) or field_name not in record.body:
            return output
        touched = replace(record, body={**record.body, field_name: stamp(parent, field_name, ctx.now)})
        return replace(output, effects=(*output.effects, Effect("put", parent.name, key, touched)))

    def _children_gone(self, namespace: str, kind: CompiledKind, key: str) -> list[Effect]:
        """Deletes of the objects filed under a deleted one (a container's files, a thread's messages): they
        would answer 404 anyway (their parent is gone); dropped, they stop counting against the store's bounds."""
        below = f"{kind.kind.collection}/{{{kind.kind.item_param}}}/"
        effects = []
        for child in self.kinds.values():
            if child is kind or not child.kind.collection.startswith(below):
                continue
            effects += [
                Effect("delete", child.name, k)
                for k, _ in self.store.entries(namespace, child.name)
                if k.startswith(key + "/")
            ]
        return effects

    def action(
        self, ctx: RequestContext, kind: CompiledKind, ident: str, verb: str, answer: dict[str, Any] | None = None
    ) -> Output | None:
        lifecycle = kind.lifecycle
        action = lifecycle.actions.get(verb) if lifecycle else None
        if lifecycle is None or action is None:
            return None  # an action the declarations do not describe: generated data
        record, _ = self.load(ctx, kind, ident)
        if record is None or record.meta.get(TOMBSTONE):
            return self.missing(ctx, kind, ident, record)
        body = dict(record.body)
        status = body.get(lifecycle.field)
        if action.sources and status not in action.sources:
            values = {"verb": verb, "object": kind.name.split(".")[-1].replace("_", " "), "status": status}
            raise APIError(400, fill(action.error, values))
        if action.creates is not None:
            return self._add_child(ctx, kind, ident, action.creates, answer or {})
        enter(body, action.to, lifecycle, action.stamp, action.set, ctx.now, kind)
        state = lifecycle.states[action.to]
        if state.stamp:
            body[state.stamp] = stamp(kind, state.stamp, ctx.now)
        worked = tuple(w for w in record.meta.get(WORKED, ()) if w != action.to)  # entered again: work again
        request = ctx.body if isinstance(ctx.body, dict) else {}
        meta = {**record.meta, "since": ctx.now, WORKED: worked, f"action:{verb}": request}
        updated = self.advance(ctx, kind, replace(record, body=body, meta=meta))
        key = kind.key(ctx.path_params, ident)
        updated, effects = self.with_work(
            ctx.namespace, ctx.now, kind, key, updated, [Effect("put", kind.name, key, updated)]
        )
        return Output(status=ctx.operation.status, body=updated.body, source="resource", effects=tuple(effects))

    def force(
        self,
        ctx: RequestContext,
        kind: CompiledKind,
        output: Output | None,
        state: str | None,
        fields: Mapping[str, Any],
        tool_calls: Sequence[Mapping[str, Any]] = (),
    ) -> Output | None:
        """A scenario's ``resource:`` directive applied to this answer's object: entered into ``state`` (its stamp
        and ``set`` values; its work runs as on any entry), ``fields`` merged, ``tool_calls`` pending (a run's
        ``requires_action``, as :func:`fakeai.resources.work.run_assistant` leaves it). The stored record follows;
        work the object waited for in its previous state is dropped."""
        if output is None or output.status >= 400 or not isinstance(output.body, dict) or "id" not in output.body:
            return output
        lifecycle = kind.lifecycle
        if state is not None and (lifecycle is None or state not in lifecycle.states):
            raise APIError(500, f"fakeai scenario: {kind.name} has no state {state!r}", type="server_error")
        key = kind.key(ctx.path_params, str(output.body["id"]))
        mine = [e for e in output.effects if (e.kind, e.id) == (kind.name, key)]
        puts = [e.record for e in mine if e.action == "put"]
        record = puts[-1] if puts else self.store.get(ctx.namespace, kind.name, key) or Record(dict(output.body))
        body = dict(record.body)
        meta = dict(record.meta)
        if state is not None and lifecycle is not None and body.get(lifecycle.field) != state:  # polls keep stamps
            declared = lifecycle.states[state]
            enter(body, state, lifecycle, declared.stamp, declared.set, ctx.now, kind)
            meta.update(since=ctx.now, **{WORKED: tuple(w for w in meta.get(WORKED, ()) if w != state)})
        if tool_calls:
            calls = [dict(call) for call in tool_calls]
            body["required_action"] = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}
            meta["tool_calls"] = calls
        updated = self._derived(ctx.namespace, kind, replace(record, body=body, meta=meta))
        updated = replace(updated, body={**updated.body, **fields})  # the scenario's fields win over derived ones
        kept = [e for e in output.effects if (e.kind, e.id) != (kind.name, key)]
        put = [Effect("put", kind.name, key, updated)]
        updated, effects = self.with_work(ctx.namespace, ctx.now, kind, key, updated, put)
        return replace(output, body=updated.body, effects=(*effects, *kept))

    def _add_child(
        self, ctx: RequestContext, kind: CompiledKind, ident: str, creates: tuple[str, str], body: dict[str, Any]
    ) -> Output:
        """An action that adds a child (an upload's part): the child stored with the request's bytes, answered."""
        child_kind, prefix = creates
        parent_field = f"{kind.name.split('.')[-1]}_id"
        child = new_id(ctx.rng, prefix, 24)
        while self.store.get(ctx.namespace, child_kind, f"{ident}/{child}") is not None:
            child = new_id(ctx.rng, prefix, 24)
        body.update(id=child, created_at=int(ctx.now))
        if parent_field in body:
            body[parent_field] = ident
        uploads = [f for files in ctx.files.values() for f in files]
        data = uploads[0].data if uploads else b""
        record = Record(body, data, meta={"since": ctx.now, "parents": {parent_field: ident}})
        effect = Effect("put", child_kind, f"{ident}/{child}", record)
        return Output(status=ctx.operation.status, body=body, source="resource", effects=(effect,))

    def content(self, ctx: RequestContext, kind: CompiledKind, ident: str) -> Output | None:
        record, _ = self.load(ctx, kind, ident)
        if record is None or record.meta.get(TOMBSTONE):
            return self.missing(ctx, kind, ident, record)
        media = ctx.operation.binary_response  # none declared (a container file's content): raw bytes
        content_type = media.content_type if media is not None else "application/octet-stream"
        return Output(status=ctx.operation.status, body=record.data, content_type=content_type, source="resource")

    def listing(self, ctx: RequestContext, kind: CompiledKind, page: dict[str, Any], limits: ListParams) -> Output:
        prefix = "/".join(ctx.path_params.get(p, "") for p in kind.kind.parents)
        items: list[dict[str, Any]] = []
        effects: list[Effect] = []
        for key, record in self.store.entries(ctx.namespace, kind.name):
            if record.meta.get(TOMBSTONE) or (prefix and not key.startswith(prefix + "/")):
                continue
            ident = str(record.body.get("id", key.rsplit("/", 1)[-1]))
            current, advance = (
                self.load(ctx, kind, ident)
                if kind.lifecycle or (kind.decl and kind.decl.derive)
                else (
                    record,
                    [],
                )
            )
            effects += advance
            if current is not None:
                items.append(self.completed(kind, current.body, float(current.meta.get("since", ctx.now))))
        for name, value in ctx.query.items():  # filters: a query parameter named like a field (purpose=...)
            if name not in limits.paging and isinstance(value, (str, int, bool)) and items and name in items[0]:
                items = [item for item in items if item.get(name) == value]
        order = ctx.query.get("order", limits.default_order)
        if order == "desc":
            items.reverse()
        ids = [str(item.get("id")) for item in items]
        after, before = ctx.query.get("after"), ctx.query.get("before")
        if isinstance(after, str):
            items = items[ids.index(after) + 1 :] if after in ids else []
            ids = [str(item.get("id")) for item in items]
        if isinstance(before, str):
            items = items[: ids.index(before)] if before in ids else []
        limit = ctx.query.get("limit", limits.default_limit)
        limit = limit if isinstance(limit, int) and limit > 0 else limits.default_limit
        chosen = items[:limit]
        page["data"] = chosen
        if "has_more" in page:
            page["has_more"] = len(items) > len(chosen)
        for name, at in (("first_id", 0), ("last_id", -1)):
            if name in page:
                page[name] = chosen[at]["id"] if chosen else (None if name in limits.nullable else "")
        if "object" in page:
            page["object"] = "list"
        return Output(status=ctx.operation.status, body=page, source="resource", effects=tuple(effects))


@dataclass(frozen=True, slots=True)
class ListParams:
    default_limit: int
    default_order: str
    nullable: frozenset[str]  # page fields that may be null (first_id / last_id on some lists)
    paging: frozenset[str] = frozenset({"after", "before", "limit", "order", "include", "include[]"})


def is_well_formed(ident: str, prefix: str) -> bool:
    """An id this server could have issued: ``prefix`` then at least :data:`WELL_FORMED` id characters."""
    if not prefix or not ident.startswith(prefix):
        return False
    rest = ident[len(prefix) :]
    return len(rest) >= WELL_FORMED and rest.replace("-", "").replace("_", "").isalnum()


def clear(body: dict[str, Any], name: str, kind: CompiledKind) -> None:
    """A field that has no value yet: null where the schema allows it, else absent where it is optional."""
    if name in kind.nullable:
        body[name] = None
    elif name not in kind.required:
        body.pop(name, None)


def enter(
    body: dict[str, Any],
    state: str,
    lifecycle: Lifecycle,
    field_name: str | None,
    values: Mapping[str, Any],
    at: float,
    kind: CompiledKind,
) -> None:
    body[lifecycle.field] = state
    if field_name:
        body[field_name] = stamp(kind, field_name, at)
    for name, value in values.items():
        body[name] = fill(value, body) if isinstance(value, str) else value
