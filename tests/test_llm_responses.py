"""createResponse through the official openai SDK: bodies, tools, structured outputs, reasoning, streams.

The ``app`` fixture fails a test when a body or an SSE frame violates the spec.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator
from typing import Any

import jsonschema
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.responses import Response
from pydantic import BaseModel

from fakeai.app import FakeAI
from fakeai.context import RequestContext
from fakeai.producers.text.responses_stream import chunks
from fakeai.producers.text.tokenizer import count_responses_input
from fakeai.testing import async_client, serve
from tests.conftest import make_app

NOW = 1_750_000_000
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}
TIME = {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"], "additionalProperties": False}
TOOLS: list[Any] = [
    {"type": "function", "name": "get_weather", "description": "Weather.", "parameters": WEATHER, "strict": True},
    {"type": "function", "name": "get_time", "parameters": TIME, "strict": None},
]
SCHEMAS = {"get_weather": WEATHER, "get_time": TIME}


@pytest.fixture
def app() -> Iterator[FakeAI]:
    application = make_app(fixed_time=NOW)
    yield application
    assert not application.violations, f"fakeai answered outside the spec: {application.violations}"


@pytest.fixture
def client(app: FakeAI) -> Any:
    return async_client(app)


def seeded(app: FakeAI, seed: int, **headers: str) -> Any:
    return async_client(app, headers={"x-fakeai-seed": str(seed), **headers})


def plain(response: Any) -> Response:
    """A streamed ``ParsedResponse`` as the plain ``Response`` ``create`` returns."""
    data = response.model_dump(exclude_unset=True)
    for item in data["output"]:
        item.pop("parsed_arguments", None)
        for part in item.get("content") or ():
            part.pop("parsed", None)
    return Response.model_validate(data)


# --- the Response object -------------------------------------------------------------------


async def test_text_response_has_the_documented_shape(client: Any) -> None:
    raw = await client.responses.with_raw_response.create(model="gpt-4o", input="Say hello")
    body = json.loads(raw.text)
    response = raw.parse()
    assert (body["object"], body["status"], body["created_at"]) == ("response", "completed", NOW)
    assert body["id"].startswith("resp_") and "output_text" not in body  # output_text is SDK-side only
    (message,) = body["output"]
    assert message["id"].startswith("msg_") and message["role"] == "assistant" and message["status"] == "completed"
    (part,) = message["content"]
    assert (part["type"], part["annotations"], part["logprobs"]) == ("output_text", [], [])
    assert response.output_text == part["text"] != ""


async def test_defaults_are_echoed_when_absent(client: Any) -> None:
    body = (await client.responses.create(model="gpt-4o", input="hi")).model_dump()
    expected = {
        "instructions": None,
        "temperature": 1.0,
        "top_p": 1.0,
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "store": True,
        "truncation": "disabled",
        "max_output_tokens": None,
        "previous_response_id": None,
        "metadata": {},
        "incomplete_details": None,
        "error": None,
    }
    assert {key: body[key] for key in expected} == expected
    assert body["text"]["format"] == {"type": "text"}
    assert (body["reasoning"]["effort"], body["reasoning"]["summary"]) == (None, None)


async def test_request_parameters_are_echoed(client: Any) -> None:
    response = await client.responses.create(
        model="gpt-4.1",
        input="hi",
        instructions="Be brief.",
        temperature=0.3,
        top_p=0.9,
        metadata={"k": "v"},
        previous_response_id="resp_previous",
        store=False,
        truncation="auto",
        max_output_tokens=500,
        tools=TOOLS,
        tool_choice="none",
        parallel_tool_calls=False,
    )
    assert (response.instructions, response.temperature, response.top_p) == ("Be brief.", 0.3, 0.9)
    assert (response.metadata, response.previous_response_id, response.store) == ({"k": "v"}, "resp_previous", False)
    assert (response.truncation, response.max_output_tokens, response.tool_choice) == ("auto", 500, "none")
    assert response.parallel_tool_calls is False
    assert [(t.name, t.strict, t.description) for t in response.tools] == [
        ("get_weather", True, "Weather."),
        ("get_time", True, None),
    ]
    assert [item.type for item in response.output] == ["message"]  # tool_choice none: text


async def test_usage_counts_input_and_output(client: Any) -> None:
    items = [{"role": "user", "content": "What is a queue?"}, {"role": "assistant", "content": "A line."}]
    items.append({"role": "user", "content": [{"type": "input_text", "text": "And a stack?"}]})
    response = await client.responses.create(model="gpt-4o", input=items, instructions="Answer in one line.")
    usage = response.usage
    assert usage.input_tokens == count_responses_input(items, "Answer in one line.", "gpt-4o")
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert (usage.input_tokens_details.cached_tokens, usage.output_tokens_details.reasoning_tokens) == (0, 0)


async def test_echo_mode_repeats_the_last_user_text(app: FakeAI) -> None:
    client = async_client(app, headers={"x-fakeai-mode": "echo"})
    items = [{"role": "user", "content": "first"}, {"role": "user", "content": [{"type": "input_text", "text": "two"}]}]
    response = await client.responses.create(model="gpt-4o", input=items)
    assert response.output_text == "two"


async def test_max_output_tokens_cuts_exactly(client: Any) -> None:
    response = await client.responses.create(model="gpt-4o", input="Tell me a story", max_output_tokens=16)
    assert (response.status, response.incomplete_details.reason) == ("incomplete", "max_output_tokens")
    assert response.usage.output_tokens == 16 and response.output[0].status == "incomplete"
    assert response.completed_at is None


async def test_max_output_tokens_50_usually_completes(client: Any) -> None:
    """openai-agents' default model is the Responses API; a cap with room for an answer is rarely reached."""
    statuses = [
        (await client.responses.create(model="gpt-4o", input=f"Question {i}?", max_output_tokens=50)).status
        for i in range(20)
    ]
    assert statuses.count("completed") >= 16 and set(statuses) <= {"completed", "incomplete"}


