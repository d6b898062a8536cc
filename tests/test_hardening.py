"""Hardening (issue 17): hostile inputs get a 4xx envelope, never a 500 or a stalled server."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from fakeai import admin
from fakeai.app import FakeAI, create_app
from fakeai.config import Settings
from fakeai.events import Events, RequestRejected
from fakeai.journal import Journal, cost
from fakeai.media.links import rendered
from fakeai.testing import Server, serve
from tests.conftest import make_app


async def raw(app: FakeAI, method: str, url: str, **kwargs: Any) -> httpx2.Response:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        return await http.request(method, url, **kwargs)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [200, 256, 1024])
async def test_deep_json_is_a_400_not_a_500(depth: int) -> None:
    body = '{"model":"text-embedding-3-small","input":' + nested(depth) + "}"
    response = await raw(
        make_app(), "POST", "/v1/embeddings", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["code"] == "json_too_deep"


@pytest.mark.parametrize("depth", [200, 256, 1024])
async def test_deep_json_is_a_400_in_anthropics_envelope(depth: int) -> None:
    body = '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":' + nested(depth) + "}]}"
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    response = await raw(make_app(spec="anthropic"), "POST", "/v1/messages", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_json_at_the_depth_limit_is_parsed() -> None:
    body = '{"model":"text-embedding-3-small","input":"hi","metadata":' + '{"a":' * 100 + "1" + "}" * 100 + "}"
    response = await raw(
        make_app(), "POST", "/v1/embeddings", content=body, headers={"content-type": "application/json"}
    )
    assert response.json().get("error", {}).get("code") != "json_too_deep"


async def test_405_allow_lists_the_methods_the_spec_defines_for_the_path() -> None:
    response = await raw(make_app(), "PATCH", "/v1/chat/completions")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


@pytest.mark.parametrize(
    "url",
    ["/v1/threads/thread_1/runs/run_1/steps?include%5B%5D=bogus", "/v1/organization/audit_logs?event_types%5B%5D=nope"],
)
async def test_bracketed_query_parameter_names_are_validated(url: str) -> None:
    response = await raw(make_app(), "GET", url)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_a_valid_bracketed_query_parameter_is_accepted() -> None:
    include = "step_details.tool_calls[*].file_search.results[*].content"
    response = await raw(make_app(), "GET", f"/v1/threads/thread_1/runs/run_1/steps?include%5B%5D={include}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{f"x-h{i}": "v" for i in range(101)}, {"x-big": "a" * (64 * 1024)}],
    ids=["count", "bytes"],
)
async def test_too_many_or_too_large_headers_are_431(headers: dict[str, str]) -> None:
    response = await raw(make_app(), "GET", "/v1/models", headers=headers)
    assert response.status_code == 431
    assert response.json()["error"]["code"] == "request_header_fields_too_large"


# ---- over a real socket (uvicorn with fakeai.limits.uvicorn_options, as `fakeai serve` runs it) -------------------
QUICK = {"http_guard": True, "header_read_timeout": 0.3, "keep_alive_timeout": 0.3, "body_read_timeout": 0.3}


@contextlib.contextmanager
def connected(settings: Settings) -> Iterator[tuple[Server, socket.socket]]:
    with serve(create_app(settings)) as server, socket.create_connection((server.host, server.port)) as sock:
        yield server, sock


def received(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (b"" if it closes without a word)."""
    sock.settimeout(timeout)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def probe_seconds(server: Server) -> float:
    """The fastest of three probes: one slow answer on a busy 2-core CI runner is noise, three are a stall."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        assert httpx2.get(server.base_url + "/v1/models", timeout=5).status_code == 200
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("head", [b"x-big: " + b"a" * (4 * 1024 * 1024) + b"\r\n", b"x-h: v\r\n" * 10_000])
def test_oversized_request_heads_are_431_on_the_socket(head: bytes) -> None:
    with connected(Settings(http_guard=True)) as (_server, sock):
        with contextlib.suppress(OSError):  # the server refused and closed while the rest was still being sent
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: t\r\nconnection: close\r\n" + head + b"\r\n")
        assert received(sock).startswith(b"HTTP/1.1 431 ")


def test_a_head_that_never_completes_is_closed_while_others_are_served() -> None:
    with connected(Settings().merge(QUICK, "test")) as (server, sock):
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: t\r\n")  # ...and the rest never comes
        assert probe_seconds(server) < 0.1
        assert received(sock) == b""


def test_an_idle_keep_alive_connection_is_closed() -> None:
    with connected(Settings().merge(QUICK, "test")) as (_server, sock):
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: t\r\n\r\n")
        assert received(sock).startswith(b"HTTP/1.1 200 ")  # answered, then closed after 0.3 s idle


def test_a_body_that_stops_arriving_is_408() -> None:
    with connected(Settings().merge(QUICK, "test")) as (server, sock):
        head = b"POST /v1/embeddings HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 100\r\n"
        sock.sendall(head + b'\r\n{"model":')
        assert probe_seconds(server) < 0.1
        assert received(sock).startswith(b"HTTP/1.1 408 ")


# ---- client disconnects: the answer stops, the journal says so, the gauges drop ------------------------------------
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50}
SLOW = Settings(itl="200", output_length="50:0:50:50")  # 50 tokens at 200 ms: 10 s when nobody leaves


def journaled(server: Server) -> dict[str, Any]:
    """The journal's chat entry once it is written (the answer's end writes it), polled for up to 5 s."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        entries = httpx2.get(server.base_url + "/_fakeai/journal?operation=createChatCompletion").json()["data"]
        if entries:
            entry: dict[str, Any] = entries[-1]
            return entry
        time.sleep(0.05)
    raise AssertionError("no journal entry within 5 s: the abandoned answer is still running")


