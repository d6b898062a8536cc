"""The official SDK, with strict response validation on, parses what fakeai answers across its resources."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import openai
import pytest

from fakeai.app import FakeAI


def strict_client(app: FakeAI) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://fakeai.test")
    return openai.AsyncOpenAI(
        api_key="sk-test",
        base_url="http://fakeai.test/v1",
        http_client=http,
        max_retries=0,
        _strict_response_validation=True,
    )


CALLS: dict[str, Callable[[openai.AsyncOpenAI], Awaitable[Any]]] = {
    "models.list": lambda c: c.models.list(),
    "models.retrieve": lambda c: c.models.retrieve("gpt-4o"),
    "files.list": lambda c: c.files.list(),
    "files.retrieve": lambda c: c.files.retrieve("file-abc"),
    "files.content": lambda c: c.files.content("file-abc"),
    "batches.create": lambda c: c.batches.create(
        input_file_id="file-abc", endpoint="/v1/chat/completions", completion_window="24h"
    ),
    "batches.retrieve": lambda c: c.batches.retrieve("batch_abc"),
    "batches.cancel": lambda c: c.batches.cancel("batch_abc"),
    "vector_stores.create": lambda c: c.vector_stores.create(name="docs"),
    "vector_stores.list": lambda c: c.vector_stores.list(),
    "vector_stores.delete": lambda c: c.vector_stores.delete("vs_abc"),
    "vector_stores.files.list": lambda c: c.vector_stores.files.list("vs_abc"),
    "fine_tuning.jobs.create": lambda c: c.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-abc"),
    "fine_tuning.jobs.list_events": lambda c: c.fine_tuning.jobs.list_events("ftjob-abc"),
    "uploads.create": lambda c: c.uploads.create(bytes=10, filename="a.jsonl", mime_type="text/jsonl", purpose="batch"),
    "responses.retrieve": lambda c: c.responses.retrieve("resp_abc"),
    "responses.delete": lambda c: c.responses.delete("resp_abc"),
    "responses.input_items.list": lambda c: c.responses.input_items.list("resp_abc"),
    "conversations.create": lambda c: c.conversations.create(),
    "conversations.items.list": lambda c: c.conversations.items.list("conv_abc"),
    # strict mode checks the raw body before the SDK decodes base64, so ask for floats here
    "embeddings.create": lambda c: c.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], encoding_format="float"
    ),
    "moderations.create": lambda c: c.moderations.create(input="hello"),
    "completions.create": lambda c: c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi"),
    "chat.completions.create": lambda c: c.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    ),
    "responses.create": lambda c: c.responses.create(model="gpt-4o", input="hi"),
    "images.generate": lambda c: c.images.generate(
        model="gpt-image-1", prompt="a cat", size="1024x1024", quality="low"
    ),
    "containers.create": lambda c: c.containers.create(name="box"),
    "evals.list": lambda c: c.evals.list(),
}


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_sdk_parses_answer_strictly(name: str, app: FakeAI) -> None:
    result = await CALLS[name](strict_client(app))
    if name == "responses.delete":
        assert result is None  # the spec answers 200 with no body; the SDK returns None
        return
    assert result is not None
    if hasattr(result, "data"):
        assert isinstance(result.data, list)
