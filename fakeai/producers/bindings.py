"""Which operations behave like a model, declared in data: ``spec/bindings/*.yaml``.

A bindings file says which documents it applies to (``applies_to``: an ``info.title``, or any of a set of
operationIds present), the error envelope of that API (``errors: openai | anthropic | azure``), and per
operation (keyed by operationId, or ``"POST /v1/messages"``; an operation renamed when several specs share one
server, ``groq.createChatCompletion``, is found by its vendor's id in ``x-fakeai-operation-id``) its
``behaviour``, the request ``fields`` that carry the model, messages, tools, max tokens, stop sequences and stream
flag, which ``scripted`` answer keys a scenario may use, the OpenAI operation a behaviour of several kinds compiles
the operation ``like`` (images: ``createImage`` / ``createImageEdit``; audio: ``createTranscription`` ...), and
fields a vendor ``adds`` to every successful JSON answer (Azure's content-filter results; a path may step through
every element of a list with ``[*]``: ``choices[*].content_filter_results``)::

    vendor: anthropic
    applies_to: {title: [Anthropic API], operations: [messages_post]}
    errors: anthropic
    fields: {model: model, max_tokens: max_tokens, stop: stop_sequences}   # defaults for the operations
    operations:
      messages_post: {behaviour: messages, scripted: [content, tool_calls, json]}

A behaviour is a name in :data:`BINDINGS` (``name -> factory(operation, env) -> Producer | None``, by import
string, loaded only when an operation bound to it is compiled); third parties add behaviours with entry points
in the ``fakeai.bindings`` group and bindings files with ``Settings.bindings`` (later files win per operation).
Files are validated at startup against :data:`SCHEMA`; a mistake is a :class:`~fakeai.errors.SpecError`
naming ``file:line:column`` and the closest valid name. Everything is compiled once per document.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jsonschema_rs

from fakeai import yamlload
from fakeai.bundled import data_path
from fakeai.context import Output, RequestContext
from fakeai.errors import ENVELOPES, SpecError, closest
from fakeai.plugins import Registry
from fakeai.producers.base import CompileEnv, Producer, ProducerFactory, ScriptedProducer
from fakeai.spec.operation import Operation
from fakeai.spec.vendors import ORIGINAL_ID, SPEC_OF_PATH, spec_of

__all__ = [
    "BINDINGS",
    "SCHEMA",
    "Binding",
    "BindingsFile",
    "binding",
    "binding_for",
    "binding_of",
    "bindings_for",
    "bundled_files",
    "envelope_of",
    "llm_factory",
    "load_file",
    "prompt_fields",
    "scripted_keys",
]

BUILTIN_BEHAVIOURS: dict[str, str] = {
    "chat": "fakeai.producers.text.chat:factory",
    "completions": "fakeai.producers.text.completions:factory",
    "responses": "fakeai.producers.text.responses:factory",
    "messages": "fakeai.producers.text.messages:factory",
    "count_tokens": "fakeai.producers.text.messages:count_tokens_factory",
    "embeddings": "fakeai.producers.endpoints.embeddings:factory",
    "moderation": "fakeai.producers.endpoints.moderations:factory",
    "images": "fakeai.producers.endpoints.images:factory",
    "audio": "fakeai.producers.endpoints.audio:factory",
    "rerank": "fakeai.producers.endpoints.rerank:factory",
    "models": "fakeai.producers.models:catalog_factory",
}
BINDINGS: Registry[ProducerFactory] = Registry("behaviour", group="fakeai.bindings", builtins=BUILTIN_BEHAVIOURS)
binding = BINDINGS.register  # @binding("my_behaviour") def factory(operation, env) -> Producer | None

FIELD_ROLES = (
    *("model", "messages", "system", "tools", "tool_choice", "max_tokens", "stop", "stream", "thinking"),
    *("query", "documents", "top_n", "return_documents"),  # rerank
)
# behaviour -> the prompt's parts in order, as (role, field when the binding names none): what the ``kv_cache``
# simulator hashes into its prefix blocks (Anthropic caches tools, then system, then messages)
PROMPT_ROLES: dict[str, tuple[tuple[str, str], ...]] = {
    "chat": (("tools", "tools"), ("messages", "messages")),
    "responses": (("system", "instructions"), ("tools", "tools"), ("messages", "input")),
    "completions": (("messages", "prompt"),),
    "messages": (("tools", "tools"), ("system", "system"), ("messages", "messages")),
}
SCRIPT_KEYS = ("content", "tool_calls", "json", "refusal")
_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True}
_FIELDS = {
    "type": "object",
    "properties": {role: {"type": "string", "minLength": 1} for role in FIELD_ROLES},
    "additionalProperties": False,
}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["applies_to", "operations"],
    "additionalProperties": False,
    "properties": {
        "vendor": {"type": "string"},
        "applies_to": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": False,
            "properties": {"title": _NAMES, "operations": _NAMES},
        },
        "errors": {"enum": list(ENVELOPES)},
        "fields": _FIELDS,
        "operations": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["behaviour"],
                "additionalProperties": False,
                "properties": {
                    "behaviour": {"type": "string", "minLength": 1},
                    "errors": {"enum": list(ENVELOPES)},
                    "fields": _FIELDS,
                    "scripted": {"type": "array", "items": {"enum": list(SCRIPT_KEYS)}, "uniqueItems": True},
                    "like": {"type": "string", "minLength": 1},
                    "adds": {
                        "type": "object",
                        "propertyNames": {"pattern": r"^[A-Za-z_][\w-]*(\[\*\])?(\.[A-Za-z_][\w-]*(\[\*\])?)*$"},
                    },
                },
            },
        },
    },
}
_VALIDATOR = jsonschema_rs.Draft202012Validator(SCHEMA)
YamlPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Binding:
    """How one operation behaves: the behaviour's name, its error envelope, its request fields."""

    behaviour: str
    errors: str = "openai"
    fields: Mapping[str, str] = field(default_factory=dict)  # role (model, max_tokens, stop...) -> body field
    scripted: frozenset[str] = frozenset()  # scenario answer keys the behaviour renders
    where: str = ""  # file:line it was declared at
    like: str | None = None  # the OpenAI operationId the behaviour's factory compiles the operation as
    adds: Mapping[str, Any] = field(default_factory=dict)  # answer path (``choices[*].x``) -> value

    def name_of(self, role: str, default: str | None = None) -> str:
        """The request field carrying ``role`` (``"stop"`` -> ``"stop_sequences"`` for Anthropic)."""
        return self.fields.get(role) or default or role

    def prompt_fields(self) -> tuple[str, ...]:
        """The request fields holding the prompt, in prompt order (empty: the behaviour has no prompt to cache)."""
        return tuple(self.name_of(role, default) for role, default in PROMPT_ROLES.get(self.behaviour, ()))


