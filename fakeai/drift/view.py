"""A flat view of one schema: ``$ref`` resolved, ``allOf`` merged, ``null`` pulled out of ``anyOf``.

The diff engine compares views, not raw schemas, so that the many spellings of one shape in
OpenAPI 3.0 and 3.1 (``allOf: [$ref]`` with a description, ``anyOf: [X, {type: null}]``,
``type: [string, "null"]``, ``nullable``) compare equal. Views are cached per schema object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fakeai.spec.pointer import resolve, tokens

Schema = Mapping[str, Any]
MISSING: Any = object()
ANNOTATIONS = frozenset({"description", "title", "examples", "example", "deprecated", "readOnly", "writeOnly"})
LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
OTHER_CONSTRAINTS = ("pattern", "multipleOf", "uniqueItems")
_COMPONENT = "#/components/schemas/"


@dataclass(frozen=True, slots=True)
class View:
    """What a schema allows, flattened. ``types is None`` means the schema does not say."""

    types: frozenset[str] | None = None
    nullable: bool = False
    properties: Mapping[str, Schema] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    items: Schema | None = None
    additional: Any = MISSING  # additionalProperties: a schema, a bool or MISSING
    variants: tuple[Schema, ...] = ()  # anyOf branches other than null, when there are 2+
    enum: tuple[Any, ...] | None = None  # enum or const, without null
    constraints: Mapping[str, Any] = field(default_factory=dict)
    format: str | None = None
    default: Any = MISSING
    description: str | None = None
    title: str | None = None
    deprecated: bool = False
    ref: str | None = None  # the component name when the schema is (a wrapper of) one $ref


def component_name(ref: str) -> str:
    """``X`` for ``#/components/schemas/X`` (decoded); any other reference as it is written."""
    if not ref.startswith(_COMPONENT):
        return ref
    parts = tokens(ref)
    return parts[2] if len(parts) == 3 else ref[len(_COMPONENT) :]


def pure_ref(schema: Any) -> str | None:
    """The ``$ref`` of a schema that is only a reference (plus annotations), else ``None``."""
    if not isinstance(schema, Mapping) or not isinstance(schema.get("$ref"), str):
        return None
    plain = all(key == "$ref" or key in ANNOTATIONS or key.startswith("x-") for key in schema)
    return str(schema["$ref"]) if plain else None


