"""The request path as one straight line: one seed per request, match decides, produce produces, hooks."""

from __future__ import annotations

from typing import Any

import openai

from fakeai.app import create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings
from fakeai.context import Decision, Output, RequestContext
from fakeai.pipeline import Position
from fakeai.testing import async_client

MESSAGES: list[Any] = [{"role": "user", "content": "Tell me something"}]


async def answer(headers: dict[str, str], **body: Any) -> tuple[str, float, str]:
    """(text, simulated seconds slept, completion id) of one chat request on a fresh app and clock."""
    clock = FakeClock()
    app = create_app(Settings(ttft="100:50", itl="10:50", output_length="30:10:5:60"), clock=clock)
    client = async_client(app, headers=headers)
    reply = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, **body)
    return str(reply.choices[0].message.content), sum(clock.sleeps), reply.id


async def test_prefer_seed_changes_text_latency_and_ids() -> None:
    seven, eight = await answer({"prefer": "seed=7"}), await answer({"prefer": "seed=8"})
    assert seven[0] != eight[0]
    assert seven[1] != eight[1]
    assert seven[2] != eight[2]
    assert await answer({"prefer": "seed=7"}) == seven  # same seed, same request: same text, timing and ids


async def test_x_fakeai_seed_reseeds_the_same_way() -> None:
    one, two = await answer({"x-fakeai-seed": "1"}), await answer({"x-fakeai-seed": "2"})
    assert one[0] != two[0] and one[1] != two[1]
    assert await answer({"x-fakeai-seed": "1"}) == one


async def test_explicit_sampling_varies_unless_seeded() -> None:
    sampled = {await answer({}, temperature=1.0) for _ in range(3)}
    assert len(sampled) == 3  # temperature > 0 without a seed: a sampling model answers differently each time
    seeded = {await answer({}, temperature=1.0, seed=5) for _ in range(3)}
    assert len(seeded) == 1


async def test_stream_and_logprobs_do_not_change_what_is_sampled() -> None:
    app = create_app(Settings(output_length="40:0:40:40"))
    client = async_client(app)
    plain = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    with_logprobs = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, logprobs=True)
    stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert plain.choices[0].message.content == with_logprobs.choices[0].message.content == streamed


async def test_request_ids_are_unique_even_for_identical_requests() -> None:
    app = create_app(Settings())
    client = async_client(app)
    ids = set()
    for _ in range(3):
        raw = await client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
        ids.add(raw.headers["x-request-id"])
    assert len(ids) == 3
    assert {entry.request_id for entry in app.journal} == ids


async def test_match_returns_a_decision_and_produce_renders_it(tmp_path: Any) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: s\nrules:\n  - name: hello\n    match: {operation: createChatCompletion}\n"
        "    respond: {content: scripted}\n"
    )
    app = create_app(Settings(scenarios=(str(scenario),)))
    seen: list[Decision] = []

    def after_match(ctx: RequestContext, decision: Decision) -> Decision:
        seen.append(decision)
        return decision

    def after_produce(ctx: RequestContext, output: Output) -> Output:
        return output if ctx.request_id else Output(status=500)

    app.pipeline.insert(Position.AFTER_MATCH, after_match)
    app.pipeline.insert(Position.AFTER_PRODUCE, after_produce)
    reply = await async_client(app).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert reply.choices[0].message.content == "scripted"
    assert [d.rule for d in seen] == ["hello"] and not isinstance(seen[0], Output)
    entry = list(app.journal)[-1]
    assert (entry.source, entry.rule) == ("scenario", "hello")


async def test_a_produce_hook_can_replace_the_answer() -> None:
    app = create_app(Settings())

    def teapot(ctx: RequestContext, output: Output) -> Output:
        return Output(status=418, body={"error": {"message": "tea", "type": "x", "param": None, "code": None}})

    app.pipeline.insert(Position.AFTER_PRODUCE, teapot)
    try:
        await async_client(app).models.list()
    except openai.APIStatusError as err:
        assert err.status_code == 418 and err.message == "Error code: 418 - tea"
    else:
        raise AssertionError("the hook's answer was not sent")


async def test_identical_requests_get_the_same_content_but_their_own_ids() -> None:
    """As the real API: ids unique per answer (also tool call ids and stored resources), content seeded."""
    client = async_client(create_app(Settings()))
    tools: Any = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    first, second = [await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, seed=4) for _ in range(2)]
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.id != second.id and first.id.startswith("chatcmpl-") and len(first.id) == len(second.id)
    calls = [
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=tools, tool_choice="required")
        for _ in range(2)
    ]
    one, two = (c.choices[0].message.tool_calls[0] for c in calls)  # type: ignore[index]
    assert (one.function.name, one.function.arguments) == (two.function.name, two.function.arguments)
    assert one.id != two.id and one.id.startswith("call_")


async def test_a_fixed_clock_gives_byte_identical_answers_ids_included() -> None:
    client = async_client(create_app(Settings(fixed_time=1_700_000_000)))
    raw = [await client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES) for _ in range(2)]
    assert raw[0].content == raw[1].content
