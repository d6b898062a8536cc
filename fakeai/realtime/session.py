"""A realtime session's configuration: OpenAI's defaults, and ``session.update`` semantics (nested objects merge).

Shared by the connection (``session.created`` / ``session.updated``) and ``POST /realtime/client_secrets`` (the
session a client secret opens).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import Any

from fakeai.ids import new_id
from fakeai.realtime import audio

SESSION_SECONDS = 30 * 60  # a session expires 30 minutes after it started
SESSION_KEYS = (  # what session.update may change (the GA session object's fields)
    "output_modalities",
    "instructions",
    "audio",
    "include",
    "tracing",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "truncation",
    "prompt",
)


def default_session(rng: random.Random, model: str, now: float) -> dict[str, Any]:
    """A new session's configuration (OpenAI's defaults), before ``session.update`` or a client secret's."""
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id(rng, "sess_"),
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "You are a helpful assistant.",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "prompt": None,
        "expires_at": int(now) + SESSION_SECONDS,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": audio.RATE},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 200,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": {"type": "audio/pcm", "rate": audio.RATE}, "voice": "alloy", "speed": 1},
        },
        "include": None,
    }


def configured(session: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``session`` with ``update`` applied as ``session.update`` applies it (nested objects merge)."""
    for key in SESSION_KEYS:
        if key in update:
            session[key] = merged(session.get(key), update[key])
    if isinstance(update.get("model"), str):
        session["model"] = update["model"]
    return session


def merged(old: Any, new: Any) -> Any:
    """``session.update`` semantics: nested objects (``audio.input.turn_detection``) merge, the rest replaces."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {**old, **{k: merged(old.get(k), v) for k, v in new.items()}}
    return copy.deepcopy(new)


def without_nulls(value: Any) -> Any:
    """The session as sent: an unset (null) setting is left out (the GA schemas type most of them as objects)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    return value
