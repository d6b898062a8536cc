"""The request journal: every request fakeai answered (or rejected) and what it sent back.

It listens to :class:`~fakeai.events.RequestAnswered` and :class:`~fakeai.events.RequestRejected`;
the pipeline knows nothing about it. Bodies are kept as JSON bytes (a bounded preview when they are larger than
``body_limit`` bytes), streams keep the frame count, the first and last frame and their :class:`Timeline` (arrays
of numbers; its JSON is built when it is read), and the ring buffer drops the oldest entry when it holds ``size``
entries or more than ``max_bytes`` (each entry's size estimated as its stored bytes plus a fixed overhead). Bytes
and arrays keep the journal out of the garbage collector's work (see :mod:`fakeai.gctune`). A stream's event
reaches it deferred (:mod:`fakeai.events`); every read flushes the queue first.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from fakeai.context import Frame, Output, Packed, PackedFrame, RequestContext, Timing, owned
from fakeai.events import Events, RequestAnswered, RequestRejected, nothing_to_flush
from fakeai.memo import Memo
from fakeai.scenario import conversation as conv

CONVERSATION_HEADER = conv.CONVERSATION_HEADER
DEFAULT_SIZE = 10_000
DEFAULT_BODY_LIMIT = 16 * 1024
PREVIEW_CHARS = 512
MAX_FIELDS = 32  # small top-level fields kept in a preview
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
ENTRY_OVERHEAD = 1024  # bytes an entry costs besides its JSON (the object, its strings, the deque slot), roughly


@dataclass(slots=True)
class Entry:
    """One request and the answer fakeai sent; read-only by convention (not ``frozen``: a frozen dataclass
    costs two and a half times as much to build, and one is built per request)."""

    seq: int
    time: float  # unix seconds the request arrived (injected clock)
    method: str
    path: str
    status: int
    operation: str | None = None
    source: str = "rejected"  # producer (template, llm, ...), "scenario", "error" or "rejected"
    rule: str | None = None  # scenario rule that answered, if any
    namespace: str = ""
    conversation: str | None = None
    api_key: str | None = None  # masked
    request_id: str = ""
    # bodies and frames are kept as JSON bytes: bytes are invisible to the garbage collector, so 10,000 entries
    # add no work to its collections (fakeai.gctune), and their size is what the journal's memory really is
    request_json: bytes | None = None  # parsed request body, or a bounded preview of a large one
    response_json: bytes | None = None  # body, or a bounded preview; None for streams
    frames: int | None = None  # streams: number of frames sent
    first_frame_json: bytes | None = None
    last_frame_json: bytes | None = None
    ttft: float | None = None  # seconds to the first byte (headers / first frame)
    total: float = 0.0  # seconds to the last byte
    fault: str | None = None  # mid-stream fault injected by a scenario
    retry_after: float | None = None  # seconds, from a retry-after(-ms) response header
    message: str | None = None  # the error message of a rejected request
    disconnected: bool = False  # the client went away first: ``frames`` counts what was sent before it did
    api_key_hash: str | None = None  # fingerprint() of the key: tells clients apart when masks collide
    timeline: Timeline | None = None  # streams: per frame its planned and actual send time and tokens
    state: str | None = None  # the answering scenario rule's state machine after this turn

    @property
    def timeline_json(self) -> bytes | None:
        return None if self.timeline is None else self.timeline.json()

    @property
    def request(self) -> Any:
        return unpack(self.request_json)

    @property
    def response(self) -> Any:
        return unpack(self.response_json)

    @property
    def first_frame(self) -> Any:
        return unpack(self.first_frame_json)

    @property
    def last_frame(self) -> Any:
        return unpack(self.last_frame_json)

    @property
    def client(self) -> tuple[str | None, str]:
        """Who sent it, as far as fakeai can tell: masked API key and namespace."""
        return (self.api_key, self.namespace)

    @property
    def thread(self) -> tuple[Any, ...]:
        """Requests that belong together: the conversation if known, else the client."""
        return ("c", self.namespace, self.conversation) if self.conversation else ("k", *self.client)

    @property
    def stream(self) -> bool:
        return self.frames is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "operation": self.operation,
            "source": self.source,
            "rule": self.rule,
            "namespace": self.namespace,
            "conversation": self.conversation,
            "api_key": self.api_key,
            "request_id": self.request_id,
            "request": self.request,
            "response": self.response,
            "stream": None
            if self.frames is None
            else {
                "frames": self.frames,
                "first": self.first_frame,
                "last": self.last_frame,
                "timeline": unpack(self.timeline_json),
            },
            "ttft": self.ttft,
            "total": self.total,
            "fault": self.fault,
            "retry_after": self.retry_after,
            "message": self.message,
            "disconnected": self.disconnected,
            "state": self.state,
        }


@dataclass(frozen=True, slots=True)
class Filter:
    """Journal query; ``None`` means any."""

    rule: str | None = None
    operation: str | None = None
    conversation: str | None = None
    namespace: str | None = None
    status: int | None = None
    source: str | None = None

    def accepts(self, entry: Entry) -> bool:
        return (
            (self.rule is None or entry.rule == self.rule)
            and (self.operation is None or entry.operation == self.operation)
            and (self.conversation is None or entry.conversation == self.conversation)
            and (self.namespace is None or entry.namespace == self.namespace)
            and (self.status is None or entry.status == self.status)
            and (self.source is None or entry.source == self.source)
        )


class Journal:
    """A bounded ring of :class:`Entry`, newest last."""

    def __init__(
        self, size: int = DEFAULT_SIZE, body_limit: int = DEFAULT_BODY_LIMIT, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.entries: deque[Entry] = deque()
        self.costs: deque[int] = deque()  # cost() of each entry, in the same order
        self.size = max(1, size)
        self.body_limit = body_limit
        self.max_bytes = max_bytes
        self.bytes = 0  # estimated size of what the journal holds (see cost())
        self._seq = itertools.count(1)
        self.dropped = 0  # entries pushed out by newer ones
        self.flush: Callable[[], None] = nothing_to_flush  # subscribe(): the bus' queued events, dispatched

    def subscribe(self, events: Events) -> Journal:
        events.subscribe(RequestAnswered, self.on_answered)
        events.subscribe(RequestRejected, self.on_rejected)
        self.flush = events.flush
        return self

    def on_answered(self, event: RequestAnswered) -> None:
        ctx, output, timing = event.ctx, event.output, event.timing
        source, rule = split_source(output.source)
        frames = output.frames
        if frames is not None and event.frames_sent is not None:
            frames = frames[: event.frames_sent]
        self._append(
            Entry(
                seq=next(self._seq),
                time=ctx.now,
                method=ctx.method,
                path=ctx.path,
                status=output.status,
                operation=ctx.operation.operation_id,
                source=source,
                rule=rule,
                namespace=ctx.namespace,
                conversation=conversation_of(ctx),
                api_key=(key := _key_marks(api_key_of(ctx.headers)))[0],
                api_key_hash=key[1],
                request_id=ctx.request_id,
                request_json=kept(self._request_body(ctx)),
                response_json=None if frames is not None else kept(self._response_body(output, event.payload)),
                frames=None if frames is None else len(frames),
                first_frame_json=kept(_frame_json(frames[0])) if frames else None,
                last_frame_json=kept(_frame_json(frames[-1])) if frames else None,
                ttft=timing.first if frames is not None else timing.done,
                total=event.elapsed,
                timeline=Timeline.of(frames, timing, event.sent_at) if frames is not None else None,
                state=output.scenario_state,
                fault=fault_name(output.fault),
                retry_after=retry_after(output.headers),
                disconnected=event.disconnected,
            )
        )

    def on_rejected(self, event: RequestRejected) -> None:
        ctx, headers = event.ctx, event.headers
        self._append(
            Entry(
                seq=next(self._seq),
                time=ctx.now if ctx is not None else event.time,
                method=event.method,
                path=event.path,
                status=event.status,
                operation=event.operation_id,
                source="rejected",
                namespace=headers.get("x-fakeai-namespace", ""),
                conversation=conversation_of(ctx) if ctx is not None else headers.get(CONVERSATION_HEADER) or None,
                api_key=mask(api_key_of(headers)),
                api_key_hash=fingerprint(api_key_of(headers)),
                request_id=headers.get("x-request-id", ""),
                request_json=kept(self._request_body(ctx)) if ctx is not None else None,
                response_json=kept(pack({"error": {"message": event.message}})),
                message=event.message,
                retry_after=retry_after(event.response_headers),
            )
        )

    def _append(self, entry: Entry) -> None:
        entries, costs = self.entries, self.costs
        entries.append(entry)
        weight = cost(entry)
        costs.append(weight)
        self.bytes += weight
        while len(entries) > 1 and (len(entries) > self.size or self.bytes > self.max_bytes):
            entries.popleft()
            self.bytes -= costs.popleft()
            self.dropped += 1

    def _request_body(self, ctx: RequestContext) -> bytes | None:
        data = pack(ctx.body)
        if data is None or fits(ctx.body, data, self.body_limit):
            return data
        body = preview(ctx.body, data)
        if isinstance(body, dict):  # what expectations need, kept small
            body["turn"] = conv.turn(ctx.body)
            body["tool_results"] = [call_id for call_id, _name in conv.tool_results(ctx.body)][:64]
        return pack(body)

    def _response_body(self, output: Output, sent: bytes | None = None) -> bytes | None:
        body = output.body
        if isinstance(body, bytes):
            return pack({"content_type": output.content_type, "bytes": len(body)})
        data = sent if sent is not None else pack(body)  # the bytes the client got: the same JSON
        if data is None or fits(body, data, self.body_limit):
            return data
        return pack(preview(body, data))

    # queries ------------------------------------------------------------------------------
    def __len__(self) -> int:
        self.flush()
        return len(self.entries)

    def __iter__(self) -> Iterator[Entry]:
        self.flush()
        return iter(list(self.entries))

    def select(self, where: Filter = Filter(), limit: int | None = None, after: int = 0) -> list[Entry]:
        """Matching entries in arrival order; with ``limit``, the newest ``limit`` of them."""
        self.flush()
        found = [e for e in list(self.entries) if e.seq > after and where.accepts(e)]
        return found[-limit:] if limit is not None and limit < len(found) else found

    def clear(self) -> int:
        self.flush()
        count = len(self.entries)
        self.entries.clear()
        self.costs.clear()
        self.bytes = 0
        return count


def cost(entry: Entry) -> int:
    """An entry's memory, estimated cheaply: its stored JSON bytes plus a fixed overhead."""
    total = ENTRY_OVERHEAD
    for data in (entry.request_json, entry.response_json, entry.first_frame_json, entry.last_frame_json):
        if data is not None:
            total += len(data)
    return total if entry.timeline is None else total + entry.timeline.size