async def test_minimal_body_in_permissive_profile() -> None:
    app = make_app(validation="permissive")
    body = await async_client(app).post("/responses", body={}, cast_to=object)
    assert body["object"] == "response" and body["status"] == "completed" and not app.violations


# --- tools ---------------------------------------------------------------------------------


async def test_auto_calls_a_tool_after_a_user_message(client: Any) -> None:
    response = await client.responses.create(model="gpt-4o", input="Weather in Paris?", tools=TOOLS)
    assert response.output and all(item.type == "function_call" for item in response.output)
    for call in response.output:
        assert call.id.startswith("fc_") and call.call_id.startswith("call_") and call.status == "completed"
        jsonschema.validate(json.loads(call.arguments), SCHEMAS[call.name])


async def test_auto_answers_after_a_function_call_output(client: Any) -> None:
    items = [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]
    response = await client.responses.create(model="gpt-4o", input=items, tools=TOOLS)
    assert [item.type for item in response.output] == ["message"] and response.output_text


@pytest.mark.parametrize("seed", range(6))
async def test_named_tool_choice_calls_that_function_once(app: FakeAI, seed: int) -> None:
    choice = {"type": "function", "name": "get_time"}
    items = [{"type": "function_call_output", "call_id": "call_1", "output": "x"}]
    response = await seeded(app, seed).responses.create(model="gpt-4o", input=items, tools=TOOLS, tool_choice=choice)
    assert [(item.type, item.name) for item in response.output] == [("function_call", "get_time")]


@pytest.mark.parametrize("seed", range(6))
async def test_required_without_parallel_calls_makes_one_call(app: FakeAI, seed: int) -> None:
    response = await seeded(app, seed).responses.create(
        model="gpt-4o", input="x", tools=TOOLS, tool_choice="required", parallel_tool_calls=False
    )
    assert [item.type for item in response.output] == ["function_call"]


async def test_parallel_calls_happen_for_some_seed(app: FakeAI) -> None:
    counts = set()
    for seed in range(12):
        response = await seeded(app, seed).responses.create(model="gpt-4o", input="x", tools=TOOLS)
        counts.add(len(response.output))
    assert counts == {1, 2}


async def test_unknown_named_tool_is_a_400(client: Any) -> None:
    with pytest.raises(openai.BadRequestError, match="nope"):
        await client.responses.create(
            model="gpt-4o", input="x", tools=TOOLS, tool_choice={"type": "function", "name": "nope"}
        )


# --- structured outputs --------------------------------------------------------------------


class Address(BaseModel):
    street: str
    zip_code: int


class Person(BaseModel):
    name: str
    age: int
    addresses: list[Address]
    nickname: str | None


