"""Every change kind, who it breaks and why: the single table the diff engine and the docs rely on.

Requests are what clients write and the server reads: NEW breaks clients when it accepts less than
OLD. Responses are what the server writes and clients read: NEW breaks clients when it can send
something OLD never promised. Some response changes only break strict clients (exhaustive ``match``
on an enum, generated models that reject unknown variants): those are warnings.
"""

from __future__ import annotations

from fakeai.drift.change import Severity

B, W, N = Severity.BREAKING, Severity.WARNING, Severity.NON_BREAKING

KINDS: dict[str, tuple[Severity, str]] = {
    # operations
    "operation.removed": (B, "the operation (METHOD path) is gone"),
    "operation.path.changed": (B, "the same operationId answers on another METHOD path"),
    "operation.id.changed": (W, "same METHOD path, new operationId: fakeai fixtures and scenarios use the id"),
    "operation.deprecated": (W, "the operation is now deprecated"),
    "operation.added": (N, "a new operation"),
    # parameters and bodies
    "request.parameter.removed": (B, "a parameter clients send is gone"),
    "request.parameter.required.added": (B, "a new required parameter, or an optional one made required"),
    "request.parameter.required.removed": (N, "a required parameter is now optional"),
    "request.parameter.added": (N, "a new optional parameter"),
    "request.body.required.added": (B, "the request body is now required"),
    "request.media.removed": (B, "a request content type is no longer accepted"),
    "request.media.added": (N, "a new request content type"),
    "response.status.removed": (W, "a success status code is no longer documented"),
    "response.status.added": (N, "a new success status code"),
    "response.media.removed": (B, "a response content type is gone"),
    "response.media.added": (N, "a new response content type"),
    # request schemas
    "request.property.removed": (B, "a request field is gone (strict servers reject it)"),
    "request.property.required.added": (B, "a new required request field, or an optional one made required"),
    "request.property.required.removed": (N, "a required request field is now optional"),
    "request.property.added": (N, "a new optional request field"),
    "request.type.changed": (B, "a request field no longer accepts a type it accepted"),
    "request.type.widened": (N, "a request field accepts more types"),
    "request.nullable.removed": (B, "a request field no longer accepts null"),
    "request.nullable.added": (N, "a request field now accepts null"),
    "request.enum.removed": (B, "a request enum value is no longer accepted"),
    "request.enum.added": (N, "a new accepted request enum value"),
    "request.variant.removed": (B, "a request union lost a variant"),
    "request.variant.added": (N, "a request union gained a variant"),
    "request.constraint.tightened": (B, "a stricter request constraint (min/max/length/items/pattern/enum)"),
    "request.constraint.changed": (B, "a changed request constraint (pattern, multipleOf): may reject old values"),
    "request.constraint.relaxed": (N, "a looser request constraint"),
    "request.format.changed": (W, "a request field's format changed"),
    "request.default.changed": (W, "a request default changed: clients that omit the field get other behaviour"),
    # response schemas
    "response.property.removed": (B, "a response field is gone (or renamed)"),
    "response.property.required.removed": (B, "a response field is no longer always present"),
    "response.property.required.added": (N, "a response field is now always present"),
    "response.property.added": (N, "a new response field"),
    "response.type.changed": (B, "a response field can have a type it could not have before"),
    "response.type.narrowed": (N, "a response field has fewer possible types"),
    "response.nullable.added": (B, "a response field can now be null"),
    "response.nullable.removed": (N, "a response field is no longer null"),
    "response.enum.removed": (B, "a response enum value is gone (clients matching on it stop seeing it)"),
    "response.enum.added": (W, "a new response enum value: strict clients with exhaustive matches break"),
    "response.variant.added": (W, "a response union gained a variant: strict clients may not parse it"),
    "response.variant.removed": (W, "a response union lost a variant"),
    "response.constraint.relaxed": (W, "a looser response constraint: values outside the old range may come"),
    "response.constraint.changed": (W, "a changed response constraint (pattern, multipleOf)"),
    "response.constraint.tightened": (N, "a stricter response constraint"),
    "response.format.changed": (W, "a response field's format changed"),
    "response.default.changed": (N, "a response default changed"),
    # documentation
    "description.changed": (N, "a description, summary or title changed"),
    "deprecated.added": (N, "a field is now deprecated"),
    "deprecated.removed": (N, "a field is no longer deprecated"),
    # fakeai users' own files
    "scenario.operation.removed": (B, "a scenario refers to an operationId NEW does not have"),
    "scenario.operation.unknown": (W, "a scenario refers to an operationId neither document has"),
    "scenario.body.invalid": (B, "a scenario response body valid against OLD does not validate against NEW"),
    "scenario.body.still_invalid": (W, "a scenario response body is invalid against NEW and was already against OLD"),
    "fixture.operation.removed": (B, "a fixtures/<operationId>.json.j2 template whose operation is gone in NEW"),
    "fixture.operation.unknown": (W, "a fixture template for an operationId neither document has"),
}


def severity(kind: str) -> Severity:
    """The severity of a change kind; an unknown kind is a bug in the diff engine."""
    entry = KINDS.get(kind)
    assert entry is not None, f"unclassified change kind {kind!r}"
    return entry[0]


def explain(kind: str) -> str:
    return KINDS[kind][1]
