"""Audio in chat completions: spoken answers for ``modalities: ["text", "audio"]`` and billed audio prompts.

Output: with ``"audio"`` in ``modalities`` (and the ``audio: {voice, format}`` parameter the API requires then),
each text answer is spoken: ``message.audio`` carries an id, ``expires_at`` (an hour on), the base64 audio in the
requested format (the synthetic voice of :mod:`fakeai.media.audio`, ~15 characters a second) and the text as
``transcript``; ``message.content`` is null, as the API answers. A stream sends the same audio as
``delta.audio`` objects: the id first, then transcript pieces (one per text delta) interleaved with base64 data
chunks, and ``expires_at`` with the last. ``pcm16`` is raw 24 kHz 16-bit mono PCM.

Usage: output audio costs :data:`OUTPUT_TOKENS_PER_SECOND` tokens a second of speech
(``completion_tokens_details.audio_tokens``, included in ``completion_tokens``); ``input_audio`` parts of the
prompt cost :data:`INPUT_TOKENS_PER_SECOND` (``prompt_tokens_details.audio_tokens``, included in
``prompt_tokens``), their duration read from the WAV header or estimated from the MP3's size.
"""

from __future__ import annotations

import base64
import binascii
import io
import random
import wave
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fakeai.errors import APIError
from fakeai.ids import new_id
from fakeai.media.audio import SAMPLE_RATE, duration_for, speech

__all__ = ["INPUT_TOKENS_PER_SECOND", "OUTPUT_TOKENS_PER_SECOND", "AudioAnswer", "AudioRequest", "prompt_audio_tokens"]

OUTPUT_TOKENS_PER_SECOND = 20  # OpenAI bills output audio at about one token per 50 ms
INPUT_TOKENS_PER_SECOND = 10  # and input audio at about one token per 100 ms
EXPIRES_AFTER = 3600  # seconds an audio answer can be referred to in a later turn
MP3_BYTES_PER_SECOND = 16_000  # 128 kbit/s, to estimate an MP3 prompt's duration
_FORMATS = {"wav": "wav", "mp3": "mp3", "flac": "flac", "opus": "opus", "aac": "aac", "pcm16": "pcm"}
_CHUNK_BYTES = 4800 * 2  # 200 ms of PCM16 per streamed data chunk (before base64)


@dataclass(frozen=True, slots=True)
class AudioRequest:
    """What a request asks of audio output: the speech format (``None``: no audio wanted)."""

    format: str  # the media module's name: wav, mp3, flac, opus, aac, pcm

    @staticmethod
    def from_body(body: Mapping[str, Any]) -> AudioRequest | None:
        modalities = body.get("modalities")
        if not isinstance(modalities, list) or "audio" not in modalities:
            return None
        options = body.get("audio")
        if not isinstance(options, Mapping):
            raise APIError(
                400,
                "Missing required parameter: 'audio'. It is required when 'audio' is in 'modalities'.",
                param="audio",
                code="missing_required_parameter",
            )
        fmt = options.get("format")
        if fmt not in _FORMATS:
            raise APIError(
                400,
                f"Invalid value: {fmt!r}. Supported values are: {', '.join(repr(f) for f in _FORMATS)}.",
                param="audio.format",
                code="invalid_value",
            )
        return AudioRequest(_FORMATS[str(fmt)])

    def speak(self, transcript: str, rng: random.Random, now: float) -> AudioAnswer:
        seed = rng.getrandbits(32)
        data, _ = speech(transcript, self.format, seed=seed)
        seconds = _duration(data, self.format, transcript)
        return AudioAnswer(
            id=new_id(rng, "audio_", 32),
            expires_at=int(now) + EXPIRES_AFTER,
            data=data,
            transcript=transcript,
            tokens=max(1, round(seconds * OUTPUT_TOKENS_PER_SECOND)),
        )


@dataclass(frozen=True, slots=True)
class AudioAnswer:
    id: str
    expires_at: int
    data: bytes
    transcript: str
    tokens: int  # billed output audio tokens

    def message(self) -> dict[str, Any]:
        """``message.audio`` of a non-streamed answer."""
        return {
            "id": self.id,
            "expires_at": self.expires_at,
            "data": base64.b64encode(self.data).decode("ascii"),
            "transcript": self.transcript,
        }

    def deltas(self, transcript_groups: Sequence[tuple[str, int]]) -> Iterator[tuple[dict[str, Any], int]]:
        """``delta.audio`` objects of a stream, with the output tokens each one carries: a transcript piece its
        text tokens (``transcript_groups`` pairs them), the data chunks the audio tokens spread over them."""
        chunks = [self.data[at : at + _CHUNK_BYTES] for at in range(0, len(self.data), _CHUNK_BYTES)] or [b""]
        per_chunk = _spread(self.tokens, len(chunks))
        yield {"id": self.id, "transcript": ""}, 0
        ratio = len(chunks) / max(1, len(transcript_groups))
        sent = 0
        for i, (group, tokens) in enumerate(transcript_groups):
            yield {"transcript": group}, tokens
            while sent < min(len(chunks), round((i + 1) * ratio)):
                yield {"data": base64.b64encode(chunks[sent]).decode("ascii")}, per_chunk[sent]
                sent += 1
        while sent < len(chunks):
            yield {"data": base64.b64encode(chunks[sent]).decode("ascii")}, per_chunk[sent]
            sent += 1
        yield {"expires_at": self.expires_at}, 0


def _spread(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _duration(data: bytes, fmt: str, transcript: str) -> float:
    if fmt == "pcm":
        return len(data) / 2 / SAMPLE_RATE
    if fmt == "wav":
        return _wav_seconds(data) or 0.0
    return duration_for(transcript)  # mp3/aac/opus/flac: the duration the voice was made for


def _wav_seconds(data: bytes) -> float | None:
    try:
        with wave.open(io.BytesIO(data)) as reader:
            rate = reader.getframerate()
            return reader.getnframes() / rate if rate else None
    except (wave.Error, EOFError, ValueError):
        return None


def prompt_audio_tokens(messages: Any) -> int:
    """Billed tokens of the ``input_audio`` parts of ``messages`` (0 when there are none)."""
    if not isinstance(messages, list):
        return 0
    seconds = 0.0
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else None
        for part in content if isinstance(content, list) else ():
            if not isinstance(part, Mapping) or part.get("type") != "input_audio":
                continue
            audio = part.get("input_audio")
            if isinstance(audio, Mapping):
                seconds += _input_seconds(audio.get("data"), audio.get("format"))
    return round(seconds * INPUT_TOKENS_PER_SECOND)


def _input_seconds(data: Any, fmt: Any) -> float:
    if not isinstance(data, str):
        return 0.0
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise APIError(
            400,
            "The audio data in 'input_audio.data' is not valid base64.",
            param="messages",
            code="invalid_value",
        ) from None
    if fmt == "wav":
        seconds = _wav_seconds(raw)
        if seconds is None:
            raise APIError(
                400,
                "The audio file could not be decoded or its format is not supported (expected WAV).",
                param="messages",
                code="invalid_value",
            )
        return seconds
    return len(raw) / MP3_BYTES_PER_SECOND
