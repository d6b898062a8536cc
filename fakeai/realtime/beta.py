"""The beta Realtime protocol (``OpenAI-Beta: realtime=v1``), as a translation of the GA one at the socket's edge.

The connection speaks GA inside; a beta client's events are turned into GA ones before their handler
(:func:`client_event`: ``modalities``, ``voice``, ``turn_detection``, ``input_audio_transcription``,
``max_response_output_tokens`` into the GA session's places) and every server event into its beta form on the
way out (:func:`server_event`): the beta names (``response.text.delta``, ``response.audio.delta``,
``response.audio_transcript.delta``, ``conversation.item.created``), the beta session and response objects
(``modalities``, ``voice``, ``input_audio_format: pcm16``...); GA-only events (``conversation.item.done``) are
not sent. Both directions are checked against the spec's ``RealtimeBeta*`` event schemas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fakeai.realtime.schemas import BETA_NAMES

RENAMED = {**BETA_NAMES, "conversation.item.added": "conversation.item.created"}
NOT_IN_BETA = frozenset({"conversation.item.done"})
FORMAT = "pcm16"  # the beta name of audio/pcm at 24 kHz


def wanted(headers: Mapping[str, str]) -> bool:
    """The client asked for the beta protocol (``OpenAI-Beta: realtime=v1``)."""
    return "realtime=v1" in headers.get("openai-beta", "").replace(" ", "").split(",")


def _compact(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


def _modalities(ga: Any) -> list[str]:
    return ["audio", "text"] if "audio" in (ga or ("audio",)) else ["text"]


def session(ga: Mapping[str, Any]) -> dict[str, Any]:
    """The GA session object as the beta ``RealtimeSession``."""
    audio = ga.get("audio") or {}
    audio_in, audio_out = audio.get("input") or {}, audio.get("output") or {}
    detection = audio_in.get("turn_detection")
    if isinstance(detection, Mapping):
        detection = _compact({k: v for k, v in detection.items() if k != "idle_timeout_ms"})
    return _compact(
        {
            "id": ga.get("id"),
            "object": "realtime.session",
            "model": ga.get("model"),
            "modalities": _modalities(ga.get("output_modalities")),
            "instructions": ga.get("instructions"),
            "voice": audio_out.get("voice"),
            "input_audio_format": FORMAT,
            "output_audio_format": FORMAT,
            "input_audio_transcription": audio_in.get("transcription"),
            "turn_detection": detection,
            "tools": ga.get("tools"),
            "tool_choice": ga.get("tool_choice"),
            "temperature": 0.8,
            "max_response_output_tokens": ga.get("max_output_tokens"),
            "expires_at": ga.get("expires_at"),
        }
    )


def response(ga: Mapping[str, Any]) -> dict[str, Any]:
    """The GA response object as the beta ``RealtimeBetaResponse``."""
    body = {k: v for k, v in ga.items() if k not in ("output_modalities", "audio")}
    body["modalities"] = _modalities(ga.get("output_modalities"))
    voice = ((ga.get("audio") or {}).get("output") or {}).get("voice")
    if voice:
        body["voice"] = voice
    body["output_audio_format"] = FORMAT
    return body


def server_event(event: dict[str, Any]) -> dict[str, Any] | None:
    """A GA server event in its beta form; None for events the beta protocol does not have."""
    kind = str(event.get("type"))
    if kind in NOT_IN_BETA:
        return None
    event = {**event, "type": RENAMED.get(kind, kind)}
    if kind.startswith("session.") and isinstance(event.get("session"), Mapping):
        event["session"] = session(event["session"])
    if isinstance(event.get("response"), Mapping):
        event["response"] = response(event["response"])
    return event


def _config(beta: Mapping[str, Any]) -> dict[str, Any]:
    """Beta session / response settings as the GA session's."""
    ga: dict[str, Any] = {k: beta[k] for k in ("instructions", "tools", "tool_choice") if k in beta}
    if "modalities" in beta:
        ga["output_modalities"] = ["audio"] if "audio" in (beta["modalities"] or ()) else ["text"]
    for key in ("max_response_output_tokens", "max_output_tokens"):
        if key in beta:
            ga["max_output_tokens"] = beta[key]
    audio_in: dict[str, Any] = {}
    if "turn_detection" in beta:
        audio_in["turn_detection"] = beta["turn_detection"]
    if "input_audio_transcription" in beta:
        audio_in["transcription"] = beta["input_audio_transcription"]
    audio: dict[str, Any] = {"input": audio_in} if audio_in else {}
    if beta.get("voice"):
        audio["output"] = {"voice": beta["voice"]}
    if audio:
        ga["audio"] = audio
    return ga


def client_event(event: dict[str, Any]) -> dict[str, Any]:
    """A (valid) beta client event as the GA event its handler takes."""
    kind = event.get("type")
    if kind == "session.update" and isinstance(event.get("session"), Mapping):
        return {**event, "session": {"type": "realtime", **_config(event["session"])}}
    if kind == "response.create" and isinstance(event.get("response"), Mapping):
        beta = event["response"]
        ga = _config(beta)
        for key in ("conversation", "input", "metadata"):
            if key in beta:
                ga[key] = beta[key]
        return {**event, "response": ga}
    return event
