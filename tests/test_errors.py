"""Bad input gets OpenAI's error envelope with the right status, and the SDK raises the right class."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest

from fakeai.app import FakeAI
from fakeai.testing import async_client
from tests.conftest import make_app

ENVELOPE_KEYS = {"message", "type", "param", "code"}


async def raw(app: FakeAI, method: str, url: str, **kwargs: Any) -> httpx2.Response:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        return await http.request(method, url, **kwargs)


def envelope(response: httpx2.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == ENVELOPE_KEYS
    error: dict[str, Any] = body["error"]
    return error


async def test_unknown_path_is_404(app: FakeAI) -> None:
    response = await raw(app, "GET", "/v1/no/such/thing")
    assert response.status_code == 404
    assert envelope(response)["message"] == "Invalid URL (GET /v1/no/such/thing)"


async def test_wrong_method_is_405(app: FakeAI) -> None:
    response = await raw(app, "DELETE", "/v1/chat/completions")
    assert response.status_code == 405
    assert envelope(response)["type"] == "invalid_request_error"


async def test_malformed_json_is_400(app: FakeAI) -> None:
    response = await raw(
        app,
        "POST",
        "/v1/chat/completions",
        content=b'{"model": "gpt-4o",',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "could not parse the JSON body" in envelope(response)["message"]


async def test_missing_required_field_names_param(client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt-4o", messages=[], temperature=9)
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] in ("messages", "temperature")


async def test_wrong_type_message_and_param(app: FakeAI) -> None:
    response = await raw(
        app,
        "POST",
        "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"},
    )
    error = envelope(response)
    assert response.status_code == 400
    assert error["param"] == "temperature"
    assert "expected a decimal" in error["message"] and "got a string" in error["message"]


async def test_enum_violation_lists_supported_values(app: FakeAI) -> None:
    response = await raw(
        app,
        "POST",
        "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "mega"},
    )
    error = envelope(response)
    assert error["param"] == "reasoning_effort"
    assert "'mega'" in error["message"] and "'low'" in error["message"]


LOOKUP = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


async def test_responses_function_tool_without_strict_is_accepted(client: Any) -> None:
    """langchain (use_responses_api), instructor and openai-agents send function tools without ``strict``."""
    tool = {"type": "function", "name": "lookup", "description": "Look up a city.", "parameters": LOOKUP}
    response = await client.responses.create(model="gpt-4o", input="Weather in Paris?", tools=[tool])
    assert [item.type for item in response.output] == ["function_call"]


async def test_union_error_reports_the_branch_the_tag_names(client: Any) -> None:
    """A function tool missing a required field is told so, not that 'function' is not 'computer'."""
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="gpt-4o", input="hi", tools=[{"type": "function", "name": "lookup"}])
    body = caught.value.body
    assert isinstance(body, dict)
    assert (body["message"], body["param"]) == (
        "Missing required parameter: 'tools[0].parameters'.",
        "tools[0].parameters",
    )


async def test_union_error_with_an_unknown_tag_lists_every_branch_tag(client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="gpt-4o", input="hi", tools=[{"type": "telepathy"}])
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "tools[0].type"
    assert body["message"].startswith("Invalid value: 'telepathy'. Supported values are: 'function', 'file_search',")
    assert "'computer'" in body["message"] and "'mcp'" in body["message"]


async def test_invalid_query_type_is_400(app: FakeAI) -> None:
    response = await raw(app, "GET", "/v1/files", params={"limit": "many"})
    assert response.status_code == 400
    assert envelope(response)["param"] == "limit"


async def test_body_over_limit_is_413() -> None:
    app = make_app(max_body_bytes=1000)
    response = await raw(app, "POST", "/v1/embeddings", json={"model": "m", "input": "x" * 2000})
    assert response.status_code == 413
    assert envelope(response)["code"] == "request_too_large"


async def test_api_keys_enforced_with_openai_wording() -> None:
    app = make_app(api_keys=("sk-good",))
    with pytest.raises(openai.AuthenticationError) as caught:
        await async_client(app, api_key="sk-wrong-key-123").models.list()
    assert "Incorrect API key provided" in str(caught.value)
    assert caught.value.body["code"] == "invalid_api_key"  # type: ignore[index]
    missing = await raw(app, "GET", "/v1/models")
    assert missing.status_code == 401
    assert "You didn't provide an API key" in envelope(missing)["message"]
    page = await async_client(app, api_key="sk-good").models.list()
    assert page.data


async def test_any_bearer_accepted_without_configured_keys(app: FakeAI) -> None:
    page = await async_client(app, api_key="anything").models.list()
    assert page.data


async def test_not_found_via_sdk_raises_not_found(client: Any) -> None:
    with pytest.raises(openai.NotFoundError):
        await client.get("/no/such/path", cast_to=object)


async def test_permissive_profile_accepts_what_strict_rejects() -> None:
    body = {"model": "gpt-4o", "input": "hi", "temperature": "warm"}
    strict = await raw(make_app(), "POST", "/v1/responses", json=body)
    assert strict.status_code == 400
    permissive = await raw(make_app(validation="permissive"), "POST", "/v1/responses", json=body)
    assert permissive.status_code == 200


async def test_permissive_profile_accepts_invalid_query_values() -> None:
    assert (await raw(make_app(), "GET", "/v1/files", params={"limit": "many"})).status_code == 400
    permissive = await raw(make_app(validation="permissive"), "GET", "/v1/files", params={"limit": "many"})
    assert permissive.status_code == 200


async def test_unknown_body_fields_are_tolerated_in_strict(app: FakeAI) -> None:
    response = await raw(
        app,
        "POST",
        "/v1/embeddings",
        json={"model": "text-embedding-3-small", "input": "hi", "brand_new_sdk_field": True},
    )
    assert response.status_code == 200


async def test_no_traceback_on_garbage_multipart(app: FakeAI) -> None:
    response = await raw(
        app, "POST", "/v1/files", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert 400 <= response.status_code < 500
    envelope(response)


async def test_unsupported_content_type_is_415(app: FakeAI) -> None:
    response = await raw(
        app,
        "POST",
        "/v1/embeddings",
        content=b"model=x&input=y",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert envelope(response)["code"] == "unsupported_media_type"
    text = await raw(app, "POST", "/v1/chat/completions", content=b"hello", headers={"content-type": "text/plain"})
    assert text.status_code == 415


async def test_json_body_without_a_json_header_is_read_as_json(app: FakeAI) -> None:
    body = b'{"model": "text-embedding-3-small", "input": "hi"}'
    response = await raw(
        app, "POST", "/v1/embeddings", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200 and response.json()["object"] == "list"
    invalid = await raw(app, "POST", "/v1/embeddings", content=b'{"model": 1}', headers={"content-type": "text/plain"})
    assert invalid.status_code == 400  # read as JSON, then validated
