"""A rule's response: compiled at load into a :class:`Reply`, turned into an ``Output`` per request.

Three kinds, mutually exclusive: a scripted model answer (``content`` / ``tool_calls`` / ``json`` /
``refusal``, rendered as a :class:`~fakeai.producers.text.script.Script` by the operation's LLM
producer, see :mod:`fakeai.scenario.render`), a raw ``body``, or an ``error`` in OpenAI's envelope. A rule's
``resource:`` block is a fourth (:mod:`fakeai.scenario.resource`): the resource producer answers, scripted.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from fakeai.context import Output, Refusal, RequestContext
from fakeai.errors import ERROR_TYPES, SERVER_ERROR_MESSAGE, APIError, error_body
from fakeai.ids import new_id
from fakeai.producers.bindings import scripted_keys
from fakeai.producers.text.script import Script, ToolCall
from fakeai.scenario.faults import Fault
from fakeai.scenario.match import Fail
from fakeai.scenario.render import SCRIPTABLE, ProduceScripted, scripted_output
from fakeai.scenario.resource import Directive, resource_output
from fakeai.scenario.template import Value, compile_value, render

SCRIPT_KEYS = ("content", "tool_calls", "json", "refusal")
DEFAULT_MESSAGES: dict[int, str] = {
    429: "Rate limit reached. Please try again later.",
    500: SERVER_ERROR_MESSAGE,
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
    504: "Gateway timeout.",
}


@dataclass(frozen=True, slots=True)
class ErrorReply:
    status: int
    type: str
    code: Value
    message: Value
    param: str | None
    headers: Value


@dataclass(frozen=True, slots=True)
class Reply:
    where: str
    status: int | None = None
    headers: Value | None = None
    delay_ms: float = 0.0
    content: Value | None = None
    tool_calls: tuple[tuple[Value, Value, Value | None], ...] = ()
    json: Value | None = None
    refusal: Value | None = None
    finish_reason: str | None = None
    body: Value | None = None
    raw_body: Any = None  # the body as written (for ``fakeai check``)
    error: ErrorReply | None = None
    resource: Directive | None = None  # a rule's ``resource:`` block

    @property
    def is_script(self) -> bool:
        return self.body is None and self.error is None and self.resource is None

    @property
    def script_keys(self) -> frozenset[str]:
        """Which of content / tool_calls / json / refusal this reply uses."""
        return frozenset(key for key in SCRIPT_KEYS if getattr(self, key) not in (None, ()))


def compile_reply(spec: Mapping[str, Any], path: Sequence[str | int], fail: Fail, where: str) -> Reply:
    kinds = [k for k in ("body", "error") if k in spec] + (["script"] if any(k in spec for k in SCRIPT_KEYS) else [])
    if len(kinds) > 1:
        raise fail(path, f"a response is one of body, error or content/tool_calls/json/refusal; got {kinds}")
    if "content" in spec and "json" in spec:
        raise fail(path, "use either 'content' or 'json', not both")
    if "status" in spec and "error" in spec:
        raise fail((*path, "status"), "put the status inside 'error:'")
    calls = tuple(
        (
            compile_value(call["name"], (*path, "tool_calls", i, "name"), fail),
            compile_value(call.get("arguments", {}), (*path, "tool_calls", i, "arguments"), fail),
            compile_value(call["id"], (*path, "tool_calls", i, "id"), fail) if "id" in call else None,
        )
        for i, call in enumerate(spec.get("tool_calls") or ())
    )
    return Reply(
        where=where,
        status=spec.get("status"),
        headers=compile_value(spec["headers"], (*path, "headers"), fail) if "headers" in spec else None,
        delay_ms=float(spec.get("delay_ms", 0)),
        content=compile_value(spec["content"], (*path, "content"), fail) if "content" in spec else None,
        tool_calls=calls,
        json=compile_value(spec["json"], (*path, "json"), fail) if "json" in spec else None,
        refusal=compile_value(spec["refusal"], (*path, "refusal"), fail) if "refusal" in spec else None,
        finish_reason=spec.get("finish_reason"),
        body=compile_value(spec["body"], (*path, "body"), fail) if "body" in spec else None,
        raw_body=spec.get("body"),
        error=compile_error(spec["error"], (*path, "error"), fail) if "error" in spec else None,
    )


def compile_error(spec: Mapping[str, Any], path: Sequence[str | int], fail: Fail) -> ErrorReply:
    status = int(spec["status"])
    default_code = "rate_limit_exceeded" if status == 429 else None
    message = spec.get("message") or DEFAULT_MESSAGES.get(status, f"fakeai scripted error {status}.")
    return ErrorReply(
        status=status,
        type=str(
            spec.get("type") or ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        ),
        code=compile_value(spec.get("code", default_code), (*path, "code"), fail),
        message=compile_value(message, (*path, "message"), fail),
        param=spec.get("param"),
        headers=compile_value({k: str(v) for k, v in (spec.get("headers") or {}).items()}, (*path, "headers"), fail),
    )


def error_output(error: ErrorReply, env: Mapping[str, Any], where: str) -> Output:
    return refusal_output(render_refusal(error, env, where))


def refusal_output(refusal: Refusal) -> Output:
    """The answer to an error the match stage decided, in OpenAI's envelope."""
    body = error_body(refusal.message, type=refusal.type, param=refusal.param, code=refusal.code)
    return Output(status=refusal.status, body=body, headers=refusal.headers, source="scenario")


