"""Frozen data passed between the pipeline stages.

A request is parsed into a :class:`RequestContext`; the produce stage turns it into an
:class:`Output`; simulators add a :class:`Timing`; the respond stage writes it out.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakeai.config import Settings
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
    seed: int
    rng: random.Random  # seeded from (global seed, request); never the global RNG
    now: float  # unix time from the injected clock
    settings: Settings
    namespace: str = ""  # test isolation namespace (x-fakeai-namespace header)
    request_id: str = ""

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


@dataclass(frozen=True, slots=True)
class Frame:
    """One server-sent event. ``data`` is a JSON-able object or a raw string (e.g. ``[DONE]``)."""

    data: Any
    event: str | None = None
    validate: bool = True  # self-check this frame against the spec's stream event schema
    tokens: int = 0  # completion tokens this frame carries (drives inter-token timing)


@dataclass(frozen=True, slots=True)
class Output:
    """What the produce stage decided to answer."""

    status: int = 200
    body: Any = None  # JSON-able object, ``bytes`` or ``str`` for non-JSON media
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    frames: Sequence[Frame] | None = None  # set for text/event-stream answers
    source: str = "generated"  # scenario | template | example | generated | llm | error
    completion_tokens: int = 0  # for non-streamed latency: TTFT + (tokens-1) * ITL
    fault: Any = None  # a mid-stream fault injected by the scenario engine (fakeai.scenario)


@dataclass(frozen=True, slots=True)
class Timing:
    """When each part of the answer is due, in seconds after the request arrived.

    ``first`` is when the headers / first frame go out; ``frames[i]`` is the absolute deadline
    of frame ``i`` (streams only). Deadlines are absolute so no drift accumulates.
    """

    first: float = 0.0
    frames: Sequence[float] = ()
    done: float = 0.0  # for non-streamed answers: when the body goes out
