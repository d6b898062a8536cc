"""Shared fixtures. Response self-checks are on: any body or SSE frame that violates the spec fails the test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakeai.app import FakeAI, create_app
from fakeai.config import Settings
from fakeai.testing import async_client

SHARED_SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "FAKEAI_")) and name != "FAKEAI_CACHE_DIR":
            monkeypatch.delenv(name)


_APPS: dict[str, FakeAI] = {}


def make_app(**changes: Any) -> FakeAI:
    """A cached app per distinct settings (compiling the official spec takes ~0.5 s)."""
    settings = (
        Settings(validate_responses="strict").merge(changes, "test")
        if changes
        else Settings(validate_responses="strict")
    )
    key = repr(settings)
    if key not in _APPS:
        _APPS[key] = create_app(settings)
    app = _APPS[key]
    app.violations.clear()
    return app


@pytest.fixture
def app() -> Iterator[FakeAI]:
    application = make_app()
    yield application
    assert not application.violations, f"fakeai answered outside the spec: {application.violations}"


@pytest.fixture
def client(app: FakeAI) -> Any:
    return async_client(app)


def shared_spec(name: str) -> Path:
    path = SHARED_SPECS / name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return path
