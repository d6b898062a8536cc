"""The Responses API's hosted tools through the official SDK: web_search, code_interpreter and image_generation
call items ahead of the message, their citations and outputs, their stream events in order, and when a model
calls them (tool_choice, the user's words, a lone tool)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from fakeai.app import FakeAI
from fakeai.testing import async_client

MODEL = "gpt-4.1-mini"
WEB = {"type": "web_search"}
CODE = {"type": "code_interpreter", "container": {"type": "auto"}}
IMAGE = {"type": "image_generation", "size": "1024x1536", "output_format": "png"}
FUNCTION = {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}, "strict": False}


async def test_web_search_calls_then_cites_sources(app: FakeAI) -> None:
    client = async_client(app)
    response = await client.responses.create(
        model=MODEL,
        input="What is the latest news about volcanoes?",
        tools=[{**WEB, "filters": {"allowed_domains": ["volcano.si.edu"]}}],
        include=["web_search_call.action.sources"],
    )
    call, message = response.output[0], response.output[1]
    assert (call.type, call.status) == ("web_search_call", "completed") and call.id.startswith("ws_")
    assert call.action.type == "search" and call.action.query == "What is the latest news about volcanoes?"
    urls = [source.url for source in call.action.sources]
    assert urls and all(url.startswith("https://volcano.si.edu/") for url in urls)
    text = message.content[0].text
    citations = message.content[0].annotations
    assert [c.url for c in citations] == urls
    assert citations[0].start_index == 0 and citations[-1].end_index == len(text)
    assert all(c.type == "url_citation" and c.title for c in citations)
    assert response.output_text == text


async def test_sources_only_when_included(app: FakeAI) -> None:
    response = await async_client(app).responses.create(model=MODEL, input="search the web for otters", tools=[WEB])
    assert response.output[0].action.sources is None


async def test_code_interpreter_adds_up_the_numbers_without_running_anything(app: FakeAI) -> None:
    response = await async_client(app).responses.create(
        model=MODEL,
        input="Please calculate 12 + 30.5 and 7",
        tools=[CODE],
        include=["code_interpreter_call.outputs"],
    )
    call = response.output[0]
    assert call.type == "code_interpreter_call" and call.id.startswith("ci_") and call.status == "completed"
    assert call.container_id.startswith("cntr_")
    assert call.code == "values = [12, 30.5, 7]\nprint(sum(values))"
    assert [(o.type, o.logs) for o in call.outputs] == [("logs", "49.5\n")]
    assert response.output[1].type == "message"


async def test_a_named_container_is_kept_and_outputs_need_include(app: FakeAI) -> None:
    response = await async_client(app).responses.create(
        model=MODEL, input="hello", tools=[{"type": "code_interpreter", "container": "cntr_abc"}],
        tool_choice={"type": "code_interpreter"},
    )  # fmt: skip
    assert response.output[0].container_id == "cntr_abc" and response.output[0].outputs is None


async def test_image_generation_returns_a_decodable_image_of_the_size(app: FakeAI) -> None:
    response = await async_client(app).responses.create(model=MODEL, input="Draw a lighthouse", tools=[IMAGE])
    call = response.output[0]
    assert call.type == "image_generation_call" and call.id.startswith("ig_") and call.status == "completed"
    png = base64.b64decode(call.result)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1024, 1536)


@pytest.mark.parametrize(
    ("tools", "choice", "text", "called"),
    [
        ([WEB, FUNCTION], "auto", "Tell me a joke", []),  # nothing asks for a search
        ([WEB, FUNCTION], "auto", "Search for the current price of gold", ["web_search_call"]),
        ([WEB], "auto", "Tell me a joke", ["web_search_call"]),  # the only tool offered
        ([WEB], "none", "Search for the current price of gold", []),
        ([WEB, CODE], {"type": "code_interpreter"}, "Search the news", ["code_interpreter_call"]),
        ([WEB, CODE, IMAGE], "auto", "search the news and draw a picture of it",
         ["web_search_call", "image_generation_call"]),
        ([WEB, FUNCTION], "required", "Search the news", []),  # a function is required: it is called instead
    ],
)  # fmt: skip
async def test_when_hosted_tools_are_called(
    app: FakeAI, tools: list[Any], choice: Any, text: str, called: list[str]
) -> None:
    response = await async_client(app).responses.create(model=MODEL, input=text, tools=tools, tool_choice=choice)
    hosted = [item.type for item in response.output if item.type.endswith("_call") and item.type != "function_call"]
    assert hosted == called


async def test_the_stream_sends_each_calls_events_in_order(app: FakeAI) -> None:
    client = async_client(app)
    ask: dict[str, Any] = {
        "model": MODEL, "input": "Search the web and calculate 2 and 3, then draw it",
        "extra_headers": {"x-fakeai-seed": "5"},
        "tools": [WEB, CODE, {**IMAGE, "partial_images": 2}],
    }  # fmt: skip
    whole = await client.responses.create(**ask)
    events = [event async for event in await client.responses.create(**ask, stream=True)]
    kinds = [event.type for event in events]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    web = kinds.index("response.web_search_call.in_progress")
    assert kinds[web - 1 : web + 4] == [
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_item.done",
    ]
    deltas = "".join(e.delta for e in events if e.type == "response.code_interpreter_call_code.delta")
    done = next(e for e in events if e.type == "response.code_interpreter_call_code.done")
    assert deltas == done.code == "values = [2, 3]\nprint(sum(values))"
    assert kinds.index("response.code_interpreter_call.interpreting") < kinds.index(
        "response.code_interpreter_call.completed"
    )
    partial = [e for e in events if e.type == "response.image_generation_call.partial_image"]
    assert [e.partial_image_index for e in partial] == [0, 1]
    final = events[-1].response
    assert [item.type for item in final.output][:3] == [
        "web_search_call",
        "code_interpreter_call",
        "image_generation_call",
    ]
    message = next(e for e in events if e.type == "response.output_item.added" and e.item.type == "message")
    assert message.output_index == 3
    added = [e.annotation for e in events if e.type == "response.output_text.annotation.added"]
    assert [a.url for a in added] == [a.url for a in final.output[3].content[0].annotations]
    assert final.output[3].content[0].text == whole.output[3].content[0].text
    assert final.output[2].result == whole.output[2].result  # the same seeded image
