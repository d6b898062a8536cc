"""The dashboard at /_fakeai/ui in a real browser: Debian's headless Chromium driven by Selenium through Debian's
chromedriver, fakeai on a real socket (the live feed is an endless SSE stream). Skipped with a reason when
Chromium or its driver is missing (.ci/run installs them)."""

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
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from fakeai.app import FakeAI, create_app
from fakeai.config import Settings
from fakeai.testing import Server, serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if CHROMIUM is None or DRIVER is None:
    missing = " and ".join(name for name, path in (("chromium", CHROMIUM), ("chromedriver", DRIVER)) if path is None)
    pytest.skip(f"{missing} not on PATH (apt-get install -y chromium chromium-driver)", allow_module_level=True)

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
def browser(server: Server) -> Iterator[WebDriver]:
    """Debian's Chromium through Debian's chromedriver, both by path: Selenium Manager never downloads anything."""
    assert CHROMIUM is not None and DRIVER is not None
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for driver.get_log("browser")
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    try:
        yield driver  # quits before the server stops: an open feed would keep uvicorn waiting
    finally:
        driver.quit()


@pytest.fixture
def page(browser: WebDriver, server: Server, app: FakeAI) -> Iterator[WebDriver]:
    """The dashboard, freshly loaded and live; afterwards, the console must hold no error."""
    app.journal.clear()
    browser.get(f"{server.base_url}/_fakeai/ui?key={KEY}")
    wait_for(browser, lambda d: text(d, "#status") == "live", "the live feed to connect")
    yield browser
    assert console_errors(browser) == []


@pytest.fixture
def client(server: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key=KEY, max_retries=0) as sdk:
        yield sdk


def wait_for(
    driver: WebDriver, condition: Callable[[WebDriver], Any], what: str, timeout: float = 5.0, poll: float = 0.05
) -> Any:
    ignored = (NoSuchElementException, StaleElementReferenceException)  # not drawn yet, or redrawn meanwhile
    return WebDriverWait(driver, timeout, poll_frequency=poll, ignored_exceptions=ignored).until(
        condition, f"timed out waiting for {what}"
    )


def find(driver: WebDriver, css: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, css)


def find_all(driver: WebDriver, css: str) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, css)


def text(driver: WebDriver, css: str) -> str:
    return find(driver, css).text


def console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    """SEVERE console entries since the last call (the log is drained as it is read)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def chat(client: openai.OpenAI, text: str, **headers: str) -> None:
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], extra_headers=headers
    )


def stream(client: openai.OpenAI, text: str) -> None:
    chunks = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}], stream=True)
    for _chunk in chunks:
        pass


def rows(page: WebDriver) -> list[WebElement]:
    return find_all(page, "#requests tbody tr")


def open_row(page: WebDriver, index: int) -> str:
    """Click a row and return the detail view's heading ("" while it has not appeared yet)."""
    rows(page)[index].click()
    time.sleep(0.2)
    found = find_all(page, "#detail h2")
    return found[0].text if found else ""


def choose(page: WebDriver, name: str, value: str) -> None:
    page.execute_script(
        "const s = document.querySelector('select[data-filter=' + arguments[0] + ']');"
        "s.value = arguments[1]; s.dispatchEvent(new Event('change'));",
        name,
        value,
    )


def tab(page: WebDriver, name: str) -> None:
    find(page, f"[data-tab={name}]").click()


def test_page_loads_without_console_errors(page: WebDriver) -> None:
    tab(page, "metrics")
    wait_for(
        page,
        lambda d: d.execute_script("return performance.getEntriesByName(location.origin + '/metrics').length"),
        "metrics",
    )
    tab(page, "scenarios")
    wait_for(page, lambda d: text(d, "#expectations"), "the expectations to load")
    tab(page, "conversations")
    tab(page, "requests")
    assert console_errors(page) == []


def test_page_is_served_with_a_strict_policy_and_the_feed_needs_the_key(server: Server) -> None:
    answer = httpx.get(f"{server.base_url}/_fakeai/ui")
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
    assert httpx.get(f"{server.base_url}/_fakeai/ui/events").status_code == 401
    assert httpx.get(f"{server.base_url}/_fakeai/ui/entries/1").status_code == 401


def test_a_request_appears_within_a_second_and_its_detail_shows_the_body(
    page: WebDriver, client: openai.OpenAI
) -> None:
    chat(client, "hello dashboard")
    wait_for(page, rows, "the request in the list", timeout=1.0)
    rows(page)[0].click()
    body = wait_for(page, lambda d: text(d, "#detail pre.request"), "the detail view")
    assert "hello dashboard" in body
    assert "choices" in text(page, "#detail pre.response")


