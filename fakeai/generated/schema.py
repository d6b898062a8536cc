"""Generate realistic, schema-valid bodies from the JSON Schemas of an OpenAPI document.

:class:`SchemaWalker` compiles a schema once into a graph of generator nodes
(:mod:`fakeai.generated.walker`); leaf values come from :mod:`fakeai.generated.realism`.
``allOf`` is merged at compile time; an ``anyOf`` with constraining siblings is distributed
(each branch merged with the siblings), so a chosen branch never fails on a sibling keyword.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jsonschema_rs

from fakeai.generated import realism
from fakeai.generated.merge import absolute_refs, has_constraints, merge
from fakeai.generated.pattern import compile_pattern
from fakeai.generated.walker import (
    ALWAYS,
    INF,
    OPTIONAL,
    REQUIRED,
    TAG_KEYS,
    Array,
    Boolean,
    Const,
    Enum,
    Integer,
    Never,
    Node,
    Number,
    Object,
    Ref,
    String,
    Union,
    complete,
)
from fakeai.spec.pointer import name as pointer_name
from fakeai.spec.pointer import resolve
from fakeai.spec.validate import URN

N = TypeVar("N", bound=Node)
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


ALWAYS_NAMES = _names(
    "id object type created created_at model status role usage choices data output content text has_more "
    "first_id last_id message finish_reason"
)
INDEXED_ARRAYS = frozenset({"choices", "data", "tool_calls"})
TOTALS = (  # total property -> the counts it adds up (the first total that matches wins)
    ("total_tokens", ("prompt_tokens", "completion_tokens")),
    ("total_tokens", ("input_tokens", "output_tokens")),
    ("total", ("completed", "failed", "in_progress", "cancelled")),
)
_NULL = {"type": "null"}


@dataclass(frozen=True, slots=True)
class GenContext:
    """Per-request inputs of a compiled generator."""

    rng: random.Random
    now: float  # unix time; ``created``, ``created_at``... use int(now)
    overrides: Mapping[str, Any]  # top-level property -> value (used when valid for that property)
    echo: Mapping[str, Any] = field(default_factory=dict)  # request fields echoed into same-named properties


class SchemaWalker:
    """Compiles schemas of one document into fast generators (``compile`` once, call per request)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self._refs: dict[tuple[Any, ...], Ref] = {}
        self._new: list[Node] = []
        self._learned = realism.learn_prefixes(document)
        self._registry: Any = None
        self._validators: dict[int, tuple[Any, Any]] = {}

    def compile(self, schema: Mapping[str, Any]) -> Callable[[GenContext], Any]:
        root = self._compile(schema, None, ())
        self._settle()
        gen = root.gen

        def generate(ctx: GenContext) -> Any:
            return gen(ctx, 0)

        return generate

    def deferred(self, schema: Mapping[str, Any]) -> Callable[[GenContext], Any]:
        """``compile(schema)``, done by the first call: an app compiles the generators of the operations it
        answers, not of all ~300 at startup (~0.1 s and some MiB saved). For the document's own schemas; a
        client's schema is compiled at once, so its errors are the client's 400."""
        compiled: Callable[[GenContext], Any] | None = None

        def generate(ctx: GenContext) -> Any:
            nonlocal compiled
            if compiled is None:
                compiled = self.compile(schema)
            return compiled(ctx)

        return generate

    def completer(self, schema: Mapping[str, Any]) -> Callable[[GenContext, Mapping[str, Any]], dict[str, Any]]:
        """``(ctx, value) -> value`` with the fields ``schema`` requires and ``value`` lacks generated, in the union
        branch ``value`` names by its ``type`` (a stored conversation item gets its ``status``)."""
        root = self._compile(schema, None, ())
        self._settle()

        def fill(ctx: GenContext, value: Mapping[str, Any]) -> dict[str, Any]:
            return complete(root, ctx, value)

        return fill

    # -- compilation ------------------------------------------------------------------------

    def _compile(self, schema: Any, name: str | None, kinds: tuple[str, ...], title: str = "") -> Node:
        if schema is True or schema is None:
            schema = {}
        if schema is False:
            return self._add(Never("false schema"))
        if "$ref" in schema and not has_constraints(schema, ignore=("$ref",)):
            return self._ref(schema["$ref"], name, kinds)
        if "$ref" in schema or "allOf" in schema:
            schema = self._flatten(schema, 0)
        return self._compile_flat(schema, name, kinds, title)

    def _ref(self, ref: str, name: str | None, kinds: tuple[str, ...]) -> Node:
        target = resolve(self.document, ref)
        key: tuple[Any, ...] = (ref,) if self._structured(target) else (ref, name, kinds)
        node = self._refs.get(key)
        if node is None:
            node = self._refs[key] = self._add(Ref())
            node.target = self._compile(target, name, kinds, pointer_name(ref))
        return node

    def _structured(self, schema: Any) -> bool:
        if not isinstance(schema, dict):
            return False
        if "properties" in schema or "items" in schema or "allOf" in schema:
            return True
        kind = schema.get("type")
        if kind in ("object", "array") or (isinstance(kind, list) and ("object" in kind or "array" in kind)):
            return True
        branches = schema.get("anyOf") or []
        return any(isinstance(b, dict) and ("$ref" in b or "properties" in b) for b in branches)

    def _flatten(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        """Inline a top-level ``$ref`` and ``allOf`` into one merged dict."""
        if depth > 32:
            raise ValueError("allOf/$ref nesting too deep (cyclic allOf?)")
        rest = {k: v for k, v in schema.items() if k not in ("$ref", "allOf")}
        parts = [rest]
        if "$ref" in schema:
            parts.append(self._flatten(resolve(self.document, schema["$ref"]), depth + 1))
        for branch in schema.get("allOf") or []:
            parts.append(self._flatten(branch if isinstance(branch, dict) else {}, depth + 1))
        merged: dict[str, Any] = {}
        for part in parts:
            merged = merge(merged, part)
        return merged

    def _compile_flat(self, s: Mapping[str, Any], name: str | None, kinds: tuple[str, ...], title: str) -> Node:
        if s.get("_never"):
            return self._add(Never(str(s["_never"])))
        anyofs = [*([s["anyOf"]] if "anyOf" in s else []), *s.get("_anyofs", [])]
        if anyofs:
            return self._compile_union(s, anyofs, name, kinds, title)
        if "const" in s:
            return self._add(Const(s["const"]))
        if "enum" in s:
            return self._compile_enum(s, name)
        types = s.get("type")
        types = [types] if isinstance(types, str) else list(types) if isinstance(types, list) else _infer_types(s)
        solid = [t for t in types if t != "null"]
        if not solid:
            return self._add(Const(None)) if types else self._add(Never("empty type list"))
        nodes = [self._typed(t, s, name, kinds, title) for t in solid]
        if len(nodes) == 1 and "null" not in types:
            return nodes[0]
        null = self._add(Const(None)) if "null" in types else None
        return self._add(Union(nodes, null, null is not None and name in realism.NULL_NAMES))

    def _compile_union(
        self, s: Mapping[str, Any], anyofs: list[Any], name: str | None, kinds: tuple[str, ...], title: str
    ) -> Node:
        siblings = {k: v for k, v in s.items() if k not in ("anyOf", "_anyofs")}
        if len(anyofs) > 1:
            siblings["_anyofs"] = anyofs[1:]
        branches = [self._discriminated(b, s.get("discriminator")) for b in anyofs[0]]
        if has_constraints(siblings):
            nodes = [
                self._compile_flat(merge(siblings, self._flatten(b, 0)), name, kinds, title)
                for b in branches
                if isinstance(b, dict)
            ]
        else:
            nodes = [self._compile(b, name, kinds, title) for b in branches]
        null = next((n for n in nodes if isinstance(n, Const) and n.value is None), None)
        solid = [n for n in nodes if n is not null]
        discriminator = s.get("discriminator")
        prop = discriminator.get("propertyName") if isinstance(discriminator, dict) else None
        keys = (prop,) if isinstance(prop, str) else TAG_KEYS
        return self._add(Union(solid, null, null is not None and name in realism.NULL_NAMES, keys))

    def _discriminated(self, branch: Any, discriminator: Any) -> Any:
        """With an explicit ``mapping``, pin the discriminator property of a ``$ref`` branch."""
        if not isinstance(branch, dict) or not isinstance(discriminator, dict) or "$ref" not in branch:
            return branch
        mapping = discriminator.get("mapping") or {}
        prop = discriminator.get("propertyName")
        keys = [k for k, v in mapping.items() if v == branch["$ref"]]
        if not keys or not isinstance(prop, str):
            return branch
        target = self._flatten(branch, 0).get("properties", {}).get(prop)
        allowed = _literals(self._flatten(target, 0)) if isinstance(target, dict) else None
        if allowed is not None and keys[0] not in allowed:
            return branch
        return {"allOf": [branch, {"properties": {prop: {"const": keys[0]}}}]}

    def _compile_enum(self, s: Mapping[str, Any], name: str | None) -> Node:
        values = list(s["enum"])
        solid = [v for v in values if v is not None]
        if not solid or (None in values and name in realism.NULL_NAMES):
            return self._add(Const(None))
        preferred = realism.preferred_index(name, solid)
        if preferred is not None or len(solid) == 1:
            return self._add(Const(solid[preferred or 0]))
        return self._add(Enum(solid))

    def _typed(self, kind: str, s: Mapping[str, Any], name: str | None, kinds: tuple[str, ...], title: str) -> Node:
        if kind == "object":
            return self._object(s, name, title)
        if kind == "array":
            return self._array(s, name, kinds)
        if kind == "string":
            return self._string(s, name, kinds)
        if kind in ("integer", "number"):
            return self._numeric(kind, s, name)
        if kind == "boolean":
            return self._add(Boolean(realism.bool_value(name)))
        return self._add(Never(f"unknown type {kind!r}"))

    def _string(self, s: Mapping[str, Any], name: str | None, kinds: tuple[str, ...]) -> Node:
        min_len, max_len = int(s.get("minLength", 0)), int(s.get("maxLength", 1 << 30))
        if min_len > max_len:
            return self._add(Never("minLength > maxLength"))
        pattern = None
        if isinstance(s.get("pattern"), str):
            pattern = compile_pattern(s["pattern"], min_len, max_len)
            if pattern is None:
                return self._add(Never(f"unsupported pattern {s['pattern']!r}"))
        examples = tuple(
            e for e in s.get("examples") or () if isinstance(e, str) and min_len <= len(e) <= min(max_len, 200)
        )
        fmt = s.get("format") if isinstance(s.get("format"), str) else None
        maker = realism.string_maker(name, kinds, fmt, self._learned, examples)
        return self._add(String(maker, min_len, max_len, pattern))

    def _numeric(self, kind: str, s: Mapping[str, Any], name: str | None) -> Node:
        fmt = s.get("format") if isinstance(s.get("format"), str) else None
        lo, hi = float(s.get("minimum", -INF)), float(s.get("maximum", INF))
        if "exclusiveMinimum" in s:
            lo = max(lo, math.nextafter(float(s["exclusiveMinimum"]), INF))
        if "exclusiveMaximum" in s:
            hi = min(hi, math.nextafter(float(s["exclusiveMaximum"]), -INF))
        if kind == "number":
            if lo > hi:
                return self._add(Never("empty numeric range"))
            return self._add(Number(realism.number_maker(name, fmt), lo, hi))
        ilo = INT_MIN if lo == -INF else math.ceil(lo)
        ihi = INT_MAX if hi == INF else math.floor(hi)
        multiple = s.get("multipleOf")
        step = int(multiple) if isinstance(multiple, int | float) and float(multiple).is_integer() else 1
        if ilo > ihi or (step > 1 and -(-ilo // step) * step > ihi):
            return self._add(Never("empty integer range"))
        return self._add(Integer(realism.int_maker(name, fmt), ilo, ihi, step))

    def _array(self, s: Mapping[str, Any], name: str | None, kinds: tuple[str, ...]) -> Node:
        items = self._compile(s.get("items", {}), name, kinds)
        prefix = [self._compile(p, name, kinds) for p in s.get("prefixItems") or []]
        bounds = (int(s.get("minItems", 0)), int(s.get("maxItems", 1 << 30)))
        if bounds[0] > bounds[1]:
            return self._add(Never("minItems > maxItems"))
        usual = (1, 3) if name == "data" else (8, 16) if name == "embedding" else (1, 2)
        node = self._add(Array(items, prefix, bounds, usual, bool(s.get("uniqueItems"))))
        node.index_items = name in INDEXED_ARRAYS
        return node

    def _object(self, s: Mapping[str, Any], name: str | None, title: str) -> Node:
        props: dict[str, Any] = s.get("properties") or {}
        required = list(s.get("required") or [])
        extra_schema = s.get("additionalProperties", True)
        own = tuple(k for k in (*_literal_of(props, "object"), *_literal_of(props, "type"), title, name or "") if k)
        entries: list[tuple[str, Node, int]] = []
        for pname, pschema in props.items():
            is_required = pname in required
            if not is_required and isinstance(pschema, dict) and pschema.get("deprecated") is True:
                continue
            if not is_required and pname in realism.NULL_NAMES:  # no failed_at/error on a happy answer
                continue
            node = self._compile(pschema, pname, own)
            if pname in realism.NULL_NAMES and _accepts_null(node):
                node = self._add(Const(None))
            kind = REQUIRED if is_required else ALWAYS if isinstance(node, Const) or pname in ALWAYS_NAMES else OPTIONAL
            entries.append((pname, node, kind))
        for pname in required:
            if pname not in props:
                if extra_schema is False:
                    return self._add(Never(f"required {pname!r} is not an allowed property"))
                entries.append((pname, self._compile(extra_schema, pname, own), REQUIRED))
        extra = key = None
        if isinstance(extra_schema, dict):
            extra = self._compile(extra_schema, None, own)
            key_schema = merge({"type": "string"}, s.get("propertyNames") or {})
            key = self._compile_flat(key_schema, "metadata_key", (), "")
        node = self._add(Object(entries, extra, key))
        node.min_props = int(s.get("minProperties", 0))
        node.max_props = int(s.get("maxProperties", 1 << 30))
        nots = [n for n in [s.get("not"), *s.get("_nots", [])] if isinstance(n, dict)]
        node.not_groups = tuple(tuple(n["required"]) for n in nots if list(n) == ["required"])
        node.list_shape = "data" in props and ("has_more" in props or "list" in _literal_of(props, "object"))
        node.totals = next(((t, ps) for t, ps in TOTALS if t in props and any(p in props for p in ps)), None)
        node.check = self._checker(props)
        node.declared = frozenset(props)
        node.literals = self._literal_props(props)
        return node

    def _literal_props(self, props: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
        """The properties a schema fixes to a const or an enum (``type: {enum: [message]}``), with their values."""
        found: dict[str, tuple[Any, ...]] = {}
        for pname, pschema in props.items():
            if not isinstance(pschema, dict):
                continue
            if "$ref" in pschema or "allOf" in pschema:
                target = resolve(self.document, pschema["$ref"]) if "$ref" in pschema else {}
                if self._structured(target):
                    continue
                pschema = self._flatten(pschema, 0)
            values = _literals(pschema)
            if values:
                found[pname] = tuple(values)
        return found

    # -- costs, validation --------------------------------------------------------------------

    def _add(self, node: N) -> N:
        self._new.append(node)
        return node

    def _settle(self) -> None:
        """Fixed point of the node costs (they only decrease), then let unions pick branches."""
        pending, self._new = self._new, []
        changed = True
        while changed:
            changed = False
            for node in pending:
                cost = node.estimate()
                if cost < node.cost:
                    node.cost, changed = cost, True
        for node in pending:
            node.finalize()

    def _checker(self, props: Mapping[str, Any]) -> Callable[[str, Any], bool]:
        def check(prop: str, value: Any) -> bool:
            return bool(self._validator(props[prop]).is_valid(value))

        return check

    def _validator(self, schema: Any) -> Any:
        cached = self._validators.get(id(schema))
        if cached is None:
            if self._registry is None:
                self._registry = jsonschema_rs.Registry([(URN, dict(self.document))])
            validator = jsonschema_rs.Draft202012Validator(absolute_refs(schema, URN), registry=self._registry)
            cached = self._validators[id(schema)] = (schema, validator)
        return cached[1]


def _accepts_null(node: Node) -> bool:
    while isinstance(node, Ref):
        node = node.target
    if isinstance(node, Union):
        return node.null_branch is not None
    return isinstance(node, Const) and node.value is None


def _infer_types(s: Mapping[str, Any]) -> list[str]:
    if any(k in s for k in ("properties", "additionalProperties", "required", "maxProperties", "propertyNames")):
        return ["object"]
    if any(k in s for k in ("items", "prefixItems", "minItems", "maxItems")):
        return ["array"]
    if any(k in s for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return ["number"]
    return ["string"]  # anything goes: a short string reads best


def _literal_of(props: Mapping[str, Any], prop: str) -> tuple[str, ...]:
    schema = props.get(prop)
    values = _literals(schema) if isinstance(schema, dict) else None
    if values is None or len(values) != 1 or not isinstance(values[0], str):
        return ()
    return (values[0],)


def _literals(schema: Mapping[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    if isinstance(schema.get("enum"), list):
        return [v for v in schema["enum"] if v is not None]
    return None


__all__ = ["GenContext", "SchemaWalker"]
