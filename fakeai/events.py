"""Past-tense events the pipeline emits. Metrics, the journal and plugins subscribe to them."""

from __future__ import annotations

import logging
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


class Events:
    """A tiny synchronous bus. Listeners must be fast and must not raise."""

    def __init__(self) -> None:
        self._listeners: dict[type, list[Listener]] = {}

    def subscribe(self, kind: type, listener: Listener) -> None:
        self._listeners.setdefault(kind, []).append(listener)

    def emit(self, event: Any) -> None:
        for listener in self._listeners.get(type(event), ()):
            try:
                listener(event)
            except Exception:  # a broken listener must not break a request
                log.exception("event listener failed for %s", type(event).__name__)