@pytest.mark.parametrize("seed", range(4))
async def test_parse_with_nested_pydantic_models(app: FakeAI, seed: int) -> None:
    response = await seeded(app, seed).responses.parse(model="gpt-4o", input="A person", text_format=Person)
    assert isinstance(response.output_parsed, Person)
    assert response.text.format.type == "json_schema" and response.text.format.strict is True


async def test_json_object_format_gives_a_json_object(client: Any) -> None:
    response = await client.responses.create(
        model="gpt-4o", input="JSON please", text={"format": {"type": "json_object"}}
    )
    assert isinstance(json.loads(response.output_text), dict)


# --- reasoning models ----------------------------------------------------------------------


async def test_reasoning_model_thinks_first(client: Any) -> None:
    response = await client.responses.create(model="o3", input="Why is the sky blue?")
    reasoning, message = response.output
    assert (reasoning.type, reasoning.summary, message.type) == ("reasoning", [], "message")
    assert reasoning.id.startswith("rs_") and response.reasoning.effort == "medium"
    details = response.usage.output_tokens_details
    assert 0 < details.reasoning_tokens < response.usage.output_tokens


async def test_reasoning_summary_and_encrypted_content_on_request(client: Any) -> None:
    response = await client.responses.create(
        model="gpt-5-mini", input="x", reasoning={"summary": "auto"}, include=["reasoning.encrypted_content"]
    )
    reasoning = response.output[0]
    assert reasoning.summary and all(part.type == "summary_text" and part.text for part in reasoning.summary)
    assert reasoning.encrypted_content and response.reasoning.summary == "auto"


async def test_reasoning_can_use_the_whole_budget(client: Any) -> None:
    response = await client.responses.create(model="o4-mini", input="x", max_output_tokens=20)
    assert [item.type for item in response.output] == ["reasoning"] and response.status == "incomplete"
    assert response.usage.output_tokens == response.usage.output_tokens_details.reasoning_tokens == 20


async def test_reasoning_effort_none_skips_the_reasoning_item(client: Any) -> None:
    response = await client.responses.create(model="gpt-5.1", input="x", reasoning={"effort": "none"})
    assert [item.type for item in response.output] == ["message"]
    assert response.usage.output_tokens_details.reasoning_tokens == 0


# --- streaming -----------------------------------------------------------------------------


async def sse(client: Any, **params: Any) -> list[tuple[str, dict[str, Any]]]:
    """The raw (event name, data) pairs of a streamed response."""
    events: list[tuple[str, dict[str, Any]]] = []
    async with client.responses.with_streaming_response.create(stream=True, **params) as raw:
        text = (await raw.read()).decode()
    for block in text.strip().split("\n\n"):
        name, data = block.split("\n")
        assert name.startswith("event: ") and data.startswith("data: ")
        events.append((name[7:], json.loads(data[6:])))
    return events


async def test_stream_is_the_typed_event_sequence(client: Any) -> None:
    events = await sse(client, model="gpt-4o", input="hi", temperature=0)
    names = [name for name, _ in events]
    assert all(name == data["type"] for name, data in events)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    head = ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    tail = ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
    assert names[:4] == head and names[-4:] == [*tail, "response.completed"]
    assert set(names[4:-4]) == {"response.output_text.delta"}
    created = events[0][1]["response"]
    assert (created["status"], created["output"]) == ("in_progress", [])
    final = await client.responses.create(model="gpt-4o", input="hi", temperature=0)
    assert events[-1][1]["response"] == final.model_dump(mode="json", exclude_unset=True)
    assert len(names) - 8 == final.usage.output_tokens  # one delta per token


async def test_tokens_per_chunk_groups_deltas() -> None:
    app = make_app(fixed_time=NOW, tokens_per_chunk=4)
    exact = {"ignore_eos": True}  # exactly 40 tokens (a natural length under the cap would end sooner)
    events = await sse(
        async_client(app), model="gpt-4o", input="hi", temperature=0, max_output_tokens=40, extra_body=exact
    )
    deltas = [data for _, data in events if data["type"] == "response.output_text.delta"]
    assert len(deltas) == 10 and all(d["logprobs"] == [] and d["obfuscation"] for d in deltas)
    assert not app.violations


