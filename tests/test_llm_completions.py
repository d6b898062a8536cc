"""Legacy completions through the SDK: text_completion objects, prompts x n, echo, logprobs, best_of, stream."""

from __future__ import annotations

from typing import Any

from fakeai.producers.text.tokenizer import for_model

MODEL = "gpt-3.5-turbo-instruct"
TOKENIZER = for_model(MODEL)


async def test_default_max_tokens_is_16_and_usage_is_exact(client: Any) -> None:
    answer = await client.completions.create(model=MODEL, prompt="Once upon a time", seed=1)
    choice = answer.choices[0]
    assert (answer.object, choice.index, choice.logprobs) == ("text_completion", 0, None)
    assert answer.id.startswith("cmpl-")
    assert len(TOKENIZER.encode(choice.text)) == answer.usage.completion_tokens <= 16
    assert answer.usage.prompt_tokens == len(TOKENIZER.encode("Once upon a time"))
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


async def test_prompts_times_n_choices_and_max_tokens(client: Any) -> None:
    answer = await client.completions.create(model=MODEL, prompt=["one", "two words"], n=2, max_tokens=9, seed=4)
    assert [c.index for c in answer.choices] == [0, 1, 2, 3]
    assert all(c.finish_reason == "length" and len(TOKENIZER.encode(c.text)) == 9 for c in answer.choices)
    assert len({c.text for c in answer.choices}) == 4
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (1 + 2, 36)


async def test_token_prompts_are_counted(client: Any) -> None:
    ids = TOKENIZER.encode("hello there friend")
    answer = await client.completions.create(model=MODEL, prompt=ids, max_tokens=3, seed=1)
    assert answer.usage.prompt_tokens == len(ids)


async def test_echo_with_logprobs_covers_prompt_and_completion(client: Any) -> None:
    answer = await client.completions.create(model=MODEL, prompt="Say hi:", echo=True, logprobs=3, max_tokens=6, seed=2)
    choice = answer.choices[0]
    logprobs = choice.logprobs
    assert choice.text.startswith("Say hi:")
    assert "".join(logprobs.tokens) == choice.text
    assert logprobs.text_offset == [sum(len(t) for t in logprobs.tokens[:i]) for i in range(len(logprobs.tokens))]
    for token, value, top in zip(logprobs.tokens, logprobs.token_logprobs, logprobs.top_logprobs, strict=True):
        assert top[token] == value and len(top) == 3 and max(top.values()) == value


async def test_best_of_bills_every_candidate(client: Any) -> None:
    answer = await client.completions.create(model=MODEL, prompt="x", best_of=3, n=1, max_tokens=5, seed=1)
    assert len(answer.choices) == 1 and answer.usage.completion_tokens == 15


async def test_stream_matches_the_plain_answer(client: Any) -> None:
    kwargs: dict[str, Any] = {"model": MODEL, "prompt": "Write a line", "seed": 7, "max_tokens": 20, "n": 2}
    plain = await client.completions.create(**kwargs)
    chunks = [
        c async for c in await client.completions.create(**kwargs, stream=True, stream_options={"include_usage": True})
    ]
    texts = ["", ""]
    finishes: dict[int, str] = {}
    for chunk in chunks[:-1]:
        for choice in chunk.choices:
            texts[choice.index] += choice.text
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts == [c.text for c in plain.choices]
    assert finishes == {c.index: c.finish_reason for c in plain.choices}
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage
    assert {c.id for c in chunks} == {chunks[0].id}


async def test_stop_sequence_in_echo_mode(client: Any) -> None:
    answer = await client.completions.create(
        model=f"{MODEL}:echo", prompt="red green blue", stop="blue", suffix="ignored", seed=1
    )
    assert (answer.choices[0].text, answer.choices[0].finish_reason) == ("red green ", "stop")
