"""Time to first token and inter-token latency, as absolute deadlines from the request start.

``--ttft 200:25`` means a mean of 200 ms with a 25% coefficient of variation. Draws are
lognormal (positive, right-skewed like real serving latencies) from an RNG derived from the
request seed, so the same request gets the same timings. A streamed frame carrying tokens is
due when its last token is; a non-streamed answer takes TTFT + (tokens - 1) x ITL.

Prefix caching (with the ``kv_cache`` simulator): the TTFT draw is the time for an uncached prompt, of
which ``prefill_share`` (default 0.8; OpenAI says caching cuts latency "by up to 80%") is prefill and
scales with the uncached share of the prompt; the rest (scheduling, the first decode step) does not:

    TTFT = draw x ((1 - prefill_share) + prefill_share x uncached / prompt) + uncached x prefill_per_token_ms

``prefill_per_token_ms`` (default 0) adds a prefill cost per uncached prompt token on top. Both are
``extra.latency`` options. With no cache hit TTFT is the plain draw (plus the per-token cost, if set).

Per model (``latency_models``: model glob -> ``{ttft, itl}``, first matching glob in the order given wins; a
missing key falls back to ``--ttft`` / ``--itl``) and at runtime (``PUT /_fakeai/latency``, :meth:`set`): the
distributions are looked up per request, so a change applies to the next request.
"""

from __future__ import annotations

import fnmatch
import math
import random
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fakeai.context import Output, RequestContext, Timing
from fakeai.errors import ConfigError
from fakeai.simulators.base import SimulatorEnv
from fakeai.simulators.registry import simulator

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
            raise ConfigError(f"{_flag(name)}: expected MS[:PCT] such as 200 or 200:25; got {text!r}") from None
        if mean < 0 or spread < 0:
            raise ConfigError(f"{_flag(name)}: values must not be negative; got {text!r}")
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

    @property
    def text(self) -> str:
        """Back in ``MS[:PCT]`` form (what ``GET /_fakeai/latency`` shows)."""
        return f"{_number(self.mean_ms)}:{_number(self.spread_pct)}" if self.spread_pct else _number(self.mean_ms)


@dataclass(frozen=True, slots=True)
class Profile:
    """The TTFT and ITL distributions one request is simulated with."""

    ttft: Distribution
    itl: Distribution

    @property
    def idle(self) -> bool:
        return self.ttft.mean_ms <= 0 and self.itl.mean_ms <= 0

    def to_dict(self) -> dict[str, str]:
        return {"ttft": self.ttft.text, "itl": self.itl.text}

    def changed(self, values: Mapping[str, Any], where: str) -> Profile:
        """A copy with ``ttft`` / ``itl`` from ``values`` (``MS[:PCT]`` text); other keys raise ConfigError."""
        unknown = sorted(set(values) - {"ttft", "itl"})
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; expected ttft and/or itl")
        ttft, itl = values.get("ttft"), values.get("itl")
        return Profile(
            self.ttft if ttft is None else Distribution.parse(str(ttft), f"{where}.ttft"),
            self.itl if itl is None else Distribution.parse(str(itl), f"{where}.itl"),
        )


OPTIONS: dict[str, float] = {"prefill_share": 0.8, "prefill_per_token_ms": 0.0}


