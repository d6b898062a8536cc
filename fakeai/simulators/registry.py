"""Simulators by name: a :class:`~fakeai.plugins.Registry` of factories ``(SimulatorEnv) -> Simulator``.

    @simulator("queue")
    def queue(env: SimulatorEnv) -> Simulator: ...

Built-in modules register their factory with :func:`simulator` when imported; only the names the
settings list are imported. Third parties register an entry point in the ``fakeai.simulators`` group
whose name is the simulator's name and whose object is its factory (or a module that uses
``@simulator``); ``FAKEAI_NO_PLUGINS=1`` ignores them. Tests may pass simulator objects to
``create_app(simulators=[...])`` directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from fakeai.errors import PluginError
from fakeai.plugins import Registry
from fakeai.simulators.base import Simulator, SimulatorEnv, SimulatorFactory

BUILTIN: dict[str, str] = {
    "latency": "fakeai.simulators.latency",
    "kv_cache": "fakeai.simulators.kv_cache",
    "gpu": "fakeai.simulators.gpu",
    "engine": "fakeai.simulators.engine",  # opt-in: a continuous-batching engine (docs/engine.md)
    "faults": "fakeai.simulators.faults",  # create_app appends it when the settings do not name it
}
GROUP = "fakeai.simulators"
SIMULATORS: Registry[SimulatorFactory] = Registry("simulator", group=GROUP, builtins=BUILTIN)
simulator = SIMULATORS.register  # register ``factory(env) -> Simulator`` (a class taking ``env`` works too)


def factory_for(name: str) -> SimulatorFactory:
    factory = SIMULATORS.get(name)
    if isinstance(factory, ModuleType):
        raise PluginError(f"simulator {name!r}: {factory.__name__} did not register it with @simulator({name!r})")
    if not callable(factory):
        raise PluginError(f"simulator {name!r} is not a simulator factory: {factory!r}")
    return factory


def build(names: Sequence[str], env: SimulatorEnv, extra: Sequence[Any] = ()) -> list[Simulator]:
    """The simulators named in the settings, in order, then ``extra`` (objects, or factories taking env).

    Every one is entered in ``env.simulators`` by name, so simulators can find each other at request time.
    """
    factories = [factory_for(name) for name in names]  # every unknown name fails before anything is built
    built: list[Simulator] = [factory(env) for factory in factories]
    built += [item if isinstance(item, Simulator) else item(env) for item in extra]
    for item in built:
        env.simulators.setdefault(getattr(item, "name", type(item).__name__), item)
    return built
