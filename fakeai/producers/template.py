"""Jinja templates in ``fixtures/`` keyed by operationId, rendered in a sandbox.

``fixtures/<operationId>.json.j2`` renders to a JSON body; ``<operationId>.txt.j2`` to text.
Templates see the request (``body``, ``query``, ``path``, ``headers``, ``model``) and helpers
(``uuid()``, ``now``, ``random_id(prefix)``). The sandbox is immutable: no attribute escapes,
no file or network access, no mutation of request data; and bounded: a render stops after
``template_timeout_ms`` or ``template_max_bytes`` (:mod:`fakeai.producers.sandbox`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
from jinja2 import TemplateError

from fakeai.context import Output, RequestContext
from fakeai.errors import APIError, SpecError
from fakeai.ids import hex_id, new_id_per_char
from fakeai.producers.base import CompileEnv
from fakeai.producers.sandbox import BoundedSandbox, Limits, TemplateVars
from fakeai.producers.sandbox import render as bounded_render
from fakeai.spec.operation import Operation

log = logging.getLogger("fakeai.producers.template")


def sandbox() -> BoundedSandbox:
    """The immutable sandbox, bounded in time and output (:mod:`fakeai.producers.sandbox`)."""
    return BoundedSandbox()


def template_globals(ctx: RequestContext) -> TemplateVars:
    rng = ctx.rng

    def random_id(prefix: str = "", length: int = 24) -> str:
        return new_id_per_char(rng, prefix, min(int(length), 128))

    def uuid() -> str:
        text = hex_id(rng, "", 128)
        return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-a{text[17:20]}-{text[20:32]}"

    variables = TemplateVars(
        body=ctx.body,
        query=dict(ctx.query),
        path=dict(ctx.path_params),
        headers=dict(ctx.headers),
        model=ctx.model,
        now=int(ctx.now),
        operation_id=ctx.operation_id,
        random_id=random_id,
        uuid=uuid,
    )
    variables.limits = Limits.from_settings(ctx.settings)
    return variables


class TemplateProducer:
    source = "template"

    def __init__(self, template: Any, is_json: bool, name: str) -> None:
        self.template = template
        self.is_json = is_json
        self.name = name

    def produce(self, ctx: RequestContext) -> Output | None:
        try:
            text = bounded_render(self.template, template_globals(ctx))
        except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
            log.error("template %s failed: %s", self.name, exc)
            raise APIError(500, f"fakeai template {self.name} failed: {exc}", type="server_error") from None
        if not self.is_json:
            return Output(status=ctx.operation.status, body=text, content_type="text/plain", source=self.source)
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise APIError(
                500, f"fakeai template {self.name} rendered invalid JSON: {exc}", type="server_error"
            ) from None
        return Output(status=ctx.operation.status, body=body, source=self.source)


def template_factory(operation: Operation, env: CompileEnv) -> TemplateProducer | None:
    if env.fixtures_dir is None:
        return None
    for suffix, is_json in ((".json.j2", True), (".txt.j2", False)):
        path = Path(env.fixtures_dir) / f"{operation.operation_id}{suffix}"
        if path.is_file():
            try:
                template = sandbox().from_string(path.read_text(encoding="utf-8"))
            except TemplateError as exc:
                line = getattr(exc, "lineno", None)
                raise SpecError(f"{path}:{line or 1}: invalid template: {exc}") from None
            return TemplateProducer(template, is_json, path.name)
    return None
