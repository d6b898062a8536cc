"""Usage and cost endpoints computed from the traffic fakeai answered (issue 9), through the SDK's admin API."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from fakeai.app import FakeAI
from fakeai.catalog import Catalog
from fakeai.testing import async_client
from fakeai.usage import Key, Usage
from tests.conftest import make_app

DAY = 1_730_419_200  # 2024-11-01T00:00:00Z
CHAT, EMBEDDER = "gpt-4o-mini", "text-embedding-3-small"


@pytest.fixture
def app() -> Iterator[FakeAI]:
    application = make_app(fixed_time=DAY + 3600)
    yield application
    assert not application.violations, f"fakeai answered outside the spec: {application.violations}"


def clients(app: FakeAI, namespace: str = "", api_key: str = "sk-test") -> tuple[Any, Any]:
    """(the API client, the same client with the admin key the usage endpoints authenticate with)"""
    client = async_client(app, api_key=api_key, headers={"x-fakeai-namespace": namespace} if namespace else None)
    return client, client.with_options(admin_api_key="sk-admin")


async def traffic(client: Any, chat_model: str = CHAT) -> dict[str, list[Any]]:
    """3 chat completions (one streamed with usage) and 2 embeddings requests; the usage each answered."""
    answers: dict[str, list[Any]] = {"chat": [], "embeddings": []}
    for text in ("hello", "what is the capital of France?"):
        reply = await client.chat.completions.create(model=chat_model, messages=[{"role": "user", "content": text}])
        answers["chat"].append(reply.usage)
    stream = await client.chat.completions.create(
        model=chat_model,
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    answers["chat"] += [chunk.usage async for chunk in stream if chunk.usage is not None]
    for text in ("alpha beta", ["gamma", "delta epsilon"]):
        answers["embeddings"].append((await client.embeddings.create(model=EMBEDDER, input=text)).usage)
    return answers


async def test_completions_usage_sums_what_the_answers_reported(app: FakeAI) -> None:
    client, admin = clients(app)
    answers = await traffic(client)
    page = await admin.admin.organization.usage.completions(start_time=DAY, end_time=DAY + 86400)
    assert (page.has_more, page.next_page, len(page.data)) == (False, None, 1)
    bucket = page.data[0]
    assert (bucket.start_time, bucket.end_time, len(bucket.results)) == (DAY, DAY + 86400, 1)
    result = bucket.results[0]
    assert result.num_model_requests == 3
    assert result.input_tokens == sum(u.prompt_tokens for u in answers["chat"])
    assert result.output_tokens == sum(u.completion_tokens for u in answers["chat"])
    assert (result.input_cached_tokens, result.model, result.api_key_id) == (0, None, None)


async def test_a_stream_without_a_usage_chunk_counts_the_tokens_it_streamed(app: FakeAI) -> None:
    """No ``include_usage``: no usage reaches the client, and the usage API still counts the streamed tokens and
    the prompt's (as the same request unstreamed reports them)."""
    client, admin = clients(app)
    stream = await client.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "stream please"}], stream=True, max_tokens=17,
        extra_body={"ignore_eos": True},
    )  # fmt: skip
    chunks = [chunk async for chunk in stream]
    assert all(chunk.usage is None for chunk in chunks)
    streamed = sum(1 for chunk in chunks for choice in chunk.choices if choice.delta.content)
    page = await admin.admin.organization.usage.completions(start_time=DAY, end_time=DAY + 86400)
    result = page.data[0].results[0]
    assert (result.num_model_requests, result.output_tokens) == (1, 17)
    assert streamed == 17
    unstreamed = await client.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "stream please"}], max_tokens=17
    )
    assert unstreamed.usage is not None and unstreamed.usage.prompt_tokens > 0
    assert result.input_tokens == unstreamed.usage.prompt_tokens


async def test_a_legacy_completions_stream_without_a_usage_chunk_counts_its_prompt(app: FakeAI) -> None:
    client, admin = clients(app)
    prompt = "Say something about the harbour at dawn."
    stream = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt=prompt, stream=True, max_tokens=9)
    assert all([chunk.usage is None async for chunk in stream])
    page = await admin.admin.organization.usage.completions(start_time=DAY, end_time=DAY + 86400)
    result = page.data[0].results[0]
    unstreamed = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt=prompt, max_tokens=9)
    assert unstreamed.usage is not None and unstreamed.usage.prompt_tokens > 0
    assert (result.num_model_requests, result.input_tokens) == (1, unstreamed.usage.prompt_tokens)


async def test_embeddings_usage_is_reported_separately(app: FakeAI) -> None:
    client, admin = clients(app)
    answers = await traffic(client)
    page = await admin.admin.organization.usage.embeddings(start_time=DAY, end_time=DAY + 86400, group_by=["model"])
    [result] = page.data[0].results
    assert result.object == "organization.usage.embeddings.result"
    assert (result.num_model_requests, result.model) == (2, EMBEDDER)
    assert result.input_tokens == sum(u.prompt_tokens for u in answers["embeddings"])


async def test_group_by_model_and_api_key_split_the_results(app: FakeAI) -> None:
    first, admin = clients(app)
    second, _ = clients(app, api_key="sk-other")
    mini = await traffic(first)
    full = await traffic(second, chat_model="gpt-4o")
    page = await admin.admin.organization.usage.completions(start_time=DAY, group_by=["model", "api_key_id"])
    found = {(r.model, r.api_key_id): (r.num_model_requests, r.output_tokens) for r in page.data[0].results}
    assert found == {
        (CHAT, "key_" + hashlib.sha256(b"sk-test").hexdigest()[:16]): (
            3,
            sum(u.completion_tokens for u in mini["chat"]),
        ),
        ("gpt-4o", "key_" + hashlib.sha256(b"sk-other").hexdigest()[:16]): (
            3,
            sum(u.completion_tokens for u in full["chat"]),
        ),
    }
    only = await admin.admin.organization.usage.completions(start_time=DAY, models=["gpt-4o"])
    assert [r.num_model_requests for r in only.data[0].results] == [3]


