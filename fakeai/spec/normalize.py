"""Normalize an OpenAPI 3.0 / 3.1 document into one JSON Schema 2020-12 dialect.

Every fix is one small function with its reason. They run once at load (then the result is
cached), mutate the parsed document in place and never change what a valid payload means,
except where a comment says the upstream spec is itself wrong and which way we lean.

Measured on the official OpenAI document (2026-05): 204 overlapping ``oneOf``, 112 3.0-style
``nullable``, 7 boolean ``exclusiveMinimum``, one ``$recursiveRef``, one duplicated ``required``
entry, ``min_items``/``max_items`` typos, an integer beyond int64 and multipart schemas without a
top-level ``type``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fakeai.spec.pointer import pointer

Schema = dict[str, Any]
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
VERSION = 5  # bump when a fix changes, to invalidate the load cache

_SCHEMA_LIST_KEYS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_KEYS = ("items", "not", "additionalProperties", "contains", "propertyNames", "if", "then", "else")
_SCHEMA_MAP_KEYS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def iter_schemas(schema: Any) -> Iterator[Schema]:
    """Yield ``schema`` and every subschema below it (pre-order)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        yield node
        for key in _SCHEMA_LIST_KEYS:
            value = node.get(key)
            if isinstance(value, list):
                stack.extend(value)
        for key in _SCHEMA_KEYS:
            value = node.get(key)
            if isinstance(value, dict):
                stack.append(value)
        for key in _SCHEMA_MAP_KEYS:
            value = node.get(key)
            if isinstance(value, dict):
                stack.extend(value.values())


def document_schemas(doc: dict[str, Any]) -> Iterator[Schema]:
    """Every schema object of a document: components, parameters, bodies, responses, webhooks."""
    roots: list[Any] = list((doc.get("components") or {}).get("schemas", {}).values())
    for section in ("paths", "webhooks"):
        for item in (doc.get(section) or {}).values():
            if not isinstance(item, dict):
                continue
            for op in item.values():
                if isinstance(op, dict):
                    roots.extend(_operation_schema_roots(op))
                elif isinstance(op, list):  # path-level parameters
                    roots.extend(p.get("schema") for p in op if isinstance(p, dict))
    components = doc.get("components") or {}
    for param in (components.get("parameters") or {}).values():
        roots.append(param.get("schema"))
    for kind in ("requestBodies", "responses"):
        for body in (components.get(kind) or {}).values():
            for media in (body.get("content") or {}).values():
                roots.append(media.get("schema"))
    for root in roots:
        yield from iter_schemas(root)


def _operation_schema_roots(op: dict[str, Any]) -> Iterator[Any]:
    for param in op.get("parameters") or []:
        yield param.get("schema")
    for media in ((op.get("requestBody") or {}).get("content") or {}).values():
        yield media.get("schema")
    for response in (op.get("responses") or {}).values():
        for media in ((response or {}).get("content") or {}).values():
            yield media.get("schema")


# -- the fixes ----------------------------------------------------------------------------------


def fix_nullable(schema: Schema) -> None:
    """3.0's ``nullable: true`` (also found in 3.1 documents) becomes ``null`` in the type list.

    Without ``type`` (a ``$ref``/``allOf``/``anyOf`` wrapper) the schema becomes
    ``anyOf: [<the rest>, {type: null}]``. ``allOf: [{$ref}, {nullable: true}]`` is the 3.0 idiom
    for "X or null": the lone nullable branch is dropped and the whole allOf made nullable.
    """
    all_of = schema.get("allOf")
    if isinstance(all_of, list):
        lone = [b for b in all_of if isinstance(b, dict) and b.get("nullable") is True and _only_annotations(b)]
        if lone:
            schema["allOf"] = [b for b in all_of if b not in lone]
            schema["nullable"] = True
    if schema.pop("nullable", None) is not True:
        return
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list):
        if "null" not in kind:
            kind.append("null")
    else:
        rest = {k: schema.pop(k) for k in list(schema) if k not in _ANNOTATIONS}
        schema["anyOf"] = [rest, {"type": "null"}]
        return
    if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
        schema["enum"].append(None)


_ANNOTATIONS = frozenset({"description", "title", "default", "example", "examples", "deprecated", "nullable"})


def _only_annotations(schema: Schema) -> bool:
    return all(k in _ANNOTATIONS or k.startswith("x-") for k in schema)


def fix_one_of(schema: Schema) -> None:
    """``oneOf`` branches in the OpenAI spec overlap (valid SDK requests match two): use ``anyOf``."""
    if "oneOf" in schema:
        branches = schema.pop("oneOf")
        if "anyOf" in schema:
            schema.setdefault("allOf", []).append({"anyOf": branches})
        else:
            schema["anyOf"] = branches


