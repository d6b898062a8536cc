"""Injected time. Stages read ``now()``; only the respond stage sleeps, via ``sleep_until``."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock unix seconds (for ``created`` fields)."""

    def monotonic(self) -> float:
        """Seconds on a monotonic scale (for deadlines)."""

    async def sleep_until(self, deadline: float) -> None:
        """Wait until ``monotonic() >= deadline``."""


async def _sleep_until(deadline: float) -> None:
    """Never early: uvloop rounds timers to whole milliseconds and can fire up to ~1 ms before the
    deadline, so sleep again for what is left (a residual under 0.5 ms becomes a plain yield)."""
    delay = deadline - time.monotonic()
    while delay > 0:
        await asyncio.sleep(delay)
        delay = deadline - time.monotonic()


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        await _sleep_until(deadline)


class FixedClock:
    """Wall time frozen at ``at``; deadlines still really wait (use ``FakeClock`` to skip waits)."""

    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        await _sleep_until(deadline)


class FakeClock:
    """Test clock: time only moves when something sleeps, instantly."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.start = start
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.start + self.elapsed

    def monotonic(self) -> float:
        return self.elapsed

    async def sleep_until(self, deadline: float) -> None:
        if deadline > self.elapsed:
            self.sleeps.append(deadline - self.elapsed)
            self.elapsed = deadline
        await asyncio.sleep(0)
