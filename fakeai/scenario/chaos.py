"""Probabilistic faults, reproducible: each roll is seeded from the request seed, the chaos entry
and how many times this same request has been rolled for (so an SDK retry of an identical request
rolls again instead of failing forever, and the same run of requests always fails the same way).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fakeai.context import RequestContext
from fakeai.scenario.faults import Fault
from fakeai.scenario.match import Fail, globs
from fakeai.scenario.respond import ErrorReply, compile_error

MAX_REMEMBERED = 100_000


@dataclass(frozen=True, slots=True)
class Chaos:
    name: str
    probability: float
    operations: frozenset[str] | None
    model: Callable[[str | None], bool] | None
    rules: frozenset[str] | None
    stream: bool | None
    error: ErrorReply | None
    fault: Fault | None

    def applies(self, ctx: RequestContext, rule: str | None) -> bool:
        if self.operations is not None and ctx.operation_id not in self.operations:
            return False
        if self.model is not None and not self.model(ctx.model):
            return False
        if self.rules is not None and rule not in self.rules:
            return False
        return self.stream is None or ctx.wants_stream == self.stream


def compile_chaos(
    spec: Mapping[str, Any], path: Sequence[str | int], fail: Fail, default_name: str, rule: str | None = None
) -> Chaos:
    chosen = [k for k in ("error", "latency_ms", "fault") if k in spec]
    if len(chosen) != 1:
        raise fail(path, f"a chaos entry needs exactly one of error, latency_ms or fault; got {chosen or 'none'}")
    scope = spec.get("scope") or {}
    operations = scope.get("operation")
    rules = scope.get("rule")
    fault = None
    if "latency_ms" in spec:
        fault = Fault(kind="delay", seconds=float(spec["latency_ms"]) / 1000)
    elif "fault" in spec:
        fault = Fault(
            kind=spec["fault"],
            after=int(spec.get("after", 0)),
            seconds=float(spec.get("seconds", 0)),
            finish_reason=bool(spec.get("finish_reason", False)),
            done=bool(spec.get("done", False)),
        )
    return Chaos(
        name=str(spec.get("name") or default_name),
        probability=float(spec["probability"]),
        operations=frozenset([operations] if isinstance(operations, str) else operations) if operations else None,
        model=globs(scope["model"]) if "model" in scope else None,
        rules=frozenset([rule])
        if rule
        else (frozenset([rules] if isinstance(rules, str) else rules) if rules else None),
        stream=scope.get("stream"),
        error=compile_error(spec["error"], (*path, "error"), fail) if "error" in spec else None,
        fault=fault,
    )


class Dice:
    """Seeded rolls; remembers per (request seed, chaos) how often it was asked."""

    def __init__(self, shared: Any = None) -> None:
        self.attempts: dict[tuple[int, str], int] = {}
        self.shared = shared  # fakeai.state.shared.Shared: a retry on another replica is the next attempt

    def roll(self, ctx: RequestContext, chaos: Chaos) -> bool:
        if chaos.probability <= 0:
            return False
        attempt = self._attempt(ctx.seed, chaos.name)
        digest = hashlib.blake2b(f"{ctx.seed}:{chaos.name}:{attempt}".encode(), digest_size=8).digest()
        return random.Random(int.from_bytes(digest, "big")).random() < chaos.probability

    def _attempt(self, seed: int, name: str) -> int:
        if self.shared is not None:
            from fakeai.state.shared import next_attempt

            return next_attempt(self.shared, seed, name)
        key = (seed, name)
        attempt = self.attempts.get(key, 0)
        if len(self.attempts) >= MAX_REMEMBERED:
            self.attempts.clear()
        self.attempts[key] = attempt + 1
        return attempt

    def reset(self) -> None:
        self.attempts.clear()
        if self.shared is not None:
            from fakeai.state.shared import reset_attempts

            reset_attempts(self.shared)