TIMELINE_FRAMES = 2048  # a longer stream keeps the times of its first ones (``frames`` still counts them all)


class Timeline:
    """A stream's timeline as numbers, per sent frame (the first :data:`TIMELINE_FRAMES`): the seconds after arrival
    it was planned for (frames without a deadline of their own are due with the first), when it actually went out
    (``sent`` is None when the stream was cut by a reset fault) and its tokens. The JSON the journal shows,
    ``{"due": [...], "sent": [...], "tokens": [...]}`` at 0.1 ms precision, is built when it is read, not for
    every stream (100 frames: a few µs to keep the arrays, ~30 µs to render them)."""

    __slots__ = ("due", "rendered", "sent", "tokens")

    def __init__(
        self, due: array[float], sent: array[float] | None, tokens: tuple[int, ...], rendered: bytes | None = None
    ) -> None:
        self.due, self.sent, self.tokens, self.rendered = due, sent, tokens, rendered

    @classmethod
    def of(cls, frames: Sequence[Frame], timing: Timing, sent: Sequence[float] | None) -> Timeline:
        count = min(len(frames), TIMELINE_FRAMES)
        due = array("d", timing.frames[:count])
        if len(due) < count:
            due.extend([timing.first] * (count - len(due)))
        kept_sent = None if sent is None else array("d", sent[:count])
        return cls(due, kept_sent, tuple([frame.tokens for frame in frames[:count]]))  # small ints: no objects

    @classmethod
    def parsed(cls, data: bytes) -> Timeline:
        """One already rendered (the shared journal's entries arrive as JSON)."""
        return cls(array("d"), None, (), owned(data))

    @property
    def size(self) -> int:
        """Bytes it holds, roughly (the journal's memory budget)."""
        if self.rendered is not None:
            return len(self.rendered)
        return 8 * len(self.due) * (1 if self.sent is None else 2) + 8 * len(self.tokens)

    def json(self) -> bytes:
        if self.rendered is not None:
            return self.rendered
        floor = math.floor  # 0.1 ms: floor(x * 1e4 + 0.5) / 1e4, what round(x, 4) gives here at a third of its cost
        return orjson.dumps(
            {
                "due": [floor(d * 10000.0 + 0.5) / 10000.0 for d in self.due],
                "sent": None if self.sent is None else [floor(s * 10000.0 + 0.5) / 10000.0 for s in self.sent],
                "tokens": self.tokens,
            }
        )


