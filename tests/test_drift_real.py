"""``fakeai drift`` on the published OpenAI documents: hand-checked findings.

Every expectation here was checked by hand against the YAML (see the comment on each test).
Skipped when ``../shared/specs`` (beside the checkout) is absent.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from fakeai.drift import Change, Severity, compare_documents
from fakeai.spec.load import load_document

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"
V2025 = "openai-2025-04-29.yaml"
V2026_05 = "openai-2026-05-13.yaml"
V2026_08 = "openai-2026-08-21.yaml"

pytestmark = pytest.mark.skipif(not (SPECS / V2026_08).is_file(), reason=f"{SPECS} is absent")


@cache
def changes(old: str, new: str) -> tuple[Change, ...]:
    load = lambda name: load_document(None if name == "embedded" else SPECS / name)  # noqa: E731
    return tuple(compare_documents(load(old), load(new)))


def find(found: tuple[Change, ...], kind: str, operation_id: str, where: str) -> Change:
    hits = [c for c in found if (c.kind, c.operation_id, c.where) == (kind, operation_id, where)]
    assert hits, f"no {kind} at {operation_id} {where}"
    return hits[0]


def test_project_geography_removed_from_requests() -> None:
    """05-13 ProjectCreateRequest has ``geography``; 08-21 has ``residency`` instead."""
    change = find(changes(V2026_05, V2026_08), "request.property.removed", "create-project", "request .geography")
    assert change.severity is Severity.BREAKING and change.origin == "ProjectCreateRequest.geography"


def test_web_search_query_no_longer_required_in_responses() -> None:
    """WebSearchActionSearch.required: [type, query] (05-13) -> [type] (08-21)."""
    change = find(
        changes(V2026_05, V2026_08),
        "response.property.required.removed",
        "getResponse",
        "response 200 .output[]<WebSearchToolCall>.action<WebSearchActionSearch>.query",
    )
    assert (change.old, change.new, change.severity) == ("required", "optional", Severity.BREAKING)


def test_mcp_tool_call_error_became_an_object_union() -> None:
    """MCPToolCall.error: anyOf [string, null] (05-13) -> anyOf [$ref MCPToolCallError, null] (08-21)."""
    found = changes(V2026_05, V2026_08)
    response = find(found, "response.type.changed", "getResponse", "response 200 .output[]<MCPToolCall>.error")
    assert response.old == "string" and response.new == "MCPProtocolError | MCPToolExecutionError | HTTPError"
    find(found, "request.type.changed", "createResponse", "request .input<Input item list>[]<MCPToolCall>.error")


def test_safety_identifier_can_now_be_null_in_responses() -> None:
    """Response.safety_identifier: type string (05-13) -> anyOf [string, null] (08-21)."""
    change = find(
        changes(V2026_05, V2026_08), "response.nullable.added", "getResponse", "response 200 .safety_identifier"
    )
    assert change.severity is Severity.BREAKING and change.origin == "Response.safety_identifier"


def test_certificate_upload_field_renamed() -> None:
    """UploadCertificateRequest: required [content] (2025) -> required [certificate] (2026-05)."""
    found = changes(V2025, V2026_05)
    removed = find(found, "request.property.removed", "uploadCertificate", "request .content")
    assert removed.new == "renamed to 'certificate'?"
    find(found, "request.property.required.added", "uploadCertificate", "request .certificate")


def test_chat_top_logprobs_no_longer_accepts_null() -> None:
    """2026-05 CreateModelResponseProperties adds ``top_logprobs: integer``; allOf with ``integer|null`` drops null."""
    change = find(changes(V2025, V2026_05), "request.nullable.removed", "createChatCompletion", "request .top_logprobs")
    assert change.origin == "CreateChatCompletionRequest.top_logprobs"


def test_summary_counts_of_each_pair() -> None:
    for old, new in ((V2025, V2026_05), (V2026_05, V2026_08), ("embedded", V2026_08)):
        found = changes(old, new)
        assert any(c.severity is Severity.BREAKING for c in found), (old, new)
        assert sum(c.kind == "operation.added" for c in found) > 10, (old, new)
    assert not [c for c in changes(V2026_05, "embedded") if c.severity is Severity.BREAKING]
    assert sum(c.kind == "operation.added" for c in changes(V2025, V2026_05)) == 242 - 148


def test_full_documents_compare_across_two_releases() -> None:
    """A year apart (2025-04 -> 2026-08): the whole documents compare, with what both steps in between found.
    (How fast is a benchmark, not a test: ``benchmarks/``.)"""
    found = changes(V2025, V2026_08)
    assert any(c.severity is Severity.BREAKING for c in found)
    assert sum(c.kind == "operation.added" for c in found) > 10
