"""The respond stage: the only code that sleeps or writes to the socket.

JSON bodies go out at ``Timing.done``; server-sent events frame by frame at their absolute
deadlines (no drift accumulates); binary media as is. While it waits, ``receive`` is watched: a client that
goes away (``http.disconnect``, or a send that fails) ends the answer there, and :class:`Delivered` says so.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import Receive, Send

from fakeai.clock import Clock, FixedClock, SystemClock
from fakeai.context import Frame, Output, Packed, PackedFrame, Timing
from fakeai.errors import APIError, vendor_error, vendor_error_body

_JSON_OPTS = orjson.OPT_NON_STR_KEYS
BASE_HEADERS = ((b"openai-version", b"2020-10-01"),)
RESET_EVENT = "fakeai.reset"  # a Frame with this event drops the connection there (scenario chaos)


class StreamReset(Exception):
    """Raised mid-stream on purpose so the server drops the connection (a simulated reset)."""


@dataclass(frozen=True, slots=True)
class Delivered:
    """What the respond stage got out before it ended."""

    size: int | None = None  # bytes of a non-streamed body (None for streams and unsent bodies)
    frames: int | None = None  # streams: frames actually sent
    disconnected: bool = False  # the client went away first
    sent_at: Sequence[float] | None = None  # streams: when each sent frame went out (seconds after arrival)
    payload: bytes | None = None  # a JSON body as sent (the journal keeps these bytes instead of re-encoding)


class Watch:
    """The client's side of the connection, watched while the answer waits: ``receive`` is read in the
    background (the body was read by the parse stage) until ``http.disconnect``. The watcher starts at the first
    real wait, so an answer that is due at once (no simulated latency) costs no task.

    On the real clocks a wait is one future and one timer handle, which the watcher resolves early when the
    client goes away: no task and no ``asyncio.wait`` per frame (a stream waits once per frame; 10,000 open
    streams at ITL 1 s are 10,000 waits a second)."""

    def __init__(self, receive: Receive | None) -> None:
        self.receive = receive
        self.task: asyncio.Future[Any] | None = None
        self.waiter: asyncio.Future[None] | None = None

    @property
    def gone(self) -> bool:
        return self.task is not None and self.task.done()

    async def sleep_until(self, clock: Clock, deadline: float) -> bool:
        """Wait for ``deadline``; False if the client disconnected first."""
        if deadline <= clock.monotonic():
            return not self.gone
        if self.receive is None:
            await clock.sleep_until(deadline)
            return True
        if self.task is None:
            self._watch()
        elif self.task.done():
            return False
        if type(clock) in _REAL_CLOCKS:  # inline rather than a coroutine of its own: each open stream holds one
            # until ``deadline`` on ``time.monotonic()`` (never early: uvloop's timers may fire up to ~1 ms before
            # theirs, so wait again for what is left), or until the watcher sees the client go
            loop = asyncio.get_running_loop()
            delay = deadline - time.monotonic()
            while delay > 0 and not self.gone:
                waiter = self.waiter = loop.create_future()
                handle = loop.call_later(delay, _resolve, waiter)
                try:
                    await waiter
                finally:
                    handle.cancel()
                    self.waiter = None
                delay = deadline - time.monotonic()
            return not self.gone
        sleeper = asyncio.ensure_future(clock.sleep_until(deadline))
        while not sleeper.done() and self.task is not None and not self.task.done():
            await asyncio.wait((sleeper, self.task), return_when=asyncio.FIRST_COMPLETED)
        if sleeper.done():
            return True
        sleeper.cancel()
        return False

    def _watch(self) -> None:
        """Read ``receive`` in a task of its own (the body is read: what comes is ``http.disconnect``)."""
        assert self.receive is not None
        self.task = asyncio.ensure_future(self.receive())
        self.task.add_done_callback(self._wake)

    def _wake(self, task: asyncio.Future[Any]) -> None:
        message = task.result() if not task.cancelled() and task.exception() is None else None
        if isinstance(message, Mapping) and message.get("type") == "http.request":
            self._watch()  # more of a body nobody reads (a server that sends it): keep watching
            return
        if self.waiter is not None:
            _resolve(self.waiter)

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


_REAL_CLOCKS = (SystemClock, FixedClock)  # monotonic() is time.monotonic(): waits may use the loop's timers


KEEP_HEAD, KEEP_TAIL = 1, 3  # frames pack_frames leaves as objects (see there)


def pack_frames(frames: Sequence[Frame]) -> list[Frame]:
    """The frames with their data encoded now, once the stages that read them are done: an open stream then
    holds ~0.3 KiB per token instead of ~1 KiB of dicts, and the garbage collector has a fourth of the objects
    to walk. The middle ones' data becomes :class:`Packed` JSON. The first frame and the last three become
    :class:`PackedFrame`, whose ``data`` decodes on its first read: the listeners read the usage, finish reason
    and final response there once the stream is over (chat's usage chunk, Responses' ``response.completed``,
    Anthropic's ``message_start``/``message_delta``), and the journal keeps the first and the last."""
    packed = list(frames)
    tail = len(frames) - KEEP_TAIL
    for index, frame in enumerate(frames):
        if frame.__class__ is not Frame:  # a frame that builds its data when read (chat's ChatDelta) holds none
            continue
        data = frame.data
        if data.__class__ is dict or data.__class__ is list:
            encoded = orjson.dumps(data, option=_JSON_OPTS)
            if index < KEEP_HEAD or index >= tail:
                packed[index] = PackedFrame.of(frame, encoded)
            else:
                packed[index] = Frame(Packed(encoded), frame.event, frame.validate, frame.tokens)
    return packed


def _headers(
    content_type: str, extra: Mapping[str, str], request_id: str, length: int | None
) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", content_type.encode()), *BASE_HEADERS]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
    headers.extend((k.lower().encode(), str(v).encode()) for k, v in extra.items())
    return headers


def body_bytes(output: Output) -> bytes:
    body = output.body
    if isinstance(body, bytes):
        return body
    if isinstance(body, str) and not output.content_type.startswith("application/json"):
        return body.encode()
    return orjson.dumps(body, option=_JSON_OPTS)


def respond(
    send: Send,
    output: Output,
    timing: Timing,
    clock: Clock,
    started: float,
    request_id: str,
    receive: Receive | None = None,
) -> Coroutine[Any, Any, Delivered]:
    """Write the answer at its deadlines; with ``receive``, stop when the client disconnects. (Not a coroutine
    itself: the one it returns is the only frame an open stream keeps here.)"""
    if output.frames is not None:
        return _stream(send, output, timing, clock, started, request_id, Watch(receive))
    return _body(send, output, timing, clock, started, request_id, Watch(receive))


async def _body(
    send: Send, output: Output, timing: Timing, clock: Clock, started: float, request_id: str, watch: Watch
) -> Delivered:
    try:
        payload = body_bytes(output)
        if not await watch.sleep_until(clock, started + timing.done):
            return Delivered(disconnected=True)
        content_type = output.content_type
        if content_type.startswith(("text/", "application/json")) and "charset" not in content_type:
            content_type += "; charset=utf-8" if content_type.startswith("text/") else ""
        headers = _headers(content_type, output.headers, request_id, len(payload))
        try:
            await send({"type": "http.response.start", "status": output.status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
        except OSError:  # the client went away as the answer went out (servers raise ClientDisconnected(OSError))
            return Delivered(disconnected=True)
        json_sent = output.content_type.startswith("application/json") and not isinstance(output.body, bytes)
        return Delivered(size=len(payload), disconnected=watch.gone, payload=payload if json_sent else None)
    finally:
        watch.close()


async def _stream(
    send: Send, output: Output, timing: Timing, clock: Clock, started: float, request_id: str, watch: Watch
) -> Delivered:
    """Frames at their absolute deadlines; every frame already due when the stream wakes goes out in the
    same ``send`` (each still its own ``data:`` event), as a loaded server flushes what it has."""
    try:
        frames = output.frames
        assert frames is not None
        headers = _headers("text/event-stream; charset=utf-8", output.headers, request_id, None)
        headers.append((b"cache-control", b"no-cache"))
        if not await watch.sleep_until(clock, started + timing.first):
            return Delivered(frames=0, disconnected=True, sent_at=())
        try:
            await send({"type": "http.response.start", "status": output.status, "headers": headers})
        except OSError:
            return Delivered(frames=0, disconnected=True, sent_at=())
        del headers  # sent: an open stream does not hold them
        deadlines = timing.frames
        count, index, planned = len(frames), 0, len(deadlines)
        sent = array("d", bytes(8 * count))  # per frame, when its send() returned (an open stream holds them)
        # the first frame that drops the connection (a scenario's reset fault), found once, not per send
        reset = next((k for k, frame in enumerate(frames) if frame.event == RESET_EVENT), count)
        while index < count:
            horizon = clock.monotonic()
            if index < planned:
                if not await watch.sleep_until(clock, started + deadlines[index]):
                    return Delivered(frames=index, disconnected=True, sent_at=sent[:index])
                horizon = max(clock.monotonic(), started + deadlines[index])
            end = index + 1
            while end < count and (end >= planned or started + deadlines[end] <= horizon):
                end += 1
            if reset < end:
                if reset > index:
                    await send({"type": "http.response.body", "body": _join(frames[index:reset]), "more_body": True})
                raise StreamReset(f"connection reset after {reset} frames (scenario fault)")
            try:  # the bytes bound to no name: a local would keep each open stream's last chunk while it sleeps
                await send({"type": "http.response.body", "body": _join(frames[index:end]), "more_body": end < count})
            except OSError:
                return Delivered(frames=index, disconnected=True, sent_at=sent[:index])
            at = clock.monotonic() - started
            for k in range(index, end):
                sent[k] = at
            index = end
        if not count:
            await send({"type": "http.response.body", "body": b""})
        return Delivered(frames=count, sent_at=sent)
    finally:
        watch.close()


def _join(frames: Sequence[Frame]) -> bytes:
    return frames[0].sse() if len(frames) == 1 else b"".join([frame.sse() for frame in frames])


async def respond_error(send: Send, error: APIError, envelope: str = "openai", request_id: str = "") -> None:
    """``error`` in the operation's envelope (OpenAI's unless its binding says otherwise); Anthropic's carries
    the request id in the body and in a ``request-id`` header, as the real API does."""
    error = vendor_error(error, envelope)  # a vendor may answer some errors differently (Azure: api-version)
    payload = orjson.dumps(vendor_error_body(error, envelope, request_id))
    extra = {**error.headers, "request-id": request_id} if envelope == "anthropic" and request_id else error.headers
    headers = _headers("application/json", extra, request_id, len(payload))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def error_payload(error: APIError) -> dict[str, Any]:
    return error.body()
