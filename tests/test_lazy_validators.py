"""Validators and spec examples are compiled when first used, not at startup (idle memory: issue 11), and a schema
jsonschema-rs cannot compile is answered as a clear 500 for its operation only."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from fakeai.app import create_app
from fakeai.config import Settings
from fakeai.spec.normalize import normalize

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 5}


def _handed(app: Any) -> list[Any]:
    """Every validator the compiled operations hold: by pointer (bodies, path parameters, example checks) and
    the query validators built around them."""
    validators = next(iter(app.operations.values())).env.validators
    queries = [op.query_validator for op in app.operations.values() if op.query_validator is not None]
    return [*validators._cache.values(), *queries]


def _compiled(app: Any) -> int:
    return sum(1 for v in _handed(app) if v._validator is not None)


async def test_startup_compiles_no_validator_and_a_request_only_its_own() -> None:
    app = create_app(Settings(validate_responses="off"))
    handed = len(_handed(app))
    assert handed > 300  # OpenAI's document: bodies, parameters, example checks
    assert _compiled(app) == 0
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        answer = await http.post("/v1/chat/completions", json=CHAT)
        assert answer.status_code == 200, answer.text
        assert answer.json()["object"] == "chat.completion"
        after_one = _compiled(app)
        assert 1 <= after_one <= 3  # the body validator (and the parameters' ones the request used)
        bad = await http.post("/v1/chat/completions", json={**CHAT, "messages": "not a list"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "messages"
        assert _compiled(app) == after_one  # compiled once, reused


def _document(pattern: str) -> dict[str, Any]:
    def op(op_id: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = {"type": "object", "required": ["ok"], "properties": {"ok": {"const": True}}}
        return {
            "operationId": op_id,
            "requestBody": {"content": {"application/json": {"schema": body}}},
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": reply}}}},
        }

    broken = {"type": "object", "properties": {"name": {"type": "string", "pattern": pattern}}}
    return normalize(
        {
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/broken": {"post": op("postBroken", broken)},
                "/fine": {"post": op("postFine", {"type": "object"})},
            },
        }
    )


async def test_a_schema_that_cannot_compile_fails_its_operation_clearly_and_no_other() -> None:
    app = create_app(Settings(), document=_document("(["))  # starts: nothing is compiled yet
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        broken = await http.post("/v1/broken", json={"name": "x"})
        assert broken.status_code == 500
        error = broken.json()["error"]
        assert error["type"] == "server_error"
        assert "cannot compile the spec's schema" in error["message"] and "regex" in error["message"]
        assert "Traceback" not in broken.text
        fine = await http.post("/v1/fine", json={})
        assert fine.status_code == 200 and fine.json() == {"ok": True}


async def test_a_valid_schema_still_rejects_bad_bodies_after_lazy_compilation() -> None:
    app = create_app(Settings(), document=_document("^[a-z]+$"))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.post("/v1/broken", json={"name": "abc"})).status_code == 200
        rejected = await http.post("/v1/broken", json={"name": "ABC"})
        assert rejected.status_code == 400
        assert rejected.json()["error"]["param"] == "name"


def test_examples_are_resolved_when_asked_and_only_valid_ones_answer() -> None:
    app = create_app(Settings(use_examples=True))
    producers = {
        op_id: next(p for p in compiled.producers if p.source == "example")
        for op_id, compiled in app.operations.items()
        if any(p.source == "example" for p in compiled.producers)
    }
    assert all(p.examples is not None for p in producers.values())  # nothing resolved at startup
    valid = {op_id for op_id, compiled in app.operations.items() if "example" in compiled.sources}
    assert all(p.examples is None for p in producers.values())  # ``sources`` resolved them
    assert "getAssistant" in valid  # its example validates against AssistantObject
    assert valid < set(producers)  # some upstream examples do not validate (they answer generated data)
    for op_id in producers:
        assert (op_id in valid) == (producers[op_id].body is not None)


_VOCABULARY_PROBE = """
import asyncio, sys, threading, httpx2
from fakeai.app import create_app
from fakeai.config import Settings
from fakeai.producers.text import tokenizer

loads = []  # each vocabulary really loaded (its file parsed), and whether on the event loop's thread
real_load = tokenizer._load_ranks
def watched(name, spec):
    loads.append((name, threading.current_thread() is threading.main_thread()))
    return real_load(name, spec)
tokenizer._load_ranks = watched
real = tokenizer.get_tokenizer

