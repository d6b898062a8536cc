"""One plugin shape: a :class:`Registry` behind every decorator and table, plus entry points.

    PRODUCERS = Registry[ProducerFactory]("producer", group="fakeai.producers",
                                          builtins={"template": "fakeai.producers.template:template_factory"})
    producer = PRODUCERS.register                     # @producer("mine") def mine(operation, env): ...
    PRODUCERS.get("mine")                             # unknown name: PluginError with a did-you-mean

Built-ins are objects or import strings (``"package.module:attribute"``, or ``"package.module"`` for a
module that registers itself with the decorator when imported), loaded on first :meth:`Registry.get`; a
typo in one is a :class:`~fakeai.errors.PluginError` naming the string. Third parties add entry points to
the registry's group (``fakeai.producers``, ``fakeai.simulators``, ``fakeai.bindings``, ``fakeai.commands``),
named like the plugin; ``FAKEAI_NO_PLUGINS=1`` turns entry-point loading off. Tests register objects directly.

Producer factories are tried in this order: template, files, stored, llm, example, then plugins (``@producer``
and ``fakeai.producers`` entry points, in registration order), then ``create_app(producers=...)``, then the
generated fallback.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from fakeai.errors import PluginError, closest

if TYPE_CHECKING:
    from fakeai.producers.base import ProducerFactory

T = TypeVar("T")
F = TypeVar("F")
NO_PLUGINS = "FAKEAI_NO_PLUGINS"


def plugins_disabled() -> bool:
    return os.environ.get(NO_PLUGINS, "").strip().lower() in ("1", "true", "yes", "on")


def load_object(spec: str) -> Any:
    """``"package.module:attribute"`` (or ``"package.module"``) -> the object; any failure is a PluginError."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"plugin {spec!r}: cannot import {module_name}: {exc}") from exc
    try:
        return getattr(module, attribute) if attribute else module
    except AttributeError:
        raise PluginError(f"plugin {spec!r}: {module_name} has no attribute {attribute!r}") from None


@dataclass(frozen=True, slots=True)
class _Lazy:
    spec: str  # an import string, or an entry point's value
    entry: metadata.EntryPoint | None = None


class Registry(Generic[T]):
    """``name -> T``: objects, import strings loaded on first use, then the entry points of ``group``."""

    def __init__(self, kind: str, group: str | None = None, builtins: Mapping[str, str | T] | None = None) -> None:
        self.kind = kind  # "producer", "simulator": error messages say "unknown producer 'x'"
        self.group = group
        self._items = {name: _Lazy(item) if isinstance(item, str) else item for name, item in (builtins or {}).items()}
        self._entries: dict[str, T | _Lazy] | None = None  # discovered once; see refresh()

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator: ``@registry.register(name)`` (also how a lazily imported built-in module registers itself)."""

        def add(obj: F) -> F:
            self._items[name] = cast(T, obj)
            return obj

        return add

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    def refresh(self) -> None:
        """Forget the entry points found (after installing a plugin at run time; tests)."""
        self._entries = None

    def names(self) -> list[str]:
        """Built-in and registered names in registration order, then entry points (which never shadow them)."""
        return [*self._items, *(name for name in self._plugins() if name not in self._items)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._plugins()

    def get(self, name: str) -> T:
        table = self._items if name in self._items else self._plugins()
        if name not in table:
            known = self.names()
            raise PluginError(f"unknown {self.kind} {name!r}{closest(name, known)}; known: {', '.join(known)}")
        item = table[name]
        if not isinstance(item, _Lazy):
            return item
        if item.entry is None:
            loaded = load_object(item.spec)
        else:
            try:
                loaded = item.entry.load()
            except Exception as exc:  # a third-party plugin's own failure
                raise PluginError(f"entry point {self.group}:{name} ({item.spec}) failed to load: {exc}") from exc
        registered = self._items.get(name)
        if isinstance(loaded, ModuleType) and registered is not None and not isinstance(registered, _Lazy):
            return registered  # the module registered its object with the decorator when imported
        table[name] = loaded  # the object itself (a module is one if it has the right attributes)
        return cast(T, loaded)

    def _plugins(self) -> dict[str, T | _Lazy]:
        if self.group is None or plugins_disabled():
            return {}
        if self._entries is None:
            found = metadata.entry_points(group=self.group)
            self._entries = {entry.name: _Lazy(entry.value, entry) for entry in found}
        return self._entries


PRODUCERS: Registry[ProducerFactory] = Registry(
    "producer",
    group="fakeai.producers",
    builtins={
        "template": "fakeai.producers.template:template_factory",
        "models": "fakeai.producers.models:models_factory",
        "usage": "fakeai.producers.usage:usage_factory",
        "files": "fakeai.producers.files:files_factory",
        "stored": "fakeai.producers.stored:stored_factory",
        "llm": "fakeai.producers.bindings:llm_factory",
        "search": "fakeai.resources.search:search_factory",
        "resources": "fakeai.resources.producer:resources_factory",
        "example": "fakeai.producers.example:example_factory",
        "generated": "fakeai.producers.default:generated_factory",
    },
)
FALLBACK_PRODUCER = "generated"
# asked after plugins and create_app(producers=...): they answer nearly every operation, so a plugin that
# claims an operation must be asked before them (the resource model, spec examples, generated data)
GENERIC_PRODUCERS = ("resources", "example", FALLBACK_PRODUCER)
producer = PRODUCERS.register  # @producer("name") def factory(operation, env) -> Producer | None


def producer_factories(extra: Sequence[Any] = ()) -> list[Any]:
    """Every producer factory in the order they are asked: the specific built-ins (templates, the model
    catalog, files, stored responses, model-like bindings), plugins, ``extra``, then the generic ones."""
    named = [PRODUCERS.get(name) for name in PRODUCERS.names() if name not in GENERIC_PRODUCERS]
    return [*named, *extra, *(PRODUCERS.get(name) for name in GENERIC_PRODUCERS)]
