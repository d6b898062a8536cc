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


def routing_document(operations: Iterable[Operation], title: str = "fakeai") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
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
