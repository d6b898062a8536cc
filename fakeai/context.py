"""Frozen data passed between the pipeline stages.

A request is parsed into a :class:`RequestContext` (with its one seed and its id); the match stage
returns a :class:`Decision`; the produce stage turns both into an :class:`Output` (with the
:class:`Effect` s it asks for); simulators add a :class:`Timing`; the respond stage writes it out.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

if TYPE_CHECKING:
    from fakeai.config import Settings
    from fakeai.scenario.prefer import Preference
    from fakeai.spec.operation import Operation


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Everything a producer may look at. Built once per request, never mutated."""

    operation: Operation
    method: str
    path: str
    path_params: Mapping[str, str]
    query: Mapping[str, Any]
    headers: Mapping[str, str]  # lower-case names
    body: Any  # parsed JSON, form fields as a dict, or None
    files: Mapping[str, Sequence[UploadedFile]]
    seed: int  # derived once by the parse stage (fakeai.parse.seed); every stage reads this one
    rng: random.Random  # seeded from ``seed``; never the global RNG
    now: float  # unix time from the injected clock
    settings: Settings
    namespace: str = ""  # test isolation namespace (x-fakeai-namespace header)
    request_id: str = ""  # unique per request; every stage and event carries it (and x-request-id)
    prefer: Preference | None = None  # the parsed ``Prefer`` header

    @classmethod
    def internal(
        cls,
        operation: Operation,
        method: str,
        path: str,
        body: Any,
        *,
        seed: int,
        now: float,
        settings: Settings,
        request_id: str,
        namespace: str = "",
        headers: Mapping[str, str] | None = None,
        path_params: Mapping[str, str] | None = None,
    ) -> RequestContext:
        """A request fakeai makes itself (a batch's line, a realtime turn): a JSON body, no query or files, the
        RNG seeded from ``seed``."""
        return cls(
            operation=operation,
            method=method,
            path=path,
            path_params=path_params or {},
            query={},
            headers=headers if headers is not None else {},
            body=body,
            files={},
            seed=seed,
            rng=random.Random(seed),
            now=now,
            settings=settings,
            namespace=namespace,
            request_id=request_id,
        )

    def draws_done(self) -> None:
        """The produce and simulate stages are over, and with them the request's draws: the generator goes (its
        state is 2.8 KiB, which an open stream would otherwise hold until its last frame). A later draw raises."""
        object.__setattr__(self, "rng", _SPENT)

    @property
    def operation_id(self) -> str:
        return self.operation.operation_id

    @property
    def wants_stream(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("stream") is True

    @property
    def model(self) -> str | None:
        if isinstance(self.body, dict):
            model = self.body.get("model")
            if isinstance(model, str):
                return model
        model = self.path_params.get("model")
        return model if isinstance(model, str) else None


class _Spent(random.Random):
    """``RequestContext.rng`` after ``draws_done``: every draw is a bug (it would not come from the seed)."""

    def _done(self, *_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a request's random draws end with its simulate stage (RequestContext.draws_done)")

    random = getrandbits = randbytes = getstate = setstate = _done


_SPENT = _Spent(0)
_SPENT.seed = _SPENT._done  # type: ignore[method-assign]  # after __init__, which seeds it


def owned(data: bytes) -> bytes:
    """``data`` in an object of its own size, for bytes that are kept: orjson's output holds a 4 KiB buffer
    however short it is (orjson 3.x: 100,000 small ``dumps`` results are 393 MiB of RSS)."""
    return bytes(memoryview(data))


class Packed(bytes):
    """A frame's ``data`` already encoded as JSON (:func:`fakeai.streaming.pack_frames`): what the respond stage
    sends, kept instead of the object (a third of the memory, and nothing for the garbage collector to walk)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One server-sent event. ``data`` is a JSON-able object or a raw string (e.g. ``[DONE]``)."""

    data: Any  # a JSON-able object, a string, or Packed JSON (after the simulate stage)
    event: str | None = None
    validate: bool = True  # self-check this frame against the spec's stream event schema
    tokens: int = 0  # completion tokens this frame carries (drives inter-token timing)
    # False for frames whose data never holds a usage object, a finish reason or a final response (a content
    # delta): the listeners looking for those skip them rather than build their data
    summary: ClassVar[bool] = True

    def sse(self) -> bytes:
        """The whole server-sent event (``event:`` line when named, ``data:`` line, blank line)."""
        payload = self.payload()
        if self.event:
            return b"event: " + self.event.encode() + b"\ndata: " + payload + b"\n\n"
        return b"data: " + payload + b"\n\n"

    def payload(self) -> bytes:
        """The ``data:`` line's bytes: the string, the Packed JSON, or the object encoded now."""
        data = self.data
        if isinstance(data, Packed):
            return data
        return data.encode() if isinstance(data, str) else orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


class PackedFrame(Frame):
    """A first or last frame of a stream with its JSON ``data`` kept encoded while the stream is open
    (:func:`fakeai.streaming.pack_frames`): the respond stage sends the bytes, and the listeners, which read these
    frames once the stream is over (usage, finish reason, the final response), get the object decoded on their
    first read. An open chat stream holds ~1 KiB less; an open Responses stream, its whole final response less."""

    __slots__ = ("_decoded", "_json")
    _json: bytes
    _decoded: Any

    @classmethod
    def of(cls, frame: Frame, encoded: bytes) -> PackedFrame:
        packed = object.__new__(cls)
        for name, value in (("event", frame.event), ("validate", frame.validate), ("tokens", frame.tokens)):
            object.__setattr__(packed, name, value)
        object.__setattr__(packed, "_json", owned(encoded))
        object.__setattr__(packed, "_decoded", None)
        return packed

    @property  # Frame.data, decoded once
    def data(self) -> Any:
        decoded = self._decoded
        if decoded is None:
            decoded = orjson.loads(self._json)
            object.__setattr__(self, "_decoded", decoded)
        return decoded

    def payload(self) -> bytes:
        return self._json


DONE = Frame("[DONE]", validate=False)  # OpenAI's last event of a stream: one object for every stream


@dataclass(frozen=True, slots=True)
class Output:
    """What the produce stage decided to answer."""

    status: int = 200
    body: Any = None  # JSON-able object, ``bytes`` or ``str`` for non-JSON media
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    frames: Sequence[Frame] | None = None  # set for text/event-stream answers
    source: str = "generated"  # scenario | template | example | generated | llm | error
    completion_tokens: int = 0  # for non-streamed latency: TTFT + (tokens-1) * ITL; streams: set by the pipeline
    # after the simulate stage (the frames' tokens), for the listeners
    prompt_tokens: int | None = None  # the producer's usage counts, also for a stream without a usage chunk: the
    cached_tokens: int = 0  # listeners read them here instead of finding usage in the answer or counting again
    fault: Any = None  # a fault the match stage decided (fakeai.scenario.faults.Fault), already injected
    effects: Sequence[Effect] = ()  # state changes the simulate stage commits (never written by producers)
    scenario_state: str | None = None  # the answering rule's state machine after this turn (the journal shows it)


@dataclass(frozen=True, slots=True)
class Effect:
    """One state change an answer implies, committed by the simulate stage (the only writer of the store).

    ``action``: ``put`` (``record`` under ``kind``/``id``), ``delete``, or ``work``: run the named work
    (``fakeai.resources.work``: a batch's lines, an assistant run) on the record, with the pipeline's internal
    runner; its own effects are committed the same way."""

    action: str
    kind: str
    id: str
    record: Any = None  # fakeai.store.Record for ``put``
    work: str | None = None  # the work's name, for ``work``


@dataclass(frozen=True, slots=True)
class Refusal:
    """An error answer decided before producing (rate limit, ``Prefer: code``, a chaos error)."""

    status: int
    message: str
    type: str
    code: Any = None
    param: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the match stage decided. The produce stage acts on it; nothing here is an answer yet.

    No field set: the operation's producers answer as if no scenario were loaded."""

    rule: str | None = None  # the scenario rule that answered (journal/metrics show ``scenario:<rule>``)
    reply: Any = None  # a fakeai.scenario.respond.Reply to render (script, body or error)
    env: Mapping[str, Any] = field(default_factory=dict)  # the reply's template environment
    refusal: Refusal | None = None  # answer this error instead of producing
    example: str | None = None  # ``Prefer: example=<title>``
    fault: Any = None  # a fault to inject into the produced answer (fakeai.scenario.faults.Fault)
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. x-ratelimit-* for the answer
    conversation: str | None = None  # the conversation a rule answered in (to follow response ids)
    scenario: str | None = None  # the scenario that answered
    state: str | None = None  # its rule's state machine after this turn ("state", or "machine:state")

    @property
    def decided(self) -> bool:
        return self.reply is not None or self.refusal is not None or self.example is not None


NO_DECISION = Decision()


@dataclass(frozen=True, slots=True)
class Timing:
    """When each part of the answer is due, in seconds after the request arrived.

    ``first`` is when the headers / first frame go out; ``frames[i]`` is the absolute deadline
    of frame ``i`` (streams only). Deadlines are absolute so no drift accumulates.
    """

    first: float = 0.0
    frames: Sequence[float] = ()
    done: float = 0.0  # for non-streamed answers: when the body goes out
    queued: float = 0.0  # of ``first``, the time spent waiting for the engine (the engine simulator's queue)