def test_the_detail_of_a_stream_shows_its_frames(page: WebDriver, client: openai.OpenAI) -> None:
    stream(client, "stream to the dashboard")
    wait_for(page, rows, "the stream in the list")[0].click()
    heading = wait_for(page, lambda d: text(d, "#detail h2.stream"), "the stream's frames")
    assert heading.startswith("Stream: ") and "frames" in heading
    assert "chat.completion.chunk" in text(page, "#detail pre.frame-first")
    assert text(page, "#detail pre.frame-last") == '"[DONE]"'
    assert find_all(page, "#detail pre.response") == []
    frames = int(heading.split()[1])
    timeline = wait_for(page, lambda d: find_all(d, "#detail table#timeline tbody tr"), "the timeline")
    assert len(timeline) == frames  # one row per frame: index, tokens, planned, sent, late
    cells = [td.text for td in timeline[1].find_elements(By.TAG_NAME, "td")]
    assert cells[0] == "1" and cells[2].endswith(" ms") and cells[3].endswith(" ms") and cells[4].endswith(" ms")
    assert find(page, "#detail canvas#timeline-chart") is not None


def test_a_conversation_shows_its_turns(page: WebDriver, client: openai.OpenAI) -> None:
    chat(client, "first turn", **{"x-fakeai-conversation": "conv-ui"})
    chat(client, "second turn", **{"x-fakeai-conversation": "conv-ui"})
    wait_for(page, lambda d: len(rows(d)) == 2, "both requests")
    tab(page, "conversations")
    wait_for(page, lambda d: find(d, "#conversation-list li"), "the conversation").click()
    turns = wait_for(page, lambda d: [t.text.split("\n")[-1] for t in find_all(d, "#transcript .turn.user")], "turns")
    assert turns == ["first turn", "second turn"]
    assert wait_for(page, lambda d: len(find_all(d, "#transcript .turn.assistant")), "the answers") == 2
    tab(page, "requests")


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [("namespace", "team-a", "in a namespace"), ("model", "gpt-4o", "another model"), ("status", "400", "'nobody'")],
)
def test_a_filter_narrows_the_list(page: WebDriver, client: openai.OpenAI, name: str, value: str, kept: str) -> None:
    chat(client, "in a namespace", **{"x-fakeai-namespace": "team-a"})
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "another model"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "nobody", "content": "bad"}])  # type: ignore[misc, list-item]
    wait_for(page, lambda d: len(rows(d)) == 3, "the three requests")
    wait_for(page, lambda d: find(d, f"select[data-filter={name}] option[value='{value}']"), f"the {name} option")
    choose(page, name, value)
    assert len(rows(page)) == 1
    rows(page)[0].click()
    assert kept in wait_for(page, lambda d: find(d, "#detail dl") and text(d, "#detail"), "the detail view")
    choose(page, name, "")
    assert len(rows(page)) == 3


def test_html_in_a_request_body_is_shown_as_text_and_never_run(page: WebDriver, client: openai.OpenAI) -> None:
    chat(client, XSS, **{"x-fakeai-conversation": "xss"})
    wait_for(page, rows, "the request")[0].click()
    body = wait_for(page, lambda d: text(d, "#detail pre.request"), "the detail view")
    assert "<img src=x onerror=" in body
    tab(page, "conversations")
    wait_for(page, lambda d: find(d, "#conversation-list li"), "the conversation").click()
    assert XSS in wait_for(page, lambda d: text(d, "#transcript .turn.user"), "the transcript")
    assert page.execute_script("return typeof window.pwned") == "undefined"
    assert find_all(page, "main img, main script") == []
    tab(page, "requests")


SCENARIO = """name: desk
conversation: header
rate_limits:
  - name: one-a-minute
    requests_per_minute: 1
    scope: {operation: createEmbedding}
chaos:
  - name: cut-every-stream
    probability: 1.0
    scope: {operation: createChatCompletion, stream: true}
    fault: cut
    after: 1
rules:
  - name: greet
    when_state: started
    match: {operation: createChatCompletion}
    respond: {content: "Hello from the desk"}
    set_state: greeted
"""


def assistant_turn(driver: WebDriver) -> tuple[str | None, str]:
    """The first answer in the transcript, read in one go (the feed may redraw the transcript at any tick)."""
    answer = find(driver, "#transcript .turn.assistant")
    return answer.get_attribute("data-rule"), answer.text


def assistant_state(driver: WebDriver) -> str | None:
    return find(driver, "#transcript .turn.assistant").get_attribute("data-state")


