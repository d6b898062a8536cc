"""Token buckets and requests larger than the bucket: OpenAI's 429 "Request too large", nothing taken, the same
in memory and on the shared Valkey backend (``SharedRateLimiter``'s Lua script)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from fakeai.app import FakeAI
from fakeai.testing import async_client
from tests.conftest import scenario_app

LIMITS = """
rate_limits:
  - name: tpm
    tokens_per_minute: 100
    scope: {operation: createChatCompletion}
"""
USER: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture(params=["memory", "shared"])
def limited(request: pytest.FixtureRequest) -> Iterator[FakeAI]:
    changes: dict[str, Any] = {"seed": 99}
    if request.param == "shared":
        changes["state"] = request.getfixturevalue("redis_server").url(7)
    for app in scenario_app(**changes):
        assert app.scenarios is not None
        app.scenarios.load("limits", LIMITS)
        yield app


async def _chat(app: FakeAI, max_tokens: int) -> Any:
    client = async_client(app)
    return await client.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER, max_tokens=max_tokens)


async def test_a_request_larger_than_the_bucket_is_429_request_too_large(limited: FakeAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        await _chat(limited, 500)
    error = caught.value
    assert error.code == "rate_limit_exceeded"
    assert error.type == "tokens"
    message = error.body["message"]  # type: ignore[index]
    assert message.startswith("Request too large for gpt-4o in organization org-fakeai on tokens per min (TPM): ")
    assert "Limit 100, Requested 5" in message  # the prompt's few tokens + max_tokens 500
    assert "retry-after" not in error.response.headers  # waiting never helps


async def test_a_request_too_large_takes_nothing_from_the_bucket(limited: FakeAI) -> None:
    with pytest.raises(openai.RateLimitError):
        await _chat(limited, 500)
    answer = await _chat(limited, 10)
    prompt = 100 - 10 - int(answer.headers["x-ratelimit-remaining-tokens"])
    assert 0 < prompt < 20  # only the small request's prompt + budget was taken


async def test_a_request_that_fits_the_bucket_but_not_what_is_left_waits(limited: FakeAI) -> None:
    await _chat(limited, 60)
    with pytest.raises(openai.RateLimitError) as caught:
        await _chat(limited, 60)
    assert caught.value.body["message"].startswith("Rate limit reached for gpt-4o")  # type: ignore[index]
    assert int(caught.value.response.headers["retry-after"]) >= 1
