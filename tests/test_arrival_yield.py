"""Which apps yield once on each request's arrival (so a burst's arrivals are all recorded before any CPU work):
the ones whose answers may wait for a deadline counted from arrival. Answers due at once skip that loop turn."""

from __future__ import annotations

from pathlib import Path

import httpx2

from fakeai.app import create_app
from fakeai.config import Settings

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
