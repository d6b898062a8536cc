"""Plugin registry: producers and simulators by import string, plus entry points.

Built-ins are named by import string and loaded lazily. Third parties register entry points in
the ``fakeai.producers`` / ``fakeai.simulators`` groups; tests may pass objects directly.
Producer factories are tried in list order; the generated fallback always comes last.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any

from fakeai.errors import PluginError

BUILTIN_PRODUCERS: tuple[str, ...] = (
    "fakeai.producers.template:template_factory",
    "fakeai.producers.files:files_factory",
    "fakeai.producers.stored:stored_factory",
    "fakeai.producers.llm.factories:llm_factory",
    "fakeai.producers.example:example_factory",
)
FALLBACK_PRODUCER = "fakeai.producers.default:generated_factory"


def load_object(spec: str) -> Any:
    """``"package.module:attribute"`` -> the attribute, with a clear error."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None  # an optional built-in not present in this build
        raise PluginError(f"plugin {spec!r}: cannot import {module_name}: {exc}") from exc
    try:
        return getattr(module, attribute) if attribute else module
    except AttributeError:
        raise PluginError(f"plugin {spec!r}: {module_name} has no attribute {attribute!r}") from None


def producer_factories(extra: Sequence[Any] = ()) -> list[Any]:
    factories = [f for f in (load_object(s) for s in BUILTIN_PRODUCERS) if f is not None]
    for entry in entry_points(group="fakeai.producers"):
        try:
            factories.append(entry.load())
        except Exception as exc:  # a third-party plugin's own failure
            raise PluginError(f"entry point fakeai.producers:{entry.name} failed to load: {exc}") from exc
    factories.extend(extra)
    factories.append(load_object(FALLBACK_PRODUCER))
    return factories
