"""Pre-drawn variety pools: schema instances drawn with hypothesis-jsonschema ahead of time.

The schema walker (:mod:`fakeai.producers.generated`) answers in microseconds with realistic,
deliberately plain data. hypothesis-jsonschema explores far more of a schema (edge values, rare
union branches, unicode) but costs 50 ms to seconds per instance on the OpenAI schemas, far too slow
for the request path. A pool is drawn once, offline, and stored as JSON::

    {"format": "fakeai-pool/1", "seed": 0, "spec": "<info.title> <info.version>",
     "operations": {"<operationId>": [<instance>, ...]}}

:func:`inline_refs` is also what the property tests use to hand hypothesis-jsonschema a
self-contained schema (it cannot follow recursive ``$ref``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FORMAT = "fakeai-pool/1"
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


def resolve(document: Mapping[str, Any], ref: str) -> Any:
    """The target of a local JSON pointer ``$ref`` (``#/components/schemas/X``)."""
    if not ref.startswith("#"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    node: Any = document
    for part in ref[1:].lstrip("/").split("/") if ref != "#" else []:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node
