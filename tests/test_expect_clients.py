"""The resilience verdict tells clients apart by a fingerprint of their key, not its mask (short keys all mask to
``****``), in memory and in the shared Valkey journal; the journal never holds the key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest

from fakeai.app import FakeAI
from fakeai.expect import verdict
from fakeai.journal import Entry, fingerprint, mask
from fakeai.testing import async_client
from tests.conftest import scenario_app

LIMITED = """
rules:
  - name: limited
    match: {operation: createChatCompletion, headers: {authorization: "Bearer sk-a"}}
    sequence:
      - error: {status: 429, headers: {retry-after: "30"}}
      - content: finally
expect:
  - respects_retry_after: true
"""
USER: Any = [{"role": "user", "content": "hello"}]


@pytest.fixture(params=["memory", "shared"])
def sapp(request: pytest.FixtureRequest) -> Iterator[FakeAI]:
    changes: dict[str, Any] = {"seed": 5}
    if request.param == "shared":
        changes["state"] = request.getfixturevalue("redis_server").url(8)
    for app in scenario_app(**changes):
        assert app.scenarios is not None
        app.scenarios.load("limited", LIMITED)
        yield app


async def _verdict(app: FakeAI) -> dict[str, Any]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://fakeai.test") as admin:
        answer = await admin.get("/_fakeai/expectations", headers={"authorization": "Bearer sk-test"})
        assert answer.status_code == 200, answer.text
        journal = (await admin.get("/_fakeai/journal", headers={"authorization": "Bearer sk-test"})).text
    assert "sk-a" not in journal and "sk-b" not in journal  # neither key is kept
    result: dict[str, Any] = answer.json()["verdict"]
    return result


async def test_another_client_with_a_colliding_mask_is_not_an_early_retry(sapp: FakeAI) -> None:
    assert mask("sk-a") == mask("sk-b") == "****"
    with pytest.raises(openai.RateLimitError):
        await async_client(sapp, api_key="sk-a").chat.completions.create(model="gpt-4o", messages=USER)
    await async_client(sapp, api_key="sk-b").chat.completions.create(model="gpt-4o", messages=USER)
    assert (await _verdict(sapp))["ignored_retry_after"]["count"] == 0


async def test_the_same_client_coming_back_early_is_still_caught(sapp: FakeAI) -> None:
    client = async_client(sapp, api_key="sk-a")
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="gpt-4o", messages=USER)
    await async_client(sapp, api_key="sk-b").chat.completions.create(model="gpt-4o", messages=USER)
    await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert (await _verdict(sapp))["ignored_retry_after"]["count"] == 1  # sk-a's retry, not sk-b's request


def test_fingerprints_are_short_stable_and_differ_where_masks_collide() -> None:
    assert fingerprint(None) is None
    assert fingerprint("sk-a") == fingerprint("sk-a") != fingerprint("sk-b")
    assert len(fingerprint("sk-a") or "") == 12 and "sk-a" not in (fingerprint("sk-a") or "")


def test_entries_without_a_fingerprint_still_group_by_mask() -> None:
    base: dict[str, Any] = {"method": "POST", "path": "/v1/chat/completions", "operation": "createChatCompletion"}
    limited = Entry(seq=1, time=0.0, status=429, retry_after=10.0, api_key="****", **base)
    early = Entry(seq=2, time=1.0, status=200, api_key="****", **base)
    assert verdict([limited, early]).ignored_retry_after.count == 1
