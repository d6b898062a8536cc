"""--state redis://: two fakeai servers on one real Valkey/Redis behave like one (through the openai SDK over
real sockets), and the backend going away is a 503 in OpenAI's envelope that heals when it returns."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from fakeai.app import create_app
from fakeai.config import Settings
from fakeai.testing import Server, serve

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = str(ROOT / "scenarios" / "support-conversation.yaml")
COUNTED = """
name: counted
rules:
  - name: once
    times: 1
    match: {operation: createChatCompletion, last_user_message: {contains: "once"}}
    respond: {content: "the only time"}
  - name: steps
    match: {operation: createChatCompletion, last_user_message: {contains: "step"}}
    sequence:
      - {content: "first"}
      - {content: "second"}
      - {content: "third"}
  - name: fallback
    match: {operation: createChatCompletion}
    respond: {content: "fallback"}
rate_limits:
  - name: tight
    requests_per_minute: 3
    per: api_key
    scope: {operation: createEmbedding}
"""


@pytest.fixture
def flushed(redis_server: Any) -> Any:
    import redis

    client = redis.Redis.from_url(redis_server.url(3))
    client.flushdb()
    yield redis_server
    client.close()


@contextlib.contextmanager
def replicas(server: Any, count: int = 2, **changes: Any) -> Iterator[list[Server]]:
    """``count`` fakeai apps (separate objects, as separate replicas would be) on one Valkey, each under uvicorn."""
    settings = Settings(state=server.url(3), reload_scenarios=False).merge(changes, "test")
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(serve(create_app(settings))) for _ in range(count)]


def put_scenario(server: Server, name: str, text: str) -> None:
    answer = httpx2.put(f"{server.base_url}/_fakeai/scenarios/{name}", content=text,
                        headers={"content-type": "application/yaml"})  # fmt: skip
    assert answer.status_code == 200, answer.text


def sdk(server: Server, key: str = "sk-test") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=key, max_retries=0)


def chat(client: openai.OpenAI, *turns: str, header: str | None = None) -> str:
    messages: Any = [{"role": "user", "content": text} for text in turns]
    extra = {"x-fakeai-conversation": header} if header else None
    answer = client.chat.completions.create(model="gpt-4o", messages=messages, extra_headers=extra)
    return answer.choices[0].message.content or ""


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_a_conversation_moves_between_replicas_and_keeps_its_state(flushed: Any) -> None:
    with replicas(flushed, scenarios=(SUPPORT,)) as (a, b):
        first, second = sdk(a), sdk(b)
        for n in range(4):  # four parallel conversations, each turn on the other replica
            conversation = f"customer-{n}"
            assert chat(first, "hi", header=conversation).startswith("Hello!")
            assert chat(second, "hi", f"my order is {1000 + n}", header=conversation) == (
                f"Order {1000 + n} ships tomorrow. Anything else?"
            )
            assert chat(first, "no thanks", header=conversation) == "Glad I could help. Goodbye!"
        summary = httpx2.get(b.base_url + "/_fakeai/scenarios").json()["data"][0]
        hits = {rule["name"]: rule["hits"] for rule in summary["rules"]}
        assert hits["greet"] == hits["order-found"] == hits["goodbye"] == 4  # counted on both replicas
        assert sorted(summary["states"].values()) == ["closed"] * 4


def test_times_and_sequences_count_across_replicas(flushed: Any) -> None:
    with replicas(flushed) as (a, b):
        put_scenario(a, "counted", COUNTED)
        assert eventually(lambda: bool(httpx2.get(b.base_url + "/_fakeai/scenarios").json()["data"]))
        first, second = sdk(a), sdk(b)
        assert chat(first, "once please") == "the only time"
        assert chat(second, "once please") == "fallback"  # times: 1 was used up on the other replica
        assert [chat(c, "step") for c in (second, first, second, first)] == ["first", "second", "third", "third"]


def test_a_rate_limit_is_one_bucket_for_all_replicas(flushed: Any) -> None:
    with replicas(flushed) as (a, b):
        put_scenario(a, "counted", COUNTED)
        assert eventually(lambda: bool(httpx2.get(b.base_url + "/_fakeai/scenarios").json()["data"]))
        clients = [sdk(a, "sk-one"), sdk(b, "sk-one"), sdk(a, "sk-one")]
        remaining = []
        for client in clients:
            raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="x")
            remaining.append(raw.headers["x-ratelimit-remaining-requests"])
        assert remaining == ["2", "1", "0"]
        with pytest.raises(openai.RateLimitError) as limited:
            sdk(b, "sk-one").embeddings.create(model="text-embedding-3-small", input="x")
        assert limited.value.code == "rate_limit_exceeded"
        assert int(limited.value.response.headers["retry-after"]) >= 1
        assert sdk(b, "sk-other").embeddings.create(model="text-embedding-3-small", input="x").data  # own bucket


def test_a_file_uploaded_on_one_replica_is_served_and_deleted_by_the_other(flushed: Any) -> None:
    with replicas(flushed) as (a, b):
        data = b'{"prompt": "hello"}\n' * 50
        uploaded = sdk(a).files.create(file=("train.jsonl", io.BytesIO(data)), purpose="fine-tune")
        assert sdk(b).files.retrieve(uploaded.id).bytes == len(data)
        assert sdk(b).files.content(uploaded.id).read() == data
        assert [f.id for f in sdk(b).files.list()] == [uploaded.id]
        assert sdk(b).files.delete(uploaded.id).deleted
        with pytest.raises(openai.NotFoundError):
            sdk(a).files.retrieve(uploaded.id)


def test_the_journal_and_expectations_see_every_replica(flushed: Any) -> None:
    expecting = COUNTED + "expect:\n  - {min_requests: 3, max_requests: 3, scope: {operation: createChatCompletion}}\n"
    with replicas(flushed) as (a, b):
        put_scenario(a, "counted", expecting)
        assert eventually(lambda: bool(httpx2.get(b.base_url + "/_fakeai/scenarios").json()["data"]))
        for client in (sdk(a), sdk(b), sdk(a)):
            assert chat(client, "hello") == "fallback"
        journal = httpx2.get(b.base_url + "/_fakeai/journal?operation=createChatCompletion").json()
        assert journal["total"] >= 3
        seqs = [entry["seq"] for entry in journal["data"]]
        assert len(seqs) == 3 and seqs == sorted(seqs) and len(set(seqs)) == 3
        assert [entry["rule"] for entry in journal["data"]] == ["fallback"] * 3
        after = httpx2.get(a.base_url + f"/_fakeai/journal?after={seqs[1]}&operation=createChatCompletion").json()
        assert [entry["seq"] for entry in after["data"]] == [seqs[2]]
        verdict = httpx2.get(a.base_url + "/_fakeai/expectations").json()
        assert verdict["passed"], verdict


def test_admin_changes_reach_every_replica_and_a_late_one_replays_them(flushed: Any) -> None:
    with replicas(flushed) as (a, b):
        put_scenario(a, "counted", COUNTED)
        assert eventually(lambda: chat(sdk(b), "hello") == "fallback")
        put = httpx2.put(a.base_url + "/_fakeai/latency", json={"ttft": "40"})
        assert put.status_code == 200, put.text
        assert eventually(lambda: httpx2.get(b.base_url + "/_fakeai/latency").json() == put.json())
        with replicas(flushed, count=1) as (late,):  # started after the changes: replays them
            assert chat(sdk(late), "hello") == "fallback"
            assert httpx2.get(late.base_url + "/_fakeai/latency").json() == put.json()
        assert httpx2.delete(b.base_url + "/_fakeai/scenarios/counted").status_code == 200
        assert eventually(lambda: chat(sdk(a), "hello") != "fallback")
        assert httpx2.get(a.base_url + "/_fakeai/scenarios").json()["data"] == []


def test_backend_loss_is_a_503_and_fakeai_recovers_without_losing_anything(flushed: Any) -> None:
    with replicas(flushed, scenarios=(SUPPORT,)) as (a, b):
        uploaded = sdk(a).files.create(file=("a.jsonl", io.BytesIO(b'{"a": 1}\n')), purpose="batch")
        assert chat(sdk(a), "hi", header="c1").startswith("Hello!")
        flushed.stop()
        try:
            with pytest.raises(openai.InternalServerError) as down:
                sdk(b).files.retrieve(uploaded.id)
            assert down.value.status_code == 503
            assert down.value.code == "state_backend_unavailable"
            assert down.value.body["message"].startswith("fakeai's state backend")  # type: ignore[index]
            with pytest.raises(openai.InternalServerError):
                chat(sdk(b), "hi", "order 4242", header="c1")
            assert httpx2.get(a.base_url + "/_fakeai/health").status_code == 503
            assert httpx2.get(a.base_url + "/health").status_code == 503  # readiness (k8s liveness is TCP)
            embedded = sdk(a).embeddings.create(model="text-embedding-3-small", input="x")  # needs no state
            assert len(embedded.data[0].embedding) == 1536
        finally:
            flushed.start()
        assert sdk(b).files.retrieve(uploaded.id).id == uploaded.id
        assert chat(sdk(b), "hi", "order 4242", header="c1") == "Order 4242 ships tomorrow. Anything else?"
        assert httpx2.get(a.base_url + "/_fakeai/health").status_code == 200
        assert httpx2.get(a.base_url + "/health").status_code == 200


def test_same_seed_same_bytes_on_every_replica(flushed: Any) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me about the harbour."}]}
    with replicas(flushed, fixed_time=1_700_000_000) as (a, b):
        answers = [httpx2.post(s.base_url + "/v1/chat/completions", json=body, headers={"x-fakeai-seed": "7"})
                   for s in (a, b, a)]  # fmt: skip
        assert all(r.status_code == 200 for r in answers)
        assert answers[0].content == answers[1].content == answers[2].content


# ---- real processes: `fakeai --workers 2` and a second `fakeai`, as users run them ----------------------------------
@contextlib.contextmanager
def fakeai_process(*args: str) -> Iterator[str]:
    import os
    import subprocess
    import sys

    from fakeai.testing import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKEAI_", "OPENAI_"))}
    cmd = [sys.executable, "-m", "fakeai", "--port", str(port), "--log-level", "warning", "--fixed-time", "1e9", *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx2.HTTPError):
                if httpx2.get(base + "/health", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"fakeai did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(20)
        if proc.stderr:
            proc.stderr.close()


def closing(base: str) -> openai.OpenAI:
    """A client that opens a new connection per request (so the kernel spreads them over the workers)."""
    return openai.OpenAI(
        base_url=base + "/v1", api_key="sk-test", max_retries=0, default_headers={"connection": "close"}
    )


def test_two_workers_and_another_process_behave_like_one_server(flushed: Any) -> None:
    url = flushed.url(3)
    with (
        fakeai_process("--workers", "2", "--state", url, "--scenario", SUPPORT) as workers,
        fakeai_process("--state", url, "--scenario", SUPPORT) as other,
    ):
        servers = [closing(workers), closing(other)]
        for n in range(4):
            conversation = f"worker-conversation-{n}"
            turns = [("hi",), ("hi", f"order {5000 + n}"), ("hi", f"order {5000 + n}", "bye")]
            answers = [chat(servers[(n + i) % 2], *turn, header=conversation) for i, turn in enumerate(turns)]
            assert answers == [
                "Hello! I can help with your order. What is your order number?",
                f"Order {5000 + n} ships tomorrow. Anything else?",
                "Glad I could help. Goodbye!",
            ]
        journal = httpx2.get(other + "/_fakeai/journal?operation=createChatCompletion&limit=100").json()
        assert len(journal["data"]) == 12
        data = b'{"x": 1}\n' * 10
        uploaded = closing(workers).files.create(file=("w.jsonl", io.BytesIO(data)), purpose="batch")
        for _ in range(4):  # every worker and the other process serve it
            assert closing(workers).files.content(uploaded.id).read() == data
        assert closing(other).files.content(uploaded.id).read() == data
        # replacing the file-loaded scenario on one process replaces it on every worker of the other
        put_scenario(Server("127.0.0.1", int(other.rsplit(":", 1)[1])), "support-conversation", COUNTED)
        assert eventually(lambda: all(chat(closing(workers), "hello") == "fallback" for _ in range(6)))
        body = {"model": "text-embedding-3-small", "input": "same request, same bytes"}
        sent = [
            httpx2.post(base + "/v1/embeddings", json=body, headers={"connection": "close"}).content
            for base in (workers, workers, other)
        ]  # fmt: skip (3: the scenario allows 3 a minute)
        assert len(set(sent)) == 1


def test_the_stateful_suites_pass_on_the_shared_backend(redis_server: Any) -> None:
    """The resource, scenario, journal and admin suites once more, every app keeping its state in Valkey
    (tests/conftest.py: FAKEAI_TEST_STATE): the shared stores behave like the process' ones."""
    import os
    import subprocess
    import sys

    suites = [
        "test_admin.py", "test_anthropic_batches.py", "test_expect.py", "test_files_store.py", "test_journal.py",
        "test_resource_roundtrip.py", "test_resources.py", "test_scenario_cases.py", "test_scenario_resources.py",
        "test_scenario_scripts.py", "test_scenario_sdk.py", "test_stored_responses.py", "test_vector_search.py",
        "test_every_operation.py",
    ]  # fmt: skip
    env = {**os.environ, "FAKEAI_TEST_STATE": redis_server.url(5)}
    env.pop("COV_CORE_SOURCE", None)  # a plain run: coverage is the outer suite's
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:cov", "-x", "-m", "not slow"]
    done = subprocess.run([*cmd, *(f"tests/{s}" for s in suites)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]


@pytest.mark.parametrize("where", ["process", "valkey"])
def test_both_stores_are_bounded_alike(where: str, flushed: Any) -> None:
    """Items and bytes (payload + body JSON) bound the shared store exactly like the process' one."""
    from fakeai.state.shared import Shared, SharedResourceStore
    from fakeai.store import Record, ResourceStore

    def store(max_items: int, max_bytes: int) -> ResourceStore:
        if where == "process":
            return ResourceStore(max_items, max_bytes)
        return SharedResourceStore(Shared(flushed.url(3)), max_items, max_bytes)

    small = store(3, 100)  # a record below: its body JSON (the shared one wraps it with its meta) + 2 bytes
    for index in range(5):
        small.put("ns", "file", f"f{index}", Record({"id": f"f{index}"}, b"xx"))
    assert [i for i, _ in small.entries("ns", "file")] == ["f2", "f3", "f4"] and len(small) == 3
    small.put("ns", "file", "big", Record({"id": "big"}, b"x" * 80))
    assert [i for i, _ in small.entries("ns", "file")] == ["big"]  # the newest stays, older ones went
    assert small.get("ns", "file", "big") == Record({"id": "big"}, b"x" * 80)
    small.delete("ns", "file", "big")
    assert small.bytes == 0 and len(small) == 0
    small.clear()
    bodies = store(10_000, 100_000)
    for index in range(100):
        bodies.put("ns", "response", f"r{index}", Record({"id": f"r{index}", "output": "x" * 10_000}))
    assert 8 <= len(bodies) <= 10 and bodies.bytes <= 100_000
    assert bodies.get("ns", "response", "r99") is not None and bodies.get("ns", "response", "r0") is None
    bodies.put("other", "response", "kept", Record({"id": "kept"}))
    bodies.clear("ns")
    assert len(bodies) == 1 and bodies.get("other", "response", "kept") is not None
