"""Responses the server created can be retrieved and deleted; input token counts are exact.

:func:`record_response` (the ``createResponse`` recorder, compiled into the operation) turns each answer
(non-streamed body, or the final ``response.completed``/``incomplete`` event of a stream) into a ``put``
effect, unless the request said ``store: false``; the simulate stage commits it. ``getResponse`` /
``deleteResponse`` then answer from the store;
unknown ids fall through to generated data with the id echoed. Everything is per namespace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fakeai.context import Effect, Output, RequestContext
from fakeai.plugins import Registry
from fakeai.producers.base import CompileEnv, StoreHandler, StoreProducer, store_producer
from fakeai.spec.operation import Operation
from fakeai.store import Record, ResourceStore

KIND = "response"
FINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


def final_response(output: Output) -> dict[str, Any] | None:
    if output.status >= 400:
        return None
    if isinstance(output.body, dict) and output.body.get("object") == "response":
        return output.body
    for frame in reversed(output.frames or ()):
        data = frame.data
        if isinstance(data, dict) and data.get("type") in FINAL_EVENTS and isinstance(data.get("response"), dict):
            response: dict[str, Any] = data["response"]
            return response
    return None


def record_response(ctx: RequestContext, output: Output) -> tuple[Effect, ...]:
    """``createResponse``: store the answered response (the store's one way in is an effect)."""
    if isinstance(ctx.body, dict) and ctx.body.get("store") is False:
        return ()
    response = final_response(output)
    if response is None or not isinstance(response.get("id"), str):
        return ()
    return (Effect("put", KIND, response["id"], Record(response)),)


Recorder = Callable[[RequestContext, Output], "tuple[Effect, ...]"]
RECORDERS: dict[str, Recorder] = {"createResponse": record_response}  # operationId -> the effects of its answers


def get_response(store: ResourceStore, ctx: RequestContext) -> Output | None:
    record = store.get(ctx.namespace, KIND, ctx.path_params.get("response_id", ""))
    return Output(status=ctx.operation.status, body=record.body, source="store") if record else None


def delete_response(store: ResourceStore, ctx: RequestContext) -> Output | None:
    """The spec answers 200 with no body; unknown ids get OpenAI's 404."""
    ident = ctx.path_params.get("response_id", "")
    if store.get(ctx.namespace, KIND, ident) is None:
        return None
    effect = Effect("delete", KIND, ident)
    return Output(
        status=ctx.operation.status, body=b"", content_type="application/json", source="store", effects=(effect,)
    )


def input_tokens(store: ResourceStore, ctx: RequestContext) -> Output | None:
    from fakeai.producers.text.tokenizer import count_responses_input

    body = ctx.body if isinstance(ctx.body, dict) else {}
    given = body.get("input", "")
    items = given if isinstance(given, (str, list)) else ""
    instructions = body.get("instructions") if isinstance(body.get("instructions"), str) else None
    tools = body.get("tools") if isinstance(body.get("tools"), list) else None
    model = body.get("model") if isinstance(body.get("model"), str) else None
    count = count_responses_input(items, instructions, model, tools)
    return Output(
        status=ctx.operation.status,
        body={"object": "response.input_tokens", "input_tokens": count},
        source="llm",
    )


HANDLERS: Registry[StoreHandler] = Registry(
    "store handler",
    builtins={
        "getResponse": get_response,
        "deleteResponse": delete_response,
        "Getinputtokencounts": input_tokens,
    },
)


def stored_factory(operation: Operation, env: CompileEnv) -> StoreProducer | None:
    return store_producer(HANDLERS, operation, env)
