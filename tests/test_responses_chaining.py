"""Earlier turns: ``previous_response_id`` and ``conversation`` feed them in; ``input_items.list`` lists them."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import openai
import pytest

from fakeai.app import FakeAI, create_app
from fakeai.config import Settings
from fakeai.producers.text.history import matcher_body
from fakeai.producers.text.tokenizer import count_responses_input
from fakeai.scenario.conversation import turn
from fakeai.testing import async_client

MODEL = "gpt-4o"
UNKNOWN_RESPONSE = "resp_" + "0" * 48
UNKNOWN_CONVERSATION = "conv_" + "0" * 48


@pytest.fixture(scope="module")
def chain_app() -> Iterator[FakeAI]:
    app = create_app(Settings(validate_responses="strict"))
    yield app
    assert not app.violations, f"fakeai answered outside the spec: {app.violations}"


def client_for(app: FakeAI, namespace: str) -> openai.AsyncOpenAI:
    return async_client(app, headers={"x-fakeai-namespace": namespace})


def tokens(items: list[Any]) -> int:
    return count_responses_input(items, None, MODEL)


def as_input(output: list[Any]) -> list[dict[str, Any]]:
    return [item.model_dump(exclude_none=True) for item in output]


async def test_previous_response_id_counts_the_earlier_turns(chain_app: FakeAI) -> None:
    client = client_for(chain_app, "chain-1")
    first = await client.responses.create(model=MODEL, input="Name a tide.", max_output_tokens=16)
    second = await client.responses.create(
        model=MODEL, input="And another?", previous_response_id=first.id, max_output_tokens=16
    )
    third = await client.responses.create(
        model=MODEL, input="One more.", previous_response_id=second.id, max_output_tokens=16
    )
    turns_1 = [{"role": "user", "content": "Name a tide."}, *as_input(first.output)]
    turns_2 = [*turns_1, {"role": "user", "content": "And another?"}, *as_input(second.output)]
    assert first.usage and second.usage and third.usage
    assert second.usage.input_tokens == tokens([*turns_1, {"role": "user", "content": "And another?"}])
    assert third.usage.input_tokens == tokens([*turns_2, {"role": "user", "content": "One more."}])
    assert third.usage.input_tokens > second.usage.input_tokens > first.usage.input_tokens
    assert (second.previous_response_id, third.previous_response_id) == (first.id, second.id)


async def test_echo_mode_answers_the_last_user_text_of_the_history(chain_app: FakeAI) -> None:
    client = client_for(chain_app, "chain-echo")
    first = await client.responses.create(model=f"{MODEL}:echo", input="parrot this")
    output = [{"type": "function_call_output", "call_id": "call_1", "output": "42"}]
    second = await client.responses.create(model=f"{MODEL}:echo", input=output, previous_response_id=first.id)  # type: ignore[arg-type]
    assert second.output_text == "parrot this"


async def test_unknown_previous_response_is_openais_404(chain_app: FakeAI) -> None:
    client = client_for(chain_app, "chain-2")
    with pytest.raises(openai.NotFoundError) as raised:
        await client.responses.create(model=MODEL, input="hi", previous_response_id=UNKNOWN_RESPONSE)
    assert raised.value.body == {
        "message": f"Previous response with id '{UNKNOWN_RESPONSE}' not found.",
        "type": "invalid_request_error",
        "param": "previous_response_id",
        "code": "previous_response_not_found",
    }


async def test_streaming_with_previous_response_id(chain_app: FakeAI) -> None:
    client = client_for(chain_app, "chain-3")
    first = await client.responses.create(model=MODEL, input="Start here.", max_output_tokens=16)
    async with client.responses.stream(
        model=MODEL, input="Continue.", previous_response_id=first.id, max_output_tokens=4000
    ) as stream:
        final = await stream.get_final_response()
    turns = [{"role": "user", "content": "Start here."}, *as_input(first.output)]
    assert final.usage and final.usage.input_tokens == tokens([*turns, {"role": "user", "content": "Continue."}])
    assert final.previous_response_id == first.id
    items = await client.responses.input_items.list(final.id, order="asc")
    assert [item.content[0].text for item in items.data if item.type == "message"][-1] == "Continue."  # type: ignore[union-attr]


async def test_input_items_of_a_string_input(chain_app: FakeAI) -> None:
    client = client_for(chain_app, "items-1")
    created = await client.responses.create(model=MODEL, input="Tell me a story.", max_output_tokens=16)
    items = await client.responses.input_items.list(created.id)
    assert [item.model_dump(exclude_none=True, exclude={"id"}) for item in items.data] == [
        {
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_text", "text": "Tell me a story."}],
        }
    ]
    assert items.data[0].id.startswith("msg_") and (items.first_id, items.last_id) == (items.data[0].id,) * 2
    assert items.has_more is False


async def test_input_items_of_messages_paginate(chain_app: FakeAI) -> None:
    client = client_for(chain_app, "items-2")
    given = [{"role": "developer", "content": "Be brief."}] + [
        {"role": "user", "content": f"Question {n}"} for n in range(4)
    ]
    created = await client.responses.create(model=MODEL, input=given, max_output_tokens=16)  # type: ignore[arg-type]
    first = await client.responses.input_items.list(created.id, order="asc", limit=2)
    assert [item.content[0].text for item in first.data] == ["Be brief.", "Question 0"]  # type: ignore[union-attr]
    assert first.has_more is True and first.last_id == first.data[-1].id
    rest = await client.responses.input_items.list(created.id, order="asc", after=first.last_id, limit=10)
    assert [item.content[0].text for item in rest.data] == ["Question 1", "Question 2", "Question 3"]  # type: ignore[union-attr]
    assert rest.has_more is False
    newest = await client.responses.input_items.list(created.id, limit=1)  # order defaults to desc
    assert newest.data[0].id == rest.data[-1].id
    every = [item.id async for item in client.responses.input_items.list(created.id, order="asc", limit=2)]
    assert len(every) == len(set(every)) == 5


async def test_input_items_of_a_chained_response_start_with_the_earlier_turns(chain_app: FakeAI) -> None:
    client = client_for(chain_app, "items-3")
    first = await client.responses.create(model=MODEL, input="First.", max_output_tokens=16)
    second = await client.responses.create(model=MODEL, input="Second.", previous_response_id=first.id)
    items = await client.responses.input_items.list(second.id, order="asc")
    assert [item.type for item in items.data] == ["message", "message", "message"]
    assert items.data[1].id == first.output[0].id


async def test_input_items_of_an_unknown_response_is_404(chain_app: FakeAI) -> None:
    with pytest.raises(openai.NotFoundError):
        await client_for(chain_app, "items-4").responses.input_items.list(UNKNOWN_RESPONSE)


async def test_conversation_keeps_user_and_assistant_items_in_order(chain_app: FakeAI) -> None:
    client = client_for(chain_app, "conv-1")
    conversation = await client.conversations.create(items=[{"role": "developer", "content": "Be terse."}])
    first = await client.responses.create(model=MODEL, input="Hello.", conversation=conversation.id)
    second = await client.responses.create(model=MODEL, input="Again.", conversation={"id": conversation.id})
    assert first.conversation and first.conversation.id == conversation.id
    listed = await client.conversations.items.list(conversation.id, order="asc")
    roles = [(item.type, getattr(item, "role", None)) for item in listed.data]
    assert roles == [("message", "developer"), *[("message", "user"), ("message", "assistant")] * 2]
    assert [item.id for item in listed.data][2::2] == [first.output[0].id, second.output[0].id]
    turns = as_input(listed.data[:3])  # type: ignore[arg-type]
    assert second.usage and second.usage.input_tokens == tokens([*turns, {"role": "user", "content": "Again."}])
    item = await client.conversations.items.retrieve(listed.data[1].id, conversation_id=conversation.id)
    assert item.id == listed.data[1].id


async def test_unknown_conversation_is_404(chain_app: FakeAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        await client_for(chain_app, "conv-2").responses.create(
            model=MODEL, input="hi", conversation=UNKNOWN_CONVERSATION
        )
    assert raised.value.body["param"] == "conversation"  # type: ignore[index]


async def test_items_added_to_a_conversation_are_listed(chain_app: FakeAI) -> None:
    client = client_for(chain_app, "conv-3")
    conversation = await client.conversations.create()
    added = await client.conversations.items.create(
        conversation.id, items=[{"role": "user", "content": "Remember 7."}, {"role": "user", "content": "And 9."}]
    )
    listed = await client.conversations.items.list(conversation.id, order="asc")
    assert [item.id for item in listed.data] == [item.id for item in added.data]


async def test_previous_response_and_conversation_are_mutually_exclusive(chain_app: FakeAI) -> None:
    client = client_for(chain_app, "conv-4")
    conversation = await client.conversations.create()
    first = await client.responses.create(model=MODEL, input="hi", max_output_tokens=16)
    with pytest.raises(openai.BadRequestError):
        await client.responses.create(
            model=MODEL, input="again", previous_response_id=first.id, conversation=conversation.id
        )


async def test_matcher_body_prepends_the_history(chain_app: FakeAI) -> None:
    """What scenario matchers would need to see (``turn`` counts the earlier user turns)."""
    client = client_for(chain_app, "match-1")
    first = await client.responses.create(model=MODEL, input="One.", max_output_tokens=16)
    body = {"model": MODEL, "input": "Two.", "previous_response_id": first.id}
    ctx = SimpleNamespace(body=body, namespace="match-1", settings=chain_app.settings)
    assert (turn(body), turn(matcher_body(chain_app.store, ctx))) == (1, 2)  # type: ignore[arg-type]