async def main():
    from fakeai.app import _WARMING
    app = create_app(Settings(preload_tokenizers=sys.argv[1] == "preload"))
    for hook in app.asgi.on_startup:
        await hook()
    print("at startup", sorted(tokenizer._tokenizers), len(_WARMING))  # nothing loaded yet
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tokenizers are loaded once."}]}
        answered = await http.post("/v1/chat/completions", json=chat)  # waits for the load, off the loop
        print("chat", answered.status_code, answered.json()["usage"]["prompt_tokens"])
        o200k = real("o200k_base")  # OpenAI's recipe: 3 per message + role + content, 3 to prime the reply
        print("chat_expected 200", 3 + o200k.count("user") + o200k.count(chat["messages"][0]["content"]) + 3)
        print("after chat", sorted(tokenizer._tokenizers))
        text = "Tokenizers are loaded once."
        answer = await http.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": text})
        print("status", answer.status_code, answer.json()["usage"]["prompt_tokens"])
        print("expected", real("cl100k_base").count(text))
    print("after request", sorted(tokenizer._tokenizers), loads)
asyncio.run(main())
"""


@pytest.mark.parametrize("preload", [False, True])
def test_vocabularies_are_loaded_once_off_the_event_loop(preload: bool) -> None:
    """In a fresh interpreter (vocabularies are per process): an idle worker holds no vocabulary; the first chat
    request loads o200k in a worker thread (or waits for ``preload_tokenizers``' background load, which startup
    does not wait for) and counts its tokens with it; the first embeddings request loads cl100k, also in a
    worker thread. Each is loaded once, never on the event loop's thread."""
    import subprocess
    import sys

    mode = "preload" if preload else "lazy"
    out = subprocess.run([sys.executable, "-c", _VOCABULARY_PROBE, mode], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    labels = ("at startup", "chat_expected", "chat", "after chat", "status", "expected", "after request")
    lines: dict[str, str] = {}
    for line in out.stdout.splitlines():
        label = next(label for label in labels if line.startswith(label + " "))
        lines[label] = line.removeprefix(label + " ")
    assert lines["at startup"] == ("[] 1" if preload else "[] 0")  # startup never waits for a vocabulary
    assert lines["chat"] == lines["chat_expected"]  # counted with o200k, once it was loaded
    assert lines["after chat"] == "['o200k_base']"
    status, tokens = lines["status"].split()
    assert status == "200"
    assert tokens == lines["expected"]
    after = "['cl100k_base', 'o200k_base'] [('o200k_base', False), ('cl100k_base', False)]"
    assert lines["after request"] == after


def test_an_example_whose_schema_cannot_compile_is_not_used_and_raises_nothing() -> None:
    import jsonschema_rs

    from fakeai.producers.example import ExampleProducer
    from fakeai.spec.operation import Example
    from fakeai.spec.validate import LazyValidator

    registry = jsonschema_rs.Registry([("urn:t", {})])
    producer = ExampleProducer([Example("ok", '{"name": "x"}')], LazyValidator({"pattern": "(["}, registry))
    assert producer.present is False and producer.body is None  # logged, not raised (``fakeai routes`` reads it)
    good = ExampleProducer([Example("bad", "{,}"), Example("ok", '{"name": "x"}')], LazyValidator({}, registry))
    assert good.present is True and good.body == {"name": "x"} and good.title == "ok"


def test_preload_tokenizers_from_the_environment_reaches_a_running_server() -> None:
    """Two real ``python -m fakeai`` processes, one with ``FAKEAI_PRELOAD_TOKENIZERS=true``: 2 s after both
    answer ``/health``, with no request made, the preloading one holds the vocabulary (~45 MiB) more."""
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    def start(preload: bool) -> tuple[subprocess.Popen[bytes], int]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        env = {**os.environ, "FAKEAI_PRELOAD_TOKENIZERS": "true" if preload else "false"}
        command = [sys.executable, "-m", "fakeai", "--port", str(port), "--log-level", "warning"]
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), port

    def ready(port: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return
            except httpx2.HTTPError:
                time.sleep(0.05)
        raise AssertionError("the server did not start")

    def rss_mib(pid: int) -> float:
        line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    (lazy, lazy_port), (preloading, preload_port) = start(False), start(True)
    try:
        ready(lazy_port)
        ready(preload_port)
        time.sleep(2)  # the background load takes ~0.3 s
        assert rss_mib(preloading.pid) - rss_mib(lazy.pid) > 30
    finally:
        for server in (lazy, preloading):
            server.terminate()
            server.wait(timeout=10)
