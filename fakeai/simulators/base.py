"""The simulator shape, what a simulator factory gets, and the optional capabilities.

A simulator is built once at startup by a factory ``(SimulatorEnv) -> Simulator`` and is a step of the
pipeline's simulate stage: asked once per request, in the order of ``Settings.simulators``, each one gets
the timing the previous one returned. It computes timings and keeps its own state from the request, its
seed and the injected clock; it never sleeps (only :func:`fakeai.streaming.respond` does).

Optional capabilities, each a small Protocol (checked once at startup, no base class to inherit):

* :class:`Admits` ``admit(ctx)``: the request arrived (parse done, before match and produce), e.g. the
  KV cache admits the prompt so the producers can report ``cached_tokens``;
* :class:`Finishes` ``finish(ctx, output)``: the request is over (answered, cut or rejected: ``None``);
* :class:`Stateful` ``state() -> dict``: JSON shown by ``GET /_fakeai/simulators``;
* :class:`Sampled` ``samples() -> Iterable[Sample]``: gauges/counters read by :mod:`fakeai.metrics` at scrape;
* :class:`Resettable` ``reset(namespace)``: forget one namespace (``None`` = all), ``POST /_fakeai/state/reset``.

The pipeline calls these directly (never through events), with the request's ``ctx.request_id`` as its key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from fakeai.context import Output, RequestContext, Timing
from fakeai.errors import ConfigError, closest

if TYPE_CHECKING:
    from fakeai.clock import Clock
    from fakeai.config import Settings
    from fakeai.events import Events


@runtime_checkable
class Simulator(Protocol):
    name: str

    def simulate(self, ctx: RequestContext, output: Output, timing: Timing) -> Timing:
        """Return the timing after this simulator's effect (simulators chain)."""


@runtime_checkable
class Admits(Protocol):
    def admit(self, ctx: RequestContext) -> None:
        """The request arrived (before match and produce)."""


@runtime_checkable
class Finishes(Protocol):
    def finish(self, ctx: RequestContext, output: Output | None) -> None:
        """The request is over: answered with ``output`` (possibly cut), or rejected (``None``)."""


@runtime_checkable
class Stateful(Protocol):
    def state(self) -> Mapping[str, Any]: ...


@runtime_checkable
class Sampled(Protocol):
    def samples(self) -> Iterable[Sample]: ...


@runtime_checkable
class Resettable(Protocol):
    def reset(self, namespace: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class EngineLoad:
    """What an inference-engine simulator reports for one model (the exported vLLM gauges read it)."""

    model: str
    running: int = 0  # sequences in the running batch
    waiting: int = 0  # requests queued for admission
    kv_usage: float = 0.0  # fraction of KV-cache blocks in use, 0..1
    preemptions: int = 0  # requests requeued because the KV cache ran out (a running total)


@runtime_checkable
class ReportsLoad(Protocol):
    """A simulator that models the engine's queue and batch (``fakeai.simulators.engine``)."""

    def load(self) -> Iterable[EngineLoad]:
        """The current load per model served."""


@dataclass(frozen=True, slots=True)
class SimulatorEnv:
    """What a simulator factory may use. ``simulators`` is filled with every simulator (by name)
    once all are built, so a simulator may look another one up at request time."""

    settings: Settings
    clock: Clock
    events: Events
    simulators: dict[str, Any] = field(default_factory=dict)

    def options(self, name: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """``settings.extra[name]`` merged over ``defaults``; unknown keys and wrong types raise ConfigError."""
        given = self.settings.extra.get(name) or {}
        if not isinstance(given, Mapping):
            raise ConfigError(f"extra.{name}: expected a mapping of {', '.join(defaults)}; got {given!r}")
        out = dict(defaults)
        for key, value in given.items():
            if key not in defaults:
                raise ConfigError(f"extra.{name}: unknown option {key!r}{closest(str(key), defaults)}")
            kind = type(defaults[key])
            try:
                out[key] = kind(value) if kind in (int, float) and not isinstance(value, bool) else value
            except (TypeError, ValueError):
                raise ConfigError(f"extra.{name}.{key}: expected {kind.__name__}; got {value!r}") from None
            if kind in (int, float) and (isinstance(value, bool) or out[key] < 0):
                raise ConfigError(f"extra.{name}.{key}: expected a non-negative {kind.__name__}; got {value!r}")
        return out


SimulatorFactory = Callable[[SimulatorEnv], Simulator]


@dataclass(frozen=True, slots=True)
class Sample:
    """One metric value a simulator exposes (``kind``: gauge | counter; counters without ``_total``)."""

    name: str
    help: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)
    kind: str = "gauge"


class PromptCache(Protocol):
    """What LLM producers ask where usage is built (``CompileEnv.prompt_cache``): a lookup, never a write."""

    def cached_tokens(self, ctx: RequestContext, prompt_tokens: int) -> int:
        """Cached prefix tokens of this request's prompt of ``prompt_tokens`` tokens (as admitted on arrival)."""


class NoPromptCache:
    """No ``kv_cache`` simulator: nothing is ever cached."""

    def cached_tokens(self, ctx: RequestContext, prompt_tokens: int) -> int:
        return 0


NO_PROMPT_CACHE = NoPromptCache()


def state_of(simulator: Any) -> dict[str, Any]:
    return dict(simulator.state()) if isinstance(simulator, Stateful) else {}


def samples_of(simulators: Iterable[Any]) -> list[Sample]:
    out: list[Sample] = []
    for simulator in simulators:
        if isinstance(simulator, Sampled):
            out.extend(simulator.samples())
    return out
