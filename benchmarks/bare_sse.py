"""The streaming baseline: a raw ASGI app (no Starlette, no routing) streaming OpenAI-like chat chunks.

    BARE_SSE_TTFT_MS=20 BARE_SSE_ITL_MS=5 uvicorn benchmarks.bare_sse:app --loop uvloop --http httptools

Any POST answers ``text/event-stream``: a role chunk, ``max_tokens`` content chunks of equal size (one token
each, default 64), a finish chunk and ``[DONE]`` - the frame sequence fakeai sends for a streamed chat
completion. Frames are scheduled at absolute deadlines from the request's arrival (TTFT, then one ITL per
token, no drift) with a plain ``asyncio.sleep(deadline - now)``, one ``send`` per frame. With zero latency
every frame is sent as fast as the server can (still one ``send`` each).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import orjson

TTFT = float(os.environ.get("BARE_SSE_TTFT_MS", "0")) / 1000
ITL = float(os.environ.get("BARE_SSE_ITL_MS", "0")) / 1000
HEAD = {
    "id": "chatcmpl-" + "a" * 29,
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "gpt-4o",
    "service_tier": "default",
    "system_fingerprint": "fp_0123456789",
}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return b"data: " + orjson.dumps({**HEAD, "choices": [choice]}) + b"\n\n"


ROLE = _chunk({"role": "assistant", "content": "", "refusal": None})
TOKEN = _chunk({"content": " lorem"})  # every content chunk the same size
FINISH = _chunk({}, "length")
DONE = b"data: [DONE]\n\n"
HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    started = time.monotonic()
    raw = b""
    while True:
        message = await receive()
        raw += message.get("body", b"")
        if not message.get("more_body"):
            break
    tokens = int(orjson.loads(raw).get("max_tokens") or 64) if raw else 64
    frames = [ROLE] + [TOKEN] * tokens + [FINISH, DONE]
    deadlines = [0.0] + [TTFT + ITL * i for i in range(tokens)] + [TTFT + ITL * (tokens - 1)] * 2
    deadlines[0] = TTFT
    await _sleep_until(started + TTFT)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    for frame, due in zip(frames, deadlines, strict=True):
        await _sleep_until(started + due)
        await send({"type": "http.response.body", "body": frame, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
