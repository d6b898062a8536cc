"""Anthropic message batches through the resource model and the official anthropic SDK: every request runs
through messages.create, results come back per custom_id, timestamps are RFC 3339 like the spec says."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest

from fakeai.app import FakeAI, create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings


def client_for(app: FakeAI) -> anthropic.AsyncAnthropic:
    transport = httpx2.ASGITransport(app=app)
    return anthropic.AsyncAnthropic(
        base_url="http://fakeai.test", api_key="x", http_client=httpx2.AsyncClient(transport=transport)
    )


def request(custom_id: str, **params: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "params": {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}
        | params,
    }


async def test_batch_runs_every_request_and_returns_results_per_custom_id() -> None:
    clock = FakeClock()
    app = create_app(Settings(spec="anthropic", validate_responses="strict"), clock=clock)
    client = client_for(app)
    batch = await client.messages.batches.create(requests=[request("a"), request("b", max_tokens=4)])  # type: ignore[list-item]
    assert batch.id.startswith("msgbatch_") and batch.processing_status == "in_progress"
    assert batch.request_counts.processing == 2 and batch.ended_at is None and batch.results_url is None
    clock.elapsed += 5
    ended = await client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.ended_at is not None
    assert (ended.request_counts.succeeded, ended.request_counts.processing) == (2, 0)
    assert ended.ended_at >= ended.created_at
    results = {r.custom_id: r.result async for r in await client.messages.batches.results(batch.id)}
    assert set(results) == {"a", "b"} and all(r.type == "succeeded" for r in results.values())
    message = results["b"].message  # type: ignore[union-attr]
    assert message.usage.output_tokens <= 4 and message.stop_reason in ("max_tokens", "end_turn")
    single = await client.messages.create(**request("b", max_tokens=4)["params"])
    assert single.content == message.content  # the same producer, the same seed
    assert [b.id for b in (await client.messages.batches.list()).data] == [batch.id]
    assert not app.violations


async def test_cancel_ends_the_batch_and_a_second_cancel_is_refused() -> None:
    clock = FakeClock()
    app = create_app(Settings(spec="anthropic", validate_responses="strict"), clock=clock)
    client = client_for(app)
    batch = await client.messages.batches.create(requests=[request("a")])  # type: ignore[list-item]
    canceling = await client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    clock.elapsed += 2
    ended = await client.messages.batches.retrieve(batch.id)
    counts = ended.request_counts  # the work ran when the batch was created: what finished stays finished
    assert ended.processing_status == "ended" and counts.succeeded + counts.canceled == 1 and counts.processing == 0
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.batches.cancel(batch.id)
    await client.messages.batches.delete(batch.id)
    with pytest.raises(anthropic.NotFoundError) as caught:
        await client.messages.batches.retrieve(batch.id)
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert not app.violations


async def test_models_come_from_the_catalog_in_anthropics_shape() -> None:
    app = create_app(Settings(spec="anthropic", validate_responses="strict"))
    client = client_for(app)
    listed = (await client.models.list()).data
    ids = [m.id for m in listed]
    assert "claude-sonnet-4-5" in ids and not any(i.startswith("gpt-") for i in ids)  # Anthropic's own models
    model = await client.models.retrieve("claude-sonnet-4-5")
    assert model.display_name == "Claude Sonnet 4.5" and model.type == "model"
    assert model.max_input_tokens is not None and model.max_input_tokens >= 200_000  # the catalog's window
    with pytest.raises(anthropic.NotFoundError):
        await client.models.retrieve("claude-nothing-9")
    assert not app.violations