def running(server: Server) -> list[float]:
    text = httpx2.get(server.base_url + "/metrics").text
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("vllm:num_requests_running")]


def _warm(server: Server) -> None:
    """One short answer first: the vocabulary loads with the first request that needs it (~0.3 s), and the
    frames that came due meanwhile would go out together, before the client can leave."""
    httpx2.post(server.base_url + "/v1/chat/completions", json={**CHAT, "max_tokens": 1}, timeout=30)
    httpx2.delete(server.base_url + "/_fakeai/journal")


def test_a_stream_the_client_closes_stops_and_is_journaled_as_disconnected() -> None:
    with serve(create_app(SLOW)) as server:
        _warm(server)
        data = 0
        with httpx2.stream("POST", server.base_url + "/v1/chat/completions", json={**CHAT, "stream": True}) as answer:
            for line in answer.iter_lines():
                data += line.startswith("data:")
                if data == 2:
                    assert probe_seconds(server) < 0.1
                    break
        entry = journaled(server)
        assert entry["disconnected"] is True
        assert 2 <= entry["stream"]["frames"] <= 4
        assert running(server) and not any(running(server))


def test_a_client_that_gives_up_waiting_is_journaled_as_disconnected() -> None:
    with serve(create_app(SLOW)) as server:
        with contextlib.suppress(httpx2.TimeoutException):
            httpx2.post(server.base_url + "/v1/chat/completions", json=CHAT, timeout=0.3)
        entry = journaled(server)
        assert entry["disconnected"] is True
        assert running(server) and not any(running(server))


# ---- the journal's byte budget -----------------------------------------------------------------------------------
def test_the_journal_keeps_within_its_byte_budget_dropping_the_oldest() -> None:
    events = Events()
    journal = Journal(size=10_000, body_limit=16 * 1024, max_bytes=1024 * 1024).subscribe(events)
    for n in range(200):  # ~16 KB each: 3.2 MB unbounded
        events.emit(RequestRejected("POST", f"/v1/x/{n}", 400, "x" * 16_000))
    assert journal.bytes <= 1024 * 1024
    assert journal.bytes == sum(cost(entry) for entry in journal.entries)
    assert 30 < len(journal) < 200
    assert journal.dropped == 200 - len(journal)
    assert [entry.path for entry in journal][-1] == "/v1/x/199"


def test_the_journal_budget_reaches_the_app() -> None:
    assert make_app(journal_max_bytes=12345).journal.max_bytes == 12345


