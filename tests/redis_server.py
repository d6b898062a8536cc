"""A real Valkey/Redis for the shared-state tests: started per test session on a free port, restartable
(append-only file in a temporary directory: a restart keeps what was stored)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from fakeai.testing import free_port


def executable() -> str | None:
    return shutil.which("valkey-server") or shutil.which("redis-server")


class RedisServer:
    def __init__(self, exe: str, directory: Path) -> None:
        self.exe = exe
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        cmd = [
            self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.exe} did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def start_or_skip(tmp: Path) -> RedisServer:
    """The server, or a skip that says how to get one (in CI, where .ci/run installs it, a failure instead)."""
    exe = executable()
    if exe is None:
        reason = "needs valkey-server or redis-server (apt-get install redis-server; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    server = RedisServer(exe, tmp)
    server.start()
    return server
