"""Golden cases as data: ``tests/cases/scenario/<name>.yaml`` = scenario + requests + expected answers.

Each case's scenario is loaded at runtime (``ScenarioEngine.load``) into a dedicated app under the
case's own namespace, the requests are sent in order over ASGI, and every answer is compared as a
subset (dicts: listed keys only; lists: element by element from the start). The shipped example
scenarios get their own tests below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from fakeai import yamlload
from fakeai.app import create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings
from fakeai.testing import async_client
from tests.conftest import make_app

CASES = sorted((Path(__file__).parent / "cases" / "scenario").glob("*.yaml"))
SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def subset(actual: Any, expected: Any, where: str = "$") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}: missing {key!r} in {actual!r}"
            subset(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) >= len(expected), f"{where}: {actual!r} vs {expected!r}"
        for index, value in enumerate(expected):
            subset(actual[index], value, f"{where}[{index}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def frames_of(text: str) -> list[Any]:
    return [
        json.loads(line[6:]) if line[6:] != "[DONE]" else "[DONE]"
        for line in text.splitlines()
        if line.startswith("data: ")
    ]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
async def test_golden_case(path: Path) -> None:
    case = yamlload.load(path.read_text(), str(path)).data
    app = make_app(seed=31337)
    assert app.scenarios is not None
    app.scenarios.load(path.stem, case["scenario"], source=str(path))
    transport = httpx2.ASGITransport(app=app)
    try:
        async with httpx2.AsyncClient(transport=transport, base_url="http://fakeai.test") as http:
            for step in case["requests"]:
                headers = {"x-fakeai-namespace": path.stem, **step.get("headers", {})}
                method = step.get("method", "POST")
                url = step.get("path", "/v1/chat/completions")
                response = await http.request(method, url, json=step.get("body"), headers=headers)
                expect = step["expect"]
                assert response.status_code == expect.get("status", 200), response.text
                subset(dict(response.headers), expect.get("headers", {}), "headers")
                if "body" in expect:
                    subset(response.json(), expect["body"])
                if "frames" in expect or "last_frames" in expect:
                    frames = frames_of(response.text)
                    subset(frames, expect.get("frames", []), "frames")
                    tail = expect.get("last_frames", [])
                    subset(frames[len(frames) - len(tail) :], tail, "last_frames")
                    if "arguments" in expect:
                        deltas = [f["choices"][0]["delta"].get("tool_calls") for f in frames[:-1] if f["choices"]]
                        text = "".join(d[0]["function"].get("arguments", "") for d in deltas if d)
                        assert text == expect["arguments"]
    finally:
        app.scenarios.remove(path.stem)
        app.scenarios.reset_state(path.stem)
    assert not app.violations, app.violations


async def _statuses(client: Any, stream: bool, n: int) -> list[str]:
    seen = []
    for i in range(n):
        try:
            if stream:
                chunks = await client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": f"q{i}"}], stream=True
                )
                got = [c async for c in chunks]
                finished = any(c.choices and c.choices[0].finish_reason for c in got)
                seen.append("ok" if finished else "cut")
            else:
                await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"q{i}"}])
                seen.append("ok")
        except openai.APIStatusError as exc:
            seen.append(str(exc.status_code))
        except openai.APIError:
            seen.append("in-band")
    return seen


async def test_flaky_example_is_mostly_fine_sometimes_fails_and_replays_identically() -> None:
    app = make_app(scenarios=[str(SCENARIOS / "flaky.yaml")], seed=5)
    assert app.scenarios is not None
    app.scenarios.reset_state()
    client = async_client(app)
    first = await _statuses(client, False, 60) + await _statuses(client, True, 60)
    app.scenarios.reset_state()
    again = await _statuses(client, False, 60) + await _statuses(client, True, 60)
    assert first == again
    assert first.count("ok") > 70
    assert {"429", "cut"} <= set(first)
    assert not app.violations


async def test_flaky_example_with_sdk_retries_always_succeeds_eventually() -> None:
    app = make_app(scenarios=[str(SCENARIOS / "flaky.yaml")], seed=6)
    client = async_client(app, max_retries=5)
    for i in range(15):
        answer = await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"r{i}"}])
        assert answer.choices[0].message.content == "Everything is fine (this time)."


async def test_slow_stream_example_delays_first_token_and_scripted_answers() -> None:
    clock = FakeClock()
    settings = Settings(validate_responses="strict", scenarios=(str(SCENARIOS / "slow-stream.yaml"),))
    app = create_app(settings, clock=clock)
    client = async_client(app)
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True
    )
    chunks = [c async for c in stream]
    assert clock.elapsed >= 0.2  # slow_first_token: 0.2 s (and maybe a stall), slept on the fake clock
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("Once upon a time")
    started = clock.monotonic()
    answer = await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert clock.monotonic() - started == pytest.approx(0.15)  # delay_ms: 150, on the fake clock
    assert answer.choices[0].message.content == "This answer took a while."
    assert not app.violations
