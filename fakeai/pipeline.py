"""What happens to a request: receive -> parse -> match -> produce -> simulate -> respond.

Connexion's routing middleware has already put the operationId in the ASGI scope. Everything
after it is here, in order. Only :func:`fakeai.streaming.respond` sleeps or writes to the socket.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import Receive, Scope, Send

from fakeai.clock import Clock
from fakeai.config import Settings
from fakeai.context import Output, RequestContext, Timing, UploadedFile
from fakeai.errors import APIError, invalid_api_key, not_found
from fakeai.events import Events, RequestAnswered, RequestReceived, RequestRejected
from fakeai.operations import CompiledOperation
from fakeai.request import nest, parse_json, parse_query
from fakeai.streaming import respond, respond_error

log = logging.getLogger("fakeai.pipeline")
ROUTING = "connexion_routing"
ARRIVED = "fakeai.arrived"  # scope key: when ErrorMiddleware first saw the request (injected clock)

Matcher = Callable[[RequestContext], "Output | None"]  # the scenario engine's hook
Simulator = Callable[[RequestContext, Output], Timing]


class Pipeline:
    """The ASGI app Connexion routes to. Built once by :func:`fakeai.app.create_app`."""

    def __init__(
        self,
        settings: Settings,
        operations: Mapping[str, CompiledOperation],
        clock: Clock,
        events: Events,
        simulate: Simulator,
        match: Matcher | None = None,
        check_response: Callable[[CompiledOperation, Output], Output] | None = None,
    ) -> None:
        self.settings = settings
        self.operations = operations
        self.clock = clock
        self.events = events
        self.simulate = simulate
        self.match = match
        self.check_response = check_response
        self.api_keys = frozenset(settings.api_keys)
        self.seed_prefix = f"{settings.seed}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = scope.get(ARRIVED) or self.clock.monotonic()
        op_id = (scope.get("extensions") or {}).get(ROUTING, {}).get("operation_id")
        compiled = self.operations.get(op_id) if op_id else None
        ctx: RequestContext | None = None
        try:
            if compiled is None:
                raise not_found(scope["method"], scope["path"])
            ctx = await self.parse(scope, receive, compiled)
            self.events.emit(RequestReceived(ctx))
            output = self.match(ctx) if self.match else None
            if output is None and self.settings.replay_strict:
                raise no_recorded_interaction(ctx)
            output = output or compiled.produce(ctx)
            if self.check_response is not None:
                output = self.check_response(compiled, output)
            timing = self.simulate(ctx, output)
        except APIError as exc:
            await respond_error(send, exc)
            self.events.emit(self.rejected(scope, exc, op_id, ctx))
            return
        size: int | None = None
        try:
            size = await respond(send, output, timing, self.clock, started, request_id=ctx.request_id)
        finally:  # also a stream cut by a reset fault or a client disconnect is journaled
            self.events.emit(RequestAnswered(ctx, output, timing, self.clock.monotonic() - started, size))

    def rejected(self, scope: Scope, exc: APIError, op_id: str | None, ctx: RequestContext | None) -> RequestRejected:
        headers = (
            ctx.headers
            if ctx is not None
            else {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        )
        return RequestRejected(
            scope["method"], scope["path"], exc.status, exc.message, op_id, headers, self.clock.now(), ctx, exc.headers
        )

    async def parse(self, scope: Scope, receive: Receive, compiled: CompiledOperation) -> RequestContext:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.authorize(headers)
        raw = await read_body(receive, headers, self.settings.max_body_bytes)
        path_params = {k: str(v) for k, v in (scope.get("path_params") or {}).items()}
        compiled.check_path(path_params)
        query = compiled.parse_query(parse_query(scope.get("query_string", b"")))
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        content_type = compiled.body_content_type(content_type, raw)
        body, files = await parse_body(raw, content_type, headers)
        body = compiled.parse_body(content_type, body, files)
        seed = self.request_seed(compiled.operation.operation_id, scope, raw, headers)
        return RequestContext(
            operation=compiled.operation,
            method=scope["method"],
            path=scope["path"],
            path_params=path_params,
            query=query,
            headers=headers,
            body=body,
            files=files,
            seed=seed,
            rng=random.Random(seed),
            now=self.clock.now(),
            settings=self.settings,
            namespace=headers.get("x-fakeai-namespace", ""),
            request_id=headers.get("x-request-id") or f"req_{seed:032x}"[:36],
        )

    def authorize(self, headers: Mapping[str, str]) -> None:
        if not self.api_keys:
            return
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else (headers.get("api-key") or None)
        if token not in self.api_keys:
            raise invalid_api_key(token or None)

    def request_seed(self, op_id: str, scope: Scope, raw: bytes, headers: Mapping[str, str]) -> int:
        """Global seed + request (+ ``x-fakeai-seed``): same request, same seed, in every worker."""
        digest = hashlib.blake2b(digest_size=8)
        digest.update(self.seed_prefix)
        digest.update(headers.get("x-fakeai-seed", "").encode())
        digest.update(op_id.encode())
        digest.update(scope["path"].encode())
        digest.update(scope.get("query_string", b""))
        digest.update(raw)
        return int.from_bytes(digest.digest(), "big")


async def read_body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def no_recorded_interaction(ctx: RequestContext) -> APIError:
    """--replay-strict: say so instead of inventing an answer the recording never had."""
    return APIError(
        404,
        f"No recorded interaction matches {ctx.method} {ctx.path} ({ctx.operation_id}); "
        "fakeai is replaying in strict mode (--replay-strict).",
        code="no_recorded_interaction",
    )


def _too_large(limit: int) -> APIError:
    return APIError(413, f"Request body too large: the limit is {limit} bytes.", code="request_too_large")


async def parse_body(
    raw: bytes, content_type: str, headers: Mapping[str, str]
) -> tuple[Any, dict[str, list[UploadedFile]]]:
    if not raw.strip():
        return None, {}
    if content_type.startswith("multipart/form-data"):
        return await _parse_multipart(raw, headers)
    if content_type == "application/x-www-form-urlencoded":
        return nest(parse_query(raw)), {}
    if content_type in ("", "application/json") or content_type.endswith("+json"):
        return parse_json(raw), {}
    if content_type.startswith("text/") or content_type == "application/sdp":
        return raw.decode("utf-8", "replace"), {}
    return raw, {}


async def _parse_multipart(raw: bytes, headers: Mapping[str, str]) -> tuple[Any, dict[str, list[UploadedFile]]]:
    from starlette.datastructures import Headers, UploadFile

    async def stream() -> Any:
        yield raw

    parser = MultiPartParser(Headers(headers=dict(headers)), stream(), max_files=1000, max_fields=1000)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise APIError(400, f"Could not parse multipart form data: {exc.message}") from None
    fields: list[tuple[str, Any]] = []
    files: dict[str, list[UploadedFile]] = {}
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                name = key[:-2] if key.endswith("[]") else key
                files.setdefault(name, []).append(
                    UploadedFile(value.filename or "", value.content_type or "application/octet-stream", data)
                )
            else:
                fields.append((key, value))
    finally:
        await form.close()
    return nest(fields), files
