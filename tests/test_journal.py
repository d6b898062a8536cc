"""The request journal: what it records through the SDK, and its bounds (property tests)."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.app import FakeAI, create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings
from fakeai.events import Events, RequestRejected
from fakeai.journal import Filter, Journal, bounded, mask, retry_after, split_source
from fakeai.testing import async_client

KEY = "sk-proj-abcdef1234"


@pytest.fixture(scope="module")
def journal_app() -> FakeAI:
    return create_app(Settings(validate_responses="strict", journal_body_bytes=2048), clock=FakeClock())


@pytest.fixture
def app(journal_app: FakeAI) -> FakeAI:
    journal_app.journal.clear()
    return journal_app


async def test_records_a_completion_with_masked_key_and_namespace(app: FakeAI) -> None:
    client = async_client(app, api_key=KEY, headers={"x-fakeai-namespace": "t1", "x-fakeai-conversation": "c1"})
    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    [entry] = list(app.journal)
    assert (entry.operation, entry.method, entry.path, entry.status) == (
        "createChatCompletion",
        "POST",
        "/v1/chat/completions",
        200,
    )
    assert entry.api_key == "sk-...1234"
    assert (entry.namespace, entry.conversation) == ("t1", "c1")
    assert entry.request["messages"] == [{"role": "user", "content": "hi"}]
    assert entry.response["id"] == completion.id
    assert entry.frames is None and entry.source == "llm"


async def test_records_a_stream_as_frame_count_and_first_last_frames(app: FakeAI) -> None:
    stream = await async_client(app).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True, max_completion_tokens=5
    )
    chunks = [chunk async for chunk in stream]
    [entry] = list(app.journal)
    assert entry.frames == len(chunks) + 1  # + the [DONE] frame
    assert entry.first_frame["id"] == chunks[0].id
    assert entry.last_frame == "[DONE]"
    assert entry.response is None and entry.ttft is not None


def test_a_streams_timeline_has_each_frames_planned_and_actual_send_time_on_a_real_socket() -> None:
    """Real clock and socket, TTFT 30 ms and ITL 10 ms: every frame went out at (or just after) its deadline,
    in order, and the frames' tokens add up to the answer's; vLLM's histograms count those measured times."""
    import openai

    from fakeai.testing import serve

    app = create_app(Settings(ttft="30", itl="10", validate_responses="strict"))
    with serve(app) as server:
        client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="sk-x", max_retries=0)
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True, max_completion_tokens=8,
            stream_options={"include_usage": True}, extra_body={"ignore_eos": True},
        )  # fmt: skip
        usages = [chunk.usage for chunk in stream if chunk.usage is not None]  # the whole stream, then the journal
        usage = usages[-1]
        for _ in range(200):  # the server journals the answer just after its last byte
            found = [e for e in app.journal if e.operation == "createChatCompletion"]
            if found:
                break
            time.sleep(0.01)
        [entry] = found
        entry_dict = entry.to_dict()
        metrics = app.metrics.render().decode()
    timeline = entry_dict["stream"]["timeline"]
    due, sent, tokens = timeline["due"], timeline["sent"], timeline["tokens"]
    assert len(due) == len(sent) == len(tokens) == entry.frames
    assert sum(tokens) == usage.completion_tokens == 8
    assert due[0] == pytest.approx(0.03, abs=0.002) and due[-1] > due[0]
    assert all(s >= d - 0.001 for s, d in zip(sent, due, strict=True))  # never early
    assert all(s - d < 0.25 for s, d in zip(sent, due, strict=True))  # and not far late, even on a busy runner
    assert sent == sorted(sent)
    ttft_sum = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("vllm:time_to_first_token_seconds_sum") and 'model_name="gpt-4o-mini"' in line
    )
    assert ttft_sum == pytest.approx(sent[0], abs=1e-4)  # measured (the timeline rounds to 0.1 ms), not planned
    assert ttft_sum != due[0]


async def test_a_streams_timeline_is_kept_as_numbers_and_crosses_the_shared_journal_as_the_same_json(
    app: FakeAI,
) -> None:
    """The journal keeps a stream's timeline as arrays and renders its JSON when read; the shared journal's
    entries (JSON in a Valkey list) carry that JSON, and an entry read back shows the same timeline."""
    from fakeai.journal import Timeline
    from fakeai.state.shared import _entry, _payload

    client = async_client(app)
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True, max_tokens=5,
        extra_body={"ignore_eos": True},
    )  # fmt: skip
    chunks = [chunk async for chunk in stream]
    [entry] = [e for e in app.journal if e.operation == "createChatCompletion"]
    assert isinstance(entry.timeline, Timeline) and entry.timeline.rendered is None  # nothing rendered yet
    shown = orjson.loads(entry.timeline_json or b"null")
    assert len(shown["due"]) == len(shown["sent"]) == len(shown["tokens"]) == entry.frames == len(chunks) + 1  # [DONE]
    assert sum(shown["tokens"]) == 5
    back = _entry(b"7\n" + _payload(entry))
    assert back.seq == 7 and back.timeline_json == entry.timeline_json
    assert back.to_dict()["stream"] == entry.to_dict()["stream"]
    assert (back.request, back.first_frame, back.last_frame) == (entry.request, entry.first_frame, entry.last_frame)


