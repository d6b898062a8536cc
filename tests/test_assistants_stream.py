"""Assistants runs with ``stream: true`` through the official SDK: the event stream as the API sends it, the run
walked while it is answered (whatever the lifecycle scale), and stored objects equal to what was streamed."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.lib.streaming import AsyncAssistantEventHandler
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads import Message, Run

from fakeai.app import FakeAI
from fakeai.testing import async_client
from tests.conftest import make_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the Assistants API is deprecated

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TEXT_RUN = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
]
TEXT_END = ["thread.message.completed", "thread.run.step.completed", "thread.run.completed"]


@pytest.fixture(params=[0, 1], ids=["instant", "scale-1"])
def app(request: pytest.FixtureRequest) -> FakeAI:
    return make_app(lifecycle_scale=request.param)


class Recorder(AsyncAssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.deltas: list[str] = []
        self.names: list[str] = []

    async def on_event(self, event: AssistantStreamEvent) -> None:
        self.names.append(event.event)

    async def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.deltas.append(delta.value or "")


async def test_runs_stream_delivers_the_reply_token_by_token_and_the_completed_run(app: FakeAI) -> None:
    async with async_client(app) as client:
        assistant = await client.beta.assistants.create(model="gpt-4o", instructions="Be brief.")
        thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Hello there"}])
        handler = Recorder()
        async with client.beta.threads.runs.stream(
            thread_id=thread.id, assistant_id=assistant.id, event_handler=handler
        ) as stream:
            await stream.until_done()
            run = await stream.get_final_run()
            [message] = await stream.get_final_messages()
        assert handler.names[: len(TEXT_RUN)] == TEXT_RUN and handler.names[-3:] == TEXT_END
        assert len(handler.deltas) > 1 and handler.names.count("thread.message.delta") == len(handler.deltas)
        assert "".join(handler.deltas) == message.content[0].text.value  # type: ignore[union-attr]
        assert run.status == "completed" and run.usage is not None and run.usage.completion_tokens > 0
        assert run.started_at is not None and run.completed_at is not None
    assert not app.violations


async def test_streamed_run_leaves_the_store_as_it_streamed(app: FakeAI) -> None:
    async with async_client(app) as client:
        assistant = await client.beta.assistants.create(model="gpt-4o")
        thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Tell me a story"}])
        events = [
            event
            async for event in await client.beta.threads.runs.create(
                thread_id=thread.id, assistant_id=assistant.id, stream=True
            )
        ]
        done = {event.event: event.data for event in events}
        run, message = done["thread.run.completed"], done["thread.message.completed"]
        assert isinstance(run, Run) and isinstance(message, Message)
        assert await client.beta.threads.runs.retrieve(run.id, thread_id=thread.id) == run
        assert await client.beta.threads.messages.retrieve(message.id, thread_id=thread.id) == message
        listed = (await client.beta.threads.messages.list(thread.id, order="asc")).data
        assert [m.role for m in listed] == ["user", "assistant"] and listed[1] == message
        steps = (await client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id)).data
        assert steps == [done["thread.run.step.completed"]]
    assert not app.violations


async def test_create_and_run_stream_announces_its_thread_first(app: FakeAI) -> None:
    async with async_client(app) as client:
        assistant = await client.beta.assistants.create(model="gpt-4o-mini")
        async with client.beta.threads.create_and_run_stream(
            assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Hi"}]}
        ) as stream:
            names = [event.event async for event in stream]
            run = await stream.get_final_run()
        assert names[0] == "thread.created" and names[1 : 1 + len(TEXT_RUN)] == TEXT_RUN and names[-3:] == TEXT_END
        messages = (await client.beta.threads.messages.list(run.thread_id, order="asc")).data
        assert [(m.role, m.run_id) for m in messages] == [("user", None), ("assistant", run.id)]
        assert (await client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)).status == "completed"
    assert not app.violations


async def test_function_tool_run_streams_to_requires_action_then_submit_streams_to_completed(app: FakeAI) -> None:
    async with async_client(app) as client:
        assistant = await client.beta.assistants.create(model="gpt-4o", tools=[WEATHER])  # type: ignore[list-item]
        thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Weather in Paris?"}])
        async with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
            names = [event.event async for event in stream]
            run = await stream.get_final_run()
            [step] = await stream.get_final_run_steps()
        assert names[:5] == TEXT_RUN[:5] and names[-1] == "thread.run.requires_action"
        assert "thread.run.step.delta" in names and "thread.message.created" not in names
        assert run.status == "requires_action" and run.required_action is not None
        [call] = run.required_action.submit_tool_outputs.tool_calls
        streamed = step.step_details.tool_calls[0].function  # type: ignore[union-attr]
        assert (streamed.name, streamed.arguments) == ("get_weather", call.function.arguments)
        assert await client.beta.threads.runs.retrieve(run.id, thread_id=thread.id) == run
        async with client.beta.threads.runs.submit_tool_outputs_stream(
            run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "22C and sunny"}]
        ) as stream:
            names = [event.event async for event in stream]
            done = await stream.get_final_run()
        assert names[:2] == ["thread.run.in_progress", "thread.run.step.completed"] and names[-3:] == TEXT_END
        assert done.status == "completed" and done.required_action is None and done.usage is not None
        assert await client.beta.threads.runs.retrieve(run.id, thread_id=thread.id) == done
        steps = (await client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id, order="asc")).data
        assert [(s.type, s.status) for s in steps] == [("tool_calls", "completed"), ("message_creation", "completed")]
        assert steps[0].step_details.tool_calls[0].function.output == "22C and sunny"  # type: ignore[union-attr]
        messages = (await client.beta.threads.messages.list(thread.id, order="asc")).data
        assert [m.role for m in messages] == ["user", "assistant"]
    assert not app.violations


async def test_submitting_to_a_completed_run_is_a_400_not_a_stream(app: FakeAI) -> None:
    async with async_client(app) as client:
        assistant = await client.beta.assistants.create(model="gpt-4o")
        thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
        async with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
            run = await stream.get_final_run()
        with pytest.raises(openai.BadRequestError):
            async with client.beta.threads.runs.submit_tool_outputs_stream(
                run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "call_x", "output": "x"}]
            ) as stream:
                await stream.until_done()
    assert not app.violations
