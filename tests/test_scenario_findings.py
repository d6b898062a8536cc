"""Scenario behaviour real clients ran into: the Responses tool loop by tool name, one conversation per first
turn in ``conversation: response`` mode, and stalls that stall without inter-token latency."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from fakeai.app import FakeAI
from fakeai.context import Frame, Output, Timing
from fakeai.scenario.faults import Fault
from fakeai.simulators.faults import FaultTiming
from fakeai.testing import async_client
from tests.conftest import scenario_app

WEATHER_TOOL: Any = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]
CALL_THEN_ANSWER = """
rules:
  - name: answer
    match: {operation: createResponse, tool_result: {name: get_weather}}
    respond: {content: "It is sunny ({{ match.tool_call_id }})."}
  - name: call
    match: {operation: createResponse}
    respond:
      tool_calls: [{name: get_weather, id: call_paris, arguments: {city: Paris}}]
"""
ANSWER_ONLY = """
rules:
  - name: answer
    match: {operation: createResponse, tool_result: {name: get_weather}}
    respond: {content: "It is sunny ({{ match.tool_call_id }})."}
"""


@pytest.fixture
def sapp() -> Iterator[FakeAI]:
    yield from scenario_app(seed=4242)


def engine(app: FakeAI) -> Any:
    assert app.scenarios is not None
    return app.scenarios


async def _send_result(client: Any, previous: str, call_id: str) -> Any:
    """The usual tool loop: only the function_call_output, the call itself is in the stored response."""
    return await client.responses.create(
        model="gpt-4o",
        previous_response_id=previous,
        input=[{"type": "function_call_output", "call_id": call_id, "output": '{"sky": "clear"}'}],
        tools=WEATHER_TOOL,
    )


# 1. tool_result: {name: ...} finds the call in the stored response ------------------------------------------------
async def test_tool_result_by_name_finds_the_call_in_the_previous_response(sapp: FakeAI) -> None:
    engine(sapp).load("loop", CALL_THEN_ANSWER)
    client = async_client(sapp)
    first = await client.responses.create(model="gpt-4o", input="Weather in Paris?", tools=WEATHER_TOOL)
    second = await _send_result(client, first.id, "call_paris")
    assert second.output_text == "It is sunny (call_paris)."


async def test_tool_result_by_name_after_a_streamed_call(sapp: FakeAI) -> None:
    engine(sapp).load("loop", CALL_THEN_ANSWER)
    client = async_client(sapp)
    stream = await client.responses.create(model="gpt-4o", input="Weather?", tools=WEATHER_TOOL, stream=True)
    final = [event async for event in stream][-1].response
    second = await _send_result(client, final.id, "call_paris")
    assert second.output_text == "It is sunny (call_paris)."


async def test_tool_result_by_name_after_a_generated_call(sapp: FakeAI) -> None:
    engine(sapp).load("loop", ANSWER_ONLY)
    client = async_client(sapp)
    first = await client.responses.create(
        model="gpt-4o", input="Weather in Paris?", tools=WEATHER_TOOL, tool_choice="required"
    )
    call = next(item for item in first.output if item.type == "function_call")
    second = await _send_result(client, first.id, call.call_id)
    assert second.output_text == f"It is sunny ({call.call_id})."


async def test_tool_result_by_name_does_not_match_another_tools_call(sapp: FakeAI) -> None:
    engine(sapp).load("loop", CALL_THEN_ANSWER.replace("name: get_weather}", "name: get_time}"))
    client = async_client(sapp)
    first = await client.responses.create(model="gpt-4o", input="Weather in Paris?", tools=WEATHER_TOOL)
    second = await _send_result(client, first.id, "call_paris")
    assert second.output_text != "It is sunny (call_paris)."


# 2. conversation: response -- each first turn starts its own conversation -----------------------------------------
PER_RESPONSE = """
conversation: response
rules:
  - name: greet
    when_state: started
    match: {operation: createResponse}
    respond: {content: "What is your order number?"}
    set_state: asked
  - name: order
    when_state: asked
    match: {operation: createResponse}
    respond: {content: "Order noted."}
    set_state: done
  - name: closed
    when_state: done
    match: {operation: createResponse}
    respond: {content: "Closed."}
"""


async def test_response_mode_gives_every_first_turn_its_own_conversation(sapp: FakeAI) -> None:
    engine(sapp).load("orders", PER_RESPONSE)
    client = async_client(sapp)
    alice = await client.responses.create(model="gpt-4o", input="hi, Alice here")
    bob = await client.responses.create(model="gpt-4o", input="hi, Bob here")  # the same bytes: the same resp id
    assert (alice.output_text, bob.output_text) == ("What is your order number?", "What is your order number?")
    alice2 = await client.responses.create(model="gpt-4o", input="1234", previous_response_id=alice.id)
    assert alice2.output_text == "Order noted."
    alice3 = await client.responses.create(model="gpt-4o", input="bye", previous_response_id=alice2.id)
    bob2 = await client.responses.create(model="gpt-4o", input="5678", previous_response_id=bob.id)
    assert (alice3.output_text, bob2.output_text) == ("Closed.", "Order noted.")


# 3. stall stalls without --itl --------------------------------------------------------------------------------------
def test_a_stall_gives_deadlines_to_frames_the_latency_simulator_left_undated() -> None:
    frames = [Frame({"n": n}, tokens=1) for n in range(4)]
    output = Output(frames=frames, fault=Fault("stall", after=2, seconds=0.5))
    timing = FaultTiming().simulate(None, output, Timing(first=0.1))  # type: ignore[arg-type]  # ctx unused
    assert tuple(timing.frames) == (0.1, 0.1, 0.6, 0.6)


STALL = """
rules:
  - name: story
    match: {operation: createChatCompletion}
    respond: {content: "one two three four five six"}
    chaos:
      - {probability: 1, fault: stall, after: 2, seconds: 0.4}
"""


async def test_a_stall_delays_the_stream_with_zero_itl(sapp: FakeAI) -> None:
    assert sapp.settings.itl == "0"
    engine(sapp).load("stall", STALL)
    client = async_client(sapp)
    started = time.perf_counter()
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    assert text == "one two three four five six"
    assert time.perf_counter() - started >= 0.4


async def _expectation(app: FakeAI) -> dict[str, Any]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://fakeai.test") as admin:
        answer = await admin.get("/_fakeai/expectations", headers={"authorization": "Bearer sk-test"})
    result: dict[str, Any] = answer.json()["results"][0]
    return result


@pytest.mark.parametrize(("before_turn", "passed"), [(2, True), (1, False)])
async def test_sends_tool_result_by_name_follows_the_responses_chain(
    sapp: FakeAI, before_turn: int, passed: bool
) -> None:
    """The journal's expectation resolves the call's name (and the chain's turns) from the earlier answer."""
    expect = f"expect:\n  - sends_tool_result: {{call: get_weather, before_turn: {before_turn}}}\n"
    engine(sapp).load("loop", CALL_THEN_ANSWER + expect)
    client = async_client(sapp)
    first = await client.responses.create(model="gpt-4o", input="Weather in Paris?", tools=WEATHER_TOOL)
    await _send_result(client, first.id, "call_paris")
    result = await _expectation(sapp)
    assert (result["passed"], "sent at turn 1" in result["detail"]) == (passed, True), result
