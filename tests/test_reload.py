"""Hot reload of scenario files: edits take effect, invalid edits keep the previous version."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx

from fakeai.app import FakeAI, create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings
from fakeai.testing import async_client

V1 = """
rules:
  - name: reply
    match: {operation: createChatCompletion}
    respond: {content: "version one"}
"""


def write(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a visible mtime change even on coarse file systems


def make(tmp_path: Path) -> tuple[FakeAI, Path]:
    path = tmp_path / "greet.yaml"
    write(path, V1)
    return create_app(Settings(validate_responses="strict", scenarios=(str(path),)), clock=FakeClock()), path


async def ask(app: FakeAI) -> str:
    completion = await async_client(app).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    return str(completion.choices[0].message.content)


async def reload_status(app: FakeAI) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fakeai.test") as http:
        return (await http.get("/_fakeai/reload")).json()


async def test_edit_is_reloaded_and_invalid_edit_keeps_previous(tmp_path: Path) -> None:
    app, path = make(tmp_path)
    assert app.reloader is not None
    assert app.reloader.poll() == []  # nothing changed since startup
    assert await ask(app) == "version one"
    write(path, V1.replace("version one", "version two"))
    assert app.reloader.poll() == ["greet"]
    assert await ask(app) == "version two"
    write(path, V1.replace("respond:", "respnd:"))
    assert app.reloader.poll() == []
    assert await ask(app) == "version two"
    [file] = (await reload_status(app))["files"]
    assert file["name"] == "greet" and "greet.yaml:" in file["error"] and "respnd" in file["error"]
    write(path, V1)
    assert app.reloader.poll() == ["greet"]
    [file] = (await reload_status(app))["files"]
    assert "error" not in file


async def test_lifespan_runs_the_watcher(tmp_path: Path) -> None:
    app, path = make(tmp_path)
    assert app.reloader is not None
    app.reloader.interval = 0.02
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    assert app.reloader.running
    write(path, V1.replace("version one", "version three"))
    for _ in range(200):
        if app.reloader.reloads:
            break
        await asyncio.sleep(0.01)
    assert await ask(app) == "version three"
    await inbox.put({"type": "lifespan.shutdown"})
    assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
    await lifespan
    assert not app.reloader.running


async def test_reload_can_be_switched_off(tmp_path: Path) -> None:
    path = tmp_path / "greet.yaml"
    write(path, V1)
    app = create_app(Settings(scenarios=(str(path),), reload_scenarios=False))
    assert (await reload_status(app))["enabled"] is False
