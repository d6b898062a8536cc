"""Requests/s and latency of fakeai against a bare raw-ASGI app, both under uvicorn, one process each, with wrk.

    python benchmarks/bench_http.py [--duration 8] [--connections 1,10,100] [--fakeai DIR] [--json]

Every request is a non-streamed chat completion with a 100-token answer (``max_tokens: 100`` +
``ignore_eos``; checked on one request per server before measuring: ``usage.completion_tokens`` must be 100).
``bare_app.py`` answers a body of about the same size. Both servers run in the same invocation, alternating per
connection count, so the numbers share the machine's noise; the ratio fakeai/bare is what to read. The servers
are pinned to one core and wrk to another with ``taskset`` (a warning says so when that is not possible).
fakeai's garbage-collector work during each point (collections, total pause; from ``fakeai_gc_*`` on /metrics)
is printed beside its latencies. ``--fakeai DIR`` serves the fakeai of another checkout (``benchmarks/compare``
uses it); only its stable entry point ``fakeai.app:app_from_environment`` and the HTTP API are used.
Needs ``wrk`` (Debian package).
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
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOKENS = 100
CHAT = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "Tell me about the harbour."}],
    "max_tokens": TOKENS,
    "ignore_eos": True,  # the answer is exactly max_tokens long, never cut shorter by a sampled length
}
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.body = [[%s]]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %%.0f %%.0f %%.0f %%.0f %%.0f %%.0f %%.0f %%.0f\\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""
FIELDS = ["requests", "duration_us", "p50_us", "p90_us", "p99_us", "max_us", "non2xx", "socket_errors"]


def _cpus() -> tuple[list[str], list[str]]:
    """``taskset`` prefixes for the server (first allowed core, cpu 0 on most machines) and the load generator."""
    if not shutil.which("taskset"):
        print("warning: taskset not found: server and load generator are NOT pinned", file=sys.stderr)
        return [], []
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(allowed) < 2:
        print("warning: fewer than 2 cores: server and load generator are NOT pinned", file=sys.stderr)
        return [], []
    return ["taskset", "-c", str(allowed[0])], ["taskset", "-c", str(allowed[1])]


SERVER_CPU, CLIENT_CPU = _cpus()


def pin_client() -> None:
    """Pin this process (a Python load generator) to the load generator's core."""
    if CLIENT_CPU:
        os.sched_setaffinity(0, {int(CLIENT_CPU[-1])})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    target: str, port: int, extra_env: dict[str, str] | None = None, root: Path | None = None
) -> subprocess.Popen[bytes]:
    """uvicorn serving ``target`` from ``root`` (default: this checkout), pinned to the server core."""
    root = root or ROOT
    env = {**os.environ, **(extra_env or {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    cmd = [
        *SERVER_CPU,
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
        cmd[cmd.index(target)] = target[:-2]
        cmd.append("--factory")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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


def check_answer(port: int) -> int:
    """One request as wrk sends it: must be a 200 with ``TOKENS`` completion tokens. Returns the body size."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps(CHAT).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-bench"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
    tokens = json.loads(raw)["usage"]["completion_tokens"]
    if tokens != TOKENS:
        raise RuntimeError(f"port {port}: usage.completion_tokens is {tokens}, not {TOKENS}")
    return len(raw)


def wrk(port: int, connections: int, duration: int, script: str) -> dict[str, float]:
    threads = 1 if CLIENT_CPU else min(2, connections)  # one core for the load generator: one thread
    out = subprocess.run(
        [
            *CLIENT_CPU,
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
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    match = re.search(r"^BENCH (.*)$", out.stdout, re.M)
    assert match, out.stdout + out.stderr
    row = dict(zip(FIELDS, (float(v) for v in match.group(1).split()), strict=True))
    if row["non2xx"] or row["socket_errors"]:
        bad = f"{row['non2xx']:.0f} non-2xx answers, {row['socket_errors']:.0f} socket errors"
        raise RuntimeError(f"{bad}:\n{out.stdout}")
    row["rps"] = row["requests"] / (row["duration_us"] / 1e6)
    return row


def gc_stats(port: int) -> dict[str, float]:
    """fakeai's garbage-collector counters (``fakeai_gc_*`` on /metrics), all generations summed; {} if absent."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return {}
    totals = {"collections": 0.0, "pause_seconds": 0.0}
    for line in text.splitlines():
        for key in totals:
            if line.startswith(f"fakeai_gc_{key}_total{{"):
                totals[key] += float(line.rsplit(" ", 1)[1])
    return totals


def measure(connection_counts: list[int], duration: int, fakeai_root: Path) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(LUA % json.dumps(CHAT))
        script = handle.name
    servers = {
        "bare": ("benchmarks.bare_app:app", {}, ROOT),
        "fakeai": ("fakeai.app:app_from_environment()", {"FAKEAI_SETTINGS_JSON": "{}"}, fakeai_root),
    }
    ports = {name: free_port() for name in servers}
    procs = []
    report: dict[str, Any] = {"pinned": bool(SERVER_CPU), "body_bytes": {}, "bare": {}, "fakeai": {}}
    try:
        for name, (target, env, root) in servers.items():
            procs.append(start(target, ports[name], env, root))
            report["body_bytes"][name] = check_answer(ports[name])
        for connections in connection_counts:
            for name in servers:  # alternating: both see the same stretch of machine noise
                wrk(ports[name], connections, 1, script)  # warm-up
                before = gc_stats(ports[name]) if name == "fakeai" else {}
                report[name][connections] = wrk(ports[name], connections, duration, script)
                if before:
                    after = gc_stats(ports[name])
                    report[name][connections]["gc"] = {k: after[k] - before.get(k, 0.0) for k in after}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        os.unlink(script)
    return report


def print_report(report: dict[str, Any]) -> None:
    sizes = report["body_bytes"]
    print(
        f"chat completion, {TOKENS}-token answers (body bytes: bare {sizes['bare']}, fakeai {sizes['fakeai']}); "
        f"{'server cpu ' + SERVER_CPU[-1] + ', wrk cpu ' + CLIENT_CPU[-1] if report['pinned'] else 'NOT pinned'}"
    )
    print(
        f"{'conns':>5} {'bare req/s':>10} {'fakeai req/s':>12} {'ratio':>6}   "
        f"{'bare p50/p90/p99/max ms':>25}   {'fakeai p50/p90/p99/max ms':>27}"
    )
    for connections, bare in report["bare"].items():
        fake = report["fakeai"][connections]

        def lat(row: dict[str, float]) -> str:
            return "/".join(f"{row[k] / 1000:.2f}" for k in ("p50_us", "p90_us", "p99_us", "max_us"))

        collector = fake.get("gc") or {}
        gc_text = (
            f"   gc: {collector['collections']:.0f} collections, {collector['pause_seconds'] * 1000:.1f} ms"
            if collector
            else ""
        )
        print(
            f"{connections:>5} {bare['rps']:>10.0f} {fake['rps']:>12.0f} {fake['rps'] / bare['rps']:>6.1%}   "
            f"{lat(bare):>25}   {lat(fake):>27}{gc_text}"
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=8, help="seconds per point (after a 1 s warm-up)")
    parser.add_argument("--connections", default="1,10,100")
    parser.add_argument("--fakeai", type=Path, default=ROOT, help="checkout whose fakeai is served")
    parser.add_argument("--json", action="store_true", help="also print the report as one JSON line")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install wrk (benchmarks/run installs it when run as root)", file=sys.stderr)
        return 2
    report = measure([int(c) for c in args.connections.split(",")], args.duration, args.fakeai.resolve())
    print_report(report)
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
