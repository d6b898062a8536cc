"""``--scenario flaky.yaml`` finds the bundled example when no such file exists in the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakeai.scenario.engine import resolve_path


def test_existing_file_wins(tmp_path: Path) -> None:
    own = tmp_path / "flaky.yaml"
    own.write_text("name: mine\n")
    assert resolve_path(str(own)) == str(own)


@pytest.mark.parametrize("given", ["flaky.yaml", "flaky", "some/dir/flaky.yaml"])
def test_bundled_example_by_name(given: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    resolved = Path(resolve_path(given))
    assert resolved.name == "flaky.yaml" and resolved.is_file() and "name: flaky" in resolved.read_text()


def test_unknown_name_is_left_for_the_loader_to_report(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_path("nope.yaml") == "nope.yaml"
