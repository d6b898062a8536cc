"""The simulator shape."""

from __future__ import annotations

from typing import Protocol

from fakeai.context import Output, RequestContext, Timing


class Simulator(Protocol):
    name: str

    def simulate(self, ctx: RequestContext, output: Output, timing: Timing) -> Timing:
        """Return the timing after this simulator's effect (simulators chain)."""
