"""``--metrics-port``: GET /metrics on a listener of its own, with the same series as the API port's, on real
sockets; the flag reaches the app from the command line; metrics_auth guards it too."""

from __future__ import annotations

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fakeai.app import create_app
from fakeai.cli import build_parser, settings_from_args
from fakeai.config import Settings
from fakeai.errors import ConfigError
from fakeai.testing import free_port, serve


def _samples(text: str, name: str) -> list[float]:
    return [s.value for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def test_the_metrics_port_serves_the_api_ports_series() -> None:
    port = free_port()
    app = create_app(Settings(metrics_port=port, validate_responses="strict"))
    with serve(app) as server:
        client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="sk-x", max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        own = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        api = httpx.get(f"{server.base_url}/metrics", timeout=5)
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        other = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5)
    assert own.status_code == 200 and own.headers["content-type"].startswith("text/plain")
    name = "vllm:request_success_total"
    assert _samples(own.text, name) == _samples(api.text, name) and sum(_samples(own.text, name)) >= 1
    assert health.status_code == 200
    assert other.status_code == 404 and other.json()["error"]["code"] == "unknown_url"
    assert app.metrics_listener is not None and app.metrics_listener.task is not None
    assert app.metrics_listener.task.done()  # stopped with the app


def test_metrics_auth_guards_the_metrics_port_too() -> None:
    port = free_port()
    app = create_app(Settings(metrics_port=port, metrics_auth=True, api_keys=("sk-good",)))
    with serve(app):
        refused = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        allowed = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"authorization": "Bearer sk-good"}, timeout=5)
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "invalid_request_error"
    assert allowed.status_code == 200 and "vllm:num_requests_running" in allowed.text


def test_the_flag_and_the_environment_reach_the_settings() -> None:
    app = create_app(settings_from_args(build_parser().parse_args(["--metrics-port", "9400"])))
    assert app.metrics_listener is not None and app.metrics_listener.port == 9400
    assert app.metrics_listener.start in app.asgi.on_startup  # type: ignore[attr-defined]
    from_env = settings_from_args(build_parser().parse_args([]), {"FAKEAI_METRICS_PORT": "9401"})
    assert from_env.metrics_port == 9401
    with pytest.raises(ConfigError, match="metrics_port must be 0-65535"):
        Settings().merge({"metrics_port": 70000}, "test")
