"""The model-behaviour flags reach the running app (see tests/test_cli.py for the rest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fakeai.app import create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings
from fakeai.testing import async_client
from tests.test_cli import settings_for

MESSAGES = [{"role": "user", "content": "The quick brown fox jumps over the lazy dog"}]


async def chat(argv: list[str], clock: Any = None, **request: Any) -> Any:
    app = create_app(settings_for(argv), clock=clock)
    client = async_client(app)
    return await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, **request)


async def test_mode_echo_repeats_the_last_user_message() -> None:
    reply = await chat(["--mode", "echo"])
    assert reply.choices[0].message.content == MESSAGES[0]["content"]


async def test_fixed_text() -> None:
    reply = await chat(["--mode", "fixed", "--fixed-text", "Exactly this."])
    assert reply.choices[0].message.content == "Exactly this."


async def test_output_length_sets_completion_tokens() -> None:
    reply = await chat(["--output-length", "7:0:7:7"], extra_body={"ignore_eos": True})
    assert reply.usage.completion_tokens == 7


async def test_ttft_and_itl_schedule_the_answer() -> None:
    clock = FakeClock()
    reply = await chat(
        ["--ttft", "200", "--itl", "10", "--output-length", "11:0:11:11"], clock=clock, extra_body={"ignore_eos": True}
    )
    assert reply.usage.completion_tokens == 11
    assert sum(clock.sleeps) == pytest.approx(0.2 + 10 * 0.01)


async def test_ttft_and_itl_schedule_each_streamed_token() -> None:
    clock = FakeClock()
    app = create_app(settings_for(["--ttft", "50", "--itl", "5", "--output-length", "4:0:4:4"]), clock=clock)
    stream = await async_client(app).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, extra_body={"ignore_eos": True}
    )
    chunks = [c async for c in stream]
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 4
    assert clock.elapsed == pytest.approx(0.05 + 3 * 0.005)


async def test_tokens_per_chunk() -> None:
    app = create_app(settings_for(["--tokens-per-chunk", "3", "--output-length", "9:0:9:9"]))
    stream = await async_client(app).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, extra_body={"ignore_eos": True}
    )
    contents = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
    assert len(contents) == 3


async def test_tokenizer_json_counts_with_that_tokenizer(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[UNK]": 0, "the": 1, "quick": 2}
    model = tokenizers.models.WordLevel(vocab, unk_token="[UNK]")
    tokenizer = tokenizers.Tokenizer(model)
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    rare = [{"role": "user", "content": "antidisestablishmentarianism floccinaucinihilipilification"}]
    with_hf = await async_client(create_app(settings_for(["--tokenizer-json", str(path)]))).chat.completions.create(
        model="gpt-4o", messages=rare
    )
    default = await async_client(create_app(settings_for([]))).chat.completions.create(model="gpt-4o", messages=rare)
    # word-level: 3 per message + "user" (1) + 2 words + 3 priming; tiktoken splits the rare words into many pieces
    assert with_hf.usage.prompt_tokens == 3 + 1 + 2 + 3
    assert default.usage.prompt_tokens > with_hf.usage.prompt_tokens


def test_bad_output_length_fails_at_startup() -> None:
    from fakeai.errors import ConfigError

    with pytest.raises(ConfigError, match="output_length"):
        create_app(Settings(output_length="lots"))
