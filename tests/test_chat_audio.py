"""Chat completions with audio (``modalities: ["text", "audio"]``) through the official SDK: spoken answers in
every format, their transcript, streamed audio deltas, audio token usage both ways, and the API's errors."""

from __future__ import annotations

import base64
import io
import wave
from typing import Any

import openai
import pytest

from fakeai.media.audio import SAMPLE_RATE
from fakeai.producers.text.chat_audio import INPUT_TOKENS_PER_SECOND, OUTPUT_TOKENS_PER_SECOND
from fakeai.producers.text.tokenizer import count_chat_prompt, for_model
from fakeai.testing import async_client
from tests.conftest import make_app

MODEL = "gpt-4o-audio-preview"
MESSAGES: list[Any] = [{"role": "user", "content": "Say something about the sea."}]
MAGIC = {"wav": b"RIFF", "flac": b"fLaC", "opus": b"OggS", "mp3": b"\xff", "aac": b"\xff"}


def _seconds_of_wav(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as reader:
        assert (reader.getframerate(), reader.getsampwidth(), reader.getnchannels()) == (SAMPLE_RATE, 2, 1)
        return reader.getnframes() / reader.getframerate()


async def test_a_spoken_answer_carries_wav_audio_and_its_transcript(client: Any) -> None:
    answer = await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"}, seed=4
    )
    message = answer.choices[0].message
    assert message.content is None  # the text is the transcript, as the API answers
    assert message.audio.id.startswith("audio_")
    assert message.audio.expires_at == answer.created + 3600
    transcript = message.audio.transcript
    assert transcript and len(for_model(MODEL).encode(transcript)) >= 1
    seconds = _seconds_of_wav(base64.b64decode(message.audio.data))
    assert abs(seconds - len(transcript) / 15) < 0.5 or seconds in (0.3, 60.0)  # ~15 characters a second
    details = answer.usage.completion_tokens_details
    assert details.audio_tokens == max(1, round(seconds * OUTPUT_TOKENS_PER_SECOND))
    text_tokens = len(for_model(MODEL).encode(transcript))
    assert answer.usage.completion_tokens == text_tokens + details.audio_tokens
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


@pytest.mark.parametrize("fmt", ["flac", "opus", "mp3", "aac", "pcm16"])
async def test_every_output_format_is_that_format(client: Any, fmt: str) -> None:
    answer = await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, modalities=["text", "audio"], audio={"voice": "echo", "format": fmt}, seed=2
    )
    data = base64.b64decode(answer.choices[0].message.audio.data)
    if fmt == "pcm16":
        assert len(data) % 2 == 0 and len(data) >= 0.3 * SAMPLE_RATE * 2
    else:
        assert data.startswith(MAGIC[fmt])


async def test_text_only_requests_have_no_audio(client: Any) -> None:
    answer = await client.chat.completions.create(model=MODEL, messages=MESSAGES, modalities=["text"], seed=1)
    assert answer.choices[0].message.audio is None and answer.choices[0].message.content
    assert answer.usage.completion_tokens_details.audio_tokens == 0


async def test_the_stream_carries_the_same_audio_as_deltas(client: Any) -> None:
    ask: dict[str, Any] = {
        "model": MODEL, "messages": MESSAGES, "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": "pcm16"}, "seed": 9,
    }  # fmt: skip
    whole = await client.chat.completions.create(**ask)
    stream = await client.chat.completions.create(**ask, stream=True, stream_options={"include_usage": True})
    pieces: list[dict[str, Any]] = []
    usage = None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            assert choice.delta.content in (None, "")
            if choice.delta.audio is not None:  # the SDK types it: id, data, expires_at, transcript
                pieces.append(choice.delta.audio.model_dump(exclude_none=True))
    assert pieces[0]["id"].startswith("audio_")  # ids are unique per answer; the content is the same
    assert "".join(p.get("transcript", "") for p in pieces) == whole.choices[0].message.audio.transcript
    data = b"".join(base64.b64decode(p["data"]) for p in pieces if "data" in p)
    assert data == base64.b64decode(whole.choices[0].message.audio.data)
    assert pieces[-1]["expires_at"] == whole.choices[0].message.audio.expires_at
    assert usage is not None and usage.model_dump() == whole.usage.model_dump()


async def test_input_audio_is_billed_by_its_duration(client: Any) -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16_000)
        writer.writeframes(b"\x00\x00" * 16_000 * 3)  # 3 s
    part = {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(buffer.getvalue()).decode(), "format": "wav"},
    }
    messages: list[Any] = [{"role": "user", "content": [{"type": "text", "text": "What is said here?"}, part]}]
    answer = await client.chat.completions.create(model=MODEL, messages=messages, seed=1)
    assert answer.usage.prompt_tokens_details.audio_tokens == 3 * INPUT_TOKENS_PER_SECOND
    assert answer.usage.prompt_tokens == count_chat_prompt(messages, MODEL) + 3 * INPUT_TOKENS_PER_SECOND


async def test_audio_modality_without_the_audio_parameter_is_a_400(client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        await client.chat.completions.create(model=MODEL, messages=MESSAGES, modalities=["text", "audio"])
    assert raised.value.body["param"] == "audio"
    assert raised.value.body["code"] == "missing_required_parameter"


async def test_undecodable_input_audio_is_a_400(client: Any) -> None:
    part = {"type": "input_audio", "input_audio": {"data": base64.b64encode(b"not a wav").decode(), "format": "wav"}}
    with pytest.raises(openai.BadRequestError, match="could not be decoded"):
        await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [part]}])


async def test_tool_calls_are_not_spoken() -> None:
    client = async_client(make_app())
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}
    answer = await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"},
        tools=[tool], tool_choice="required",
    )  # fmt: skip
    assert answer.choices[0].message.tool_calls and answer.choices[0].message.audio is None
    assert answer.usage.completion_tokens_details.audio_tokens == 0
