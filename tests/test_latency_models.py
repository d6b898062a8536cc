"""Latency per model (``latency_models``) and at runtime (``PUT /_fakeai/latency``), timed on a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.app import FakeAI, create_app
from fakeai.clock import FakeClock
from fakeai.errors import ConfigError
from fakeai.simulators.latency import Distribution, LatencySimulator
from fakeai.testing import async_client
from tests.test_cli import settings_for

MESSAGES = [{"role": "user", "content": "The quick brown fox jumps over the lazy dog"}]
ELEVEN = ["--output-length", "11:0:11:11"]  # 11 tokens: TTFT + 10 x ITL


async def seconds(app: FakeAI, clock: FakeClock, model: str = "gpt-4o") -> float:
    """How long one non-streamed 11-token answer took on the fake clock."""
    before = clock.elapsed
    reply = await async_client(app).chat.completions.create(
        model=model, messages=MESSAGES, extra_body={"ignore_eos": True}
    )
    assert reply.usage.completion_tokens == 11
    return clock.elapsed - before


async def admin(app: FakeAI, method: str, **kwargs: Any) -> httpx2.Response:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        return await http.request(method, "/_fakeai/latency", **kwargs)


async def test_latency_models_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "fakeai.yaml"
    config.write_text('latency_models:\n  "gpt-4o-mini*": {ttft: "20", itl: "1"}\n  "gpt-4.1*": {ttft: "900"}\n')
    clock = FakeClock()
    app = create_app(settings_for(["--config", str(config), "--ttft", "200", "--itl", "10", *ELEVEN]), clock=clock)
    assert await seconds(app, clock, "gpt-4o-mini-2024-07-18") == pytest.approx(0.02 + 10 * 0.001)
    assert await seconds(app, clock, "gpt-4.1-nano") == pytest.approx(0.9 + 10 * 0.01)  # itl from --itl
    assert await seconds(app, clock, "gpt-4o") == pytest.approx(0.2 + 10 * 0.01)  # no glob: the defaults


async def test_latency_models_from_the_environment_as_json() -> None:
    clock = FakeClock()
    environ = {"FAKEAI_LATENCY_MODELS": '{"gpt-4o": {"ttft": "100", "itl": "5"}}'}
    app = create_app(settings_for(ELEVEN, environ), clock=clock)
    assert await seconds(app, clock) == pytest.approx(0.1 + 10 * 0.005)
    assert await seconds(app, clock, "gpt-4.1") == 0.0


def test_bad_latency_models_fail_at_startup() -> None:
    with pytest.raises(ConfigError, match=r"latency_models\['gpt-4o'\]"):
        settings_for([], {"FAKEAI_LATENCY_MODELS": '{"gpt-4o": {"ttfb": "100"}}'})
    with pytest.raises(ConfigError, match=r"latency_models\['gpt-4o'\]\.itl: expected MS\[:PCT\]"):
        create_app(settings_for([], {"FAKEAI_LATENCY_MODELS": '{"gpt-4o": {"itl": "fast"}}'}))
    with pytest.raises(ConfigError, match="must be a JSON object"):
        settings_for([], {"FAKEAI_LATENCY_MODELS": "{not json"})


async def test_put_latency_changes_the_next_request() -> None:
    clock = FakeClock()
    app = create_app(settings_for(["--ttft", "200", "--itl", "10", *ELEVEN]), clock=clock)
    assert await seconds(app, clock) == pytest.approx(0.2 + 10 * 0.01)
    changed = await admin(app, "PUT", json={"ttft": "50", "itl": "2"})
    assert changed.status_code == 200
    assert changed.json()["ttft"] == "50" and changed.json()["itl"] == "2"
    assert await seconds(app, clock) == pytest.approx(0.05 + 10 * 0.002)


async def test_put_latency_for_one_model_glob() -> None:
    clock = FakeClock()
    app = create_app(settings_for(["--ttft", "200", "--itl", "10", *ELEVEN]), clock=clock)
    assert (await admin(app, "PUT", json={"model": "gpt-4o-mini*", "ttft": "30"})).status_code == 200
    assert await seconds(app, clock, "gpt-4o-mini") == pytest.approx(0.03 + 10 * 0.01)  # itl: the default's
    assert await seconds(app, clock, "gpt-4o") == pytest.approx(0.2 + 10 * 0.01)
    shown = (await admin(app, "GET")).json()
    assert shown["models"] == {"gpt-4o-mini*": {"ttft": "30", "itl": "10"}}
    assert (shown["ttft"], shown["itl"]) == ("200", "10")


async def test_invalid_put_latency_is_a_400_and_changes_nothing() -> None:
    clock = FakeClock()
    app = create_app(settings_for(["--ttft", "200", *ELEVEN]), clock=clock)
    bad = await admin(app, "PUT", json={"ttft": "soon", "itl": "5"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_latency"
    assert (await admin(app, "PUT", json={"latency": "5"})).status_code == 400  # unknown field
    assert (await admin(app, "GET")).json()["itl"] == "0"
    assert await seconds(app, clock) == pytest.approx(0.2)


async def test_latency_endpoint_without_the_latency_simulator_is_a_409() -> None:
    app = create_app(settings_for(["--simulator", "kv_cache"]))
    answer = await admin(app, "GET")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "simulator_not_running"


finite_ms = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(database=None, max_examples=200)
@given(mean=finite_ms, spread=finite_ms)
def test_distribution_text_round_trips(mean: float, spread: float) -> None:
    distribution = Distribution(mean, spread)
    assert Distribution.parse(distribution.text) == distribution


@settings(database=None, max_examples=100)
@given(
    globs=st.lists(st.sampled_from(["gpt-4o*", "gpt-4o-mini*", "gpt-4.1*", "*", "gpt-4o"]), unique=True, max_size=4),
    model=st.sampled_from(["gpt-4o", "gpt-4o-mini", "gpt-4.1-nano", "o3"]),
)
def test_the_first_matching_glob_wins(globs: list[str], model: str) -> None:
    import fnmatch

    simulator = LatencySimulator(
        Distribution(1), Distribution(1), models={g: {"ttft": str(i + 10)} for i, g in enumerate(globs)}
    )
    first = next((i for i, g in enumerate(globs) if fnmatch.fnmatchcase(model, g)), None)
    expected = Distribution(1) if first is None else Distribution(first + 10)
    assert simulator.profile(model).ttft == expected
    assert simulator.profile(model).ttft == expected  # cached lookups agree
