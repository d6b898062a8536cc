"""Chat completions through the official SDK: text modes, lengths, stop, n, seeds, usage, logprobs, SSE."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.producers.text.tokenizer import count_chat_prompt, for_model
from fakeai.testing import async_client, serve
from tests.conftest import make_app

MODEL = "gpt-4o-mini"
MESSAGES: list[Any] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Tell me about the sea, please."},
]


async def test_max_tokens_is_exact_and_usage_counts_the_content(client: Any) -> None:
    answer = await client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=7, seed=1)
    choice = answer.choices[0]
    assert choice.finish_reason == "length"
    assert len(for_model(MODEL).encode(choice.message.content)) == 7
    assert answer.usage.completion_tokens == 7
    assert answer.usage.prompt_tokens == count_chat_prompt(MESSAGES, MODEL)
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + 7
    assert answer.usage.prompt_tokens_details.cached_tokens == 0
    assert answer.usage.completion_tokens_details.reasoning_tokens == 0
    assert (answer.object, choice.message.role, answer.model) == ("chat.completion", "assistant", MODEL)
    assert answer.id.startswith("chatcmpl-") and answer.system_fingerprint.startswith("fp_")


async def test_a_cap_with_room_for_an_answer_is_usually_not_reached(client: Any) -> None:
    """openai-agents / langchain send ``max_tokens=50`` and treat ``length`` as a failure: as with real models,
    the natural length is drawn first (shrunk for a small cap) and only a few replies reach the cap."""
    finishes, lengths = [], []
    for seed in range(20):
        answer = await client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=50, seed=seed)
        finishes.append(answer.choices[0].finish_reason)
        lengths.append(answer.usage.completion_tokens)
    assert finishes.count("stop") >= 16 and max(lengths) <= 50
    assert len(set(lengths)) > 5  # drawn lengths, not one fixed answer length


async def test_ignore_eos_and_a_constant_output_length_stay_exact() -> None:
    """Benchmarks (GuideLLM, AIPerf, benchmarks/) get exact lengths from ``ignore_eos`` or ``output_length N:0``."""
    exact = await async_client(make_app()).chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=50, seed=3, extra_body={"ignore_eos": True}
    )
    constant = async_client(make_app(output_length="100:0:100:100"))
    capped = await constant.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=50, seed=3)
    whole = await constant.chat.completions.create(model=MODEL, messages=MESSAGES, seed=3)
    assert (exact.choices[0].finish_reason, exact.usage.completion_tokens) == ("length", 50)
    assert (capped.choices[0].finish_reason, capped.usage.completion_tokens) == ("length", 50)
    assert (whole.choices[0].finish_reason, whole.usage.completion_tokens) == ("stop", 100)


async def test_natural_length_ends_on_a_sentence_with_stop(client: Any) -> None:
    answer = await client.chat.completions.create(model=MODEL, messages=MESSAGES, seed=2)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content.rstrip().endswith((".", "!", "?", '"'))


async def test_echo_mode_by_header_and_stop_sequence(app: Any) -> None:
    client = async_client(app, headers={"x-fakeai-mode": "echo"})
    messages = [{"role": "user", "content": "alpha beta gamma delta"}]
    echoed = await client.chat.completions.create(model=MODEL, messages=messages)
    stopped = await client.chat.completions.create(model=MODEL, messages=messages, stop=[" gamma", "zzz"])
    assert echoed.choices[0].message.content == "alpha beta gamma delta"
    assert (stopped.choices[0].message.content, stopped.choices[0].finish_reason) == ("alpha beta", "stop")


async def test_fixed_mode_by_model_suffix(client: Any) -> None:
    answer = await client.chat.completions.create(model="gpt-4o:fixed", messages=MESSAGES)
    assert answer.choices[0].message.content == "This is a fixed response from fakeai."
    assert answer.usage.completion_tokens == len(for_model("gpt-4o").encode(answer.choices[0].message.content))


async def test_ignore_eos_forces_the_exact_length(client: Any) -> None:
    answer = await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_completion_tokens=300, extra_body={"ignore_eos": True}, seed=5
    )
    assert (answer.usage.completion_tokens, answer.choices[0].finish_reason) == (300, "length")


async def test_n_choices_differ_and_repeat_with_a_seed(client: Any) -> None:
    first = await client.chat.completions.create(model=MODEL, messages=MESSAGES, n=3, seed=9)
    again = await client.chat.completions.create(model=MODEL, messages=MESSAGES, n=3, seed=9)
    texts = [c.message.content for c in first.choices]
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert len(set(texts)) == 3
    assert texts == [c.message.content for c in again.choices]
    assert first.usage.completion_tokens == sum(len(for_model(MODEL).encode(t)) for t in texts)


async def test_temperature_zero_repeats_and_sampling_varies(client: Any) -> None:
    greedy = [await client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=0) for _ in range(2)]
    sampled = [await client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=0.7) for _ in range(3)]
    unspecified = [await client.chat.completions.create(model=MODEL, messages=MESSAGES) for _ in range(2)]
    assert greedy[0].choices[0].message.content == greedy[1].choices[0].message.content
    assert len({a.choices[0].message.content for a in sampled}) > 1
    # no sampling asked for: same request, same bytes (the global determinism rule)
    assert unspecified[0].choices[0].message.content == unspecified[1].choices[0].message.content


async def test_stream_shape_usage_and_same_content_as_non_streamed(client: Any) -> None:
    kwargs: dict[str, Any] = {"model": MODEL, "messages": MESSAGES, "seed": 11, "max_tokens": 40}
    plain = await client.chat.completions.create(**kwargs)
    stream = await client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    assert {(c.id, c.created, c.model, c.system_fingerprint) for c in chunks} == {
        (chunks[0].id, chunks[0].created, MODEL, plain.system_fingerprint)
    }
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [f.choices[0].finish_reason for f in finals] == [plain.choices[0].finish_reason]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == plain.choices[0].message.content


async def test_stream_helper_final_completion_equals_the_plain_answer(client: Any) -> None:
    kwargs: dict[str, Any] = {"model": MODEL, "messages": MESSAGES, "seed": 4}
    plain = await client.chat.completions.create(**kwargs)
    async with client.chat.completions.stream(**kwargs) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == plain.choices[0].message.content
    assert final.choices[0].finish_reason == plain.choices[0].finish_reason


async def test_tokens_per_chunk_groups_deltas() -> None:
    app = make_app(tokens_per_chunk=4)
    stream = await async_client(app).chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=10, seed=1, stream=True
    )
    contents = [c.choices[0].delta.content for c in [c async for c in stream] if c.choices[0].delta.content]
    assert [len(for_model(MODEL).encode(text)) for text in contents] == [4, 4, 2]
    assert not app.violations


def test_concatenated_deltas_equal_the_non_streamed_content() -> None:
    app = make_app()

    async def check(seed: int, max_tokens: int | None, n: int) -> None:
        client = async_client(app)
        kwargs: dict[str, Any] = {"model": MODEL, "messages": MESSAGES, "seed": seed, "n": n}
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        plain = await client.chat.completions.create(**kwargs)
        stream = await client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True})
        texts = [""] * n
        usage = None
        async for chunk in stream:
            for choice in chunk.choices:
                texts[choice.index] += choice.delta.content or ""
            usage = chunk.usage or usage
        assert texts == [c.message.content for c in plain.choices]
        assert usage == plain.usage

    @settings(database=None, max_examples=25, deadline=None)
    @given(st.integers(0, 2**32), st.none() | st.integers(0, 200), st.integers(1, 3))
    def run(seed: int, max_tokens: int | None, n: int) -> None:
        asyncio.run(check(seed, max_tokens, n))

    run()
    assert not app.violations


async def test_logprobs_match_the_content_tokens_and_bytes(client: Any) -> None:
    answer = await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, seed=3, max_tokens=25, logprobs=True, top_logprobs=3
    )
    content = answer.choices[0].message.content
    entries = answer.choices[0].logprobs.content
    assert "".join(e.token for e in entries) == content
    assert b"".join(bytes(e.bytes) for e in entries) == content.encode()
    for entry in entries:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].token == entry.token
        values = [t.logprob for t in entry.top_logprobs]
        assert values == sorted(values, reverse=True) and max(values[1:]) < entry.logprob


async def test_reasoning_models_count_hidden_tokens(app: Any) -> None:
    client = async_client(app, headers={"x-fakeai-reasoning-content": "true"})
    plain = await async_client(app).chat.completions.create(model="o3-mini", messages=MESSAGES, seed=8)
    shown = await client.chat.completions.create(model="o3-mini", messages=MESSAGES, seed=8)
    details = plain.usage.completion_tokens_details
    visible = len(for_model("o3-mini").encode(plain.choices[0].message.content))
    assert details.reasoning_tokens > 0
    assert plain.usage.completion_tokens == visible + details.reasoning_tokens
    assert not hasattr(plain.choices[0].message, "reasoning_content")
    reasoning = shown.choices[0].message.model_extra["reasoning_content"]
    assert len(for_model("o3-mini").encode(reasoning)) == details.reasoning_tokens
    assert shown.usage == plain.usage


def test_sync_client_over_a_real_socket() -> None:
    app = make_app()
    with serve(app) as server:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="sk-test", max_retries=0)
        plain = client.chat.completions.create(model=MODEL, messages=MESSAGES, seed=6, max_tokens=12)
        streamed = client.chat.completions.create(model=MODEL, messages=MESSAGES, seed=6, max_tokens=12, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert text == plain.choices[0].message.content and plain.usage.completion_tokens == 12
    assert not app.violations


async def test_streamed_reasoning_content_and_frame_tokens_match_usage() -> None:
    app = make_app(extra={"reasoning_content": True})
    client = async_client(app)
    kwargs: dict[str, Any] = {"model": "deepseek-r1", "messages": MESSAGES, "seed": 5, "max_tokens": 30}
    plain = await client.chat.completions.create(**kwargs)
    chunks = [c async for c in await client.chat.completions.create(**kwargs, stream=True)]
    thought = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content", "") for c in chunks)
    assert thought == plain.choices[0].message.model_extra["reasoning_content"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain.choices[0].message.content
    assert not app.violations


def test_frames_carry_exactly_the_completion_tokens() -> None:
    """The latency simulator reads Frame.tokens (streams) and Output.completion_tokens (bodies)."""
    import random

    from fakeai.context import RequestContext

    app = make_app()
    compiled = app.operations["createChatCompletion"]
    producer = next(p for p in compiled.producers if p.source == "llm")

    def produce(body: dict[str, Any]) -> Any:
        return producer.produce(
            RequestContext(
                operation=compiled.operation, method="POST", path="/v1/chat/completions", path_params={}, query={},
                headers={}, body=body, files={}, seed=1, rng=random.Random(1), now=0.0, settings=app.settings,
            )
        )  # fmt: skip

    for body in (
        {"model": "o3", "messages": MESSAGES, "seed": 2, "n": 2},
        {"model": MODEL, "messages": MESSAGES, "seed": 2, "tool_choice": "required", "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
    ):  # fmt: skip
        plain = produce(body)
        streamed = produce({**body, "stream": True, "stream_options": {"include_usage": True}})
        assert plain.completion_tokens == plain.body["usage"]["completion_tokens"] > 0
        assert sum(f.tokens for f in streamed.frames) == plain.completion_tokens
        assert streamed.frames[-2].data["usage"] == plain.body["usage"]
