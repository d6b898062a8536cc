"""The realtime WebSocket fake through the official SDK's ``client.realtime.connect()`` over a real socket.

Every server event is self-checked against the spec's ``RealtimeServerEvent*`` schemas (validate_responses
strict): each test ends by asserting ``app.violations`` is empty.
"""

from __future__ import annotations

import base64
import json
import math
import random
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from fakeai.app import FakeAI, create_app
from fakeai.config import Settings
from fakeai.realtime import audio
from fakeai.testing import Server, serve

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeAI, Server]]:
    app = create_app(Settings(validate_responses="strict", output_length="12:0"))
    with serve(app) as server:
        yield app, server


@pytest.fixture
def app(served: tuple[FakeAI, Server]) -> Iterator[FakeAI]:
    served[0].violations.clear()
    yield served[0]
    assert served[0].violations == []


def connect(server: Server, base: str = "/v1", key: str = "sk-test", model: str = "gpt-realtime") -> Any:
    client = openai.AsyncOpenAI(base_url=server.base_url + base, api_key=key, max_retries=0)
    return client.realtime.connect(model=model)


async def until(conn: Any, last: str) -> list[Any]:
    """Events up to and including the first of type ``last``."""
    events = []
    async for event in conn:
        events.append(event)
        if event.type == last:
            return events
    raise AssertionError(f"the connection closed before {last}")


def of(events: list[Any], kind: str) -> list[Any]:
    return [e for e in events if e.type == kind]


def pcm(*parts: tuple[float, float]) -> bytes:
    """PCM16 24 kHz: ``(seconds, amplitude)`` pieces of a 200 Hz tone (amplitude 0: silence)."""
    out = bytearray()
    for seconds, amplitude in parts:
        n = round(seconds * audio.RATE)
        out += b"".join(
            struct.pack("<h", round(amplitude * 32767 * math.sin(2 * math.pi * 200 * i / audio.RATE))) for i in range(n)
        )
    return bytes(out)


async def say(conn: Any, text: str) -> None:
    await conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )


async def test_text_turn(app: FakeAI, served: tuple[FakeAI, Server]) -> None:
    async with connect(served[1]) as conn:
        created = await conn.recv()
        assert created.type == "session.created" and created.session.model == "gpt-realtime"
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        assert (await conn.recv()).session.output_modalities == ["text"]
        await say(conn, "Hello there")
        added = await until(conn, "conversation.item.done")
        await conn.response.create()
        events = await until(conn, "rate_limits.updated")
    assert of(added, "conversation.item.added")[0].item.content[0].text == "Hello there"
    kinds = [e.type for e in events if not e.type.endswith(".delta")]
    assert kinds == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
        "rate_limits.updated",
    ]
    deltas = of(events, "response.output_text.delta")
    done = of(events, "response.done")[0].response
    assert "".join(d.delta for d in deltas) == of(events, "response.output_text.done")[0].text
    assert done.status == "completed" and done.usage.output_tokens == len(deltas) > 0
    assert done.usage.input_tokens > 0


