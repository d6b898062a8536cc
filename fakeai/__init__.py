"""fakeai: a declarative, spec-driven fake of the OpenAI API.

Names load lazily so that ``import fakeai`` (e.g. by the pytest plugin) does not build the server.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "APIError": "fakeai.errors",
    "CompileEnv": "fakeai.producers.base",
    "ConfigError": "fakeai.errors",
    "FakeAI": "fakeai.app",
    "FakeAIError": "fakeai.errors",
    "FakeClock": "fakeai.clock",
    "Frame": "fakeai.context",
    "Output": "fakeai.context",
    "PluginError": "fakeai.errors",
    "Producer": "fakeai.producers.base",
    "Registry": "fakeai.plugins",
    "RequestContext": "fakeai.context",
    "Sample": "fakeai.simulators.base",
    "ScenarioError": "fakeai.errors",
    "Settings": "fakeai.config",
    "Simulator": "fakeai.simulators.base",
    "SimulatorEnv": "fakeai.simulators.base",
    "SpecError": "fakeai.errors",
    "Timing": "fakeai.context",
    "UploadedFile": "fakeai.context",
    "create_app": "fakeai.app",
    "load_settings": "fakeai.config",
    "producer": "fakeai.plugins",
    "simulator": "fakeai.simulators.registry",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fakeai' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
