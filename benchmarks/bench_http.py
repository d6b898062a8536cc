"""Requests/s of fakeai against a bare Starlette app, both under uvicorn, one process each, measured with wrk.

    python benchmarks/bench_http.py [--duration 10] [--connections 1,10,100]

Both servers run in the same invocation, alternating, so the numbers share the machine's noise; the
ratio fakeai/bare is what to read. Needs `wrk` (Debian package).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 16}
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.body = [[%s]]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(target: str, port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, **(extra_env or {})}
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
    ]
    if target.endswith("()"):
        cmd = [*cmd[:3], target[:-2], "--factory", *cmd[4:]]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "server died") from None
            time.sleep(0.1)
    raise RuntimeError(f"{target} did not start")


def wrk(port: int, connections: int, duration: int, script: str) -> float:
    threads = min(2, connections)
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "-s",
            script,
            f"http://127.0.0.1:{port}/v1/chat/completions",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} non-2xx answers:\n{out.stdout}")
    assert match, out.stdout
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", default="1,10,100")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(LUA % json.dumps(CHAT))
        script = handle.name
    servers = {
        "bare": ("benchmarks.bare_app:app", {}),
        "fakeai": ("fakeai.app:app_from_environment()", {"FAKEAI_SETTINGS_JSON": "{}"}),
    }
    results: dict[str, dict[int, float]] = {name: {} for name in servers}
    for connections in [int(c) for c in args.connections.split(",")]:
        for name, (target, env) in servers.items():
            port = free_port()
            proc = start(target, port, env)
            try:
                wrk(port, connections, 1, script)  # warm-up
                results[name][connections] = wrk(port, connections, args.duration, script)
            finally:
                proc.terminate()
                proc.wait(10)
    print(f"{'connections':>11} {'bare req/s':>11} {'fakeai req/s':>13} {'ratio':>7}")
    for connections, bare in results["bare"].items():
        fake = results["fakeai"][connections]
        print(f"{connections:>11} {bare:>11.0f} {fake:>13.0f} {fake / bare:>7.1%}")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
