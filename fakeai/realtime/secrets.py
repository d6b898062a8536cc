"""Ephemeral client secrets (``ek_...``): what ``POST /realtime/client_secrets`` hands out, what ``/v1/realtime``
accepts in place of an API key.

A secret carries its own state: the session configuration it was created with and its ``expires_at``, compressed
and signed with HMAC-SHA256 under a key derived from the server's settings (its API keys and seed). Every worker
and replica started with the same settings accepts the secrets any of them minted, without a shared store; a
secret stops being accepted at ``expires_at`` (the session it opened goes on, as OpenAI's do).

``POST /realtime/client_secrets`` keeps its pipeline (auth, validation, scenarios, the journal): a hook after the
produce stage replaces the generated ``value``, ``expires_at`` and ``session`` with a minted secret and the
session it configures. Python for one operationId because the answer is a credential this server must accept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import zlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import orjson

from fakeai.context import Output, RequestContext
from fakeai.errors import APIError

PREFIX = "ek_"
OPERATION = "create-realtime-client-secret"
DEFAULT_SECONDS = 600  # expires_after.seconds when the request names none (OpenAI's default)
_TAG_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Secrets:
    """Mints and checks ``ek_`` secrets under one HMAC key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_settings(cls, settings: Any) -> Secrets:
        keys = "\0".join(sorted(getattr(settings, "api_keys", ()) or ()))
        material = f"fakeai-realtime-client-secret\0{keys}\0{getattr(settings, 'seed', 0)}".encode()
        return cls(hashlib.sha256(material).digest())

    def mint(self, session: Mapping[str, Any], expires_at: int) -> str:
        payload = _b64(zlib.compress(orjson.dumps({"exp": int(expires_at), "session": session})))
        return f"{PREFIX}{payload}.{self._tag(payload)}"

    def session_of(self, token: str, now: float) -> dict[str, Any]:
        """The session configuration of a secret minted here; 401 ``invalid_api_key`` when it is not one, or
        it expired."""
        payload, _, tag = token.removeprefix(PREFIX).partition(".")
        if not token.startswith(PREFIX) or not hmac.compare_digest(tag, self._tag(payload)):
            raise _refused("Incorrect API key provided: the client secret was not issued by this server.")
        try:
            data = orjson.loads(zlib.decompress(_unb64(payload)))
        except (binascii.Error, ValueError, zlib.error, orjson.JSONDecodeError):
            raise _refused("Incorrect API key provided: the client secret is malformed.") from None
        if now >= float(data.get("exp", 0)):
            raise _refused("The client secret has expired. Create a new one with POST /v1/realtime/client_secrets.")
        session = data.get("session")
        return dict(session) if isinstance(session, dict) else {}

    def _tag(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()[:_TAG_BYTES])


def _refused(message: str) -> APIError:
    return APIError(401, message, type="invalid_request_error", code="invalid_api_key")


def bearer(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    return (auth[7:].strip() or None) if auth[:7].lower() == "bearer " else None


def answer_hook(
    secrets: Secrets, session_for: Callable[[Mapping[str, Any], float], dict[str, Any]]
) -> Callable[[RequestContext, Output], Output]:
    """The ``AFTER_PRODUCE`` hook of ``POST /realtime/client_secrets``: a minted secret and the session it opens
    (``session_for(requested, now)``); answers a scenario scripted, and error answers, are left alone."""

    def hook(ctx: RequestContext, output: Output) -> Output:
        if ctx.operation_id != OPERATION or output.status != 200 or output.source.startswith("scenario"):
            return output
        body = ctx.body if isinstance(ctx.body, dict) else {}
        requested = body.get("session") if isinstance(body.get("session"), dict) else {}
        if (requested or {}).get("type") == "transcription":  # transcription sessions: not served by the fake
            return output
        expires = body.get("expires_after") if isinstance(body.get("expires_after"), dict) else {}
        expires_at = int(ctx.now) + int((expires or {}).get("seconds") or DEFAULT_SECONDS)
        session = session_for(requested or {}, ctx.now)
        value = secrets.mint(requested or {}, expires_at)
        return replace(output, body={"value": value, "expires_at": expires_at, "session": session})

    return hook
