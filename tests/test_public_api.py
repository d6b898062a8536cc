"""Hygiene of the public API: ``fakeai.__all__`` is sorted, every name imports, and ``import fakeai`` is lazy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import fakeai


def test_exported_members() -> None:
    # the public API, plugin API included, is this list: adding or removing a name is a decision made here
    assert fakeai.__all__ == [
        "APIError",
        "CompileEnv",
        "ConfigError",
        "FakeAI",
        "FakeAIError",
        "FakeClock",
        "Frame",
        "Output",
        "PluginError",
        "Producer",
        "Registry",
        "RequestContext",
        "Sample",
        "ScenarioError",
        "Settings",
        "Simulator",
        "SimulatorEnv",
        "SpecError",
        "Timing",
        "UploadedFile",
        "__version__",
        "create_app",
        "load_settings",
        "producer",
        "simulator",
    ]


def test_plugin_api_is_the_real_thing() -> None:
    from fakeai.clock import FakeClock
    from fakeai.plugins import PRODUCERS, Registry
    from fakeai.simulators.registry import SIMULATORS

    assert fakeai.Registry is Registry and fakeai.FakeClock is FakeClock
    assert fakeai.producer == PRODUCERS.register and fakeai.simulator == SIMULATORS.register


def test_all_is_sorted_and_unique() -> None:
    assert list(fakeai.__all__) == sorted(set(fakeai.__all__))


@pytest.mark.parametrize("name", fakeai.__all__)
def test_every_exported_name_imports(name: str) -> None:
    value = getattr(fakeai, name)
    assert value is not None
    # ``from fakeai import NAME`` goes through the same module __getattr__
    namespace: dict[str, object] = {}
    exec(f"from fakeai import {name}", namespace)
    assert namespace[name] is value


def test_dir_lists_exactly_all() -> None:
    assert sorted(dir(fakeai)) == sorted(fakeai.__all__)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'create_server'"):
        fakeai.create_server  # noqa: B018


def test_star_import_gets_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from fakeai import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(fakeai.__all__)


# A fresh interpreter: ``import fakeai`` must not build the server (connexion, starlette, the app, the spec).
HEAVY = ("connexion", "fakeai.app", "fakeai.pipeline", "fakeai.spec.load", "starlette", "uvicorn", "jsonschema_rs")
PROBE = """
import json, sys
import fakeai
before = sorted(m for m in {heavy!r} if m in sys.modules)
fakeai.Settings  # a light name loads its own module only
after_settings = sorted(m for m in {heavy!r} if m in sys.modules)
fakeai.create_app
after_app = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps([before, after_settings, after_app]))
"""


def test_import_fakeai_is_lazy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    before, after_settings, after_app = json.loads(result.stdout.strip().splitlines()[-1])
    assert before == [], f"import fakeai loaded {before}"
    assert "connexion" not in after_settings and "fakeai.app" not in after_settings, after_settings
    # the probe really can see a heavy import: touching create_app loads the app module
    assert "fakeai.app" in after_app and "connexion" in after_app, after_app
