"""Scenario engine through the official openai SDK: retries, stream faults, state, tools, Prefer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from fakeai.app import FakeAI
from fakeai.testing import async_client, serve
from tests.conftest import make_app, scenario_app

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
USER = [{"role": "user", "content": "hello"}]


@pytest.fixture
def sapp() -> Iterator[FakeAI]:
    """A dedicated app (own seed) whose runtime-loaded scenarios are removed after each test."""
    yield from scenario_app(seed=4242)


def engine(app: FakeAI) -> Any:
    assert app.scenarios is not None
    return app.scenarios


RETRY = """
rules:
  - name: flaky
    match: {operation: createChatCompletion}
    sequence:
      - error: {status: 429, headers: {retry-after: "0.1"}}
      - error: {status: 503, headers: {retry-after: "0.1"}}
      - content: third time lucky
"""


async def test_sdk_retries_429_and_503_then_succeeds(sapp: FakeAI) -> None:
    engine(sapp).load("retry", RETRY)
    client = async_client(sapp, max_retries=2)
    answer = await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert answer.choices[0].message.content == "third time lucky"
    assert engine(sapp).summary()[0]["rules"] == [{"name": "flaky", "hits": 3}]


async def test_without_retries_the_sdk_surfaces_the_429_with_retry_after(sapp: FakeAI) -> None:
    engine(sapp).load("retry", RETRY)
    with pytest.raises(openai.RateLimitError) as caught:
        await async_client(sapp).chat.completions.create(model="gpt-4o", messages=USER)
    assert caught.value.response.headers["retry-after-ms"] == "100"
    assert caught.value.code == "rate_limit_exceeded"


STREAM_FAULT = """
rules:
  - name: story
    match: {operation: createChatCompletion}
    respond: {content: "one two three four five six seven eight"}
    chaos:
      - {probability: 1, %s}
