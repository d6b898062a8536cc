"""fakeai record of Responses streams (``event:`` + ``data:`` SSE): recorded as rules, replayed, seen alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from fakeai.app import create_app
from fakeai.config import Settings
from fakeai.record.traffic import create_proxy
from fakeai.scenario.model import Scenario
from fakeai.testing import serve

UPSTREAM_RULES = """
rules:
  - name: poem
    match: {operation: createResponse, last_user_message: {contains: poem}}
    respond: {content: "Roses are red, proxies relay, streams are recorded and replayed today."}
  - name: weather
    match: {operation: createResponse, last_user_message: {contains: weather}}
    respond:
      tool_calls: [{id: call_rec_1, name: get_weather, arguments: {city: Paris}}]
"""
TOOLS: list[Any] = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]


def seen_by_sdk(client: openai.OpenAI) -> list[Any]:
    """Per stream: the event types in order, the text deltas joined, the function calls of the final response."""
    seen: list[Any] = []
    for text, tools in (("write a poem", None), ("weather in Paris?", TOOLS)):
        extra: dict[str, Any] = {"tools": tools} if tools else {}
        events = list(client.responses.create(model="gpt-4o", input=text, stream=True, **extra))
        final = events[-1].response
        calls = [(i.call_id, i.name, i.arguments) for i in final.output if i.type == "function_call"]
        seen.append(
            (
                [e.type for e in events],
                "".join(e.delta for e in events if e.type == "response.output_text.delta"),
                final.output_text,
                calls,
            )
        )
    return seen


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, list[Any]]:
    rules = tmp_path / "upstream.yaml"
    rules.write_text(UPSTREAM_RULES)
    upstream = create_app(Settings(scenarios=(str(rules),), tokens_per_chunk=2))
    out = tmp_path / "recorded.yaml"
    with serve(upstream) as up:
        proxy = create_proxy(up.base_url + "/v1", out)
        with (
            serve(proxy) as server,
            openai.OpenAI(base_url=server.base_url + "/v1", api_key="k", max_retries=0) as client,
        ):
            return out, seen_by_sdk(client)


def test_responses_stream_is_recorded_as_a_rule(recorded: tuple[Path, list[Any]]) -> None:
    out, _seen = recorded
    text = out.read_text()
    assert "not replayable" not in text
    rules = sorted(Scenario.from_yaml(out).rules, key=lambda r: r.index)
    assert [r.match.operations for r in rules] == [frozenset({"createResponse"})] * 2
    assert "ttft" in text  # Responses deltas count as output-carrying events for the timing comment


def test_responses_stream_replays_the_same_events(recorded: tuple[Path, list[Any]]) -> None:
    out, seen = recorded
    assert seen[0][1].startswith("Roses are red") and seen[1][3][0][:2] == ("call_rec_1", "get_weather")
    app = create_app(
        Settings(scenarios=(str(out),), replay_strict=True, tokens_per_chunk=2, validate_responses="strict")
    )
    with serve(app) as server, openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0) as client:
        replayed = seen_by_sdk(client)
    assert replayed == seen
    assert not app.violations
