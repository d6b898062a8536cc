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


async def test_routing_decisions_are_remembered_for_literal_paths_only() -> None:
    """RouteMemo: the second request to a literal path skips Connexion's walk with the same decision; paths with
    parameters, wrong methods and unknown paths always go through Connexion."""
    from fakeai.app import RouteMemo

    app = create_app(Settings())
    memo = app.asgi.app
    assert isinstance(memo, RouteMemo)
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        for path in ("/v1/chat/completions", "/chat/completions"):  # the spec's base path and the root
            for _ in range(2):
                answer = await http.post(path, json=chat)
                assert answer.status_code == 200 and answer.json()["object"] == "chat.completion"
        assert memo.memo[("POST", "/v1/chat/completions", "")]["operation_id"] == "createChatCompletion"
        assert memo.memo[("POST", "/chat/completions", "")]["operation_id"] == "createChatCompletion"
        listed = await http.get("/v1/chat/completions")  # another method of a remembered path: its own route
        assert listed.status_code == 200 and listed.json()["object"] == "list"
        wrong = await http.patch("/v1/chat/completions", json={})
        assert wrong.status_code == 405 and set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
        for _ in range(2):
            missing = await http.get("/v1/models/no-such-model-xyz")
            assert missing.status_code == 404
        assert (await http.get("/v1/models/gpt-4o")).json()["id"] == "gpt-4o"
        assert (await http.get("/v1/models/gpt-4o-mini")).json()["id"] == "gpt-4o-mini"  # params: never stale
        unknown = await http.post("/v1/no/such/path", json={})
        assert unknown.status_code == 404
    keys = {path for _, path, _ in memo.memo}
    assert not any("models/" in path or "no/such" in path for path in keys)
    assert ("PATCH", "/v1/chat/completions", "") not in memo.memo
