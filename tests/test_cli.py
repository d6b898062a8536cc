"""Every documented flag and FAKEAI_* variable reaches the running app and changes what it does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from fakeai.app import FakeAI, create_app
from fakeai.cli import SERVE_FLAGS, build_parser, settings_from_args
from fakeai.config import Settings
from fakeai.errors import ConfigError
from fakeai.testing import free_port

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}
ROOT = Path(__file__).resolve().parents[1]


def settings_for(argv: list[str], environ: dict[str, str] | None = None) -> Settings:
    return settings_from_args(build_parser().parse_args(argv), environ or {})


async def call(app: FakeAI, method: str, url: str, **kwargs: Any) -> httpx2.Response:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        return await http.request(method, url, **kwargs)


def tiny_spec(tmp: Path) -> str:
    path = tmp / "tiny.yaml"
    path.write_text(
        "openapi: 3.1.0\ninfo: {title: tiny, version: '1'}\npaths:\n  /ping:\n    get:\n      operationId: ping\n"
        "      responses:\n        '200':\n          description: ok\n"
        "          content:\n            application/json:\n"
        "              schema: {type: object, required: [pong], properties: {pong: {const: true}}}\n"
    )
    return str(path)


async def check_spec(tmp: Path) -> None:
    app = create_app(settings_for(["--spec", tiny_spec(tmp)]))
    assert list(app.operations) == ["ping"]
    assert (await call(app, "GET", "/v1/ping")).json() == {"pong": True}


async def check_seed(tmp: Path) -> None:
    bodies = []
    for seed in ("1", "2", "1"):
        app = create_app(settings_for(["--seed", seed, "--fixed-time", "1700000000"]))
        bodies.append((await call(app, "GET", "/v1/batches/batch_1")).content)
    assert bodies[0] == bodies[2] != bodies[1]


async def check_api_key(tmp: Path) -> None:
    app = create_app(settings_for(["--api-key", "k1", "--api-key", "k2"]))
    assert (await call(app, "GET", "/v1/models", headers={"authorization": "Bearer k2"})).status_code == 200
    assert (await call(app, "GET", "/v1/models", headers={"authorization": "Bearer k3"})).status_code == 401


async def check_max_body(tmp: Path) -> None:
    app = create_app(settings_for(["--max-body-bytes", "50"]))
    assert (await call(app, "POST", "/v1/chat/completions", json=CHAT | {"user": "x" * 100})).status_code == 413


async def check_validation(tmp: Path) -> None:
    bad = {"model": "gpt-4o", "messages": "not a list"}
    assert (await call(create_app(settings_for([])), "POST", "/v1/chat/completions", json=bad)).status_code == 400
    app = create_app(settings_for(["--validation", "off"]))
    assert (await call(app, "POST", "/v1/chat/completions", json=bad)).status_code == 200


async def check_validate_responses(tmp: Path) -> None:
    assert create_app(settings_for(["--validate-responses"])).pipeline.check is not None
    assert create_app(settings_for([])).pipeline.check is None


async def check_fixtures(tmp: Path) -> None:
    (tmp / "listModels.json.j2").write_text(
        '{"object": "list", "data": [{"id": "{{ headers["x-model"] }}", "object": "model", "created": {{ now }}, '
        '"owned_by": "me"}]}'
    )
    app = create_app(settings_for(["--fixtures", str(tmp)]))
    body = (await call(app, "GET", "/v1/models", headers={"x-model": "templated"})).json()
    assert body["data"][0]["id"] == "templated"


async def check_no_examples(tmp: Path) -> None:
    with_examples = create_app(settings_for([]))
    without = create_app(settings_for(["--no-examples"]))
    assert "example" in {c.sources[0] for c in with_examples.operations.values()}
    assert "example" not in {s for c in without.operations.values() for s in c.sources}


async def check_fixed_time(tmp: Path) -> None:
    app = create_app(settings_for(["--fixed-time", "1234567890"]))
    assert (await call(app, "GET", "/v1/batches/batch_1")).json()["created_at"] == 1234567890


async def check_config(tmp: Path) -> None:
    config = tmp / "fakeai.yaml"
    config.write_text("seed: 41\napi_keys: [from-file]\n")
    settings = settings_for(["--config", str(config), "--seed", "42"])
    assert settings.seed == 42 and settings.api_keys == ("from-file",)
    app = create_app(settings)
    assert (await call(app, "GET", "/v1/models", headers={"authorization": "Bearer from-file"})).status_code == 200


async def check_lifecycle_scale(tmp: Path) -> None:
    batch = {"input_file_id": "file-x", "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    for argv, status in (([], "validating"), (["--lifecycle-scale", "0"], "failed")):  # 0: every state at once
        app = create_app(settings_for(argv))
        made = (await call(app, "POST", "/v1/batches", json=batch)).json()
        assert (await call(app, "GET", f"/v1/batches/{made['id']}")).json()["status"] == status  # no input file


async def check_unknown_ids(tmp: Path) -> None:
    assert (await call(create_app(settings_for([])), "GET", "/v1/assistants/asst_1")).status_code == 200
    strict = create_app(settings_for(["--unknown-ids", "404"]))
    assert (await call(strict, "GET", "/v1/assistants/asst_1")).status_code == 404


async def check_strict_models(tmp: Path) -> None:
    chat = {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}
    assert (await call(create_app(settings_for([])), "POST", "/v1/chat/completions", json=chat)).status_code == 200
    strict = create_app(settings_for(["--strict-models"]))
    assert (await call(strict, "POST", "/v1/chat/completions", json=chat)).status_code == 404


async def check_resources(tmp: Path) -> None:
    extra = tmp / "res.yaml"
    extra.write_text("kinds:\n  assistant:\n    not_found: 'Assistant {id} is not here.'\n")
    app = create_app(settings_for(["--resources", str(extra), "--unknown-ids", "404"]))
    missing = await call(app, "GET", "/v1/assistants/asst_1")
    assert missing.json()["error"]["message"] == "Assistant asst_1 is not here."


async def check_models(tmp: Path) -> None:
    models = tmp / "models.yaml"
    models.write_text(
        "models:\n  - id: house-model\n    owned_by: us\n    created: 1700000000\n"
        "    kind: chat\n    context_window: 8192\n"
    )
    app = create_app(settings_for(["--models", str(models)]))
    assert (await call(app, "GET", "/v1/models/house-model")).json()["owned_by"] == "us"


async def check_bindings(tmp: Path) -> None:
    """A later bindings file wins: here it answers Azure's operations in OpenAI's envelope (a missing api-version
    is then OpenAI's 400, not Azure's 404 'Resource not found')."""
    extra = tmp / "bind.yaml"
    extra.write_text(
        "vendor: azure-as-openai\napplies_to: {title: [Azure OpenAI Service API]}\nerrors: openai\n"
        "operations:\n  ChatCompletions_Create: {behaviour: chat}\n"
    )
    path = "/openai/deployments/gpt-4o/chat/completions"
    body = {"messages": [{"role": "user", "content": "hi"}]}
    azure = await call(create_app(settings_for(["--spec", "azure"])), "POST", path, json=body)
    bound = await call(create_app(settings_for(["--spec", "azure", "--bindings", str(extra)])), "POST", path, json=body)
    assert azure.status_code == 404 and azure.json() == {"error": {"code": "404", "message": "Resource not found"}}
    assert bound.status_code == 400 and bound.json()["error"]["param"] == "api-version"


def settings_only(field: str, value: str, expected: Any) -> Callable[[Path], Any]:
    async def check(tmp: Path) -> None:
        flag = next(f for f, (name, _o) in SERVE_FLAGS.items() if name == field)
        assert getattr(settings_for([flag, value]), field) == expected

    return check


# flag -> a check that the running app behaves differently; flags owned by other features register theirs there
BEHAVIOUR: dict[str, Callable[[Path], Any]] = {
    "--spec": check_spec,
    "--seed": check_seed,
    "--api-key": check_api_key,
    "--max-body-bytes": check_max_body,
    "--validation": check_validation,
    "--validate-responses": check_validate_responses,
    "--fixtures": check_fixtures,
    "--no-examples": check_no_examples,
    "--fixed-time": check_fixed_time,
    "--config": check_config,
    "--lifecycle-scale": check_lifecycle_scale,
    "--unknown-ids": check_unknown_ids,
    "--strict-models": check_strict_models,
    "--resources": check_resources,
    "--models": check_models,
    "--bindings": check_bindings,
    # host/port/log-level/workers are proven by the real-socket test below
    "--host": settings_only("host", "0.0.0.0", "0.0.0.0"),
    "--port": settings_only("port", "9123", 9123),
    "--log-level": settings_only("log_level", "debug", "debug"),
    "--workers": settings_only("workers", "2", 2),
    "--state": settings_only("state", "none", "none"),  # proven by test_workers_need_state_none_and_serve_with_it
}
EXTERNAL_CHECKS = ("tests/test_cli_llm.py", "tests/test_scenario_cli.py")


@pytest.mark.parametrize("flag", sorted(BEHAVIOUR))
async def test_flag_changes_behaviour(flag: str, tmp_path: Path) -> None:
    await BEHAVIOUR[flag](tmp_path)


def test_every_flag_has_a_behaviour_check() -> None:
    from tests import cli_checks

    covered = set(BEHAVIOUR) | set(cli_checks.COVERED)
    missing = sorted(set(SERVE_FLAGS) - covered)
    assert not missing, f"flags without a test proving they reach the app: {missing}"


def test_env_vars_override_config_and_cli_overrides_env(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("port: 7000\nseed: 1\n")
    env = {"FAKEAI_PORT": "7001", "FAKEAI_SEED": "2", "FAKEAI_CONFIG_FILE": str(config), "FAKEAI_API_KEYS": "a,b"}
    settings = settings_for(["--seed", "3"], env)
    assert (settings.port, settings.seed, settings.api_keys) == (7001, 3, ("a", "b"))


def test_bad_config_names_file_line_and_hint(tmp_path: Path) -> None:
    from fakeai.errors import ConfigError

    config = tmp_path / "bad.yaml"
    config.write_text("seed: 1\nprot: 9000\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2: unknown setting 'prot'.*did you mean 'port'"):
        settings_for(["--config", str(config)])


def test_unknown_env_var_is_a_warning_with_a_hint(caplog: pytest.LogCaptureFixture) -> None:
    """A FAKEAI_ variable that is no setting (FAKEAI_TTFT_MS) must not stop fakeai from starting."""
    env = {"FAKEAI_TTFT_MS": "5", "FAKEAI_SEED": "4", "FAKEAI_NO_PLUGINS": "1"}
    with caplog.at_level("WARNING", logger="fakeai.config"):
        settings = settings_for([], env)
    assert settings.seed == 4
    assert [r.getMessage() for r in caplog.records] == [
        "ignoring FAKEAI_TTFT_MS: unknown setting 'ttft_ms' (did you mean 'ttft'?)"
    ]  # FAKEAI_NO_PLUGINS is read by the plugin loader: no warning


def test_routes_lists_every_operation(capsys: pytest.CaptureFixture[str]) -> None:
    from fakeai.cli import main

    assert main(["routes"]) == 0
    out = capsys.readouterr().out
    assert "createChatCompletion" in out and "272 operations" in out


def test_real_socket_cli_serves_with_flags_and_env(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKEAI_", "OPENAI_"))}
    env["FAKEAI_API_KEYS"] = "sk-env"
    env["FAKEAI_CACHE_DIR"] = os.environ.get("FAKEAI_CACHE_DIR", str(Path.home() / ".cache" / "fakeai"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakeai", "--port", str(port), "--host", "127.0.0.1", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx2.get(f"http://127.0.0.1:{port}/v1/models", headers={"authorization": "Bearer sk-env"})
                break
            except httpx2.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        denied = httpx2.get(f"http://127.0.0.1:{port}/models", headers={"authorization": "Bearer nope"})
        assert denied.status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_workers_without_state_fail_fast_and_say_how(capsys: pytest.CaptureFixture[str]) -> None:
    from fakeai.cli import main

    assert main(["--workers", "2", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "would split state" in err and "--state redis://" in err and "--state none" in err
    # nothing listens on port 1: a clear startup error, not a server answering 503s
    assert main(["--state", "redis://127.0.0.1:1/0", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "state backend redis://127.0.0.1:1/0 is not reachable" in err and "start Valkey/Redis" in err
    with pytest.raises(ConfigError, match="state must be 'none' or a Valkey/Redis URL"):
        Settings().merge({"state": "memcached://x"}, "test")


def test_workers_need_state_none_and_serve_with_it() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKEAI_", "OPENAI_"))}
    cmd = [sys.executable, "-m", "fakeai", "--port", str(port), "--workers", "2", "--state", "none"]
    proc = subprocess.Popen([*cmd, "--log-level", "warning"], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx2.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT)
                break
            except httpx2.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert response.status_code == 200 and response.json()["object"] == "chat.completion"
    finally:
        proc.terminate()
        proc.wait(20)
        if proc.stderr:
            proc.stderr.close()


async def test_base_paths_and_journal_size_reach_the_app(tmp_path: Path) -> None:
    app = create_app(settings_for([], {"FAKEAI_BASE_PATHS": "/openai/v1", "FAKEAI_JOURNAL_SIZE": "2"}))
    assert (await call(app, "GET", "/openai/v1/models")).status_code == 200
    assert (await call(app, "GET", "/v1/models")).status_code == 404
    for _ in range(3):
        await call(app, "GET", "/openai/v1/models")
    assert len(app.journal) == 2


async def test_reasoning_models_and_moderation_words_reach_the_app(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("reasoning_models: ['my-thinker*']\nmoderation_words: [pineapple]\n")
    app = create_app(settings_for(["--config", str(config)]))
    chat = await call(app, "POST", "/v1/chat/completions", json={**CHAT, "model": "my-thinker-1"})
    assert chat.json()["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    flagged = await call(app, "POST", "/v1/moderations", json={"input": "I love pineapple"})
    assert flagged.json()["results"][0]["flagged"] is True


def test_spec_exports_the_file_that_spec_serves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`fakeai spec > openai.yml` then `fakeai --spec openai.yml` (the README's scenario example) serves what
    no --spec serves."""
    from fakeai.cli import main
    from fakeai.spec.load import load_document
    from fakeai.spec.operation import iter_operations

    target = tmp_path / "openai.yml"
    assert main(["spec", "-o", str(target)]) == 0
    assert "wrote openai" in capsys.readouterr().err
    exported = [op.operation_id for op in iter_operations(load_document(str(target), use_cache=False))]
    assert exported == [op.operation_id for op in iter_operations(load_document(None))]
    assert len(exported) > 200
    assert main(["spec", "anthropic", "--path"]) == 0
    assert capsys.readouterr().out.strip().endswith("anthropic/official/openapi.yml")
    assert main(["spec", "no-such-vendor"]) == 2
    assert "known names: anthropic" in capsys.readouterr().err