class LatencySimulator:
    name = "latency"

    def __init__(
        self,
        ttft: Distribution,
        itl: Distribution,
        prefill_share: float = 0.8,
        prefill_per_token_ms: float = 0.0,
        simulators: dict[str, Any] | None = None,
        models: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.default = Profile(ttft, itl)
        self.models: dict[str, Profile] = {}  # model glob -> profile, first match wins
        self._resolved: dict[str, Profile] = {}  # model name -> profile (cleared on every change)
        self.prefill_share = min(max(prefill_share, 0.0), 1.0)
        self.prefill_per_token = prefill_per_token_ms / 1000.0
        self.simulators = simulators if simulators is not None else {}  # finds "kv_cache" at request time
        self.timed = False  # any TTFT, ITL or prefill cost: answers wait (kept by ``set``)
        for glob, values in (models or {}).items():
            self.set(values, glob, where=f"latency_models[{glob!r}]")
        self._update_timed()

    def _update_timed(self) -> None:
        profiles = [self.default, *self.models.values()]
        self.timed = self.prefill_per_token > 0 or not all(profile.idle for profile in profiles)

    @classmethod
    def from_settings(cls, ttft: str, itl: str) -> LatencySimulator:
        return cls(Distribution.parse(ttft, "ttft"), Distribution.parse(itl, "itl"))

    @property
    def ttft(self) -> Distribution:
        return self.default.ttft

    @property
    def itl(self) -> Distribution:
        return self.default.itl

    def profile(self, model: str | None) -> Profile:
        """The distributions for ``model``: the first matching ``latency_models`` glob, else the defaults."""
        if not self.models or model is None:
            return self.default
        found = self._resolved.get(model)
        if found is None:
            found = next((p for glob, p in self.models.items() if fnmatch.fnmatchcase(model, glob)), self.default)
            if len(self._resolved) < 10_000:  # model names come from clients
                self._resolved[model] = found
        return found

    def set(self, values: Mapping[str, Any], model: str | None = None, where: str = "latency") -> Profile:
        """Change the defaults (``model`` None) or one model glob's ``ttft`` / ``itl``; missing keys keep their
        value (a new glob starts from the defaults). Bad values raise ConfigError and change nothing."""
        if model is None:
            self.default = self.default.changed(values, where)
            changed = self.default
        else:
            changed = self.models[model] = self.models.get(model, self.default).changed(values, where)
        self._resolved.clear()
        self._update_timed()
        return changed

    def state(self) -> dict[str, Any]:
        return {
            **self.default.to_dict(),
            "models": {glob: profile.to_dict() for glob, profile in self.models.items()},
            "prefill_share": self.prefill_share,
            "prefill_per_token_ms": self.prefill_per_token * 1000.0,
        }

    def simulate(self, ctx: RequestContext, output: Output, timing: Timing) -> Timing:
        profile = self.profile(ctx.model)
        if profile.idle and self.prefill_per_token <= 0:
            return timing
        ttft, itl = profile.ttft, profile.itl
        rng = random.Random(ctx.seed ^ _SALT)
        first = timing.first + self.prefill(ctx, ttft.draw(rng))
        if output.frames is None:
            tokens = max(output.completion_tokens, 0)
            done = first + sum(itl.draw(rng) for _ in range(max(tokens - 1, 0)))
            return Timing(first=first, frames=(), done=max(done, timing.done), queued=timing.queued)
        deadlines: list[float] = []
        at = first
        seen_tokens = 0
        for frame in output.frames:
            for _ in range(frame.tokens):
                if seen_tokens:
                    at += itl.draw(rng)
                seen_tokens += 1
            deadlines.append(at)
        # 8 bytes a frame, exactly (an open stream holds them until its last frame)
        return Timing(first=first, frames=array("d", deadlines), done=at, queued=timing.queued)

    def prefill(self, ctx: RequestContext, ttft: float) -> float:
        """TTFT for this request's uncached share of the prompt (see the module docstring)."""
        cache = self.simulators.get("kv_cache")
        admitted = cache.admitted(ctx) if cache is not None and hasattr(cache, "admitted") else None
        if admitted is None:
            return ttft
        prompt, cached = int(admitted[0]), int(admitted[1])
        uncached = max(prompt - cached, 0)
        if prompt > 0 and cached > 0:
            ttft *= (1.0 - self.prefill_share) + self.prefill_share * uncached / prompt
        return float(ttft + uncached * self.prefill_per_token)


@simulator("latency")
def latency(env: SimulatorEnv) -> LatencySimulator:
    options = env.options("latency", OPTIONS)
    return LatencySimulator(
        Distribution.parse(env.settings.ttft, "ttft"),
        Distribution.parse(env.settings.itl, "itl"),
        prefill_share=options["prefill_share"],
        prefill_per_token_ms=options["prefill_per_token_ms"],
        simulators=env.simulators,
        models=env.settings.latency_models,
    )


def _number(value: float) -> str:
    """Shortest text that parses back to ``value`` (``200``, not ``200.0``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _flag(name: str) -> str:
    return f"--{name}" if name in ("ttft", "itl") else name
