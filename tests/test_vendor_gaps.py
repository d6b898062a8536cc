"""Vendor specs beyond OpenAI's (issue 10): bindings of renamed operations in merged specs, scripted keys from the
bindings in ``fakeai check``, Anthropic prompt caching, Cohere rerank, Azure's error envelope, drift between named
specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import jsonschema
import openai
import pytest

from fakeai.app import FakeAI
from fakeai.cli import main
from fakeai.producers.bindings import envelope_of, prompt_fields
from fakeai.producers.endpoints.rerank import relevance, scores
from fakeai.scenario.check import check_file
from fakeai.spec.load import load_document
from fakeai.spec.operation import iter_operations
from fakeai.testing import async_client
from tests.conftest import make_app

cohere = pytest.importorskip("cohere")
LONG = " ".join(f"Fact {i}: the sea near harbour {i} is calm at dawn." for i in range(400))  # ~6k tokens


def http(app: FakeAI) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://fakeai.test")


def operations(spec: str) -> dict[str, Any]:
    return {op.operation_id: op for op in iter_operations(load_document(spec))}


# ---- 1. a renamed operation of a merged spec keeps its behaviour ------------------------------------------


async def test_groq_chat_merged_with_openai_answers_like_a_model() -> None:
    app = make_app(spec=("openai", "groq"))
    assert app.operations["groq.createChatCompletion"].sources[0] == "llm"
    client = async_client(app, base_path="/openai/v1")
    answer = await client.chat.completions.create(
        model="llama-3.3-70b-versatile", messages=[{"role": "user", "content": "hi"}], max_tokens=7
    )
    assert answer.object == "chat.completion" and answer.usage is not None and answer.usage.completion_tokens == 7
    assert not app.violations


def test_merged_specs_keep_each_vendors_error_envelope() -> None:
    document = make_app(spec=("openai", "anthropic")).document
    ops = {op.operation_id: op for op in iter_operations(document)}
    assert envelope_of(ops["listModels"], document) == "openai"
    assert envelope_of(ops["models_list"], document) == "anthropic"


# ---- 2. scripted keys come from the bindings ---------------------------------------------------------------


def test_check_accepts_a_scripted_anthropic_message(tmp_path: Path) -> None:
    scenario = tmp_path / "anthropic.yaml"
    scenario.write_text("rules:\n  - {match: {operation: messages_post}, respond: {content: Hello}}\n")
    assert check_file(str(scenario), load_document("anthropic")) == []
    assert main(["check", "--spec", "anthropic", str(scenario)]) == 0


def test_check_rejects_a_key_the_binding_does_not_declare_at_its_line(tmp_path: Path) -> None:
    scenario = tmp_path / "refusal.yaml"
    scenario.write_text("rules:\n  - {match: {operation: messages_post}, respond: {content: ok}}\n"
                        "  - {match: {operation: messages_post}, respond: {refusal: 'no'}}\n")  # fmt: skip
    [problem] = check_file(str(scenario), load_document("anthropic"))
    assert f"{scenario}:3:" in problem and "refusal cannot answer messages_post" in problem


# ---- 3. the prompt cache sees Anthropic prompts ------------------------------------------------------------


def test_prompt_fields_come_from_the_behaviour() -> None:
    assert prompt_fields(operations("anthropic")["messages_post"]) == ("tools", "system", "messages")
    assert prompt_fields(operations("openai")["createResponse"]) == ("instructions", "tools", "input")
    assert prompt_fields(operations("openai")["listModels"]) == ()


async def test_repeated_long_anthropic_prompt_reads_the_cache() -> None:
    app = make_app(spec="anthropic")
    client = anthropic.AsyncAnthropic(
        base_url="http://fakeai.test",
        api_key="x",
        http_client=httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)),
        max_retries=0,
    )
    system: Any = [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
    usages = [
        (await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=5, system=system, messages=[{"role": "user", "content": "hi"}]
        )).usage
        for _ in range(2)
    ]  # fmt: skip
    assert usages[0].cache_read_input_tokens == 0 and (usages[0].cache_creation_input_tokens or 0) > 1024
    assert (usages[1].cache_read_input_tokens or 0) > 1024
    assert usages[1].input_tokens == usages[0].input_tokens > 0  # the turn after the breakpoint is not cached
    assert not app.violations


# ---- 4. Cohere rerank -----------------------------------------------------------------------------------------

DOCUMENTS = ["Berlin is the capital of Germany.", "The sea is blue today.", "Paris is the capital of France."]


def test_bm25_ranks_shared_words_first_and_stays_in_unit_range() -> None:
    query = "capital of France"
    ranked = [relevance(s, query, d) for s, d in zip(scores(query, DOCUMENTS), DOCUMENTS, strict=True)]
    assert max(range(3), key=ranked.__getitem__) == 2 and ranked[1] < 0.01 < ranked[0] < ranked[2] <= 1.0


def cohere_client(app: FakeAI, version: int) -> Any:
    kind = cohere.AsyncClientV2 if version == 2 else cohere.AsyncClient
    transport = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    return kind(api_key="x", base_url="http://fakeai.test", httpx_client=transport)


async def test_cohere_v2_rerank_through_the_sdk() -> None:
    app = make_app(spec="cohere")
    assert app.operations["rerankv2"].sources[0] == "llm"
    assert app.operations["chat"].sources[0] != "llm"  # Cohere's operationId "chat" is not OpenAI's chat behaviour
    answer = await cohere_client(app, 2).rerank(
        model="rerank-v3.5", query="capital of France", documents=DOCUMENTS, top_n=2
    )
    assert [r.index for r in answer.results] == [2, 0]
    assert answer.results[0].relevance_score > answer.results[1].relevance_score
    assert answer.meta is not None and answer.meta.billed_units is not None
    assert answer.meta.billed_units.search_units == 1
    assert not app.violations


async def test_cohere_v1_rerank_returns_documents() -> None:
    app = make_app(spec="cohere")
    answer = await cohere_client(app, 1).rerank(
        model="rerank-v3.5", query="blue sea", documents=DOCUMENTS, return_documents=True
    )
    assert answer.results[0].index == 1 and len(answer.results) == 3
    assert answer.results[0].document is not None and answer.results[0].document.text == DOCUMENTS[1]
    assert not app.violations


# ---- 5. Azure's error envelope -------------------------------------------------------------------------------


def azure_error_schema() -> Any:
    document = load_document("azure")
    return {**document["components"]["schemas"]["errorResponse"], "components": document["components"]}


async def test_azure_missing_api_version_is_resource_not_found() -> None:
    app = make_app(spec="azure")
    async with http(app) as client:
        answer = await client.post(
            "/openai/deployments/gpt-4o/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
        )
    assert (answer.status_code, answer.json()) == (404, {"error": {"code": "404", "message": "Resource not found"}})
    jsonschema.validate(answer.json(), azure_error_schema())


async def test_azure_sdk_errors_validate_against_azure_error_schema() -> None:
    app = make_app(spec="azure")
    client = openai.AsyncAzureOpenAI(
        azure_endpoint="http://fakeai.test",
        api_key="x",
        api_version="2024-10-21",
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=app)),
        max_retries=0,
    )
    with pytest.raises(openai.BadRequestError) as raised:
        await client.chat.completions.create(model="gpt-4o", messages=[])
    body = raised.value.response.json()
    assert body["error"]["param"] == "messages" and None not in body["error"].values()
    jsonschema.validate(body, azure_error_schema())


async def test_azure_unknown_url_is_resource_not_found() -> None:
    async with http(make_app(spec="azure")) as client:
        answer = await client.get("/openai/nothing-here", params={"api-version": "2024-10-21"})
    assert (answer.status_code, answer.json()) == (404, {"error": {"code": "404", "message": "Resource not found"}})


# ---- 5b. errors no operation answers, in the vendor's envelope ---------------------------------------------


def anthropic_error_schema(app: FakeAI) -> Any:
    return {**app.document["components"]["schemas"]["ErrorResponse"], "components": app.document["components"]}


async def test_anthropic_server_answers_unknown_urls_methods_and_bad_json_in_its_envelope() -> None:
    app = make_app(spec="anthropic")
    client = anthropic.AsyncAnthropic(
        base_url="http://fakeai.test", api_key="x", max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)),
    )  # fmt: skip
    with pytest.raises(anthropic.NotFoundError) as missing:
        await client.get("/v1/no-such-thing", cast_to=httpx2.Response)
    with pytest.raises(anthropic.BadRequestError) as empty:
        await client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[])
    async with http(app) as raw:
        method = await raw.patch("/v1/messages", headers={"x-api-key": "x"})
        broken = await raw.post("/v1/messages", content=b"{not json", headers={"x-api-key": "x"})
    bodies = [missing.value.response.json(), empty.value.response.json(), method.json(), broken.json()]
    assert [b["error"]["type"] for b in bodies] == [
        "not_found_error", "invalid_request_error", "invalid_request_error", "invalid_request_error",
    ]  # fmt: skip
    assert empty.value.body["error"]["message"] == "messages: at least one message is required"
    assert "OpenAI" not in broken.json()["error"]["message"] and "not valid JSON" in broken.json()["error"]["message"]
    assert method.status_code == 405 and method.headers["allow"] == "POST"
    for body in bodies:
        jsonschema.validate(body, anthropic_error_schema(app))
        assert body["request_id"].startswith("req_")


async def test_merged_servers_pick_the_envelope_of_the_nearest_paths() -> None:
    app = make_app(spec=("openai", "anthropic"))
    async with http(app) as raw:
        near_messages = await raw.get("/v1/messages/batches/x/y/z", headers={"x-api-key": "x"})
        near_chat = await raw.get("/v1/chat/completions/x/y/z", headers={"authorization": "Bearer x"})
        nowhere = await raw.get("/v2/anything", headers={"authorization": "Bearer x"})
    assert near_messages.status_code == near_chat.status_code == nowhere.status_code == 404
    assert near_messages.json()["type"] == "error" and near_messages.json()["error"]["type"] == "not_found_error"
    assert near_chat.json()["error"]["code"] == "unknown_url" and "type" not in near_chat.json()
    assert nowhere.json()["error"]["code"] == "unknown_url"


# ---- 6. drift between named specs ----------------------------------------------------------------------------


def test_drift_compares_two_versions_of_a_named_vendor_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drift", "azure", "azure-preview", "--fail-on", "none"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fakeai drift: azure (") and "-> azure-preview (" in out
    assert main(["drift", "anthropic", "anthropic"]) == 0


# ---- 7. the OpenAI-compatible overlays through openai.OpenAI(base_url=<their base path>) ---------------------

OVERLAYS = {  # name -> (the server path of its servers[0], a model id of that vendor)
    "groq": ("/openai/v1", "llama-3.3-70b-versatile"),
    "deepseek": ("/v1", "deepseek-chat"),
    "xai": ("/v1", "grok-3"),
    "together": ("/v1", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
}


@pytest.mark.parametrize("name", sorted(OVERLAYS))
async def test_overlay_chat_and_stream_with_usage_through_the_openai_sdk(name: str) -> None:
    base_path, model = OVERLAYS[name]
    app = make_app(spec=name)
    client = async_client(app, base_path=base_path)
    user: Any = [{"role": "user", "content": "hi"}]
    answer = await client.chat.completions.create(model=model, messages=user, max_tokens=6)
    stream = await client.chat.completions.create(
        model=model, messages=user, max_tokens=6, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert answer.model == model and answer.usage is not None and answer.usage.completion_tokens == 6
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == answer.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
    assert not app.violations


# ---- 8. fakeai drift and fakeai check for every named spec ---------------------------------------------------

CHAT_LIKE = {  # named spec -> an operation of it a scenario can script
    **dict.fromkeys(["openai", "groq", "deepseek", "xai", "together"], "createChatCompletion"),
    "anthropic": "messages_post",
    "azure": "ChatCompletions_Create",
    "azure-preview": "ChatCompletions_Create",
    "cohere": "rerankv2",
}


@pytest.mark.parametrize("name", sorted(CHAT_LIKE))
def test_drift_and_check_work_for_every_named_spec(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["drift", name, name]) == 0
    assert "breaking: 0" in capsys.readouterr().out
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(f"rules:\n  - {{match: {{operation: {CHAT_LIKE[name]}}}, respond: {{error: {{status: 429}}}}}}\n")
    bad.write_text(f"rules:\n  - {{match: {{operation: {CHAT_LIKE[name]}x}}, respond: {{error: {{status: 429}}}}}}\n")
    assert main(["check", "--spec", name, str(good)]) == 0
    assert main(["check", "--spec", name, str(bad)]) == 1
    assert f"did you mean '{CHAT_LIKE[name]}'" in capsys.readouterr().err


# ---- 9. what a bindings file adds to answers --------------------------------------------------------------------


def test_adds_and_like_are_validated_at_their_line(tmp_path: Path) -> None:
    from fakeai.errors import SpecError
    from fakeai.producers.bindings import _put, load_file

    path = tmp_path / "b.yaml"
    path.write_text("applies_to: {title: [X]}\noperations:\n  op: {behaviour: images, like: createImage, addz: {}}\n")
    with pytest.raises(SpecError, match=rf"{path}:3:\d+: .*unknown key 'addz' \(did you mean 'adds'\?\)"):
        load_file(path)
    path.write_text("applies_to: {title: [X]}\noperations:\n  op: {behaviour: chat, adds: {'choices[0].x': 1}}\n")
    with pytest.raises(SpecError, match=rf"{path}:3:\d+: "):
        load_file(path)
    body: dict[str, Any] = {"choices": [{"index": 0}, {"index": 1}], "usage": {}}
    _put(body, ("choices[*]", "filter"), {"ok": True})
    _put(body, ("missing", "x"), 1)  # a path the answer does not have adds nothing
    assert body == {
        "choices": [{"index": 0, "filter": {"ok": True}}, {"index": 1, "filter": {"ok": True}}],
        "usage": {},
    }
