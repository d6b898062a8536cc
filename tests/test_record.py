"""fakeai record end to end: a second fakeai is the upstream; record through the proxy, replay, compare."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from fakeai.app import FakeAI, create_app
from fakeai.config import Settings
from fakeai.record.scenario import SCRUBBED
from fakeai.record.traffic import RecordingProxy, create_proxy
from fakeai.scenario.model import Scenario
from fakeai.testing import serve
from tests.test_cli import call, settings_for

UPSTREAM_RULES = """
rules:
  - name: weather-call
    match: {operation: createChatCompletion, tool: get_weather, tool_result: false}
    respond:
      tool_calls: [{name: get_weather, arguments: {city: Paris}}]
  - name: weather-answer
    match: {operation: createChatCompletion, tool_result: true}
    respond: {content: "It is sunny in Paris. {{ '{{' }}not a template}}"}
  - name: story
    match: {operation: createChatCompletion, last_user_message: {contains: story}}
    respond: {content: "Once upon a time there was a key sk-live-abcdefghijklmnop and a proxy."}
"""
TOOLS: list[Any] = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
SECRET = "sk-upstream-secret-0123456789"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    rules = tmp_path_factory.mktemp("upstream") / "upstream.yaml"
    rules.write_text(UPSTREAM_RULES)
    app = create_app(Settings(scenarios=(str(rules),), api_keys=(SECRET,), itl="2", tokens_per_chunk=2))
    with serve(app) as server:
        yield server.base_url + "/v1"


def conversation(client: openai.OpenAI) -> list[Any]:
    """What the SDK sees: a streamed story, a tool-call round trip, a model list."""
    seen: list[Any] = []
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "tell me a story"}], stream=True
    )
    seen.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
    messages: list[Any] = [{"role": "user", "content": "weather in Paris?"}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    seen.append((call.id, call.function.name, call.function.arguments, first.choices[0].finish_reason))
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
    seen.append(second.choices[0].message.content)
    seen.append(client.models.retrieve("gpt-4o").id)
    return seen


@pytest.fixture(scope="module")
def recorded(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any], RecordingProxy]:
    out = tmp_path_factory.mktemp("record") / "recorded.yaml"
    proxy = create_proxy(upstream, out, api_key=SECRET, scrub=[r"sunny in \w+"])
    with (
        serve(proxy) as server,
        openai.OpenAI(base_url=server.base_url + "/v1", api_key="anything", max_retries=0) as client,
    ):
        seen = conversation(client)
    return out, seen, proxy


def test_replay_gives_the_sdk_what_it_saw(recorded: tuple[Path, list[Any], RecordingProxy]) -> None:
    out, seen, _proxy = recorded
    assert seen[0].startswith("Once upon a time")
    assert seen[2] == "It is sunny in Paris. {{not a template}}"
    app = create_app(Settings(scenarios=(str(out),), replay_strict=True, validate_responses="strict"))
    with serve(app) as server, openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0) as client:
        replayed = conversation(client)
    expected = [
        seen[0].replace("sk-live-abcdefghijklmnop", SCRUBBED),
        seen[1],
        f"It is {SCRUBBED}. {{{{not a template}}}}",
        seen[3],
    ]  # default and --scrub patterns apply to recorded answers
    assert replayed == expected
    assert not app.violations


def test_file_is_editable_and_scrubbed(recorded: tuple[Path, list[Any], RecordingProxy]) -> None:
    out, _seen, proxy = recorded
    text = out.read_text()
    assert SECRET not in text and "sk-live" not in text
    assert "# recorded: POST /v1/chat/completions -> 200" in text and "ttft" in text
    scenario = Scenario.from_yaml(out)
    assert [r.match.operations for r in sorted(scenario.rules, key=lambda r: r.index)] == [
        frozenset({"createChatCompletion"})
    ] * 3 + [frozenset({"retrieveModel"})]
    settings = (out.parent / "recorded.settings.yaml").read_text()
    assert "replay_strict: true" in settings and "itl:" in settings
    assert len(proxy.recorder.exchanges) == 4
    assert SECRET not in (out.parent / "recorded.traffic.jsonl").read_text()


def test_stream_is_forwarded_as_it_arrives(upstream: str, tmp_path: Path) -> None:
    import time

    proxy = create_proxy(upstream, tmp_path / "slow.yaml", api_key=SECRET)
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "a story"}],
        "stream": True,
        "max_completion_tokens": 40,
    }
    with serve(proxy) as server, openai.OpenAI(base_url=server.base_url + "/v1", api_key="k", max_retries=0) as c:
        started = time.perf_counter()
        arrivals = [time.perf_counter() - started for _chunk in c.chat.completions.create(**body)]
    assert arrivals[-1] - arrivals[1] > 0.02  # chunks spread out (upstream itl 2 ms/token), not one burst
    ttft = proxy.recorder.exchanges[0]
    assert len(ttft.events) > 3 and ttft.events[-1][0] > ttft.events[0][0]


async def test_replay_strict_flag(recorded: tuple[Path, list[Any], RecordingProxy]) -> None:
    out, _seen, _proxy = recorded
    strict: FakeAI = create_app(settings_for(["--scenario", str(out), "--replay-strict"]))
    lenient: FakeAI = create_app(settings_for(["--scenario", str(out)]))
    ask = {"model": "gpt-4o", "messages": [{"role": "user", "content": "never recorded"}]}
    answer = await call(strict, "POST", "/v1/chat/completions", json=ask)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "no_recorded_interaction"
    assert "No recorded interaction matches POST /v1/chat/completions" in answer.json()["error"]["message"]
    assert (await call(lenient, "POST", "/v1/chat/completions", json=ask)).status_code == 200


def test_traffic_is_checked_against_the_spec(recorded: tuple[Path, list[Any], RecordingProxy], tmp_path: Path) -> None:
    from fakeai.record.check import check_traffic

    out, _seen, _proxy = recorded
    assert check_traffic(out) == []  # fakeai upstream answers within the spec
    traffic = (out.parent / "recorded.traffic.jsonl").read_text().splitlines()
    broken = tmp_path / "broken.traffic.jsonl"
    broken.write_text(traffic[-1].replace('"object":"model"', '"object":42') + "\n")
    problems = check_traffic(broken)
    assert len(problems) == 1 and "GET /v1/models/gpt-4o (retrieveModel) response body" in problems[0]


def test_check_command_reports_traffic_drift(
    recorded: tuple[Path, list[Any], RecordingProxy], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fakeai.cli import main

    out, _seen, _proxy = recorded
    traffic = (out.parent / "recorded.traffic.jsonl").read_text().splitlines()
    assert main(["check", "--traffic", str(out.parent / "recorded.traffic.jsonl")]) == 0
    broken = tmp_path / "broken.traffic.jsonl"
    broken.write_text(traffic[-1].replace('"object":"model"', '"object":42') + "\n")
    assert main(["check", "--traffic", str(broken)]) == 1
    assert "retrieveModel" in capsys.readouterr().err


def test_record_scrub_field_flag_reaches_the_recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from fakeai.cli import main

    served: list[RecordingProxy] = []
    monkeypatch.setattr(uvicorn, "run", lambda proxy, **_options: served.append(proxy))
    out = tmp_path / "rec.yaml"
    argv = ["record", "--upstream", "http://127.0.0.1:9", "--out", str(out), "--scrub-field", "Nick_Name"]
    assert main(argv) == 0
    scrub = served[0].recorder.scrub
    assert scrub({"nick_name": "bob", "city": "Paris"}) == {"nick_name": "[scrubbed]", "city": "Paris"}
