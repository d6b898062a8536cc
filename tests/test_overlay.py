"""Overlays correct upstream documents at load without editing them."""

from __future__ import annotations

import pytest

from fakeai.errors import SpecError
from fakeai.spec.load import load_document
from fakeai.spec.overlay import apply_overlay, parse_target


def test_parse_target_forms() -> None:
    assert parse_target("$.paths['/chat/completions'].post", "t") == ["paths", "/chat/completions", "post"]
    with pytest.raises(SpecError, match="unsupported overlay target"):
        parse_target("$..anything", "t")


def test_update_merges_remove_deletes_and_missing_targets_are_skipped() -> None:
    doc = {"components": {"schemas": {"A": {"required": ["x"], "properties": {"x": {}}}, "B": {}}}}
    overlay = {
        "actions": [
            {
                "target": "$.components.schemas.A",
                "update": {"required": ["y"], "properties": {"y": {"type": "integer"}}},
            },
            {"target": "$.components.schemas.B", "remove": True},
            {"target": "$.components.schemas.Missing", "update": {"type": "object"}},
        ]
    }
    assert apply_overlay(doc, overlay, "t") == 2
    assert doc == {
        "components": {"schemas": {"A": {"required": ["x", "y"], "properties": {"x": {}, "y": {"type": "integer"}}}}}
    }


def test_bundled_overlay_reaches_the_embedded_document() -> None:
    details = load_document(None)["components"]["schemas"]["ResponseUsage"]["properties"]["input_tokens_details"]
    assert "cache_write_tokens" in details["properties"] and "cache_write_tokens" in details["required"]


def test_bundled_overlay_makes_function_tool_strict_optional() -> None:
    required = load_document(None)["components"]["schemas"]["FunctionTool"]["required"]
    assert sorted(required) == ["name", "parameters", "type"]
