"""``listModels`` / ``retrieveModel`` / ``deleteModel`` answered from the model catalog and the store.

Python per operationId because these answers come from data the spec cannot hold: the catalog
(:mod:`fakeai.catalog`, ``spec/models.yaml`` + the user's files) and the models fine-tuning created, which live
in the resource store as records of kind ``model`` per namespace (their body is the ``Model`` object).

- list: the catalog's models, then the namespace's stored ones.
- retrieve: a stored model, else what the catalog resolves the name to (a dated snapshot answers with the
  requested id; ``ft:<base>:<org>:...`` of a known base answers as owned by ``<org>``, unless
  ``strict_models``), else OpenAI's 404 ``model_not_found``.
- delete: a stored model is deleted (an Effect). A catalog model is a 403: OpenAI documents that only
  fine-tuned models you own can be deleted and the base model does exist, so "not found" would contradict
  retrieve; the SDK raises ``PermissionDeniedError``. A fine-tune name of a known base is answered as deleted
  (nothing to delete) unless ``strict_models``; anything else is the 404.

With ``strict_models``, :class:`StrictModels` guards the model endpoints (chat, completions, responses,
embeddings): a model the catalog and the store do not know is the 404 OpenAI's inference endpoints answer.
Registered after ``template`` so a user's own ``--fixtures`` template still wins.
"""

from __future__ import annotations

from typing import Any

from fakeai.catalog import Catalog, model_not_found
from fakeai.context import Effect, Output, RequestContext
from fakeai.errors import APIError
from fakeai.producers.base import CompileEnv
from fakeai.producers.text.common import split_mode_suffix
from fakeai.spec.operation import Operation
from fakeai.store import ResourceStore

__all__ = ["KIND", "ModelsProducer", "StrictModels", "models_factory"]

KIND = "model"  # store records of fine-tuned models
CATALOG_OPERATIONS = frozenset({"listModels", "retrieveModel", "deleteModel"})
GUARDED_OPERATIONS = frozenset({"createChatCompletion", "createCompletion", "createResponse", "createEmbedding"})


class ModelsProducer:
    source = "catalog"

    def __init__(self, catalog: Catalog, store: ResourceStore | None, strict: bool) -> None:
        self.catalog = catalog
        self.store = store
        self.strict = strict
        self.listed = [info.body() for info in catalog]  # compiled once

    def produce(self, ctx: RequestContext) -> Output | None:
        if ctx.operation_id == "listModels":
            stored = [r.body for r in self.store.items(ctx.namespace, KIND)] if self.store is not None else []
            return self._ok(ctx, {"object": "list", "data": [*self.listed, *stored]})
        ident = ctx.path_params.get("model", "")
        record = self.store.get(ctx.namespace, KIND, ident) if self.store is not None else None
        if ctx.operation_id == "retrieveModel":
            return self._ok(ctx, record.body if record is not None else self.resolve(ident))
        if record is not None:
            return self._ok(ctx, _deleted(ident), (Effect("delete", KIND, ident),))
        if self.catalog.lookup(ident) is None or (self.strict and _fine_tuned(ident)):
            raise model_not_found(ident, quote="'")
        if _fine_tuned(ident):
            return self._ok(ctx, _deleted(ident))
        raise APIError(
            403,
            f"You are not allowed to delete the model '{ident}'. Only fine-tuned models you own can be deleted.",
            param="model",
        )

    def resolve(self, ident: str) -> dict[str, Any]:
        """The ``Model`` object the catalog answers for ``ident`` (404 if it resolves to nothing)."""
        info = self.catalog.lookup(ident)
        if info is None or (self.strict and _fine_tuned(ident)):
            raise model_not_found(ident, quote="'")
        parts = ident.split(":")
        owner = parts[2] if _fine_tuned(ident) and len(parts) > 2 and parts[2] else None
        return info.body(ident, owner)

    @staticmethod
    def _ok(ctx: RequestContext, body: dict[str, Any], effects: tuple[Effect, ...] = ()) -> Output:
        return Output(status=ctx.operation.status, body=body, source="catalog", effects=effects)


class StrictModels:
    """``strict_models``: an unknown model on a model endpoint is a 404; known ones fall through (``None``)."""

    source = "catalog"

    def __init__(self, catalog: Catalog, store: ResourceStore | None) -> None:
        self.catalog = catalog
        self.store = store

    def produce(self, ctx: RequestContext) -> Output | None:
        model = ctx.model
        if not model:
            return None
        base, _mode = split_mode_suffix(model)
        if self.store is not None and self.store.get(ctx.namespace, KIND, base) is not None:
            return None
        if self.catalog.lookup(base) is None or _fine_tuned(base):
            raise model_not_found(model)
        return None


def _fine_tuned(ident: str) -> bool:
    return ident.lower().startswith("ft:")


def _deleted(ident: str) -> dict[str, Any]:
    return {"id": ident, "object": "model", "deleted": True}


def models_factory(operation: Operation, env: CompileEnv) -> ModelsProducer | StrictModels | None:
    if operation.operation_id in CATALOG_OPERATIONS:
        return ModelsProducer(Catalog.from_settings(env.settings), env.store, env.settings.strict_models)
    if operation.operation_id in GUARDED_OPERATIONS and env.settings.strict_models:
        return StrictModels(Catalog.from_settings(env.settings), env.store)
    return None
