"""``make_app`` shares one app per settings across tests: nothing a test does may reach the next one.

The first two tests run in this order (one file goes to one worker: ``--dist loadfile``): the second fails
if the file the first uploaded, or its requests, survived the reset between them.
"""

from __future__ import annotations

import httpx2

from fakeai.app import FakeAI
from fakeai.testing import async_client
from tests.conftest import make_app, reset

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}


def gpu(app: FakeAI) -> dict[str, object]:
    return next(dict(s.state()) for s in app.simulators if s.name == "gpu")


async def filenames(app: FakeAI) -> list[str]:
    return [f.filename for f in (await async_client(app).files.list()).data]


async def test_a_test_leaves_a_file_a_journal_and_counts_behind() -> None:
    client = async_client(make_app())
    await client.files.create(file=("notes.jsonl", b'{"a": 1}\n'), purpose="batch")
    await client.chat.completions.create(**CHAT)
    app = make_app()
    assert "notes.jsonl" in await filenames(app)
    assert len(app.journal) >= 3 and gpu(app)["requests_answered"] >= 2


async def test_the_next_test_sees_none_of_it() -> None:
    app = make_app()
    assert len(app.journal) == 0
    assert gpu(app)["requests_answered"] == 0
    assert b"fakeai_requests_total{" not in app.metrics.render()
    assert "notes.jsonl" not in await filenames(app)


async def test_reset_forgets_store_journal_metrics_and_simulators() -> None:
    app = make_app()
    client = async_client(app)
    await client.files.create(file=("notes.jsonl", b'{"a": 1}\n'), purpose="batch")
    await client.chat.completions.create(**CHAT)
    assert gpu(app)["generated_tokens"] > 0 and b"fakeai_requests_total{" in app.metrics.render()
    await reset(app)
    assert len(app.journal) == 0 and gpu(app)["generated_tokens"] == 0
    assert b"fakeai_requests_total{" not in app.metrics.render()
    assert "notes.jsonl" not in await filenames(app)


async def test_an_app_changed_beyond_reset_is_not_shared_again() -> None:
    app = make_app(seed=90210)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://fakeai.test") as http:
        assert (await http.put("/_fakeai/latency", json={"ttft": "5"})).status_code == 200
    assert latency(app)["ttft"] == "5"


def test_so_the_next_test_gets_a_new_one() -> None:
    assert latency(make_app(seed=90210))["ttft"] == "0"


def latency(app: FakeAI) -> dict[str, object]:
    return next(dict(s.state()) for s in app.simulators if s.name == "latency")