class Views:
    """Views of the schemas of one document, built lazily and cached by schema object."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self._cache: dict[int, tuple[Any, View]] = {}
        self._building: set[int] = set()

    def resolve(self, ref: str) -> Schema:
        target = resolve(self.document, ref)
        return target if isinstance(target, Mapping) else {}

    def view(self, schema: Any) -> View:
        if not isinstance(schema, Mapping):
            return View(types=None if schema is not False else frozenset())
        key = id(schema)
        cached = self._cache.get(key)
        if cached is not None and cached[0] is schema:
            return cached[1]
        if key in self._building:  # a cycle through $ref/allOf only: stop with an empty view
            return View()
        self._building.add(key)
        try:
            built = self._build(schema)
        finally:
            self._building.discard(key)
        self._cache[key] = (schema, built)  # keeping ``schema`` alive keeps its id unique
        return built

    def _build(self, schema: Schema) -> View:
        own = _own(schema)
        parts: list[View] = []
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = self.view(self.resolve(ref))
            parts.append(replace(target, ref=component_name(ref)))
        for member in schema.get("allOf") or []:
            parts.append(self.view(member))
        branches = schema.get("anyOf")
        or_null = False
        if isinstance(branches, list):
            others = [b for b in branches if not _is_null(self, b)]
            or_null = len(others) < len(branches)
            if len(others) == 1:
                parts.append(self.view(others[0]))
            elif others:
                own = replace(own, variants=tuple(others))
        merged = own
        for part in parts:
            merged = merge(merged, part)
        if or_null:
            merged = replace(merged, nullable=True)
        if parts and len(parts) == 1 and parts[0].ref and _annotation_only(schema, ("$ref", "allOf", "anyOf")):
            merged = replace(merged, ref=parts[0].ref)
        elif not isinstance(ref, str):
            merged = replace(merged, ref=None)
        return merged


def _is_null(views: Views, branch: Any) -> bool:
    view = views.view(branch)
    return view.types == frozenset() and view.nullable


def _annotation_only(schema: Schema, structural: tuple[str, ...]) -> bool:
    return all(k in structural or k in ANNOTATIONS or k.startswith("x-") for k in schema)


def _own(schema: Schema) -> View:
    """The keywords written on this schema object itself (no $ref/allOf/anyOf)."""
    types: frozenset[str] | None = None
    nullable = False
    kind = schema.get("type")
    if isinstance(kind, str):
        kind = [kind]
    if isinstance(kind, list):
        nullable = "null" in kind
        types = frozenset(str(k) for k in kind if k != "null")
    enum: tuple[Any, ...] | None = None
    if isinstance(schema.get("enum"), list):
        enum = tuple(v for v in schema["enum"] if v is not None)
        nullable = nullable or None in schema["enum"]
    elif "const" in schema:
        enum = (schema["const"],) if schema["const"] is not None else ()
    bounds = {k: schema[k] for k in (*LOWER_BOUNDS, *UPPER_BOUNDS, *OTHER_CONSTRAINTS) if k in schema}
    items = schema.get("items")
    description = schema.get("description")
    title = schema.get("title")
    return View(
        types=types,
        nullable=nullable,
        properties=dict(schema.get("properties") or {}),
        required=frozenset(str(r) for r in schema.get("required") or () if isinstance(r, str)),
        items=items if isinstance(items, Mapping) else None,
        additional=schema.get("additionalProperties", MISSING),
        enum=enum,
        constraints=bounds,
        format=schema.get("format") if isinstance(schema.get("format"), str) else None,
        default=schema.get("default", MISSING),
        description=description if isinstance(description, str) else None,
        title=title if isinstance(title, str) else None,
        deprecated=schema.get("deprecated") is True,
    )


def merge(first: View, second: View) -> View:
    """Both at once (``allOf``): ``first`` wins for annotations, constraints combine strictly."""
    properties = dict(second.properties)
    for name, schema in first.properties.items():
        properties[name] = {"allOf": [second.properties[name], schema]} if name in properties else schema
    constraints = dict(second.constraints)
    for key, value in first.constraints.items():
        if key in constraints and key in LOWER_BOUNDS:
            constraints[key] = max(constraints[key], value)
        elif key in constraints and key in UPPER_BOUNDS:
            constraints[key] = min(constraints[key], value)
        else:
            constraints[key] = value
    return View(
        types=_both_types(first.types, second.types),
        nullable=_both_nullable(first, second),
        properties=properties,
        required=first.required | second.required,
        items=first.items if first.items is not None else second.items,
        additional=first.additional if first.additional is not MISSING else second.additional,
        variants=first.variants or second.variants,
        enum=_both_enum(first.enum, second.enum),
        constraints=constraints,
        format=first.format or second.format,
        default=first.default if first.default is not MISSING else second.default,
        description=first.description if first.description is not None else second.description,
        title=first.title if first.title is not None else second.title,
        deprecated=first.deprecated or second.deprecated,
        ref=first.ref or second.ref,
    )


def _both_types(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    both = set(a & b)
    if ("integer" in a and "number" in b) or ("integer" in b and "number" in a):
        both.add("integer")
    return frozenset(both)


def _both_nullable(a: View, b: View) -> bool:
    """Null passes an allOf only if every part that says anything about types lets it."""
    if a.types is None and not a.nullable:
        return b.nullable
    if b.types is None and not b.nullable:
        return a.nullable
    return a.nullable and b.nullable


def _both_enum(a: tuple[Any, ...] | None, b: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    if a is None:
        return b
    if b is None:
        return a
    return tuple(v for v in a if v in b)