@dataclass(frozen=True, slots=True)
class BindingsFile:
    source: str
    titles: frozenset[str]
    markers: frozenset[str]  # operationIds: the file applies when any of them is in the document
    errors: str
    operations: Mapping[str, Binding]  # operationId or "METHOD /path" -> binding

    def applies_to(self, document: Mapping[str, Any], operation_ids: frozenset[str]) -> bool:
        title = (document.get("info") or {}).get("title")
        return title in self.titles or bool(self.markers & operation_ids)


def bundled_files() -> list[Path]:
    folder = data_path("spec") / "bindings"
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


_lock = threading.Lock()
_files: dict[tuple[str, float], BindingsFile] = {}
_documents: dict[tuple[int, tuple[str, ...]], tuple[Mapping[str, Any], _Compiled]] = {}
_MAX_DOCUMENTS = 16


def load_file(path: str | Path) -> BindingsFile:
    """A bindings file, parsed and validated (cached by path and modification time)."""
    source = str(path)
    try:
        stamp = Path(source).stat().st_mtime
        key = (source, stamp)
        with _lock:
            found = _files.get(key)
        if found is not None:
            return found
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"bindings file {source}: cannot read it: {exc.strerror or exc}") from None
    loaded = parse(text, source)
    with _lock:
        _files[key] = loaded
    return loaded


