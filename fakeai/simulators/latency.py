"""Time to first token and inter-token latency, as absolute deadlines from the request start.

``--ttft 200:25`` means a mean of 200 ms with a 25% coefficient of variation. Draws are
lognormal (positive, right-skewed like real serving latencies) from an RNG derived from the
request seed, so the same request gets the same timings. A streamed frame carrying tokens is
due when its last token is; a non-streamed answer takes TTFT + (tokens - 1) x ITL.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from fakeai.context import Output, RequestContext, Timing
from fakeai.errors import ConfigError

_SALT = 0x5EED_1A7E


@dataclass(frozen=True, slots=True)
class Distribution:
    mean_ms: float = 0.0
    spread_pct: float = 0.0

    @classmethod
    def parse(cls, text: str, name: str = "latency") -> Distribution:
        head, _, tail = str(text).partition(":")
        try:
            mean = float(head or 0)
            spread = float(tail) if tail else 0.0
        except ValueError:
            raise ConfigError(f"--{name}: expected MS[:PCT] such as 200 or 200:25; got {text!r}") from None
        if mean < 0 or spread < 0:
            raise ConfigError(f"--{name}: values must not be negative; got {text!r}")
        return cls(mean, spread)

    def draw(self, rng: random.Random) -> float:
        """One sample in seconds."""
        if self.mean_ms <= 0:
            return 0.0
        if self.spread_pct <= 0:
            return self.mean_ms / 1000.0
        cv = self.spread_pct / 100.0
        sigma2 = math.log1p(cv * cv)
        mu = math.log(self.mean_ms) - sigma2 / 2
        return rng.lognormvariate(mu, math.sqrt(sigma2)) / 1000.0


class LatencySimulator:
    name = "latency"

    def __init__(self, ttft: Distribution, itl: Distribution) -> None:
        self.ttft = ttft
        self.itl = itl

    @classmethod
    def from_settings(cls, ttft: str, itl: str) -> LatencySimulator:
        return cls(Distribution.parse(ttft, "ttft"), Distribution.parse(itl, "itl"))

    def simulate(self, ctx: RequestContext, output: Output, timing: Timing) -> Timing:
        if self.ttft.mean_ms <= 0 and self.itl.mean_ms <= 0:
            return timing
        rng = random.Random(ctx.seed ^ _SALT)
        first = timing.first + self.ttft.draw(rng)
        if output.frames is None:
            tokens = max(output.completion_tokens, 0)
            done = first + sum(self.itl.draw(rng) for _ in range(max(tokens - 1, 0)))
            return Timing(first=first, frames=(), done=max(done, timing.done))
        deadlines: list[float] = []
        at = first
        seen_tokens = 0
        for frame in output.frames:
            for _ in range(frame.tokens):
                if seen_tokens:
                    at += self.itl.draw(rng)
                seen_tokens += 1
            deadlines.append(at)
        return Timing(first=first, frames=tuple(deadlines), done=at)