"""


async def _stream(app: FakeAI) -> list[tuple[str | None, str | None]]:
    stream = await async_client(app).chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    return [(c.choices[0].delta.content, c.choices[0].finish_reason) async for c in stream]


async def test_cut_stream_ends_early_without_finish_reason(sapp: FakeAI) -> None:
    engine(sapp).load("cut", STREAM_FAULT % "fault: cut, after: 3")
    assert await _stream(sapp) == [("", None), ("one", None), (" two", None)]


async def test_cut_stream_can_keep_finish_reason(sapp: FakeAI) -> None:
    engine(sapp).load("cut", STREAM_FAULT % "fault: cut, after: 2, finish_reason: true, done: true")
    assert (await _stream(sapp))[-1] == (None, "stop")


async def test_in_band_error_frame_raises_api_error(sapp: FakeAI) -> None:
    engine(sapp).load("err", STREAM_FAULT % "fault: error_frame, after: 2")
    with pytest.raises(openai.APIError, match="server had an error"):
        await _stream(sapp)


async def test_malformed_chunk_fails_json_decoding(sapp: FakeAI) -> None:
    engine(sapp).load("bad", STREAM_FAULT % "fault: malformed, after: 2")
    with pytest.raises(json.JSONDecodeError):
        await _stream(sapp)


async def test_empty_stream_yields_nothing(sapp: FakeAI) -> None:
    engine(sapp).load("empty", STREAM_FAULT % "fault: empty")
    assert await _stream(sapp) == []


def test_connection_reset_drops_a_real_socket(sapp: FakeAI) -> None:
    engine(sapp).load("reset", STREAM_FAULT % "fault: reset, after: 2")
    with serve(sapp) as server:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="sk-test", max_retries=0)
        stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
        with pytest.raises(openai.APIConnectionError):
            list(stream)


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ body.__class__.__init__.__globals__ }}",
        "{{ uuid.__globals__ }}",
        "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{{ c }}{% endfor %}",
    ],
)
async def test_template_escapes_fail_safely(sapp: FakeAI, template: str) -> None:
    engine(sapp).load("escape", f"rules:\n  - respond: {{content: {json.dumps(template)}}}\n")
    with pytest.raises(openai.InternalServerError) as caught:
        await async_client(sapp).chat.completions.create(model="gpt-4o", messages=USER)
    message = caught.value.message
    assert "fakeai scenario template" in message
    assert "<class" not in message and "<built-in" not in message and "<function" not in message


async def test_support_conversation_keeps_parallel_conversations_apart() -> None:
    app = make_app(scenarios=[str(SCENARIOS / "support-conversation.yaml")])
    engine(app).reset_state()
    client = async_client(app)

    async def say(history: list[dict[str, str]], text: str) -> str:
        history.append({"role": "user", "content": text})
        answer = await client.chat.completions.create(model="gpt-4o", messages=history)  # type: ignore[arg-type]
        content = answer.choices[0].message.content or ""
        history.append({"role": "assistant", "content": content})
        return content

    alice: list[dict[str, str]] = [{"role": "system", "content": "support"}]
    bob: list[dict[str, str]] = [{"role": "system", "content": "support"}]
    assert "order number" in await say(alice, "hi, I am Alice")
    assert "order number" in await say(bob, "hi, I am Bob")
    assert "Sorry" in await say(alice, "it's the blue one")
    assert await say(bob, "order 12345 please") == "Order 12345 ships tomorrow. Anything else?"
    assert await say(alice, "oh, 98765") == "Order 98765 ships tomorrow. Anything else?"
    assert await say(bob, "no thanks") == "Glad I could help. Goodbye!"
    assert "closed" in await say(bob, "one more thing")
    assert not app.violations


async def test_tool_calling_loop() -> None:
    app = make_app(scenarios=[str(SCENARIOS / "tool-calling.yaml")])
    client = async_client(app)
    tools: Any = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
        for n in ("get_weather", "get_local_time", "book_table")
    ]
    messages: list[Any] = [{"role": "user", "content": "Book dinner in Paris if it is warm"}]
    first = await client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
    calls = first.choices[0].message.tool_calls or []
    assert first.choices[0].finish_reason == "tool_calls"
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris", "unit": "celsius"}),
        ("get_local_time", {"city": "Paris"}),
    ]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages += [{"role": "tool", "tool_call_id": c.id, "content": "18C"} for c in calls]
    second = await client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
    booking = (second.choices[0].message.tool_calls or [])[0]
    assert booking.function.name == "book_table"
    messages.append(second.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": booking.id, "content": "confirmed"})
    third = await client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
    assert (
        third.choices[0].message.content == "Done: your table in Book dinner in Paris if it is warm is booked. Enjoy!"
    )
    assert engine(app).expectations()[0]["sends_tool_result"] == {"call": "get_weather", "before_turn": 2}
    assert not app.violations


async def test_structured_output_and_refusal() -> None:
    app = make_app(scenarios=[str(SCENARIOS / "structured-output.yaml")])
    client = async_client(app)
    schema: Any = {"type": "json_schema", "json_schema": {"name": "calendar_event", "schema": {"type": "object"}}}
    answer = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Alice and Bob go to the fair"}], response_format=schema
    )
    event = json.loads(answer.choices[0].message.content or "")
    assert event["participants"] == ["Alice", "Bob"] and int(event["source_tokens"]) > 3
    refused = await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "PASSWORD?"}])
    assert refused.choices[0].message.refusal == "I can't help with that."
    assert refused.choices[0].message.content is None
    assert not app.violations


async def test_rate_limited_example_headers_then_429() -> None:
    app = make_app(scenarios=[str(SCENARIOS / "rate-limited.yaml")])
    engine(app).reset_state()
    client = async_client(app, api_key="sk-rate-test")
    remaining = []
    for _ in range(3):
        raw = await client.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER)
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        assert raw.headers["x-ratelimit-limit-tokens"] == "2000"
        remaining.append(int(raw.headers["x-ratelimit-remaining-requests"]))
    assert remaining == [2, 1, 0]
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert caught.value.code == "rate_limit_exceeded"
    assert 0 < int(caught.value.response.headers["retry-after"]) <= 20
    other = async_client(app, api_key="sk-another-key")  # per api_key buckets
    assert (await other.chat.completions.create(model="gpt-4o", messages=USER)).choices
    assert not app.violations


async def test_prefer_header(sapp: FakeAI) -> None:
    engine(sapp).load("p", "rules:\n  - name: hidden\n    match: {model: never-*}\n    respond: {content: forced}\n")
    client = async_client(sapp)
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="gpt-4o", messages=USER, extra_headers={"Prefer": "code=429"})
    forced = await client.chat.completions.create(
        model="gpt-4o", messages=USER, extra_headers={"Prefer": "scenario=hidden"}
    )
    assert forced.choices[0].message.content == "forced"
    with pytest.raises(openai.BadRequestError, match="Invalid Prefer header"):
        await client.chat.completions.create(model="gpt-4o", messages=USER, extra_headers={"Prefer": "code=abc"})
    with pytest.raises(openai.BadRequestError, match="no scenario rule named"):
        await client.chat.completions.create(model="gpt-4o", messages=USER, extra_headers={"Prefer": "scenario=nope"})


RESPONSES = """
rules:
  - name: capital
    match: {operation: createResponse, last_user_message: {regex: "capital of (?P<country>\\\\w+)"}}
    sequence:
      - content: "The capital of {{ match.country }} is on the map."
      - content: "Second turn of the same conversation."
"""


async def test_responses_api_scripts_follow_previous_response_id(sapp: FakeAI) -> None:
    engine(sapp).load("responses", RESPONSES)
    client = async_client(sapp)
    first = await client.responses.create(model="gpt-4o", input="What is the capital of France?")
    assert first.output_text == "The capital of France is on the map."
    second = await client.responses.create(
        model="gpt-4o", input="capital of France, again?", previous_response_id=first.id
    )
    assert second.output_text == "Second turn of the same conversation."
    stream = await client.responses.create(model="gpt-4o", input="capital of Spain", stream=True)
    deltas = [event.delta async for event in stream if event.type == "response.output_text.delta"]
    assert "".join(deltas) == "The capital of Spain is on the map."
