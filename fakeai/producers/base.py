"""The one producer shape: compiled per operation at startup, asked per request.

A factory looks at an operation once and returns a :class:`Producer` (or ``None`` when it has
nothing to offer for that operation). At request time producers are asked in order; the first
non-``None`` :class:`~fakeai.context.Output` wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from fakeai.context import Output, RequestContext

if TYPE_CHECKING:
    from fakeai.config import Settings
    from fakeai.producers.text.script import Script
    from fakeai.spec.operation import Operation
    from fakeai.spec.validate import Validators


class Producer(Protocol):
    source: str  # shown by ``fakeai routes``: template | example | generated | llm | ...

    def produce(self, ctx: RequestContext) -> Output | None: ...


@runtime_checkable
class ScriptedProducer(Protocol):
    """A producer that also renders a scripted answer in its wire format (the chat, completions and
    Responses producers; the scenario engine's ``content``/``tool_calls``/``json``/``refusal`` replies)."""

    source: str

    def produce(self, ctx: RequestContext) -> Output | None: ...

    def produce_scripted(self, ctx: RequestContext, script: Script) -> Output: ...


@dataclass(frozen=True)
class CompileEnv:
    """What factories may use when compiling an operation."""

    document: dict[str, Any]
    validators: Validators
    settings: Settings
    fixtures_dir: Path | None
    walker: Any  # fakeai.generated.schema.SchemaWalker
    store: Any = None  # fakeai.store.ResourceStore: resources clients created (files...)
    prompt_cache: Any = None  # fakeai.simulators.base.PromptCache (the kv_cache simulator), or None
    usage: Any = None  # fakeai.usage.Usage: what the server answered, for the usage and cost endpoints
    text_backends: Any = None  # fakeai.producers.text.backend.Selection: a real model for some models, or None


ProducerFactory = Callable[["Operation", CompileEnv], "Producer | None"]


StoreHandler = Callable[[Any, RequestContext], "Output | None"]


class StoreProducer:
    """Answers one operation from the resource store (``fakeai.store``); ``None`` falls through."""

    source = "store"

    def __init__(self, store: Any, handler: StoreHandler) -> None:
        self.store = store
        self.handler = handler

    def produce(self, ctx: RequestContext) -> Output | None:
        return self.handler(self.store, ctx)


def store_producer(handlers: Any, operation: Operation, env: CompileEnv) -> StoreProducer | None:
    """The StoreProducer for ``operation`` if ``handlers`` (a Registry of StoreHandler) has one."""
    if operation.operation_id not in handlers or env.store is None:
        return None
    return StoreProducer(env.store, handlers.get(operation.operation_id))
