"""Conversation items are valid ``ConversationItem``s of the type they were added as (the branch's ``status``).

Found by schemathesis: a ``computer_call_output`` was stored as sent, without the ``status`` its branch of the
``ConversationItem`` union requires. The generator now picks the union branch an object names by its ``type``
(:meth:`fakeai.generated.walker.Union.branch_for`); the resource model fills what that branch requires on reads.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from fakeai.generated.schema import GenContext, SchemaWalker
from fakeai.testing import async_client
from tests.conftest import make_app

REASONING_ID = "rs_0123456789abcdef0123456789abcdef"
ITEMS: list[Any] = [
    {"type": "message", "role": "user", "content": "What is on the screen?"},
    {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
    {"type": "function_call_output", "call_id": "call_1", "output": "15 C"},
    {
        "type": "computer_call_output",
        "call_id": "call_2",
        "output": {"type": "computer_screenshot", "image_url": "https://example.com/screen.png"},
    },
    {"type": "reasoning", "id": REASONING_ID, "summary": [{"type": "summary_text", "text": "Looked at it."}]},
]
PREFIXES = {"message": "msg_", "function_call": "fc_", "function_call_output": "fco_"}


def assert_kept(item: dict[str, Any], sent: dict[str, Any]) -> None:
    assert item["type"] == sent["type"]
    for name, value in sent.items():
        if name != "content":  # a message's string content is answered as an input_text part
            assert item[name] == value, name
    if sent["type"] in PREFIXES:
        assert item["id"].startswith(PREFIXES[sent["type"]])


async def test_initial_items_are_listed_and_retrieved_as_valid_items_of_their_type() -> None:
    app = make_app()
    async with async_client(app) as client:
        conversation = await client.conversations.create(items=ITEMS)
        listed = [
            i.model_dump(exclude_unset=True)
            for i in (await client.conversations.items.list(conversation.id, order="asc")).data
        ]
        assert [i["type"] for i in listed] == [i["type"] for i in ITEMS]
        for item, sent in zip(listed, ITEMS, strict=True):
            assert_kept(item, sent)
            again = await client.conversations.items.retrieve(item["id"], conversation_id=conversation.id)
            assert again.model_dump(exclude_unset=True) == item  # filled the same way on every read
        assert listed[3]["status"] == "completed"  # what the computer_call_output branch requires
        assert listed[0]["content"] == [{"type": "input_text", "text": "What is on the screen?"}]
    assert not app.violations


async def test_added_items_are_answered_listed_and_retrieved_as_valid_items() -> None:
    app = make_app()
    async with async_client(app) as client:
        conversation = await client.conversations.create()
        added = [
            i.model_dump(exclude_unset=True)
            for i in (await client.conversations.items.create(conversation.id, items=ITEMS)).data
        ]
        for item, sent in zip(added, ITEMS, strict=True):
            assert_kept(item, sent)
        listed = await client.conversations.items.list(conversation.id, order="asc")
        assert [i.model_dump(exclude_unset=True) for i in listed.data] == added
        retrieved = await client.conversations.items.retrieve(added[3]["id"], conversation_id=conversation.id)
        assert retrieved.model_dump(exclude_unset=True) == added[3]
    assert not app.violations


DOCUMENT: dict[str, Any] = {
    "components": {
        "schemas": {
            "Item": {"anyOf": [{"$ref": "#/components/schemas/Call"}, {"$ref": "#/components/schemas/Output"}]},
            "Call": {
                "type": "object",
                "required": ["type", "id", "name"],
                "properties": {"type": {"enum": ["call"]}, "id": {"type": "string"}, "name": {"type": "string"}},
            },
            "Output": {
                "type": "object",
                "required": ["type", "id", "status", "checks"],
                "properties": {
                    "type": {"type": "string", "enum": ["output"]},
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": ["in_progress", "completed", "incomplete"]},
                    "checks": {"type": "array", "items": {"type": "string"}},
                    "note": {"type": "string"},
                },
            },
        }
    }
}
ITEM = {"$ref": "#/components/schemas/Item"}


def context(seed: int, echo: dict[str, Any] | None = None) -> GenContext:
    return GenContext(rng=random.Random(seed), now=1_700_000_000, overrides={}, echo=echo or {})


@pytest.mark.parametrize("seed", range(8))
def test_an_echoed_type_selects_its_union_branch(seed: int) -> None:
    generate = SchemaWalker(DOCUMENT).compile(ITEM)
    made = generate(context(seed, {"type": "output", "id": "out_1"}))
    assert (made["type"], made["id"], made["status"]) == ("output", "out_1", "completed")
    assert isinstance(made["checks"], list)


def test_completion_adds_only_what_the_named_branch_requires() -> None:
    fill = SchemaWalker(DOCUMENT).completer(ITEM)
    assert fill(context(0), {"type": "output", "id": "o"}) == {
        "type": "output",
        "id": "o",
        "status": "completed",
        "checks": [],
    }
    assert fill(context(0), {"type": "call", "id": "c", "name": "f"}) == {"type": "call", "id": "c", "name": "f"}
    assert fill(context(0), {"type": "unknown", "id": "u"}) == {"type": "unknown", "id": "u"}  # no branch: as given


async def test_items_sent_to_a_placeholder_conversation_are_answered_valid_and_kept_nowhere() -> None:
    """SDK suites and fuzzers add items to ``conv_123``-style ids no one created: the answer is the items as the
    API would store them (nulls the server fills in are filled, nested objects completed), and nothing is
    stored, so the placeholder's list stays generated data rather than a page kept as one item."""
    app = make_app()
    sent: list[Any] = [
        {"type": "message", "role": "user", "content": "hi"},
        {"type": "message", "role": "assistant", "content": "hello"},
    ]
    async with async_client(app) as client:
        added = await client.conversations.items.create("conv_123", items=sent)
        listed = await client.conversations.items.list("conv_123")
    assert [item.type for item in added.data] == ["message", "message"]
    assert all(item.status == "completed" for item in added.data)
    assert all(item.id not in {i.id for i in listed.data} for item in added.data)  # kept nowhere
    assert not app.violations