async def test_audio_turn_with_server_vad_and_transcription(app: FakeAI, served: tuple[FakeAI, Server]) -> None:
    speech = pcm((0.5, 0.0), (1.0, 0.5), (0.6, 0.0))
    async with connect(served[1]) as conn:
        await conn.recv()
        await conn.session.update(
            session={
                "type": "realtime",
                "output_modalities": ["audio"],
                "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
            }
        )
        await until(conn, "session.updated")
        for start in range(0, len(speech), 4800):  # 100 ms appends
            await conn.input_audio_buffer.append(audio=base64.b64encode(speech[start : start + 4800]).decode())
        events = await until(conn, "response.done")
    started = of(events, "input_audio_buffer.speech_started")[0]
    stopped = of(events, "input_audio_buffer.speech_stopped")[0]
    assert started.audio_start_ms == 500 - 300  # speech at 500 ms, minus prefix_padding_ms
    assert stopped.audio_end_ms == 1500 + 200  # speech ends at 1500 ms, plus silence_duration_ms
    assert of(events, "input_audio_buffer.committed")[0].item_id == started.item_id == stopped.item_id
    heard = of(events, "conversation.item.input_audio_transcription.completed")[0].transcript
    assert len(heard.split()) == round(1.7 / audio.SECONDS_PER_WORD)  # the 1.7 s committed, 0.3 s a word
    transcript = of(events, "response.output_audio_transcript.done")[0].transcript
    assert "".join(e.delta for e in of(events, "response.output_audio_transcript.delta")) == transcript
    spoken = b"".join(base64.b64decode(e.delta) for e in of(events, "response.output_audio.delta"))
    assert audio.seconds_of(spoken) == pytest.approx(len(transcript.split()) * audio.SECONDS_PER_WORD, abs=0.01)
    assert np.max(np.abs(np.frombuffer(spoken, "<i2"))) > 3000  # not silence
    done = of(events, "response.done")[0].response
    assert done.usage.output_token_details.audio_tokens > 0 and done.usage.input_token_details.audio_tokens > 0


async def test_tool_call_round_trip(app: FakeAI, served: tuple[FakeAI, Server]) -> None:
    async with connect(served[1]) as conn:
        await conn.recv()
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "tools": [WEATHER]})
        await until(conn, "session.updated")
        await say(conn, "What is the weather in Paris?")
        await conn.response.create()
        first = await until(conn, "response.done")
        call = of(first, "response.function_call_arguments.done")[0]
        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": '{"temperature": 21}'}
        )
        await conn.response.create()
        second = await until(conn, "response.done")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    assert "".join(e.delta for e in of(first, "response.function_call_arguments.delta")) == call.arguments
    item = of(first, "response.done")[0].response.output[0]
    assert (item.type, item.call_id, item.arguments) == ("function_call", call.call_id, call.arguments)
    answer = of(second, "response.done")[0].response.output[0]
    assert answer.type == "message" and answer.content[0].text  # after the tool's output: text


async def test_text_without_asking_for_a_tool(app: FakeAI, served: tuple[FakeAI, Server]) -> None:
    async with connect(served[1]) as conn:
        await conn.recv()
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "tools": [WEATHER]})
        await say(conn, "Tell me a story")
        await conn.response.create()
        events = await until(conn, "response.done")
    assert of(events, "response.done")[0].response.output[0].type == "message"


async def test_cancel_stops_the_response() -> None:
    app = create_app(Settings(validate_responses="strict", output_length="200:0", itl="5"))
    with serve(app) as server:
        async with connect(server) as conn:
            await conn.recv()
            await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            await say(conn, "Write a long essay")
            await conn.response.create()
            await until(conn, "response.output_text.delta")
            await conn.response.cancel()
            events = await until(conn, "response.done")
    done = of(events, "response.done")[0].response
    assert done.status == "cancelled" and done.status_details.reason == "client_cancelled"
    assert done.output[0].status == "incomplete"
    assert len(of(events, "response.output_text.delta")) < 150
    assert app.violations == []


async def test_invalid_events_get_error_events(app: FakeAI, served: tuple[FakeAI, Server]) -> None:
    async with connect(served[1]) as conn:
        await conn.recv()
        await conn.send_raw("{not json")
        await conn.send_raw(json.dumps({"type": "session.teleport", "event_id": "evt_unknown"}))
        await conn.send_raw(json.dumps({"type": "conversation.item.create", "event_id": "evt_noitem"}))
        await conn.send_raw(json.dumps({"type": "conversation.item.delete", "event_id": "evt_gone", "item_id": "x"}))
        errors = [await conn.recv() for _ in range(4)]
    assert [e.type for e in errors] == ["error"] * 4
    assert [e.error.event_id for e in errors] == [None, "evt_unknown", "evt_noitem", "evt_gone"]
    assert [e.error.code for e in errors] == [
        "invalid_json",
        "invalid_value",
        "missing_required_parameter",
        "item_not_found",
    ]
    assert errors[2].error.param == "item"


