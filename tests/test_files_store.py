"""Uploaded files can be retrieved, listed, downloaded and deleted; namespaces keep tests apart."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from fakeai.app import FakeAI
from fakeai.store import Record, ResourceStore
from fakeai.testing import async_client


async def test_upload_then_retrieve_list_download_delete(app: FakeAI) -> None:
    client = async_client(app, headers={"x-fakeai-namespace": "files-1"})
    created = await client.files.create(file=("notes.jsonl", b'{"a": 1}\n{"b": 2}\n'), purpose="batch")
    assert created.filename == "notes.jsonl" and created.bytes == 18 and created.purpose == "batch"
    again = await client.files.retrieve(created.id)
    assert again.model_dump() == created.model_dump()
    content = await client.files.content(created.id)
    assert content.read() == b'{"a": 1}\n{"b": 2}\n'
    listed = [f.id async for f in client.files.list()]
    assert listed == [created.id]
    deleted = await client.files.delete(created.id)
    assert deleted.deleted is True and deleted.id == created.id
    with pytest.raises(openai.NotFoundError) as gone:  # deleted: OpenAI's 404
        await client.files.retrieve(created.id)
    assert gone.value.status_code == 404 and created.id in gone.value.message


async def test_list_filters_and_paginates(app: FakeAI) -> None:
    client = async_client(app, headers={"x-fakeai-namespace": "files-2"})
    ids = []
    for index, purpose in enumerate(["batch", "assistants", "batch"]):
        ids.append((await client.files.create(file=(f"f{index}.txt", b"x" * (index + 1)), purpose=purpose)).id)
    batch = [f.id async for f in client.files.list(purpose="batch", order="asc")]
    assert batch == [ids[0], ids[2]]
    first_page = await client.files.list(order="asc", limit=2)
    assert [f.id for f in first_page.data] == ids[:2] and first_page.has_more is True
    rest = await client.files.list(order="asc", limit=2, after=ids[1])
    assert [f.id for f in rest.data] == ids[2:]
    unknown = await client.files.list(after="file-nope")
    assert unknown.data == [] and unknown.has_more is False
    nothing = await client.files.list(purpose="vision")
    assert nothing.data == []


async def test_namespaces_do_not_see_each_other(app: FakeAI) -> None:
    one = async_client(app, headers={"x-fakeai-namespace": "ns-a"})
    two = async_client(app, headers={"x-fakeai-namespace": "ns-b"})
    created = await one.files.create(file=("a.txt", b"secret"), purpose="user_data")
    seen_by_two: Any = await two.files.content(created.id)
    assert seen_by_two.read() != b"secret"


def test_store_is_bounded_by_items_and_bytes() -> None:
    store = ResourceStore(max_items=3, max_bytes=40)  # each record below: 11 bytes of body JSON + 2 of data
    for index in range(5):
        store.put("", "file", f"f{index}", Record({"id": f"f{index}"}, b"xx"))
    assert len(store) == 3 and store.get("", "file", "f0") is None and store.bytes == 39
    store.put("", "file", "big", Record({"id": "big"}, b"x" * 30))  # 42 bytes: everything older goes
    assert [r.body["id"] for r in store.items("", "file")] == ["big"]  # the newest always stays
    store.delete("", "file", "big")
    assert store.bytes == 0
    store.clear()
    assert len(store) == 0


def test_bodies_count_against_the_byte_budget() -> None:
    """Stored Responses have no payload, only bodies: 1,000 of 10 kB in a 1 MB store keep about 100."""
    store = ResourceStore(max_items=10_000, max_bytes=1_000_000)
    for index in range(1000):
        store.put("", "response", f"resp_{index}", Record({"id": f"resp_{index}", "output": "x" * 10_000}))
    assert 95 <= len(store) <= 100 and store.bytes <= 1_000_000
    assert store.get("", "response", "resp_999") is not None and store.get("", "response", "resp_0") is None


async def test_a_purpose_the_documents_file_object_lacks_is_stored_as_one_it_has() -> None:
    """OpenAI's 2025-04-29 document accepts ``user_data`` uploads but its ``OpenAIFile.purpose`` enum lacks it: the
    answer (self-checked strictly) keeps the object valid with its first purpose; the current document keeps it."""
    from fakeai.app import create_app
    from fakeai.config import Settings
    from tests.conftest import shared_spec

    old = create_app(Settings(spec=str(shared_spec("openai-2025-04-29.yaml")), validate_responses="strict"))
    current = create_app(Settings(validate_responses="strict"))
    for app, purpose in ((old, "assistants"), (current, "user_data")):
        client = async_client(app)
        created = await client.files.create(file=("a.txt", b"hello"), purpose="user_data")
        assert created.purpose == purpose
        assert (await client.files.retrieve(created.id)).purpose == purpose
        assert not app.violations
