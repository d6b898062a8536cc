"""Simulators by name: built-ins by import string (loaded lazily), ``@simulator`` and entry points.

    @simulator("queue")
    def queue(env: SimulatorEnv) -> Simulator: ...

Built-in modules register their factory with :func:`simulator` when imported; only the names the
settings list are imported. Third parties register an entry point in the ``fakeai.simulators`` group
whose name is the simulator's name and whose object is its factory (or a module that uses
``@simulator``). Tests may pass simulator objects to ``create_app(simulators=[...])`` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any, TypeVar

from fakeai.errors import PluginError, closest
from fakeai.plugins import load_object
from fakeai.simulators.base import Simulator, SimulatorEnv, SimulatorFactory

BUILTIN: dict[str, str] = {
    "latency": "fakeai.simulators.latency",
    "kv_cache": "fakeai.simulators.kv_cache",
    "gpu": "fakeai.simulators.gpu",
}
GROUP = "fakeai.simulators"
_registered: dict[str, SimulatorFactory] = {}
F = TypeVar("F", bound=Callable[..., Any])


def simulator(name: str) -> Callable[[F], F]:
    """Register ``factory(env) -> Simulator`` under ``name`` (a class taking ``env`` works too)."""

    def register(factory: F) -> F:
        _registered[name] = factory
        return factory

    return register


def factory_for(name: str) -> SimulatorFactory:
    if name in _registered:
        return _registered[name]
    if name in BUILTIN:
        load_object(BUILTIN[name])
        if name in _registered:
            return _registered[name]
        raise PluginError(f"simulator {name!r}: {BUILTIN[name]} did not register it with @simulator({name!r})")
    plugins = {entry.name: entry for entry in entry_points(group=GROUP)}
    if name in plugins:
        try:
            loaded = plugins[name].load()
        except Exception as exc:  # a third-party plugin's own failure
            raise PluginError(f"entry point {GROUP}:{name} failed to load: {exc}") from exc
        if name in _registered:  # a module that registers itself
            return _registered[name]
        if not callable(loaded):
            raise PluginError(f"entry point {GROUP}:{name} is not a simulator factory: {loaded!r}")
        _registered[name] = loaded
        return _registered[name]
    known = sorted({*BUILTIN, *_registered, *plugins})
    raise PluginError(f"unknown simulator {name!r}{closest(name, known)}; known: {', '.join(known)}")


def build(names: Sequence[str], env: SimulatorEnv, extra: Sequence[Any] = ()) -> list[Simulator]:
    """The simulators named in the settings, in order, then ``extra`` (objects, or factories taking env).

    Every one is entered in ``env.simulators`` by name, so simulators can find each other at request time.
    """
    factories = [factory_for(name) for name in names]  # every unknown name fails before anything is built
    built: list[Simulator] = [factory(env) for factory in factories]
    built += [item if hasattr(item, "simulate") else item(env) for item in extra]
    for item in built:
        env.simulators.setdefault(getattr(item, "name", type(item).__name__), item)
    return built
