"""The respond stage's disconnect watcher (fakeai.streaming.Watch): a wait ends early when the client goes, and only
then; a stray body message is not a disconnect."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fakeai.clock import SystemClock
from fakeai.streaming import Watch


def _receiver(messages: list[dict[str, Any] | float]) -> Any:
    """``receive`` giving ``messages`` in order; a float is a pause first; after the last it blocks forever."""
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        while queue:
            item = queue.pop(0)
            if isinstance(item, float):
                await asyncio.sleep(item)
                continue
            return item
        await asyncio.get_running_loop().create_future()
        raise AssertionError("unreachable")

    return receive


async def test_a_wait_ends_when_the_client_disconnects() -> None:
    watch = Watch(
        _receiver([{"type": "http.request", "body": b"", "more_body": False}, 0.05, {"type": "http.disconnect"}])
    )
    started = time.monotonic()
    assert await watch.sleep_until(SystemClock(), started + 1.0) is False
    assert 0.04 < time.monotonic() - started < 0.5
    assert watch.gone
    watch.close()


async def test_a_stray_body_message_is_not_a_disconnect() -> None:
    watch = Watch(_receiver([{"type": "http.request", "body": b"x", "more_body": False}]))
    started = time.monotonic()
    assert await watch.sleep_until(SystemClock(), started + 0.1) is True
    assert time.monotonic() - started >= 0.1
    assert not watch.gone
    assert await watch.sleep_until(SystemClock(), time.monotonic() + 0.05) is True
    watch.close()
