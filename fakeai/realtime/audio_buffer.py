"""A session's input audio buffer and server VAD: the ``input_audio_buffer.*`` client events.

``append`` adds base64 PCM16 to the buffer; with ``turn_detection`` on, the session's
:class:`~fakeai.realtime.audio.VoiceActivity` hears it (``speech_started``, which cancels a response in flight
as ``turn_detected``; ``speech_stopped``, which commits and asks for a response when ``create_response``).
``commit`` turns the buffer into a user item (``committed``, the item, and with ``audio.input.transcription``
a lorem transcript); ``clear`` empties it. ``output_audio_buffer.clear`` is WebRTC-only: an error here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeai.ids import new_id
from fakeai.producers.text.text import LengthSpec, generate
from fakeai.producers.text.tokenizer import for_model
from fakeai.realtime import audio, conversation, respond, stream

if TYPE_CHECKING:
    import random

    from fakeai.realtime.connection import Connection


def turn_detection(session: dict[str, Any]) -> dict[str, Any] | None:
    """The session's ``audio.input.turn_detection`` (server VAD), or None when it is off."""
    detection = ((session.get("audio") or {}).get("input") or {}).get("turn_detection")
    return detection if isinstance(detection, dict) else None


def new_vad(session: dict[str, Any]) -> audio.VoiceActivity:
    """A fresh detector tuned as the session's ``turn_detection`` says (OpenAI's defaults when it is off)."""
    detection = turn_detection(session) or {}
    return audio.VoiceActivity(
        threshold=float(detection.get("threshold") or 0.5),
        prefix_padding_ms=int(detection.get("prefix_padding_ms") or 300),
        silence_duration_ms=int(detection.get("silence_duration_ms") or 500),
    )


async def append(conn: Connection, event: dict[str, Any]) -> None:
    pcm = audio.from_base64(event["audio"])
    if pcm is None:
        await conn.error("Invalid 'audio': not base64-encoded PCM16.", "invalid_value", event.get("event_id"), "audio")
        return
    conn.buffer += pcm
    if turn_detection(conn.session) is None:
        return
    for change, ms in conn.vad.feed(pcm):
        if change == "speech_started":
            conn.pending_item = new_id(conn.rng, "item_")
            await conn.emit(
                {"type": "input_audio_buffer.speech_started", "audio_start_ms": ms, "item_id": conn.pending_item}
            )
            detection = turn_detection(conn.session) or {}
            if conn.active is not None and detection.get("interrupt_response", True):
                conn.active.reason = "turn_detected"
                conn.active.cancelled.set()
        else:
            item_id = conn.pending_item or new_id(conn.rng, "item_")
            await conn.emit({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": ms, "item_id": item_id})
            await _commit(conn, item_id)
            conn.vad.reset_turn()
            if (turn_detection(conn.session) or {}).get("create_response", True):
                await stream.create(conn, {"type": "response.create"})


async def commit(conn: Connection, event: dict[str, Any]) -> None:
    if audio.seconds_of(bytes(conn.buffer)) < 0.1:
        seconds = audio.seconds_of(bytes(conn.buffer)) * 1000
        await conn.error(
            f"Error committing input audio buffer: buffer too small. Expected at least 100ms of "
            f"audio, but buffer only has {seconds:.2f}ms of audio.",
            "input_audio_buffer_commit_empty",
            event.get("event_id"),
        )
        return
    await _commit(conn, conn.pending_item or new_id(conn.rng, "item_"))
    conn.vad.reset_turn()


async def clear(conn: Connection, event: dict[str, Any]) -> None:
    conn.buffer.clear()
    conn.pending_item = None
    conn.vad.reset_turn()
    await conn.emit({"type": "input_audio_buffer.cleared"})


async def clear_output(conn: Connection, event: dict[str, Any]) -> None:
    await conn.error(
        "output_audio_buffer.clear is only supported over WebRTC.", "invalid_value", event.get("event_id"), "type"
    )


async def _commit(conn: Connection, item_id: str) -> None:
    pcm, conn.buffer = bytes(conn.buffer), bytearray()
    conn.pending_item = None
    seconds = audio.seconds_of(pcm)
    prior = conn.items[-1]["id"] if conn.items else None
    await conn.emit({"type": "input_audio_buffer.committed", "previous_item_id": prior, "item_id": item_id})
    transcription = ((conn.session.get("audio") or {}).get("input") or {}).get("transcription")
    part: dict[str, Any] = {"type": "input_audio"}
    item = {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [part],
    }
    conn.audio_seconds[item_id] = seconds
    await conversation.add_item(conn, item)
    if transcription:
        text = _transcript(conn.rng, seconds)
        part["transcript"] = text
        tokens = round(seconds * respond.INPUT_AUDIO_TOKENS_PER_SECOND)
        out = for_model("gpt-4o").count(text)
        await conn.emit(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": text,
                "usage": {
                    "type": "tokens",
                    "total_tokens": tokens + out,
                    "input_tokens": tokens,
                    "input_token_details": {"text_tokens": 0, "audio_tokens": tokens},
                    "output_tokens": out,
                },
            }
        )


def _transcript(rng: random.Random, seconds: float) -> str:
    """What the user "said": lorem words, as many as speech of that length holds (0.3 s a word)."""
    words = max(1, round(seconds / audio.SECONDS_PER_WORD))
    tokenizer = for_model("gpt-4o")
    completion = generate(
        mode="lorem",
        rng=rng,
        tokenizer=tokenizer,
        max_tokens=None,
        length=LengthSpec(words * 1.3, 0, 1, 4096),
        ignore_eos=True,
    )
    return " ".join(completion.text.split()[:words])
