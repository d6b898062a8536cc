"""Scenario rules that see a Responses chain's earlier turns, and ``resource:`` rules that script stateful objects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from fakeai.app import FakeAI
from fakeai.cli import main
from fakeai.errors import ScenarioError
from fakeai.testing import async_client
from tests.conftest import scenario_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the Assistants API is deprecated
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


@pytest.fixture
def sapp() -> Iterator[FakeAI]:
    """An app (instant lifecycles) whose runtime-loaded scenarios are removed after each test."""
    yield from scenario_app(lifecycle_scale=0)


def load(app: FakeAI, name: str, text: str) -> None:
    assert app.scenarios is not None
    app.scenarios.load(name, text)


CHAIN = """
rules:
  - name: second-turn
    match: {operation: createResponse, turn: 2, last_user_message: {contains: "and tomorrow", ignore_case: true}}
    respond: {content: "Tomorrow: rain ({{ turn }} turns)."}
  - name: remembers
    match: {operation: createResponse, turn: {gte: 2}}
    respond: {content: "I remember you asked about Paris."}
"""


async def test_a_turn_2_rule_answers_the_second_response_of_a_previous_response_id_chain(sapp: FakeAI) -> None:
    load(sapp, "chain", CHAIN)
    async with async_client(sapp, headers={"x-fakeai-namespace": "chain"}) as client:
        first = await client.responses.create(model="gpt-4o-mini", input="Weather in Paris?")
        assert "Tomorrow" not in first.output_text and "remember" not in first.output_text  # turn 1: no rule
        second = await client.responses.create(
            model="gpt-4o-mini", input="And tomorrow?", previous_response_id=first.id
        )
        third = await client.responses.create(model="gpt-4o-mini", input="Thanks", previous_response_id=second.id)
    assert second.output_text == "Tomorrow: rain (2 turns)."  # templates see the chain too
    assert third.output_text == "I remember you asked about Paris."


async def test_a_conversation_is_seen_with_its_earlier_turns(sapp: FakeAI) -> None:
    load(sapp, "chain", CHAIN)
    async with async_client(sapp, headers={"x-fakeai-namespace": "conversation"}) as client:
        conversation = await client.conversations.create()
        await client.responses.create(model="gpt-4o-mini", input="Weather in Paris?", conversation=conversation.id)
        second = await client.responses.create(model="gpt-4o-mini", input="and tomorrow?", conversation=conversation.id)
    assert second.output_text == "Tomorrow: rain (2 turns)."


FAIL_NEXT_BATCH = """
rules:
  - name: next-batch-fails
    times: 1
    match: {operation: createBatch}
    resource:
      status: failed
      fields:
        errors:
          object: list
          data: [{code: token_limit_exceeded, message: "Enqueued token limit reached for {{ body.endpoint }}."}]
"""


def chat_line(custom_id: str) -> bytes:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    return orjson.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})


async def test_a_scenario_makes_the_next_batch_fail_and_the_one_after_completes(sapp: FakeAI) -> None:
    load(sapp, "batches", FAIL_NEXT_BATCH)
    async with async_client(sapp, headers={"x-fakeai-namespace": "batches"}) as client:
        source = await client.files.create(file=("in.jsonl", chat_line("a") + b"\n"), purpose="batch")
        args = {"input_file_id": source.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        failing = await client.batches.create(**args)  # type: ignore[arg-type]
        later = await client.batches.retrieve(failing.id)
        second = await client.batches.create(**args)  # type: ignore[arg-type]
        done = await client.batches.retrieve(second.id)
    assert (failing.status, later.status) == ("failed", "failed") and later.failed_at is not None
    assert later.errors is not None and later.errors.data is not None
    assert later.errors.data[0].message == "Enqueued token limit reached for /v1/chat/completions."
    assert later.output_file_id is None  # its lines never ran
    assert done.status == "completed" and done.failed_at is None and done.output_file_id is not None


RUN_TOOLS = """
rules:
  - name: run-needs-weather
    match: {operation: createRun}
    resource:
      tool_calls: [{name: get_weather, id: call_paris, arguments: {city: Paris}}]
"""


async def test_a_scenario_gives_a_run_tool_calls_then_the_outputs_complete_it(sapp: FakeAI) -> None:
    load(sapp, "runs", RUN_TOOLS)
    async with async_client(sapp, headers={"x-fakeai-namespace": "runs"}) as client:
        assistant = await client.beta.assistants.create(model="gpt-4o", tools=[WEATHER])  # type: ignore[list-item]
        thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
        run = await client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=10
        )
        assert run.status == "requires_action" and run.required_action is not None
        calls = run.required_action.submit_tool_outputs.tool_calls
        assert [(c.id, c.function.name, orjson.loads(c.function.arguments)) for c in calls] == [
            ("call_paris", "get_weather", {"city": "Paris"})
        ]
        done = await client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": "call_paris", "output": "22C"}],
            poll_interval_ms=10,
        )
    assert done.status == "completed" and done.required_action is None


BAD = """rules:
  - match: {operation: retrieveBatch}
    resource:
      status: faild
      fields: {colour: red}
"""


def test_fakeai_check_rejects_an_unknown_state_and_field_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:4:7: unknown state 'faild' for batch (did you mean 'failed'?)" in err
    assert f"{bad}:5:16: batch has no field 'colour'" in err


def test_the_server_refuses_a_resource_rule_with_an_unknown_state_at_load(sapp: FakeAI) -> None:
    with pytest.raises(ScenarioError, match="unknown state 'faild' for batch"):
        load(sapp, "bad", BAD)
    assert sapp.scenarios is not None and not sapp.scenarios.summary()  # the bad file was not kept
