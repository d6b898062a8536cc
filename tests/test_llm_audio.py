"""Audio through the official SDK: speech formats and speed, transcription formats, streams."""

from __future__ import annotations

import base64
import io
import re
import wave
from typing import Any

import openai
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.media.audio import duration_for
from fakeai.media.formats import speech
from fakeai.producers.endpoints.audio import audio_seconds, subtitles

TEXT = "The harbour was quiet at dawn, and the fishing boats rocked gently against the pier."
SRT_CUE = re.compile(r"^\d+\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n.+\n$")
VTT_CUE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\n.+\n$")


def _wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as reader:
        return reader.getnframes() / reader.getframerate()


async def _wav(client: Any, text: str = TEXT, speed: float = 1.0) -> bytes:
    answer = await client.audio.speech.create(
        model="tts-1", voice="alloy", input=text, response_format="wav", speed=speed
    )
    data: bytes = answer.content
    return data


async def test_speech_wav_duration_follows_text_and_speed(client: Any) -> None:
    normal, fast = await _wav(client), await _wav(client, speed=2.0)
    assert _wav_seconds(normal) == pytest.approx(len(TEXT) / 15, abs=0.01)
    assert _wav_seconds(fast) == pytest.approx(_wav_seconds(normal) / 2, abs=0.01)


@pytest.mark.parametrize(
    ("fmt", "content_type", "magic"),
    [("mp3", "audio/mpeg", b"\xff"), ("flac", "audio/flac", b"fLaC"), ("opus", "audio/ogg", b"OggS"),
     ("aac", "audio/aac", b"\xff\xf1"), ("pcm", "audio/pcm", b"")],
)  # fmt: skip
async def test_speech_formats_and_content_types(client: Any, fmt: str, content_type: str, magic: bytes) -> None:
    answer = await client.audio.speech.create(model="tts-1", voice="echo", input=TEXT, response_format=fmt)
    assert answer.response.headers["content-type"] == content_type
    assert answer.content.startswith(magic)
    assert audio_seconds(answer.content, raw_pcm=fmt == "pcm") == pytest.approx(duration_for(TEXT), abs=0.1)


async def test_speech_default_is_mp3(client: Any) -> None:
    answer = await client.audio.speech.create(model="tts-1", voice={"id": "voice_123"}, input=TEXT)
    assert answer.response.headers["content-type"] == "audio/mpeg"


async def test_speech_sse_stream_reassembles_the_audio(client: Any) -> None:
    streamed = await client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="coral", input=TEXT, response_format="wav", stream_format="sse"
    )
    decoded = [orjson.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert [d["type"] for d in decoded][-1] == "speech.audio.done" and decoded[-1]["usage"]["input_tokens"] > 0
    audio = b"".join(base64.b64decode(d["audio"]) for d in decoded[:-1])
    assert _wav_seconds(audio) == pytest.approx(len(TEXT) / 15, abs=0.01)


async def test_transcription_json_is_deterministic_with_duration_usage(client: Any) -> None:
    audio = await _wav(client)
    first = await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", audio, "audio/wav"))
    again = await client.audio.transcriptions.create(model="whisper-1", file=("b.wav", audio, "audio/wav"))
    assert first.text == again.text and first.text.endswith(".")
    assert first.usage.type == "duration" and first.usage.seconds == 6  # ceil(84 chars / 15 per second)


async def test_longer_audio_gives_longer_text(client: Any) -> None:
    short = await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", await _wav(client, "Hi.")))
    long = await client.audio.transcriptions.create(model="whisper-1", file=("b.wav", await _wav(client, TEXT * 4)))
    assert len(long.text) > 3 * len(short.text)


async def test_text_srt_and_vtt_formats(client: Any) -> None:
    audio = await _wav(client, TEXT * 3)
    plain = await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", audio), response_format="text")
    srt = await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", audio), response_format="srt")
    vtt = await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", audio), response_format="vtt")
    assert isinstance(plain, str) and plain.endswith("\n") and not plain.startswith("{")
    assert all(SRT_CUE.match(block + "\n") for block in srt.strip("\n").split("\n\n"))
    assert vtt.startswith("WEBVTT\n\n")
    assert all(VTT_CUE.match(block + "\n") for block in vtt[8:].strip("\n").split("\n\n"))
    assert " ".join(b.split("\n")[2] for b in srt.strip("\n").split("\n\n")) == plain.strip()


async def test_verbose_json_with_words_and_segments(client: Any) -> None:
    audio = await _wav(client, TEXT * 2)
    answer = await client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", audio), response_format="verbose_json",
        timestamp_granularities=["word", "segment"], language="fr",
    )  # fmt: skip
    assert (answer.language, answer.duration) == ("french", pytest.approx(_wav_seconds(audio)))
    assert answer.words and answer.words[-1].end <= answer.duration + 1e-6
    assert all(a.end <= b.start + 1e-6 for a, b in zip(answer.words, answer.words[1:], strict=False))
    assert answer.segments and answer.segments[-1].end == pytest.approx(answer.duration)
    assert "".join(s.text for s in answer.segments).strip() == answer.text


