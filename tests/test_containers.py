"""Containers and their files through the official SDK: the resource model keeps them (``container`` and
``container.file`` in spec/resources/openai.yaml), a file keeps the uploaded bytes, and every answer is
self-checked against the spec."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from fakeai.app import FakeAI, create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings
from fakeai.testing import async_client
from tests.conftest import make_app

UNKNOWN = "cntr_0123456789abcdefABCDEF"


@pytest.fixture
def app() -> Iterator[FakeAI]:
    application = make_app(lifecycle_scale=0)
    yield application
    assert not application.violations, application.violations


async def test_a_created_container_is_running_and_is_what_retrieve_and_list_see(app: FakeAI) -> None:
    async with async_client(app) as client:
        box = await client.containers.create(name="box", expires_after={"anchor": "last_active_at", "minutes": 5})
        other = await client.containers.create(name="other")
        assert box.id.startswith("cntr_") and box.id != other.id
        assert (box.object, box.name, box.status, box.last_active_at) == ("container", "box", "running", box.created_at)
        assert box.expires_after is not None and box.expires_after.minutes == 5
        assert other.expires_after is not None and other.expires_after.minutes == 20  # the API's default
        assert (await client.containers.retrieve(box.id)).model_dump() == box.model_dump()
        assert [c.id for c in (await client.containers.list()).data] == [other.id, box.id]
        await client.containers.delete(box.id)
        with pytest.raises(openai.NotFoundError) as caught:
            await client.containers.retrieve(box.id)
        assert caught.value.body["message"] == f"No container found with id '{box.id}'."  # type: ignore[index]
        assert [c.id for c in (await client.containers.list()).data] == [other.id]


async def test_uploaded_files_are_listed_and_downloaded_byte_exact(app: FakeAI) -> None:
    async with async_client(app) as client:
        box = await client.containers.create(name="box")
        first = await client.containers.files.create(box.id, file=("a.txt", b"hello", "text/plain"))
        data = bytes(range(256)) * 3
        second = await client.containers.files.create(box.id, file=("b.bin", data, "application/octet-stream"))
        assert first.id.startswith("cfile_") and first.id not in (box.id, second.id)
        assert (first.container_id, first.path, first.bytes, first.source) == (box.id, "/mnt/data/a.txt", 5, "user")
        assert (second.path, second.bytes) == ("/mnt/data/b.bin", len(data))
        assert first.created_at >= box.created_at
        assert (
            await client.containers.files.retrieve(first.id, container_id=box.id)
        ).model_dump() == first.model_dump()
        listed = (await client.containers.files.list(box.id, order="asc")).data
        assert [f.id for f in listed] == [first.id, second.id]
        content = await client.containers.files.content.retrieve(first.id, container_id=box.id)
        assert content.read() == b"hello"
        assert (await client.containers.files.content.retrieve(second.id, container_id=box.id)).read() == data


async def test_a_file_id_copies_the_uploaded_file_into_the_container(app: FakeAI) -> None:
    async with async_client(app) as client:
        uploaded = await client.files.create(file=("notes.md", b"# notes\n"), purpose="user_data")
        box = await client.containers.create(name="box", file_ids=[uploaded.id])
        copied = (await client.containers.files.list(box.id)).data
        assert [(f.path, f.bytes) for f in copied] == [("/mnt/data/notes.md", 8)]
        made = await client.containers.files.create(box.id, file_id=uploaded.id)
        assert (made.path, made.bytes, made.container_id) == ("/mnt/data/notes.md", 8, box.id)
        assert (await client.containers.files.content.retrieve(made.id, container_id=box.id)).read() == b"# notes\n"
        with pytest.raises(openai.NotFoundError):
            await client.containers.files.create(box.id, file_id="file-AAAAAAAAAAAAAAAAAAAAAA")
        bare = await client.containers.files.create(box.id)  # the spec requires neither a file nor a file_id
        assert bare.bytes == 0 and bare.id.startswith("cfile_")
        assert (await client.containers.files.content.retrieve(bare.id, container_id=box.id)).read() == b""


async def test_25_files_page_with_auto_pagination(app: FakeAI) -> None:
    async with async_client(app) as client:
        box = await client.containers.create(name="many")
        made = [(await client.containers.files.create(box.id, file=(f"f{i}.txt", b"x" * i))).id for i in range(25)]
        page = await client.containers.files.list(box.id, limit=10, order="asc")
        assert page.has_more and [f.id for f in page.data] == made[:10]
        assert [f.id async for f in client.containers.files.list(box.id, limit=10, order="asc")] == made
        assert (await client.containers.files.list((await client.containers.create(name="empty")).id)).data == []


async def test_a_deleted_file_and_the_files_of_a_deleted_or_unknown_container_are_404(app: FakeAI) -> None:
    async with async_client(app) as client:
        box = await client.containers.create(name="box")
        gone = await client.containers.files.create(box.id, file=("gone.txt", b"bye"))
        kept = await client.containers.files.create(box.id, file=("kept.txt", b"hi"))
        await client.containers.files.delete(gone.id, container_id=box.id)
        with pytest.raises(openai.NotFoundError) as caught:
            await client.containers.files.retrieve(gone.id, container_id=box.id)
        assert caught.value.body["message"] == f"No file found with id '{gone.id}'."  # type: ignore[index]
        with pytest.raises(openai.NotFoundError):
            await client.containers.files.content.retrieve(gone.id, container_id=box.id)
        assert [f.id for f in (await client.containers.files.list(box.id)).data] == [kept.id]
        await client.containers.delete(box.id)
        with pytest.raises(openai.NotFoundError):
            await client.containers.files.retrieve(kept.id, container_id=box.id)
        with pytest.raises(openai.NotFoundError):
            await client.containers.files.list(box.id)
        with pytest.raises(openai.NotFoundError):
            await client.containers.files.create(UNKNOWN, file=("a.txt", b"a"))
        with pytest.raises(openai.NotFoundError):
            await client.containers.files.list(UNKNOWN)
    assert app.store.entries("", "container.file") == []  # deleting the container dropped its files


async def test_a_created_container_named_in_code_interpreter_is_the_call_s_container(app: FakeAI) -> None:
    async with async_client(app) as client:
        box = await client.containers.create(name="box")
        answer = await client.responses.create(
            model="gpt-4o",
            input="Calculate 2 + 3 with python",
            tools=[{"type": "code_interpreter", "container": box.id}],
            tool_choice="required",
        )
        calls = [item for item in answer.output if item.type == "code_interpreter_call"]
        assert [call.container_id for call in calls] == [box.id]


async def test_adding_and_deleting_files_moves_last_active_at() -> None:
    clock = FakeClock()
    app = create_app(Settings(validate_responses="strict"), clock=clock)
    async with async_client(app) as client:
        box = await client.containers.create(name="box")
        assert box.last_active_at == int(clock.now())
        clock.elapsed += 30
        made = await client.containers.files.create(box.id, file=("a.txt", b"a"))
        assert made.created_at == int(clock.now())
        assert (await client.containers.retrieve(box.id)).last_active_at == int(clock.now())
        clock.elapsed += 30
        await client.containers.files.delete(made.id, container_id=box.id)
        assert (await client.containers.retrieve(box.id)).last_active_at == int(clock.now())
        assert (await client.containers.retrieve(box.id)).created_at == box.created_at
    assert not app.violations
