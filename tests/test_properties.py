"""Property tests with hypothesis-jsonschema: requests drawn from the spec's own request schemas.

1. Valid in, valid out: a request valid per the spec gets a 2xx whose body (and every SSE frame) validates
   against the spec, or a 400 for one of the cross-field/semantic rules in ``SEMANTIC_400`` (rules the
   real API enforces that no schema states). Anything else (a 500, a 400 on a schema-valid request) fails.
2. Invalid in, 400 out: a drawn body with a wrong-typed field gets OpenAI's 400 envelope naming the field.
3. Determinism: the same request to two separately created apps (same seed, fixed time) gets the same bytes.

Bodies are drawn from the request schema with every ``$ref`` inlined (``tests/inline.py``
cuts recursion, so draws are a subset of the valid instances) and re-checked with the ``jsonschema`` package
(independent of the jsonschema-rs validators fakeai uses). hypothesis-jsonschema costs 50 ms to seconds per
instance here: the default profile draws a few per operation, ``-m slow`` runs the big one.
"""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx2
import jsonschema
import orjson
import pytest
import referencing
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis_jsonschema import from_schema
from referencing.jsonschema import DRAFT202012

from fakeai.app import FakeAI, create_app
from fakeai.config import Settings
from fakeai.spec.load import load_document
from fakeai.spec.operation import Operation, iter_operations
from tests.conftest import make_app
from tests.inline import inline_refs

DOCUMENT = load_document(None)
OPERATIONS = {op.operation_id: op for op in iter_operations(DOCUMENT)}
_REGISTRY: referencing.Registry[Any] = referencing.Registry().with_resource(
    "urn:spec", referencing.Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
)

# JSON-body operations -> examples per run (default profile). Chosen for coverage of the producers:
# the LLM ones (chat, responses, completions, embeddings, moderations, images, speech) and stored/generated ones.
BODY_OPERATIONS = {
    "createChatCompletion": 4,
    "createResponse": 3,
    "createCompletion": 5,
    "createEmbedding": 4,
    "createModeration": 5,
    "createImage": 5,
    "createSpeech": 5,
    "createBatch": 5,
    "createVectorStore": 5,
    "createAssistant": 4,
    "createThread": 4,
    "createRun": 4,
    "createFineTuningJob": 4,
    "createUpload": 5,
    "createVectorStoreFile": 4,
}
SLOW_BODY_OPERATIONS = [*BODY_OPERATIONS, "createEval", "createConversation", "CreateChatSessionMethod"]
# operations whose parameters (query and path) are drawn; createFile is multipart and skipped on purpose
PARAM_OPERATIONS = ["listFiles", "listBatches", "listVectorStores", "listAssistants", "listPaginatedFineTuningJobs",
                    "listVectorStoreFiles", "retrieveFile", "listChatCompletions"]  # fmt: skip
DEFAULT_PROFILE = 1
SLOW_PROFILE = 12  # multiplier of the per-operation counts under -m slow


@dataclass(frozen=True)
class Semantic400:
    """A 400 on a schema-valid request that is correct: the real API enforces a rule no schema states."""

    operation_id: str  # a regular expression
    param: str  # the ``param`` of the error envelope (a regular expression)
    message: str  # a regular expression the error message must match
    reason: str


SEMANTIC_400 = (
    Semantic400("createEmbedding", "dimensions", r"Must be less than or equal to \d+|Invalid value for 'dimensions'",
                "dimensions is bounded by the model's native size (1536/3072); the schema has only minimum 1"),
    Semantic400("createEmbedding", "dimensions", r"does not support specifying dimensions",
                "text-embedding-ada-002 has fixed dimensions"),
    Semantic400("createEmbedding", "input", r"cannot be an empty string|non-empty (string or )?array",
                "empty strings, empty arrays and out-of-vocabulary token ids are rejected by the API, not the schema"),
    Semantic400("createEmbedding", "input", r"maximum context length",
                "each input is limited to the model's context (8192 tokens)"),
    Semantic400("createModeration", "input", r"non-empty array",
                "an empty input array is rejected by the API; the schema allows []"),
    Semantic400("createImage", "size",
                r"Supported values are|Expected WIDTHxHEIGHT|divisible by 16|between 1:3 and 3:1|maximum supported res",
                "which sizes a model supports is per model (dall-e-2, dall-e-3, gpt-image-1; gpt-image-2's limits)"),
    Semantic400("createImage", "n", r"n=1", "dall-e-3 makes one image per request"),
    Semantic400("createImage", "background", r"not supported for the jpeg",
                "a transparent background needs png or webp"),
    Semantic400("createSpeech", "stream_format", r"not supported for",
                "stream_format 'sse' is only supported by the gpt-4o-mini-tts family"),
    Semantic400("createChatCompletion|createResponse", r"tool_choice", r"no function named",
                "a named tool_choice must name one of the request's tools"),
    Semantic400("createChatCompletion|createResponse", r"response_format.*|text.*|tools.*", r"Invalid schema",
                "a json_schema the model cannot produce an instance of (contradictory or unsupported keywords)"),
    Semantic400("listFiles", "after", r"No file found", "the after cursor must name a stored file"),
    Semantic400("createChatCompletion", "messages", r"not valid base64|could not be decoded",
                "input_audio.data must be audio in the format it names; the schema types it as any string"),
    Semantic400("createChatCompletion", "audio", r"Missing required parameter: 'audio'",
                "modalities with 'audio' need the audio parameter (the spec's own description says so)"),
)  # fmt: skip


