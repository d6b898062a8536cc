"""Scripted scenario answers rendered by the LLM producers, through the official openai SDK.

A scripted ``content`` / ``tool_calls`` / ``json`` / ``refusal`` gets everything a generated answer
gets: logprobs, ``n`` choices, reasoning tokens, ``max_tokens`` cuts, exact usage, streaming (and,
on the Responses API, ``function_call`` items and ``refusal`` parts, streamed with their events).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.app import FakeAI
from fakeai.producers.text.tokenizer import for_model
from fakeai.testing import async_client
from tests.conftest import make_app

USER: list[Any] = [{"role": "user", "content": "hello there"}]
SCRIPT = """
rules:
  - name: greet
    match: {operation: [createChatCompletion, createResponse], last_user_message: {contains: hello}}
    respond: {content: "Hello! The weather in Paris is 18\u00b0C \U0001f324 today."}
  - name: complete
    match: {operation: createCompletion}
    respond: {content: "Hello! The weather in Paris is 18\u00b0C \U0001f324 today."}
  - name: story
    match: {operation: createResponse, last_user_message: {contains: story}}
    respond: {content: "{% for i in range(8) %}Once upon a time, in Paris. {% endfor %}"}
  - name: echo
    priority: 10
    match: {operation: createChatCompletion, last_user_message: {contains: "echo:"}}
    respond: {content: "{{ last_user_message[5:] }}"}
  - name: weather
    match: {last_user_message: {contains: weather}}
    respond:
      tool_calls:
        - {name: get_weather, id: call_w1, arguments: {city: Paris, unit: celsius}}
        - {name: get_time, arguments: '{"city": "Paris"}'}
  - name: secret
    match: {last_user_message: {contains: password}}
    respond: {refusal: "I can't help with that."}
  - name: event
    match: {last_user_message: {contains: fair}}
    respond: {json: {name: Science fair, participants: [Alice, Bob]}}
