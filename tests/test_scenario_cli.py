"""``--scenario`` reaches the running app; ``fakeai check`` through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakeai.app import create_app
from fakeai.cli import build_parser, main, settings_from_args
from fakeai.testing import async_client

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


async def test_scenario_flag_reaches_the_app(tmp_path: Path) -> None:
    first = tmp_path / "one.yaml"
    first.write_text("rules:\n  - match: {operation: createChatCompletion}\n    respond: {content: from one}\n")
    second = tmp_path / "two.yaml"
    second.write_text("rules:\n  - match: {operation: createEmbedding}\n    respond: {error: {status: 418}}\n")
    args = build_parser().parse_args(["--scenario", str(first), "--scenario", str(second)])
    settings = settings_from_args(args, environ={})
    assert settings.scenarios == (str(first), str(second))
    app = create_app(settings)
    assert app.scenarios is not None
    assert [s["name"] for s in app.scenarios.summary()] == ["one", "two"]
    answer = await async_client(app).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}]
    )
    assert answer.choices[0].message.content == "from one"


def test_check_subcommand_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(SCENARIOS / "flaky.yaml"), str(SCENARIOS / "tool-calling.yaml")]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - mach: {}\n")
    assert main(["check", str(bad)]) == 1
    assert f"{bad}:2:5: rules[0].mach: unknown key 'mach' (did you mean 'match'?)" in capsys.readouterr().err
