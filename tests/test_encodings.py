"""What the official SDK puts on the wire arrives intact: brackets, repeated parts, colons in ids."""

from __future__ import annotations

from typing import Any

from fakeai.app import FakeAI
from fakeai.parse.coerce import coerce, nest


def test_nest_brackets() -> None:
    pairs = [
        ("include[]", "a"),
        ("include[]", "b"),
        ("metadata[foo]", "bar"),
        ("expires_after[anchor]", "created_at"),
        ("plain", "1"),
        ("plain", "2"),
    ]
    assert nest(pairs) == {
        "include": ["a", "b"],
        "metadata": {"foo": "bar"},
        "expires_after": {"anchor": "created_at"},
        "plain": ["1", "2"],
    }


def test_coerce_by_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "on": {"type": "boolean"}, "x": {"type": ["number", "null"]}},
    }
    assert coerce({"n": "3", "on": "true", "x": "0.5"}, schema) == {"n": 3, "on": True, "x": 0.5}


async def test_file_upload_with_bracket_object(client: Any, app: FakeAI) -> None:
    seen: list[Any] = []
    app.events.subscribe(
        __import__("fakeai.events", fromlist=["RequestReceived"]).RequestReceived, lambda e: seen.append(e.ctx)
    )
    created = await client.files.create(
        file=("data.jsonl", b'{"a": 1}\n'), purpose="batch", expires_after={"anchor": "created_at", "seconds": 3600}
    )
    assert created.object == "file"
    ctx = seen[-1]
    assert ctx.body["expires_after"] == {"anchor": "created_at", "seconds": 3600}
    assert ctx.files["file"][0].data == b'{"a": 1}\n'


async def test_several_image_parts_arrive(client: Any, app: FakeAI) -> None:
    from fakeai.events import RequestReceived

    seen: list[Any] = []
    app.events.subscribe(RequestReceived, lambda e: seen.append(e.ctx))
    await client.images.edit(
        model="gpt-image-1",
        prompt="add a hat",
        image=[("a.png", b"\x89PNG1", "image/png"), ("b.png", b"\x89PNG2", "image/png")],
    )
    files = seen[-1].files["image"]
    assert [f.data for f in files] == [b"\x89PNG1", b"\x89PNG2"]


async def test_query_array_and_colon_path(client: Any, app: FakeAI) -> None:
    job = await client.fine_tuning.jobs.retrieve("ft:gpt-4o-mini:org:suffix:id")
    assert job.id == "ft:gpt-4o-mini:org:suffix:id"
    model = await client.models.retrieve("ft:gpt-4o-mini:my-org:custom:abc123")
    assert model.id == "ft:gpt-4o-mini:my-org:custom:abc123"


async def test_retrieve_echoes_path_id(client: Any) -> None:
    file = await client.files.retrieve("file-abc123")
    assert file.id == "file-abc123"
    deleted = await client.files.delete("file-abc123")
    assert deleted.deleted is True and deleted.id == "file-abc123"


async def test_v1_and_root_prefixes(app: FakeAI) -> None:
    import httpx2

    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        for url in ("/v1/models", "/models"):
            response = await http.get(url)
            assert response.status_code == 200 and response.json()["object"] == "list"
