"""The baseline: a raw ASGI app (no framework, no routing, no validation) answering a fixed chat.completion.

    uvicorn benchmarks.bare_app:app --loop uvloop --http httptools

Any request is read to its end and answered with the same body: a 100-token answer (``finish_reason``
``length``, ``usage.completion_tokens`` 100) of about the size fakeai sends for ``max_tokens: 100``, so the
ratio fakeai/bare measures fakeai's work, not a difference in bytes written.
"""

from __future__ import annotations

from typing import Any

import orjson

CONTENT = (
    "Fishing boats returned with their catch, gulls circling noisily behind them, and the harbour master "
    "waved each one into its berth. A well-designed error message tells the reader three things: what went "
    "wrong, where it happened and what to do next. A single graph of response times broken down by endpoint "
    "can save days of guessing, because the slow path is usually obvious once it is drawn. The old bridge "
    "was closed for repairs, so the morning traffic crawled along the river road while"
)
BODY = orjson.dumps(
    {
        "id": "chatcmpl-" + "a" * 29,
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": CONTENT, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "length",
            }
        ],
        "usage": {
            "prompt_tokens": 9,
            "completion_tokens": 100,
            "total_tokens": 109,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_0123456789",
    }
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
