"""Responses the server created can be retrieved and deleted; input token counts are exact.

:func:`record_response` (the ``createResponse`` recorder, compiled into the operation) turns each answer
(non-streamed body, or the final ``response.completed``/``incomplete`` event of a stream) into a ``put``
effect, unless the request said ``store: false``; the simulate stage commits it. The record's ``meta`` keeps
the request's input items (with ids), ``instructions``, ``previous_response_id`` and ``conversation``: what
:mod:`fakeai.producers.text.history` needs for later turns and ``listInputItems``. An answer in a conversation
also appends its input and output items to it (kind ``conversation.item``), as ``createConversation`` does with
its initial ``items``. ``getResponse`` / ``deleteResponse`` / ``listInputItems`` then answer from the store;
unknown ids fall through to generated data with the id echoed, except ids this server could have issued
(404). Everything is per namespace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fakeai.context import Effect, Output, RequestContext
from fakeai.errors import APIError
from fakeai.plugins import Registry
from fakeai.producers.base import CompileEnv, StoreHandler, StoreProducer, store_producer
from fakeai.producers.text import history
from fakeai.resources.model import TOMBSTONE, is_well_formed
from fakeai.resources.producer import completer
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
    """``createResponse``: store the answered response with its input items (the store's one way in is an
    effect); in a conversation, append the input and output items to it."""
    response = final_response(output)
    if response is None or not isinstance(response.get("id"), str):
        return ()
    body: dict[str, Any] = ctx.body if isinstance(ctx.body, dict) else {}
    own = history.input_items(body.get("input"), response["id"])
    conversation = response.get("conversation")
    conversation_id = conversation.get("id") if isinstance(conversation, dict) else None
    effects: tuple[Effect, ...] = ()
    if isinstance(conversation_id, str):  # echoed by the producer only for a conversation it found
        output_items = [item for item in response.get("output") or () if isinstance(item, dict)]
        effects = history.item_effects(conversation_id, [*own, *output_items])
    if body.get("store") is False:
        return effects
    meta = {
        "input": own,
        "instructions": body.get("instructions"),
        "previous_response_id": body.get("previous_response_id"),
        "conversation": conversation_id,
    }
    return (Effect("put", KIND, response["id"], Record(response, meta=meta)), *effects)


def record_conversation(ctx: RequestContext, output: Output) -> tuple[Effect, ...]:
    """``createConversation``: its initial ``items`` become the conversation's first items."""
    created = output.body if isinstance(output.body, dict) else {}
    ident = created.get("id")
    body = ctx.body if isinstance(ctx.body, dict) else {}
    if not isinstance(ident, str) or not isinstance(body.get("items"), list):
        return ()
    return history.item_effects(ident, history.input_items(body["items"], ident))


Recorder = Callable[[RequestContext, Output], "tuple[Effect, ...]"]
RECORDERS: dict[str, Recorder] = {  # operationId -> the effects of its answers
    "createResponse": record_response,
    "createConversation": record_conversation,
}


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


def list_input_items(store: ResourceStore, ctx: RequestContext) -> Output | None:
    """The input items the stored response was answered with (earlier turns first), one page of them."""
    ident = ctx.path_params.get("response_id", "")
    record = store.get(ctx.namespace, KIND, ident)
    if record is None:
        if ctx.settings.unknown_ids == "404" or is_well_formed(ident, "resp_"):
            raise APIError(404, f"No response found with id '{ident}'.")
        return None
    items = history.seen_by(store, ctx.namespace, record)
    return Output(status=ctx.operation.status, body=history.page(items, ctx.query), source="store")


def create_conversation_items(store: ResourceStore, ctx: RequestContext) -> Output | None:
    """Items added to a stored conversation, answered as the list of what was added; other ids fall through."""
    conversation = ctx.path_params.get("conversation_id", "")
    found = store.get(ctx.namespace, history.CONVERSATION, conversation)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    if not isinstance(body.get("items"), list):
        return None
    # a placeholder id (conv_123: what SDK suites send) is answered with the items but keeps nothing (there is
    # no conversation to add them to); a well-formed unknown or deleted id falls through to the 404
    placeholder = found is None and ctx.settings.unknown_ids != "404" and not is_well_formed(conversation, "conv_")
    if (found is None or found.meta.get(TOMBSTONE)) and not placeholder:
        return None
    known = len(history.conversation_items(store, ctx.namespace, conversation)) if not placeholder else 0
    items = history.input_items(body["items"], f"{conversation}/{known}/{ctx.seed}")
    fill = completer(store, history.ITEM)  # each item as its ConversationItem branch requires (status)
    if fill is not None:
        items = [fill(item, ctx.now) for item in items]
    page = history.page(items, {"order": "asc", "limit": len(items) or 1})
    effects = () if placeholder else history.item_effects(conversation, items)
    return Output(status=ctx.operation.status, body=page, source="store", effects=effects)


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
        "listInputItems": list_input_items,
        "createConversationItems": create_conversation_items,
        "Getinputtokencounts": input_tokens,
    },
)


def stored_factory(operation: Operation, env: CompileEnv) -> StoreProducer | None:
    return store_producer(HANDLERS, operation, env)
