"""Vector stores index their files' text: ``vector_stores.search`` and the Responses ``file_search`` tool rank
chunks of the store's files by relevance, through the official SDK, with every answer self-checked."""

from __future__ import annotations

from typing import Any

import pytest

from fakeai.app import FakeAI, create_app
from fakeai.config import Settings
from fakeai.resources.search import chunk_text, matches
from fakeai.testing import async_client

TEXTS = {
    "whales.txt": "Blue whales are the largest animals ever known. They feed on krill in cold oceans.",
    "volcanoes.txt": "Volcanoes erupt when magma rises. The Pacific ring of fire holds most active volcanoes.",
    "bread.txt": "Sourdough bread rises slowly with wild yeast. Bakers feed the starter flour and water.",
}


@pytest.fixture(scope="module")
def app() -> FakeAI:
    return create_app(Settings(validate_responses="strict", lifecycle_scale=0))


async def filled_store(client: Any, texts: dict[str, str], **attributes: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """A vector store with one file per text (attributes by filename); (its id, filename -> file id)."""
    store = await client.vector_stores.create(name="docs")
    ids = {}
    for name, text in texts.items():
        uploaded = await client.files.create(file=(name, text.encode(), "text/plain"), purpose="assistants")
        await client.vector_stores.files.create_and_poll(
            file_id=uploaded.id, vector_store_id=store.id, attributes=attributes.get(name), poll_interval_ms=1
        )
        ids[name] = uploaded.id
    return store.id, ids


async def test_the_file_containing_the_phrase_comes_first_with_the_highest_score(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "rank"}) as client:
        store, ids = await filled_store(client, TEXTS)
        page = await client.vector_stores.search(store, query="ring of fire")
        results = page.data
        assert results[0].file_id == ids["volcanoes.txt"] and results[0].filename == "volcanoes.txt"
        assert results[0].content[0].text == TEXTS["volcanoes.txt"]
        assert all(0 <= r.score < results[0].score <= 1 for r in results[1:])
    assert not app.violations


async def test_search_page_echoes_the_query_and_ranks_by_shared_words(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "page"}) as client:
        store, ids = await filled_store(client, TEXTS)
        page = await client.vector_stores.search(store, query="what rises?", rewrite_query=True)
        assert page.search_query == ["what rises?"]
        assert {r.file_id for r in page.data} == {ids["volcanoes.txt"], ids["bread.txt"]}  # whales share no word
        assert page.has_more is False and page.next_page is None
    assert not app.violations


async def test_a_file_in_another_store_is_never_returned(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "apart"}) as client:
        mine, _ = await filled_store(client, {"bread.txt": TEXTS["bread.txt"]})
        await filled_store(client, {"volcanoes.txt": TEXTS["volcanoes.txt"]})
        page = await client.vector_stores.search(mine, query="ring of fire volcanoes rises")
        assert [r.filename for r in page.data] == ["bread.txt"]  # "rises" only
    assert not app.violations


async def test_max_num_results_and_score_threshold_cut_the_list(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "limits"}) as client:
        store, _ = await filled_store(client, TEXTS)
        assert len((await client.vector_stores.search(store, query="feed rises the")).data) == 3
        assert len((await client.vector_stores.search(store, query="feed rises the", max_num_results=2)).data) == 2
        strict = await client.vector_stores.search(
            store, query="ring of fire", ranking_options={"score_threshold": 0.9}
        )
        assert [r.filename for r in strict.data] == ["volcanoes.txt"]
    assert not app.violations


async def test_deleting_the_vector_store_file_removes_it_from_results(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "delete"}) as client:
        store, ids = await filled_store(client, TEXTS)
        await client.vector_stores.files.delete(ids["volcanoes.txt"], vector_store_id=store)
        page = await client.vector_stores.search(store, query="ring of fire volcanoes")
        assert ids["volcanoes.txt"] not in {r.file_id for r in page.data}
    assert not app.violations


