"""The schema walker: every generated body validates against its schema; output is deterministic and realistic."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.generated.pattern import compile_pattern
from fakeai.generated.schema import GenContext, SchemaWalker
from fakeai.spec.load import load_document
from fakeai.spec.pointer import pointer, resolve
from fakeai.spec.validate import URN, ref

NOW = 1_750_000_000.0
SPECS_DIR = Path(__file__).resolve().parents[2] / "shared" / "specs"
SPECS = ["embedded", "openai-2025-04-29.yaml", "openai-2026-05-13.yaml", "openai-2026-08-21.yaml"]
SEEDS = range(6)


@cache
def _doc(spec: str) -> dict[str, Any]:
    if spec == "embedded":
        return load_document(None)
    path = SPECS_DIR / spec
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return load_document(path)


@cache
def _walker(spec: str) -> SchemaWalker:
    return SchemaWalker(_doc(spec))


@cache
def _registry(spec: str) -> Any:
    return jsonschema_rs.Registry([(URN, _doc(spec))])


def _validator(spec: str, where: str) -> Any:
    return jsonschema_rs.Draft202012Validator({"$ref": ref(where)}, registry=_registry(spec), validate_formats=True)


def _response_pointers(doc: dict[str, Any]) -> Iterator[str]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            for code, response in op["responses"].items():
                for media, content in ((response or {}).get("content") or {}).items():
                    wanted = code.startswith("2") and media in ("application/json", "text/event-stream")
                    if wanted and "schema" in content:
                        yield pointer("paths", path, method, "responses", code, "content", media, "schema")


def _ctx(seed: int, **kwargs: Any) -> GenContext:
    return GenContext(rng=random.Random(seed), now=NOW, overrides=kwargs.pop("overrides", {}), **kwargs)


def _invalid(spec: str, pointers: list[str]) -> list[str]:
    walker, doc, failures = _walker(spec), _doc(spec), []
    for where in pointers:
        generate, validator = walker.compile(resolve(doc, where)), _validator(spec, where)
        for seed in SEEDS:
            instance = generate(_ctx(seed))
            for error in list(validator.iter_errors(instance))[:1]:
                failures.append(f"{where} seed={seed} at {list(error.instance_path)}: {error.message[:200]}")
    return failures


@pytest.mark.parametrize("spec", SPECS)
def test_every_2xx_response_schema_generates_valid_bodies(spec: str) -> None:
    pointers = list(_response_pointers(_doc(spec)))
    assert len(pointers) > 100
    assert _invalid(spec, pointers) == []


@pytest.mark.parametrize("spec", SPECS)
def test_every_component_schema_generates_valid_instances(spec: str) -> None:
    pointers = [pointer("components", "schemas", name) for name in _doc(spec)["components"]["schemas"]]
    assert _invalid(spec, pointers) == []


def _component(name: str, spec: str = "embedded") -> Callable[[GenContext], Any]:
    return _walker(spec).compile({"$ref": f"#/components/schemas/{name}"})


DETERMINISM_SCHEMAS = ["CreateChatCompletionResponse", "Response", "ListFilesResponse", "CompoundFilter", "RunObject"]


@settings(database=None, max_examples=40, deadline=None)
@given(
    name=st.sampled_from(DETERMINISM_SCHEMAS),
    seed=st.integers(0, 2**32),
    now=st.floats(1e9, 2e9),
    model=st.sampled_from(["gpt-4o", "o3"]),
)
def test_same_seed_now_and_overrides_give_the_same_body(name: str, seed: int, now: float, model: str) -> None:
    generate = _component(name)

    def body() -> Any:
        return generate(GenContext(rng=random.Random(seed), now=now, overrides={"model": model}))

    assert body() == body()


def test_different_seeds_give_different_ids() -> None:
    generate = _component("CreateChatCompletionResponse")
    assert len({generate(_ctx(seed))["id"] for seed in range(20)}) == 20


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("CreateChatCompletionResponse", "chatcmpl-"),
        ("CreateChatCompletionStreamResponse", "chatcmpl-"),
        ("OpenAIFile", "file-"),
        ("Response", "resp_"),
        ("Batch", "batch_"),
        ("VectorStoreObject", "vs_"),
        ("AssistantObject", "asst_"),
        ("FineTuningJob", "ftjob-"),
    ],
)
def test_ids_carry_the_api_prefix(name: str, prefix: str) -> None:
    body = _component(name)(_ctx(3))
    assert re.fullmatch(re.escape(prefix) + r"[0-9A-Za-z]{16,}", body["id"]), body["id"]


def test_chat_completion_reads_like_one() -> None:
    body = _component("CreateChatCompletionResponse")(_ctx(5))
    assert body["object"] == "chat.completion"
    assert body["created"] == int(NOW)
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert [choice["index"] for choice in body["choices"]] == list(range(len(body["choices"])))
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert "string" not in repr(body)


def test_list_pages_point_at_their_first_and_last_items() -> None:
    for seed in SEEDS:
        body = _component("ListFilesResponse")(_ctx(seed))
        assert 1 <= len(body["data"]) <= 3
        assert body["has_more"] is False
        assert (body["first_id"], body["last_id"]) == (body["data"][0]["id"], body["data"][-1]["id"])


def test_valid_overrides_apply_and_invalid_ones_are_ignored() -> None:
    generate = _component("OpenAIFile")
    body = generate(_ctx(1, overrides={"id": "file-abc", "bytes": "many", "not_a_property": 1}))
    assert body["id"] == "file-abc"
    assert isinstance(body["bytes"], int)
    assert "not_a_property" not in body


def test_request_fields_are_echoed_when_valid() -> None:
    generate = _component("Response")
    echo = {"metadata": {"run": "nightly"}, "instructions": "Be brief.", "temperature": "hot"}
    body = generate(_ctx(2, echo=echo, overrides={"instructions": "Be terse."}))
    assert body["metadata"] == {"run": "nightly"}
    assert body["instructions"] == "Be terse."  # overrides win over echo
    assert body["temperature"] != "hot"


def test_recursive_schemas_terminate_and_stay_valid() -> None:
    generate = _component("CompoundFilter")
    validator = _validator("embedded", "#/components/schemas/CompoundFilter")
    for seed in range(200):
        assert validator.is_valid(generate(_ctx(seed)))


def test_responses_error_and_refusal_prefer_null() -> None:
    assert _component("Response")(_ctx(4))["error"] is None
    message = _component("ChatCompletionResponseMessage")(_ctx(4))
    assert message["refusal"] is None
    assert isinstance(message["content"], str)


def test_anyof_siblings_are_respected() -> None:
    """``anyOf: [required a, required b]`` + ``not: required [a, b]``: exactly one of the two."""
    schema = {
        "type": "object",
        "properties": {"image_url": {"type": "string"}, "file_id": {"type": "string"}},
        "anyOf": [{"required": ["image_url"]}, {"required": ["file_id"]}],
        "not": {"required": ["image_url", "file_id"]},
        "additionalProperties": False,
    }
    generate = SchemaWalker({"components": {"schemas": {}}}).compile(schema)
    seen = set()
    for seed in range(40):
        body = generate(_ctx(seed))
        assert len(body) == 1
        seen.add(next(iter(body)))
    assert seen == {"image_url", "file_id"}


def test_allof_merges_closed_objects_and_bounds() -> None:
    schema = {
        "allOf": [
            {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5}}, "required": ["n"]},
            {"properties": {"n": {"maximum": 6}, "extra": {"type": "string"}}, "additionalProperties": False},
        ]
    }
    generate = SchemaWalker({}).compile(schema)
    for seed in range(30):
        body = generate(_ctx(seed))
        assert 5 <= body["n"] <= 6
        assert set(body) <= {"n", "extra"}


PATTERNS = {  # pattern -> (shortest, longest) matching length of the sampler's shapes
    "^[a-zA-Z0-9_-]+$": (1, 10**9),
    "^tunnel_[a-z0-9]{32}$": (39, 39),
    "^[A-Za-z0-9_.-]+$": (1, 10**9),
    r"^\d{3}-\w{2,4}$": (6, 8),
}


@settings(database=None, max_examples=80, deadline=None)
@given(
    pattern=st.sampled_from(sorted(PATTERNS)),
    bounds=st.tuples(st.integers(0, 60), st.integers(0, 60)),
    seed=st.integers(0, 2**32),
)
def test_pattern_samples_match_within_length_bounds(pattern: str, bounds: tuple[int, int], seed: int) -> None:
    min_len, max_len = min(bounds), max(bounds)
    shortest, longest = PATTERNS[pattern]
    sample = compile_pattern(pattern, min_len, max_len)
    if sample is None:
        assert shortest > max_len or longest < min_len
        return
    text = sample(random.Random(seed))
    assert re.search(pattern, text)
    assert min_len <= len(text) <= max_len


def test_counts_add_up() -> None:
    batch = _component("Batch")(_ctx(7))
    counts = batch.get("request_counts")
    if counts is not None:
        assert counts["total"] == counts["completed"] + counts["failed"]
    embeddings = _component("CreateEmbeddingResponse")(_ctx(7))
    assert embeddings["usage"]["total_tokens"] == embeddings["usage"]["prompt_tokens"]
    assert all(-1 <= x <= 1 for x in embeddings["data"][0]["embedding"])


def test_happy_answers_carry_no_failure_timestamps() -> None:
    for seed in SEEDS:
        batch = _component("Batch")(_ctx(seed))
        assert not {"failed_at", "cancelled_at", "expired_at"} & set(batch)
        assert batch.get("expires_at", NOW + 1) > batch["created_at"]


def test_chat_tool_calls_look_like_the_api() -> None:
    for seed in range(30):
        message = _component("ChatCompletionResponseMessage")(_ctx(seed))
        for call in message.get("tool_calls") or []:
            assert call["id"].startswith("call_")
            if call["type"] == "function":
                assert re.fullmatch(r"[a-z_]+", call["function"]["name"])
