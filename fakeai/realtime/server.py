"""The realtime WebSocket endpoint (``/v1/realtime?model=...`` under every base path): one :class:`Connection`
per socket.

    connect    auth like the HTTP API (Bearer token when ``api_keys`` is set; else a 401 handshake answer), or an
               ``ek_`` client secret minted by ``POST /realtime/client_secrets`` (fakeai.realtime.secrets: its
               session configuration applies); ``OpenAI-Beta: realtime=v1`` picks the beta protocol
               (fakeai.realtime.beta translates at the edge)
    receive    each client frame: JSON, a known ``type``, valid against its spec schema -> its handler;
               otherwise an ``error`` event naming the offending ``event_id``
    decide     ``response.create`` (or server VAD) is asked of the scenario engine as the equivalent chat request
               (fakeai.realtime.turn): a scripted answer, an error, a fault, or nothing
    respond    the response is planned (fakeai.realtime.respond) and its events paced on the app's clock (TTFT,
               then ITL per token, the fault applied); ``response.cancel`` stops it
    record     one journal entry and the metrics per response (a ``RequestAnswered`` event, fakeai.realtime.turn)
    check      every server event is validated against the spec's ``RealtimeServerEvent*`` schema when
               ``validate_responses`` is on; violations are recorded like HTTP answers' (``app.violations``)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import logging
import random
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from fakeai.clock import Clock
from fakeai.context import Frame, Refusal, RequestContext
from fakeai.errors import SERVER_ERROR_MESSAGE, APIError
from fakeai.events import Events, ResponseInvalid
from fakeai.ids import new_id
from fakeai.producers.text.common import GenerationConfig
from fakeai.producers.text.text import LengthSpec, generate
from fakeai.producers.text.tokenizer import for_model
from fakeai.realtime import audio, beta, respond, secrets, turn
from fakeai.realtime.schemas import EventSchemas
from fakeai.realtime.session import SESSION_KEYS, configured, default_session, without_nulls
from fakeai.scenario.faults import Fault
from fakeai.simulators.latency import Distribution
from fakeai.spec.operation import iter_operations

log = logging.getLogger("fakeai")

OPERATION_ID = turn.OPERATION_ID  # how self-check violations, the journal and the metrics name this endpoint
RATE_LIMITS = {"requests": 5_000, "tokens": 400_000}


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
        body = orjson.dumps(
            {"error": {"message": error.message, "type": error.type, "param": error.param, "code": error.code}}
        )
        await send(
            {
                "type": "websocket.http.response.start",
                "status": error.status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await send({"type": "websocket.close", "code": 1008, "reason": error.message[:120]})


def _query(scope: Scope) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(scope.get("query_string", b"").decode("latin-1"))


@dataclass
class _Active:
    plan: respond.Plan
    task: asyncio.Task[None] | None = None
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = "client_cancelled"


class Connection:
    """One realtime session: its configuration, conversation, input audio buffer and the response in flight."""

    def __init__(
        self,
        endpoint: RealtimeEndpoint,
        send: Send,
        model: str,
        rng: random.Random,
        path: str = "/v1/realtime",
        headers: Mapping[str, str] | None = None,
        namespace: str = "",
        configuration: Mapping[str, Any] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.path = path
        self.headers = dict(headers or {})
        self.namespace = namespace
        self.beta = beta.wanted(self.headers)  # OpenAI-Beta: realtime=v1 (fakeai.realtime.beta translates)
        self._send = send
        self.rng = rng
        self.sent = 0
        self.closed = False
        now = endpoint.clock.now()
        self.session = configured(default_session(rng, model, now), configuration or {})
        self.conversation_id = new_id(rng, "conv_")
        self.items: list[dict[str, Any]] = []
        self.buffer = bytearray()  # uncommitted input audio
        self.audio_seconds: dict[str, float] = {}  # user audio items -> seconds (input audio tokens)
        self.vad = self._new_vad()
        self.pending_item: str | None = None  # the user item VAD will create when speech stops
        self.active: _Active | None = None
        self.requests_left = RATE_LIMITS["requests"]
        self.tokens_left = RATE_LIMITS["tokens"]

    # -- the socket -------------------------------------------------------------------------------------------
    async def run(self, receive: Receive) -> None:
        await self.emit({"type": "session.created", "session": without_nulls(self.session)})
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message["type"] != "websocket.receive":
                    continue
                await self.on_frame(message.get("text") or message.get("bytes") or b"")
        finally:
            self.closed = True
            if self.active is not None and self.active.task is not None:
                self.active.task.cancel()

    async def emit(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Send ``event`` (with a new ``event_id``); the event as sent, or None when the socket is closed."""
        if self.closed:
            return None
        event = {"event_id": new_id(self.rng, "event_"), **event}
        if self.beta:
            translated = beta.server_event(event)
            if translated is None:  # a GA-only event (conversation.item.done)
                return None
            event = translated
        check = self.endpoint.check
        if check is not None:
            problems = self.endpoint.schemas.server_problems(event, self.beta)
            if problems:
                invalid = ResponseInvalid(OPERATION_ID, f"event {self.sent} ({event.get('type')})", tuple(problems))
                check.violations.append(invalid)
                check.events.emit(invalid)
                log.error("realtime event %s violates the spec: %s", event.get("type"), problems)
        self.sent += 1
        try:
            await self._send({"type": "websocket.send", "text": orjson.dumps(event).decode()})
        except Exception:  # the client went away mid-send: the receive loop sees the disconnect
            self.closed = True
            return None
        return event

    async def error(
        self,
        message: str,
        code: str | None,
        event_id: Any,
        param: str | None = None,
        kind: str = "invalid_request_error",
    ) -> dict[str, Any] | None:
        return await self.emit(
            {
                "type": "error",
                "error": {
                    "type": kind,
                    "code": code,
                    "message": message,
                    "param": param,
                    "event_id": event_id if isinstance(event_id, str) else None,
                },
            }
        )

    async def on_frame(self, raw: str | bytes) -> None:
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            await self.error(f"We could not parse the JSON body of your event: {exc}", "invalid_json", None)
            return
        if not isinstance(event, dict):
            await self.error("The event must be a JSON object.", "invalid_json", None)
            return
        event_id = event.get("event_id")
        kind = event.get("type")
        handler = getattr(self, "on_" + str(kind).replace(".", "_"), None) if isinstance(kind, str) else None
        known_types = self.endpoint.schemas.beta_client if self.beta else self.endpoint.schemas.client
        if kind not in known_types or handler is None:
            if not isinstance(kind, str):
                await self.error("Missing required parameter: 'type'.", "missing_required_parameter", event_id, "type")
                return
            known = ", ".join(f"'{k}'" for k in sorted(known_types))
            await self.error(
                f"Invalid value: '{kind}'. Supported values are: {known}.", "invalid_value", event_id, "type"
            )
            return
        problem = self.endpoint.schemas.client_error(event, self.beta)
        if problem is not None:
            message, param = problem
            code = (
                "missing_required_parameter"
                if message.startswith("Missing")
                else "invalid_type"
                if message.startswith("Invalid type")
                else "invalid_value"
            )
            await self.error(message, code, event_id, param)
            return
        await handler(beta.client_event(event) if self.beta else event)

    # -- session ----------------------------------------------------------------------------------------------
    async def on_session_update(self, event: dict[str, Any]) -> None:
        update = event.get("session") or {}
        if update.get("type") not in (None, "realtime"):
            await self.error(
                "Only 'realtime' sessions are supported by fakeai (no transcription sessions).",
                "invalid_value",
                event.get("event_id"),
                "session.type",
            )
            return
        configured(self.session, {k: v for k, v in update.items() if k != "model"})
        self.vad = self._new_vad()
        await self.emit({"type": "session.updated", "session": without_nulls(self.session)})

    def _turn_detection(self) -> dict[str, Any] | None:
        detection = ((self.session.get("audio") or {}).get("input") or {}).get("turn_detection")
        return detection if isinstance(detection, dict) else None

    def _new_vad(self) -> audio.VoiceActivity:
        detection = self._turn_detection() or {}
        return audio.VoiceActivity(
            threshold=float(detection.get("threshold") or 0.5),
            prefix_padding_ms=int(detection.get("prefix_padding_ms") or 300),
            silence_duration_ms=int(detection.get("silence_duration_ms") or 500),
        )

    # -- conversation -----------------------------------------------------------------------------------------
    def _find(self, item_id: Any) -> int | None:
        return next((i for i, item in enumerate(self.items) if item.get("id") == item_id), None)

    async def _add_item(self, item: dict[str, Any], previous: str | None = None) -> None:
        at = len(self.items) if previous is None else (self._find(previous) or len(self.items) - 1) + 1
        prior = self.items[at - 1]["id"] if at > 0 else None
        self.items.insert(at, item)
        await self.emit({"type": "conversation.item.added", "previous_item_id": prior, "item": item})
        await self.emit({"type": "conversation.item.done", "previous_item_id": prior, "item": item})

    async def on_conversation_item_create(self, event: dict[str, Any]) -> None:
        item = copy.deepcopy(event["item"])
        item.setdefault("id", new_id(self.rng, "item_"))
        item["object"] = "realtime.item"
        item.setdefault("status", "completed")
        previous = event.get("previous_item_id")
        if previous not in (None, "root") and self._find(previous) is None:
            await self.error(
                f"The previous item with id '{previous}' does not exist.",
                "item_not_found",
                event.get("event_id"),
                "previous_item_id",
            )
            return
        if self._find(item["id"]) is not None:
            await self.error(
                f"An item with id '{item['id']}' already exists.", "duplicate_item_id", event.get("event_id"), "item.id"
            )
            return
        for part in item.get("content") or ():  # audio is kept out of the events (the spec's item.added says so)
            if isinstance(part, dict) and isinstance(part.get("audio"), str):
                pcm = _b64(part.pop("audio"))
                self.audio_seconds[item["id"]] = audio.seconds_of(pcm or b"")
        if previous == "root":
            self.items.insert(0, item)
            await self.emit({"type": "conversation.item.added", "previous_item_id": None, "item": item})
            await self.emit({"type": "conversation.item.done", "previous_item_id": None, "item": item})
            return
        await self._add_item(item, previous)

    async def on_conversation_item_retrieve(self, event: dict[str, Any]) -> None:
        at = self._find(event["item_id"])
        if at is None:
            await self._missing(event)
            return
        await self.emit({"type": "conversation.item.retrieved", "item": self.items[at]})

    async def on_conversation_item_delete(self, event: dict[str, Any]) -> None:
        at = self._find(event["item_id"])
        if at is None:
            await self._missing(event)
            return
        del self.items[at]
        await self.emit({"type": "conversation.item.deleted", "item_id": event["item_id"]})

    async def on_conversation_item_truncate(self, event: dict[str, Any]) -> None:
        at = self._find(event["item_id"])
        if at is None:
            await self._missing(event)
            return
        await self.emit(
            {
                "type": "conversation.item.truncated",
                "item_id": event["item_id"],
                "content_index": event["content_index"],
                "audio_end_ms": event["audio_end_ms"],
            }
        )

    async def _missing(self, event: dict[str, Any]) -> None:
        await self.error(
            f"The item with id '{event['item_id']}' does not exist.", "item_not_found", event.get("event_id"), "item_id"
        )

    # -- input audio ------------------------------------------------------------------------------------------
    async def on_input_audio_buffer_append(self, event: dict[str, Any]) -> None:
        pcm = _b64(event["audio"])
        if pcm is None:
            await self.error(
                "Invalid 'audio': not base64-encoded PCM16.", "invalid_value", event.get("event_id"), "audio"
            )
            return
        self.buffer += pcm
        if self._turn_detection() is None:
            return
        for change, ms in self.vad.feed(pcm):
            if change == "speech_started":
                self.pending_item = new_id(self.rng, "item_")
                await self.emit(
                    {"type": "input_audio_buffer.speech_started", "audio_start_ms": ms, "item_id": self.pending_item}
                )
                detection = self._turn_detection() or {}
                if self.active is not None and detection.get("interrupt_response", True):
                    self.active.reason = "turn_detected"
                    self.active.cancelled.set()
            else:
                item_id = self.pending_item or new_id(self.rng, "item_")
                await self.emit({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": ms, "item_id": item_id})
                await self._commit(item_id)
                self.vad.reset_turn()
                if (self._turn_detection() or {}).get("create_response", True):
                    await self.on_response_create({"type": "response.create"})

    async def on_input_audio_buffer_commit(self, event: dict[str, Any]) -> None:
        if audio.seconds_of(bytes(self.buffer)) < 0.1:
            seconds = audio.seconds_of(bytes(self.buffer)) * 1000
            await self.error(
                f"Error committing input audio buffer: buffer too small. Expected at least 100ms of "
                f"audio, but buffer only has {seconds:.2f}ms of audio.",
                "input_audio_buffer_commit_empty",
                event.get("event_id"),
            )
            return
        await self._commit(self.pending_item or new_id(self.rng, "item_"))
        self.vad.reset_turn()

    async def on_input_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        self.buffer.clear()
        self.pending_item = None
        self.vad.reset_turn()
        await self.emit({"type": "input_audio_buffer.cleared"})

    async def on_output_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        await self.error(
            "output_audio_buffer.clear is only supported over WebRTC.", "invalid_value", event.get("event_id"), "type"
        )

    async def _commit(self, item_id: str) -> None:
        pcm, self.buffer = bytes(self.buffer), bytearray()
        self.pending_item = None
        seconds = audio.seconds_of(pcm)
        prior = self.items[-1]["id"] if self.items else None
        await self.emit({"type": "input_audio_buffer.committed", "previous_item_id": prior, "item_id": item_id})
        transcription = ((self.session.get("audio") or {}).get("input") or {}).get("transcription")
        part: dict[str, Any] = {"type": "input_audio"}
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [part],
        }
        self.audio_seconds[item_id] = seconds
        await self._add_item(item)
        if transcription:
            text = self._transcript(seconds)
            part["transcript"] = text
            tokens = round(seconds * respond.INPUT_AUDIO_TOKENS_PER_SECOND)
            out = for_model("gpt-4o").count(text)
            await self.emit(
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

    def _transcript(self, seconds: float) -> str:
        """What the user "said": lorem words, as many as speech of that length holds (0.3 s a word)."""
        words = max(1, round(seconds / audio.SECONDS_PER_WORD))
        tokenizer = for_model("gpt-4o")
        completion = generate(
            mode="lorem",
            rng=self.rng,
            tokenizer=tokenizer,
            max_tokens=None,
            length=LengthSpec(words * 1.3, 0, 1, 4096),
            ignore_eos=True,
        )
        return " ".join(completion.text.split()[:words])

    # -- responses --------------------------------------------------------------------------------------------
    async def on_response_create(self, event: dict[str, Any]) -> None:
        if self.active is not None:
            await self.error(
                f"Conversation already has an active response in progress: "
                f"{self.active.plan.response_id}. Wait until the response is finished before creating "
                f"a new one.",
                "conversation_already_has_active_response",
                event.get("event_id"),
            )
            return
        overrides = event.get("response") or {}
        config = {**self.session, **{k: v for k, v in overrides.items() if k in SESSION_KEYS}}
        out_of_band = overrides.get("conversation") == "none"
        items = list(self.items) if "input" not in overrides else [dict(i) for i in overrides["input"] or ()]
        config["conversation_id"] = None if out_of_band else self.conversation_id
        bridge = self.endpoint.bridge
        now = self.endpoint.clock.now()
        ctx = bridge.context(
            self.path, self.headers, self.namespace, turn.chat_body(config, items), now, self.conversation_id
        )
        try:
            outcome = bridge.decide(ctx)
        except APIError as exc:
            outcome = turn.Outcome(refusal=Refusal(exc.status, exc.message, exc.type, exc.code, exc.param))
        if outcome.unsupported is not None or (outcome.refusal is not None and not _fails_response(outcome.refusal)):
            refusal = outcome.refusal or Refusal(500, str(outcome.unsupported), "server_error")
            sent = await self.error(refusal.message, refusal.code, event.get("event_id"), refusal.param, refusal.type)
            bridge.answered(ctx, outcome, [Frame(sent)] if sent else [], refusal.status, 0.0, 0.0, self.closed)
            return
        seconds = sum(self.audio_seconds.get(str(i.get("id")), 0.0) for i in items)
        plan = respond.plan(config, items, self.endpoint.generation, self.rng, now, seconds, outcome.script)
        active = _Active(plan)
        self.active = active
        active.task = asyncio.create_task(self._stream(active, ctx, outcome, in_conversation=not out_of_band))

    async def on_response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        if self.active is None or (wanted and wanted != self.active.plan.response_id):
            await self.error(
                "Cancellation failed: no active response found.", "response_cancel_not_active", event.get("event_id")
            )
            return
        self.active.reason = "client_cancelled"
        self.active.cancelled.set()

    async def _wait(self, active: _Active, deadline: float) -> bool:
        """Sleep on the app's clock until ``deadline``; False when the response was cancelled meanwhile."""
        if active.cancelled.is_set():
            return False
        clock = self.endpoint.clock
        if deadline - clock.monotonic() < _RACE_BELOW:  # a short wait (an ITL): no race, the flag is read after it
            await clock.sleep_until(deadline)
            return not active.cancelled.is_set()
        sleeper = asyncio.ensure_future(clock.sleep_until(deadline))
        stop = asyncio.ensure_future(active.cancelled.wait())
        await asyncio.wait({sleeper, stop}, return_when=asyncio.FIRST_COMPLETED)
        sleeper.cancel()
        stop.cancel()
        return not active.cancelled.is_set()

    async def _stream(self, active: _Active, ctx: RequestContext, outcome: turn.Outcome, in_conversation: bool) -> None:
        """The response's events paced on the clock (TTFT, then ITL per token), the scenario's fault applied
        (``delay``/``slow_first_token``: later first token; ``stall``: a pause after ``after`` tokens; ``reset``:
        the socket closed after ``after`` tokens; ``error_frame``: an ``error`` event and a failed response;
        ``cut``/``empty``: the events stop), then one journal entry and the metrics for it."""
        plan = active.plan
        fault = outcome.fault
        ttft, itl = self.endpoint.ttft(str(self.session.get("model")))
        start = self.endpoint.clock.monotonic()
        first, step = ttft.draw(self.rng), itl.draw(self.rng)
        if fault is not None and fault.kind in ("delay", "slow_first_token"):
            first += fault.seconds
        frames: list[Frame] = []
        started: set[str] = set()  # output items whose output_item.added went out
        sent_tokens = 0
        first_at = 0.0
        status = "completed"
        http_status = 200
        stopped = False  # a fault ended the response early
        try:
            if outcome.refusal is not None:  # a scripted 429 / 5xx: the response fails, as the API's do
                await self._fail(active, outcome.refusal, frames)
                http_status = outcome.refusal.status
                return
            for tokens, event in respond.events(plan):
                if fault is not None and tokens > fault.after and fault.kind in _STOPPING_FAULTS:
                    http_status = await self._break(active, fault, frames)
                    stopped = True
                    break
                due = start + first + (tokens - 1) * step
                if fault is not None and fault.kind == "stall" and tokens > fault.after:
                    due += fault.seconds
                if tokens and not await self._wait(active, due):
                    status = "cancelled"
                    break
                if event["type"] in ("conversation.item.added", "conversation.item.done") and not in_conversation:
                    continue
                if event["type"] == "response.output_item.added":
                    started.add(event["item"]["id"])
                if event["type"] == "conversation.item.added" and in_conversation:
                    self.items.append(dict(event["item"]))
                    event["previous_item_id"] = self.items[-2]["id"] if len(self.items) > 1 else None
                if event["type"] == "conversation.item.done" and in_conversation:
                    self.items[-1] = event["item"]
                carried = max(0, tokens - sent_tokens)
                if carried and not first_at:
                    first_at = self.endpoint.clock.monotonic() - start
                sent_tokens = max(sent_tokens, tokens)
                sent = await self.emit(event)
                if sent is not None:
                    frames.append(Frame(sent, event=sent["type"], tokens=carried))
            if stopped:
                return
            if active.cancelled.is_set():
                status = "cancelled"
            if status == "cancelled":
                output = respond.cancelled_output(plan, sent_tokens, started)
                if in_conversation:
                    ended = {item["id"]: item for item in output}
                    self.items = [ended.get(item.get("id"), item) for item in self.items]
                done = respond.response(plan, "cancelled", output, active.reason, True, upto=sent_tokens)
                usage = done["usage"]
            else:
                reason = "max_output_tokens" if plan.finish == "length" and plan.call is None else None
                final = "incomplete" if reason else "completed"
                done = respond.response(plan, final, respond.completed_output(plan), reason, True)
                usage = done["usage"]
            self.active = None
            sent = await self.emit({"type": "response.done", "response": done})
            if sent is not None:
                frames.append(Frame(sent, event="response.done"))
            self.requests_left -= 1
            self.tokens_left = max(0, self.tokens_left - int(usage["total_tokens"]))
            await self.emit(
                {
                    "type": "rate_limits.updated",
                    "rate_limits": [
                        {
                            "name": "requests",
                            "limit": RATE_LIMITS["requests"],
                            "remaining": self.requests_left,
                            "reset_seconds": 0.012,
                        },
                        {
                            "name": "tokens",
                            "limit": RATE_LIMITS["tokens"],
                            "remaining": self.tokens_left,
                            "reset_seconds": round(usage["total_tokens"] * 60 / RATE_LIMITS["tokens"], 3),
                        },
                    ],
                }
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("realtime response %s failed", plan.response_id)
            self.active = None
            http_status = 500
            await self.error("The server had an error while processing your request.", None, None, None, "server_error")
        finally:
            if self.active is active:
                self.active = None
            elapsed = self.endpoint.clock.monotonic() - start
            self.endpoint.bridge.answered(ctx, outcome, frames, http_status, first_at, elapsed, self.closed)

    async def _fail(self, active: _Active, refusal: Refusal, frames: list[Frame]) -> None:
        """``response.created``, then ``response.done`` with status ``failed`` and the error's type and code."""
        plan = active.plan
        for event in (
            {"type": "response.created", "response": respond.response(plan, "in_progress", [])},
            {"type": "response.done", "response": _failed(plan, refusal)},
        ):
            if event["type"] == "response.done":
                self.active = None
            sent = await self.emit(event)
            if sent is not None:
                frames.append(Frame(sent, event=sent["type"]))

    async def _break(self, active: _Active, fault: Fault, frames: list[Frame]) -> int:
        """A fault that ends the response before its ``response.done``; the status the journal shows."""
        self.active = None
        if fault.kind == "reset":  # the server drops the connection: the client's iterator sees it closed
            self.closed = True
            with contextlib.suppress(Exception):
                await self._send({"type": "websocket.close", "code": 1011, "reason": "fakeai fault: reset"})
            return 200
        if fault.kind == "malformed":
            with contextlib.suppress(Exception):
                await self._send({"type": "websocket.send", "text": '{"type": "response.output_text.delta", "del'})
            return 200
        if fault.kind == "error_frame":
            refusal = Refusal(500, SERVER_ERROR_MESSAGE, "server_error")
            sent = await self.error(refusal.message, None, None, None, "server_error")
            if sent is not None:
                frames.append(Frame(sent, event="error"))
            done = _failed(active.plan, refusal)
            sent = await self.emit({"type": "response.done", "response": done})
            if sent is not None:
                frames.append(Frame(sent, event="response.done"))
            return 500
        return 200  # cut / empty: the events just stop


# waits shorter than this sleep without racing the cancel flag (two futures and asyncio.wait per token cost more
# than the token: 200 sessions at 20 ms ITL fell behind); a cancel is seen at the next token, at most this late
_RACE_BELOW = 0.05
_STOPPING_FAULTS = frozenset({"reset", "cut", "empty", "error_frame", "malformed"})


def _fails_response(refusal: Refusal) -> bool:
    """A rate limit or a server error fails the response (``response.done`` status ``failed``); other errors are
    the client's and answer an ``error`` event, no response."""
    return refusal.status == 429 or refusal.status >= 500


def _failed(plan: respond.Plan, refusal: Refusal) -> dict[str, Any]:
    """The failed response: no output, the prompt's tokens billed, the error's type and code."""
    body = respond.response(plan, "failed", [], with_usage=True, upto=0)
    error: dict[str, Any] = {"type": refusal.type}
    if isinstance(refusal.code, str):
        error["code"] = refusal.code
    body["status_details"] = {"type": "failed", "error": error}
    return body


def _b64(text: Any) -> bytes | None:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        return None


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
