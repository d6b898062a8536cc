"""Deadlines for reading request bodies, kept by one sweeping task per event loop.

``asyncio.timeout_at`` costs a timer handle, a heap push and a cancel per request (~14 µs on the CI machine,
a tenth of a whole answer). A body read here costs a dict insert and delete: :class:`Deadlines` records
``task -> deadline``; one sweeper task per loop wakes every ``period`` seconds while reads are in flight and
cancels the tasks whose deadline passed. The read sees ``CancelledError``, asks :meth:`Deadlines.expired` whether
the cancel was the sweeper's, and turns it into a 408. A deadline fires between ``deadline`` and
``deadline + period``; the sweeper exits when nothing is being read, so an idle server runs no task.
"""

from __future__ import annotations

import asyncio
import weakref

MIN_PERIOD = 0.02
MAX_PERIOD = 1.0


class Deadlines:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.reading: dict[asyncio.Task[object], float] = {}
        self.fired: set[asyncio.Task[object]] = set()
        self.period = MAX_PERIOD
        self.sweeper: asyncio.Task[None] | None = None

    def begin(self, timeout: float) -> asyncio.Task[object] | None:
        """Watch the current task for ``timeout`` seconds (a later :meth:`extend` moves the deadline)."""
        task = asyncio.current_task(self.loop)
        if task is None:
            return None
        self.reading[task] = self.loop.time() + timeout
        period = min(MAX_PERIOD, max(MIN_PERIOD, timeout / 4))
        if self.sweeper is None or period < self.period:
            if self.sweeper is not None:
                self.sweeper.cancel()
            self.period = period
            self.sweeper = self.loop.create_task(self._sweep(), name="fakeai-body-deadlines")
        return task

    def extend(self, task: asyncio.Task[object], timeout: float) -> None:
        if task in self.reading:
            self.reading[task] = self.loop.time() + timeout

    def end(self, task: asyncio.Task[object]) -> None:
        self.reading.pop(task, None)
        self.fired.discard(task)

    def expired(self, task: asyncio.Task[object]) -> bool:
        """Whether ``task`` was cancelled by its deadline (and forget that cancel: the task goes on)."""
        if task not in self.fired:
            return False
        self.fired.discard(task)
        task.uncancel()
        return True

    async def _sweep(self) -> None:
        try:
            while self.reading:
                await asyncio.sleep(self.period)
                now = self.loop.time()
                for task, deadline in list(self.reading.items()):
                    if deadline <= now:
                        del self.reading[task]
                        self.fired.add(task)
                        task.cancel()
        finally:
            if self.sweeper is asyncio.current_task(self.loop):
                self.sweeper = None
                self.period = MAX_PERIOD


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = weakref.WeakKeyDictionary()


def deadlines() -> Deadlines:
    """The running loop's :class:`Deadlines`."""
    loop = asyncio.get_running_loop()
    found = _per_loop.get(loop)
    if found is None:
        found = _per_loop[loop] = Deadlines(loop)
    return found