# ---- big work: prompts refused before tokenizing, pictures bounded, cached and rendered off the loop --------------
async def test_a_huge_prompt_is_refused_before_it_is_tokenized() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "lorem ipsum " * 400_000}], "max_tokens": 5}
    response = await raw(make_app(), "POST", "/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
    assert "max_prompt_chars" in response.json()["error"]["message"]


async def test_an_image_larger_than_the_pixel_cap_is_400() -> None:
    response = await raw(make_app(), "GET", "/_fakeai/images/00000000000000ab.png?size=4096x4096")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "size"


async def test_with_api_keys_only_the_image_urls_answers_hand_out_are_served() -> None:
    app = make_app(api_keys=["sk-images"])
    key = {"authorization": "Bearer sk-images"}
    answer = await raw(
        app, "POST", "/v1/images/generations", json={"prompt": "a cat", "model": "dall-e-2"}, headers=key
    )
    url = answer.json()["data"][0]["url"]
    assert "&sig=" in url
    path = url.split("://", 1)[1].split("/", 1)[1]
    assert (await raw(app, "GET", "/" + path)).status_code == 200  # no key: a browser fetching the picture
    unsigned = path.split("&sig=")[0]
    assert (await raw(app, "GET", "/" + unsigned)).status_code == 404
    assert (
        await raw(app, "GET", "/" + unsigned.replace("size=1024x1024", "size=512x512") + "&sig=0")
    ).status_code == 404


def test_a_large_picture_renders_off_the_event_loop_and_once(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered.cache_clear()
    drawing, probed = threading.Event(), threading.Event()

    def render(*args: Any) -> tuple[bytes, str]:  # holds the drawing until the probe is answered: on the
        drawing.set()  # event loop that could never happen (the probe below times out)
        probed.wait(5)
        return rendered(*args)

    monkeypatch.setattr(admin, "rendered", render)
    with serve(create_app(Settings())) as server:
        url = server.base_url + "/_fakeai/images/00000000000000ab.webp?size=3840x2160"
        picture = threading.Thread(target=lambda: httpx2.get(url, timeout=30).raise_for_status())
        picture.start()
        assert drawing.wait(10)
        try:
            assert httpx2.get(server.base_url + "/v1/models", timeout=2).status_code == 200
        finally:
            probed.set()
            picture.join()
        assert httpx2.get(url, timeout=30).status_code == 200
    assert rendered.cache_info().hits == 1


def test_a_large_body_is_not_taken_for_a_large_head() -> None:
    with serve(create_app(Settings())) as server:
        body = b'{"model": "text-embedding-3-small", "input": "hi"' + b" " * 1_000_000 + b"}"  # 1 MB: many reads
        headers = {"content-type": "application/json"}
        assert httpx2.post(server.base_url + "/v1/embeddings", content=body, headers=headers).status_code == 200


# ---- memos keyed by what clients send stay bounded ------------------------------------------------------------
def test_memos_keyed_by_client_values_stay_bounded() -> None:
    """Model names, API keys and short texts come from requests: a client inventing a new one per request
    makes the memos forget, never grow past their limit, and every answer stays right."""
    from fakeai.journal import _MARKS, _key_marks, fingerprint, mask
    from fakeai.memo import Memo
    from fakeai.producers.text import tokenizer
    from fakeai.producers.text.chat import _FINGERPRINTS
    from fakeai.producers.text.chat import fingerprint as system_fingerprint

    memo: Memo[int, int] = Memo(3)
    assert [memo.put(n, n * n) for n in range(5)] == [0, 1, 4, 9, 16] and len(memo) <= 3
    o200k = tokenizer.get_tokenizer("o200k_base")
    for n in range(5000):
        model = f"gpt-4o-made-up-{n}"
        assert tokenizer.for_model(model) is o200k
        assert system_fingerprint(model) == system_fingerprint(model)
        assert _key_marks(f"sk-{n:08d}") == (mask(f"sk-{n:08d}"), fingerprint(f"sk-{n:08d}"))
        assert o200k.count(f"text number {n}") == len(o200k.encode(f"text number {n}"))
    assert len(tokenizer._BY_MODEL) <= tokenizer._BY_MODEL.limit == 4096
    assert len(_FINGERPRINTS) <= 4096 and len(_MARKS) <= 1024 and len(tokenizer._COUNTED) <= 4096
