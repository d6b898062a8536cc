"""Model list / retrieve / delete answered from the model catalog and the store.

Bound by declaration (``behaviour: models`` in spec/bindings/*.yaml: OpenAI's listModels/retrieveModel/
deleteModel, Anthropic's models_list/models_get); which of the three an operation is follows from its method
and path (a GET without a path parameter lists). OpenAI answers the catalog's ``Model`` objects; another
vendor's schema gets the same facts (id, owner, creation time, display name) shaped by its own schema.
The answers come from data the spec cannot hold: the catalog
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

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from fakeai.catalog import Catalog, model_not_found
from fakeai.context import Effect, Output, RequestContext
from fakeai.errors import APIError
from fakeai.generated.schema import GenContext
from fakeai.producers.base import CompileEnv
from fakeai.producers.text.common import split_mode_suffix
from fakeai.spec.operation import Operation
from fakeai.spec.pointer import deref
from fakeai.store import ResourceStore

__all__ = ["KIND", "ModelsProducer", "StrictModels", "catalog_factory", "models_factory"]

KIND = "model"  # store records of fine-tuned models
GUARDED_OPERATIONS = frozenset({"createChatCompletion", "createCompletion", "createResponse", "createEmbedding"})


class ModelsProducer:
    source = "catalog"

    def __init__(
        self,
        catalog: Catalog,
        store: ResourceStore | None,
        strict: bool,
        role: str = "list",
        param: str = "model",
        shape: Shape | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.strict = strict
        self.role = role  # list | retrieve | delete
        self.param = param  # the path parameter naming the model
        self.shape = shape  # another vendor's item and page generators (None: OpenAI's Model objects)
        self.listed = [info.body() for info in catalog]  # compiled once

    def produce(self, ctx: RequestContext) -> Output | None:
        if self.role == "list":
            stored = [r.body for r in self.store.items(ctx.namespace, KIND)] if self.store is not None else []
            models = [*self.listed, *stored]
            if self.shape is not None:
                return self._ok(ctx, self.shape.page(ctx, models))
            return self._ok(ctx, {"object": "list", "data": models})
        ident = ctx.path_params.get(self.param, "")
        record = self.store.get(ctx.namespace, KIND, ident) if self.store is not None else None
        if self.role == "retrieve":
            body = record.body if record is not None else self.resolve(ident)
            return self._ok(ctx, self.shape.item(ctx, body) if self.shape is not None else body)
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


class Shape:
    """Catalog facts in another vendor's schema (Anthropic's ``ModelInfo``: type, id, display_name, created_at)."""

    def __init__(
        self, item: Callable[[GenContext], Any], page: Callable[[GenContext], Any] | None, catalog: Catalog, owner: str
    ) -> None:
        self.item_gen = item
        self.page_gen = page
        self.catalog = catalog
        self.owner = owner  # the vendor whose models this document lists (its own, when the catalog has any)

    def item(self, ctx: RequestContext, model: dict[str, Any]) -> dict[str, Any]:
        given = model.get("created")
        created: int = given if isinstance(given, int) else 0
        facts = {
            "id": model.get("id"),
            "type": "model",
            "display_name": _display_name(str(model.get("id", ""))),
            "created_at": datetime.fromtimestamp(created, UTC).isoformat().replace("+00:00", "Z"),
            "owned_by": model.get("owned_by"),
        }
        info = self.catalog.lookup(str(model.get("id", "")))
        if info is not None:
            facts.update(max_input_tokens=info.context_window, max_tokens=info.max_output_tokens)
        made = self.item_gen(GenContext(rng=ctx.rng, now=ctx.now, overrides={"id": facts["id"]}, echo=facts))
        return made if isinstance(made, dict) else facts

    def page(self, ctx: RequestContext, models: list[dict[str, Any]]) -> dict[str, Any]:
        own = [m for m in models if str(m.get("owned_by", "")).lower() == self.owner]
        data = [self.item(ctx, m) for m in own or models]
        page = self.page_gen(GenContext(rng=ctx.rng, now=ctx.now, overrides={}, echo={})) if self.page_gen else {}
        body = dict(page) if isinstance(page, dict) else {}
        body.update(data=data, has_more=False)
        for name, at in (("first_id", 0), ("last_id", -1)):
            if name in body or self.page_gen is not None:
                body[name] = data[at]["id"] if data else None
        return body


def _display_name(ident: str) -> str:
    """``claude-sonnet-4-5`` -> ``Claude Sonnet 4.5``."""
    words = ident.replace("_", "-").split("-")
    out: list[str] = []
    for word in words:
        if word.isdigit() and out and out[-1][-1:].isdigit():
            out[-1] += "." + word
        else:
            out.append(word.capitalize() if not word.isdigit() else word)
    return " ".join(out)


def catalog_factory(operation: Operation, env: CompileEnv) -> ModelsProducer | None:
    """The ``models`` behaviour: list (GET without a path parameter), retrieve (GET) or delete (DELETE)."""
    params = [p.name for p in operation.parameters if p.location == "path"]
    if operation.method not in ("GET", "DELETE") or (operation.method == "DELETE" and not params):
        return None
    role = "list" if not params else ("retrieve" if operation.method == "GET" else "delete")
    catalog = Catalog.from_settings(env.settings)
    return ModelsProducer(
        catalog, env.store, env.settings.strict_models, role, params[-1] if params else "", _shape(operation, env)
    )


def _shape(operation: Operation, env: CompileEnv) -> Shape | None:
    """None for OpenAI's Model (it has ``owned_by``); else generators of the vendor's item and page."""
    media = operation.json_response
    schema = deref(env.document, media.schema) if media is not None and media.schema is not None else None
    if not isinstance(schema, Mapping):
        return None
    data = deref(env.document, (schema.get("properties") or {}).get("data") or {})
    items = data.get("items") if isinstance(data, Mapping) and data.get("type") == "array" else None
    item_schema = deref(env.document, items) if items is not None else schema
    if "owned_by" in ((item_schema or {}).get("properties") or {}):
        return None
    item = env.walker.deferred(items if items is not None else media.schema)  # type: ignore[union-attr]
    page = env.walker.deferred(media.schema) if items is not None else None  # type: ignore[union-attr]
    owner = str((env.document.get("info") or {}).get("title", "")).split(" ")[0].lower()  # "Anthropic API"
    return Shape(item, page, Catalog.from_settings(env.settings), owner)


def models_factory(operation: Operation, env: CompileEnv) -> StrictModels | None:
    """``strict_models``: the guard in front of the model endpoints."""
    if operation.operation_id in GUARDED_OPERATIONS and env.settings.strict_models:
        return StrictModels(Catalog.from_settings(env.settings), env.store)
    return None
