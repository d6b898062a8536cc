"""Per-operation work compiled once at startup: validators, coercion, producers.

At request time :meth:`CompiledOperation.parse` turns raw parts into values checked against the
spec, and :meth:`CompiledOperation.produce` asks the producers in order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fakeai.context import Output, RequestContext, UploadedFile
from fakeai.errors import APIError
from fakeai.parse.coerce import coerce, file_placeholders, nest
from fakeai.producers.base import CompileEnv, Producer, ProducerFactory, ScriptedProducer
from fakeai.spec.operation import Operation, Parameter, resolve_pointer
from fakeai.spec.validate import Validators, first_error

if TYPE_CHECKING:
    from fakeai.producers.text.script import Script

log = logging.getLogger("fakeai.operations")


class CompiledOperation:
    """An operation with everything it needs at request time, built once."""

    def __init__(self, operation: Operation, env: CompileEnv, factories: Sequence[ProducerFactory]) -> None:
        self.operation = operation
        self.env = env
        document = env.document
        self._resolve = lambda ref: resolve_pointer(document, ref)
        self.validation = env.settings.validation
        self.query_params: dict[str, Parameter] = {p.name: p for p in operation.parameters if p.location == "query"}
        self.required_query = [p.name for p in self.query_params.values() if p.required]
        # a parameter the spec names ``include[]``: nest() reads ``include[]=x`` as ``include`` (a list)
        self.bracketed = {name[:-2]: name for name in self.query_params if name.endswith("[]")}
        request_validators = env.validators
        self.query_validator = (
            request_validators.for_schema(
                {
                    "type": "object",
                    "properties": {p.name: {"$ref": _urn(p.pointer)} for p in self.query_params.values()},
                    "required": self.required_query,
                }
            )
            if self.query_params
            else None
        )
        self.path_validators = {
            p.name: request_validators.for_pointer(p.pointer) for p in operation.parameters if p.location == "path"
        }
        self.body_validators: dict[str, Any] = {}
        self.body_schemas: dict[str, Mapping[str, Any]] = {}
        for content_type, media in operation.request_media.items():
            if media.schema is not None:
                self.body_validators[content_type] = request_validators.for_pointer(media.pointer)
                self.body_schemas[content_type] = media.schema
        self.producers: list[Producer] = []
        for factory in factories:
            producer = factory(operation, env)
            if producer is not None:
                self.producers.append(producer)
        self.scripted = next((p for p in self.producers if isinstance(p, ScriptedProducer)), None)
        from fakeai.producers.stored import RECORDERS

        self.recorder = RECORDERS.get(operation.operation_id)  # effects of this operation's answers, if any

    @property
    def sources(self) -> list[str]:
        return [p.source for p in self.producers if getattr(p, "present", True)]

    def check_path(self, path_params: Mapping[str, str]) -> None:
        if self.validation == "off":
            return
        for name, validator in self.path_validators.items():
            value = path_params.get(name)
            problem = first_error(validator, value)
            if problem and self.validation == "strict":
                raise APIError(400, f"Invalid path parameter {name!r}: {problem[0]}", param=name)

    def parse_query(self, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
        nested = {self.bracketed.get(name, name): value for name, value in nest(pairs).items()}
        query = {
            name: coerce(value, self.query_params[name].schema, self._resolve) if name in self.query_params else value
            for name, value in nested.items()
        }
        if self.query_validator is not None and self.validation != "off":
            known = {k: v for k, v in query.items() if k in self.query_params}
            problem = first_error(self.query_validator, known)
            if problem and self.validation == "permissive":  # the SDK's own tests send e.g. ``limit=0``
                log.debug("permissive: accepted %s query despite: %s", self.operation.operation_id, problem[0])
            elif problem:
                raise APIError(400, problem[0], param=problem[1])
        return query

    def parse_body(self, content_type: str, body: Any, files: dict[str, list[UploadedFile]]) -> Any:
        """Validate a parsed body (JSON or form fields) against the schema for its media type."""
        if body is None and not files:
            if self.operation.body_required and self.validation == "strict" and self.body_validators:
                raise APIError(400, "You must provide a request body.", param=None, code="missing_required_body")
            return None
        media = _pick_media(content_type, self.body_validators)
        if media is None or self.validation == "off":
            return body
        is_form = media.startswith(("multipart/", "application/x-www-form-urlencoded"))
        if is_form and isinstance(body, dict):
            body = coerce(body, self.body_schemas[media], self._resolve)
        checked = {**body, **file_placeholders(files)} if isinstance(body, dict) and files else body
        problem = first_error(self.body_validators[media], checked)
        if problem:
            if self.validation == "permissive":
                log.debug("permissive: accepted %s body despite: %s", self.operation.operation_id, problem[0])
            else:
                raise APIError(400, problem[0], param=problem[1])
        return body

    def body_content_type(self, content_type: str, raw: bytes) -> str:
        """The media type to parse a body as; 415 when the operation does not take ``content_type``.

        A JSON body sent without a JSON header (``curl -d '{...}'`` sends form-urlencoded) is read as JSON,
        as the real API does.
        """
        accepted = self.operation.request_media
        if not accepted or not raw.strip() or _pick_media(content_type, accepted) is not None:
            return content_type
        if raw.lstrip()[:1] in (b"{", b"[") and _pick_media("application/json", accepted) is not None:
            return "application/json"
        raise APIError(
            415,
            f"Unsupported Content-Type {content_type!r} for {self.operation.method} {self.operation.path}: "
            f"send {' or '.join(sorted(accepted))}.",
            code="unsupported_media_type",
        )

    def produce(self, ctx: RequestContext) -> Output:
        for producer in self.producers:
            output = producer.produce(ctx)
            if output is not None:
                return output
        raise APIError(500, f"fakeai has no way to answer {self.operation.operation_id}", type="server_error")

    def record(self, ctx: RequestContext, output: Output) -> Output:
        """Add the state changes this operation's answer implies (e.g. a created response is stored)."""
        if self.recorder is None or output.status >= 400:
            return output
        effects = self.recorder(ctx, output)
        return replace(output, effects=(*output.effects, *effects)) if effects else output

    def produce_scripted(self, ctx: RequestContext, script: Script) -> Output | None:
        """A scripted answer (scenario rules) rendered by the operation's LLM producer; None if it has none."""
        return self.scripted.produce_scripted(ctx, script) if self.scripted is not None else None


def _pick_media(content_type: str, validators: Mapping[str, Any]) -> str | None:
    if content_type in validators:
        return content_type
    if content_type == "application/json" or content_type.endswith("+json"):
        # multipart endpoints also accept JSON bodies: validate against their form schema
        for media in validators:
            if media.startswith(("multipart/", "application/x-www-form-urlencoded")):
                return media
    if not content_type:
        return next(iter(validators), None)
    return None


def _urn(pointer: str) -> str:
    from fakeai.spec.validate import ref

    return ref(pointer)


def compile_operations(
    operations: Sequence[Operation], env: CompileEnv, factories: Sequence[ProducerFactory]
) -> dict[str, CompiledOperation]:
    return {op.operation_id: CompiledOperation(op, env, factories) for op in operations}


__all__ = ["CompiledOperation", "Validators", "compile_operations"]
