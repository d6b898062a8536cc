"""``fakeai drift`` in CI: failing only on the user's own files, clear errors for missing ones, PR-comment sized
Markdown."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from fakeai.drift import Change, Severity
from fakeai.drift.cli import build_report
from fakeai.drift.report import MARKDOWN_LIMIT, DriftReport, render_markdown
from tests.conftest import shared_spec
from tests.test_drift import MESSAGE, spec

CLEAN_SCENARIO = (
    "rules:\n  - match: {operation: createThing}\n    respond:\n      body: {role: assistant, content: hi}\n"
)
BROKEN_SCENARIO = "rules:\n  - match: {operation: removedThing}\n    respond: {content: hello}\n"


def documents(tmp_path: Path) -> tuple[str, str]:
    """OLD -> NEW drops the response field ``refusal``: breaking for clients, not for CLEAN_SCENARIO."""
    trimmed = copy.deepcopy(MESSAGE)
    del trimmed["properties"]["refusal"]
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(spec(response=MESSAGE)))
    new.write_text(json.dumps(spec(response=trimmed)))
    return str(old), str(new)


def scenario(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return str(path)


def test_fail_on_scenarios_ignores_client_breaking_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fakeai.cli import main

    old, new = documents(tmp_path)
    clean = scenario(tmp_path, CLEAN_SCENARIO)
    assert main(["drift", old, new, "--scenario", clean]) == 1  # the default gate: a client-breaking change
    assert main(["drift", old, new, "--scenario", clean, "--fail-on", "scenarios"]) == 0
    assert "breaking: 1" in capsys.readouterr().out


def test_fail_on_scenarios_fails_on_a_scenario_finding(tmp_path: Path) -> None:
    from fakeai.cli import main

    old, _new = documents(tmp_path)
    broken = scenario(tmp_path, BROKEN_SCENARIO)
    assert main(["drift", old, old, "--scenario", broken, "--fail-on", "scenarios"]) == 1


def test_missing_scenario_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fakeai.cli import main

    old, new = documents(tmp_path)
    missing = tmp_path / "nope.yaml"
    assert main(["drift", old, new, "--scenario", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"not found: --scenario {missing}" in err and "Traceback" not in err


def many_changes(count: int) -> tuple[Change, ...]:
    return tuple(
        Change(
            "response.property.removed" if i % 3 else "response.enum.added",
            Severity.BREAKING if i % 3 else Severity.WARNING,
            f"op{i}",
            "POST",
            f"/things/{i}",
            f"response 200 .field{i}.nested.deeper",
            "present",
            "absent",
            origin=f"Schema{i}.field{i}",
        )
        for i in range(count)
    )


def test_markdown_summarizes_folds_and_truncates() -> None:
    user = Change("scenario.operation.removed", Severity.BREAKING, "gone", "", "", "s.yaml:2:5 rules[0]", "x", "")
    report = DriftReport("old.yaml", "new.yaml", "a", "b", (*many_changes(3000), user))
    text = render_markdown(report)
    assert len(text) <= MARKDOWN_LIMIT
    assert text.index("| `response.property.removed` | breaking | 2000 |") < text.index("<details")
    assert text.index("Scenarios and fixtures (1)") < text.index("Breaking changes (2000)")  # the user's files first
    assert text.count("<details") == text.count("</details>")
    shown = text.count("| `response.") - 2  # less the kind table's two rows
    assert f"_{3001 - shown - 1} of 3001 findings left out" in text  # the scenario finding is shown


def test_markdown_of_small_report_has_no_truncation_note() -> None:
    text = render_markdown(DriftReport("old.yaml", "new.yaml", "a", "b", many_changes(5)))
    assert "left out" not in text and "<details open><summary>Breaking changes (3)</summary>" in text


def test_markdown_for_real_specs_fits_a_pr_comment() -> None:
    old, new = shared_spec("openai-2025-04-29.yaml"), shared_spec("openai-2026-08-21.yaml")
    report = build_report(str(old), str(new))
    text = render_markdown(report)
    assert len(text) <= MARKDOWN_LIMIT < 65_536
    assert "findings left out" in text and text.index("| kind | severity | changes |") < text.index("<details")
