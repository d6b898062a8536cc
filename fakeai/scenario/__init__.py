"""The scenario engine: YAML scripts for conversations, tool calls, errors, rate limits and chaos.

    engine = ScenarioEngine.from_files(["flaky.yaml"], settings, document)
    Pipeline(..., match=engine.match)

The format is described by ``schema.json`` (shipped) and ``docs/scenarios.md``.
"""

from fakeai.producers.text.script import Script, ToolCall
from fakeai.scenario.engine import ScenarioEngine
from fakeai.scenario.model import Rule, Scenario

__all__ = ["Rule", "Scenario", "ScenarioEngine", "Script", "ToolCall"]