async def test_records_rejected_requests_with_their_message(app: FakeAI) -> None:
    client = async_client(app)
    with pytest.raises(Exception, match="400"):
        await client.chat.completions.create(model="gpt-4o-mini", messages="not a list")  # type: ignore[arg-type]
    [entry] = app.journal.select(Filter(status=400))
    assert entry.source == "rejected" and entry.operation == "createChatCompletion"
    assert entry.message and "messages" in entry.message
    assert entry.request is None  # rejected while parsing: no parsed body to keep


async def test_large_request_is_journaled_as_a_preview_keeping_what_expectations_read(app: FakeAI) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "x" * 5000}]
    messages += [
        {
            "role": "assistant",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    ]
    await async_client(app).chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    [entry] = list(app.journal)
    assert entry.request["truncated"] is True
    assert entry.request["fields"]["stream_options"] == {"include_usage": True}
    assert entry.request["tool_results"] == ["call_1"] and entry.request["turn"] == 1
    assert len(orjson.dumps(entry.request)) < 2048


def rejected(n: int) -> RequestRejected:
    return RequestRejected("GET", f"/v1/x/{n}", 404, "nope", headers={"x-fakeai-namespace": f"ns{n % 3}"})


@settings(database=None, max_examples=60)
@given(size=st.integers(1, 50), count=st.integers(0, 120))
def test_ring_keeps_the_newest_entries(size: int, count: int) -> None:
    events = Events()
    journal = Journal(size=size).subscribe(events)
    for n in range(count):
        events.emit(rejected(n))
    assert len(journal) == min(size, count)
    assert [e.path for e in journal] == [f"/v1/x/{n}" for n in range(max(0, count - size), count)]
    assert journal.dropped == max(0, count - size)
    newest = journal.select(Filter(namespace="ns0"), limit=2)
    assert all(e.namespace == "ns0" for e in newest) and len(newest) <= 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=60,
)


@settings(database=None, max_examples=200)
@given(value=json_values, limit=st.integers(1, 400))
def test_bounded_keeps_small_bodies_and_bounds_large_ones(value: Any, limit: int) -> None:
    kept = bounded(value, limit)
    size = len(orjson.dumps(value))
    small_text = isinstance(value, str) and len(value) <= limit  # text is measured in characters
    if size <= limit or small_text or isinstance(value, (bool, int)) or value is None:
        assert kept == value
    else:
        assert kept["truncated"] is True
        assert len(orjson.dumps(kept)) <= 512 * 6 + 32 * 400  # preview + at most 32 small fields


@pytest.mark.parametrize(("key", "shown"), [(None, None), ("short", "*****"), ("sk-proj-abcdef1234", "sk-...1234")])
def test_mask(key: str | None, shown: str | None) -> None:
    assert mask(key) == shown


def test_retry_after_reads_ms_and_seconds_headers() -> None:
    assert retry_after({"Retry-After": "2"}) == 2.0
    assert retry_after({"retry-after-ms": "150", "retry-after": "9"}) == pytest.approx(0.15)
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after({}) is None


def test_split_source() -> None:
    assert split_source("scenario:hello") == ("scenario", "hello")
    assert split_source("llm") == ("llm", None)


@pytest.mark.parametrize("stream", [False, True])
async def test_an_entry_holds_about_its_bytes_not_the_encoders_buffers(app: FakeAI, stream: bool) -> None:
    """orjson's output holds a 4 KiB buffer however short it is: a journal keeping those directly held 8 KiB per
    small answer and 27 KiB per small stream (10,000 entries: up to 270 MB against a 64 MiB budget). The
    memory the entries hold stays within twice the bytes they count."""
    import gc
    import tracemalloc

    client = async_client(app)
    messages = [{"role": "user", "content": "hi"}]
    for _ in range(3):  # warm: caches, validators, vocabularies
        await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages, stream=stream)
    app.journal.clear()
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(40):
            await client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=messages, stream=stream, max_tokens=8
            )
        app.journal.flush()  # the last answers' accounting, deferred (fakeai.events): their entries, not the events
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        entries = list(app.journal)
        app.journal.clear()
        counted = sum(
            len(b or b"")
            for e in entries
            for b in (e.request_json, e.response_json, e.first_frame_json, e.last_frame_json, e.timeline_json)
        )
        del entries
        gc.collect()
        held = before - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert counted > 0
    assert held < 2 * counted + 40 * 1024, (held, counted)  # the bytes, plus < 1 KiB of entry object each