async def test_attribute_filters_choose_the_files_searched(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "filters"}) as client:
        store, _ = await filled_store(
            client, TEXTS, **{"whales.txt": {"topic": "nature", "year": 2020}, "bread.txt": {"topic": "food"}}
        )
        page = await client.vector_stores.search(
            store, query="feed", filters={"type": "eq", "key": "topic", "value": "nature"}
        )
        assert [(r.filename, r.attributes) for r in page.data] == [("whales.txt", {"topic": "nature", "year": 2020})]
    assert not app.violations


def test_filters_compare_and_combine_attributes() -> None:
    attrs = {"topic": "nature", "year": 2020}
    assert matches({"type": "gte", "key": "year", "value": 2020}, attrs)
    assert not matches({"type": "lt", "key": "year", "value": "2021"}, attrs)  # a number is not below a string
    assert matches({"type": "in", "key": "topic", "value": ["food", "nature"]}, attrs)
    either = {"type": "or", "filters": [{"type": "eq", "key": "topic", "value": "food"}, {"type": "ne", "key": "x"}]}
    assert matches(either, attrs) and not matches({"type": "and", "filters": [either, {"key": "x", "value": 1}]}, attrs)


def test_chunks_are_800_token_windows_overlapping_by_400() -> None:
    text = " ".join(f"w{i}" for i in range(1000))  # "w<n>" is two tokens with its space
    chunks = chunk_text(text)
    assert len(chunks) == 4 and chunks[0].startswith("w0 ") and chunks[1].startswith(" w200")
    assert text.startswith(chunks[0] + chunks[2]) and text.endswith(chunks[-1])


async def test_file_batches_are_searchable_too(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "batch"}) as client:
        store = await client.vector_stores.create(name="batch")
        files = [(name, text.encode(), "text/plain") for name, text in TEXTS.items()]
        await client.vector_stores.file_batches.upload_and_poll(store.id, files=files, poll_interval_ms=1)
        page = await client.vector_stores.search(store.id, query="blue whales")
        assert page.data[0].filename == "whales.txt"
    assert not app.violations


async def test_responses_file_search_returns_the_call_and_cites_the_right_file(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "responses"}) as client:
        store, ids = await filled_store(client, TEXTS)
        response = await client.responses.create(
            model="gpt-4o-mini",
            input="Where is the ring of fire?",
            tools=[{"type": "file_search", "vector_store_ids": [store]}],
            include=["file_search_call.results"],
        )
        call, message = response.output[0], response.output[1]
        assert call.type == "file_search_call" and call.id.startswith("fs_") and call.status == "completed"
        assert call.queries == ["Where is the ring of fire?"]
        assert call.results and call.results[0].file_id == ids["volcanoes.txt"]
        citation = message.content[0].annotations[0]
        assert (citation.type, citation.file_id, citation.filename) == (
            "file_citation",
            ids["volcanoes.txt"],
            "volcanoes.txt",
        )
    assert not app.violations


async def test_streamed_file_search_sends_the_call_events_in_order(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "stream"}) as client:
        store, ids = await filled_store(client, TEXTS)
        stream = await client.responses.create(
            model="gpt-4o-mini",
            input="Tell me about sourdough bread",
            tools=[{"type": "file_search", "vector_store_ids": [store]}],
            stream=True,
        )
        events = [event async for event in stream]
        kinds = [event.type for event in events]
        assert kinds[2:7] == [
            "response.output_item.added",
            "response.file_search_call.in_progress",
            "response.file_search_call.searching",
            "response.file_search_call.completed",
            "response.output_item.done",
        ]
        assert [event.sequence_number for event in events] == list(range(len(events)))
        added = [e for e in events if e.type == "response.output_text.annotation.added"]
        assert [e.annotation.file_id for e in added][:1] == [ids["bread.txt"]]
        assert kinds.index("response.output_text.annotation.added") < kinds.index("response.output_text.done")
        final = events[-1].response
        assert final.output[0].type == "file_search_call" and final.output[0].results is None
        assert final.output[1].content[0].annotations[0].file_id == ids["bread.txt"]
    assert not app.violations
