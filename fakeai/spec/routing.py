"""The document Connexion routes with: every path and method of the normalized spec, nothing else.

Connexion 3.3 accepts only OpenAPI 3.0 and resolves/validates the whole document at startup
(seconds for the 3 MB OpenAI spec). Routing needs only paths, methods, operationIds and path
parameter types, so we hand it exactly that, labelled 3.0.3. Validation keeps full 2020-12
semantics in :mod:`fakeai.spec.validate`; webhooks are not routed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fakeai.spec.operation import Operation

# Starlette's router tries routes in order: the endpoints load tests hammer go first.
HOT_PATHS = ("/chat/completions", "/responses", "/completions", "/embeddings", "/models", "/moderations")


def route_order(path: str) -> tuple[int, int]:
    """Hot literal paths first, then other literal paths, then templated ones (in document order).

    Moving a literal path earlier can never shadow another route (it only matches itself); templated
    paths keep their relative order, so ``/responses/{id}`` still never shadows a literal path.
    """
    if "{" in path:
        return (2, 0)
    return (0, HOT_PATHS.index(path)) if path in HOT_PATHS else (1, 0)


def routing_document(operations: Iterable[Operation], title: str = "fakeai") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in sorted(operations, key=lambda o: route_order(o.path)):
        params = [
            {"name": p.name, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in op.parameters
            if p.location == "path"
        ]
        entry: dict[str, Any] = {"operationId": op.operation_id, "responses": {"default": {"description": "fake"}}}
        if params:
            entry["parameters"] = params
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {"openapi": "3.0.3", "info": {"title": title, "version": "1"}, "paths": paths}
