"""``inline_refs``: a self-contained copy of a spec schema for hypothesis-jsonschema (it cannot follow
recursive ``$ref``), used by the property tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fakeai.spec.pointer import resolve

# keywords that never constrain an instance: dropped so hypothesis-jsonschema canonicalises less
ANNOTATIONS = frozenset(
    {"description", "title", "example", "examples", "discriminator", "deprecated", "readOnly", "writeOnly", "$comment"}
)
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_LITERALS = frozenset({"enum", "const", "required", "default", "dependentRequired"})


def inline_refs(schema: Any, document: Mapping[str, Any], *, recursion: int = 2, max_depth: int = 16) -> Any:
    """``schema`` with every local ``$ref`` replaced by its target, annotations dropped.

    A ``$ref`` already ``recursion`` times on the current path (or deeper than ``max_depth`` refs)
    becomes ``false``: the result accepts a subset of what ``schema`` accepts, so everything drawn
    from it is valid against the original. Under ``not`` the polarity flips (the cut becomes ``true``)
    to keep that guarantee.
    """
    return _inline(schema, document, (), recursion, max_depth, True)


def _inline(schema: Any, document: Mapping[str, Any], path: tuple[str, ...], rec: int, depth: int, pos: bool) -> Any:
    if isinstance(schema, list):
        return [_inline(s, document, path, rec, depth, pos) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref" or key in ANNOTATIONS or key.startswith(("x-", "_")):
            continue
        if key in _LITERALS:
            out[key] = value
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _inline(sub, document, path, rec, depth, pos) for name, sub in value.items()}
        else:
            out[key] = _inline(value, document, path, rec, depth, pos if key != "not" else not pos)
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return out
    if path.count(ref) >= rec or len(path) >= depth:
        target: Any = pos is False  # the cut: never (positive) / anything (under ``not``)
    else:
        target = _inline(resolve(document, ref), document, (*path, ref), rec, depth, pos)
    if not out:
        return target
    if target is True:
        return out
    if target is False:
        return False
    out["allOf"] = [*out.get("allOf", []), target]
    return out