def fix_exclusive_bounds(schema: Schema) -> None:
    """3.0's boolean ``exclusiveMinimum``/``exclusiveMaximum`` become 2020-12's numeric ones."""
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = schema.get(exclusive)
        if value is True and bound in schema:
            schema[exclusive] = schema.pop(bound)
        elif isinstance(value, bool):
            del schema[exclusive]


def fix_array_bound_typos(schema: Schema) -> None:
    """``min_items``/``max_items`` are typos for ``minItems``/``maxItems`` (ignored otherwise)."""
    for typo, keyword in (("min_items", "minItems"), ("max_items", "maxItems")):
        if typo in schema and isinstance(schema[typo], int) and not isinstance(schema[typo], bool):
            schema.setdefault(keyword, schema.pop(typo))


def fix_duplicate_required(schema: Schema) -> None:
    """``required`` must have unique items (2020-12); upstream repeats one entry."""
    required = schema.get("required")
    if isinstance(required, list):
        schema["required"] = list(dict.fromkeys(required))
    elif required is not None and not isinstance(required, list):
        del schema["required"]  # a 3.0 property-level ``required: true`` means nothing here


def fix_int64_bounds(schema: Schema) -> None:
    """Bounds beyond int64 (``seed``) are clamped: every client sends int64 and orjson needs it."""
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "default"):
        value = schema.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            schema[key] = min(max(value, INT64_MIN), INT64_MAX)


def fix_implicit_object(schema: Schema) -> None:
    """Schemas with ``properties`` but no ``type`` (17 multipart bodies) are objects."""
    if "properties" in schema and "type" not in schema and not any(k in schema for k in ("anyOf", "oneOf", "allOf")):
        schema["type"] = "object"


def fix_example_keyword(schema: Schema) -> None:
    """3.0's singular ``example`` is kept as the 2020-12 ``examples`` list the generator reads."""
    if "example" in schema and "examples" not in schema:
        schema["examples"] = [schema["example"]]
    schema.pop("example", None)


SCHEMA_FIXES: tuple[Callable[[Schema], None], ...] = (
    fix_array_bound_typos,
    fix_exclusive_bounds,
    fix_duplicate_required,
    fix_int64_bounds,
    fix_example_keyword,
    fix_one_of,
    fix_implicit_object,
    fix_nullable,  # last: it may move already-fixed keywords into a new anyOf branch
)


def fix_recursive_refs(doc: dict[str, Any]) -> None:
    """2019-09 ``$recursiveRef: "#"`` (CompoundFilter) becomes a plain ``$ref`` to its anchor.

    In a components schema, ``#`` means the schema that carries ``$recursiveAnchor``; we point
    at it by its component path so any 2020-12 validator resolves it.
    """
    schemas = (doc.get("components") or {}).get("schemas") or {}
    for name, root in schemas.items():
        anchored = isinstance(root, dict) and root.pop("$recursiveAnchor", None) is not None
        for node in iter_schemas(root):
            if "$recursiveRef" in node:
                node.pop("$recursiveRef")
                node["$ref"] = pointer("components", "schemas", name) if anchored else "#"
            node.pop("$recursiveAnchor", None)


def fix_base64_embedding(doc: dict[str, Any]) -> None:
    """``Embedding.embedding`` is a base64 string when ``encoding_format`` is ``base64`` (the SDK's
    default); upstream only allows the float array. We allow both."""
    embedding = (((doc.get("components") or {}).get("schemas") or {}).get("Embedding") or {}).get("properties", {})
    vector = embedding.get("embedding")
    if isinstance(vector, dict) and vector.get("type") == "array":
        base64 = {"type": "string", "description": "Little-endian float32 values, base64 encoded."}
        embedding["embedding"] = {"description": vector.get("description", ""), "anyOf": [vector, base64]}


def stringify_keys(value: Any) -> Any:
    """YAML allows integer keys (``200:``); JSON and OpenAPI want strings."""
    if isinstance(value, dict):
        return {str(k): stringify_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stringify_keys(v) for v in value]
    return value


def normalize(doc: dict[str, Any]) -> dict[str, Any]:
    """Apply every fix; returns the (mutated) document, labelled as 3.1."""
    doc = stringify_keys(doc)
    fix_recursive_refs(doc)
    fix_base64_embedding(doc)
    seen: set[int] = set()
    for schema in list(document_schemas(doc)):
        if id(schema) in seen:
            continue
        seen.add(id(schema))
        for fix in SCHEMA_FIXES:
            fix(schema)
    doc["x-fakeai-source-openapi"] = doc.get("openapi", "")
    doc["openapi"] = "3.1.0"
    return doc
