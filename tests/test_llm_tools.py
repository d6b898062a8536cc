"""Tool calls and structured outputs through the SDK: policy, arguments valid against schemas, stream order."""

from __future__ import annotations

import asyncio
import enum
import json
from typing import Any

import jsonschema_rs
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from fakeai.testing import async_client
from tests.conftest import make_app

MODEL = "gpt-4o"
ASK = [{"role": "user", "content": "What's the weather in Paris?"}]
WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "when": {"type": "string", "format": "date"},
        "contact": {"type": "string", "format": "email"},
    },
    "required": ["city", "unit", "days"],
    "additionalProperties": False,
}
SEARCH = {
    "type": "object",
    "properties": {"query": {"type": "string"}, "filters": {"type": "array", "items": {"$ref": "#/$defs/Filter"}}},
    "required": ["query", "filters"],
    "$defs": {
        "Filter": {
            "type": "object",
            "properties": {"field": {"type": "string"}, "value": {"anyOf": [{"type": "number"}, {"type": "null"}]}},
            "required": ["field", "value"],
        }
    },
}
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "search", "parameters": SEARCH}},
]
SCHEMAS = {"get_weather": WEATHER, "search": SEARCH}


def _check_call(call: Any) -> None:
    arguments = json.loads(call.function.arguments)
    assert jsonschema_rs.Draft202012Validator(SCHEMAS[call.function.name], validate_formats=True).is_valid(arguments)
    assert call.id.startswith("call_") and call.type == "function"


def test_required_calls_have_schema_valid_arguments() -> None:
    app = make_app()

    async def check(seed: int) -> None:
        answer = await async_client(app).chat.completions.create(
            model=MODEL, messages=ASK, tools=TOOLS, tool_choice="required", seed=seed
        )
        choice = answer.choices[0]
        assert (choice.finish_reason, choice.message.content) == ("tool_calls", None)
        assert 1 <= len(choice.message.tool_calls) <= 2
        for call in choice.message.tool_calls:
            _check_call(call)

    @settings(database=None, max_examples=40, deadline=None)
    @given(st.integers(0, 2**32))
    def run(seed: int) -> None:
        asyncio.run(check(seed))

    run()
    assert not app.violations


async def test_parallel_calls_vary_between_one_and_two_distinct_tools(client: Any) -> None:
    counts = set()
    for seed in range(12):
        answer = await client.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, seed=seed)
        names = [c.function.name for c in answer.choices[0].message.tool_calls]
        assert len(set(names)) == len(names)
        counts.add(len(names))
    assert counts == {1, 2}


async def test_parallel_tool_calls_false_makes_exactly_one_call(client: Any) -> None:
    for seed in range(6):
        answer = await client.chat.completions.create(
            model=MODEL, messages=ASK, tools=TOOLS, parallel_tool_calls=False, seed=seed
        )
        assert len(answer.choices[0].message.tool_calls) == 1


async def test_named_tool_choice_calls_that_function_once(client: Any) -> None:
    choice = {"type": "function", "function": {"name": "search"}}
    answer = await client.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, tool_choice=choice, seed=2)
    calls = answer.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["search"]
    _check_call(calls[0])


async def test_unknown_named_tool_is_a_400(client: Any) -> None:
    choice = {"type": "function", "function": {"name": "nope"}}
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, tool_choice=choice)
    assert info.value.param == "tool_choice"


async def test_auto_answers_with_text_after_a_tool_result_and_none_never_calls(client: Any) -> None:
    first = await client.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, seed=1)
    call = first.choices[0].message.tool_calls[0]
    history = [
        *ASK,
        {"role": "assistant", "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 21}'},
    ]
    after = await client.chat.completions.create(model=MODEL, messages=history, tools=TOOLS, seed=1)
    never = await client.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, tool_choice="none")
    for answer in (after, never):
        assert answer.choices[0].message.tool_calls is None
        assert answer.choices[0].finish_reason in ("stop", "length") and answer.choices[0].message.content


