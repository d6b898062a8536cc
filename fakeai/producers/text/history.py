"""Earlier turns of a Responses request: ``previous_response_id`` and ``conversation``.

A request naming a stored response continues it: the earlier turns are everything that response saw (its
own earlier turns, then its input items) plus its output items. A request naming a conversation continues
it: the earlier turns are the conversation's items, in order. Either way the turns are prepended to the
request's input (:func:`with_history`) for token counting and for the text generator's "last user text"; the
previous response's ``instructions`` are not carried over, as OpenAI documents. Unknown ids follow the resource
model's rule: an id this server could have issued (or ``unknown_ids: "404"``) is OpenAI's 404, a placeholder
such as ``resp_123`` is ignored.

The store is only read here. What an answer implies is written through effects: the ``createResponse``
recorder (:mod:`fakeai.producers.stored`) keeps the request's input items in the response's
:attr:`~fakeai.store.Record.meta` and appends input and output items to the conversation
(:func:`item_effects`). Input items get ids derived from the response (or conversation) id, so the same
request in the same state gives the same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from fakeai.context import Effect, RequestContext
from fakeai.errors import APIError
from fakeai.generated import realism
from fakeai.resources.model import TOMBSTONE, is_well_formed
from fakeai.store import Record, ResourceStore

if TYPE_CHECKING:
    from fakeai.producers.text.responses import Answer

__all__ = [
    "NO_HISTORY",
    "History",
    "conversation_items",
    "earlier",
    "echo",
    "input_items",
    "item_effects",
    "matcher_body",
    "page",
    "seen_by",
    "with_history",
]

RESPONSE, CONVERSATION, ITEM = "response", "conversation", "conversation.item"
MAX_CHAIN = 10_000  # previous_response_id links followed at most (a guard, never reached by real chains)
_ID_PREFIX = {"function_call": "fc_", "function_call_output": "fco_", "reasoning": "rs_"}
_STATUS_TYPES = frozenset({"message", "function_call", "function_call_output"})  # items answered with a status


@dataclass(frozen=True, slots=True)
class History:
    """The earlier turns of one request, and the known conversation it continues (if any)."""

    items: tuple[Mapping[str, Any], ...] = ()
    conversation: str | None = None


NO_HISTORY = History()


def conversation_id(body: Mapping[str, Any]) -> str | None:
    """``conversation`` as sent: an id, or ``{"id": ...}``."""
    given = body.get("conversation")
    if isinstance(given, Mapping):
        given = given.get("id")
    return given if isinstance(given, str) and given else None


def earlier(store: ResourceStore | None, ctx: RequestContext) -> History:
    """The earlier turns ``createResponse`` continues; OpenAI's 404 for an unknown id we could have issued."""
    body: Mapping[str, Any] = ctx.body if isinstance(ctx.body, dict) else {}
    previous = body.get("previous_response_id")
    previous = previous if isinstance(previous, str) and previous else None
    conversation = conversation_id(body)
    if store is None or (previous is None and conversation is None):
        return NO_HISTORY
    namespace = ctx.namespace
    found = store.get(namespace, RESPONSE, previous) if previous is not None else None
    real_previous = found is not None or (previous is not None and _is_404(ctx, previous, "resp_"))
    if real_previous and conversation is not None and _real(store, ctx, CONVERSATION, conversation, "conv_"):
        raise APIError(  # placeholders (the SDKs' own suites send both) are ignored below instead
            400,
            "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or "
            "'conversation'.",
            code="mutually_exclusive_parameters",
        )
    if found is not None:
        return History(tuple(_through(store, namespace, found)))
    if real_previous:
        raise APIError(
            404,
            f"Previous response with id '{previous}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    if conversation is None:
        return NO_HISTORY
    known = store.get(namespace, CONVERSATION, conversation)
    if known is not None and not known.meta.get(TOMBSTONE):
        return History(tuple(conversation_items(store, namespace, conversation)), conversation)
    if known is not None or _is_404(ctx, conversation, "conv_"):
        raise APIError(404, f"Conversation with id '{conversation}' not found.", param="conversation")
    return NO_HISTORY


def _real(store: ResourceStore, ctx: RequestContext, kind: str, ident: str, prefix: str) -> bool:
    """Stored (even deleted), or an id this server could have issued: not a placeholder."""
    return store.get(ctx.namespace, kind, ident) is not None or _is_404(ctx, ident, prefix)


def _is_404(ctx: RequestContext, ident: str, prefix: str) -> bool:
    return ctx.settings.unknown_ids == "404" or is_well_formed(ident, prefix)


def with_history(body: Mapping[str, Any], history: History) -> Mapping[str, Any]:
    """The request as the model sees it: the earlier turns, then its own input (``body`` itself without turns)."""
    if not history.items:
        return body
    given = body.get("input")
    if isinstance(given, str):
        current: list[Mapping[str, Any]] = [{"role": "user", "content": given}]
    else:
        current = [item for item in given if isinstance(item, Mapping)] if isinstance(given, list) else []
    return {**body, "input": [*history.items, *current]}


def matcher_body(store: ResourceStore | None, ctx: RequestContext) -> Any:
    """The request body with its earlier turns prepended, for scenario matchers (``last_user_message``, ``turn``,
    ``system_prompt``); the body as sent when it names no turns or an unknown id (the producer answers the 404)."""
    if not isinstance(ctx.body, dict):
        return ctx.body
    try:
        return with_history(ctx.body, earlier(store, ctx))
    except APIError:
        return ctx.body


def echo(answer: Answer, history: History) -> Answer:
    """The answer naming the conversation it was added to (``Response.conversation``)."""
    if history.conversation is None:
        return answer
    response: dict[str, Any] = {}
    for key, value in answer.response.items():
        response[key] = value
        if key == "previous_response_id":
            response["conversation"] = {"id": history.conversation}
    response.setdefault("conversation", {"id": history.conversation})
    return replace(answer, response=response)


# --- items ---------------------------------------------------------------------------------------


def input_items(given: Any, salt: str) -> list[dict[str, Any]]:
    """A request's ``input`` (or a conversation's ``items``) as the item resources the API lists.

    A string is one user message with an ``input_text`` part; string contents become one part (``output_text``
    for the assistant); items without an id get ``<prefix><48 hex>`` derived from ``salt`` and their position.
    ``item_reference`` items point at items stored elsewhere and are not repeated.
    """
    if isinstance(given, str):
        given = [{"role": "user", "content": given}]
    if not isinstance(given, list):
        return []
    items = []
    for index, item in enumerate(given):
        if isinstance(item, Mapping) and item.get("type") != "item_reference":
            items.append(_resource(item, salt, index))
    return items


def _resource(item: Mapping[str, Any], salt: str, index: int) -> dict[str, Any]:
    kind = item.get("type", "message")
    ident = item.get("id")
    prefix = _ID_PREFIX.get(str(kind)) or realism.ID_PREFIXES.get(str(kind)) or "msg_"  # ws_, cu_, ig_...
    ident = ident if isinstance(ident, str) and ident else _id(prefix, salt, index)
    if kind != "message" and "role" not in item:
        resource = {"id": ident, **{k: v for k, v in item.items() if k != "id"}}
        if kind in _STATUS_TYPES:
            resource.setdefault("status", "completed")
        return resource
    role = item.get("role", "user")
    return {
        "id": ident,
        "type": "message",
        "status": item.get("status") or "completed",
        "content": _parts(item.get("content"), role),
        "role": role,
    }


def _parts(content: Any, role: Any) -> list[Any]:
    assistant = role == "assistant"
    if isinstance(content, str):
        content = [content]
    parts: list[Any] = []
    for part in content if isinstance(content, list) else ():
        if isinstance(part, str):
            part = {"type": "output_text" if assistant else "input_text", "text": part}
        if isinstance(part, Mapping) and part.get("type") == "output_text":
            part = {"type": "output_text", "annotations": [], "logprobs": [], **part}
        parts.append(part)
    return parts


def _id(prefix: str, salt: str, index: int) -> str:
    return prefix + hashlib.sha256(f"{salt}/{index}".encode()).hexdigest()[:48]


def item_effects(conversation: str, items: Iterable[Mapping[str, Any]]) -> tuple[Effect, ...]:
    """``put`` effects appending ``items`` to ``conversation`` (kind ``conversation.item``, key ``<conv>/<item>``)."""
    meta = {"parents": {"conversation_id": conversation}}
    return tuple(
        Effect("put", ITEM, f"{conversation}/{item['id']}", Record(dict(item), meta=meta))
        for item in items
        if isinstance(item.get("id"), str)
    )


def conversation_items(store: ResourceStore, namespace: str, conversation: str) -> list[dict[str, Any]]:
    """The conversation's items in the order they were added (deleted ones left out)."""
    prefix = conversation + "/"
    return [
        record.body
        for key, record in store.entries(namespace, ITEM)
        if key.startswith(prefix) and not record.meta.get(TOMBSTONE)
    ]


# --- what a stored response saw --------------------------------------------------------------------


def _own(record: Record) -> list[Mapping[str, Any]]:
    given = record.meta.get("input")
    return [item for item in given if isinstance(item, Mapping)] if isinstance(given, list) else []


def _output(record: Record) -> list[Mapping[str, Any]]:
    output = record.body.get("output")
    return [item for item in output if isinstance(item, Mapping)] if isinstance(output, list) else []


def _before(store: ResourceStore, namespace: str, record: Record) -> list[Mapping[str, Any]]:
    """The earlier turns ``record`` was answered with (its chain of previous responses, or its conversation)."""
    chain: list[Record] = []
    current, seen = record, set()
    while len(chain) < MAX_CHAIN:
        previous = current.meta.get("previous_response_id")
        found = store.get(namespace, RESPONSE, previous) if isinstance(previous, str) else None
        if found is None or previous in seen:
            break
        seen.add(previous)
        chain.append(found)
        current = found
    items = _conversation_before(store, namespace, current)
    for earlier_record in reversed(chain):
        items += [*_own(earlier_record), *_output(earlier_record)]
    return items


def _conversation_before(store: ResourceStore, namespace: str, record: Record) -> list[Mapping[str, Any]]:
    conversation = record.meta.get("conversation")
    if not isinstance(conversation, str):
        return []
    mine = {item.get("id") for item in (*_own(record), *_output(record))}
    items = conversation_items(store, namespace, conversation)
    first = next((index for index, item in enumerate(items) if item.get("id") in mine), None)
    return list(items[:first]) if first is not None else []


def _through(store: ResourceStore, namespace: str, record: Record) -> list[Mapping[str, Any]]:
    """The turns a request continuing ``record`` starts from: what it saw, then its own output."""
    return [*seen_by(store, namespace, record), *_output(record)]


def seen_by(store: ResourceStore, namespace: str, record: Record) -> list[Mapping[str, Any]]:
    """A stored response's input items as the model saw them: the earlier turns, then its own input."""
    return [*_before(store, namespace, record), *_own(record)]


def page(items: Sequence[Mapping[str, Any]], query: Mapping[str, Any], default_order: str = "desc") -> dict[str, Any]:
    """One page of ``items`` the way OpenAI's lists page (``after``, ``limit``, ``order``)."""
    ordered = list(items)
    if query.get("order", default_order) == "desc":
        ordered.reverse()
    after = query.get("after")
    if isinstance(after, str):
        ids = [item.get("id") for item in ordered]
        ordered = ordered[ids.index(after) + 1 :] if after in ids else []
    limit = query.get("limit", 20)
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else 20
    chosen = ordered[:limit]
    return {
        "object": "list",
        "data": chosen,
        "first_id": str(chosen[0]["id"]) if chosen else "",
        "last_id": str(chosen[-1]["id"]) if chosen else "",
        "has_more": len(ordered) > len(chosen),
    }
