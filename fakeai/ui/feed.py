"""The dashboard's live feed: new journal entries as server-sent events, in compact summaries.

One :class:`Feed` per open dashboard. It polls the journal every ``TICK`` seconds (the pipeline knows nothing of
it: no event subscription, no work on the request path) and sends at most ``PER_TICK`` entries a tick, the
newest; those it leaves out are counted in a ``skipped`` event. A client that cannot take a tick's worth within
``SEND_TIMEOUT`` seconds is dropped (the browser reconnects with ``after=``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.types import Receive, Send

from fakeai.journal import Entry, Journal

TICK = 0.25
PER_TICK = 50
BACKLOG = 200  # entries sent when a dashboard connects
PING_EVERY = 15.0
SEND_TIMEOUT = 5.0
LIFETIME = 600.0  # seconds; then the stream ends and the page reconnects (a server shutdown never waits long)
TEXT_CHARS = 240
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def find(journal: Journal, seq: int) -> Entry | None:
    journal.flush()
    for entry in reversed(journal.entries):
        if entry.seq == seq:
            return entry
        if entry.seq < seq:
            return None
    return None


def newest_seq(journal: Journal) -> int:
    journal.flush()
    entries = journal.entries
    return entries[-1].seq if entries else 0


def summary(entry: Entry) -> dict[str, Any]:
    """What the list, the filters and the transcripts need; the detail view fetches the entry in full."""
    request = entry.request
    model = request.get("model") if isinstance(request, dict) else None
    return {
        "seq": entry.seq,
        "time": entry.time,
        "method": entry.method,
        "path": entry.path,
        "status": entry.status,
        "operation": entry.operation,
        "source": entry.source,
        "rule": entry.rule,
        "state": entry.state,
        "namespace": entry.namespace,
        "conversation": entry.conversation,
        "model": model if isinstance(model, str) else None,
        "fault": entry.fault,
        "ttft": entry.ttft,
        "total": entry.total,
        "frames": entry.frames,
        "disconnected": entry.disconnected,
        "prompt": _clip(prompt_of(request)),
        "reply": _clip(reply_of(entry)),
    }


def prompt_of(request: Any) -> str | None:
    """The last user turn of a chat/responses/messages/completions request, as text."""
    if not isinstance(request, dict):
        return None
    messages = request.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _text(message.get("content"))
    value = request.get("input", request.get("prompt"))
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        return _text(value[-1].get("content"))
    return _text(value)


def reply_of(entry: Entry) -> str | None:
    if entry.frames is not None:
        return f"(stream: {entry.frames} frames{', client went away' if entry.disconnected else ''})"
    body = entry.response
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("error"), dict):
        return f"error: {_text(body['error'].get('message'))}"
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        first = choices[0]
        message = first.get("message")
        return _text(message.get("content") if isinstance(message, dict) else first.get("text"))
    if isinstance(body.get("output_text"), str):
        return str(body["output_text"])
    output = body.get("output", body.get("content"))
    if isinstance(output, list):
        parts = [_text(item.get("content", item.get("text"))) for item in output if isinstance(item, dict)]
        return " ".join(p for p in parts if p) or None
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts
        parts = [str(p["text"]) for p in value if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return " ".join(parts) if parts else None
    return None


def _clip(text: str | None) -> str | None:
    return text if text is None or len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


def event(name: str, data: Any, seq: int | None = None) -> bytes:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {name}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


class Feed:
    def __init__(self, journal: Journal, after: int = 0) -> None:
        self.journal = journal
        self.after = after

    def tick(self, limit: int) -> bytes:
        """The events for what arrived since the last tick ("" when nothing did)."""
        newest = newest_seq(self.journal)
        if newest <= self.after:
            if newest < self.after:  # the journal was cleared and seq restarted (a new app): start over
                self.after = 0
            return b""
        entries = self.journal.select(limit=limit, after=self.after)
        if not entries:
            self.after = newest
            return b""
        out = []
        held = self.journal.entries
        oldest = held[0].seq if held else entries[0].seq  # seqs below it were dropped or cleared, not skipped
        skipped = entries[0].seq - max(self.after + 1, oldest) if len(entries) == limit else 0
        if skipped > 0:
            out.append(event("skipped", {"count": skipped, "before": entries[0].seq}))
        out.extend(event("entry", summary(e), e.seq) for e in entries)
        self.after = entries[-1].seq
        return b"".join(out)

    async def run(self, send: Send, receive: Receive) -> None:
        loop = asyncio.get_running_loop()
        gone = asyncio.ensure_future(_disconnect(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            await send({"type": "http.response.body", "body": b": fakeai dashboard feed\n\n", "more_body": True})
            started = last = loop.time()
            limit = BACKLOG
            while not gone.done() and loop.time() - started < LIFETIME:
                chunk = self.tick(limit)
                limit = PER_TICK
                now = loop.time()
                if not chunk and now - last >= PING_EVERY:
                    chunk = b": ping\n\n"
                if chunk:
                    last = now
                    await asyncio.wait_for(
                        send({"type": "http.response.body", "body": chunk, "more_body": True}), SEND_TIMEOUT
                    )
                await asyncio.wait((gone,), timeout=TICK)
            if not gone.done():
                await send({"type": "http.response.body", "body": b""})
        except (OSError, TimeoutError):  # the client went away or cannot keep up: drop it
            return
        finally:
            gone.cancel()


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
