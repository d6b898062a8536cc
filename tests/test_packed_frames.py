"""Stream frames are packed (their JSON encoded) before the respond stage: the bytes on the wire do not change,
and what the listeners read after the stream (usage, finish reason, final response, the journal's first and
last frame) stays readable."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from fakeai.app import create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings
from fakeai.context import Frame, Packed, PackedFrame
from fakeai.streaming import KEEP_HEAD, KEEP_TAIL, pack_frames

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
FRAME = st.builds(
    Frame,
    data=st.one_of(
        st.dictionaries(st.text(max_size=5), JSON, max_size=4), st.lists(JSON, max_size=3), st.just("[DONE]")
    ),
    event=st.none() | st.sampled_from(["message_start", "content_block_delta", "response.completed"]),
    validate=st.booleans(),
    tokens=st.integers(0, 4),
)


@given(st.lists(FRAME, max_size=12))
@settings(max_examples=200, deadline=None)
def test_packing_changes_no_byte_and_keeps_the_ends_readable(frames: list[Frame]) -> None:
    """Packed frames send the same bytes with the same event, flag and tokens. The middle ones' JSON data is
    Packed bytes; the ends' is a PackedFrame whose ``data`` decodes to the original (the listeners read it),
    once: a second read is the same object. Strings stay as they were."""
    packed = pack_frames(frames)
    assert [f.sse() for f in packed] == [f.sse() for f in frames]
    assert [(f.event, f.validate, f.tokens) for f in packed] == [(f.event, f.validate, f.tokens) for f in frames]
    decoded = [orjson.loads(bytes(f.data)) if isinstance(f.data, Packed) else f.data for f in packed]
    assert decoded == [f.data for f in frames]
    ends = {*range(min(KEEP_HEAD, len(frames))), *range(max(len(frames) - KEEP_TAIL, 0), len(frames))}
    for i, frame in enumerate(frames):
        if isinstance(frame.data, str):
            assert packed[i] is frame
        elif i in ends:
            assert isinstance(packed[i], PackedFrame) and packed[i].data is packed[i].data
        else:
            assert isinstance(packed[i].data, Packed)


def _value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no sample {name} {labels}")


async def test_listeners_still_read_a_packed_stream() -> None:
    app = create_app(Settings(validate_responses="strict"), clock=FakeClock())
    transport = httpx2.ASGITransport(app=app)
    http = httpx2.AsyncClient(transport=transport, base_url="http://t")
    client = openai.AsyncOpenAI(base_url="http://t/v1", api_key="sk-test", http_client=http, max_retries=0)
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Tell me about the harbour."}], stream=True,
        max_tokens=40, stream_options={"include_usage": True}, extra_body={"ignore_eos": True},
    )  # fmt: skip
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == 40
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert not app.violations
    entry: dict[str, Any] = (await http.get("/_fakeai/journal?operation=createChatCompletion")).json()["data"][-1]
    stream_info = entry["stream"]
    assert stream_info["first"]["choices"][0]["delta"]["role"] == "assistant"
    assert stream_info["last"] == "[DONE]" and stream_info["frames"] == len(chunks) + 1
    metrics = (await http.get("/metrics")).text
    assert _value(metrics, "vllm:request_success_total", finished_reason="length", model_name="gpt-4o") == 1
    assert _value(metrics, "vllm:generation_tokens_total", model_name="gpt-4o") == 40
    assert _value(metrics, "vllm:prompt_tokens_total", model_name="gpt-4o") == usage.prompt_tokens
    assert len(text) > 40  # 40 tokens of text arrived, packed or not
    # a Responses stream: its stored response comes from the final (unpacked) response.completed frame
    events = [
        e
        async for e in await client.responses.create(model="gpt-4o", input="Tell me about the harbour.", stream=True)
    ]  # fmt: skip
    final = events[-1]
    assert final.type == "response.completed"
    stored = await client.responses.retrieve(final.response.id)
    assert stored.output_text == final.response.output_text and stored.usage == final.response.usage
    await http.aclose()


async def test_lazy_chat_deltas_read_the_same_every_time_and_hold_no_summary() -> None:
    """ChatDelta frames build their chunk on every read: equal each time, never carrying what the listeners
    look for (usage objects, finish reasons), and the stream the SDK reads is the same as an eager one's."""
    from fakeai.producers.text.chat import ChatDelta

    app = create_app(Settings(validate_responses="strict", tokens_per_chunk=3), clock=FakeClock())
    captured: list[Any] = []
    from fakeai.events import RequestAnswered

    app.events.subscribe(RequestAnswered, lambda event: captured.append(event.output))
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t")
    client = openai.AsyncOpenAI(base_url="http://t/v1", api_key="sk-test", http_client=http, max_retries=0)
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Tell me about the harbour."}], stream=True, n=2,
        max_tokens=25, stream_options={"include_usage": True}, extra_body={"ignore_eos": True},
    )  # fmt: skip
    chunks = [chunk async for chunk in stream]
    await http.aclose()
    assert not app.violations
    frames = captured[-1].frames
    deltas = [f for f in frames if isinstance(f, ChatDelta)]
    assert len(deltas) == 2 * 9  # 25 tokens in chunks of 3, per choice
    for frame in deltas:
        first, again = frame.data, frame.data
        assert first == again and first is not again  # built per read, never shared
        assert first["usage"] is None and first["choices"][0]["finish_reason"] is None
        assert not frame.summary
    summaries = [f for f in frames if f.summary and isinstance(f.data, dict)]
    assert any(f.data.get("usage") for f in summaries)
    assert {c["finish_reason"] for f in summaries for c in f.data["choices"]} >= {"length"}
    by_choice: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            by_choice[choice.index] = by_choice.get(choice.index, "") + (choice.delta.content or "")
    assert sorted(by_choice) == [0, 1]
    assert [sum(f.tokens for f in deltas if f.data["choices"][0]["index"] == i) for i in (0, 1)] == [25, 25]


