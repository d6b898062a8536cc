"""Shared fixtures. Response self-checks are on: any body or SSE frame that violates the spec fails the test."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from fakeai.app import FakeAI, create_app
from fakeai.config import Settings
from fakeai.simulators.base import state_of
from fakeai.testing import async_client

SHARED_SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"
# FAKEAI_TEST_STATE=redis://...: every make_app() app keeps its state there (runs a test file against the shared
# backend: .ci/run does it for the stateful suites). Read at import, before _clean_env empties FAKEAI_*.
TEST_STATE = os.environ.get("FAKEAI_TEST_STATE")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "FAKEAI_")) and name != "FAKEAI_CACHE_DIR":
            monkeypatch.delenv(name)


_APPS: dict[str, FakeAI] = {}
_BASELINE: dict[str, Any] = {}  # per cached app: what the reset below cannot restore, as built
_HANDED_OUT: set[str] = set()  # cached apps the running test asked for


def make_app(**changes: Any) -> FakeAI:
    """A cached app per distinct settings (compiling the official spec takes ~0.5 s), reset after each test
    that used it (see :func:`reset`)."""
    if TEST_STATE and "state" not in changes:
        changes = {"state": TEST_STATE, **changes}
    settings = (
        Settings(validate_responses="strict").merge(changes, "test")
        if changes
        else Settings(validate_responses="strict")
    )
    key = repr(settings)
    if key not in _APPS:
        _APPS[key] = create_app(settings)
        _BASELINE[key] = not_reset(_APPS[key])
    _HANDED_OUT.add(key)
    app = _APPS[key]
    app.violations.clear()
    return app


async def reset(app: FakeAI) -> None:
    """What a test left behind in ``app``, forgotten: the control plane's own ``POST /_fakeai/state/reset``
    (scenario state, sequences and counters, the resource store, every Resettable simulator) and
    ``DELETE /_fakeai/journal``; then the Prometheus counters and the self-check violations."""
    key = app.settings.api_keys[0] if app.settings.api_keys else "sk-test"
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://fakeai.test") as http:
        for method, path in (("POST", "/_fakeai/state/reset"), ("DELETE", "/_fakeai/journal")):
            answer = await http.request(method, path, headers={"authorization": f"Bearer {key}"})
            assert answer.status_code == 200, (path, answer.text)
    app.metrics.reset()
    app.violations.clear()


def scenario_app(**changes: Any) -> Iterator[FakeAI]:
    """A dedicated app for a fixture: its runtime-loaded scenarios are removed and its states reset after the
    test, which must have left no self-check violations."""
    application = make_app(**changes)
    assert application.scenarios is not None
    yield application
    for entry in application.scenarios.summary():
        application.scenarios.remove(entry["name"])
    application.scenarios.reset_state()
    assert not application.violations, application.violations


def not_reset(app: FakeAI) -> Any:
    """State :func:`reset` does not restore (scenarios loaded at runtime, latency set at runtime, simulator
    state it missed): when it differs from the app as built, the app is dropped from the cache instead."""
    loaded = {name: id(scenario) for name, scenario in (app.scenarios.scenarios if app.scenarios else {}).items()}
    return loaded, [(getattr(s, "name", type(s).__name__), _steady(state_of(s))) for s in app.simulators]


def _steady(state: Any) -> Any:
    """A simulator's state without what grows with wall time alone (the GPU's integrated energy)."""
    if isinstance(state, dict):
        return {k: _steady(v) for k, v in state.items() if k != "energy_joules"}
    if isinstance(state, list):
        return [_steady(v) for v in state]
    return state


@pytest.fixture(autouse=True)
def _reset_shared_apps() -> Iterator[None]:
    """No state leaks from one test to the next through the apps :func:`make_app` shares."""
    _HANDED_OUT.clear()
    yield
    for key in sorted(_HANDED_OUT):
        asyncio.run(reset(_APPS[key]))
        if not_reset(_APPS[key]) != _BASELINE[key]:
            del _APPS[key], _BASELINE[key]
    _HANDED_OUT.clear()
    if TEST_STATE:  # also what no app's reset touches: admin changes kept for late replicas
        import redis

        with redis.Redis.from_url(TEST_STATE) as backend:
            backend.flushdb()


@pytest.fixture
def app() -> Iterator[FakeAI]:
    application = make_app()
    yield application
    assert not application.violations, f"fakeai answered outside the spec: {application.violations}"


@pytest.fixture
def client(app: FakeAI) -> Any:
    return async_client(app)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real Valkey/Redis for this test session (tests/redis_server.py)."""
    from tests.redis_server import start_or_skip

    server = start_or_skip(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


def shared_spec(name: str) -> Path:
    path = SHARED_SPECS / name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return path
