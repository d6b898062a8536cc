"""A tiny W3C WebDriver client over httpx, for tests/test_ui.py: Debian's chromedriver drives its headless Chromium.

Why not Selenium: it pulls in trio, whose Hypothesis plugin warns at import, and ``filterwarnings = error`` turns
that into a failure of the whole suite. The dozen WebDriver commands the dashboard tests need fit here.
"""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from fakeai.testing import free_port

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C web element reference key


class WebDriverError(Exception):
    pass


class Element:
    def __init__(self, browser: Browser, ref: str) -> None:
        self.browser = browser
        self.ref = ref

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return self.browser.call(method, f"/element/{self.ref}{path}", body)

    @property
    def text(self) -> str:
        return str(self._call("GET", "/text"))

    def click(self) -> None:
        self._call("POST", "/click", {})

    def attribute(self, name: str) -> str | None:
        value = self._call("GET", f"/attribute/{name}")
        return None if value is None else str(value)

    def property(self, name: str) -> Any:
        return self._call("GET", f"/property/{name}")


class Browser:
    def __init__(self, http: httpx.Client, session: str) -> None:
        self.http = http
        self.session = session

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"/session/{self.session}{path}", json=body)
        value = response.json()["value"]
        if response.status_code >= 400 or (isinstance(value, dict) and "error" in value):
            raise WebDriverError(f"{value.get('error')}: {value.get('message', '')[:300]}")
        return value

    def get(self, url: str) -> None:
        self.call("POST", "/url", {"url": url})

    def find(self, css: str) -> Element:
        return Element(self, self.call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT])

    def find_all(self, css: str) -> list[Element]:
        found = self.call("POST", "/elements", {"using": "css selector", "value": css})
        return [Element(self, ref[ELEMENT]) for ref in found]

    def script(self, source: str, *args: Any) -> Any:
        return self.call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def logs(self) -> list[dict[str, Any]]:
        """The browser console since the last call (chromedriver's legacy log endpoint)."""
        return list(self.call("POST", "/se/log", {"type": "browser"}))

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("GET", "/screenshot"))


@contextmanager
def chromium(binary: str, driver: str, size: tuple[int, int] = (1400, 900)) -> Iterator[Browser]:
    """A headless Chromium session; the driver process ends with the block."""
    port = free_port()
    process = subprocess.Popen([driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            deadline = time.monotonic() + 10
            while True:
                try:
                    http.get("/status")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
            args.append(f"--window-size={size[0]},{size[1]}")
            capabilities = {
                "goog:chromeOptions": {"binary": binary, "args": args},
                "goog:loggingPrefs": {"browser": "ALL"},
            }
            answer = http.post("/session", json={"capabilities": {"alwaysMatch": capabilities}}).json()["value"]
            if "sessionId" not in answer:
                raise WebDriverError(f"chromedriver could not start Chromium: {answer.get('message', answer)}")
            browser = Browser(http, answer["sessionId"])
            try:
                yield browser
            finally:
                http.delete(f"/session/{browser.session}")
    finally:
        process.terminate()
        process.wait(10)
