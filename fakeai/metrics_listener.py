"""``--metrics-port``: the Prometheus metrics on a port of their own, as inference servers offer them.

Scrapers (Prometheus, AIPerf's server-metrics collector, KEDA) then reach ``GET /metrics`` without going
through the API port, its API keys or its load. The listener is a second uvicorn server in the app's own
event loop (started and stopped by the app's lifespan), answering ``GET /metrics`` (and
``/_fakeai/metrics``) with the same registry as the API port's ``/metrics`` and ``GET /health`` with 200;
``HEAD`` of either too (AIPerf probes an endpoint with ``HEAD`` before scraping it, as it does dcgm-exporter's);
anything else is a 404 in OpenAI's envelope. With ``metrics_auth`` the API key is needed here too.

With ``--workers N`` every worker binds the port with ``SO_REUSEPORT``, so a scrape reaches one worker's
registry, as the API port's ``/metrics`` does.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import Receive, Scope, Send

from fakeai.errors import APIError, not_found
from fakeai.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from fakeai.app import FakeAI

__all__ = ["MetricsListener"]

log = logging.getLogger("fakeai")
METRICS_PATHS = frozenset({"/metrics", "/_fakeai/metrics"})
READ_METHODS = frozenset({"GET", "HEAD"})  # uvicorn sends no body for HEAD, the headers are GET's


class MetricsListener:
    """The ASGI app of the metrics port and the uvicorn server that runs it."""

    def __init__(self, app: FakeAI, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.server: Any = None
        self.task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        try:
            if path == "/health" and method in READ_METHODS:
                await _answer(send, 200, b"", "text/plain")
                return
            if path not in METRICS_PATHS or method not in READ_METHODS:
                raise not_found(method, path)
            if self.app.settings.metrics_auth:
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
                self.app.pipeline.authorize(headers)
            await _answer(send, 200, self.app.metrics.render(), CONTENT_TYPE)
        except APIError as error:
            await _answer(send, error.status, orjson.dumps(error.body()), "application/json", error.headers)

    async def start(self) -> None:
        import uvicorn

        config = uvicorn.Config(self, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # the API server handles signals
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):  # --workers N: every worker listens on the one port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]  # port 0: the one the system picked
        self.task = asyncio.get_running_loop().create_task(self.server.serve(sockets=[sock]))
        while not self.server.started and not self.task.done():
            await asyncio.sleep(0.01)
        if self.task.done():
            self.task.result()  # a failed start raises here
        log.info("fakeai metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self.server is None or self.task is None:
            return
        self.server.should_exit = True
        await self.task


async def _answer(
    send: Send, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> None:
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