def parse(text: str, source: str) -> BindingsFile:
    """YAML text -> :class:`BindingsFile`; any problem is a SpecError at ``source:line:column``."""
    loaded = yamlload.load(text, source, SpecError)
    data = loaded.data
    where = loaded.where
    if not isinstance(data, dict):
        raise SpecError(f"{source}:1:1: a bindings file is a mapping with 'applies_to:' and 'operations:'")
    problems = [_describe(error, data, where) for error in _VALIDATOR.iter_errors(data)]
    if problems:
        raise SpecError("\n".join(dict.fromkeys(problems[:10])))
    known = BINDINGS.names()
    errors = data.get("errors", "openai")
    defaults = data.get("fields") or {}
    operations: dict[str, Binding] = {}
    for key, spec in data["operations"].items():
        behaviour = spec["behaviour"]
        if behaviour not in BINDINGS:
            spot: YamlPath = ("operations", key, "behaviour")
            raise SpecError(
                f"{where(spot)}: operations.{key}.behaviour: unknown behaviour {behaviour!r}"
                f"{closest(behaviour, known)}; known: {', '.join(known)}"
            )
        operations[key] = Binding(
            behaviour=behaviour,
            errors=spec.get("errors", errors),
            fields={**defaults, **(spec.get("fields") or {})},
            scripted=frozenset(spec.get("scripted") or ()),
            where=where(("operations", key)),
            like=spec.get("like"),
            adds=dict(spec.get("adds") or {}),
        )
    applies = data["applies_to"]
    return BindingsFile(
        source, frozenset(applies.get("title") or ()), frozenset(applies.get("operations") or ()), errors, operations
    )


def _describe(error: Any, data: Mapping[str, Any], where: Any) -> str:
    path = tuple(error.instance_path)
    dotted = ".".join(str(p) for p in path)
    prefix = f"{dotted}: " if dotted else ""
    instance = error.instance
    if type(error.kind).__name__ == "AdditionalProperties" and isinstance(instance, dict):
        allowed = _allowed_keys(path)
        lines = [
            f"{where((*path, key))}: {prefix}unknown key {key!r}{closest(str(key), allowed)}; "
            f"expected one of: {', '.join(allowed)}"
            for key in instance
            if key not in allowed
        ]
        if lines:
            return "\n".join(lines)
    return f"{where(path)}: {prefix}{error.message}"


def _allowed_keys(path: YamlPath) -> list[str]:
    if not path:
        return list(SCHEMA["properties"])
    if path[-1] == "fields":
        return list(FIELD_ROLES)
    if path[0] == "applies_to":
        return ["title", "operations"]
    if path[0] == "operations" and len(path) == 2:
        return ["behaviour", "errors", "fields", "scripted", "like", "adds"]
    return []


@dataclass(frozen=True, slots=True)
class _Compiled:
    operations: Mapping[str, Binding]
    errors: Mapping[str, str]  # spec name (x-fakeai-spec of a path) -> envelope of the last file applying to it


def lookup(table: Mapping[str, Binding], operation: Operation) -> Binding | None:
    """``operation``'s entry: by operationId, by the vendor's own id (``x-fakeai-operation-id``, kept when a merge
    of several specs renamed it), or by ``"METHOD /path"``."""
    found = table.get(operation.operation_id)
    original = operation.extensions.get(ORIGINAL_ID)
    if found is None and isinstance(original, str):
        found = table.get(original)
    return found or table.get(f"{operation.method} {operation.path}")