async def test_streamed_tool_calls_follow_openai_order_and_match(client: Any) -> None:
    kwargs: dict[str, Any] = {"model": MODEL, "messages": ASK, "tools": TOOLS, "seed": 3, "tool_choice": "required"}
    plain = await client.chat.completions.create(**kwargs)
    chunks = [c async for c in await client.chat.completions.create(**kwargs, stream=True)]
    deltas = [c.choices[0].delta for c in chunks]
    assert deltas[0].role == "assistant" and deltas[0].content is None
    assert all(d.content is None for d in deltas)
    calls: dict[int, list[Any]] = {}
    for delta in deltas:
        for part in delta.tool_calls or ():
            calls.setdefault(part.index, []).append(part)
    expected = plain.choices[0].message.tool_calls
    assert sorted(calls) == list(range(len(expected)))
    for index, parts in calls.items():
        head = parts[0]
        assert (head.type, head.function.arguments) == ("function", "")
        assert head.function.name == expected[index].function.name
        assert head.id.startswith("call_") and head.id != expected[index].id  # each answer has its own ids
        assert all(p.id is None and p.function.name is None for p in parts[1:])
        assert "".join(p.function.arguments for p in parts) == expected[index].function.arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    async with client.chat.completions.stream(**kwargs) as stream:
        final = await stream.get_final_completion()
    assert [c.function.arguments for c in final.choices[0].message.tool_calls] == [
        c.function.arguments for c in expected
    ]


class Priority(enum.StrEnum):
    low = "low"
    high = "high"


class Step(BaseModel):
    title: str
    minutes: int
    priority: Priority


class Owner(BaseModel):
    name: str
    email: str | None


class Plan(BaseModel):
    goal: str
    steps: list[Step]
    owner: Owner
    backup: Owner | None
    tags: list[str]


async def test_parse_with_a_nested_pydantic_model(client: Any) -> None:
    for seed in range(15):
        answer = await client.chat.completions.parse(model=MODEL, messages=ASK, response_format=Plan, seed=seed)
        plan = answer.choices[0].message.parsed
        assert isinstance(plan, Plan) and isinstance(plan.owner, Owner)
        assert all(isinstance(step.priority, Priority) for step in plan.steps)


async def test_json_object_is_a_json_object(client: Any) -> None:
    answer = await client.chat.completions.create(
        model=MODEL, messages=ASK, response_format={"type": "json_object"}, seed=1
    )
    assert isinstance(json.loads(answer.choices[0].message.content), dict)


async def test_invalid_user_schema_is_a_400(client: Any) -> None:
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "#/$defs/missing"}}}
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model=MODEL, messages=ASK, response_format=bad)


# --- arguments from the conversation ---------------------------------------------------------


async def test_arguments_take_the_users_words(client: Any) -> None:
    """ "weather in Paris" calls get_weather with city "Paris"; constrained properties stay valid."""
    answer = await client.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS[:1], seed=1)
    arguments = json.loads(answer.choices[0].message.tool_calls[0].function.arguments)
    assert arguments["city"] == "Paris" and arguments["unit"] in ("celsius", "fahrenheit")
    assert jsonschema_rs.validator_for(WEATHER).is_valid(arguments)


async def test_search_query_and_people_from_the_newest_user_message(client: Any) -> None:
    email = {
        "type": "object",
        "properties": {"recipient": {"type": "string"}, "subject": {"type": "string", "description": "The topic"}},
        "required": ["recipient", "subject"],
    }
    tools: list[Any] = [{"type": "function", "function": {"name": "send_email", "parameters": email}}]
    messages = [
        {"role": "user", "content": "Hi there."},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Send an email to Alice Smith about the quarterly launch."},
    ]
    answer = await client.chat.completions.create(model=MODEL, messages=messages, tools=tools)
    arguments = json.loads(answer.choices[0].message.tool_calls[0].function.arguments)
    assert arguments == {"recipient": "Alice Smith", "subject": "the quarterly launch"}
    asked = [{"role": "user", "content": "Search the web for the latest news about fusion power"}]
    found = await client.chat.completions.create(model=MODEL, messages=asked, tools=TOOLS[1:])
    query = json.loads(found.choices[0].message.tool_calls[0].function.arguments)["query"]
    assert query == "the latest news about fusion power"


async def test_responses_arguments_take_the_users_words(client: Any) -> None:
    location = {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}
    tool = {"type": "function", "name": "get_forecast", "parameters": location}
    response = await client.responses.create(model=MODEL, input="Any rain in New York tomorrow?", tools=[tool])
    assert json.loads(response.output[0].arguments) == {"location": "New York"}


async def test_without_the_words_a_city_is_still_a_city(client: Any) -> None:
    messages = [{"role": "user", "content": "what's the weather like?"}]
    answer = await client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS[:1], seed=2)
    city = json.loads(answer.choices[0].message.tool_calls[0].function.arguments)["city"]
    assert city in ("Paris", "Tokyo", "San Francisco", "London", "Berlin", "Toronto")
