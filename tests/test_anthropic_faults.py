"""Scenarios on Anthropic's Messages API through the official ``anthropic`` SDK: rules reading its request shape
(top-level ``system``, ``tool_use`` / ``tool_result`` blocks, turns) with scripted tool calls on a stream, mid-stream
faults in Anthropic's event grammar (a reset the SDK raises on, an ``event: error`` frame, a cut that keeps the
final frames, broken JSON, a stall) and ``anthropic-ratelimit-*`` headers with the ``rate_limit_error`` 429."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import anthropic
import httpx2
import jsonschema
import orjson
import pytest

from fakeai.app import FakeAI
from fakeai.testing import serve
from tests.conftest import scenario_app

MODEL = "claude-sonnet-4-5"
HI: list[Any] = [{"role": "user", "content": "Tell me about the sea, please."}]
FAULT = "chaos:\n  - {name: broken, probability: 1, scope: {operation: messages_post, stream: true}, %s}\n"


@pytest.fixture
def app() -> Iterator[FakeAI]:
    yield from scenario_app(spec="anthropic")


def load(app: FakeAI, name: str, text: str) -> None:
    assert app.scenarios is not None
    app.scenarios.load(name, text)


def sdk(app: FakeAI, key: str = "x") -> anthropic.AsyncAnthropic:
    http_client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return anthropic.AsyncAnthropic(base_url="http://fakeai.test", api_key=key, http_client=http_client, max_retries=0)


async def frames(app: FakeAI) -> list[tuple[str, str]]:
    body = {"model": MODEL, "max_tokens": 60, "messages": HI, "stream": True}
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://fakeai.test") as client:
        answer = await client.post("/v1/messages", json=body)
    found = []
    for chunk in answer.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines())
        found.append((lines["event"], lines["data"]))
    return found


def error_schema(app: FakeAI) -> Any:
    return {**app.document["components"]["schemas"]["ErrorResponse"], "components": app.document["components"]}


async def test_an_error_frame_is_anthropics_error_event_and_the_sdk_raises(app: FakeAI) -> None:
    load(app, "error", FAULT % "fault: error_frame, after: 4")
    with pytest.raises(anthropic.APIStatusError) as raised:
        async with sdk(app).messages.stream(model=MODEL, max_tokens=60, messages=HI) as stream:
            [piece async for piece in stream.text_stream]
    assert raised.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
                                 "request_id": None}  # fmt: skip
    found = await frames(app)
    assert [name for name, _ in found] == [
        "message_start", "content_block_start", "ping", "content_block_delta", "error",
    ]  # fmt: skip
    jsonschema.validate(orjson.loads(found[-1][1]), error_schema(app))


async def test_a_cut_keeps_message_delta_and_message_stop_when_asked(app: FakeAI) -> None:
    load(app, "cut", FAULT % "fault: cut, after: 4, finish_reason: true, done: true")
    async with sdk(app).messages.stream(model=MODEL, max_tokens=60, messages=HI) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0 and text == final.content[0].text
    assert [name for name, _ in await frames(app)][-3:] == ["content_block_delta", "message_delta", "message_stop"]
    load(app, "cut", FAULT % "fault: cut, after: 4")
    async with sdk(app).messages.stream(model=MODEL, max_tokens=60, messages=HI) as stream:
        assert (await stream.get_final_message()).stop_reason is None  # the stream just ends


async def test_a_malformed_frame_is_a_broken_content_block_delta(app: FakeAI) -> None:
    load(app, "bad", FAULT % "fault: malformed, after: 4")
    with pytest.raises(json.JSONDecodeError):
        async with sdk(app).messages.stream(model=MODEL, max_tokens=60, messages=HI) as stream:
            [piece async for piece in stream.text_stream]
    assert (await frames(app))[4][0] == "content_block_delta"


async def test_a_stall_pauses_the_stream_and_it_completes(app: FakeAI) -> None:
    load(app, "stall", FAULT % "fault: stall, after: 4, seconds: 0.3")
    started = time.monotonic()
    async with sdk(app).messages.stream(model=MODEL, max_tokens=20, messages=HI) as stream:
        final = await stream.get_final_message()
    assert time.monotonic() - started >= 0.3 and final.stop_reason is not None and final.content


async def test_a_reset_drops_the_connection_and_the_sdk_raises(app: FakeAI) -> None:
    load(app, "reset", FAULT % "fault: reset, after: 0")
    with pytest.raises(anthropic.APIConnectionError):  # dropped before a byte: the request fails
        async with sdk(app).messages.stream(model=MODEL, max_tokens=60, messages=HI) as stream:
            [piece async for piece in stream.text_stream]


async def test_a_reset_mid_stream_over_a_socket_is_the_sdks_protocol_error(app: FakeAI) -> None:
    load(app, "reset", FAULT % "fault: reset, after: 4")
    with serve(app) as server:
        client = anthropic.AsyncAnthropic(base_url=server.base_url, api_key="x", max_retries=0)
        async with client.messages.stream(model=MODEL, max_tokens=60, messages=HI) as stream:
            # what the SDK raises when a real server drops a stream it began: it does not wrap body reads
            with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
                [piece async for piece in stream.text_stream]


WEATHER = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
RULES = """
rules:
  - {match: {system_prompt: {contains: support agent}}, respond: {content: Support here.}}
  - match: {tool_result: {name: get_weather}}
    respond: {content: "Sunny, says {{ match.tool_call_id }}."}
  - match: {tool: get_weather, last_user_message: {regex: "weather in (?P<city>\\\\w+)"}, turn: 1}
    respond: {tool_calls: [{name: get_weather, arguments: {city: "{{ match.city }}"}}]}