async def test_costs_are_tokens_times_the_catalog_prices(app: FakeAI) -> None:
    client, admin = clients(app)
    answers = await traffic(client)
    await client.chat.completions.create(model="my-own-model", messages=[{"role": "user", "content": "free?"}])
    page = await admin.admin.organization.usage.costs(start_time=DAY, end_time=DAY + 86400, group_by=["line_item"])
    costs = {r.line_item: r.amount.value for r in page.data[0].results}
    assert {r.amount.currency for r in page.data[0].results} == {"usd"}
    catalog = Catalog.from_settings(app.settings)
    chat, embedder = catalog.lookup(CHAT), catalog.lookup(EMBEDDER)
    assert chat is not None and chat.prices is not None and embedder is not None and embedder.prices is not None
    assert costs[f"{CHAT}, input"] == pytest.approx(
        sum(u.prompt_tokens for u in answers["chat"]) * chat.prices.input / 1e6
    )
    assert costs[f"{CHAT}, output"] == pytest.approx(
        sum(u.completion_tokens for u in answers["chat"]) * (chat.prices.output or 0) / 1e6
    )
    assert costs[f"{EMBEDDER}, input"] == pytest.approx(
        sum(u.prompt_tokens for u in answers["embeddings"]) * (embedder.prices.input or 0) / 1e6
    )
    assert costs["my-own-model, input"] == costs["my-own-model, output"] == 0
    total = await admin.admin.organization.usage.costs(start_time=DAY, end_time=DAY + 86400)
    assert [r.amount.value for r in total.data[0].results] == [pytest.approx(sum(costs.values()))]


def test_cached_input_tokens_cost_the_cached_price() -> None:
    from fakeai.producers.usage import UsageProducer

    producer = UsageProducer(Usage(), Catalog.from_settings(make_app().settings))
    lines = dict(producer._priced("gpt-4o", [1_000_000, 2_000_000, 400_000, 0, 0, 1, 0]))
    assert lines == {
        "gpt-4o, input": pytest.approx(0.6 * 2.50),
        "gpt-4o, cached input": pytest.approx(0.4 * 1.25),
        "gpt-4o, output": pytest.approx(2 * 10.00),
    }


async def test_a_namespace_sees_only_its_own_traffic(app: FakeAI) -> None:
    mine, my_admin = clients(app, namespace="team-a")
    _theirs, their_admin = clients(app, namespace="team-b")
    await traffic(mine)
    seen = await my_admin.admin.organization.usage.completions(start_time=DAY)
    unseen = await their_admin.admin.organization.usage.completions(start_time=DAY)
    assert [r.num_model_requests for r in seen.data[0].results] == [3]
    assert unseen.data[0].results == []


async def test_an_empty_range_has_buckets_without_results(app: FakeAI) -> None:
    client, admin = clients(app)
    await traffic(client)
    page = await admin.admin.organization.usage.completions(start_time=DAY - 7 * 86400, end_time=DAY)
    assert [b.start_time for b in page.data] == [DAY - (7 - i) * 86400 for i in range(7)]
    assert all(b.results == [] for b in page.data)
    costs = await admin.admin.organization.usage.costs(start_time=DAY - 3 * 86400, end_time=DAY)
    assert [b.results for b in costs.data] == [[], [], []]


async def test_pages_of_hour_buckets_follow_next_page(app: FakeAI) -> None:
    client, admin = clients(app)
    await traffic(client)
    usage = admin.admin.organization.usage
    first = await usage.completions(start_time=DAY, end_time=DAY + 86400, bucket_width="1h", limit=1)
    assert (len(first.data), first.has_more, first.data[0].results) == (1, True, [])
    second = await usage.completions(
        start_time=DAY, end_time=DAY + 86400, bucket_width="1h", limit=1, page=first.next_page
    )
    assert second.data[0].start_time == DAY + 3600
    assert [r.num_model_requests for r in second.data[0].results] == [3]
    everything = await usage.completions(start_time=DAY, end_time=DAY + 86400, bucket_width="1h")
    assert (len(everything.data), everything.has_more) == (24, False)


async def test_reset_forgets_the_usage(app: FakeAI) -> None:
    client, admin = clients(app)
    await traffic(client)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://fakeai.test") as http:
        answer = await http.post("/_fakeai/state/reset", headers={"authorization": "Bearer sk-test"})
    assert answer.status_code == 200
    page = await admin.admin.organization.usage.completions(start_time=DAY)
    assert page.data[0].results == []


async def test_limits_outside_the_documented_range_are_400s(app: FakeAI) -> None:
    import openai

    _client, admin = clients(app)
    with pytest.raises(openai.BadRequestError) as raised:
        await admin.admin.organization.usage.completions(start_time=DAY, bucket_width="1d", limit=32)
    assert raised.value.body["param"] == "limit"  # type: ignore[index]


async def test_the_accumulator_keeps_the_newest_rows_only(app: FakeAI, monkeypatch: pytest.MonkeyPatch) -> None:
    assert app.usage is not None
    monkeypatch.setattr(app.usage, "size", 1)
    dropped = app.usage.dropped
    client, _admin = clients(app)
    await client.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": "hi"}])
    await client.embeddings.create(model=EMBEDDER, input="hi")
    app.usage.flush()  # the answers' accounting is deferred (fakeai.events); the rows are read directly here
    assert [Key._make(key).kind for key in app.usage.rows] == ["embeddings"]
    assert app.usage.dropped == dropped + 1
