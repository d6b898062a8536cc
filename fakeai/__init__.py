"""fakeai: a declarative, spec-driven fake of the OpenAI API.

Names load lazily so that ``import fakeai`` (e.g. by the pytest plugin) does not build the server.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "APIError": "fakeai.errors",
    "ConfigError": "fakeai.errors",
    "FakeAI": "fakeai.app",
    "FakeAIError": "fakeai.errors",
    "Frame": "fakeai.context",
    "Output": "fakeai.context",
    "PluginError": "fakeai.errors",
    "RequestContext": "fakeai.context",
    "ScenarioError": "fakeai.errors",
    "Settings": "fakeai.config",
    "SpecError": "fakeai.errors",
    "Timing": "fakeai.context",
    "UploadedFile": "fakeai.context",
    "create_app": "fakeai.app",
    "load_settings": "fakeai.config",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fakeai' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
