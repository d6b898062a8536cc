"""Hot reload of scenario files: poll their mtimes and re-load the ones that changed.

A background asyncio task started by the app's lifespan (``ErrorMiddleware`` startup hooks) calls
:meth:`Reloader.poll` every ``interval`` seconds. An edit that does not load (bad YAML, unknown key)
keeps the previous version running; the error is logged and shown by ``GET /_fakeai/reload``.

The poll loop waits with ``asyncio.sleep`` on purpose: it watches real files on a real clock,
whatever clock the simulated answers use. ``loaded_at`` is unix time from the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fakeai.errors import FakeAIError

log = logging.getLogger("fakeai.reload")
DEFAULT_INTERVAL = 0.5


@dataclass(frozen=True, slots=True)
class FileState:
    path: str
    name: str
    mtime_ns: int | None  # None: missing / unreadable
    size: int | None
    loaded_at: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "name": self.name}
        if self.loaded_at is not None:
            out["loaded_at"] = self.loaded_at
        if self.error is not None:
            out["error"] = self.error
        return out


class Reloader:
    """Watches ``paths`` and re-loads each changed one into the scenario engine under its name."""

    def __init__(
        self,
        engine: Any,
        paths: Sequence[str],
        now: Callable[[], float],
        interval: float = DEFAULT_INTERVAL,
        enabled: bool = True,
    ) -> None:
        self.engine = engine  # fakeai.scenario.engine.ScenarioEngine: load(name, text, source)
        self.now = now
        self.interval = interval
        self.enabled = enabled and engine is not None and bool(paths)
        self.files: dict[str, FileState] = {}
        self.reloads = 0
        self._task: asyncio.Task[None] | None = None
        names = _names_by_source(engine)
        for path in paths:
            mtime, size = _stat(path)
            self.files[path] = FileState(path, names.get(path) or _stem(path), mtime, size, loaded_at=now())

    def poll(self) -> list[str]:
        """Re-load every file whose mtime or size changed; returns the names reloaded successfully."""
        reloaded: list[str] = []
        for path, state in self.files.items():
            mtime, size = _stat(path)
            if (mtime, size) == (state.mtime_ns, state.size):
                continue
            if mtime is None:
                self.files[path] = replace(
                    state, mtime_ns=None, size=None, error="file is missing; keeping the previous version"
                )
                log.error("scenario file %s disappeared; keeping the previous version of %r", path, state.name)
                continue
            self.files[path] = self._load(replace(state, mtime_ns=mtime, size=size))
            if self.files[path].error is None:
                reloaded.append(state.name)
        return reloaded

    def _load(self, state: FileState) -> FileState:
        try:
            text = Path(state.path).read_text(encoding="utf-8")
            self.engine.load(state.name, text, source=state.path)
        except (OSError, UnicodeDecodeError) as exc:
            log.error("cannot read scenario file %s: %s; keeping the previous version", state.path, exc)
            return replace(state, error=f"cannot read: {exc}")
        except FakeAIError as exc:
            log.error("scenario %r not reloaded, the previous version keeps running:\n%s", state.name, exc)
            return replace(state, error=str(exc))
        self.reloads += 1
        log.info("scenario %r reloaded from %s", state.name, state.path)
        return replace(state, loaded_at=self.now(), error=None)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.poll()
            except Exception:  # the watcher must survive anything a file system throws at it
                log.exception("scenario reload poll failed")

    async def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="fakeai-scenario-reload")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "running": self.running,
            "interval": self.interval,
            "reloads": self.reloads,
            "files": [state.to_dict() for state in self.files.values()],
        }


def _stat(path: str) -> tuple[int | None, int | None]:
    try:
        info = os.stat(path)
    except OSError:
        return None, None
    return info.st_mtime_ns, info.st_size


def _stem(path: str) -> str:
    return Path(path).name.removesuffix(".yaml").removesuffix(".yml")


def _names_by_source(engine: Any) -> dict[str, str]:
    """The name the engine gave each file at startup (a file may set its own ``name:``)."""
    if engine is None:
        return {}
    try:
        return {str(s.get("source")): str(s.get("name")) for s in engine.summary()}
    except Exception:  # an engine without summary(): fall back to file names
        return {}