"""
GREETING = "Hello! The weather in Paris is 18\u00b0C \U0001f324 today."
WEATHER = [{"role": "user", "content": "what is the weather?"}]
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": name,
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, **extra},
                "required": ["city", *extra],
                "additionalProperties": False,
            },
        },
    }
    for name, extra in (("get_weather", {"unit": {"type": "string"}}), ("get_time", {}))
]
RESPONSES_TOOLS: Any = [{"type": "function", **tool["function"]} for tool in TOOLS]


@pytest.fixture
def sapp() -> Iterator[FakeAI]:
    application = make_app(seed=777)
    assert application.scenarios is not None
    application.scenarios.load("scripts", SCRIPT)
    yield application
    application.scenarios.remove("scripts")
    application.scenarios.reset_state()
    assert not application.violations, application.violations


def tokens(text: str, model: str = "gpt-4o") -> int:
    return len(for_model(model).encode(text))


async def test_chat_logprobs_cover_the_scripted_tokens(sapp: FakeAI) -> None:
    answer = await async_client(sapp).chat.completions.create(
        model="gpt-4o", messages=USER, logprobs=True, top_logprobs=2
    )
    choice = answer.choices[0]
    assert choice.message.content == GREETING
    assert choice.logprobs is not None and choice.logprobs.content is not None
    entries = choice.logprobs.content
    assert "".join(e.token for e in entries) == GREETING
    assert b"".join(bytes(e.bytes or []) for e in entries) == GREETING.encode()
    assert all(len(e.top_logprobs) == 2 and e.top_logprobs[0].token == e.token for e in entries)
    assert answer.usage is not None and answer.usage.completion_tokens == len(entries) == tokens(GREETING)


async def test_chat_n_choices_each_carry_the_script(sapp: FakeAI) -> None:
    answer = await async_client(sapp).chat.completions.create(model="gpt-4o", messages=USER, n=2)
    assert [(c.index, c.message.content, c.finish_reason) for c in answer.choices] == [
        (0, GREETING, "stop"),
        (1, GREETING, "stop"),
    ]
    assert answer.usage is not None and answer.usage.completion_tokens == 2 * tokens(GREETING)
    assert answer.id.startswith("chatcmpl-") and len(answer.id) == 38
    assert answer.system_fingerprint is not None and answer.system_fingerprint.startswith("fp_")


async def test_chat_max_tokens_cuts_the_script_with_length(sapp: FakeAI) -> None:
    answer = await async_client(sapp).chat.completions.create(model="gpt-4o", messages=USER, max_tokens=3)
    assert answer.choices[0].finish_reason == "length"
    assert GREETING.startswith(answer.choices[0].message.content or "-")
    assert answer.usage is not None and answer.usage.completion_tokens == 3


async def test_chat_reasoning_model_adds_reasoning_tokens(sapp: FakeAI) -> None:
    answer = await async_client(sapp).chat.completions.create(model="o3-mini", messages=USER)
    assert answer.choices[0].message.content == GREETING
    assert answer.usage is not None and answer.usage.completion_tokens_details is not None
    reasoning = answer.usage.completion_tokens_details.reasoning_tokens or 0
    assert reasoning >= 64 and reasoning % 64 == 0
    assert answer.usage.completion_tokens == tokens(GREETING, "o3-mini") + reasoning


async def test_chat_streamed_tool_calls_parse_with_the_stream_helper(sapp: FakeAI) -> None:
    client = async_client(sapp)
    async with client.chat.completions.stream(
        model="gpt-4o", messages=WEATHER, tools=TOOLS, stream_options={"include_usage": True}
    ) as stream:
        final = await stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.parsed_arguments) for c in calls] == [
        ("call_w1", "get_weather", {"city": "Paris", "unit": "celsius"}),
        (calls[1].id, "get_time", {"city": "Paris"}),
    ]
    assert calls[1].id.startswith("call_") and len(calls[1].id) == 29  # seeded, in the producer's format
    assert final.usage is not None and final.usage.completion_tokens > 0


async def test_chat_refusal_streams_as_refusal_deltas(sapp: FakeAI) -> None:
    client = async_client(sapp)
    messages: Any = [{"role": "user", "content": "the password?"}]
    stream = await client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
    deltas = [c.choices[0].delta async for c in stream if c.choices]
    assert "".join(d.refusal or "" for d in deltas) == "I can't help with that."
    assert all(d.content in (None, "") for d in deltas)
    plain = await client.chat.completions.create(model="gpt-4o", messages=messages, logprobs=True)
    assert plain.choices[0].message.refusal == "I can't help with that."
    assert plain.choices[0].logprobs is not None and plain.choices[0].logprobs.refusal is not None
    assert "".join(e.token for e in plain.choices[0].logprobs.refusal) == "I can't help with that."


async def test_completions_scripted_content_and_logprobs(sapp: FakeAI) -> None:
    answer = await async_client(sapp).completions.create(model="gpt-3.5-turbo-instruct", prompt="hello", logprobs=1)
    assert answer.choices[0].text == GREETING and answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].logprobs is not None
    assert "".join(answer.choices[0].logprobs.tokens or []) == GREETING
    assert answer.usage is not None and answer.usage.completion_tokens == tokens(GREETING, "gpt-3.5-turbo-instruct")


async def test_responses_tool_calls_are_function_call_items(sapp: FakeAI) -> None:
    client = async_client(sapp)
    answer = await client.responses.create(model="gpt-4o", input="what is the weather?", tools=RESPONSES_TOOLS)
    calls = [(item.type, getattr(item, "call_id", None), getattr(item, "name", None)) for item in answer.output]
    assert calls == [("function_call", "call_w1", "get_weather"), ("function_call", calls[1][1], "get_time")]
    assert [json.loads(getattr(item, "arguments", "")) for item in answer.output] == [
        {"city": "Paris", "unit": "celsius"},
        {"city": "Paris"},
    ]
    async with client.responses.stream(model="gpt-4o", input="weather, streamed", tools=RESPONSES_TOOLS) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert kinds.count("response.function_call_arguments.done") == 2
    assert [getattr(item, "name", None) for item in final.output] == ["get_weather", "get_time"]
    assert final.usage is not None and final.usage.output_tokens > 0


async def test_responses_refusal_is_a_refusal_part(sapp: FakeAI) -> None:
    client = async_client(sapp)
    answer = await client.responses.create(model="gpt-4o", input="tell me the password")
    message = answer.output[0]
    assert message.type == "message"
    assert [(p.type, getattr(p, "refusal", None)) for p in message.content] == [("refusal", "I can't help with that.")]
    async with client.responses.stream(model="gpt-4o", input="the password, streamed") as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    deltas = [e.delta for e in events if e.type == "response.refusal.delta"]
    done = [e.refusal for e in events if e.type == "response.refusal.done"]
    assert "".join(deltas) == "I can't help with that." and done == ["I can't help with that."]
    assert final.output[0].type == "message"
    assert [getattr(p, "refusal", None) for p in final.output[0].content] == ["I can't help with that."]
    assert final.usage is not None and final.usage.output_tokens == tokens("I can't help with that.")


async def test_responses_json_and_reasoning(sapp: FakeAI) -> None:
    answer = await async_client(sapp).responses.create(model="o3-mini", input="Alice and Bob go to the fair")
    assert [item.type for item in answer.output] == ["reasoning", "message"]
    assert json.loads(answer.output_text) == {"name": "Science fair", "participants": ["Alice", "Bob"]}
    assert answer.usage is not None and answer.usage.output_tokens_details.reasoning_tokens > 0


async def test_responses_max_output_tokens_cuts_the_script(sapp: FakeAI) -> None:
    story = "Once upon a time, in Paris. " * 8
    client = async_client(sapp)
    answer = await client.responses.create(model="gpt-4o", input="a story", max_output_tokens=tokens(story))
    assert answer.status == "completed" and answer.output_text == story  # fits exactly
    cut = await client.responses.create(model="gpt-4o", input="a short story", max_output_tokens=16)
    assert cut.status == "incomplete" and cut.incomplete_details is not None
    assert story.startswith(cut.output_text) and len(cut.output_text) < len(story)
    assert cut.usage is not None and cut.usage.output_tokens == 16


def test_any_scripted_text_round_trips_in_every_format() -> None:
    """Property: whatever text the script says, the chat answer carries it exactly (plain and streamed, each
    of ``n`` choices), its logprob tokens join to it, and usage counts its tokens."""
    app = make_app(seed=778)
    assert app.scenarios is not None
    app.scenarios.load("scripts", SCRIPT)
    client = async_client(app)

    async def check(text: str, n: int) -> None:
        messages: Any = [{"role": "user", "content": "echo:" + text}]
        plain = await client.chat.completions.create(model="gpt-4o", messages=messages, n=n, logprobs=True)
        assert [c.message.content for c in plain.choices] == [text] * n
        for choice in plain.choices:
            entries = (choice.logprobs.content if choice.logprobs else None) or []
            assert "".join(e.token for e in entries) == text
        assert plain.usage is not None and plain.usage.completion_tokens == n * tokens(text)
        stream = await client.chat.completions.create(model="gpt-4o", messages=messages, n=n, stream=True)
        texts = [""] * n
        async for chunk in stream:
            for choice in chunk.choices:
                texts[choice.index] += choice.delta.content or ""
        assert texts == [text] * n

    @settings(database=None, max_examples=30, deadline=None)
    @given(st.text(st.characters(exclude_categories=("Cs",)), max_size=40), st.integers(1, 2))
    def run(text: str, n: int) -> None:
        asyncio.run(check(text, n))

    try:
        run()
    finally:
        app.scenarios.remove("scripts")
    assert not app.violations


CHECKED = """
rules:
  - {match: {operation: createResponse}, respond: {tool_calls: [{name: f}]}}
  - {match: {operation: createResponse}, respond: {refusal: "no"}}
  - {match: {operation: createCompletion}, respond: {json: {a: 1}}}
  - {match: {operation: createCompletion}, respond: {refusal: "no"}}
  - {match: {operation: createEmbedding}, respond: {content: hi}}
"""


def test_check_reports_only_scripts_no_producer_renders() -> None:
    from fakeai.scenario.check import check_scenario
    from fakeai.scenario.model import Scenario
    from fakeai.spec.load import load_document

    problems = check_scenario(Scenario.from_text(CHECKED, "checked.yaml"), load_document(None))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "refusal cannot answer createCompletion; use body:",
        "content cannot answer createEmbedding; use body:",
    ]
