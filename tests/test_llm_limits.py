"""Edge values found by property tests answer like the API, never with a 500."""

from __future__ import annotations

import httpx2

from fakeai.app import FakeAI
from tests.conftest import make_app

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


async def post(app: FakeAI, url: str, body: dict[str, object]) -> httpx2.Response:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        return await http.post(url, json=body)


async def test_negative_max_tokens_is_a_400_in_strict(app: FakeAI) -> None:
    response = await post(app, "/v1/chat/completions", {**CHAT, "max_completion_tokens": -5})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "max_completion_tokens"


async def test_zero_max_tokens_gives_an_empty_answer_cut_by_length(app: FakeAI) -> None:
    response = await post(app, "/v1/chat/completions", {**CHAT, "max_tokens": 0})
    choice = response.json()["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == ("", "length")


async def test_permissive_profile_clamps_negative_limits() -> None:
    response = await post(make_app(validation="permissive"), "/v1/chat/completions", {**CHAT, "max_tokens": -1})
    assert response.status_code == 200
    assert response.json()["usage"]["completion_tokens"] == 0


async def test_huge_nested_token_ids_in_a_completion_prompt(app: FakeAI) -> None:
    response = await post(app, "/v1/completions", {"model": "babbage-002", "prompt": [[93575577377227702272]]})
    assert response.status_code == 200