def test_the_scenarios_tab_shows_hits_states_and_a_reload_error_with_its_line(
    browser: WebDriver, tmp_path: Path
) -> None:
    path = tmp_path / "desk.yaml"
    path.write_text(SCENARIO)
    app = create_app(Settings(scenarios=(str(path),)))
    with serve(app) as server, openai.OpenAI(base_url=server.base_url + "/v1", api_key="sk", max_retries=0) as client:
        browser.get(f"{server.base_url}/_fakeai/ui")
        wait_for(browser, lambda d: text(d, "#status") == "live", "the live feed to connect")
        chat(client, "hi", **{"x-fakeai-conversation": "desk-1"})
        tab(browser, "conversations")
        wait_for(browser, lambda d: find(d, "#conversation-list li"), "the conversation").click()
        rule, words = wait_for(browser, lambda d: assistant_turn(d), "the answer")
        assert rule == "greet" and "Hello from the desk" in words
        assert wait_for(browser, assistant_state, "the state after the turn") == "greeted"  # set_state: greeted
        assert "state greeted" in words
        tab(browser, "scenarios")
        cells = wait_for(browser, lambda d: find_all(d, "#scenarios .scenario tbody td"), "the rules")
        assert [c.text for c in cells] == ["greet", "1"]  # drawn once per tab opening or refresh: never stale
        assert "greeted" in text(browser, "#scenarios .scenario pre")
        stream(client, "cut me")
        client.embeddings.create(model="text-embedding-3-small", input="one")
        with pytest.raises(openai.RateLimitError):
            client.embeddings.create(model="text-embedding-3-small", input="two")

        def counters(d: WebDriver) -> tuple[list[str], list[str]] | None:
            faults = [c.text for c in find_all(d, "#fault-counts td")]
            refusals = [c.text for c in find_all(d, "#refusal-counts td")]
            if faults and refusals:
                return (faults, refusals)
            find(d, "#refresh-scenarios").click()  # draw again; the next poll reads it (a click clears the box)
            return None

        # polled every 0.5 s: a click every 50 ms on a busy runner kept clearing the box before it was drawn
        faults, refusals = wait_for(browser, counters, "the counters", timeout=15.0, poll=0.5)
        assert faults == ["cut", "1"]
        assert refusals == ["429", "scenario", "1"]
        path.write_text(SCENARIO + "    unknown_key: 1\n")

        def reload_error(d: WebDriver) -> str:
            find(d, "#refresh-scenarios").click()
            return text(d, "#reload .card p.fail")

        error = wait_for(browser, reload_error, "the reload error", timeout=15.0, poll=0.5)
        assert f"{path}:{SCENARIO.count(chr(10)) + 1}" in error and "unknown_key" in error
        assert console_errors(browser) == []
        browser.get("about:blank")  # closes the feed before this server stops


def test_the_metrics_tab_charts_latency_tokens_per_second_and_the_queue(page: WebDriver, client: openai.OpenAI) -> None:
    tab(page, "metrics")
    wait_for(page, lambda d: find(d, "#chart-ttft").get_attribute("data-total") is not None, "the first poll")
    for n in range(3):
        stream(client, f"count my tokens {n}")
    wait_for(page, lambda d: float(find(d, "#chart-ttft").get_attribute("data-total") or 0) >= 3, "ttft", 6.0)
    assert float(find(page, "#chart-itl").get_attribute("data-total") or 0) > 0
    wait_for(page, lambda d: float(find(d, "#chart-tokens").get_attribute("data-peak") or 0) > 0, "tokens/s", 6.0)
    assert find(page, "#chart-queue").get_attribute("data-last") is not None
    assert find(page, "#chart-gpu").get_attribute("data-last") is not None
    tab(page, "requests")


def test_screenshot(page: WebDriver, client: openai.OpenAI, tmp_path: Path) -> None:
    """A screenshot with a little traffic and one request opened; FAKEAI_UPDATE_SCREENSHOT=1 writes it to
    docs/dashboard.png (the picture in the README), otherwise it goes to a temporary file."""
    for n in range(6):
        chat(client, f"question {n}", **{"x-fakeai-conversation": f"conv-{n % 2}"})
    stream(client, "stream it")
    wait_for(page, lambda d: len(rows(d)) >= 7, "the traffic")
    wait_for(page, lambda d: open_row(d, 1), "the detail view")
    shot = DOCS_SCREENSHOT if os.environ.get("FAKEAI_UPDATE_SCREENSHOT") == "1" else tmp_path / "dashboard.png"
    shot.write_bytes(page.get_screenshot_as_png())
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert shot.stat().st_size > 10_000
