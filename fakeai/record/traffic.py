"""``fakeai record``: a recording proxy in front of a real OpenAI-compatible server.

    fakeai record --upstream https://api.openai.com/v1 --api-key-env OPENAI_API_KEY --out recorded.yaml
    fakeai --config recorded.settings.yaml          # replay: the scenario, strict, recorded latency

Requests are forwarded with an async httpx client; answers go back to the client unchanged, chunk
by chunk as they arrive (SSE timing preserved). Each exchange is added to the scenario file at
once (atomically rewritten, so a crash keeps what was recorded) and again on shutdown. Next to
``recorded.yaml`` it writes ``recorded.settings.yaml`` (replay settings) and
``recorded.traffic.jsonl`` (scrubbed raw traffic, for ``fakeai.record.check``).
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from fakeai.record.scenario import Exchange, Scrubber, latency_settings, scenario_text, write_atomic

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "host", "content-length", "upgrade"})
KEPT_RESPONSE_HEADERS = ("retry-after", "retry-after-ms")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", required=True, metavar="URL", help="API root, e.g. https://api.openai.com/v1")
    parser.add_argument("--api-key-env", metavar="VAR", help="send this env var's key upstream (clients may use any)")
    parser.add_argument("--out", default="recorded.yaml", metavar="FILE", help="scenario file to write")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--scrub", action="append", default=[], metavar="REGEX", help="also scrub this (repeatable)")
    parser.add_argument(
        "--scrub-field", action="append", default=[], metavar="NAME", help="also scrub fields so named (repeatable)"
    )
    parser.add_argument("--spec", metavar="FILE", help="OpenAPI document to name operations by (default: embedded)")


def run(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from fakeai.errors import ConfigError

    key = os.environ.get(args.api_key_env, "") if args.api_key_env else None
    if args.api_key_env and not key:
        raise ConfigError(f"--api-key-env: environment variable {args.api_key_env} is not set")
    proxy = create_proxy(
        args.upstream, Path(args.out), api_key=key, scrub=args.scrub, spec=args.spec, scrub_fields=args.scrub_field
    )
    logging.getLogger("fakeai").warning(
        "recording %s on http://%s:%d into %s", proxy.upstream, args.host, args.port, args.out
    )
    try:
        uvicorn.run(proxy, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="on")
    finally:
        proxy.recorder.write()
    return 0


def create_proxy(
    upstream: str,
    out: Path,
    api_key: str | None = None,
    scrub: Sequence[str] = (),
    spec: str | None = None,
    scrub_fields: Sequence[str] = (),
) -> RecordingProxy:
    from fakeai.spec.load import load_document

    secrets = [key for key in (api_key,) if key]
    recorder = Recorder(out, Scrubber(scrub, secrets, scrub_fields), safe_url(upstream))
    return RecordingProxy(upstream.rstrip("/"), recorder, Router(load_document(spec)), api_key)


def safe_url(url: str) -> str:
    """The upstream without credentials or query (it goes into the file)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.hostname or "", parts.path, "", "")) + (
        f" (port {parts.port})" if parts.port else ""
    )


class Router:
    """Request path -> (operationId, templated path), from the spec's paths."""

    def __init__(self, document: dict[str, Any]) -> None:
        from fakeai.spec.operation import iter_operations

        found = []
        for op in iter_operations(document):
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(op.path))
            found.append((op.path.count("{"), op.method, re.compile(f"(?:/v1)?{pattern}/?"), op.operation_id, op.path))
        self.routes = [r[1:] for r in sorted(found, key=lambda r: r[0])]  # literal paths before templated ones

    def find(self, method: str, path: str) -> tuple[str | None, str]:
        for route_method, regex, operation, template in self.routes:
            if route_method == method and regex.fullmatch(path):
                return operation, template
        return None, ""