def _semantic(op: Operation, error: dict[str, Any]) -> Semantic400 | None:
    for rule in SEMANTIC_400:
        if (
            re.fullmatch(rule.operation_id, op.operation_id)
            and re.fullmatch(rule.param, str(error.get("param")))
            and re.search(rule.message, str(error.get("message")))
        ):
            return rule
    return None


# -- drawing --------------------------------------------------------------------------------------------


@cache
def body_strategy(operation_id: str) -> st.SearchStrategy[Any]:
    media = OPERATIONS[operation_id].request_media["application/json"]
    return from_schema(inline_refs(media.schema, DOCUMENT))


@cache
def params_strategy(operation_id: str) -> st.SearchStrategy[dict[str, Any]]:
    params = [p for p in OPERATIONS[operation_id].parameters if p.location in ("path", "query")]
    schema = {
        "type": "object",
        "properties": {p.name: inline_refs(p.schema, DOCUMENT) for p in params},
        "required": [p.name for p in params if p.required or p.location == "path"],
        "additionalProperties": False,
    }
    return from_schema(schema)


@cache
def spec_validator(pointer: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": "urn:spec" + pointer}, registry=_REGISTRY)


def _query_pairs(name: str, value: Any) -> Iterator[tuple[str, str]]:
    """The SDK's query encoding: repeated ``k[]`` for arrays, ``k[sub]`` for objects, JSON-ish scalars."""
    if value is None:
        return
    if isinstance(value, list):
        key = name if name.endswith("[]") else name + "[]"
        for item in value:
            yield from _query_pairs(key, item)
    elif isinstance(value, dict):
        for sub, inner in value.items():
            yield from _query_pairs(f"{name}[{sub}]", inner)
    elif isinstance(value, bool):
        yield name, "true" if value else "false"
    else:
        yield name, str(value)


def _url(op: Operation, params: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    path = op.path
    query: list[tuple[str, str]] = []
    for param in op.parameters:
        if param.name not in params:
            continue
        if param.location == "path":
            path = path.replace("{" + param.name + "}", urllib.parse.quote(str(params[param.name]), safe=""))
        elif param.location == "query":
            query.extend(_query_pairs(param.name, params[param.name]))
    return "/v1" + path, query


async def _send(app: FakeAI, op: Operation, body: Any, params: dict[str, Any], headers: dict[str, str]) -> Any:
    url, query = _url(op, params)
    kwargs: dict[str, Any] = {"params": query, "headers": headers}
    if op.request_media:
        kwargs["content"] = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
        kwargs["headers"] = {**headers, "content-type": "application/json"}
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://fakeai.test") as http:
        return await http.request(op.method, url, **kwargs)


def _routable(op: Operation, params: dict[str, Any]) -> bool:
    """A path segment cannot be empty, ``.``/``..`` (clients normalize them away) or hold ``/`` (ASGI decodes
    ``%2F`` before routing): such ids are unsendable to any server, so they are not drawn."""
    values = [str(params.get(p.name, "")) for p in op.parameters if p.location == "path"]
    if not all(v not in ("", ".", "..") and "/" not in v and "\n" not in v for v in values):
        return False  # (a newline cannot be routed: Starlette's mount pattern ``.*`` stops at it)
    return not _empty_object_key(params)


def _empty_object_key(value: Any) -> bool:
    """``k[]=v`` is the SDK's array append, so an object key "" cannot be sent in a query string."""
    if isinstance(value, dict):
        return any(key == "" or _empty_object_key(inner) for key, inner in value.items())
    if isinstance(value, list):
        return any(_empty_object_key(inner) for inner in value)
    return False


def _encodable(body: Any) -> bool:
    """orjson (and every HTTP client) refuses lone surrogates and integers beyond 64 bits."""
    try:
        orjson.dumps(body)
    except (orjson.JSONEncodeError, TypeError):
        return False
    return True


# -- 1. valid in, valid out -------------------------------------------------------------------------------


def _note(text: str) -> None:
    if currently_in_test_context():
        note(text)


def _check_answer(app: FakeAI, op: Operation, response: Any) -> None:
    _note(f"status {response.status_code}: {response.text[:800]}")
    assert response.status_code < 500, f"{op.operation_id}: server error on a valid request"
    if response.status_code == 400:
        error = response.json()["error"]
        rule = _semantic(op, error)
        assert rule is not None, f"{op.operation_id}: 400 on a schema-valid request: {error}"
        _note(f"semantic 400 ({rule.reason})")
        return
    assert 200 <= response.status_code < 300, (op.operation_id, response.status_code, response.text[:500])
    assert not app.violations, f"{op.operation_id}: answer outside the spec: {app.violations}"


def _valid_in_valid_out(operation_id: str, max_examples: int) -> None:
    op = OPERATIONS[operation_id]
    app = make_app()
    body_validator = spec_validator(op.request_media["application/json"].pointer) if op.request_media else None
    bodies = body_strategy(operation_id) if op.request_media else st.none()
    params = params_strategy(operation_id)

    with asyncio.Runner() as runner:

        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
        )
        @given(body=bodies, params=params)
        def valid_request(body: Any, params: dict[str, Any]) -> None:
            assume(_encodable(body) and _encodable(params) and _routable(op, params))
            if body_validator is not None:
                # the drawn body really is valid per the spec (guards against inliner/hypothesis-jsonschema bugs)
                assume(body_validator.is_valid(body))
            app.violations.clear()
            response = runner.run(_send(app, op, body, params, {}))
            _check_answer(app, op, response)

        valid_request()


# createResponse: ~8-14 s on 2 cores (drawing from its schema, not answering); its fast cover is test_llm_responses
SLOW_BY_DEFAULT = {"createResponse"}


@pytest.mark.parametrize(
    "operation_id",
    [pytest.param(op, marks=pytest.mark.slow) if op in SLOW_BY_DEFAULT else op for op in BODY_OPERATIONS],
)
def test_valid_body_gets_valid_answer(operation_id: str) -> None:
    _valid_in_valid_out(operation_id, BODY_OPERATIONS[operation_id] * DEFAULT_PROFILE)


@pytest.mark.parametrize("operation_id", PARAM_OPERATIONS)
def test_valid_parameters_get_valid_answer(operation_id: str) -> None:
    _valid_in_valid_out(operation_id, 8)


@pytest.mark.slow
@pytest.mark.parametrize("operation_id", SLOW_BODY_OPERATIONS)
def test_valid_body_gets_valid_answer_big(operation_id: str) -> None:
    _valid_in_valid_out(operation_id, BODY_OPERATIONS.get(operation_id, 4) * SLOW_PROFILE)


@pytest.mark.slow
@pytest.mark.parametrize("operation_id", PARAM_OPERATIONS)
def test_valid_parameters_get_valid_answer_big(operation_id: str) -> None:
    _valid_in_valid_out(operation_id, 100)


# -- 2. invalid in, 400 out ---------------------------------------------------------------------------------

WRONG_VALUES: tuple[Any, ...] = (12345, "not-the-type", True, [1, 2], {"x": 1}, None, 1.5)


def _properties(op: Operation) -> tuple[dict[str, Any], list[str]]:
    """Top-level properties and required names of the request body schema (allOf/$ref flattened)."""
    schema = inline_refs(op.request_media["application/json"].schema, DOCUMENT)
    props: dict[str, Any] = {}
    required: list[str] = []
    for part in [schema, *schema.get("allOf", [])]:
        props.update(part.get("properties") or {})
        required.extend(part.get("required") or [])
    return props, required


# chat and responses are left out here: drawing their bodies costs seconds and the 400 path is the same validator
WRONG_TYPE_OPERATIONS = [op for op in BODY_OPERATIONS if op not in ("createChatCompletion", "createResponse")]


@pytest.mark.parametrize("operation_id", [op for op in WRONG_TYPE_OPERATIONS if _properties(OPERATIONS[op])[0]])
def test_wrong_type_gets_400_with_param(operation_id: str) -> None:
    op = OPERATIONS[operation_id]
    app = make_app()
    props, required = _properties(op)
    names = sorted(required) or sorted(props)
    body_validator = spec_validator(op.request_media["application/json"].pointer)

    with asyncio.Runner() as runner:

        @settings(
            max_examples=4,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
        )
        @given(body=body_strategy(operation_id), name=st.sampled_from(names), wrong=st.sampled_from(WRONG_VALUES))
        def wrong_type(body: dict[str, Any], name: str, wrong: Any) -> None:
            field_validator = jsonschema.Draft202012Validator(props[name], registry=_REGISTRY)
            assume(not field_validator.is_valid(wrong))
            body = {**body, name: wrong}
            assume(_encodable(body) and not body_validator.is_valid(body))
            response = runner.run(_send(app, op, body, {}, {}))
            note(response.text[:500])
            assert response.status_code == 400
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert error["type"] == "invalid_request_error"
            # the param names the field (or a path inside it); a wrong body never blames another field
            assert error["param"] is not None and re.match(rf"{re.escape(name)}(\b|$)", error["param"]), error
            assert isinstance(error["message"], str) and error["message"]

        wrong_type()


def test_body_that_is_not_an_object_gets_400() -> None:
    app = make_app()
    op = OPERATIONS["createChatCompletion"]
    for body in ([], "hi", 3, None):
        response = asyncio.run(_send(app, op, body, {}, {}))
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["type"] == "invalid_request_error"


# -- 3. determinism ---------------------------------------------------------------------------------------------

DETERMINISM_OPERATIONS = ["createChatCompletion", "createResponse", "createEmbedding", "createCompletion"]


@cache
def _twin_apps() -> tuple[FakeAI, FakeAI]:
    """Two separately compiled apps with the same settings (not the make_app cache)."""
    settings_ = Settings(validate_responses="strict", seed=42, fixed_time=1_700_000_000)
    return create_app(settings_), create_app(settings_)


@pytest.mark.parametrize("operation_id", DETERMINISM_OPERATIONS)
def test_same_seed_same_request_same_bytes(operation_id: str) -> None:
    op = OPERATIONS[operation_id]
    first, second = _twin_apps()

    with asyncio.Runner() as runner:

        @settings(
            max_examples=3,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
        )
        @given(body=body_strategy(operation_id), seed=st.sampled_from(["", "7"]))
        def same_bytes(body: Any, seed: str) -> None:
            assume(_encodable(body))
            headers = {"x-fakeai-seed": seed} if seed else {}
            a = runner.run(_send(first, op, body, {}, headers))
            b = runner.run(_send(second, op, body, {}, headers))
            assert a.status_code == b.status_code
            assert a.content == b.content, (a.text[:300], b.text[:300])

        same_bytes()


# -- the oracle can fail ------------------------------------------------------------------------------------------


class _Answer:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status_code, self._body = status, body
        self.text = orjson.dumps(body).decode()

    def json(self) -> dict[str, Any]:
        return self._body


def _envelope(param: str | None, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}


def test_undocumented_400_is_reported() -> None:
    op = OPERATIONS["createEmbedding"]
    listed = _Answer(400, _envelope("dimensions", "This model does not support specifying dimensions."))
    assert _semantic(op, listed.json()["error"]) is not None
    # the same message on another operation, or another param, is not excused
    assert _semantic(OPERATIONS["createBatch"], listed.json()["error"]) is None
    assert _semantic(op, _envelope("model", "This model does not support specifying dimensions.")["error"]) is None
    with pytest.raises(AssertionError, match="400 on a schema-valid request"):
        _check_answer(make_app(), op, _Answer(400, _envelope("input", "Something else went wrong.")))


def test_server_error_and_violation_are_reported() -> None:
    op = OPERATIONS["createEmbedding"]
    with pytest.raises(AssertionError, match="server error"):
        _check_answer(make_app(), op, _Answer(500, _envelope(None, "boom")))
    app = make_app()
    app.violations.append("a recorded violation")  # type: ignore[arg-type]
    try:
        with pytest.raises(AssertionError, match="answer outside the spec"):
            _check_answer(app, op, _Answer(200, {"object": "list"}))
    finally:
        app.violations.clear()