async def test_item_retrieve_and_delete(app: FakeAI, served: tuple[FakeAI, Server]) -> None:
    async with connect(served[1]) as conn:
        await conn.recv()
        await conn.conversation.item.create(
            item={
                "id": "item_mine",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            }
        )
        await until(conn, "conversation.item.done")
        await conn.conversation.item.retrieve(item_id="item_mine")
        retrieved = await conn.recv()
        await conn.conversation.item.delete(item_id="item_mine")
        deleted = await conn.recv()
        await conn.conversation.item.retrieve(item_id="item_mine", event_id="evt_again")
        missing = await conn.recv()
    assert retrieved.type == "conversation.item.retrieved" and retrieved.item.content[0].text == "hi"
    assert (deleted.type, deleted.item_id) == ("conversation.item.deleted", "item_mine")
    assert (missing.type, missing.error.event_id) == ("error", "evt_again")


async def test_served_under_every_base_path(app: FakeAI, served: tuple[FakeAI, Server]) -> None:
    async with connect(served[1], base="") as conn:
        assert (await conn.recv()).type == "session.created"


async def test_api_keys_refuse_other_tokens() -> None:
    app = create_app(Settings(validate_responses="strict", api_keys=("sk-right",)))
    with serve(app) as server:
        with pytest.raises(Exception, match="401"):
            async with connect(server, key="sk-wrong") as conn:
                await conn.recv()
        async with connect(server, key="sk-right") as conn:
            assert (await conn.recv()).type == "session.created"
    assert app.violations == []


def test_an_invalid_server_event_is_a_violation(app: FakeAI) -> None:
    """The self-check is real: a frame the spec rejects is reported (the tests above could fail)."""
    schemas = app.asgi.websocket.schemas  # type: ignore[attr-defined]
    assert schemas.server_problems({"type": "response.done", "event_id": "e", "response": {"status": "nope"}})
    assert schemas.server_problems({"type": "session.teleported", "event_id": "e"})
    assert schemas.server_problems({"type": "rate_limits.updated", "event_id": "e", "rate_limits": []}) == []


def test_vad_finds_speech_by_energy() -> None:
    vad = audio.VoiceActivity(threshold=0.5, prefix_padding_ms=100, silence_duration_ms=200)
    changes = vad.feed(pcm((0.2, 0.0), (0.4, 0.3), (0.3, 0.001)))
    assert changes == [("speech_started", 100), ("speech_stopped", 800)]
    assert vad.feed(audio.speech(0.1, random.Random(1))) == [("speech_started", 800)]  # at 900 ms, minus the padding


# -- the HTTP machinery over realtime: journal, metrics, scenarios, chaos --------------------------------------

SCRIPTED = """
rules:
  - name: greet
    match: {operation: createChatCompletion, last_user_message: {regex: "weather in (?P<city>\\\\w+)"}}
    respond: {content: "Sunny in {{ match.city }}."}
  - name: call
    match: {operation: createChatCompletion, last_user_message: {contains: "look it up"}}
    respond: {tool_calls: [{name: lookup, arguments: {q: "fakeai"}}, {name: lookup, arguments: {q: "realtime"}}]}
  - name: busy
    match: {operation: createChatCompletion, last_user_message: {contains: "busy"}}
    respond: {error: {status: 503}}
  - name: denied
    match: {operation: createChatCompletion, last_user_message: {contains: "forbidden"}}
    respond: {error: {status: 400, code: not_allowed, message: "Not allowed."}}
  - name: drop
    match: {operation: createChatCompletion, last_user_message: {contains: "drop"}}
    respond: {content: "one two three four five six seven eight nine ten"}
    chaos: [{name: reset, probability: 1, fault: reset, after: 3}]
  - name: flaky
    match: {operation: createChatCompletion, last_user_message: {contains: "flaky"}}
    respond: {content: "one two three four five six"}
    chaos: [{name: boom, probability: 1, fault: error_frame, after: 2}]
  - name: slow
    match: {operation: createChatCompletion, last_user_message: {contains: "slowly"}}
    respond: {content: "Finally.", delay_ms: 300}
"""


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[FakeAI, Server]]:
    app = create_app(Settings(validate_responses="strict"))
    assert app.scenarios is not None
    app.scenarios.load("realtime", SCRIPTED)
    with serve(app) as server:
        yield app, server


