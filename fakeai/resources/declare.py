"""What a spec cannot say about its resources, declared in YAML (``spec/resources/*.yaml``, ``--resources FILE``).

A file applies to a document when one of its ``applies_when.operations`` is in it. Per kind (named by object
type, see :mod:`fakeai.resources.graph`) it may correct the inference (``collection``, ``id_prefix``), say how a
missing id is worded (``not_found``), which generated fields stay empty until a lifecycle sets them (``unset``),
which fields are computed (``derive``: named functions in :data:`DERIVE`), and a ``lifecycle``: states with
timed transitions (``after`` seconds, on the injected clock, times ``scale``), the timestamp field each state
stamps, and actions (``cancel``...) with the states they apply from; ``stream`` names the event stream a
``stream: true`` create or action answers with (:mod:`fakeai.resources.run_stream`). Every problem is a
ConfigError with the file, the line and a hint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakeai import yamlload
from fakeai.errors import ConfigError

KNOWN_TOP = {"applies_when", "scale", "kinds"}
KNOWN_KIND = {
    "collection",
    "id_prefix",
    "not_found",
    "unset",
    "derive",
    "lifecycle",
    "id_from",
    "echo",
    "nested",
    "defaults",
    "inherit",
    "stateless",
    "content",
    "touches",
    "stream",
}
KNOWN_LIFECYCLE = {"field", "initial", "states", "actions"}
KNOWN_STATE = {"after", "next", "stamp", "set", "work"}
KNOWN_ACTION = {"from", "to", "stamp", "set", "error", "creates", "operation"}
KNOWN_CONTENT = {"part", "copy", "set"}


@dataclass(frozen=True, slots=True)
class State:
    name: str
    after: float | None = None  # seconds in this state before ``next``
    next: str | None = None
    stamp: str | None = None  # field set to the time the record entered this state
    set: Mapping[str, Any] = field(default_factory=dict)  # fields set on entering (``{id}`` style placeholders)
    work: str | None = None  # work run on entering (fakeai.resources.work); the state holds until it is done


ACTION_ERROR = "Cannot {verb} a {object} with status {status}."


@dataclass(frozen=True, slots=True)
class Action:
    verb: str
    to: str
    sources: tuple[str, ...] = ()  # states it applies from; others answer 400 with ``error``
    stamp: str | None = None
    set: Mapping[str, Any] = field(default_factory=dict)
    error: str = ACTION_ERROR
    creates: tuple[str, str] | None = None  # (kind, id prefix): the action adds a child and answers it (parts)
    operation: str | None = None  # the operation that does it when it is not ``POST item/<verb>`` (cancelEvalRun)


@dataclass(frozen=True, slots=True)
class Lifecycle:
    field: str
    initial: str
    states: Mapping[str, State]
    actions: Mapping[str, Action]


@dataclass(frozen=True, slots=True)
class Content:
    """Where an object's bytes come from when it is created (a container's file): the multipart ``part``, or a
    copy of the uploaded File (kind ``file``) that the request field ``copy`` names; ``set`` fills fields from
    the bytes (``{bytes}``: their size, ``{filename}``: the upload's or the File's name)."""

    part: str | None = None
    copy: str | None = None
    set: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KindDecl:
    name: str
    source: str  # file:line, for messages
    collection: str | None = None
    id_prefix: str | None = None
    id_from: str | None = None  # the request field whose value is the new object's id (vector-store files)
    not_found: str | None = None
    unset: tuple[str, ...] = ()
    derive: tuple[str, ...] = ()
    lifecycle: Lifecycle | None = None
    echo: Mapping[str, str] = field(default_factory=dict)  # request field -> transform into the answer's shape
    nested: Mapping[str, str] = field(default_factory=dict)  # request list field -> child kind created from it
    defaults: Mapping[str, Any] = field(default_factory=dict)  # values when the request does not give them
    inherit: tuple[str, str, tuple[str, ...]] | None = None  # (link field, linked kind, fields) taken from it
    stateless: bool = False  # not a resource to keep (answered by other producers or generated data)
    content: Content | None = None  # the object keeps bytes (served by its ``content`` operation)
    touches: str | None = None  # the parent's field stamped when one is created or deleted (``last_active_at``)
    stream: str | None = (
        None  # the event stream a ``stream: true`` create or action answers (fakeai.resources.run_stream)
    )


@dataclass(frozen=True, slots=True)
class Declarations:
    scale: float = 1.0
    kinds: Mapping[str, KindDecl] = field(default_factory=dict)
    files: tuple[str, ...] = ()


def _fail(path: str, node: Any, message: str, hint: str = "") -> ConfigError:
    line = node.get("__line__", "?") if isinstance(node, dict) else "?"
    return ConfigError(f"{path}:{line}: {message}" + (f" ({hint})" if hint else ""))


def _check_keys(path: str, node: Any, known: set[str], what: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise ConfigError(f"{path}: {what} must be a mapping, got {type(node).__name__}")
    unknown = sorted(k for k in node if k != "__line__" and k not in known)
    if unknown:
        raise _fail(path, node, f"unknown key {unknown[0]!r} in {what}", f"known: {', '.join(sorted(known))}")
    return node


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _lifecycle(path: str, name: str, node: Any, work_names: set[str]) -> Lifecycle:
    node = _check_keys(path, node, KNOWN_LIFECYCLE, f"lifecycle of {name}")
    states_node = node.get("states")
    if not isinstance(states_node, dict) or len(states_node) <= 1:
        raise _fail(path, node, f"lifecycle of {name} needs a 'states' mapping", "e.g. states: {queued: {...}}")
    states: dict[str, State] = {}
    for state_name, spec in states_node.items():
        if state_name == "__line__":
            continue
        spec = _check_keys(path, spec if spec is not None else {}, KNOWN_STATE, f"state {state_name} of {name}")
        after = spec.get("after")
        if after is not None and (not isinstance(after, (int, float)) or after < 0):
            raise _fail(path, spec, f"state {state_name}: 'after' must be seconds >= 0, got {after!r}")
        if (after is None) != (spec.get("next") is None):
            raise _fail(path, spec, f"state {state_name}: 'after' and 'next' go together")
        work = spec.get("work")
        if work is not None and work not in work_names:
            hint = f"known: {', '.join(sorted(work_names))}"
            raise _fail(path, spec, f"state {state_name}: unknown work {work!r}", hint)
        values = _clean(spec.get("set") or {})
        states[state_name] = State(state_name, after, spec.get("next"), spec.get("stamp"), values, work)
    for state in states.values():
        if state.next is not None and state.next not in states:
            raise _fail(path, states_node, f"state {state.name}: next {state.next!r} is not a state of {name}")
    initial = node.get("initial")
    if initial not in states:
        raise _fail(path, node, f"lifecycle of {name}: initial {initial!r} is not one of its states")
    actions: dict[str, Action] = {}
    for verb, spec in (node.get("actions") or {}).items():
        if verb == "__line__":
            continue
        spec = _check_keys(path, spec, KNOWN_ACTION, f"action {verb} of {name}")
        to = str(spec.get("to"))
        sources = tuple(spec.get("from") or ())
        for state_name in (to, *sources):
            if state_name not in states:
                raise _fail(path, spec, f"action {verb}: {state_name!r} is not a state of {name}")
        error = str(spec.get("error", ACTION_ERROR))
        creates = spec.get("creates")
        if creates is not None:
            creates = _check_keys(path, creates, {"kind", "id_prefix"}, f"creates of action {verb}")
            creates = (str(creates.get("kind")), str(creates.get("id_prefix", "")))
        values = _clean(spec.get("set") or {})
        operation = spec.get("operation")
        if operation is not None and not isinstance(operation, str):
            raise _fail(path, spec, f"action {verb}: 'operation' names an operationId, got {operation!r}")
        actions[verb] = Action(verb, to, sources, spec.get("stamp"), values, error, creates, operation)
    if not isinstance(node.get("field"), str):
        raise _fail(path, node, f"lifecycle of {name} needs 'field' (the status property)")
    return Lifecycle(node["field"], initial, states, actions)


def load_file(
    path: str,
    derive_names: set[str],
    work_names: set[str] | None = None,
    echo_names: set[str] | None = None,
    stream_names: set[str] | None = None,
) -> tuple[float, dict[str, KindDecl], list[str]]:
    """One declarations file -> (scale, kinds, operations it applies when present)."""
    work_names = work_names or set()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read resource declarations: {exc.strerror}") from None
    doc = yamlload.load(text, path, ConfigError, line_key="__line__", columns=False).data  # mappings get __line__
    doc = _check_keys(path, doc, KNOWN_TOP, "a resource declarations file")
    scale = doc.get("scale", 1.0)
    if not isinstance(scale, (int, float)) or scale < 0:
        raise _fail(path, doc, f"scale must be a number >= 0, got {scale!r}")
    applies = _clean(doc.get("applies_when") or {})
    operations = list(applies.get("operations") or []) if isinstance(applies, dict) else []
    kinds: dict[str, KindDecl] = {}
    for name, spec in (doc.get("kinds") or {}).items():
        if name == "__line__":
            continue
        spec = _check_keys(path, spec if spec is not None else {}, KNOWN_KIND, f"kind {name}")
        for fn in spec.get("derive") or ():
            if fn not in derive_names:
                hint = f"known: {', '.join(sorted(derive_names))}"
                raise _fail(path, spec, f"kind {name}: unknown derive function {fn!r}", hint)
        lifecycle = _lifecycle(path, name, spec["lifecycle"], work_names) if "lifecycle" in spec else None
        echo = _clean(spec.get("echo") or {})
        for field_name, transform in echo.items():
            if echo_names is not None and transform not in echo_names:
                hint = f"known: {', '.join(sorted(echo_names))}"
                raise _fail(path, spec, f"kind {name}: unknown echo transform {transform!r} for {field_name}", hint)
        inherit_node = spec.get("inherit")
        inherit = None
        if inherit_node is not None:
            keys = _check_keys(path, inherit_node, {"from", "kind", "fields"}, f"inherit of {name}")
            if not isinstance(keys.get("from"), str) or not isinstance(keys.get("kind"), str):
                raise _fail(path, inherit_node, f"kind {name}: inherit needs 'from' (a link field) and 'kind'")
            inherit = (keys["from"], keys["kind"], tuple(str(f) for f in keys.get("fields") or ()))
        nested = _clean(spec.get("nested") or {})
        if not isinstance(nested, dict) or not all(isinstance(v, str) for v in nested.values()):
            raise _fail(
                path, spec, f"kind {name}: nested maps a request field to a kind", "e.g. {messages: thread.message}"
            )
        stream = spec.get("stream")
        if stream is not None and stream_names is not None and stream not in stream_names:
            hint = f"known: {', '.join(sorted(stream_names))}"
            raise _fail(path, spec, f"kind {name}: unknown stream {stream!r}", hint)
        content = None
        if spec.get("content") is not None:
            node = _check_keys(path, spec["content"], KNOWN_CONTENT, f"content of {name}")
            if not isinstance(node.get("part"), str) and not isinstance(node.get("copy"), str):
                raise _fail(
                    path, node, f"kind {name}: content needs 'part' or 'copy'", "e.g. {part: file, copy: file_id}"
                )
            content = Content(node.get("part"), node.get("copy"), _clean(node.get("set") or {}))
        kinds[name] = KindDecl(
            name=name,
            source=f"{path}:{spec.get('__line__', '?')}",
            collection=spec.get("collection"),
            id_prefix=spec.get("id_prefix"),
            id_from=spec.get("id_from"),
            not_found=spec.get("not_found"),
            unset=tuple(spec.get("unset") or ()),
            derive=tuple(spec.get("derive") or ()),
            lifecycle=lifecycle,
            echo=echo,
            nested=nested,
            defaults=_clean(spec.get("defaults") or {}),
            inherit=inherit,
            stateless=bool(spec.get("stateless", False)),
            content=content,
            touches=spec.get("touches"),
            stream=stream,
        )
    return float(scale), kinds, operations


def load(
    paths: list[str],
    operation_ids: set[str],
    derive_names: set[str],
    work_names: set[str] | None = None,
    echo_names: set[str] | None = None,
    stream_names: set[str] | None = None,
) -> Declarations:
    """The files that apply to a document (by its operationIds), later files overriding earlier kinds."""
    kinds: dict[str, KindDecl] = {}
    scale = 1.0
    used = []
    for path in paths:
        file_scale, file_kinds, applies = load_file(path, derive_names, work_names, echo_names, stream_names)
        if applies and not operation_ids.intersection(applies):
            continue
        scale = file_scale
        kinds.update(file_kinds)
        used.append(path)
    return Declarations(scale, kinds, tuple(used))
