"""Build a valid request for any operation of a spec, from the spec itself (test helper)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from fakeai.generated.schema import GenContext, SchemaWalker
from fakeai.spec.operation import Operation
from fakeai.spec.pointer import resolve


@dataclass
class BuiltRequest:
    method: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    data: dict[str, Any] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None


def _is_binary(schema: Any) -> bool:
    return isinstance(schema, dict) and (
        schema.get("format") == "binary" or "contentMediaType" in schema or schema.get("contentEncoding") == "binary"
    )


def build_request(op: Operation, walker: SchemaWalker, seed: int = 0, prefix: str = "/v1") -> BuiltRequest:
    rng = random.Random(seed)
    gen = GenContext(rng=rng, now=1_700_000_000.0, overrides={}, echo={})
    path = op.path
    params: dict[str, Any] = {}
    for param in op.parameters:
        if param.location == "path":
            value = walker.compile(param.schema)(gen) if param.schema else "abc"
            value = str(value).replace("/", "_") or "x"
            path = path.replace("{" + param.name + "}", value)
        elif param.location == "query" and param.required:
            params[param.name] = walker.compile(param.schema)(gen)
    request = BuiltRequest(op.method, prefix + path, params=params)
    if not op.request_media:
        return request
    if "application/json" in op.request_media:
        media = op.request_media["application/json"]
        request.json = walker.compile(media.schema)(gen) if media.schema else {}
        if isinstance(request.json, dict):
            # a cross-field rule no schema states: a named tool_choice must name one of the tools
            request.json.pop("tool_choice", None)
        return request
    for content_type, media in op.request_media.items():
        if content_type.startswith("multipart/") and media.schema is not None:
            body = walker.compile(media.schema)(gen)
            if isinstance(body, dict) and op.path.startswith("/audio/"):
                body.pop("response_format", None)  # which formats a model supports is a rule no schema states
            data: dict[str, Any] = {}
            files: list[tuple[str, tuple[str, bytes, str]]] = []
            props = _properties(media.schema, walker)
            for key, value in (body or {}).items():
                schema = props.get(key, {})
                items = schema.get("items") if isinstance(schema, dict) else None
                if _is_binary(schema):
                    files.append((key, ("upload.bin", b"data", "application/octet-stream")))
                elif isinstance(value, list) and _is_binary(items):
                    files.extend((key, (f"f{i}.bin", b"data", "application/octet-stream")) for i in range(len(value)))
                elif isinstance(value, (dict, list)):
                    data.update(_brackets(key, value))
                elif isinstance(value, bool):
                    data[key] = "true" if value else "false"
                else:
                    data[key] = str(value)
            request.data, request.files = data, files or None
            return request
        if content_type == "application/x-www-form-urlencoded" and media.schema is not None:
            body = walker.compile(media.schema)(gen)
            request.data = {k: str(v) for k, v in (body or {}).items() if not isinstance(v, (dict, list))}
            return request
        if content_type == "application/sdp":
            request.data = None
            request.json = None
            return request
    return request


def _properties(schema: Any, walker: SchemaWalker) -> dict[str, Any]:
    if "$ref" in schema:
        schema = resolve(walker.document, schema["$ref"])
    props = dict(schema.get("properties") or {})
    for branch in schema.get("allOf") or []:
        props.update(_properties(branch, walker))
    document = walker.document
    return {k: (resolve(document, v["$ref"]) if isinstance(v, dict) and "$ref" in v else v) for k, v in props.items()}


def _brackets(key: str, value: Any) -> dict[str, Any]:
    """The SDK's form encoding: ``k[]=a&k[]=b``, ``k[sub]=v``."""
    out: dict[str, Any] = {}
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            out[f"{key}[]"] = [_scalar(v) for v in value]
        else:
            out[key] = orjson.dumps(value).decode()
    elif isinstance(value, dict):
        for sub, inner in value.items():
            out.update(
                _brackets(f"{key}[{sub}]", inner)
                if isinstance(inner, (dict, list))
                else {f"{key}[{sub}]": _scalar(inner)}
            )
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


SDP_OFFER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


async def send(http: Any, op: Operation, request: BuiltRequest) -> Any:
    """Send a built request the way the official SDK encodes it (JSON, form fields + file parts, SDP)."""
    kwargs: dict[str, Any] = {"params": request.params}
    if request.json is not None:
        kwargs["json"] = request.json
    if request.data is not None or request.files:
        kwargs["data"] = request.data or {}
        if request.files:
            kwargs["files"] = request.files
    if "application/sdp" in op.request_media:
        kwargs["content"] = SDP_OFFER
        kwargs["headers"] = {"content-type": "application/sdp"}
    return await http.request(request.method, request.url, **kwargs)


def is_missing_resource(app: Any, op: Operation, request: BuiltRequest, response: Any) -> bool:
    """A 404 that is right: the operation works on one resource (retrieve, update, delete, an action, its
    content) and the request named a well-formed id this server never issued, answered in OpenAI's envelope."""
    from fakeai.resources.model import is_well_formed
    from fakeai.resources.producer import built_for

    built = built_for(app.store)
    if response.status_code != 404 or built is None:
        return False
    error = response.json().get("error") or {}
    linked = request.json.get(error.get("param")) if isinstance(request.json, dict) and error.get("param") else None
    linked = linked.get("id") if isinstance(linked, dict) else linked
    if isinstance(linked, str) and linked in str(error.get("message")):
        return True  # the request links to a resource that does not exist (previous_response_id, conversation)
    graph, model, _ = built
    same_route = [
        c.operation.operation_id
        for c in app.operations.values()
        if (c.operation.method, c.operation.path) == (op.method, op.path.split("?")[0])
    ]
    role = next((graph.role(i) for i in [op.operation_id, *same_route] if graph.role(i)), None)  # one route, 2 ids
    if role is None or role.item_param is None:
        return False
    segments = op.path.split("?")[0].split("/")
    ident = request.url.split("?")[0].split("/")[segments.index("{" + role.item_param + "}") - len(segments)]
    return (
        is_well_formed(ident, model.kinds[role.kind].prefix)
        and ident in str(error.get("message"))
        and error.get("type") == "invalid_request_error"
    )
