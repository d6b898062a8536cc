"""Body-read deadlines (fakeai.parse.deadline): a stalled body is a 408, a finished read leaves nothing behind,
and a cancel that is not the deadline's stays a cancel."""

from __future__ import annotations

import asyncio
import time

import pytest

from fakeai.errors import APIError
from fakeai.parse.deadline import deadlines
from fakeai.pipeline import read_body


async def stalled() -> dict[str, object]:
    await asyncio.Event().wait()  # the rest of the body never comes
    raise AssertionError("unreachable")


async def test_a_stalled_body_is_408_after_its_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(APIError) as raised:
        await read_body(stalled, {}, 1000, timeout=0.2)
    waited = time.monotonic() - started
    assert raised.value.status == 408
    assert 0.2 <= waited < 0.2 + 0.2  # fires within one sweep period (timeout / 4) of the deadline
    assert not deadlines().reading and not deadlines().fired


async def test_each_chunk_resets_the_gap() -> None:
    chunks = iter([b'{"a":', b'"b"', b"}"])

    async def slow() -> dict[str, object]:
        await asyncio.sleep(0.12)  # each gap under the 0.2 s limit; all three together over it
        chunk = next(chunks)
        return {"type": "http.request", "body": chunk, "more_body": chunk != b"}"}

    assert await read_body(slow, {}, 1000, timeout=0.2) == b'{"a":"b"}'


async def test_a_finished_read_leaves_no_deadline_and_the_sweeper_exits() -> None:
    async def whole() -> dict[str, object]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    for _ in range(100):
        assert await read_body(whole, {}, 1000, timeout=0.05) == b"{}"
    watch = deadlines()
    assert not watch.reading
    await asyncio.sleep(0.1)  # one sweep finds nothing to watch and ends
    assert watch.sweeper is None


async def test_someone_elses_cancel_is_still_a_cancel() -> None:
    task = asyncio.ensure_future(read_body(stalled, {}, 1000, timeout=5))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not deadlines().reading


async def test_one_stalled_body_does_not_delay_others() -> None:
    slow = asyncio.ensure_future(read_body(stalled, {}, 1000, timeout=0.3))

    async def whole() -> dict[str, object]:
        return {"type": "http.request", "body": b"[]", "more_body": False}

    started = time.monotonic()
    assert await read_body(whole, {}, 1000, timeout=0.3) == b"[]"
    assert time.monotonic() - started < 0.05
    with pytest.raises(APIError):
        await slow