def split_source(source: str) -> tuple[str, str | None]:
    """``"scenario:greeting"`` -> ``("scenario", "greeting")``; other sources have no rule."""
    kind, sep, rule = source.partition(":")
    return (kind, rule or None) if sep else (source, None)


def conversation_of(ctx: RequestContext) -> str | None:
    header = ctx.headers.get(CONVERSATION_HEADER)
    if header:
        return header
    body = ctx.body
    if isinstance(body, dict):
        value = body.get("conversation")
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, str) and value:
            return value
    return None


def api_key_of(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return headers.get("api-key") or None


def mask(key: str | None) -> str | None:
    """``sk-proj-abcdef123456`` -> ``sk-...3456``: enough to tell clients apart, not to reuse."""
    if key is None:
        return None
    if len(key) <= 8:
        return "*" * len(key)
    return f"{key[:3]}...{key[-4:]}"


def fingerprint(key: str | None) -> str | None:
    """A short one-way hash of the key (12 hex digits of a personalised BLAKE2b), kept beside :func:`mask`: keys
    whose masks collide (every key of 8 characters or fewer is ``****``...) stay apart, and the key itself is never
    stored. The same on every replica (no secret), so a shared journal groups one client's requests together; a
    key short enough to be guessed can be guessed from it, as from the key's length and mask."""
    if key is None:
        return None
    return hashlib.blake2b(key.encode(), digest_size=6, person=b"fakeai-key").hexdigest()


_MARKS: Memo[str, tuple[str | None, str | None]] = Memo(1024)  # key -> (mask, fingerprint): the same few keys


def _key_marks(key: str | None) -> tuple[str | None, str | None]:
    if key is None:
        return None, None
    return _MARKS.get(key) or _MARKS.put(key, (mask(key), fingerprint(key)))


def retry_after(headers: Mapping[str, Any]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (delta seconds), case-insensitively."""
    if not headers:
        return None
    lowered = {str(k).lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = lowered.get(name)
        if value is None:
            continue
        try:
            return float(value) * scale
        except (TypeError, ValueError):
            continue
    return None


def kept(data: bytes | None) -> bytes | None:
    """``data`` as the journal keeps it: at its own size (:func:`fakeai.context.owned`; thousands of entries)."""
    return None if data is None else owned(data)


def _frame_json(frame: Frame) -> bytes | None:
    """A kept frame's JSON: a packed one's bytes as sent, without decoding them."""
    return frame.payload() if isinstance(frame, PackedFrame) else pack(frame.data)


def pack(body: Any) -> bytes | None:
    """``body`` as JSON bytes (``None`` stays ``None``; payload bytes are described, not kept)."""
    if body is None:
        return None
    if isinstance(body, Packed):  # a stream frame's data, encoded by the respond stage
        return bytes(body)
    return orjson.dumps(_plain_body(body), default=repr, option=orjson.OPT_NON_STR_KEYS)


def unpack(data: bytes | None) -> Any:
    return None if data is None else orjson.loads(data)


def bounded(body: Any, limit: int) -> Any:
    """``body`` itself when its JSON is at most ``limit`` bytes, else a preview that says so."""
    data = pack(body)
    if data is None or fits(body, data, limit):
        return _plain_body(body)
    return preview(body, data)


def fits(body: Any, data: bytes, limit: int) -> bool:
    """Kept whole: JSON of at most ``limit`` bytes, any scalar, or text of at most ``limit`` characters."""
    if len(data) <= limit or isinstance(body, (bool, int, float)):
        return True
    return isinstance(body, str) and len(body) <= limit


def preview(body: Any, data: bytes) -> Any:
    """A bounded stand-in for ``body`` (whose JSON is ``data``): its start, size and small top-level fields."""
    if isinstance(body, str):
        return {"truncated": True, "chars": len(body), "preview": body[:PREVIEW_CHARS]}
    text = data[:PREVIEW_CHARS].decode(errors="replace")
    result: dict[str, Any] = {"truncated": True, "bytes": len(data), "preview": text}
    if isinstance(body, dict):  # keep small top-level fields: expectations read them (stream_options, model)
        result["fields"] = dict(itertools.islice(((k, v) for k, v in body.items() if _small(v)), MAX_FIELDS))
    return result


def _small(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return len(value) <= 256
    if isinstance(value, dict):
        return len(value) <= 8 and all(v is None or isinstance(v, (bool, int, float, str)) for v in value.values())
    return False


def _plain_body(body: Any) -> Any:
    if isinstance(body, bytes):
        return {"bytes": len(body)}
    return body


def fault_name(fault: Any) -> str | None:
    if fault is None:
        return None
    for attribute in ("kind", "name", "fault"):
        value = getattr(fault, attribute, None)
        if isinstance(value, str):
            return value
    if isinstance(fault, Mapping):
        value = fault.get("fault") or fault.get("kind")
        if isinstance(value, str):
            return value
    return str(fault)


def request_fields(entry: Entry) -> Mapping[str, Any]:
    """The request body's top-level fields, also for a truncated body."""
    body = entry.request
    if isinstance(body, dict):
        if body.get("truncated") is True and isinstance(body.get("fields"), dict):
            fields: Mapping[str, Any] = body["fields"]
            return fields
        return body
    return {}


def dump(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    return [e.to_dict() for e in entries]
