"""Where the time of one request goes: drive the ASGI app directly (no server, no sockets).

    python benchmarks/bench_inprocess.py

Prints µs per non-streamed chat request for the default app and with parts switched off, so the cost of
simulators, event listeners (journal, metrics, store) and request validation can be read as differences.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from fakeai.app import FakeAI, create_app
from fakeai.config import Settings

BODY = orjson.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 16})
SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "POST",
    "path": "/v1/chat/completions",
    "raw_path": b"/v1/chat/completions",
    "query_string": b"",
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
    "root_path": "",
    "scheme": "http",
    "server": ("127.0.0.1", 8000),
    "client": ("127.0.0.1", 1234),
    "http_version": "1.1",
    "asgi": {"version": "3.0"},
}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": BODY, "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


def per_request(app: FakeAI, n: int = 2000) -> float:
    async def run(count: int) -> None:
        for _ in range(count):
            await app(dict(SCOPE), _receive, _send)

    asyncio.run(run(300))
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        asyncio.run(run(n))
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


def main() -> None:
    quiet = create_app(Settings(simulators=()))
    quiet.events._listeners.clear()
    bare = create_app(Settings(simulators=(), validation="off"))
    bare.events._listeners.clear()
    rows = [
        ("default", create_app()),
        ("no simulators", create_app(Settings(simulators=()))),
        ("no simulators, no listeners", quiet),
        ("... and validation off", bare),
    ]
    for label, app in rows:
        print(f"{label:32} {per_request(app):7.1f} µs/request")


if __name__ == "__main__":
    main()
