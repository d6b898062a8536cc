"""The event bus' deferred accounting: ``emit_later`` queues, the loop works the queue off in slices between its
other callbacks, readers flush, order is kept and the queue stays bounded."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai import events as events_module
from fakeai.app import create_app
from fakeai.config import Settings
from fakeai.events import MAX_PENDING, Events
from fakeai.testing import async_client


@dataclass(frozen=True)
class Late:
    n: int


@dataclass(frozen=True)
class Now:
    n: int


def recording(events: Events, cost: float = 0.0) -> list[object]:
    seen: list[object] = []

    def listener(event: object) -> None:
        if cost:
            until = time.perf_counter() + cost
            while time.perf_counter() < until:
                pass
        seen.append(event)

    events.subscribe(Late, listener)
    events.subscribe(Now, listener)
    return seen


async def test_emit_later_dispatches_after_the_emitting_code_yields() -> None:
    events = Events()
    seen = recording(events)
    events.emit_later(Late(1))
    assert seen == [] and events.pending == 1  # not during the request's own code
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert seen == [Late(1)] and events.pending == 0


def test_without_a_running_loop_it_dispatches_at_once() -> None:
    events = Events()
    seen = recording(events)
    events.emit_later(Late(1))
    assert seen == [Late(1)]


async def test_the_drain_leaves_room_for_other_callbacks() -> None:
    """20 events of 0.2 ms each (4 ms) against a 0.5 ms slice: a callback scheduled after them runs before the
    last one is dispatched; all of them are, in order."""
    events = Events()
    seen = recording(events, cost=0.0002)
    for n in range(20):
        events.emit_later(Late(n))
    marks: list[int] = []
    asyncio.get_running_loop().call_soon(lambda: marks.append(len(seen)))
    while events.pending:
        await asyncio.sleep(0)
    assert seen == [Late(n) for n in range(20)]
    assert marks and marks[0] < 20, marks


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), max_size=60))
def test_listeners_see_events_in_the_order_they_happened(kinds: list[bool]) -> None:
    """Any mix of deferred and immediate events: while something is queued an immediate one queues behind it."""

    async def run() -> list[object]:
        events = Events()
        seen = recording(events)
        for n, later in enumerate(kinds):
            if later:
                events.emit_later(Late(n))
            else:
                events.emit(Now(n))
            if n % 7 == 3:
                await asyncio.sleep(0)
        events.flush()
        return seen

    seen = asyncio.run(run())
    assert [e.n for e in seen] == list(range(len(kinds)))  # type: ignore[attr-defined]


async def test_the_queue_is_bounded() -> None:
    events = Events()
    seen = recording(events)
    for n in range(MAX_PENDING + 40):
        events.emit_later(Late(n))
        assert events.pending <= MAX_PENDING
    assert [e.n for e in seen] == list(range(40))  # type: ignore[attr-defined]  # the oldest went first
    events.flush()
    assert len(seen) == MAX_PENDING + 40


async def test_a_flush_from_another_thread_dispatches_each_event_once() -> None:
    events = Events()
    seen = recording(events, cost=0.00005)
    for n in range(200):
        events.emit_later(Late(n))
    reader = threading.Thread(target=events.flush)
    reader.start()
    while events.pending:
        await asyncio.sleep(0)
    reader.join()
    assert [e.n for e in seen] == list(range(200))  # type: ignore[attr-defined]


async def test_a_client_reads_its_answer_in_the_journal_usage_and_metrics_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stream's accounting is deferred (a plain answer's is not), yet whatever reads it right after the answer
    arrived sees it: with the loop's drain switched off, only the readers' flush can have dispatched it."""
    app = create_app(Settings(ttft="0", itl="0"))
    monkeypatch.setattr(app.events, "_drain", lambda loop: None)
    client = async_client(app)
    await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    [chunk async for chunk in stream]
    assert app.events.pending == 1  # the stream's answer; the plain one was accounted at once
    assert app.usage is not None and len(app.usage) == 1  # one row: same minute, model and key
    assert app.events.pending == 0
    assert [e.operation for e in app.journal] == ["createChatCompletion", "createChatCompletion"]
    assert 'vllm:e2e_request_latency_seconds_count{engine="0",model_name="gpt-4o-mini"} 2.0' in (
        app.metrics.render().decode()
    )
    assert events_module.SLICE < 0.005