"""


async def test_rules_read_anthropics_system_and_tool_blocks_and_script_a_streamed_tool_call(app: FakeAI) -> None:
    load(app, "rules", RULES)
    client = sdk(app)
    system: Any = [{"type": "text", "text": "You are a support agent."}]
    greeted = await client.messages.create(model=MODEL, max_tokens=20, system=system, messages=HI)
    assert greeted.content[0].type == "text" and greeted.content[0].text == "Support here."
    asked: Any = [{"role": "user", "content": [{"type": "text", "text": "What is the weather in Oslo?"}]}]
    async with client.messages.stream(model=MODEL, max_tokens=100, tools=[WEATHER], messages=asked) as stream:
        called = await stream.get_final_message()
    [call] = called.content
    assert call.type == "tool_use" and call.input == {"city": "Oslo"} and called.stop_reason == "tool_use"
    result = {"type": "tool_result", "tool_use_id": call.id, "content": "21 C"}
    turns: Any = [*asked, {"role": "assistant", "content": [call.model_dump()]}, {"role": "user", "content": [result]}]
    async with client.messages.stream(model=MODEL, max_tokens=100, tools=[WEATHER], messages=turns) as stream:
        assert "".join([piece async for piece in stream.text_stream]) == f"Sunny, says {call.id}."


# ---- rate limits -----------------------------------------------------------------------------------------------

LIMITS = """
rate_limits:
  - {name: claude, requests_per_minute: 2, tokens_per_minute: 5000, scope: {operation: messages_post}}
"""


async def test_rate_limits_answer_anthropics_headers_and_rate_limit_error(app: FakeAI) -> None:
    load(app, "limits", LIMITS)
    client = sdk(app)
    answered = await client.messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=HI)
    headers = answered.headers
    assert not [name for name in headers if name.startswith("x-ratelimit")]
    assert (headers["anthropic-ratelimit-requests-limit"], headers["anthropic-ratelimit-requests-remaining"]) == (
        "2",
        "1",
    )
    spent = 5000 - int(headers["anthropic-ratelimit-tokens-remaining"])
    assert (
        headers["anthropic-ratelimit-tokens-limit"] == "5000"
        and spent == (await answered.parse()).usage.input_tokens + 10
    )
    for name in ("anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-reset"):
        assert datetime.fromisoformat(headers[name]).tzinfo is not None  # RFC 3339, UTC
    await client.messages.create(model=MODEL, max_tokens=10, messages=HI)
    with pytest.raises(anthropic.RateLimitError) as raised:
        await client.messages.create(model=MODEL, max_tokens=10, messages=HI)
    refused = raised.value.response
    assert refused.headers["anthropic-ratelimit-requests-remaining"] == "0" and int(refused.headers["retry-after"]) > 0
    assert "retry-after-ms" not in refused.headers
    body = refused.json()
    assert (
        body["error"]["type"] == "rate_limit_error" and "rate limit for your organization" in body["error"]["message"]
    )
    jsonschema.validate(body, error_schema(app))
    other = await sdk(app, key="another").messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=HI)
    assert other.headers["anthropic-ratelimit-requests-remaining"] == "1"  # buckets are per x-api-key
