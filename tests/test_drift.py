"""``fakeai drift``: one tiny synthetic spec pair per change kind, the reports, the CLI and the user-file checks."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.drift import KINDS, Change, Severity, compare_documents, exit_code
from fakeai.drift.cli import build_report, selected
from fakeai.drift.report import DriftReport, render_json, render_markdown, render_text
from fakeai.drift.usage import Side, check_fixtures, check_scenarios
from fakeai.spec.normalize import normalize

MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"type": "string", "enum": ["assistant"]},
        "content": {"type": "string", "description": "The text."},
        "refusal": {"type": "string"},
    },
}


def spec(
    request: Any = None,
    response: Any = None,
    components: dict[str, Any] | None = None,
    parameters: list[Any] | None = None,
    openapi: str = "3.1.0",
    extra_paths: dict[str, Any] | None = None,
    operation_id: str = "createThing",
) -> dict[str, Any]:
    """A one-operation document: POST /things/{thing_id} with an optional JSON body and a 200 answer."""
    op: dict[str, Any] = {
        "operationId": operation_id,
        "tags": ["Things"],
        "parameters": [{"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}}]
        + (parameters or []),
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": response or {}}}}},
    }
    if request is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": request}}}
    return normalize(
        {
            "openapi": openapi,
            "info": {"title": "t", "version": "1"},
            "paths": {"/things/{thing_id}": {"post": op}, **(extra_paths or {})},
            "components": {"schemas": components or {}},
        }
    )


def obj(required: list[str] | None = None, **properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or []}


def kinds(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c.kind, c.where) for c in compare_documents(old, new)]


def only(old: dict[str, Any], new: dict[str, Any]) -> Change:
    changes = compare_documents(old, new)
    assert len(changes) == 1, changes
    return changes[0]


# -- operations ----------------------------------------------------------------------------------


def test_identical_documents_have_no_changes() -> None:
    doc = spec(
        request=obj(a={"type": "string"}), response={"$ref": "#/components/schemas/M"}, components={"M": MESSAGE}
    )
    assert compare_documents(doc, copy.deepcopy(doc)) == []


def test_removed_and_added_operations() -> None:
    extra = {"/other": {"get": {"operationId": "getOther", "responses": {"200": {"description": "ok"}}}}}
    with_other, without = spec(extra_paths=extra), spec()
    removed = only(with_other, without)
    assert (removed.kind, removed.severity, removed.operation) == (
        "operation.removed",
        Severity.BREAKING,
        "getOther GET /other",
    )
    assert only(without, with_other).kind == "operation.added"


def test_renamed_operation_id_and_path_parameter_name_are_not_removals() -> None:
    old = spec(operation_id="createThing")
    new = copy.deepcopy(spec(operation_id="makeThing"))
    item = new["paths"].pop("/things/{thing_id}")
    item["post"]["parameters"][0]["name"] = "id"
    new["paths"]["/things/{id}"] = item
    change = only(old, new)
    assert (change.kind, change.old, change.new, change.severity) == (
        "operation.id.changed",
        "createThing",
        "makeThing",
        Severity.WARNING,
    )


def test_operation_moved_to_another_path_keeps_its_id() -> None:
    old = spec()
    new = copy.deepcopy(old)
    new["paths"]["/v2/things/{thing_id}"] = new["paths"].pop("/things/{thing_id}")
    change = only(old, new)
    assert change.kind == "operation.path.changed" and change.new == "POST /v2/things/{thing_id}"


# -- parameters ------------------------------------------------------------------------------------


def test_parameters_removed_added_and_made_required() -> None:
    limit = {"name": "limit", "in": "query", "schema": {"type": "integer"}}
    assert only(spec(parameters=[limit]), spec()).kind == "request.parameter.removed"
    assert only(spec(), spec(parameters=[limit])).kind == "request.parameter.added"
    required = {**limit, "required": True}
    assert only(spec(), spec(parameters=[required])).kind == "request.parameter.required.added"
    change = only(spec(parameters=[limit]), spec(parameters=[required]))
    assert (change.kind, change.where, change.severity) == (
        "request.parameter.required.added",
        "request query limit",
        Severity.BREAKING,
    )


def test_parameter_maximum_lowered_is_breaking() -> None:
    def limit(maximum: int) -> list[Any]:
        return [{"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": maximum}}]

    change = only(spec(parameters=limit(100)), spec(parameters=limit(50)))
    assert (change.kind, change.old, change.new) == ("request.constraint.tightened", "maximum=100", "maximum=50")


# -- request bodies --------------------------------------------------------------------------------


def test_request_property_removed_added_required() -> None:
    base = obj(model={"type": "string"}, effort={"type": "string"})
    assert kinds(spec(request=base), spec(request=obj(model={"type": "string"}))) == [
        ("request.property.removed", "request .effort")
    ]
    assert kinds(spec(request=obj(model={"type": "string"})), spec(request=base)) == [
        ("request.property.added", "request .effort")
    ]
    new_required = obj(["user"], model={"type": "string"}, effort={"type": "string"}, user={"type": "string"})
    assert kinds(spec(request=base), spec(request=new_required)) == [
        ("request.property.required.added", "request .user")
    ]
    made_required = obj(["effort"], model={"type": "string"}, effort={"type": "string"})
    change = only(spec(request=base), spec(request=made_required))
    assert (change.kind, change.old, change.new) == ("request.property.required.added", "optional", "required")
    assert only(spec(request=made_required), spec(request=base)).kind == "request.property.required.removed"


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ({"type": "string", "maxLength": 512}, {"type": "string", "maxLength": 256}, "request.constraint.tightened"),
        ({"type": "string", "maxLength": 256}, {"type": "string", "maxLength": 512}, "request.constraint.relaxed"),
        ({"type": "integer", "minimum": 0}, {"type": "integer", "minimum": 1}, "request.constraint.tightened"),
        ({"type": "array", "items": {}}, {"type": "array", "items": {}, "minItems": 1}, "request.constraint.tightened"),
        ({"type": "string"}, {"type": "string", "pattern": "^a"}, "request.constraint.tightened"),
        ({"type": "string", "pattern": "^a"}, {"type": "string", "pattern": "^b"}, "request.constraint.changed"),
        ({"type": "string"}, {"type": "string", "enum": ["a"]}, "request.constraint.tightened"),
        ({"type": "string", "enum": ["a", "b"]}, {"type": "string", "enum": ["a"]}, "request.enum.removed"),
        ({"type": "string", "enum": ["a"]}, {"type": "string", "enum": ["a", "b"]}, "request.enum.added"),
        ({"type": "number"}, {"type": "integer"}, "request.type.changed"),
        ({"type": "integer"}, {"type": "number"}, "request.type.widened"),
        ({"type": ["string", "null"]}, {"type": "string"}, "request.nullable.removed"),
        ({"type": "string"}, {"type": "string", "nullable": True}, "request.nullable.added"),
        ({"type": "string", "format": "uri"}, {"type": "string", "format": "email"}, "request.format.changed"),
        ({"type": "string", "default": "low"}, {"type": "string", "default": "medium"}, "request.default.changed"),
        ({"type": "string", "description": "a"}, {"type": "string", "description": "b"}, "description.changed"),
        ({"type": "string"}, {"type": "string", "deprecated": True}, "deprecated.added"),
    ],
)
def test_request_field_changes(old: dict[str, Any], new: dict[str, Any], kind: str) -> None:
    change = only(spec(request=obj(effort=old)), spec(request=obj(effort=new)))
    assert (change.kind, change.where) == (kind, "request .effort")
    assert change.severity is KINDS[kind][0]


def test_request_union_variants() -> None:
    two = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    assert kinds(spec(request=obj(input=two)), spec(request=obj(input={"type": "string"}))) == [
        ("request.variant.removed", "request .input")
    ]
    assert kinds(spec(request=obj(input={"type": "string"})), spec(request=obj(input=two))) == [
        ("request.variant.added", "request .input")
    ]


def test_request_media_and_body_required() -> None:
    old = spec(request=obj(a={"type": "string"}))
    new = copy.deepcopy(old)
    content = new["paths"]["/things/{thing_id}"]["post"]["requestBody"]["content"]
    content["multipart/form-data"] = content.pop("application/json")
    assert sorted(kinds(old, new)) == [("request.media.added", "request"), ("request.media.removed", "request")]
    optional = copy.deepcopy(old)
    optional["paths"]["/things/{thing_id}"]["post"]["requestBody"]["required"] = False
    assert only(optional, old).kind == "request.body.required.added"


# -- responses -------------------------------------------------------------------------------------


def message_response(message: dict[str, Any]) -> dict[str, Any]:
    choices = {"type": "array", "items": obj(["message"], message={"$ref": "#/components/schemas/Msg"})}
    return spec(response=obj(["choices"], choices=choices), components={"Msg": message})


def test_response_property_removed_is_located_through_refs_and_arrays() -> None:
    trimmed = copy.deepcopy(MESSAGE)
    del trimmed["properties"]["refusal"]
    change = only(message_response(MESSAGE), message_response(trimmed))
    assert (change.kind, change.severity, change.where, change.origin) == (
        "response.property.removed",
        Severity.BREAKING,
        "response 200 .choices[].message.refusal",
        "Msg.refusal",
    )


def test_response_rename_is_suggested() -> None:
    renamed = copy.deepcopy(MESSAGE)
    renamed["properties"]["refusal_text"] = renamed["properties"].pop("refusal")
    changes = compare_documents(message_response(MESSAGE), message_response(renamed))
    removed = next(c for c in changes if c.kind == "response.property.removed")
    assert removed.new == "renamed to 'refusal_text'?"


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ({"type": "string"}, {"type": "integer"}, "response.type.changed"),
        ({"type": "integer"}, {"type": "number"}, "response.type.changed"),
        ({"type": ["string", "integer"]}, {"type": "string"}, "response.type.narrowed"),
        ({"type": "string"}, {"type": ["string", "null"]}, "response.nullable.added"),
        ({"type": "string", "nullable": True}, {"type": "string"}, "response.nullable.removed"),
        ({"enum": ["stop", "length"]}, {"enum": ["stop"]}, "response.enum.removed"),
        ({"enum": ["stop"]}, {"enum": ["stop", "length"]}, "response.enum.added"),
        ({"type": "string", "maxLength": 10}, {"type": "string", "maxLength": 20}, "response.constraint.relaxed"),
        ({"type": "string", "maxLength": 20}, {"type": "string", "maxLength": 10}, "response.constraint.tightened"),
    ],
)
def test_response_field_changes(old: dict[str, Any], new: dict[str, Any], kind: str) -> None:
    change = only(spec(response=obj(finish=old)), spec(response=obj(finish=new)))
    assert (change.kind, change.where, change.severity) == (kind, "response 200 .finish", KINDS[kind][0])


def test_response_required_made_optional_and_back() -> None:
    loose = copy.deepcopy(MESSAGE)
    loose["required"] = ["role"]
    change = only(message_response(MESSAGE), message_response(loose))
    assert (change.kind, change.severity) == ("response.property.required.removed", Severity.BREAKING)
    assert only(message_response(loose), message_response(MESSAGE)).kind == "response.property.required.added"


def test_response_property_added_is_not_breaking() -> None:
    grown = copy.deepcopy(MESSAGE)
    grown["properties"]["audio"] = {"type": "object"}
    change = only(message_response(MESSAGE), message_response(grown))
    assert (change.kind, change.severity) == ("response.property.added", Severity.NON_BREAKING)


def test_response_union_variant_added_is_a_warning_and_branches_compare_by_discriminator() -> None:
    text = obj(["type"], type={"type": "string", "enum": ["text"]}, text={"type": "string"})
    image = obj(["type"], type={"type": "string", "enum": ["image"]}, url={"type": "string"})
    audio = obj(["type"], type={"type": "string", "enum": ["audio"]}, data={"type": "string"})
    old = spec(response=obj(part={"anyOf": [text, image]}))
    new_text = obj(["type"], type={"type": "string", "enum": ["text"]}, text={"type": "integer"})
    new = spec(response=obj(part={"anyOf": [image, new_text, audio]}))  # reordered on purpose
    assert sorted(kinds(old, new)) == [
        ("response.type.changed", "response 200 .part<type=text>.text"),
        ("response.variant.added", "response 200 .part"),
    ]


def test_oneof_anyof_and_30_nullable_spellings_compare_equal() -> None:
    old = spec(
        response=obj(v={"oneOf": [{"type": "string"}, {"type": "integer"}]}, n={"type": "string", "nullable": True}),
        openapi="3.0.3",
    )
    new = spec(response=obj(v={"anyOf": [{"type": "string"}, {"type": "integer"}]}, n={"type": ["string", "null"]}))
    assert compare_documents(old, new) == []


def test_ref_made_nullable_is_reported_once() -> None:
    old = spec(response=obj(m={"$ref": "#/components/schemas/Msg"}), components={"Msg": MESSAGE})
    nullable = {"anyOf": [{"$ref": "#/components/schemas/Msg"}, {"type": "null"}]}
    new = spec(response=obj(m=nullable), components={"Msg": MESSAGE})
    assert kinds(old, new) == [("response.nullable.added", "response 200 .m")]


def test_recursive_schemas_terminate() -> None:
    node = obj(name={"type": "string"}, children={"type": "array", "items": {"$ref": "#/components/schemas/Node"}})
    grown = copy.deepcopy(node)
    grown["properties"]["size"] = {"type": "integer"}
    old = spec(response={"$ref": "#/components/schemas/Node"}, components={"Node": node})
    new = spec(response={"$ref": "#/components/schemas/Node"}, components={"Node": grown})
    assert kinds(old, new) == [("response.property.added", "response 200 .size")]


def test_allof_merge_that_drops_null_is_seen() -> None:
    """allOf [integer, integer|null] rejects null (the 2026 top_logprobs case)."""
    base = obj(top={"type": "integer"})
    old = spec(request=obj(top={"type": ["integer", "null"]}))
    new = spec(
        request={"allOf": [{"$ref": "#/components/schemas/Base"}, obj(top={"type": ["integer", "null"]})]},
        components={"Base": base},
    )
    assert kinds(old, new) == [("request.nullable.removed", "request .top")]


def test_response_status_and_media_changes() -> None:
    old = spec(response=obj(a={"type": "string"}))
    new = copy.deepcopy(old)
    responses = new["paths"]["/things/{thing_id}"]["post"]["responses"]
    responses["200"]["content"]["text/event-stream"] = {"schema": {"type": "string"}}
    assert only(old, new).kind == "response.media.added"
    assert only(new, old).kind == "response.media.removed"
    responses["201"] = responses.pop("200")
    assert sorted(c.kind for c in compare_documents(old, new)) == ["response.status.added", "response.status.removed"]


def test_every_kind_is_classified_and_explained() -> None:
    for kind, (severity, why) in KINDS.items():
        assert isinstance(severity, Severity) and why, kind


# -- properties ------------------------------------------------------------------------------------

FIELD = st.fixed_dictionaries(
    {"type": st.sampled_from(["string", "integer", "boolean"])},
    optional={
        "maxLength": st.integers(0, 5),
        "enum": st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, unique=True),
    },
)


@settings(database=None, max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), FIELD, max_size=4), st.data())
def test_comparing_a_document_with_itself_finds_nothing_and_removal_is_always_breaking(
    fields: dict[str, Any], data: st.DataObject
) -> None:
    doc = spec(request=obj(**fields), response=obj(sorted(fields), **fields))
    assert compare_documents(doc, copy.deepcopy(doc)) == []
    if fields:
        gone = data.draw(st.sampled_from(sorted(fields)))
        fewer = {k: v for k, v in fields.items() if k != gone}
        changes = compare_documents(doc, spec(request=obj(**fewer), response=obj(sorted(fewer), **fewer)))
        assert {(c.kind, c.where) for c in changes} == {
            ("request.property.removed", f"request .{gone}"),
            ("response.property.removed", f"response 200 .{gone}"),
        }
        assert all(c.severity is Severity.BREAKING for c in changes)


@settings(database=None, max_examples=60, deadline=None)
@given(st.integers(0, 50), st.integers(0, 50))
def test_max_length_direction_is_antisymmetric(before: int, after: int) -> None:
    """Lowering maxLength breaks requests exactly when raising it would relax them, and vice versa."""
    old = spec(request=obj(s={"type": "string", "maxLength": before}))
    new = spec(request=obj(s={"type": "string", "maxLength": after}))
    forward, backward = compare_documents(old, new), compare_documents(new, old)
    if before == after:
        assert forward == backward == []
    else:
        assert {forward[0].kind, backward[0].kind} == {"request.constraint.tightened", "request.constraint.relaxed"}
        assert (forward[0].kind == "request.constraint.tightened") == (after < before)


# -- reports, filters, exit codes -------------------------------------------------------------------


def sample_report() -> DriftReport:
    trimmed = copy.deepcopy(MESSAGE)
    del trimmed["properties"]["refusal"]
    trimmed["properties"]["content"]["description"] = "Changed."
    changes = compare_documents(message_response(MESSAGE), message_response(trimmed))
    return DriftReport("old.yaml", "new.yaml", "openapi 3.1.0", "openapi 3.1.0", tuple(changes), 0.01)


def test_text_report_puts_counts_first_then_breaking_changes_by_operation() -> None:
    text = render_text(sample_report())
    lines = text.splitlines()
    assert lines[1].startswith("breaking: 1 (1 distinct)   warning: 0 (0 distinct)   non-breaking: 1")
    assert "description.changed 1" in lines[2]
    assert lines[4:6] == ["BREAKING (1)", "createThing POST /things/{thing_id}"]
    assert "response.property.removed" in lines[6] and ".choices[].message.refusal" in lines[6]
    assert "NON-BREAKING" not in text and "NON-BREAKING" in render_text(sample_report(), details=True)


def test_markdown_and_json_reports() -> None:
    markdown = render_markdown(sample_report())
    assert "| breaking | 1 | 1 |" in markdown and "`response.property.removed`" in markdown
    data = json.loads(render_json(sample_report()))
    assert data["summary"] == {"breaking": 1, "warning": 0, "non-breaking": 1}
    assert data["changes"][0]["where"] == "response 200 .choices[].message.refusal"


def test_exit_codes_and_only_filter() -> None:
    changes = list(sample_report().changes)
    breaking = [c for c in changes if c.severity is Severity.BREAKING]
    quiet = [c for c in changes if c.severity is Severity.NON_BREAKING]
    assert exit_code(breaking, "breaking") == 1 and exit_code(breaking, "none") == 0
    assert exit_code(quiet, "breaking") == 0 and exit_code(quiet, "warning") == 0 and exit_code(quiet, "any") == 1
    assert exit_code([], "any") == 0
    assert selected(breaking[0], "THING") and selected(breaking[0], "chat,things")
    assert not selected(breaking[0], "chat,responses")


# -- fakeai users' files ---------------------------------------------------------------------------


SCENARIO = """\
rules:
  - match: {operation: createThing}
    respond:
      body: {role: assistant, content: hi}
  - match: {operation: [createThing, getOther]}
    respond: {content: hello}
  - match: {operation: neverExisted}
    respond: {content: x}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_scenarios_checked_against_new(tmp_path: Path) -> None:
    extra = {"/other": {"get": {"operationId": "getOther", "responses": {"200": {"description": "ok"}}}}}
    old = spec(response={"$ref": "#/components/schemas/M"}, components={"M": MESSAGE}, extra_paths=extra)
    stricter = copy.deepcopy(MESSAGE)
    stricter["required"].append("refusal")
    new = spec(response={"$ref": "#/components/schemas/M"}, components={"M": stricter})
    scenario = write(tmp_path, "s.yaml", SCENARIO)
    changes = check_scenarios([scenario], Side(old), Side(new))
    found = sorted((c.kind, c.operation_id, c.where.split(" ")[-1]) for c in changes)
    assert found == [
        ("scenario.body.invalid", "createThing", "rules[0].respond.body"),
        ("scenario.operation.removed", "getOther", "rules[1].match.operation"),
        ("scenario.operation.unknown", "neverExisted", "rules[2].match.operation"),
    ]
    invalid = next(c for c in changes if c.kind == "scenario.body.invalid")
    assert invalid.where.startswith(f"{scenario}:4:") and "refusal" in invalid.new and invalid.old == "valid"