async def text_turn(server: Server, said: str, namespace: str = "") -> list[Any]:
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="sk-test", max_retries=0)
    headers = {"x-fakeai-namespace": namespace} if namespace else {}
    async with client.realtime.connect(model="gpt-realtime", extra_headers=headers) as conn:
        await conn.recv()
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await say(conn, said)
        await conn.response.create()
        return await until(conn, "response.done")


async def test_each_response_is_journaled_and_counted(app: FakeAI, served: tuple[FakeAI, Server]) -> None:
    events = await text_turn(served[1], "Hello journal", namespace="rt-journal")
    done = of(events, "response.done")[0].response
    journal = httpx.get(served[1].base_url + "/_fakeai/journal", params={"namespace": "rt-journal"}).json()["data"]
    assert len(journal) == 1
    entry = journal[0]
    assert (entry["operation"], entry["path"], entry["status"], entry["source"]) == (
        "realtime",
        "/v1/realtime",
        200,
        "llm",
    )
    assert entry["request"]["model"] == "gpt-realtime"
    assert entry["request"]["messages"] == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello journal"},
    ]
    assert entry["conversation"].startswith("conv_")
    response = events[[e.type for e in events].index("response.created") :]
    assert entry["stream"]["frames"] == len(response)  # every event of the response, as sent
    assert entry["stream"]["first"]["type"] == "response.created"
    last = entry["stream"]["last"]
    assert last["type"] == "response.done" and last["response"]["usage"]["output_tokens"] == done.usage.output_tokens
    metrics = httpx.get(served[1].base_url + "/_fakeai/metrics").text
    assert 'fakeai_requests_total{operation="realtime",source="llm",status="200"}' in metrics
    streamed = [
        line for line in metrics.splitlines() if line.startswith('fakeai_tokens_streamed_total{operation="realtime"')
    ]
    assert streamed and float(streamed[0].split()[-1]) >= 12


async def test_scenario_rules_answer_realtime_turns(scripted: tuple[FakeAI, Server]) -> None:
    app, server = scripted
    events = await text_turn(server, "What is the weather in Paris?")
    assert of(events, "response.output_text.done")[0].text == "Sunny in Paris."
    done = of(events, "response.done")[0].response
    assert done.status == "completed" and done.usage.output_tokens == len(of(events, "response.output_text.delta"))
    assert app.journal.select()[-1].source == "scenario" and app.journal.select()[-1].rule == "greet"
    assert app.violations == []


async def test_scripted_tool_calls_over_realtime(scripted: tuple[FakeAI, Server]) -> None:
    app, server = scripted
    events = await text_turn(server, "please look it up")
    calls = of(events, "response.function_call_arguments.done")
    assert [(c.name, json.loads(c.arguments), c.output_index) for c in calls] == [
        ("lookup", {"q": "fakeai"}, 0),
        ("lookup", {"q": "realtime"}, 1),
    ]
    output = of(events, "response.done")[0].response.output
    assert [(o.type, o.call_id) for o in output] == [("function_call", c.call_id) for c in calls]
    deltas = of(events, "response.function_call_arguments.delta")
    assert "".join(d.delta for d in deltas if d.output_index == 1) == calls[1].arguments
    assert app.violations == []


