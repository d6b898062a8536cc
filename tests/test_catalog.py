"""The model catalog: models.list/retrieve/delete, context windows, strict_models, user catalog files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openai
import pytest

from fakeai.app import FakeAI, create_app
from fakeai.catalog import Catalog, bundled_path
from fakeai.config import Settings
from fakeai.errors import ConfigError
from fakeai.store import Record
from fakeai.testing import async_client
from tests.conftest import make_app

USER_CATALOG = """\
models:
  - id: my-local-model
    owned_by: me
    created: 1700000000
    kind: chat
    context_window: 64
"""


def message(error: openai.APIStatusError) -> str:
    """The envelope's ``error.message`` as sent (the SDK's own message adds "Error code: ...")."""
    body = error.body
    return str(body.get("message") if isinstance(body, dict) else body)


async def test_list_has_gpt_4o_with_owner(client: openai.AsyncOpenAI) -> None:
    page = await client.models.list()
    by_id = {m.id: m for m in page.data}
    assert by_id["gpt-4o"].owned_by == "system" and by_id["gpt-4o"].created == 1715367049


async def test_retrieve_gpt_4o(client: openai.AsyncOpenAI) -> None:
    model = await client.models.retrieve("gpt-4o")
    assert (model.id, model.object, model.owned_by) == ("gpt-4o", "model", "system")


async def test_retrieve_unknown_is_model_not_found(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.models.retrieve("gpt-nonexistent")
    assert caught.value.code == "model_not_found" and caught.value.param == "model"
    assert message(caught.value) == "The model 'gpt-nonexistent' does not exist or you do not have access to it."


async def test_dated_snapshot_resolves(client: openai.AsyncOpenAI) -> None:
    model = await client.models.retrieve("gpt-4o-2024-08-06")
    assert (model.id, model.owned_by) == ("gpt-4o-2024-08-06", "system")


def test_lookup_fallbacks() -> None:
    catalog = Catalog.from_files([bundled_path()])
    resolved = {
        name: getattr(catalog.lookup(name), "id", None)
        for name in (
            "gpt-3.5-turbo-0125", "ft:gpt-4o-mini:org::abc", "ft:gpt-4o-mini-2024-07-18:org:suffix:id",
            "claude-3-5-haiku-20241022", "meta-llama/Llama-3.1-8B-Instruct", "GPT-4O", "nope-2024-01-01",
        )
    }  # fmt: skip
    assert resolved == {
        "gpt-3.5-turbo-0125": "gpt-3.5-turbo",
        "ft:gpt-4o-mini:org::abc": "gpt-4o-mini",
        "ft:gpt-4o-mini-2024-07-18:org:suffix:id": "gpt-4o-mini",
        "claude-3-5-haiku-20241022": "claude-3-5-haiku-latest",
        "meta-llama/Llama-3.1-8B-Instruct": "llama-3.1-8b-instruct",
        "GPT-4O": "gpt-4o",
        "nope-2024-01-01": None,
    }


async def test_fine_tuned_name_is_owned_by_its_org(client: openai.AsyncOpenAI) -> None:
    model = await client.models.retrieve("ft:gpt-4o-mini:my-org:custom:abc123")
    assert (model.id, model.owned_by) == ("ft:gpt-4o-mini:my-org:custom:abc123", "my-org")


async def test_stored_model_is_listed_retrieved_and_deleted(app: FakeAI) -> None:
    assert app.store is not None
    ident = "ft:gpt-4o-mini:acme::stored1"
    app.store.put(
        "models-ns", "model", ident, Record({"id": ident, "object": "model", "created": 1, "owned_by": "acme"})
    )
    client = async_client(app, headers={"x-fakeai-namespace": "models-ns"})
    assert ident in {m.id for m in (await client.models.list()).data}
    assert (await client.models.retrieve(ident)).owned_by == "acme"
    deleted = await client.models.delete(ident)
    assert (deleted.id, deleted.deleted) == (ident, True)
    assert ident not in {m.id for m in (await client.models.list()).data}


async def test_catalog_model_cannot_be_deleted(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        await client.models.delete("gpt-4o")
    with pytest.raises(openai.NotFoundError):
        await client.models.delete("no-such-model")


async def test_prompt_over_the_window_is_context_length_exceeded(client: openai.AsyncOpenAI) -> None:
    prompt = "hi " * 200_000  # ~200k tokens: over gpt-4o's 128000
    started = time.perf_counter()
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}])
    assert time.perf_counter() - started < 5
    assert caught.value.code == "context_length_exceeded" and caught.value.param == "messages"
    assert message(caught.value).startswith("This model's maximum context length is 128000 tokens. However, your")


async def test_prompt_plus_max_tokens_over_the_window(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="gpt-4-0613", messages=[{"role": "user", "content": "hi " * 6000}], max_tokens=4000
        )
    assert "in the messages, 4000 in the completion)" in message(caught.value)


async def test_completions_and_responses_check_the_window(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as legacy:
        await client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi " * 5000)
    with pytest.raises(openai.BadRequestError) as responses:
        await client.responses.create(model="gpt-4", input="hi " * 9000)
    assert (legacy.value.code, legacy.value.param) == ("context_length_exceeded", "prompt")
    assert (responses.value.code, responses.value.param) == ("context_length_exceeded", "input")


LONG = "hi " * 200_000  # ~200k tokens: over gpt-4o's 128000 on every text endpoint, streamed or not


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("endpoint", "param", "wording"),
    [
        ("chat", "messages", "This model's maximum context length is 128000 tokens. However, your messages resulted"),
        ("completions", "prompt", "This model's maximum context length is 128000 tokens, however you requested"),
        ("responses", "input", "Your input exceeds the context window of this model."),
    ],
)
async def test_a_200k_prompt_to_gpt_4o_is_rejected_everywhere(
    client: openai.AsyncOpenAI, endpoint: str, param: str, wording: str, stream: bool
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        if endpoint == "chat":
            await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": LONG}], stream=stream
            )
        elif endpoint == "completions":
            await client.completions.create(model="gpt-4o", prompt=LONG, stream=stream)
        else:
            await client.responses.create(model="gpt-4o", input=LONG, stream=stream)
    assert (caught.value.status_code, caught.value.code, caught.value.param) == (400, "context_length_exceeded", param)
    assert message(caught.value).startswith(wording)


async def test_unknown_models_are_accepted_by_default(client: openai.AsyncOpenAI) -> None:
    answer = await client.chat.completions.create(model="my-own-model", messages=[{"role": "user", "content": "hi"}])
    assert answer.model == "my-own-model"


async def test_strict_models_rejects_unknown_models() -> None:
    client = async_client(make_app(strict_models=True))
    messages: list[Any] = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="my-own-model", messages=messages)
    assert caught.value.code == "model_not_found"
    assert message(caught.value) == "The model `my-own-model` does not exist or you do not have access to it."
    with pytest.raises(openai.NotFoundError):
        await client.embeddings.create(model="my-embedder", input="hi")
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("ft:gpt-4o-mini:org::unknown")
    assert (await client.chat.completions.create(model="gpt-4o-2024-08-06", messages=messages)).choices


def test_bad_user_catalog_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "models.yaml"
    bad.write_text(USER_CATALOG.replace("    context_window: 64\n", "    context_windw: 64\n"))
    with pytest.raises(ConfigError) as caught:
        create_app(Settings(models=(str(bad),)))
    message = str(caught.value)
    assert message.startswith(f"{bad}:6:") and "did you mean 'context_window'" in message


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "models.yaml"
    bad.write_text("models:\n  - id: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"^{bad}:\d+: invalid YAML"):
        Catalog.from_files([bad])


async def test_user_catalog_entry_is_listed_and_has_its_window(tmp_path: Path) -> None:
    mine = tmp_path / "models.yaml"
    mine.write_text(USER_CATALOG)
    client = async_client(create_app(Settings(models=(str(mine),), validate_responses="strict")))
    assert "my-local-model" in {m.id for m in (await client.models.list()).data}
    with pytest.raises(openai.BadRequestError, match="maximum context length is 64 tokens"):
        await client.chat.completions.create(model="my-local-model", messages=[{"role": "user", "content": "hi " * 80}])
