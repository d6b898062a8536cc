"""Which apps yield once on each request's arrival (so a burst's arrivals are all recorded before any CPU work):
the ones whose answers may wait for a deadline counted from arrival. Answers due at once skip that loop turn."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx2
import pytest

from fakeai.app import FakeAI, create_app
from fakeai.config import Settings
from fakeai.context import Frame

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "support-conversation.yaml"


def test_untimed_app_does_not_yield_and_timed_ones_do() -> None:
    assert create_app(Settings()).asgi.timed() is False
    assert create_app(Settings(ttft="20")).asgi.timed() is True
    assert create_app(Settings(itl="5")).asgi.timed() is True
    assert create_app(Settings(latency_models={"gpt-4o*": {"ttft": "30"}})).asgi.timed() is True
    assert create_app(Settings(scenarios=(str(SCENARIO),))).asgi.timed() is True
    assert create_app(Settings(simulators=("latency", "kv_cache", "engine"))).asgi.timed() is True
    assert create_app(Settings(simulators=("kv_cache", "gpu"))).asgi.timed() is False


async def test_latency_set_at_runtime_makes_arrivals_yield() -> None:
    app = create_app(Settings())
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        assert app.asgi.timed() is False
        answer = await http.put("/_fakeai/latency", json={"ttft": "15"})
        assert answer.status_code == 200, answer.text
        assert app.asgi.timed() is True
        answer = await http.put("/_fakeai/latency", json={"ttft": "0"})
        assert answer.status_code == 200, answer.text
        assert app.asgi.timed() is False


async def _order_of_produce_and_headers(app: FakeAI, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The order of a callback queued when the stream's frames are packed and its response headers going out."""
    import asyncio

    import orjson

    from fakeai import pipeline

    order: list[str] = []
    pack = pipeline.pack_frames

    def packing(frames: Sequence[Frame]) -> list[Frame]:
        asyncio.get_running_loop().call_soon(order.append, "other callbacks")
        return pack(frames)

    monkeypatch.setattr(pipeline, "pack_frames", packing)
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    path = "/v1/chat/completions"
    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"content-type", b"application/json")], "http_version": "1.1"}  # fmt: skip

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            order.append("headers")

    await app(scope, receive, send)
    return order


async def test_a_stream_that_waits_for_its_first_token_lets_other_callbacks_run_before_it_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A herd of streams arriving together: each one, once produced, yields before its headers, so frames other
    streams have due go out between the admissions; a stream due at once does not wait for that turn."""
    timed = await _order_of_produce_and_headers(create_app(Settings(ttft="30", itl="1")), monkeypatch)
    assert timed == ["other callbacks", "headers"]
    untimed = await _order_of_produce_and_headers(create_app(Settings()), monkeypatch)
    assert untimed == ["headers"]  # the whole answer went out before the loop took another turn