class Recorder:
    def __init__(self, out: Path, scrub: Scrubber, upstream: str) -> None:
        self.out = out
        self.scrub = scrub
        self.upstream = upstream
        self.exchanges: list[Exchange] = []
        self.settings_path = out.with_name(out.name.removesuffix(".yaml").removesuffix(".yml") + ".settings.yaml")
        self.traffic_path = out.with_name(out.name.removesuffix(".yaml").removesuffix(".yml") + ".traffic.jsonl")
        self.started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")

    def add(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        self.write()

    def write(self) -> None:
        description = f"recorded from {self.upstream} on {self.started} by fakeai record"
        name = self.out.name.removesuffix(".yaml").removesuffix(".yml")
        write_atomic(self.out, scenario_text(self.exchanges, self.scrub, name, description))
        settings: dict[str, Any] = {"scenarios": [str(self.out.resolve())], "replay_strict": True}
        settings.update(latency_settings(self.exchanges))
        write_atomic(self.settings_path, "".join(f"{k}: {orjson.dumps(v).decode()}\n" for k, v in settings.items()))
        lines = [orjson.dumps(self.scrub(traffic_record(ex))).decode() for ex in self.exchanges]
        write_atomic(self.traffic_path, "".join(line + "\n" for line in lines))


def traffic_record(ex: Exchange) -> dict[str, Any]:
    return {
        "method": ex.method,
        "path": ex.path,
        "operation": ex.operation,
        "status": ex.status,
        "content_type": ex.content_type,
        "request": ex.request,
        "response": ex.response,
        "events": [data for _at, data in ex.events] if ex.events else None,
    }


@dataclass
class SSEParser:
    """Splits a byte stream into SSE events' ``data``, noting when each event was complete."""

    buffer: str = ""

    def feed(self, chunk: bytes, at: float) -> list[tuple[float, str]]:
        self.buffer += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        events = []
        while "\n\n" in self.buffer:
            raw, self.buffer = self.buffer.split("\n\n", 1)
            data = [line[5:].removeprefix(" ") for line in raw.split("\n") if line.startswith("data:")]
            if data:
                events.append((at, "\n".join(data)))
        return events


class RecordingProxy:
    """ASGI app: forward to ``upstream``, stream the answer back unchanged, record the exchange."""

    def __init__(self, upstream: str, recorder: Recorder, router: Router, api_key: str | None) -> None:
        self.upstream = upstream
        self.upstream_path = urlsplit(upstream).path.rstrip("/")
        self.recorder = recorder
        self.router = router
        self.api_key = api_key
        self.client: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            self.recorder.write()
            if self.client is not None:
                await self.client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            del message
            return
        if scope["type"] == "http":
            await self.forward(scope, receive, send)

    def url(self, scope: Any) -> str:
        path: str = scope["path"]
        if self.upstream_path and path.startswith(self.upstream_path + "/"):
            path = path[len(self.upstream_path) :]
        query = scope.get("query_string", b"").decode("latin-1")
        return self.upstream + path + (f"?{query}" if query else "")

    def headers(self, scope: Any) -> list[tuple[str, str]]:
        out = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        out = [(k, v) for k, v in out if k.lower() not in HOP_BY_HOP and k.lower() != "accept-encoding"]
        if self.api_key:
            out = [(k, v) for k, v in out if k.lower() not in ("authorization", "api-key")]
            out.append(("authorization", f"Bearer {self.api_key}"))
        return [*out, ("accept-encoding", "identity")]

    async def forward(self, scope: Any, receive: Any, send: Any) -> None:
        import httpx2 as httpx

        from fakeai.errors import APIError
        from fakeai.streaming import respond_error

        if self.client is None:
            self.client = httpx.AsyncClient(timeout=httpx.Timeout(600.0, connect=30.0))
        body = await _read(receive)
        started = time.perf_counter()
        request = self.client.build_request(scope["method"], self.url(scope), content=body, headers=self.headers(scope))
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            await respond_error(send, APIError(502, f"fakeai record: upstream unreachable: {exc}", type="server_error"))
            return
        content_type = response.headers.get("content-type", "")
        parser = SSEParser() if content_type.startswith("text/event-stream") else None
        events: list[tuple[float, str]] = []
        chunks: list[bytes] = []
        try:
            kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP]
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in kept]
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            async for chunk in response.aiter_raw():
                if parser is not None:
                    events += parser.feed(chunk, time.perf_counter() - started)
                else:
                    chunks.append(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()
        operation, template = self.router.find(scope["method"], scope["path"])
        self.recorder.add(
            Exchange(
                method=scope["method"],
                path=scope["path"],
                operation=operation,
                template=template,
                request=_json(body),
                status=response.status_code,
                content_type=content_type,
                response=_json(b"".join(chunks)) if parser is None and "json" in content_type else None,
                events=tuple(events),
                total=time.perf_counter() - started,
                headers={k: response.headers[k] for k in KEPT_RESPONSE_HEADERS if k in response.headers} or None,
            )
        )


async def _read(receive: Any) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


def _json(data: bytes) -> Any:
    try:
        return orjson.loads(data) if data.strip() else None
    except orjson.JSONDecodeError:
        return None
