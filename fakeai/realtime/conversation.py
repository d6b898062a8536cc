"""A session's conversation: its items in order and the ``conversation.item.*`` client events.

``create`` -> ``conversation.item.added`` + ``.done`` (after ``previous_item_id``, ``root`` for the front; input
audio is kept out of the events and counted as seconds for billing); ``retrieve``, ``delete``, ``truncate``; an
unknown item id is an ``item_not_found`` error. The items live on the :class:`~fakeai.realtime.connection.
Connection` (``conn.items``), which the response stream and the input audio buffer also add to.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from fakeai.ids import new_id
from fakeai.realtime import audio

if TYPE_CHECKING:
    from fakeai.realtime.connection import Connection


def find(conn: Connection, item_id: Any) -> int | None:
    return next((i for i, item in enumerate(conn.items) if item.get("id") == item_id), None)


async def add_item(conn: Connection, item: dict[str, Any], previous: str | None = None) -> None:
    at = len(conn.items) if previous is None else (find(conn, previous) or len(conn.items) - 1) + 1
    prior = conn.items[at - 1]["id"] if at > 0 else None
    conn.items.insert(at, item)
    await conn.emit({"type": "conversation.item.added", "previous_item_id": prior, "item": item})
    await conn.emit({"type": "conversation.item.done", "previous_item_id": prior, "item": item})


async def create(conn: Connection, event: dict[str, Any]) -> None:
    item = copy.deepcopy(event["item"])
    item.setdefault("id", new_id(conn.rng, "item_"))
    item["object"] = "realtime.item"
    item.setdefault("status", "completed")
    previous = event.get("previous_item_id")
    if previous not in (None, "root") and find(conn, previous) is None:
        await conn.error(
            f"The previous item with id '{previous}' does not exist.",
            "item_not_found",
            event.get("event_id"),
            "previous_item_id",
        )
        return
    if find(conn, item["id"]) is not None:
        await conn.error(
            f"An item with id '{item['id']}' already exists.", "duplicate_item_id", event.get("event_id"), "item.id"
        )
        return
    for part in item.get("content") or ():  # audio is kept out of the events (the spec's item.added says so)
        if isinstance(part, dict) and isinstance(part.get("audio"), str):
            pcm = audio.from_base64(part.pop("audio"))
            conn.audio_seconds[item["id"]] = audio.seconds_of(pcm or b"")
    if previous == "root":
        conn.items.insert(0, item)
        await conn.emit({"type": "conversation.item.added", "previous_item_id": None, "item": item})
        await conn.emit({"type": "conversation.item.done", "previous_item_id": None, "item": item})
        return
    await add_item(conn, item, previous)


async def retrieve(conn: Connection, event: dict[str, Any]) -> None:
    at = find(conn, event["item_id"])
    if at is None:
        await _missing(conn, event)
        return
    await conn.emit({"type": "conversation.item.retrieved", "item": conn.items[at]})


async def delete(conn: Connection, event: dict[str, Any]) -> None:
    at = find(conn, event["item_id"])
    if at is None:
        await _missing(conn, event)
        return
    del conn.items[at]
    await conn.emit({"type": "conversation.item.deleted", "item_id": event["item_id"]})


async def truncate(conn: Connection, event: dict[str, Any]) -> None:
    at = find(conn, event["item_id"])
    if at is None:
        await _missing(conn, event)
        return
    await conn.emit(
        {
            "type": "conversation.item.truncated",
            "item_id": event["item_id"],
            "content_index": event["content_index"],
            "audio_end_ms": event["audio_end_ms"],
        }
    )


async def _missing(conn: Connection, event: dict[str, Any]) -> None:
    await conn.error(
        f"The item with id '{event['item_id']}' does not exist.", "item_not_found", event.get("event_id"), "item_id"
    )