async def test_scripted_errors_fail_the_response_or_answer_an_error_event(scripted: tuple[FakeAI, Server]) -> None:
    app, server = scripted
    events = await text_turn(server, "are you busy?")
    done = of(events, "response.done")[0].response
    assert [e.type for e in events[-2:]] == ["response.created", "response.done"]
    assert done.status == "failed" and done.status_details.error.type == "server_error"
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="sk-test", max_retries=0)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.recv()
        await say(conn, "that is forbidden")
        await until(conn, "conversation.item.done")
        await conn.response.create(event_id="evt_denied")
        error = await conn.recv()
    assert (error.type, error.error.code, error.error.message, error.error.event_id) == (
        "error",
        "not_allowed",
        "Not allowed.",
        "evt_denied",
    )
    statuses = [(e.rule, e.status) for e in app.journal.select()[-2:]]
    assert statuses == [("busy", 503), ("denied", 400)]
    assert app.violations == []


async def test_a_reset_fault_drops_the_socket_mid_response(scripted: tuple[FakeAI, Server]) -> None:
    app, server = scripted
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="sk-test", max_retries=0)
    seen: list[Any] = []
    with pytest.raises(Exception) as raised:  # websockets' ConnectionClosedError (code 1011), through the SDK
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await conn.recv()
            await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            await say(conn, "now drop the line")
            await conn.response.create()
            async for event in conn:
                seen.append(event)
            raise AssertionError("closed cleanly")
    assert type(raised.value).__name__ == "ConnectionClosedError", raised.value
    assert len(of(seen, "response.output_text.delta")) == 3 and not of(seen, "response.done")
    entry = app.journal.select()[-1]
    assert (entry.rule, entry.fault, entry.disconnected) == ("drop", "reset", True)
    assert app.violations == []


async def test_client_secrets_open_configured_sessions() -> None:
    app = create_app(Settings(validate_responses="strict", api_keys=("sk-right",)))
    with serve(app) as server:
        async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="sk-right", max_retries=0) as client:
            secret = await client.realtime.client_secrets.create(
                session={"type": "realtime", "instructions": "Be brief.", "output_modalities": ["text"]},
                expires_after={"anchor": "created_at", "seconds": 60},
            )
        assert secret.value.startswith("ek_") and secret.session.instructions == "Be brief."
        async with connect(server, key=secret.value) as conn:
            created = await conn.recv()
        assert (created.session.instructions, created.session.output_modalities) == ("Be brief.", ["text"])
        endpoint = app.asgi.websocket  # type: ignore[attr-defined]
        expired = endpoint.client_secrets.mint({"instructions": "old"}, expires_at=int(endpoint.clock.now()) - 1)
        forged = secret.value[:-4] + ("AAAA" if not secret.value.endswith("AAAA") else "BBBB")
        for token in (expired, forged):
            with pytest.raises(Exception, match="401"):
                async with connect(server, key=token) as conn:
                    await conn.recv()
    assert app.violations == []


async def test_the_beta_protocol(app: FakeAI, served: tuple[FakeAI, Server]) -> None:
    url = served[1].base_url + "/v1"
    client = openai.AsyncOpenAI(base_url=url, websocket_base_url=url.replace("http", "ws", 1), api_key="sk-test")
    async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        created = await conn.recv()
        await conn.session.update(session={"modalities": ["text"], "instructions": "Be terse."})
        updated = await conn.recv()
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
        )
        await conn.response.create()
        events = await until(conn, "response.done")
    assert created.type == "session.created" and created.session.input_audio_format == "pcm16"
    assert (updated.session.modalities, updated.session.instructions) == (["text"], "Be terse.")
    kinds = {e.type for e in events}
    assert {"conversation.item.created", "response.text.delta", "response.text.done"} <= kinds
    assert not kinds & {"conversation.item.added", "conversation.item.done", "response.output_text.delta"}
    done = of(events, "response.done")[0].response
    assert done.modalities == ["text"] and done.output[0].content[0].text == of(events, "response.text.done")[0].text


