"""The realtime WebSocket endpoint (``/v1/realtime?model=...`` under every base path): the handshake, then one
:class:`~fakeai.realtime.connection.Connection` per socket.

    connect    auth like the HTTP API (Bearer token when ``api_keys`` is set; else a 401 handshake answer), or an
               ``ek_`` client secret minted by ``POST /realtime/client_secrets`` (fakeai.realtime.secrets: its
               session configuration applies); ``OpenAI-Beta: realtime=v1`` picks the beta protocol
               (fakeai.realtime.beta translates at the edge)
    receive    each client frame: JSON, a known ``type``, valid against its spec schema -> its handler
               (fakeai.realtime.connection); otherwise an ``error`` event naming the offending ``event_id``
    handle     ``session.update`` (connection), ``conversation.item.*`` (conversation), ``input_audio_buffer.*``
               and server VAD (audio_buffer), ``response.create`` / ``.cancel`` (stream)
    decide     ``response.create`` (or server VAD) is asked of the scenario engine as the equivalent chat request
               (fakeai.realtime.turn): a scripted answer, an error, a fault, or nothing
    respond    the response is planned (fakeai.realtime.respond) and its events paced on the app's clock (TTFT,
               then ITL per token, the fault applied: fakeai.realtime.stream); ``response.cancel`` stops it
    record     one journal entry and the metrics per response (a ``RequestAnswered`` event, fakeai.realtime.turn)
    check      every server event is validated against the spec's ``RealtimeServerEvent*`` schema when
               ``validate_responses`` is on; violations are recorded like HTTP answers' (``app.violations``)

This module is the part ``create_app`` sees: :func:`build` (wiring, once at startup) and
:class:`RealtimeEndpoint` (the ASGI app: path, auth, accept or deny).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import Receive, Scope, Send

from fakeai.clock import Clock
from fakeai.errors import APIError
from fakeai.events import Events
from fakeai.producers.text.common import GenerationConfig
from fakeai.realtime import secrets, turn
from fakeai.realtime.connection import Connection
from fakeai.realtime.schemas import EventSchemas
from fakeai.realtime.session import configured, default_session, without_nulls
from fakeai.simulators.latency import Distribution
from fakeai.spec.operation import iter_operations


@dataclass
class RealtimeEndpoint:
    """Built once by ``create_app``; called by ``ErrorMiddleware`` for every ``websocket`` scope."""

    paths: frozenset[str]  # "/v1/realtime", "/realtime", ...
    schemas: EventSchemas
    generation: GenerationConfig
    clock: Clock
    authorize: Callable[[Mapping[str, str]], None]
    seed: int = 0
    ttft: Callable[[str], tuple[Distribution, Distribution]] = lambda _model: (Distribution(), Distribution())
    check: Any = None  # fakeai.check.ResponseCheck (validate_responses on), else None
    client_secrets: secrets.Secrets | None = None  # ek_ secrets accepted in place of an API key
    bridge: turn.Bridge = field(default_factory=lambda: turn.Bridge(None, Events()))  # scenarios, journal, metrics
    sessions: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        path = scope.get("path", "").rstrip("/")
        if path not in self.paths:
            await _deny(
                scope, send, APIError(404, f"Invalid URL (GET {scope.get('path')})", type="invalid_request_error")
            )
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        configuration: dict[str, Any] = {}
        token = secrets.bearer(headers)
        try:
            configuration = self._configuration(token, headers)
        except APIError as error:
            await _deny(scope, send, error)
            return
        await send({"type": "websocket.accept"})
        self.sessions += 1
        query = dict(_query(scope))
        model = query.get("model") or "gpt-realtime"
        salt = headers.get("x-fakeai-seed", "")
        rng = random.Random(zlib.crc32(f"{self.seed}:{model}:{salt}:{self.sessions}".encode()))
        namespace = headers.get("x-fakeai-namespace") or query.get("x-fakeai-namespace") or ""
        connection = Connection(self, send, model, rng, path, headers, namespace, configuration)
        await connection.run(receive)

    def _configuration(self, token: str | None, headers: Mapping[str, str]) -> dict[str, Any]:
        """Auth: a client secret minted here (its session configuration), else the HTTP API's key check (which
        accepts anything without ``api_keys``: then a bad secret is just a token); raises ``APIError`` (401)."""
        if token is None or not token.startswith(secrets.PREFIX) or self.client_secrets is None:
            self.authorize(headers)
            return {}
        try:
            return self.client_secrets.session_of(token, self.clock.now())
        except APIError as refused:
            try:
                self.authorize(headers)
            except APIError:
                raise refused from None
            return {}


async def _deny(scope: Scope, send: Send, error: APIError) -> None:
    """Refuse the handshake with an HTTP answer (the ASGI denial-response extension), else close 1008."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = orjson.dumps(error.body())  # OpenAI's envelope, as the HTTP API answers the same refusal
        headers = [(b"content-type", b"application/json")]
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()]
        await send({"type": "websocket.http.response.start", "status": error.status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await send({"type": "websocket.close", "code": 1008, "reason": error.message[:120]})


def _query(scope: Scope) -> list[tuple[str, str]]:
    return parse_qsl(scope.get("query_string", b"").decode("latin-1"))


def build(
    settings: Any,
    document: Mapping[str, Any],
    request_validators: Any,
    clock: Clock,
    authorize: Callable[[Mapping[str, str]], None],
    simulators: list[Any],
    check: Any,
    base_paths: list[str],
    events: Events | None = None,
    scenarios: Any = None,
    insert_hook: Callable[[Any, Callable[..., Any]], None] | None = None,
) -> RealtimeEndpoint:
    """The endpoint ``create_app`` installs: every base path + ``/realtime``, the spec's event schemas (client
    events checked like request bodies, server events like responses), latency from the ``latency``
    simulator when it runs (per-model profiles, runtime changes), else from ``--ttft`` / ``--itl``."""
    server_validators = check.validators if check is not None else request_validators
    schemas = EventSchemas.from_document(document, server_validators, request_validators)
    latency = next((s for s in simulators if callable(getattr(s, "profile", None))), None)

    def distributions(model: str) -> tuple[Distribution, Distribution]:
        if latency is not None:
            profile = latency.profile(model)
            return profile.ttft, profile.itl
        return Distribution.parse(settings.ttft, "ttft"), Distribution.parse(settings.itl, "itl")

    paths = frozenset({f"{base.rstrip('/')}/realtime" for base in base_paths} | {"/realtime"})
    chat = next((op for op in iter_operations(document) if op.operation_id == turn.CHAT), None)
    bridge = turn.Bridge(settings, events or Events(), scenarios, chat)
    minted = secrets.Secrets.from_settings(settings)
    if insert_hook is not None:  # POST /realtime/client_secrets answers secrets this endpoint accepts

        def session_for(requested: Mapping[str, Any], now: float) -> dict[str, Any]:
            rng = random.Random(zlib.crc32(orjson.dumps(requested, option=orjson.OPT_SORT_KEYS)))
            model = str(requested.get("model") or "gpt-realtime")
            return without_nulls(configured(default_session(rng, model, now), requested))  # type: ignore[no-any-return]

        from fakeai.pipeline import Position

        insert_hook(Position.AFTER_PRODUCE, secrets.answer_hook(minted, session_for))
    return RealtimeEndpoint(
        paths=paths,
        schemas=schemas,
        generation=GenerationConfig.from_settings(settings),
        clock=clock,
        authorize=authorize,
        seed=int(settings.seed),
        ttft=distributions,
        check=check,
        client_secrets=minted,
        bridge=bridge,
    )
