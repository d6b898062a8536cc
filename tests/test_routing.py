"""Connexion routes from our routing document: literal paths win over templates declared before them."""

from __future__ import annotations

import httpx2

from fakeai.app import create_app
from fakeai.config import Settings
from fakeai.spec.normalize import normalize
from fakeai.spec.routing import route_order


def _op(op_id: str) -> dict[str, object]:
    schema = {"type": "object", "required": ["op"], "properties": {"op": {"const": op_id}}}
    return {
        "operationId": op_id,
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}},
    }


async def test_literal_path_is_not_shadowed_by_an_earlier_template() -> None:
    templated = _op("getItem")
    templated["parameters"] = [{"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    document = normalize(
        {
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {"/items/{item_id}": {"get": templated}, "/items/search": {"get": _op("searchItems")}},
        }
    )
    app = create_app(Settings(), document=document)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/v1/items/search")).json() == {"op": "searchItems"}
        assert (await http.get("/v1/items/abc")).json() == {"op": "getItem"}


def test_route_order_puts_hot_paths_first() -> None:
    paths = ["/files/{file_id}", "/files", "/chat/completions", "/responses/{response_id}", "/responses"]
    assert sorted(paths, key=route_order) == [
        "/chat/completions",
        "/responses",
        "/files",
        "/files/{file_id}",
        "/responses/{response_id}",
    ]
