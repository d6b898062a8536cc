"""One compiled view of each OpenAPI operation: what it accepts and what it answers."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fakeai.errors import SpecError
from fakeai.spec.pointer import deref, join, pointer, resolve

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON_TYPES = ("application/json",)
_SAFE_ID = re.compile(r"[^A-Za-z0-9_]+")


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str  # query | path | header | cookie
    required: bool
    schema: Mapping[str, Any]
    pointer: str  # JSON pointer of the schema inside the document (fragment form: fakeai.spec.pointer)


@dataclass(frozen=True, slots=True)
class Media:
    content_type: str
    schema: Mapping[str, Any] | None
    pointer: str


@dataclass(frozen=True, slots=True)
class Example:
    title: str
    response: str  # the raw example text from x-oaiMeta (may be invalid JSON upstream)


@dataclass(frozen=True, slots=True)
class Operation:
    operation_id: str
    method: str  # upper case
    path: str  # templated, as in the document
    tags: tuple[str, ...]
    summary: str
    parameters: tuple[Parameter, ...]
    body_required: bool
    request_media: Mapping[str, Media]
    status: int  # the success status we answer with
    response_media: Mapping[str, Media]  # content type -> schema of the success response
    examples: tuple[Example, ...] = ()
    deprecated: bool = False
    extensions: Mapping[str, Any] = field(default_factory=dict)

    @property
    def json_response(self) -> Media | None:
        for content_type, media in self.response_media.items():
            if content_type in JSON_TYPES or content_type.endswith("+json"):
                return media
        return None

    @property
    def stream_response(self) -> Media | None:
        return self.response_media.get("text/event-stream")

    @property
    def binary_response(self) -> Media | None:
        for content_type, media in self.response_media.items():
            if content_type not in JSON_TYPES and content_type != "text/event-stream":
                return media
        return None

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], path: str, method: str) -> Operation:
        item = document["paths"][path]
        op = item[method]
        base = pointer("paths", path, method)
        operation_id = op.get("operationId") or _synthetic_id(method, path)
        params = _parameters(document, item.get("parameters") or [], op.get("parameters") or [], base, path)
        body = deref(document, op.get("requestBody") or {})
        body_base = (op.get("requestBody") or {}).get("$ref") or join(base, "requestBody")
        request_media = {
            ct: Media(ct, m.get("schema"), join(body_base, "content", ct, "schema"))
            for ct, m in (body.get("content") or {}).items()
        }
        status, response_media = _success_response(document, op, base)
        meta = op.get("x-oaiMeta") or {}
        examples = tuple(
            Example(str(ex.get("title", "")), ex["response"])
            for ex in _examples(meta)
            if isinstance(ex.get("response"), str)
        )
        return cls(
            operation_id=operation_id,
            method=method.upper(),
            path=path,
            tags=tuple(op.get("tags") or ()),
            summary=str(op.get("summary") or "").strip().split("\n")[0],
            parameters=params,
            body_required=bool(body.get("required")),
            request_media=request_media,
            status=status,
            response_media=response_media,
            examples=examples,
            deprecated=bool(op.get("deprecated")),
            extensions={k: v for k, v in op.items() if k.startswith("x-") and k != "x-oaiMeta"},
        )


def iter_operations(document: Mapping[str, Any]) -> Iterator[Operation]:
    seen: dict[str, str] = {}
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            if method in item:
                op = Operation.from_spec(document, path, method)
                if op.operation_id in seen:
                    where = f"{seen[op.operation_id]} and {method.upper()} {path}"
                    raise SpecError(f"duplicate operationId {op.operation_id!r}: {where}")
                seen[op.operation_id] = f"{method.upper()} {path}"
                yield op


def _examples(meta: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    examples = meta.get("examples")
    if isinstance(examples, dict):
        return [examples]
    if isinstance(examples, list):
        return [e for e in examples if isinstance(e, dict)]
    return []


def _success_response(document: Mapping[str, Any], op: Mapping[str, Any], base: str) -> tuple[int, dict[str, Media]]:
    responses = op.get("responses") or {}
    codes = sorted(c for c in responses if str(c).isdigit() and str(c).startswith("2"))
    if not codes:
        codes = [c for c in responses if str(c) in ("2XX", "default")]
    if not codes:
        return 200, {}
    code = codes[0]
    raw = responses[code]
    response = deref(document, raw)
    where = raw.get("$ref") or join(base, "responses", code)
    media = {
        ct: Media(ct, m.get("schema"), join(where, "content", ct, "schema"))
        for ct, m in (response.get("content") or {}).items()
    }
    status = int(code) if str(code).isdigit() else 200
    return status, media


def _parameters(
    document: Mapping[str, Any], shared: list[Any], own: list[Any], base: str, path: str
) -> tuple[Parameter, ...]:
    merged: dict[tuple[str, str], Parameter] = {}
    for index, raw in [*[(i, p) for i, p in enumerate(shared)], *[(i + 1000, p) for i, p in enumerate(own)]]:
        param = deref(document, raw)
        name, location = param.get("name"), param.get("in")
        if not isinstance(name, str) or location not in ("query", "path", "header", "cookie"):
            continue
        if location == "path" and "{" + name + "}" not in path:
            continue  # upstream inconsistency (a path parameter the template does not contain): not routable
        if "$ref" in raw:
            where = join(raw["$ref"], "schema")
        elif index >= 1000:
            where = join(base, "parameters", index - 1000, "schema")
        else:
            where = pointer("paths", path, "parameters", index, "schema")
        merged[(name, location)] = Parameter(
            name=name,
            location=location,
            required=bool(param.get("required")) or location == "path",
            schema=param.get("schema") or {},
            pointer=where,
        )
    return tuple(merged.values())


# the old name of fakeai.spec.pointer.resolve, still imported by fakeai/operations.py
resolve_pointer = resolve


def _synthetic_id(method: str, path: str) -> str:
    return method.lower() + "_" + _SAFE_ID.sub("_", path).strip("_")
