"""The pytest plugin for projects as they are: their own OpenAI clients (no namespace header), ``-W error``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_pytest_plugin import PLUGIN

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A nested project with no warning filters of its own (unlike tests/test_pytest_plugin.py's)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makeini("[pytest]\naddopts = --strict-markers\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


OWN_CLIENT = """
import openai
import pytest

ASK = dict(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


def application_client(base_url):
    return openai.OpenAI(base_url=base_url, api_key="sk-app", max_retries=0)  # what the app under test builds


GREET = "rules:\\n  - match: {operation: createChatCompletion}\\n    respond: {content: Bonjour}\\n"


@pytest.mark.fakeai(scenario=GREET)
def test_marked_scenario_reaches_a_plain_client(fakeai):
    with application_client(fakeai.base_url) as client:
        assert client.chat.completions.create(**ASK).choices[0].message.content == "Bonjour"
    assert [e.status for e in fakeai.requests(operation="createChatCompletion")] == [200]


def test_next_test_starts_clean(fakeai):
    assert fakeai.requests() == []
    with application_client(fakeai.base_url) as client:
        assert client.chat.completions.create(**ASK).choices[0].message.content != "Bonjour"
    assert len(fakeai.requests()) == 1
"""


def test_plain_client_without_namespace_header(project: pytest.Pytester) -> None:
    project.makepyfile(OWN_CLIENT)
    project.runpytest_inprocess(*PLUGIN).assert_outcomes(passed=2)


def test_warnings_as_errors_do_not_break_fixture_setup(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_chat(fakeai):
            reply = fakeai.client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content
        """
    )
    result = project.runpytest_subprocess(*PLUGIN, "-W", "error")  # a fresh process: third-party imports happen here
    result.assert_outcomes(passed=1)
