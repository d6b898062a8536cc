"""``fakeai check``: rate-limit scopes, template variables and method/path rules' bodies, through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakeai.cli import main


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(text)
    code = main(["check", str(scenario)])
    return code, capsys.readouterr().err.replace(str(scenario), "s.yaml")


def test_unknown_operation_in_rate_limit_scope(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "rate_limits:\n  - scope: {operation: createChatCompletons}\n    requests_per_minute: 5\n"
    code, err = check(tmp_path, text, capsys)
    assert code == 1
    assert "s.yaml:2:5: unknown operation 'createChatCompletons' (did you mean 'createChatCompletion'?)" in err


def test_undefined_template_variable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        "rules:\n  - match: {operation: createChatCompletion}\n"
        '    respond: {content: "{{ last_user_mesage }} {% for x in body.messages %}{{ x.role }}{% endfor %}"}\n'
    )
    code, err = check(tmp_path, text, capsys)
    assert code == 1
    assert err.splitlines() == [
        "s.yaml:3:15: rules[0].respond.content: undefined template variable 'last_user_mesage'"
        " (did you mean 'last_user_message'?)"
    ]


def test_every_variable_of_the_template_environment_is_known(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = "body query path headers model now operation_id random_id uuid match state turn last_user_message"
    used = " ".join(f"{{{{ {name} }}}}" for name in names.split()) + " {{ request_id }}{{ namespace }}{{ range(2) }}"
    text = f'rules:\n  - match: {{operation: createChatCompletion}}\n    sequence: [{{content: "{used}"}}]\n'
    assert check(tmp_path, text, capsys) == (0, "")


def test_body_of_a_method_path_rule_is_validated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        "rules:\n  - match: {method: GET, path: /v1/models/gpt-4o}\n    respond:\n      body: {object: 42}\n"
        "  - match: {method: GET, path: '/models/{model}'}\n    respond:\n"
        "      body: {id: m, object: model, created: 0, owned_by: me}\n"
    )
    code, err = check(tmp_path, text, capsys)
    assert code == 1
    (line,) = err.splitlines()
    assert line.startswith("rule-1 (s.yaml:2:5): body does not match the retrieveModel response schema:")


def test_method_path_rule_spanning_operations_is_not_validated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "rules:\n  - match: {path: '/v1/*'}\n    respond:\n      body: {anything: goes}\n"
    assert check(tmp_path, text, capsys) == (0, "")
