"""Merge JSON Schema dicts (for ``allOf`` and for ``anyOf`` branches with constraining siblings).

:func:`merge` returns a schema whose instances satisfy both inputs, for the keywords the OpenAI
documents use. It never resolves ``$ref``: the walker flattens top-level references first.
Bookkeeping keys start with ``_``: ``_anyofs`` (``anyOf`` lists still to distribute),
``_nots`` and ``_never`` (the inputs contradict each other).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fakeai.spec.pointer import uri


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


ANNOTATIONS = _names(
    "description title default examples deprecated discriminator readOnly writeOnly $comment format "
    "contentEncoding contentMediaType"
)
_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_SUBSCHEMA = ("items", "propertyNames", "contains")


def has_constraints(schema: Mapping[str, Any], ignore: Iterable[str] = ()) -> bool:
    """Whether ``schema`` has keywords that restrict instances (beyond annotations and ``ignore``)."""
    skip = set(ignore)
    return any(k not in ANNOTATIONS and k not in skip and not k.startswith("x-") for k in schema)


def merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
        elif key == "type":
            out[key] = _intersect_types(out[key], value)
            if not out[key]:
                out["_never"] = f"types {a[key]!r} and {value!r} do not intersect"
        elif key == "properties":
            props = dict(out[key])
            for name, schema in value.items():
                props[name] = {"allOf": [props[name], schema]} if name in props else schema
            out[key] = props
        elif key == "required":
            out[key] = list(dict.fromkeys([*out[key], *value]))
        elif key == "enum":
            out[key] = [v for v in out[key] if v in value]
            if not out[key]:
                out["_never"] = "enums do not intersect"
        elif key == "const" and out[key] != value:
            out["_never"] = f"const {out[key]!r} != {value!r}"
        elif key in _LOWER:
            out[key] = max(out[key], value)
        elif key in _UPPER:
            out[key] = min(out[key], value)
        elif key in ("_anyofs", "_nots"):
            out[key] = [*out[key], *value]
        elif key == "anyOf":
            out["_anyofs"] = [*out.get("_anyofs", []), value]
        elif key == "not":
            out["_nots"] = [*out.get("_nots", []), value]
        elif key == "additionalProperties":
            out[key] = _merge_additional(out[key], value)
        elif key in _SUBSCHEMA:
            out[key] = {"allOf": [out[key], value]}
    _restrict_closed(out, a, b)
    return out


def _intersect_types(a: Any, b: Any) -> list[str]:
    left = [a] if isinstance(a, str) else list(a)
    right = [b] if isinstance(b, str) else list(b)
    out = [t for t in left if t in right]
    if "integer" in left and "number" in right and "integer" not in out:
        out.append("integer")
    if "number" in left and "integer" in right and "integer" not in out:
        out.append("integer")
    return out


def _merge_additional(a: Any, b: Any) -> Any:
    if a is False or b is False:
        return False
    if a is True or a == {}:
        return b
    if b is True or b == {}:
        return a
    return {"allOf": [a, b]}


def _restrict_closed(out: dict[str, Any], a: Mapping[str, Any], b: Mapping[str, Any]) -> None:
    """A side with ``additionalProperties: false`` allows only its own property names."""
    allowed: set[str] | None = None
    for side in (a, b):
        if side.get("additionalProperties") is False:
            names = set(side.get("properties") or {})
            allowed = names if allowed is None else allowed & names
    if allowed is None or "properties" not in out:
        return
    out["properties"] = {k: v for k, v in out["properties"].items() if k in allowed}
    missing = [r for r in out.get("required") or [] if r not in allowed]
    if missing:
        out["_never"] = f"required {missing} not allowed by additionalProperties: false"


def absolute_refs(schema: Any, base: str) -> Any:
    """A copy of ``schema`` with local ``#/...`` references made absolute under ``base``."""
    if isinstance(schema, dict):
        return {
            k: (uri(base, v) if k == "$ref" and isinstance(v, str) and v.startswith("#") else absolute_refs(v, base))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [absolute_refs(v, base) for v in schema]
    return schema
