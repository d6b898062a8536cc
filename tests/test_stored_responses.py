"""Created responses can be retrieved and deleted; input token counts are exact."""

from __future__ import annotations

import httpx2
import openai
import pytest

from fakeai.app import FakeAI
from fakeai.producers.text.tokenizer import count_responses_input
from fakeai.testing import async_client


async def test_created_response_is_retrieved_then_deleted(app: FakeAI) -> None:
    client = async_client(app, headers={"x-fakeai-namespace": "stored-1"})
    created = await client.responses.create(model="gpt-4o", input="Tell me about tides.", max_output_tokens=20)
    fetched = await client.responses.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()
    assert await client.responses.delete(created.id) is None
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        again = await http.get(f"/v1/responses/{created.id}", headers={"x-fakeai-namespace": "stored-1"})
    assert again.status_code == 404  # deleted: OpenAI's 404, never a generated stand-in
    assert again.json()["error"]["message"] == f"No response found with id '{created.id}'."


async def test_streamed_response_is_stored_and_store_false_is_not(app: FakeAI) -> None:
    client = async_client(app, headers={"x-fakeai-namespace": "stored-2"})
    async with client.responses.stream(model="gpt-4o", input="Stream please", max_output_tokens=4000) as stream:
        final = await stream.get_final_response()
    assert (await client.responses.retrieve(final.id)).output_text == final.output_text
    ephemeral = await client.responses.create(model="gpt-4o", input="Do not keep", store=False, max_output_tokens=16)
    with pytest.raises(openai.NotFoundError):  # store: false -> never kept
        await client.responses.retrieve(ephemeral.id)


async def test_other_namespace_does_not_see_it(app: FakeAI) -> None:
    mine = async_client(app, headers={"x-fakeai-namespace": "stored-3"})
    theirs = async_client(app, headers={"x-fakeai-namespace": "stored-4"})
    created = await mine.responses.create(model="gpt-4o", input="private", max_output_tokens=16)
    with pytest.raises(openai.NotFoundError):
        await theirs.responses.retrieve(created.id)
    assert (await mine.responses.retrieve(created.id)).output_text == created.output_text


@pytest.mark.parametrize("given", ["Count these tokens, please.", [{"role": "user", "content": "Hello there"}]])
async def test_input_token_counts_are_exact(app: FakeAI, given: object) -> None:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.post(
            "/v1/responses/input_tokens", json={"model": "gpt-4o", "input": given, "instructions": "Be brief."}
        )
    assert response.status_code == 200
    assert response.json() == {
        "object": "response.input_tokens",
        "input_tokens": count_responses_input(given, "Be brief.", "gpt-4o"),  # type: ignore[arg-type]
    }


async def test_unknown_response_id_still_answers(client: openai.AsyncOpenAI) -> None:
    fetched = await client.responses.retrieve("resp_unknown123")
    assert fetched.id == "resp_unknown123"


async def test_stored_response_keeps_its_input_items_and_instructions(app: FakeAI) -> None:
    client = async_client(app, headers={"x-fakeai-namespace": "stored-5"})
    created = await client.responses.create(
        model="gpt-4o", input="Keep my words.", instructions="Be kind.", max_output_tokens=16
    )
    record = app.store.get("stored-5", "response", created.id)
    assert record is not None and record.meta["instructions"] == "Be kind."
    assert [item["content"] for item in record.meta["input"]] == [[{"type": "input_text", "text": "Keep my words."}]]