def render_refusal(error: ErrorReply, env: Mapping[str, Any], where: str) -> Refusal:
    headers = {str(k).lower(): str(v) for k, v in render(error.headers, env, where).items()}
    retry = headers.get("retry-after")
    if retry is not None and "retry-after-ms" not in headers:
        try:
            seconds = float(retry)
        except ValueError:
            seconds = -1.0
        if seconds >= 0:  # the SDK prefers retry-after-ms; HTTP wants whole seconds in retry-after
            headers["retry-after-ms"] = str(round(seconds * 1000))
            headers["retry-after"] = str(math.ceil(seconds))
    return Refusal(
        error.status,
        str(render(error.message, env, where)),
        error.type,
        render(error.code, env, where),
        error.param,
        headers,
    )


def render_script(reply: Reply, env: Mapping[str, Any], rng: random.Random) -> Script:
    """The reply's templates rendered: ``json`` becomes content text, call ids default to seeded ``call_...``."""
    content = render(reply.content, env, reply.where) if reply.content is not None else None
    if reply.json is not None:
        value = render(reply.json, env, reply.where)
        content = value if isinstance(value, str) else orjson.dumps(value).decode()
    calls = []
    for index, (name, arguments, call_id) in enumerate(reply.tool_calls):
        args = render(arguments, env, reply.where)
        text = args if isinstance(args, str) else orjson.dumps(args).decode()
        call = render(call_id, env, reply.where) if call_id is not None else new_id(rng, "call_", 24)
        calls.append(ToolCall(str(call) or f"call_{index}", str(render(name, env, reply.where)), text))
    refusal = render(reply.refusal, env, reply.where) if reply.refusal is not None else None
    return Script(
        content=None if content is None else str(content),
        tool_calls=tuple(calls),
        refusal=None if refusal is None else str(refusal),
        finish_reason=reply.finish_reason,
    )


def example_output(ctx: RequestContext, title: str) -> Output:
    """``Prefer: example=<title>``: the operation's x-oaiMeta example (the match stage checked the title)."""
    example = next(e for e in ctx.operation.examples if e.title == title)
    try:
        body = orjson.loads(example.response)
    except orjson.JSONDecodeError:
        return Output(status=ctx.operation.status, body=example.response, content_type="text/plain", source="example")
    return Output(status=ctx.operation.status, body=body, source="example")


def _declared_scripted(
    ctx: RequestContext, script: Script, reply: Reply, produce: ProduceScripted | None
) -> Output | None:
    """Operations outside ``render.SCRIPTABLE`` whose bindings file declares the keys (``scripted:``), e.g.
    Anthropic's ``messages_post``: rendered by the operation's producer; None leaves it to ``scripted_output``."""
    if produce is None or ctx.operation_id in SCRIPTABLE:
        return None
    if not reply.script_keys <= scripted_keys(ctx.operation, getattr(ctx.settings, "bindings", ())):
        return None
    output = produce(ctx, script)
    return replace(output, source="scenario") if output is not None else None


def reply_output(
    ctx: RequestContext, reply: Reply, env: Mapping[str, Any], produce_scripted: ProduceScripted | None = None
) -> Output:
    """Turn a reply into an Output (called by the produce stage; scripted answers are rendered by the
    operation's LLM producer, which the produce stage passes in)."""
    if reply.error is not None:
        output = error_output(reply.error, env, reply.where)
    elif reply.resource is not None:
        output = replace(resource_output(ctx, reply.resource, env), source="scenario")
    elif reply.body is not None:
        body = render(reply.body, env, reply.where)
        if isinstance(reply.raw_body, str):
            try:
                body = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise APIError(
                    500, f"fakeai scenario {reply.where}: body is not JSON: {exc}", type="server_error"
                ) from None
        output = Output(status=reply.status or ctx.operation.status, body=body, source="scenario")
    else:
        script = render_script(reply, env, ctx.rng)
        output = _declared_scripted(ctx, script, reply, produce_scripted) or scripted_output(
            ctx, script, reply.script_keys, reply.where, produce_scripted
        )
    extra = (
        {str(k).lower(): str(v) for k, v in render(reply.headers, env, reply.where).items()} if reply.headers else {}
    )
    if extra or (reply.status and reply.body is None and reply.error is None):
        output = replace(output, headers={**output.headers, **extra}, status=reply.status or output.status)
    if reply.delay_ms:
        output = replace(output, fault=Fault(kind="delay", seconds=reply.delay_ms / 1000))
    return output
