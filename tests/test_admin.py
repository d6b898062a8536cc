"""The /_fakeai control plane: httpx for the admin API, the openai SDK for the traffic it controls.

Every admin answer is checked against spec/admin.yaml (the document Connexion routes with).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import fakeai
from fakeai.app import FakeAI, create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings
from fakeai.spec.operation import Operation
from fakeai.spec.validate import Validators
from fakeai.testing import async_client
from tests.conftest import make_app

YAML = {"content-type": "application/yaml"}
GREETING = """
name: greeting
rules:
  - name: hello
    match: {operation: createChatCompletion, last_user_message: {contains: hello}}
    respond: {content: "Hi from the scenario"}
"""


@pytest.fixture(scope="module")
def admin_app() -> FakeAI:
    return create_app(Settings(validate_responses="strict"), clock=FakeClock())


@pytest.fixture
def app(admin_app: FakeAI) -> Iterator[FakeAI]:
    assert admin_app.scenarios is not None
    for name in list(admin_app.scenarios.scenarios):
        admin_app.scenarios.remove(name)
    admin_app.journal.clear()
    admin_app.violations.clear()
    yield admin_app
    assert not admin_app.violations


async def call(app: FakeAI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """An admin request whose 2xx JSON answer must match its schema in spec/admin.yaml."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fakeai.test") as http:
        response = await http.request(method, path, **kwargs)
    assert app.admin is not None
    if response.status_code < 300 and response.headers["content-type"].startswith("application/json"):
        op = operation_for(app, method, path)
        assert op.json_response is not None
        validator = Validators(app.admin.document).for_pointer(op.json_response.pointer)
        assert validator.is_valid(response.json()), response.json()
    return response


def operation_for(app: FakeAI, method: str, path: str) -> Operation:
    assert app.admin is not None
    bare = path.split("?")[0].removeprefix("/_fakeai")
    for op in app.admin.operation_list:
        if op.method == method and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", op.path), bare):
            return op
    raise AssertionError(f"no admin operation for {method} {path}")


def assert_envelope(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code
    return error


async def ask(app: FakeAI, text: str) -> str:
    completion = await async_client(app).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
    )
    return str(completion.choices[0].message.content)


async def test_health_reports_operations_and_journal(app: FakeAI) -> None:
    await ask(app, "one")
    body = (await call(app, "GET", "/_fakeai/health")).json()
    assert body["status"] == "ok"
    assert body["operations"] == len(app.operations)
    assert body["journal"] == 1


async def test_vllm_health_and_version_at_the_root_need_no_key() -> None:
    """GuideLLM / AIPerf poll ``GET /health`` as vLLM serves it (200, empty body, no API key) and read
    ``GET /version``; ``--api-key`` still guards the API and the rest of the control plane."""
    app = make_app(api_keys=("sk-vllm",))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fakeai.test") as http:
        health, version = await http.get("/health"), await http.get("/version")
        locked = [(await http.get(path)).status_code for path in ("/v1/models", "/_fakeai/health")]
    assert (health.status_code, health.content) == (200, b"")
    assert (version.status_code, version.json()) == (200, {"version": fakeai.__version__})
    assert locked == [401, 401]
    models = await async_client(app, api_key="sk-vllm").models.list()
    assert "gpt-4o" in {model.id for model in models.data}


async def test_put_scenario_yaml_changes_answers_and_delete_restores(app: FakeAI) -> None:
    assert await ask(app, "hello there") != "Hi from the scenario"
    put = await call(
        app, "PUT", "/_fakeai/scenarios/greeting", content=GREETING, headers={"content-type": "application/yaml"}
    )
    assert put.json() == {"name": "greeting", "loaded": True}
    assert await ask(app, "hello there") == "Hi from the scenario"
    listed = (await call(app, "GET", "/_fakeai/scenarios")).json()["data"]
    assert [s["name"] for s in listed] == ["greeting"]
    assert listed[0]["rules"][0]["hits"] == 1
    assert (await call(app, "DELETE", "/_fakeai/scenarios/greeting")).json() == {"name": "greeting", "removed": True}
    assert await ask(app, "hello there") != "Hi from the scenario"
    assert [e.source for e in app.journal] == ["llm", "scenario", "llm"]


async def test_put_scenario_as_json_object(app: FakeAI) -> None:
    await call(app, "PUT", "/_fakeai/scenarios/greeting", json={"yaml": GREETING})
    assert await ask(app, "hello") == "Hi from the scenario"


async def test_invalid_scenario_is_rejected_and_previous_version_kept(app: FakeAI) -> None:
    await call(app, "PUT", "/_fakeai/scenarios/greeting", content=GREETING, headers={"content-type": "text/yaml"})
    broken = GREETING.replace("respond:", "respnd:")
    response = await call(
        app, "PUT", "/_fakeai/scenarios/greeting", content=broken, headers={"content-type": "application/yaml"}
    )
    error = assert_envelope(response, 400, "invalid_scenario")
    assert "respnd" in error["message"] and "respond" in error["message"]  # names the key and the fix
    assert await ask(app, "hello") == "Hi from the scenario"


