"""The last resort for every operation: data generated from the response schema.

JSON bodies come from the compiled schema walker; ``text/event-stream`` answers are a generic
stream of schema-valid events; other media types get a valid minimal payload of that type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fakeai.context import DONE, Frame, Output, RequestContext
from fakeai.generated.schema import GenContext
from fakeai.producers.base import CompileEnv
from fakeai.spec.operation import Operation
from fakeai.spec.pointer import deref

GENERIC_STREAM_EVENTS = 3


class GeneratedProducer:
    source = "generated"

    def __init__(
        self,
        operation: Operation,
        body: Callable[[GenContext], Any] | None,
        stream: Callable[[GenContext], Any] | None,
        stream_named: bool,
        media_type: str | None,
    ) -> None:
        self.operation = operation
        self.body = body
        self.stream = stream
        self.stream_named = stream_named  # Responses-style typed events (event: <type>), no [DONE]
        self.media_type = media_type

    def produce(self, ctx: RequestContext) -> Output:
        gen = GenContext(rng=ctx.rng, now=ctx.now, overrides=overrides(ctx), echo=_echo(ctx))
        status = ctx.operation.status
        if self.stream is not None and (ctx.wants_stream or (self.body is None and self.media_type is None)):
            return Output(status=status, frames=self._frames(gen), source=self.source)
        if self.body is not None:
            return Output(status=status, body=self.body(gen), source=self.source)
        if self.media_type is not None:
            from fakeai.media.formats import media_for_content_type

            hint = _media_hint(ctx)
            data = media_for_content_type(self.media_type, seed=ctx.seed, hint=hint)
            return Output(status=status, body=data, content_type=self.media_type, source=self.source)
        return Output(status=status, body=b"", content_type="application/octet-stream", source=self.source)

    def _frames(self, gen: GenContext) -> list[Frame]:
        assert self.stream is not None
        frames = []
        for index in range(GENERIC_STREAM_EVENTS):
            event = self.stream(gen)
            if isinstance(event, dict) and "sequence_number" in event and isinstance(event["sequence_number"], int):
                event["sequence_number"] = index
            name = event.get("type") if self.stream_named and isinstance(event, dict) else None
            frames.append(Frame(event, event=name if isinstance(name, str) else None, tokens=1))
        if not self.stream_named:
            frames.append(DONE)
        return frames


def overrides(ctx: RequestContext) -> dict[str, Any]:
    """Values that should appear verbatim: path ids (the last one is the object's own id), model."""
    values: dict[str, Any] = dict(ctx.path_params)
    if ctx.path_params:
        values["id"] = list(ctx.path_params.values())[-1]
    model = ctx.model
    if model:
        values["model"] = model
    return values


def _echo(ctx: RequestContext) -> Mapping[str, Any]:
    return ctx.body if isinstance(ctx.body, dict) else {}


def _media_hint(ctx: RequestContext) -> dict[str, Any]:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    hint: dict[str, Any] = {k: body[k] for k in ("input", "response_format", "size", "seconds") if k in body}
    if "input" in body and isinstance(body["input"], str):
        hint["text"] = body["input"]
    if isinstance(ctx.body, str):
        hint["offer"] = ctx.body
    return hint


def _is_named_stream(schema: Mapping[str, Any] | None, document: Mapping[str, Any]) -> bool:
    """Responses-like streams are a union of typed events; chat-like streams are one chunk shape."""
    if not isinstance(schema, Mapping):
        return False
    schema = deref(document, schema)
    return isinstance(schema, Mapping) and bool(schema.get("anyOf") or schema.get("oneOf"))


def generated_factory(operation: Operation, env: CompileEnv) -> GeneratedProducer:
    json_media = operation.json_response
    stream_media = operation.stream_response
    binary = operation.binary_response
    body = env.walker.deferred(json_media.schema) if json_media and json_media.schema is not None else None
    stream = env.walker.deferred(stream_media.schema) if stream_media and stream_media.schema is not None else None
    named = _is_named_stream(stream_media.schema if stream_media else None, env.document)
    return GeneratedProducer(operation, body, stream, named, binary.content_type if binary else None)
