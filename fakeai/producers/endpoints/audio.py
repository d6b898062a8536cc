"""``POST /audio/speech``, ``/audio/transcriptions``, ``/audio/translations``.

Speech: decodable audio in the requested format (real content type, not the spec's
``application/octet-stream``), ~15 characters a second divided by ``speed``; the voice seeds the
timbre. ``stream_format: "sse"`` sends ``speech.audio.delta`` chunks and ``speech.audio.done``.

Transcriptions / translations: the uploaded file's duration is read from its header (WAV, FLAC,
Ogg Opus, MP3; other bytes count as 128 kbit/s); the text is lorem from the bundled corpus, about
3.2 tokens a second, seeded by the file bytes, so the same file always gives the same text.
``response_format``: json (+ ``usage``), text, srt, vtt, verbose_json (segments, and words when
``timestamp_granularities`` has ``word``), diarized_json. ``stream: true`` (gpt-4o models) sends
``transcript.text.delta`` events and ``transcript.text.done``; whisper-1 ignores it, like OpenAI.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fakeai.context import Frame, Output, RequestContext
from fakeai.errors import APIError
from fakeai.media.audio import duration_for
from fakeai.media.formats import speech
from fakeai.producers.base import CompileEnv
from fakeai.producers.text.text import LengthSpec, generate
from fakeai.producers.text.tokenizer import Tokenizer, for_model
from fakeai.spec.operation import Operation

__all__ = ["SpeechProducer", "TranscriptionProducer", "audio_seconds", "factory", "subtitles"]

AUDIO_TOKENS_IN_PER_SECOND = 10  # user audio: one token per 100 ms
AUDIO_TOKENS_OUT_PER_SECOND = 20  # generated audio: one token per 50 ms
TEXT_TOKENS_PER_SECOND = 3.2  # ~150 words a minute
SSE_CHUNK_BYTES = 8192
LANGUAGES = {
    "en": "english",
    "fr": "french",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
    "ja": "japanese",
    "zh": "chinese",
    "ru": "russian",
    "ko": "korean",
    "pl": "polish",
}
_MP3_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)  # MPEG-1 Layer III
_MP3_KBPS_LSF = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)  # MPEG-2/2.5 Layer III
_ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350, 1, 1, 1)
PCM_RATE = 24_000
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[\w']+")


def audio_seconds(data: bytes, *, raw_pcm: bool = False) -> float:
    """Duration of WAV, FLAC, Ogg Opus, ADTS AAC or MP3 bytes from their headers; raw PCM as 24 kHz
    16-bit mono (OpenAI's ``pcm``); anything else at 128 kbit/s."""
    if raw_pcm:
        return len(data) / (2 * PCM_RATE)
    try:
        if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
            return _wav_seconds(data)
        if data[:4] == b"fLaC":
            info = int.from_bytes(data[18:26], "big")
            rate, total = info >> 44, info & ((1 << 36) - 1)
            return total / rate if rate else 0.0
        if data[:4] == b"OggS":
            head = data.find(b"OpusHead")
            pre_skip = int.from_bytes(data[head + 10 : head + 12], "little") if head >= 0 else 0
            granule = int.from_bytes(data[data.rfind(b"OggS") + 6 :][:8], "little", signed=True)
            return max(0, granule - pre_skip) / 48_000
        if data[:2] in (b"\xff\xf1", b"\xff\xf9"):
            return _adts_seconds(data)
        kbps = _mp3_kbps(data)
        if kbps:
            return len(data) * 8 / (kbps * 1000)
    except (struct.error, ValueError, IndexError):
        pass
    return len(data) / 16_000


def _wav_seconds(data: bytes) -> float:
    at, byte_rate = 12, 0
    while at + 8 <= len(data):
        kind, size = data[at : at + 4], struct.unpack("<I", data[at + 4 : at + 8])[0]
        if kind == b"fmt ":
            byte_rate = struct.unpack("<I", data[at + 16 : at + 20])[0]
        elif kind == b"data":
            return min(size, len(data) - at - 8) / byte_rate if byte_rate else 0.0
        at += 8 + size + (size & 1)
    return 0.0


def _adts_seconds(data: bytes) -> float:
    rate = _ADTS_RATES[(data[2] >> 2) & 0xF]
    frames = at = 0
    while at + 7 <= len(data) and data[at] == 0xFF and data[at + 1] & 0xF6 == 0xF0:
        length = (data[at + 3] & 3) << 11 | data[at + 4] << 3 | data[at + 5] >> 5
        if length < 7:
            break
        frames, at = frames + 1, at + length
    return frames * 1024 / rate


def _mp3_kbps(data: bytes) -> int:
    at = (
        10 + ((data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | data[9] & 0x7F)
        if (data[:3] == b"ID3")
        else 0
    )
    if len(data) < at + 4 or data[at] != 0xFF or data[at + 1] & 0xE6 != 0xE2:  # frame sync, Layer III
        return 0
    table = _MP3_KBPS if data[at + 1] & 0x18 == 0x18 else _MP3_KBPS_LSF
    return table[data[at + 2] >> 4] if data[at + 2] >> 4 < 15 else 0


def subtitles(cues: Sequence[tuple[float, float, str]], fmt: str) -> str:
    """SubRip (``srt``) or WebVTT (``vtt``) text for (start, end, text) cues."""
    sep = "," if fmt == "srt" else "."

    def stamp(seconds: float) -> str:
        ms = round(seconds * 1000)
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"

    blocks = [f"{stamp(start)} --> {stamp(end)}\n{text}\n" for start, end, text in cues]
    if fmt == "srt":
        return "\n".join(f"{i}\n{block}" for i, block in enumerate(blocks, 1))
    return "WEBVTT\n\n" + "\n".join(blocks)


@dataclass(frozen=True, slots=True)
class SpeechProducer:
    source: str = "llm"

    def produce(self, ctx: RequestContext) -> Output | None:
        body: Mapping[str, Any] = ctx.body if isinstance(ctx.body, dict) else {}
        text, model = str(body.get("input") or ""), str(body.get("model") or "tts-1")
        voice = body.get("voice")
        voice_id = str(voice.get("id") if isinstance(voice, dict) else voice)
        speed = float(body.get("speed") or 1.0)
        fmt = str(body.get("response_format") or "mp3")
        seed = int.from_bytes(hashlib.blake2b(f"{voice_id}\0{model}".encode(), digest_size=8).digest(), "big")
        audio, content_type = speech(text, fmt, seed=seed, speed=speed)
        if body.get("stream_format") != "sse":
            return Output(body=audio, content_type=content_type, source=self.source)
        if model.startswith("tts-1"):
            raise APIError(400, f"stream_format 'sse' is not supported for {model}.", param="stream_format")
        text_tokens = for_model(model).count(text) + for_model(model).count(str(body.get("instructions") or ""))
        audio_tokens = math.ceil(duration_for(text, speed) * AUDIO_TOKENS_OUT_PER_SECOND)
        frames = [
            Frame(
                {"type": "speech.audio.delta", "audio": base64.b64encode(audio[at : at + SSE_CHUNK_BYTES]).decode()},
                tokens=1,
            )
            for at in range(0, len(audio), SSE_CHUNK_BYTES)
        ]
        usage = {"input_tokens": text_tokens, "output_tokens": audio_tokens, "total_tokens": text_tokens + audio_tokens}
        frames.append(Frame({"type": "speech.audio.done", "usage": usage}))
        return Output(frames=frames, source=self.source)


@dataclass(frozen=True, slots=True)
class TranscriptionProducer:
    translate: bool
    mode: str
    fixed_text: str
    source: str = "llm"

    def produce(self, ctx: RequestContext) -> Output | None:
        body: Mapping[str, Any] = ctx.body if isinstance(ctx.body, dict) else {}
        uploads = ctx.files.get("file") or ()
        data = uploads[0].data if uploads else b""
        raw_pcm = bool(uploads) and (uploads[0].filename.lower().endswith(".pcm") or "pcm" in uploads[0].content_type)
        model = str(body.get("model") or "whisper-1")
        fmt = str(body.get("response_format") or "json")
        _check_format(model, fmt)
        tokenizer = for_model(model)
        seconds = round(max(audio_seconds(data, raw_pcm=raw_pcm), 0.1), 3)
        text = self._text(data, seconds, tokenizer)
        whisper = not model.startswith("gpt-")
        if fmt == "text":
            return Output(body=text + "\n", content_type="text/plain", source=self.source)
        cues = _cues(text, seconds)
        if fmt in ("srt", "vtt"):
            return Output(body=subtitles(cues, fmt), content_type="text/plain", source=self.source)
        prompt_tokens = tokenizer.count(str(body.get("prompt") or ""))
        usage = _usage(whisper, seconds, prompt_tokens, tokenizer.count(text))
        logprobs = "logprobs" in _as_list(body.get("include")) and not whisper
        if ctx.wants_stream and not whisper and not self.translate:
            return Output(frames=_stream(text, tokenizer, usage, cues, model, logprobs, ctx), source=self.source)
        answer: dict[str, Any] = {"text": text}
        if fmt == "verbose_json":
            language = "english" if self.translate else _language(body.get("language"))
            answer = {"language": language, "duration": seconds, "text": text}
            if "segment" in _as_list(body.get("timestamp_granularities")) or not body.get("timestamp_granularities"):
                answer["segments"] = _segments(cues, tokenizer, ctx.rng)
            if "word" in _as_list(body.get("timestamp_granularities")) and not self.translate:
                answer["words"] = _words(text, seconds)
        elif fmt == "diarized_json":
            segments = _diarized(cues, _as_list(body.get("known_speaker_names")))
            answer = {"task": "transcribe", "duration": seconds, "text": text, "segments": segments}
        elif logprobs:
            answer["logprobs"] = _logprobs(tokenizer.split(text), ctx.rng)
        if not self.translate:
            answer["usage"] = usage
        return Output(body=answer, source=self.source, completion_tokens=tokenizer.count(text))

    def _text(self, data: bytes, seconds: float, tokenizer: Tokenizer) -> str:
        if self.mode == "fixed":
            return self.fixed_text
        rng = random.Random(hashlib.blake2b(data, digest_size=8).digest())
        target = max(1, round(seconds * TEXT_TOKENS_PER_SECOND))
        length = LengthSpec(mean=target, stddev=0, minimum=1, maximum=max(1, target * 2))
        text = generate(mode="lorem", rng=rng, tokenizer=tokenizer, max_tokens=None, length=length).text
        text = " ".join(text.split())  # one line, single spaces: a transcript has no paragraphs
        return text if text.endswith((".", "!", "?")) else text.rstrip(",;:- ") + "."


def _check_format(model: str, fmt: str) -> None:
    if model.startswith("gpt-4o") and "transcribe" in model:
        allowed: tuple[str, ...] = ("json", "text", "diarized_json") if model.endswith("diarize") else ("json", "text")
    elif model.startswith("whisper"):
        allowed = ("json", "text", "srt", "verbose_json", "vtt")
    else:
        return
    if fmt not in allowed:
        raise APIError(
            400,
            f"response_format '{fmt}' is not compatible with model '{model}'. Use {' or '.join(allowed)}.",
            param="response_format",
            code="unsupported_value",
        )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _language(code: Any) -> str:
    return LANGUAGES.get(str(code).lower(), str(code).lower()) if code else "english"


def _usage(whisper: bool, seconds: float, prompt_tokens: int, text_tokens: int) -> dict[str, Any]:
    if whisper:
        return {"type": "duration", "seconds": math.ceil(seconds)}
    audio = math.ceil(seconds * AUDIO_TOKENS_IN_PER_SECOND)
    return {
        "type": "tokens",
        "input_tokens": audio + prompt_tokens,
        "input_token_details": {"text_tokens": prompt_tokens, "audio_tokens": audio},
        "output_tokens": text_tokens,
        "total_tokens": audio + prompt_tokens + text_tokens,
    }


def _cues(text: str, seconds: float) -> list[tuple[float, float, str]]:
    """One cue per sentence; time shared out in proportion to characters."""
    sentences = [s for s in _SENTENCE.split(text) if s] or [text]
    total = sum(len(s) for s in sentences) or 1
    cues, start = [], 0.0
    for sentence in sentences:
        end = min(seconds, start + seconds * len(sentence) / total)
        cues.append((round(start, 3), round(end, 3), sentence))
        start = end
    return cues


def _segments(cues: Sequence[tuple[float, float, str]], tokenizer: Tokenizer, rng: random.Random) -> list[Any]:
    return [
        {
            "id": index,
            "seek": round(start * 100),
            "start": start,
            "end": end,
            "text": " " + sentence,
            "tokens": tokenizer.encode(" " + sentence),
            "temperature": 0.0,
            "avg_logprob": round(-rng.uniform(0.1, 0.4), 6),
            "compression_ratio": round(rng.uniform(1.1, 1.7), 6),
            "no_speech_prob": round(rng.uniform(0.0, 0.02), 6),
        }
        for index, (start, end, sentence) in enumerate(cues)
    ]


def _words(text: str, seconds: float) -> list[dict[str, Any]]:
    scale = seconds / max(len(text), 1)
    return [
        {"word": m.group(0), "start": round(m.start() * scale, 3), "end": round(m.end() * scale, 3)}
        for m in _WORD.finditer(text)
    ]


def _diarized(cues: Sequence[tuple[float, float, str]], names: Sequence[Any]) -> list[dict[str, Any]]:
    speakers = [str(n) for n in names] or ["A", "B"]
    return [
        {
            "type": "transcript.text.segment",
            "id": f"seg_{i:03d}",
            "start": start,
            "end": end,
            "text": sentence,
            "speaker": speakers[i % len(speakers)],
        }
        for i, (start, end, sentence) in enumerate(cues)
    ]


def _logprobs(split: tuple[Sequence[int], Sequence[str]], rng: random.Random) -> list[dict[str, Any]]:
    return [
        {"token": piece, "logprob": round(-rng.expovariate(25.0), 6), "bytes": list(piece.encode())}
        for piece in split[1]
    ]


def _stream(
    text: str,
    tokenizer: Tokenizer,
    usage: Mapping[str, Any],
    cues: Sequence[tuple[float, float, str]],
    model: str,
    logprobs: bool,
    ctx: RequestContext,
) -> list[Frame]:
    frames: list[Frame] = []
    all_logprobs: list[dict[str, Any]] = []
    diarize = model.endswith("diarize")
    segments = _diarized(cues, _as_list((ctx.body or {}).get("known_speaker_names"))) if diarize else []
    for index, (_start, _end, sentence) in enumerate(cues):
        piece_text = sentence if index == 0 else " " + sentence
        for piece in tokenizer.split(piece_text)[1]:
            delta: dict[str, Any] = {"type": "transcript.text.delta", "delta": piece}
            if logprobs:
                delta["logprobs"] = _logprobs(((0,), (piece,)), ctx.rng)
                all_logprobs.extend(delta["logprobs"])
            if diarize:
                delta["segment_id"] = segments[index]["id"]
            frames.append(Frame(delta, tokens=1))
        if diarize:
            frames.append(Frame(segments[index]))
    done: dict[str, Any] = {"type": "transcript.text.done", "text": text, "usage": dict(usage)}
    if logprobs:
        done["logprobs"] = all_logprobs
    frames.append(Frame(done))
    return frames


def factory(operation: Operation, env: CompileEnv) -> SpeechProducer | TranscriptionProducer | None:
    if operation.operation_id == "createSpeech":
        return SpeechProducer()
    if operation.operation_id in ("createTranscription", "createTranslation"):
        settings = env.settings
        return TranscriptionProducer(operation.operation_id == "createTranslation", settings.mode, settings.fixed_text)
    return None
