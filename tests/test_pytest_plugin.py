"""The pytest plugin, exercised through pytester: small test files run by a nested pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]


def _entry_point_installed() -> bool:
    """An installed fakeai (``pip install -e .``) loads the plugin through its ``pytest11`` entry point."""
    from importlib.metadata import entry_points

    return any(ep.value == "fakeai.pytest_plugin" for ep in entry_points(group="pytest11"))


# load the plugin explicitly only when the entry point does not (registering it twice is an error)
PLUGIN = (
    ("-p", "no:cacheprovider") if _entry_point_installed() else ("-p", "fakeai.pytest_plugin", "-p", "no:cacheprovider")
)


@pytest.fixture
def nested(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makeini(
        "[pytest]\naddopts = --strict-markers\nfilterwarnings = error\n"
        "    ignore:jsonschema.RefResolver is deprecated:DeprecationWarning\n"
        "    ignore:.*jsonschema.exceptions.RefResolutionError.*:DeprecationWarning\n"
        "asyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    return pytester


def test_import_is_lazy() -> None:
    code = (
        "import sys, fakeai.pytest_plugin\n"
        "heavy = [m for m in ('openai', 'connexion', 'uvicorn', 'httpx', 'fakeai.app') if m in sys.modules]\n"
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_fixture_client_and_journal(nested: pytest.Pytester) -> None:
    nested.makepyfile(
        """
        def test_chat(fakeai):
            reply = fakeai.client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content
            assert fakeai.base_url.startswith("http://127.0.0.1:") and fakeai.base_url.endswith("/v1")
            entries = fakeai.requests(operation="createChatCompletion")
            assert [e.status for e in entries] == [200]
            assert fakeai.requests(operation="listModels") == []

        async def test_async(fakeai):
            page = await fakeai.async_client.models.list()
            assert page.data
            assert len(fakeai.requests()) == 1
        """
    )
    nested.runpytest_inprocess(*PLUGIN).assert_outcomes(passed=2)


def test_marker_settings_and_scenario(nested: pytest.Pytester) -> None:
    nested.makefile(
        ".yaml", greet="rules:\n  - match: {operation: createChatCompletion}\n    respond: {content: Bonjour}\n"
    )
    nested.makepyfile(
        """
        import pytest

        ASK = dict(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])

        @pytest.mark.fakeai(scenario="greet.yaml", seed=3)
        def test_marked(fakeai):
            assert fakeai.app.settings.seed == 3
            assert fakeai.client.chat.completions.create(**ASK).choices[0].message.content == "Bonjour"

        def test_unmarked_sees_no_scenario(fakeai):
            assert fakeai.app.settings.seed == 0
            assert fakeai.client.chat.completions.create(**ASK).choices[0].message.content != "Bonjour"

        @pytest.mark.fakeai(mode="fixed", fixed_text="always this")
        def test_any_setting(fakeai):
            assert fakeai.client.chat.completions.create(**ASK).choices[0].message.content == "always this"
        """
    )
    nested.runpytest_inprocess(*PLUGIN).assert_outcomes(passed=3)


def test_strict_markers_accepts_the_marker(nested: pytest.Pytester) -> None:
    nested.makepyfile(
        test_marked="import pytest\n\n@pytest.mark.fakeai(seed=1)\ndef test_a():\n    pass\n",
        test_unknown="import pytest\n\n@pytest.mark.not_registered\ndef test_b():\n    pass\n",
    )
    result = nested.runpytest_inprocess(*PLUGIN, "--continue-on-collection-errors")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*'not_registered' not found in `markers` configuration option*"])


ISOLATION = """
import pytest

ASK = dict(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
STEPS = "rules:\\n  - match: {operation: createChatCompletion}\\n    sequence: [{content: one}, {content: two}]\\n"

@pytest.mark.parametrize("run", range(4))
def test_sequence_starts_fresh(fakeai, run):
    fakeai.use_scenario(STEPS)
    said = [fakeai.client.chat.completions.create(**ASK).choices[0].message.content for _ in range(2)]
    assert said == ["one", "two"]
    assert len(fakeai.requests()) == 2
    fakeai.verify({"max_requests": 2})

def test_no_leak(fakeai):
    assert fakeai.requests() == []
    assert fakeai.client.chat.completions.create(**ASK).choices[0].message.content not in ("one", "two")
"""


def test_isolation_between_tests(nested: pytest.Pytester) -> None:
    nested.makepyfile(ISOLATION)
    nested.runpytest_inprocess(*PLUGIN).assert_outcomes(passed=5)


@pytest.mark.slow  # ~15 s: a pytest subprocess with two xdist workers; test_isolation_between_tests is the fast sibling
def test_isolation_under_xdist(nested: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    nested.makepyfile(ISOLATION)
    result = nested.runpytest_subprocess(*PLUGIN, "-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=5)


def test_verify_reports_failures(nested: pytest.Pytester) -> None:
    nested.makepyfile(
        """
        def test_too_many(fakeai):
            for _ in range(3):
                fakeai.client.models.list()
            fakeai.verify([{"max_requests": 2, "name": "few calls"}])
        """
    )
    result = nested.runpytest_inprocess(*PLUGIN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*few calls: 3 requests, more than 2*"])


def test_bundled_scenario_and_its_expectations(nested: pytest.Pytester) -> None:
    nested.makepyfile(
        """
        TOOLS = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
                 for n in ("get_weather", "get_local_time", "book_table")]

        def test_tool_loop(fakeai):
            fakeai.use_scenario("tool-calling.yaml")
            messages = [{"role": "user", "content": "Book a table in Paris"}]
            first = fakeai.client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
            calls = first.choices[0].message.tool_calls
            assert [c.function.name for c in calls] == ["get_weather", "get_local_time"]
            messages.append(first.choices[0].message.model_dump(exclude_none=True))
            messages += [{"role": "tool", "tool_call_id": c.id, "content": "sunny"} for c in calls]
            second = fakeai.client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
            assert second.choices[0].message.tool_calls[0].function.name == "book_table"
            fakeai.verify()
        """
    )
    nested.runpytest_inprocess(*PLUGIN).assert_outcomes(passed=1)
