"""The dashboard at /_fakeai/ui in a real browser: Debian's headless Chromium driven over WebDriver (chromedriver,
tests/webdriver.py), fakeai on a
real socket (the live feed is an endless SSE stream). Skipped with a reason when Chromium or its driver is
missing (.ci/run installs them)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from fakeai.app import FakeAI, create_app
from fakeai.config import Settings
from fakeai.testing import Server, serve
from tests.webdriver import Browser, Element, WebDriverError, chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if CHROMIUM is None or DRIVER is None:
    pytest.skip(
        "headless Chromium is not installed (apt-get install -y chromium chromium-driver)", allow_module_level=True
    )

KEY = "sk-ui-test"
DOCS_SCREENSHOT = Path(__file__).parent.parent / "docs" / "dashboard.png"
XSS = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


@pytest.fixture(scope="module")
def app() -> FakeAI:
    return create_app(Settings(api_keys=(KEY,)))


@pytest.fixture(scope="module")
def server(app: FakeAI) -> Iterator[Server]:
    with serve(app) as running:
        yield running


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Browser]:
    assert CHROMIUM is not None and DRIVER is not None
    with chromium(CHROMIUM, DRIVER) as driver:  # ends before the server stops: an open feed would keep uvicorn waiting
        yield driver


@pytest.fixture
def page(browser: Browser, server: Server, app: FakeAI) -> Browser:
    app.journal.clear()
    browser.get(f"{server.base_url}/_fakeai/ui?key={KEY}")
    wait_for(lambda: browser.find("#status").text == "live", "the live feed to connect")
    return browser


@pytest.fixture
def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=KEY, max_retries=0)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except WebDriverError:  # an element not there yet
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def chat(client: openai.OpenAI, text: str, **headers: str) -> None:
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], extra_headers=headers
    )


def rows(page: Browser) -> list[Element]:
    return page.find_all("#requests tbody tr")


def open_row(page: Browser, index: int) -> str:
    """Click a row and return the detail view's request body ("" while it has not appeared yet)."""
    rows(page)[index].click()
    time.sleep(0.2)
    found = page.find_all("#detail pre.request")
    return found[0].text if found else ""


def choose(page: Browser, name: str, value: str) -> None:
    page.script(
        "const s = document.querySelector('select[data-filter=' + arguments[0] + ']');"
        "s.value = arguments[1]; s.dispatchEvent(new Event('change'));",
        name,
        value,
    )


def test_page_loads_without_console_errors(page: Browser) -> None:
    page.find("[data-tab=metrics]").click()
    wait_for(
        lambda: page.script("return window.performance.getEntriesByName(location.origin + '/metrics').length"),
        "metrics",
    )
    page.find("[data-tab=scenarios]").click()
    wait_for(lambda: page.find("#expectations").text, "the expectations to load")
    page.find("[data-tab=requests]").click()
    assert [e for e in page.logs() if e["level"] == "SEVERE"] == []


def test_page_is_served_with_a_strict_policy_and_the_feed_needs_the_key(server: Server) -> None:
    answer = httpx.get(f"{server.base_url}/_fakeai/ui")
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
    assert httpx.get(f"{server.base_url}/_fakeai/ui/events").status_code == 401
    assert httpx.get(f"{server.base_url}/_fakeai/ui/entries/1").status_code == 401


def test_a_request_appears_within_a_second_and_its_detail_shows_the_body(page: Browser, client: openai.OpenAI) -> None:
    chat(client, "hello dashboard")
    wait_for(lambda: rows(page), "the request in the list", timeout=1.0)
    rows(page)[0].click()
    body = wait_for(lambda: page.find("#detail pre.request").text, "the detail view")
    assert "hello dashboard" in body
    assert "choices" in page.find("#detail pre.response").text


def test_a_conversation_shows_its_turns(page: Browser, client: openai.OpenAI) -> None:
    chat(client, "first turn", **{"x-fakeai-conversation": "conv-ui"})
    chat(client, "second turn", **{"x-fakeai-conversation": "conv-ui"})
    wait_for(lambda: len(rows(page)) == 2, "both requests")
    page.find("[data-tab=conversations]").click()
    wait_for(lambda: page.find("#conversation-list li"), "the conversation").click()
    turns = wait_for(lambda: page.find_all("#transcript .turn.user"), "the transcript")
    assert [t.text.split("\n")[-1] for t in turns] == ["first turn", "second turn"]
    assert len(page.find_all("#transcript .turn.assistant")) == 2
    page.find("[data-tab=requests]").click()


def test_a_filter_narrows_the_list(page: Browser, client: openai.OpenAI) -> None:
    chat(client, "in a namespace", **{"x-fakeai-namespace": "team-a"})
    chat(client, "outside")
    wait_for(lambda: len(rows(page)) == 2, "both requests")
    wait_for(lambda: page.find("select[data-filter=namespace] option[value=team-a]"), "the namespace option")
    choose(page, "namespace", "team-a")
    assert len(rows(page)) == 1
    choose(page, "namespace", "")
    assert len(rows(page)) == 2


def test_html_in_a_request_body_is_shown_as_text_and_never_run(page: Browser, client: openai.OpenAI) -> None:
    chat(client, XSS, **{"x-fakeai-conversation": "xss"})
    wait_for(lambda: rows(page), "the request")[0].click()
    body = wait_for(lambda: page.find("#detail pre.request").text, "the detail view")
    assert "<img src=x onerror=" in body
    page.find("[data-tab=conversations]").click()
    wait_for(lambda: page.find("#conversation-list li"), "the conversation").click()
    assert XSS in wait_for(lambda: page.find("#transcript .turn.user").text, "the transcript")
    assert page.script("return typeof window.pwned") == "undefined"
    assert page.find_all("main img, main script") == []
    page.find("[data-tab=requests]").click()


def test_screenshot(page: Browser, client: openai.OpenAI, tmp_path: Path) -> None:
    """A screenshot with a little traffic and one request opened; FAKEAI_UPDATE_SCREENSHOT=1 writes it to
    docs/dashboard.png (the picture in the README), otherwise it goes to a temporary file."""
    for n in range(6):
        chat(client, f"question {n}", **{"x-fakeai-conversation": f"conv-{n % 2}"})
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "stream it"}], stream=True
    )
    for _chunk in stream:
        pass
    wait_for(lambda: len(rows(page)) >= 7, "the traffic")
    wait_for(lambda: open_row(page, 1), "the detail view")
    shot = DOCS_SCREENSHOT if os.environ.get("FAKEAI_UPDATE_SCREENSHOT") == "1" else tmp_path / "dashboard.png"
    shot.write_bytes(page.screenshot())
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert shot.stat().st_size > 10_000
