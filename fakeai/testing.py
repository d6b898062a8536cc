"""Helpers to run fakeai in-process: an ASGI-transport openai client, or a real socket server.

app = create_app(Settings(validate_responses="strict"))
client = async_client(app)                   # openai.AsyncOpenAI over ASGI, no socket
with serve(app) as server:                   # uvicorn on 127.0.0.1:<ephemeral> in a thread
    sync = openai.OpenAI(base_url=server.base_url + "/v1", api_key="sk-test")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fakeai.app import FakeAI


def async_client(
    app: FakeAI,
    *,
    api_key: str = "sk-test",
    headers: Mapping[str, str] | None = None,
    max_retries: int = 0,
    base_path: str = "/v1",
) -> Any:
    """An ``openai.AsyncOpenAI`` whose requests go straight into ``app`` (no network)."""
    import httpx2
    import openai

    transport = httpx2.ASGITransport(app=app)
    http_client = httpx2.AsyncClient(transport=transport, base_url="http://fakeai.test")
    return openai.AsyncOpenAI(
        api_key=api_key,
        base_url=f"http://fakeai.test{base_path}",
        http_client=http_client,
        max_retries=max_retries,
        default_headers=dict(headers or {}),
    )


@dataclass(frozen=True)
class Server:
    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(app: Any, host: str = "127.0.0.1", port: int | None = None, timeout: float = 20.0) -> Iterator[Server]:
    """Run ``app`` under uvicorn in a background thread for the duration of the block."""
    import uvicorn

    port = port or free_port(host)
    from fakeai.limits import uvicorn_options

    limits = uvicorn_options(app.settings) if isinstance(app, FakeAI) else {}
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", access_log=False, **limits)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"fakeai test server did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield Server(host, port)
    finally:
        server.should_exit = True
        thread.join(timeout)
