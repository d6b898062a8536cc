"""Past-tense events the pipeline emits. Metrics, the journal and plugins subscribe to them.

A finished stream's accounting (:class:`RequestAnswered`: the journal entry, the usage row, the vLLM
histograms) is deferred: the pipeline hands it to :meth:`Events.emit_later`, which queues it, and the event loop
works the queue off in slices of at most :data:`SLICE` seconds between its other callbacks, so a hundred streams
ending in the same millisecond do not hold back the frames other streams have due (each stream's accounting
costs ~70 us). A plain answer's is dispatched at once (deferred, wrk at 100 connections measured 11 % fewer
requests/s). While anything is
queued, :meth:`Events.emit` queues too, so listeners see events in the order they happened. Readers call
:meth:`Events.flush` first (the journal, the usage API and ``/metrics`` do), so what a client reads after its
answer arrived always includes it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fakeai.context import Output, RequestContext, Timing

log = logging.getLogger("fakeai.events")


@dataclass(frozen=True, slots=True)
class RequestReceived:
    ctx: RequestContext


@dataclass(frozen=True, slots=True)
class RequestAnswered:
    ctx: RequestContext
    output: Output
    timing: Timing
    elapsed: float  # seconds from arrival to the last byte
    size: int | None = None  # bytes of a non-streamed body as sent (lets listeners skip re-encoding)
    disconnected: bool = False  # the client went away before the answer was complete
    frames_sent: int | None = None  # streams: the frames that went out (fewer than output.frames if disconnected)
    sent_at: Sequence[float] | None = None  # streams: when each of them went out, seconds after arrival
    payload: bytes | None = None  # a non-streamed JSON body as sent (its encoding of output.body)


@dataclass(frozen=True, slots=True)
class RequestRejected:
    method: str
    path: str
    status: int
    message: str
    operation_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # request headers, lower-case names
    time: float = 0.0  # unix seconds (injected clock); 0 when unknown
    ctx: RequestContext | None = None  # when the request was parsed before it was rejected
    response_headers: Mapping[str, str] = field(default_factory=dict)  # e.g. retry-after


@dataclass(frozen=True, slots=True)
class ResponseInvalid:
    operation_id: str
    where: str  # "body" or "frame N"
    problems: tuple[str, ...]


Listener = Callable[[Any], None]


def nothing_to_flush() -> None:
    """What a reader calls before it reads while it listens to no bus (:meth:`Events.flush` once it does)."""


SLICE = 0.0005  # seconds of queued accounting the loop works off before its other callbacks run again
MAX_PENDING = 256  # this many queued: each emit_later dispatches the oldest first (what a queued event holds, a
# stream's context and frames, stays bounded: the loop only defers while it is busier than it can work off)


class Events:
    """A tiny bus, synchronous but for :meth:`emit_later`. Listeners must be fast and must not raise; they run on
    the event loop's thread, or under the bus' lock in a thread that calls :meth:`flush`."""

    def __init__(self) -> None:
        self._listeners: dict[type, list[Listener]] = {}
        self._pending: deque[Any] = deque()
        self._lock = threading.RLock()  # one dispatch at a time: the loop's drain or a reader's flush
        self._scheduled: asyncio.AbstractEventLoop | None = None  # the loop a drain is scheduled on

    def subscribe(self, kind: type, listener: Listener) -> None:
        self._listeners.setdefault(kind, []).append(listener)

    def emit(self, event: Any) -> None:
        if self._pending:  # after the queued ones
            self._pending.append(event)
            return
        with self._lock:
            self._dispatch(event)

    def emit_later(self, event: Any) -> None:
        """Queue ``event`` for the event loop to dispatch soon (at once without a running loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: nothing would work the queue off
            self.flush()
            self.emit(event)
            return
        pending = self._pending
        if len(pending) >= MAX_PENDING:
            with self._lock:
                if pending:
                    self._dispatch(pending.popleft())
        if self._scheduled is not loop:  # none yet, or on a loop that has gone (a test's asyncio.run)
            self._scheduled = loop
            loop.call_soon(self._drain, loop)
        pending.append(event)

    def flush(self) -> None:
        """Dispatch everything queued, now (readers call it before they read)."""
        pending = self._pending
        while pending:
            with self._lock:
                if not pending:
                    break
                self._dispatch(pending.popleft())

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        pending, deadline = self._pending, time.perf_counter() + SLICE
        with self._lock:
            while pending:
                self._dispatch(pending.popleft())
                if time.perf_counter() >= deadline:
                    break
        if pending:
            loop.call_soon(self._drain, loop)
        elif self._scheduled is loop:
            self._scheduled = None

    def _dispatch(self, event: Any) -> None:
        for listener in self._listeners.get(type(event), ()):
            try:
                listener(event)
            except Exception:  # a broken listener must not break a request
                log.exception("event listener failed for %s", type(event).__name__)