def test_scenario_body_already_invalid_is_only_a_warning(tmp_path: Path) -> None:
    doc = spec(response={"$ref": "#/components/schemas/M"}, components={"M": MESSAGE})
    scenario = write(
        tmp_path, "s.yaml", "rules:\n  - match: {operation: createThing}\n    respond: {body: {role: 1}}\n"
    )
    (change,) = check_scenarios([scenario], Side(doc), Side(doc))
    assert (change.kind, change.severity) == ("scenario.body.still_invalid", Severity.WARNING)


def test_fixtures_for_gone_operations(tmp_path: Path) -> None:
    extra = {"/other": {"get": {"operationId": "getOther", "responses": {"200": {"description": "ok"}}}}}
    for name in ("createThing", "getOther", "typo"):
        write(tmp_path, f"{name}.json.j2", "{}")
    changes = check_fixtures(tmp_path, Side(spec(extra_paths=extra)), Side(spec()))
    assert sorted((c.kind, c.operation_id) for c in changes) == [
        ("fixture.operation.removed", "getOther"),
        ("fixture.operation.unknown", "typo"),
    ]


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fakeai.cli import main

    trimmed = copy.deepcopy(MESSAGE)
    del trimmed["properties"]["refusal"]
    old = write(tmp_path, "old.json", json.dumps(message_response(MESSAGE)))
    new = write(tmp_path, "new.json", json.dumps(message_response(trimmed)))
    scenario = write(tmp_path, "s.yaml", SCENARIO)
    args = ["drift", str(old), str(new), "--format", "json", "--scenario", str(scenario), "--fixtures", str(tmp_path)]
    assert main(args) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["by_kind"]["response.property.removed"] == 1
    assert data["by_kind"]["scenario.operation.unknown"] == 2  # getOther and neverExisted are in neither document
    assert main(["drift", str(old), str(new), "--fail-on", "none"]) == 0
    assert main(["drift", str(old), str(old)]) == 0
    assert "breaking: 0" in capsys.readouterr().out
    report = build_report(str(old), str(new), only="nothing-matches")
    assert report.changes == ()