def _compiled(document: Mapping[str, Any], files: Sequence[str]) -> _Compiled:
    """The bundled files that apply to ``document``, then ``files`` (user files, applying when they match the
    document too; a later file wins for the same operation). Compiled once per document."""
    key = (id(document), tuple(files))
    with _lock:
        cached = _documents.get(key)
    if cached is not None and cached[0] is document:
        return cached[1]
    by_spec = _operation_ids_by_spec(document)
    first = next(iter(by_spec))
    table: dict[str, Binding] = {}
    errors: dict[str, str] = {}
    for path in [*bundled_files(), *map(Path, files)]:
        loaded = load_file(path)
        every = frozenset().union(*by_spec.values())
        if not loaded.applies_to(document, every):
            continue
        table.update(loaded.operations)
        for name, ids in by_spec.items():  # the merged document's title is its first spec's
            if (name == first and loaded.applies_to(document, ids)) or loaded.markers & ids:
                errors[name] = loaded.errors
    compiled = _Compiled(table, errors)
    with _lock:
        if len(_documents) >= _MAX_DOCUMENTS:
            _documents.pop(next(iter(_documents)))
        _documents[key] = (document, compiled)  # holding the document keeps its id from being reused
    return compiled


def _operation_ids_by_spec(document: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """The vendor operationIds of each spec of a (possibly merged) document, by spec name (``""`` for one plain
    document); the first spec comes first."""
    found: dict[str, set[str]] = {}
    for item in (document.get("paths") or {}).values():
        if not isinstance(item, Mapping):
            continue
        ids = found.setdefault(str(item.get(SPEC_OF_PATH, "")), set())
        for op in item.values():
            if isinstance(op, Mapping) and isinstance(op.get("operationId"), str):
                ids.add(str(op.get(ORIGINAL_ID, op["operationId"])))
    if "" in found and len(found) > 1:  # paths without a spec name belong to the first spec
        rest = found.pop("")
        found[next(iter(found))].update(rest)
    return {name: frozenset(ids) for name, ids in found.items()} or {"": frozenset()}


def bindings_for(document: Mapping[str, Any], files: Sequence[str] = ()) -> Mapping[str, Binding]:
    """Every binding of ``document``, by operationId or ``"METHOD /path"``."""
    return _compiled(document, files).operations


def binding_for(operation: Operation, document: Mapping[str, Any], files: Sequence[str] = ()) -> Binding | None:
    return lookup(bindings_for(document, files), operation)


def binding_of(
    operation: Operation, document: Mapping[str, Any] | None = None, files: Sequence[str] = ()
) -> str | None:
    """The behaviour ``operation`` is bound to (``fakeai routes`` shows it), or None. Without ``document``,
    the first bundled or given file that names the operation answers."""
    if document is not None:
        found = binding_for(operation, document, files)
        return found.behaviour if found is not None else None
    for path in [*bundled_files(), *map(Path, files)]:
        found = lookup(load_file(path).operations, operation)
        if found is not None:
            return found.behaviour
    return None


def _declared(operation: Operation | str, files: Sequence[str], document: Mapping[str, Any] | None) -> Binding | None:
    """The operation's (or operationId's) binding in ``document``, or (without one) in the last bundled or given
    file naming it."""
    if document is not None and not isinstance(operation, str):
        return binding_for(operation, document, files)
    for path in reversed([*bundled_files(), *map(Path, files)]):
        table = load_file(path).operations
        found = table.get(operation) if isinstance(operation, str) else lookup(table, operation)
        if found is not None:
            return found
    return None


def scripted_keys(
    operation: Operation, files: Sequence[str] = (), document: Mapping[str, Any] | None = None
) -> frozenset[str]:
    """The scenario answer keys (content, tool_calls, json, refusal) the operation's behaviour renders, as its
    binding declares them (``scripted:``); empty for an operation no bindings file names."""
    found = _declared(operation, files, document)
    return found.scripted if found is not None else frozenset()


def prompt_fields(
    operation: Operation | str, files: Sequence[str] = (), document: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """The request fields holding the prompt of ``operation`` (its behaviour's, named by its binding's ``fields``),
    in prompt order; empty for an operation without a prompt or without a binding."""
    found = _declared(operation, files, document)
    return found.prompt_fields() if found is not None else ()


def envelope_of(operation: Operation, document: Mapping[str, Any], files: Sequence[str] = ()) -> str:
    """The error envelope clients of ``operation`` expect: its binding's, else its document's (OpenAI's by default)."""
    found = binding_for(operation, document, files)
    if found is not None:
        return found.errors
    errors = _compiled(document, files).errors
    return errors.get(spec_of(document, operation.path)) or errors.get("", "openai")


def env_files(env: CompileEnv) -> tuple[str, ...]:
    return tuple(getattr(env.settings, "bindings", ()) or ())


def llm_factory(operation: Operation, env: CompileEnv) -> Producer | None:
    """The ``llm`` producer: the factory of the operation's declared behaviour. An entry point named after an
    operationId (the extension point before bindings files) still binds that operation."""
    found = binding_for(operation, env.document, env_files(env))
    if found is not None:
        like = replace(operation, operation_id=found.like) if found.like else operation
        producer = BINDINGS.get(found.behaviour)(like, env)
        if producer is None or not found.adds:
            return producer
        adds = tuple((tuple(key.split(".")), value) for key, value in found.adds.items())
        wrap = ScriptedAdding if isinstance(producer, ScriptedProducer) else Adding
        return wrap(producer, adds, producer.source)
    # not a built-in behaviour's name: Cohere's operationId ``chat`` is not OpenAI's chat
    if operation.operation_id in BINDINGS and operation.operation_id not in BUILTIN_BEHAVIOURS:
        return BINDINGS.get(operation.operation_id)(operation, env)
    return None


Adds = tuple[tuple[tuple[str, ...], Any], ...]  # (path steps, value); a step ending in [*] walks a list


@dataclass(slots=True)  # not frozen: Producer.source is a plain attribute
class Adding:
    """A behaviour's producer whose successful JSON answers carry the fields its binding ``adds``."""

    inner: Producer
    adds: Adds
    source: str  # the inner producer's

    def produce(self, ctx: RequestContext) -> Output | None:
        return _with_fields(self.inner.produce(ctx), self.adds)


@dataclass(slots=True)
class ScriptedAdding(Adding):
    """:class:`Adding` for a producer that renders scenario scripts too (those answers carry the fields as well)."""

    def produce_scripted(self, ctx: RequestContext, script: Any) -> Output:
        assert isinstance(self.inner, ScriptedProducer)
        output = _with_fields(self.inner.produce_scripted(ctx, script), self.adds)
        assert output is not None
        return output


def _with_fields(output: Output | None, adds: Adds) -> Output | None:
    """``output`` with the fields added to its JSON body (streams, errors and other media unchanged: the vendor's
    stream events do not declare them)."""
    if output is None or output.frames is not None or output.status >= 400 or not isinstance(output.body, dict):
        return output
    body = copy.copy(output.body)
    for steps, value in adds:
        _put(body, steps, value)
    return replace(output, body=body)


def _put(node: dict[str, Any], steps: tuple[str, ...], value: Any) -> None:
    step, rest = steps[0], steps[1:]
    name = step.removesuffix("[*]")
    if not rest:
        node[name] = copy.deepcopy(value)
        return
    child = node.get(name)
    if step.endswith("[*]"):
        if isinstance(child, list):
            node[name] = items = [dict(item) if isinstance(item, dict) else item for item in child]
            for item in items:
                if isinstance(item, dict):
                    _put(item, rest, value)
    elif isinstance(child, dict):
        node[name] = child = dict(child)
        _put(child, rest, value)
