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


async def test_errors_documented_as_the_bare_error_object_are_the_envelope_after_the_overlay() -> None:
    """DELETE /responses/{id} documents its 404 as the inner Error; OpenAI (and fakeai) answer the envelope."""
    import httpx2

    from fakeai.spec.pointer import pointer
    from fakeai.spec.validate import Validators
    from tests.conftest import make_app

    app = make_app()
    responses = app.document["paths"]["/responses/{response_id}"]["delete"]["responses"]
    schema = responses["404"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        missing = await http.delete("/v1/responses/resp_" + "0" * 40, headers={"authorization": "Bearer x"})
    assert missing.status_code == 404
    envelope = Validators(app.document).for_pointer(pointer("components", "schemas", "ErrorResponse"))
    assert envelope.is_valid(missing.json())
