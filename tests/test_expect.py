"""Expectations and the resilience verdict over journal entries (pure), and end to end with the SDK."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.app import create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings
from fakeai.expect import check, evaluate, verdict
from fakeai.journal import Entry, pack
from fakeai.testing import async_client

CHAT = "createChatCompletion"


def entry(seq: int, time: float, status: int = 200, body: Any = None, **changes: Any) -> Entry:
    return Entry(
        seq=seq,
        time=time,
        method="POST",
        path="/v1/chat/completions",
        status=status,
        operation=CHAT,
        source="llm",
        api_key="sk-...1234",
        request_json=pack(body if body is not None else {"messages": []}),
        **changes,
    )


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def chat(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": list(messages), **fields}


CALL = {
    "role": "assistant",
    "tool_calls": [{"id": "call_7", "type": "function", "function": {"name": "weather", "arguments": "{}"}}],
}
RESULT = {"role": "tool", "tool_call_id": "call_7", "content": "sunny"}


def test_tool_result_before_turn_passes_and_fails() -> None:
    sent_in_turn_1 = [entry(1, 0, body=chat(user("a"))), entry(2, 1, body=chat(user("a"), CALL, RESULT))]
    spec = {"sends_tool_result": {"call": "call_7", "before_turn": 2}, "scenario": "s", "file": "s.yaml", "line": 4}
    result = check(spec, sent_in_turn_1)
    assert result.passed and result.requests == (2,) and (result.file, result.line) == ("s.yaml", 4)
    assert check({"sends_tool_result": {"call": "weather"}}, sent_in_turn_1).passed  # by tool name too
    late = [entry(1, 0, body=chat(user("a"), CALL)), entry(2, 1, body=chat(user("a"), CALL, user("b"), RESULT))]
    failed = check(spec, late)
    assert not failed.passed and failed.detail == "tool result for 'call_7' sent at turn 2, not before turn 2"
    never = check(spec, [entry(1, 0, body=chat(user("a"), CALL))])
    assert not never.passed and "never sent" in never.detail


def test_includes_checks_streamed_requests_only_for_stream_options() -> None:
    entries = [
        entry(1, 0, body=chat(user("a"))),  # not streamed: exempt
        entry(2, 1, body=chat(user("a"), stream=True, stream_options={"include_usage": True})),
        entry(3, 2, body=chat(user("a"), stream=True)),
    ]
    result = check({"includes": "stream_options.include_usage"}, entries)
    assert not result.passed and result.requests == (3,)
    assert result.detail == "1 of 2 requests lack stream_options.include_usage"
    assert check({"includes": "stream_options.include_usage"}, entries[:2]).passed


def test_max_and_min_requests_with_scope() -> None:
    entries = [entry(1, 0), entry(2, 1), Entry(3, 2, "GET", "/v1/models", 200, operation="listModels")]
    assert not check({"max_requests": 1, "scope": {"operation": CHAT}}, entries).passed
    assert check({"max_requests": 2, "scope": {"operation": CHAT}}, entries).passed
    assert check({"min_requests": 3}, entries).passed
    assert not check({"min_requests": 4}, entries).passed


def test_unknown_expectation_fails_loudly() -> None:
    [result] = evaluate([{"scenario": "s", "bogus": 1}], [])
    assert not result.passed and result.kind == "unknown"


@settings(database=None, max_examples=200)
@given(asked=st.floats(0.01, 60), waited=st.floats(0, 120), took=st.floats(0, 5))
def test_retry_after_violation_iff_the_client_came_back_early(asked: float, waited: float, took: float) -> None:
    limited = entry(1, 100.0, status=429, retry_after=asked, total=took)
    retry = entry(2, 100.0 + took + waited)
    result = check({"respects_retry_after": True}, [limited, retry])
    early = waited < asked - 0.001
    assert result.passed is not early
    summary = verdict([limited, retry])
    assert summary.ignored_retry_after.count == int(early)
    assert summary.retried_too_fast.count == 0  # retry-after given: judged by that rule only


@settings(database=None, max_examples=100)
@given(gap=st.floats(0, 2), backoff=st.floats(0.01, 1))
def test_retried_too_fast_without_retry_after(gap: float, backoff: float) -> None:
    body = chat(user("a"))
    failed = entry(1, 0.0, status=500, body=body)
    summary = verdict([failed, entry(2, gap, body=body)], min_backoff=backoff)
    assert summary.retries == 1 and summary.failures == 1
    assert summary.retried_too_fast.count == int(gap < backoff - 0.001)


def test_accepted_truncated_stream_is_a_follow_up_without_retry() -> None:
    first = chat(user("a"), stream=True)
    cut = entry(1, 0.0, body=first, frames=3, fault="cut")
    follow_up = entry(2, 5.0, body=chat(user("a"), {"role": "assistant", "content": "par"}, user("b"), stream=True))
    summary = verdict([cut, follow_up])
    assert summary.accepted_truncated_stream.requests == (1,) and not summary.resilient
    retried = verdict([cut, entry(2, 5.0, body=first), follow_up])
    assert retried.accepted_truncated_stream.count == 0 and retried.resilient and retried.retries == 1
    stalled = verdict([entry(1, 0.0, body=first, frames=3, fault="stall"), follow_up])
    assert stalled.accepted_truncated_stream.count == 0  # a stall does not truncate


def test_threads_separate_conversations() -> None:
    limited = entry(1, 0.0, status=429, retry_after=10.0, conversation="c1")
    other = entry(2, 1.0, conversation="c2")
    assert verdict([limited, other]).ignored_retry_after.count == 0


async def test_a_client_coming_back_before_retry_after_is_caught() -> None:
    """A scenario answers 429 with retry-after: 2; a client that retries on a fake clock too early is caught."""
    clock = FakeClock()
    app = create_app(Settings(validate_responses="strict"), clock=clock)
    scenario = """
rules:
  - name: limited
    match: {operation: createChatCompletion}
    sequence:
      - error: {status: 429, headers: {retry-after: "2"}}
      - content: finally
expect:
  - respects_retry_after: true
"""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fakeai.test") as admin:
        await admin.put("/_fakeai/scenarios/limited", content=scenario, headers={"content-type": "application/yaml"})
        client = async_client(app)
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model="gpt-4o-mini", messages=[user("a")])  # type: ignore[list-item]
        clock.elapsed += 0.5  # retries after half a second: too early
        done = await client.chat.completions.create(model="gpt-4o-mini", messages=[user("a")])  # type: ignore[list-item]
        assert done.choices[0].message.content == "finally"
        body = (await admin.get("/_fakeai/expectations")).json()
    assert body["passed"] is False
    assert body["verdict"]["ignored_retry_after"] == {"count": 1, "requests": [2]}
    assert body["verdict"]["verdict"] == "fragile"
