"""Templated values in scenario responses, compiled once at load.

Any string containing ``{{`` or ``{%`` is a Jinja template rendered in fakeai's immutable sandbox
(:func:`fakeai.producers.template.sandbox`): no attribute escapes, no file or network access, and each
value's render bounded by ``template_timeout_ms`` and ``template_max_bytes`` (:mod:`fakeai.producers.sandbox`).
Templates see the request (``body``, ``query``, ``headers``, ``model``, ``path``), ``match``
(regex captures of the rule), ``state``, ``turn``, ``last_user_message`` and helpers ``uuid()``,
``random_id(prefix)``, ``now``, ``tokens(text)``, ``json_path(expr)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jinja2 import TemplateError
from jinja2.exceptions import SecurityError

from fakeai.context import RequestContext
from fakeai.errors import APIError
from fakeai.producers.sandbox import render as bounded_render
from fakeai.producers.template import sandbox, template_globals
from fakeai.producers.text.tokenizer import for_model
from fakeai.scenario import conversation as conv
from fakeai.scenario.match import Fail, compile_path

Value = Callable[[Mapping[str, Any]], Any]  # rendering environment -> value
_ENV = sandbox()


def jinja_environment() -> Any:
    """The sandboxed Jinja environment scenario templates render in (``fakeai check`` parses with it)."""
    return _ENV


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def compile_value(value: Any, path: Sequence[str | int], fail: Fail) -> Value:
    """A constant stays constant; templated strings anywhere inside are rendered per request."""
    if isinstance(value, str):
        if not _is_template(value):
            return lambda _env: value
        try:
            template = _ENV.from_string(value)
        except TemplateError as exc:
            raise fail(path, f"invalid template: {exc}") from None
        return lambda env: bounded_render(template, env)
    if isinstance(value, dict):
        items = [(k, compile_value(v, (*path, k), fail)) for k, v in value.items()]
        if all(not _has_template(v) for v in value.values()):
            return lambda _env: value
        return lambda env: {k: render(env) for k, render in items}
    if isinstance(value, list):
        parts = [compile_value(v, (*path, i), fail) for i, v in enumerate(value)]
        if not any(_has_template(v) for v in value):
            return lambda _env: value
        return lambda env: [render(env) for render in parts]
    return lambda _env: value


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return _is_template(value)
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return False


def environment(
    ctx: RequestContext, captures: Mapping[str, Any], state: str, conversation: Any = None
) -> dict[str, Any]:
    """The template variables; ``turn`` and ``last_user_message`` read ``conversation`` (the body with the
    earlier turns of a Responses chain) when given."""
    env = template_globals(ctx)
    turns = ctx.body if conversation is None else conversation

    def tokens(text: Any) -> int:
        return for_model(ctx.model).count(str(text))

    def json_path(expr: str) -> Any:
        found = compile_path(str(expr), (), _no_fail)(ctx.body)
        return found[0] if found else None

    env.update(
        match=dict(captures),
        state=state,
        turn=conv.turn(turns),
        last_user_message=conv.last_user_message(turns),
        request_id=ctx.request_id,
        namespace=ctx.namespace,
        tokens=tokens,
        json_path=json_path,
    )
    return env


def _no_fail(_path: Sequence[str | int], message: str) -> Exception:
    return ValueError(message)


def render(value: Value, env: Mapping[str, Any], where: str) -> Any:
    """Render; a failing or escaping template answers 500 in the OpenAI envelope, never a traceback."""
    try:
        return value(env)
    except SecurityError as exc:
        raise APIError(500, f"fakeai scenario template {where} is not allowed: {exc}", type="server_error") from None
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise APIError(500, f"fakeai scenario template {where} failed: {exc}", type="server_error") from None


def templated(value: Any) -> bool:
    """Whether a scenario value holds Jinja (``{{ }}`` / ``{% %}``) anywhere: then it is known only per request."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(templated(v) for v in value.values())
    if isinstance(value, list):
        return any(templated(v) for v in value)
    return False
