"""vLLM's ``min_tokens``: no answer shorter than it (through the openai SDK, as vLLM clients send it)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fakeai.producers.text.text import LengthSpec, generate
from fakeai.producers.text.tokenizer import for_model
from fakeai.testing import async_client
from tests.conftest import make_app

MESSAGES: list[Any] = [{"role": "user", "content": "Say hi."}]


@pytest.mark.parametrize("seed", range(8))
async def test_chat_answers_are_at_least_min_tokens_and_end_naturally(seed: int) -> None:
    client = async_client(make_app(output_length="10:2:1:20"))  # answers of ~10 tokens when not asked
    plain = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, seed=seed)
    assert plain.usage is not None and plain.usage.completion_tokens < 40
    longer = await client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, seed=seed, max_tokens=200, extra_body={"min_tokens": 40}
    )
    assert longer.usage is not None and 40 <= longer.usage.completion_tokens <= 200
    assert longer.choices[0].finish_reason == "stop"


async def test_completions_take_min_tokens_and_max_tokens_still_caps() -> None:
    client = async_client(make_app(output_length="10:2:1:20"))
    capped = await client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Hi", max_tokens=30, extra_body={"min_tokens": 100}
    )
    assert capped.usage is not None and capped.usage.completion_tokens == 30
    assert capped.choices[0].finish_reason == "length"


def test_echo_text_continues_to_min_tokens_and_early_stops_do_not_count() -> None:
    tokenizer = for_model("gpt-4o")
    common: Any = {"rng": random.Random(1), "tokenizer": tokenizer, "length": LengthSpec()}
    short = generate(mode="echo", max_tokens=None, prompt_text="one two", min_tokens=12, **common)
    assert len(short.tokens) == 12 and short.finish_reason == "stop"
    assert generate(mode="echo", max_tokens=None, prompt_text="one two", **common).text == "one two"
    stopped = generate(mode="echo", max_tokens=None, prompt_text="one two three", stop=["two"], min_tokens=3, **common)
    assert "two" in stopped.text  # the stop would leave 1 token, fewer than min_tokens
    early = generate(mode="echo", max_tokens=None, prompt_text="one two three", stop=["two"], **common)
    assert early.text == "one "
