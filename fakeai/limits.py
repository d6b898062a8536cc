"""What a hostile or broken client cannot make the server hold: headers, idle and half-sent requests.

    header_limits(settings)   a check ErrorMiddleware runs on every request: more than ``max_headers``
                              headers, or more than ``max_header_bytes`` of them -> 431 in the envelope
    guarded_h11(settings)     the uvicorn protocol ``fakeai serve`` runs: a request head larger than
                              ``max_header_bytes`` is refused (431) before it is buffered whole, and a head
                              not complete within ``header_read_timeout`` closes the connection
    uvicorn_options(settings) keep-alive timeout, the protocol and h11's buffer bound, for uvicorn.run/Config

The body's read timeout (``body_read_timeout``, 408) is the parse stage's (``pipeline.read_body``): it
is where the body is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import h11
import orjson
from starlette.types import Scope
from uvicorn.protocols.http.h11_impl import H11Protocol

from fakeai.config import Settings
from fakeai.errors import APIError

HEAD_SLACK = 8 * 1024  # the request line and h11's own framing on top of the headers
LINGER = 1.0  # seconds a refused connection is drained before it closes


def header_limits(settings: Settings) -> Callable[[Scope], None]:
    max_count, max_bytes = settings.max_headers, settings.max_header_bytes

    def check(scope: Scope) -> None:
        headers = scope.get("headers") or ()
        if len(headers) > max_count:
            raise too_large_headers(f"{len(headers)} headers; the limit is {max_count}")
        size = sum(len(name) + len(value) + 4 for name, value in headers)  # "name: value\r\n"
        if size > max_bytes:
            raise too_large_headers(f"{size} bytes of headers; the limit is {max_bytes}")

    return check


def too_large_headers(detail: str) -> APIError:
    return APIError(431, f"Request header fields too large: {detail}.", code="request_header_fields_too_large")


def guarded_h11(settings: Settings) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a bound on the request head's size and on the time it may take to arrive."""
    head_limit = settings.max_header_bytes + HEAD_SLACK
    timeout = settings.header_read_timeout

    class GuardedH11(H11Protocol):
        head_bytes = 0
        head_timer: asyncio.TimerHandle | None = None
        refused = False

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self.disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self.refused:  # lingering close: the rest of a refused head is read and dropped
                return
            reading_head = self.conn.their_state is h11.IDLE
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the head is complete (the rest of data is body)
                self.disarm()
            elif reading_head and not self.refused and not self.transport.is_closing():
                self.head_bytes += len(data)
                if self.head_bytes > head_limit:
                    self.refuse(f"the request head exceeds {head_limit} bytes")

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self.head_bytes = 0
            self.arm()  # the next request's head has header_read_timeout too (keep-alive closes idle sooner)

        def arm(self) -> None:
            self.disarm()
            if timeout > 0:
                self.head_timer = self.loop.call_later(timeout, self.head_timed_out)

        def disarm(self) -> None:
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

        def head_timed_out(self) -> None:
            self.head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

        def refuse(self, detail: str) -> None:
            self.disarm()
            body = orjson.dumps(too_large_headers(detail).body())
            head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            self.transport.write(head + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body)
            # Closing now, with the client's unread bytes in our buffer, would send a reset that discards the 431
            # before the client reads it; so half-close, drop what still comes for a moment, then close.
            self.refused = True
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(LINGER, self.transport.close)

    return GuardedH11


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What ``fakeai serve`` (and ``fakeai.testing.serve``) give uvicorn besides the app, host and port."""
    return {
        "http": guarded_h11(settings) if settings.http_guard else "auto",
        "timeout_keep_alive": settings.keep_alive_timeout,
        # above the guard's own bound by one read (asyncio reads up to 256 KiB), so the guard answers 431 first
        "h11_max_incomplete_event_size": settings.max_header_bytes + HEAD_SLACK + 256 * 1024,
    }
