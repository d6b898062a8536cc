"""One realtime session on one socket: its state, the frames in, the events out.

:class:`Connection` holds what a session is (configuration, conversation, input audio buffer, the response in
flight) and does the socket's two edges: :meth:`Connection.on_frame` parses and checks each client frame (JSON,
a known ``type``, valid against its spec schema) and dispatches it through :data:`HANDLERS`;
:meth:`Connection.emit` sends each server event (a new ``event_id``, translated for the beta protocol,
self-checked against the spec when ``validate_responses`` is on). The handlers live by the events they answer:
:mod:`fakeai.realtime.conversation` (``conversation.item.*``), :mod:`fakeai.realtime.audio_buffer`
(``input_audio_buffer.*``, server VAD), :mod:`fakeai.realtime.stream` (``response.*``); ``session.update`` is
here.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import Receive, Send

from fakeai.events import ResponseInvalid
from fakeai.ids import new_id
from fakeai.realtime import audio_buffer, beta, conversation, stream, turn
from fakeai.realtime.session import configured, default_session, without_nulls

if TYPE_CHECKING:
    from fakeai.realtime.server import RealtimeEndpoint

log = logging.getLogger("fakeai")

OPERATION_ID = turn.OPERATION_ID  # how self-check violations, the journal and the metrics name this endpoint


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
        self.send = send  # the ASGI send: events go through emit; only a fault writes raw frames
        self.rng = rng
        self.sent = 0
        self.closed = False
        now = endpoint.clock.now()
        self.session = configured(default_session(rng, model, now), configuration or {})
        self.conversation_id = new_id(rng, "conv_")
        self.items: list[dict[str, Any]] = []
        self.buffer = bytearray()  # uncommitted input audio
        self.audio_seconds: dict[str, float] = {}  # user audio items -> seconds (input audio tokens)
        self.vad = audio_buffer.new_vad(self.session)
        self.pending_item: str | None = None  # the user item VAD will create when speech stops
        self.active: stream.Active | None = None
        self.requests_left = stream.RATE_LIMITS["requests"]
        self.tokens_left = stream.RATE_LIMITS["tokens"]

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
            await self.send({"type": "websocket.send", "text": orjson.dumps(event).decode()})
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
        handler = HANDLERS.get(kind) if isinstance(kind, str) else None
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
        await handler(self, beta.client_event(event) if self.beta else event)


async def update_session(conn: Connection, event: dict[str, Any]) -> None:
    """``session.update`` -> ``session.updated`` (nested objects merge; the model stays; VAD re-tuned)."""
    update = event.get("session") or {}
    if update.get("type") not in (None, "realtime"):
        await conn.error(
            "Only 'realtime' sessions are supported by fakeai (no transcription sessions).",
            "invalid_value",
            event.get("event_id"),
            "session.type",
        )
        return
    configured(conn.session, {k: v for k, v in update.items() if k != "model"})
    conn.vad = audio_buffer.new_vad(conn.session)
    await conn.emit({"type": "session.updated", "session": without_nulls(conn.session)})


Handler = Callable[[Connection, dict[str, Any]], Awaitable[None]]

# the client events fakeai answers (a known type without a handler here gets an ``invalid_value`` error)
HANDLERS: dict[str, Handler] = {
    "session.update": update_session,
    "conversation.item.create": conversation.create,
    "conversation.item.retrieve": conversation.retrieve,
    "conversation.item.delete": conversation.delete,
    "conversation.item.truncate": conversation.truncate,
    "input_audio_buffer.append": audio_buffer.append,
    "input_audio_buffer.commit": audio_buffer.commit,
    "input_audio_buffer.clear": audio_buffer.clear,
    "output_audio_buffer.clear": audio_buffer.clear_output,
    "response.create": stream.create,
    "response.cancel": stream.cancel,
}