@pytest.mark.parametrize("model", ["gpt-4o", "o3"])
def test_frames_carry_every_output_token_for_latency(app: FakeAI, model: str) -> None:
    """The latency simulator paces frames by ``Frame.tokens``: hidden reasoning tokens included."""
    producer = next(p for p in app.operations["createResponse"].producers if p.source == "llm")
    body = {"model": model, "input": "x", "tools": TOOLS, "temperature": 0}
    ctx = RequestContext(
        operation=app.operations["createResponse"].operation,
        method="POST",
        path="/v1/responses",
        path_params={},
        query={},
        headers={},
        body=body,
        files={},
        seed=1,
        rng=random.Random(1),
        now=NOW,
        settings=app.settings,
    )
    plain_output = producer.produce(ctx)
    streamed = producer.produce(dataclasses.replace(ctx, body={**body, "stream": True}))
    assert plain_output.completion_tokens == plain_output.body["usage"]["output_tokens"] > 0
    assert sum(frame.tokens for frame in streamed.frames) == plain_output.completion_tokens


def test_chunks_keep_split_characters_whole() -> None:
    assert list(chunks(("a", "", "\N{GRINNING FACE}", "b"), 1)) == [("a", 1), ("\N{GRINNING FACE}", 2), ("b", 1)]
    assert list(chunks(("a", "b", "c"), 2)) == [("ab", 2), ("c", 1)]


async def test_stream_of_function_calls_and_reasoning_summary(client: Any) -> None:
    params = {
        "model": "o3",
        "input": "x",
        "tools": TOOLS,
        "tool_choice": "required",
        "reasoning": {"summary": "concise"},
    }
    events = await sse(client, **params, stream_options={"include_obfuscation": False})
    names = [name for name, _ in events]
    assert names[2:4] == ["response.output_item.added", "response.reasoning_summary_part.added"]
    assert "response.reasoning_summary_text.done" in names and "response.reasoning_summary_part.done" in names
    arguments: dict[str, str] = {}
    for _, data in events:
        if data["type"] == "response.function_call_arguments.delta":
            assert "obfuscation" not in data
            arguments[data["item_id"]] = arguments.get(data["item_id"], "") + data["delta"]
        if data["type"] == "response.function_call_arguments.done":
            assert arguments[data["item_id"]] == data["arguments"]
    assert arguments and names[-1] == "response.completed"


async def test_stream_ends_incomplete_when_cut(client: Any) -> None:
    events = await sse(client, model="gpt-4o", input="x", max_output_tokens=16)
    name, data = events[-1]
    assert name == "response.incomplete" and data["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


async def test_stream_helper_final_response_equals_create(client: Any) -> None:
    params: dict[str, Any] = {"model": "o4-mini", "input": "x", "tools": TOOLS, "temperature": 0}
    params["reasoning"] = {"summary": "detailed"}
    async with client.responses.stream(**params) as stream:
        final = await stream.get_final_response()
    assert plain(final) == await client.responses.create(**params)


def test_deltas_join_to_the_created_text() -> None:
    """Property: for any seed and budget, streamed deltas == create's output_text, and the final
    streamed response == create's (sync SDK over a real socket)."""
    app = make_app(fixed_time=NOW)
    with (
        serve(app) as server,
        openai.OpenAI(base_url=server.base_url + "/v1", api_key="sk-test", max_retries=0) as client,
    ):

        @settings(database=None, max_examples=25, deadline=None)
        @given(
            seed=st.integers(0, 2**32), budget=st.none() | st.integers(16, 300), model=st.sampled_from(["gpt-4o", "o3"])
        )
        def check(seed: int, budget: int | None, model: str) -> None:
            params: dict[str, Any] = {"model": model, "input": "Tell me something", "temperature": 0}
            if budget is not None:
                params["max_output_tokens"] = budget
            headers = {"x-fakeai-seed": str(seed)}
            created = client.responses.create(**params, extra_headers=headers)
            text, final = "", None
            with client.responses.stream(**params, extra_headers=headers) as stream:
                for event in stream:
                    if event.type == "response.output_text.delta":
                        text += event.delta
                    elif event.type in ("response.completed", "response.incomplete"):
                        final = event.response  # the helper's get_final_response() knows only "completed"
            assert text == created.output_text and final is not None and plain(final) == created
            if budget is not None:
                assert created.usage.output_tokens <= budget
                # cut answers use the whole budget; an answer that ends by itself exactly at it is complete
                if created.status == "incomplete":
                    assert created.usage.output_tokens == budget
                else:
                    assert created.status == "completed"

        check()
    assert not app.violations
