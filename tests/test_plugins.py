"""One plugin shape: the generic Registry behind producers, simulators, LLM bindings, commands and admin handlers."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fakeai
from fakeai.cli import COMMANDS, main
from fakeai.config import Settings
from fakeai.context import Output, RequestContext
from fakeai.errors import PluginError
from fakeai.plugins import PRODUCERS, Registry, producer_factories
from fakeai.producers.base import CompileEnv
from fakeai.producers.bindings import BINDINGS
from fakeai.simulators.registry import SIMULATORS, factory_for
from fakeai.spec.operation import Operation
from fakeai.testing import async_client

REGISTRIES = (PRODUCERS, SIMULATORS, BINDINGS, COMMANDS)
BATCH = {
    "id": "batch_plugin",
    "object": "batch",
    "endpoint": "/v1/chat/completions",
    "input_file_id": "file-1",
    "completion_window": "24h",
    "status": "completed",
    "created_at": 1_700_000_000,
}


class BatchProducer:
    source = "plugin"

    def produce(self, ctx: RequestContext) -> Output | None:
        return Output(status=200, body={**BATCH, "id": ctx.path_params["batch_id"]}, source=self.source)


def batch_factory(operation: Operation, env: CompileEnv) -> BatchProducer | None:
    return BatchProducer() if operation.operation_id == "retrieveBatch" else None


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, *entries: importlib.metadata.EntryPoint) -> None:
    def entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        return [entry for entry in entries if entry.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    for registry in REGISTRIES:
        registry.refresh()


@pytest.fixture(autouse=True)
def _forget_entry_points() -> Iterator[None]:
    yield
    for registry in REGISTRIES:
        registry.refresh()


def entry(name: str, value: str, group: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=group)


# --- producers ---------------------------------------------------------------------------------


async def test_a_decorated_producer_answers_through_the_sdk() -> None:
    fakeai.producer("test_batches")(batch_factory)
    try:
        app = fakeai.create_app(Settings(use_examples=False))
        assert app.operations["retrieveBatch"].sources[0] == "plugin"
        batch = await async_client(app).batches.retrieve("batch_42")
    finally:
        PRODUCERS.unregister("test_batches")
    assert (batch.id, batch.status, batch.endpoint) == ("batch_42", "completed", "/v1/chat/completions")
    assert not app.violations


def test_producer_order_is_builtins_plugins_extra_then_generated(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, entry("batches", "tests.test_plugins:batch_factory", "fakeai.producers"))

    def extra(operation: Operation, env: CompileEnv) -> None:
        return None

    factories = producer_factories([extra])
    names = [f.__name__ for f in factories]
    assert names == [
        "template_factory",
        "models_factory",
        "usage_factory",
        "files_factory",
        "stored_factory",
        "llm_factory",
        "search_factory",
        "batch_factory",
        "extra",
        "resources_factory",
        "example_factory",
        "generated_factory",
    ]


def test_fakeai_no_plugins_skips_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, entry("batches", "tests.test_plugins:batch_factory", "fakeai.producers"))
    assert batch_factory in producer_factories()
    monkeypatch.setenv("FAKEAI_NO_PLUGINS", "1")
    assert batch_factory not in producer_factories()
    assert "batches" not in PRODUCERS
    with pytest.raises(PluginError, match="unknown producer 'batches'"):
        PRODUCERS.get("batches")


def test_a_broken_entry_point_names_its_group_and_name(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, entry("broken", "no_such_package.plugin:factory", "fakeai.producers"))
    with pytest.raises(PluginError, match=r"entry point fakeai.producers:broken .*failed to load"):
        producer_factories()


# --- simulators --------------------------------------------------------------------------------


def test_unknown_simulator_is_a_plugin_error_with_did_you_mean() -> None:
    with pytest.raises(PluginError, match=r"unknown simulator 'latncy' \(did you mean 'latency'\?\)"):
        factory_for("latncy")
    with pytest.raises(PluginError, match=r"unknown simulator 'gpux'.*did you mean 'gpu'"):
        fakeai.create_app(Settings(simulators=("latency", "gpux")))


def test_a_simulator_entry_point_module_registers_itself(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "fakeai_test_queue.py").write_text(
        "from fakeai import simulator\n\n@simulator('test_queue')\ndef queue(env):\n    return 'built'\n"
    )
    (tmp_path / "fakeai_test_silent.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fake_entry_points(
        monkeypatch,
        entry("test_queue", "fakeai_test_queue", "fakeai.simulators"),
        entry("test_silent", "fakeai_test_silent", "fakeai.simulators"),
    )
    try:
        assert factory_for("test_queue")(None) == "built"  # type: ignore[arg-type]
    finally:
        SIMULATORS.unregister("test_queue")
    with pytest.raises(PluginError, match=r"fakeai_test_silent did not register it with @simulator\('test_silent'\)"):
        factory_for("test_silent")


# --- the registry itself -----------------------------------------------------------------------


def test_a_typo_in_a_builtin_import_string_is_an_error_at_lookup() -> None:
    registry: Registry[Any] = Registry("thing", builtins={"a": "fakeai.no_such_module:x", "b": "fakeai.plugins:nope"})
    with pytest.raises(PluginError, match=r"plugin 'fakeai.no_such_module:x': cannot import fakeai.no_such_module"):
        registry.get("a")
    with pytest.raises(PluginError, match=r"plugin 'fakeai.plugins:nope': fakeai.plugins has no attribute 'nope'"):
        registry.get("b")


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.kind)
def test_every_builtin_import_string_resolves(registry: Registry[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKEAI_NO_PLUGINS", "1")
    for name in registry.names():
        assert registry.get(name) is not None


def test_lazy_import_strings_are_imported_only_when_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "fakeai_test_lazy.py").write_text("VALUE = object()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry[object] = Registry("thing", builtins={"lazy": "fakeai_test_lazy:VALUE"})
    assert "lazy" in registry and registry.names() == ["lazy"]
    assert "fakeai_test_lazy" not in sys.modules
    value = registry.get("lazy")
    assert value is sys.modules["fakeai_test_lazy"].VALUE and registry.get("lazy") is value
    monkeypatch.delitem(sys.modules, "fakeai_test_lazy")


def test_builtin_simulators_and_llm_modules_load_only_when_named() -> None:
    probe = (
        "import sys\n"
        "from fakeai.simulators.registry import factory_for\n"
        "import fakeai.producers.bindings\n"
        "mods = ('fakeai.simulators.gpu', 'fakeai.simulators.kv_cache', 'fakeai.producers.endpoints.audio')\n"
        "before = [m for m in mods if m in sys.modules]\n"
        "factory_for('gpu')\n"
        "print(before, [m for m in mods if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "[] ['fakeai.simulators.gpu']"


def test_the_decorator_returns_what_it_registers() -> None:
    registry: Registry[Any] = Registry("thing")

    @registry.register("x")
    def x() -> int:
        return 1

    assert x() == 1 and registry.get("x") is x and list(registry) == ["x"]
    registry.unregister("x")
    assert "x" not in registry


# --- commands ----------------------------------------------------------------------------------


class HelloCommand:
    """say hello"""

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("who")

    def run(self, args: Any) -> int:
        print(f"hello {args.who}")
        return 7


HELLO = HelloCommand()


def test_a_command_entry_point_is_a_subcommand(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_entry_points(monkeypatch, entry("hello", "tests.test_plugins:HELLO", "fakeai.commands"))
    assert main(["hello", "world"]) == 7
    assert capsys.readouterr().out == "hello world\n"
    monkeypatch.setenv("FAKEAI_NO_PLUGINS", "1")
    with pytest.raises(SystemExit):
        main(["hello", "world"])
