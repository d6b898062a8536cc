"""Answer with the spec's own ``x-oaiMeta`` example, when (and only when) it validates.

Upstream examples often carry trailing commas or ``...``; those are skipped (on the operation's first answer).
Path ids and the requested model are echoed into the example when the result still validates.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

import orjson

from fakeai.context import Output, RequestContext
from fakeai.errors import APIError
from fakeai.producers.base import CompileEnv
from fakeai.spec.operation import Example, Operation

log = logging.getLogger("fakeai.producers.example")


class ExampleProducer:
    """The operation's first example that validates against its response schema, found on first use (checking
    every operation's examples at startup compiled a response validator per operation: ~28 MiB per process)."""

    source = "example"

    def __init__(self, examples: Sequence[Example], validator: Any) -> None:
        self.examples: Sequence[Example] | None = examples
        self.validator = validator
        self.body: Any = None
        self.title = ""

    @property
    def present(self) -> bool:
        """An example validates (resolved now if it was not yet): the producer can answer."""
        examples = self.examples
        if examples is not None:
            self.examples = None
            try:
                for example in examples:
                    body = parse_example(example.response)
                    if body is not None and self.validator.is_valid(body):
                        self.body, self.title = body, example.title
                        break
            except APIError as exc:  # the response schema cannot be compiled: no example can be trusted
                log.warning("spec examples not used: %s", exc.message)
        return self.body is not None

    def produce(self, ctx: RequestContext) -> Output | None:
        if ctx.wants_stream or not self.present:
            return None  # examples are the non-streamed shape
        body = self.body
        if isinstance(body, dict):
            changes = echo_fields(ctx, body)
            if changes:
                candidate = {**copy.deepcopy(body), **changes}
                if self.validator.is_valid(candidate):
                    body = candidate
        return Output(status=ctx.operation.status, body=body, source=self.source)


def echo_fields(ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if ctx.path_params and "id" in body:
        changes["id"] = list(ctx.path_params.values())[-1]
    model = ctx.model
    if model and isinstance(body.get("model"), str):
        changes["model"] = model
    for key in ("created", "created_at"):
        if isinstance(body.get(key), int) and not isinstance(body.get(key), bool):
            changes[key] = int(ctx.now)
    return changes


def parse_example(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def example_factory(operation: Operation, env: CompileEnv) -> ExampleProducer | None:
    if not env.settings.use_examples:
        return None
    media = operation.json_response
    if media is None or media.schema is None or not operation.examples:
        return None
    return ExampleProducer(operation.examples, env.validators.for_pointer(media.pointer))
