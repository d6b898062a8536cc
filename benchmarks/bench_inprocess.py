"""Where the time of one request goes: the ASGI app called directly (no server, no sockets).

    python benchmarks/bench_inprocess.py [--requests 2000] [--json] [--stages [--stream]]

Prints µs per non-streamed chat request with a 100-token answer (``max_tokens: 100`` + ``ignore_eos``, checked
on the first request) for the default app and with parts switched off, so the cost of simulators, event
listeners (journal, metrics, store) and request validation can be read as differences. Uses only the stable
entry points ``fakeai.app.create_app`` and ``fakeai.config.Settings`` (``benchmarks/compare`` runs it against
older checkouts); the "no listeners" row is skipped where the app has no ``events._listeners``. ``--stages``
times each pipeline stage and each event listener of the default app instead (this checkout only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import orjson

from fakeai.app import create_app
from fakeai.config import Settings

TOKENS = 100
BODY = orjson.dumps(
    {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Tell me about the harbour."}],
        "max_tokens": TOKENS,
        "ignore_eos": True,
    }
)
SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "POST",
    "path": "/v1/chat/completions",
    "raw_path": b"/v1/chat/completions",
    "query_string": b"",
    "headers": [
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer sk-bench"),
        (b"content-length", str(len(BODY)).encode()),
    ],
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


async def _check(app: Any) -> None:
    """One request, its answer read: a 200 with ``TOKENS`` completion tokens."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(dict(SCOPE), _receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    tokens = orjson.loads(body).get("usage", {}).get("completion_tokens") if status == 200 else None
    if tokens != TOKENS:
        raise RuntimeError(f"status {status}, completion_tokens {tokens} (want {TOKENS}): {body[:300]!r}")


def per_request(app: Any, n: int) -> float:
    async def run(count: int) -> None:
        for _ in range(count):
            await app(dict(SCOPE), _receive, _send)

    asyncio.run(_check(app))
    asyncio.run(run(max(1, n // 5)))  # warm-up
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        asyncio.run(run(n))
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


def _without_listeners(app: Any) -> Any:
    listeners = getattr(getattr(app, "events", None), "_listeners", None)
    if not isinstance(listeners, dict):
        return None
    listeners.clear()
    return app


def stages(requests: int, stream: bool) -> dict[str, float]:
    """µs per request in each pipeline stage and each event listener of the default app: the stages' methods and
    the listeners wrapped in a timer (the wrappers cost ~1 µs each; "total" is measured with them)."""
    from fakeai import pipeline as pipeline_module
    from fakeai.gctune import freeze

    body = orjson.dumps({**orjson.loads(BODY), "stream": stream})
    scope = {**SCOPE, "headers": [*SCOPE["headers"][:2], (b"content-length", str(len(body)).encode())]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    app = create_app()
    pipe, spent = app.pipeline, dict[str, float]()

    def timed(name: str, function: Any, is_async: bool) -> Any:
        spent[name] = 0.0
        if is_async:

            async def wrapper(*args: Any) -> Any:
                started = time.perf_counter()
                result = await function(*args)
                spent[name] += time.perf_counter() - started
                return result

            return wrapper

        def plain(*args: Any) -> Any:
            started = time.perf_counter()
            result = function(*args)
            spent[name] += time.perf_counter() - started
            return result

        return plain

    for name in ("parse", "produce", "settle"):
        setattr(pipe, name, timed(f"stage {name}", getattr(pipe, name), True))
    for name in ("admit", "match", "vendor_shape", "finish"):
        setattr(pipe, name, timed(f"stage {name}", getattr(pipe, name), False))
    pipeline_module.pack_frames = timed("stage pack_frames", pipeline_module.pack_frames, False)  # type: ignore[attr-defined]
    for kind, listeners in app.events._listeners.items():
        listeners[:] = [timed(f"listener {kind.__name__} {f.__qualname__}", f, False) for f in listeners]

    async def run(count: int) -> None:
        for _ in range(count):
            await app(dict(scope), receive, _send)
        app.events.flush()

    asyncio.run(run(300))
    freeze()
    spent.update({name: 0.0 for name in spent})
    started = time.perf_counter()
    asyncio.run(run(requests))
    total = (time.perf_counter() - started) / requests * 1e6
    return {"total": total, **{name: value / requests * 1e6 for name, value in spent.items() if value}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000, help="requests per timed run (best of 3)")
    parser.add_argument("--json", action="store_true", help="also print the rows as one JSON line")
    parser.add_argument("--stages", action="store_true", help="µs per pipeline stage and listener (default app)")
    parser.add_argument("--stream", action="store_true", help="with --stages: a streamed request")
    args = parser.parse_args()
    if args.stages:
        found = stages(args.requests, args.stream)
        print(f"{'streamed' if args.stream else 'non-streamed'} chat completion, {TOKENS}-token answer, in-process")
        for name, value in found.items():
            print(f"{name:60} {value:7.1f} µs/request")
        if args.json:
            print(json.dumps(found))
        return
    rows = [
        ("default", create_app()),
        ("no simulators", create_app(Settings(simulators=()))),
        ("no simulators, no listeners", _without_listeners(create_app(Settings(simulators=())))),
        ("... and validation off", _without_listeners(create_app(Settings(simulators=(), validation="off")))),
    ]
    results: dict[str, float] = {}
    print(f"non-streamed chat completion, {TOKENS}-token answer, in-process")
    for label, app in rows:
        if app is None:
            print(f"{label:32} (skipped: no events._listeners)")
            continue
        results[label] = per_request(app, args.requests)
        print(f"{label:32} {results[label]:7.1f} µs/request")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