@given(
    base=st.dictionaries(st.text(max_size=6), JSON, max_size=6),
    index=st.integers(0, 127),
    key=st.sampled_from(["content", "refusal"]),
    piece=st.text(max_size=12),
    with_usage=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_a_deltas_templated_bytes_are_the_bytes_of_its_chunk(
    base: dict[str, Any], index: int, key: str, piece: str, with_usage: bool
) -> None:
    """ChatDelta.payload() (head + piece + tail, no dict built) is exactly orjson's encoding of the chunk built
    as a dict, and ChatDelta.data is that chunk."""
    from fakeai.producers.text.chat import ChatDelta, DeltaChoice

    frame = ChatDelta(DeltaChoice.of(base, index, key, with_usage), piece, 1)
    chunk = {
        **base,
        "choices": [{"index": index, "delta": {key: piece}, "logprobs": None, "finish_reason": None}],
        **({"usage": None} if with_usage else {}),
    }
    assert frame.payload() == orjson.dumps(chunk, option=orjson.OPT_NON_STR_KEYS)
    assert frame.sse() == b"data: " + orjson.dumps(chunk, option=orjson.OPT_NON_STR_KEYS) + b"\n\n"
    assert frame.data == orjson.loads(orjson.dumps(chunk, option=orjson.OPT_NON_STR_KEYS))
    assert orjson.loads(frame.payload())["choices"][0]["delta"] == {key: piece}


async def test_an_open_stream_holds_no_copy_of_the_chunk_it_sent_last() -> None:
    """While a stream sleeps until its next frame, nothing in its coroutines keeps the bytes of the chunk it
    sent (10,000 open streams: ~3 MB when a local did)."""
    import asyncio
    import types

    app = create_app(Settings(ttft="0", itl="10000"))
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    path = "/v1/chat/completions"
    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"content-type", b"application/json")], "http_version": "1.1"}  # fmt: skip
    chunks: list[bytes] = []
    gone = asyncio.Event()
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            chunks.append(message["body"])

    task = asyncio.ensure_future(app(scope, receive, send))
    while not chunks:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # asleep until the next frame, 10 s away
    held: list[bytes] = []
    coro: Any = task.get_coro()
    while isinstance(coro, types.CoroutineType):
        frame = coro.cr_frame
        if frame is not None:
            held += [value for value in frame.f_locals.values() if isinstance(value, bytes) and b"data: " in value]
        coro = coro.cr_await
    gone.set()
    await asyncio.wait_for(task, 5)
    assert chunks and b"data: " in chunks[-1]
    assert held == []