async def test_admin_bodies_are_validated_against_admin_yaml(app: FakeAI) -> None:
    assert_envelope(await call(app, "PUT", "/_fakeai/scenarios/greeting", json={"yml": GREETING}), 400)
    assert_envelope(await call(app, "PUT", "/_fakeai/scenarios/bad%20name", json={"yaml": GREETING}), 400)
    assert_envelope(await call(app, "GET", "/_fakeai/journal?status=abc"), 400)
    assert_envelope(await call(app, "GET", "/_fakeai/journal?limit=0"), 400)
    assert_envelope(await call(app, "POST", "/_fakeai/state/reset", json={"namespace": 3}), 400)


async def test_delete_unknown_scenario_is_404_envelope(app: FakeAI) -> None:
    assert_envelope(await call(app, "DELETE", "/_fakeai/scenarios/nothing"), 404, "scenario_not_found")


async def test_unknown_admin_path_and_method(app: FakeAI) -> None:
    assert_envelope(await call(app, "GET", "/_fakeai/nothing"), 404)
    assert_envelope(await call(app, "POST", "/_fakeai/health"), 405)


async def test_state_reset_restarts_sequences(app: FakeAI) -> None:
    sequence = """
rules:
  - name: steps
    match: {operation: createChatCompletion}
    sequence: [{content: first}, {content: second}]
"""
    await call(app, "PUT", "/_fakeai/scenarios/steps", content=sequence, headers={"content-type": "application/yaml"})
    assert [await ask(app, "a"), await ask(app, "a")] == ["first", "second"]
    assert (await call(app, "POST", "/_fakeai/state/reset")).json() == {"reset": True}
    assert await ask(app, "a") == "first"


async def test_journal_filters_and_clear(app: FakeAI) -> None:
    await call(app, "PUT", "/_fakeai/scenarios/greeting", content=GREETING, headers=YAML)
    await ask(app, "hello")
    await ask(app, "something else")
    by_rule = (await call(app, "GET", "/_fakeai/journal?rule=hello")).json()
    assert [e["rule"] for e in by_rule["data"]] == ["hello"]
    assert by_rule["data"][0]["source"] == "scenario"
    assert by_rule["total"] == 2
    newest = (await call(app, "GET", "/_fakeai/journal?limit=1")).json()["data"]
    assert newest[0]["request"]["messages"][0]["content"] == "something else"
    assert (await call(app, "GET", "/_fakeai/journal?status=404")).json()["data"] == []
    assert (await call(app, "DELETE", "/_fakeai/journal")).json() == {"cleared": 2}
    assert (await call(app, "GET", "/_fakeai/journal")).json()["data"] == []


async def test_metrics_count_requests_by_operation_status_source(app: FakeAI) -> None:
    await call(app, "PUT", "/_fakeai/scenarios/greeting", content=GREETING, headers=YAML)
    await ask(app, "hello")
    response = await call(app, "GET", "/_fakeai/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    line = 'fakeai_requests_total{operation="createChatCompletion",source="scenario",status="200"}'
    assert line in text
    assert 'fakeai_scenario_rule_hits_total{rule="hello"}' in text
    assert "fakeai_request_duration_seconds_bucket" in text


async def test_config_masks_api_keys() -> None:
    app = create_app(Settings(api_keys=("sk-proj-supersecret1234",), extra={"upstream_token": "tok-abcdefgh5678"}))
    headers = {"authorization": "Bearer sk-proj-supersecret1234"}
    settings = (await call(app, "GET", "/_fakeai/config", headers=headers)).json()["settings"]
    assert settings["api_keys"] == ["sk-...1234"]
    assert settings["extra"]["upstream_token"] == "tok...5678"
    assert "supersecret" not in str(settings)
    assert_envelope(await call(app, "GET", "/_fakeai/config"), 401)  # the control plane needs a key too


async def test_reload_status_without_files(app: FakeAI) -> None:
    body = (await call(app, "GET", "/_fakeai/reload")).json()
    assert body["enabled"] is False and body["files"] == []


async def test_expectations_endpoint_reports_results_and_verdict(app: FakeAI) -> None:
    scenario = """
rules:
  - name: any
    match: {operation: createChatCompletion}
    respond: {content: ok}
expect:
  - name: few calls
    max_requests: 1
  - includes: stream_options.include_usage
"""
    await call(app, "PUT", "/_fakeai/scenarios/limits", content=scenario, headers={"content-type": "application/yaml"})
    client = async_client(app)
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    async for _chunk in stream:
        pass
    body = (await call(app, "GET", "/_fakeai/expectations")).json()
    assert body["passed"] is True
    assert [r["passed"] for r in body["results"]] == [True, True]
    assert body["results"][0]["name"] == "few calls" and body["results"][0]["line"] == 7
    await ask(app, "again")
    body = (await call(app, "GET", "/_fakeai/expectations")).json()
    assert body["passed"] is False
    assert body["results"][0]["detail"] == "2 requests, more than 1"
    assert body["verdict"]["verdict"] == "resilient"