async def test_error_frame_and_delay_faults(scripted: tuple[FakeAI, Server]) -> None:
    app, server = scripted
    events = await text_turn(server, "a flaky answer")
    assert [e.type for e in events[-2:]] == ["error", "response.done"]
    assert len(of(events, "response.output_text.delta")) == 2
    assert of(events, "response.done")[0].response.status == "failed"
    started = time.monotonic()
    events = await text_turn(server, "answer slowly")
    assert of(events, "response.output_text.done")[0].text == "Finally."
    assert time.monotonic() - started >= 0.3
    assert [(e.rule, e.fault) for e in app.journal.select()[-2:]] == [("flaky", "error_frame"), ("slow", "delay")]
    assert app.violations == []


async def test_namespace_from_the_query(scripted: tuple[FakeAI, Server]) -> None:
    app, server = scripted
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="sk-test", max_retries=0)
    async with client.realtime.connect(model="gpt-realtime", extra_query={"x-fakeai-namespace": "rt-q"}) as conn:
        await conn.recv()
        await say(conn, "What is the weather in Rome?")
        await conn.response.create()
        await until(conn, "response.done")
    assert [(e.namespace, e.rule) for e in app.journal.select()][-1] == ("rt-q", "greet")


async def test_the_beta_protocol_speaks(app: FakeAI, served: tuple[FakeAI, Server]) -> None:
    url = served[1].base_url + "/v1"
    client = openai.AsyncOpenAI(base_url=url, websocket_base_url=url.replace("http", "ws", 1), api_key="sk-test")
    async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        await conn.recv()
        await conn.session.update(session={"modalities": ["audio", "text"], "voice": "verse"})
        assert (await conn.recv()).session.voice == "verse"
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Speak"}]}
        )
        await conn.response.create()
        events = await until(conn, "response.done")
    transcript = of(events, "response.audio_transcript.done")[0].transcript
    assert "".join(e.delta for e in of(events, "response.audio_transcript.delta")) == transcript
    assert b"".join(base64.b64decode(e.delta) for e in of(events, "response.audio.delta"))
    assert of(events, "response.done")[0].response.voice == "verse"


def test_a_cancel_keeps_the_finished_calls(app: FakeAI) -> None:
    from fakeai.producers.text.script import Script, ToolCall
    from fakeai.realtime import respond

    calls = (ToolCall("call_a", "lookup", '{"q": "one"}'), ToolCall("call_b", "lookup", '{"q": "two"}'))
    config = {"model": "gpt-realtime", "output_modalities": ["text"]}
    generation = app.asgi.websocket.generation  # type: ignore[attr-defined]
    plan = respond.plan(config, [], generation, random.Random(0), 0.0, script=Script(tool_calls=calls))
    first, second = plan.parts
    output = respond.cancelled_output(plan, len(first.tokens) + 1, {first.item_id, second.item_id})
    assert [(o["call_id"], o["status"]) for o in output] == [("call_a", "completed"), ("call_b", "incomplete")]
    assert output[1]["arguments"] == second.tokens[0]
    assert [o["status"] for o in respond.cancelled_output(plan, 2, {first.item_id})] == ["incomplete"]


async def test_replay_strict_refuses_unscripted_turns() -> None:
    app = create_app(Settings(validate_responses="strict", replay_strict=True))
    with serve(app) as server:
        async with connect(server) as conn:
            await conn.recv()
            await say(conn, "Anything recorded?")
            await until(conn, "conversation.item.done")
            await conn.response.create(event_id="evt_strict")
            error = await conn.recv()
    assert (error.type, error.error.code, error.error.event_id) == ("error", "no_recorded_interaction", "evt_strict")
    assert app.journal.select()[-1].status == 404
    assert app.violations == []