async def test_gpt4o_transcribe_rejects_verbose_json_and_counts_tokens(client: Any) -> None:
    audio = await _wav(client)
    with pytest.raises(openai.BadRequestError):
        await client.audio.transcriptions.create(
            model="gpt-4o-transcribe", file=("a.wav", audio), response_format="srt"
        )
    answer = await client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("a.wav", audio))
    assert answer.usage.type == "tokens" and answer.usage.input_token_details.audio_tokens == 56


async def test_transcription_stream_deltas_join_to_done(client: Any) -> None:
    stream = await client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("a.wav", await _wav(client, TEXT * 2)), stream=True,
        include=["logprobs"],
    )  # fmt: skip
    events = [event async for event in stream]
    deltas, done = events[:-1], events[-1]
    assert {e.type for e in deltas} == {"transcript.text.delta"} and done.type == "transcript.text.done"
    assert "".join(e.delta for e in deltas) == done.text
    assert done.usage.output_tokens == len(deltas) and len(done.logprobs) == len(deltas)


async def test_whisper_ignores_stream(client: Any) -> None:
    form = {"model": "whisper-1", "stream": "true"}
    answer = await client._client.post(
        "/v1/audio/transcriptions", data=form, files={"file": ("a.wav", await _wav(client), "audio/wav")}
    )
    assert answer.headers["content-type"].startswith("application/json") and answer.json()["text"]


async def test_translation_is_english_and_has_no_usage(client: Any) -> None:
    audio = await _wav(client)
    with pytest.warns(DeprecationWarning):
        answer = await client.audio.translations.create(model="whisper-1", file=("a.wav", audio))
    with pytest.warns(DeprecationWarning):
        verbose = await client.audio.translations.create(
            model="whisper-1", file=("a.wav", audio), response_format="verbose_json"
        )
    assert answer.text == verbose.text and verbose.language == "english"


async def test_diarized_json_uses_known_speakers(client: Any) -> None:
    answer = await client.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize", file=("a.wav", await _wav(client, TEXT * 3)),
        response_format="diarized_json", chunking_strategy="auto",
        known_speaker_names=["ann", "bob"], known_speaker_references=["data:audio/wav;base64,AA==", "data:,"],
    )  # fmt: skip
    assert {s.speaker for s in answer.segments} == {"ann", "bob"}


@settings(database=None, max_examples=40, deadline=None)
@given(text=st.text(min_size=1, max_size=300), fmt=st.sampled_from(["mp3", "opus", "aac", "flac", "wav"]))
def test_duration_read_back_from_speech(text: str, fmt: str) -> None:
    data, _ = speech(text, fmt, seed=7)
    assert audio_seconds(data) == pytest.approx(duration_for(text), abs=0.05)


CUE = st.tuples(st.floats(0, 7200), st.floats(0, 60), st.from_regex(r"[A-Za-z,.][A-Za-z ,.]{0,30}", fullmatch=True))


@settings(database=None, max_examples=60, deadline=None)
@given(cues=st.lists(CUE, max_size=6))
def test_subtitle_syntax(cues: list[tuple[float, float, str]]) -> None:
    timed = [(start, start + length, text) for start, length, text in cues]
    srt, vtt = subtitles(timed, "srt"), subtitles(timed, "vtt")
    srt_blocks = srt.strip("\n").split("\n\n") if cues else []
    assert len(srt_blocks) == len(cues) and all(SRT_CUE.match(b + "\n") for b in srt_blocks)
    assert [int(b.split("\n")[0]) for b in srt_blocks] == list(range(1, len(cues) + 1))
    assert vtt.startswith("WEBVTT\n\n") and vtt.count(" --> ") == len(cues)
