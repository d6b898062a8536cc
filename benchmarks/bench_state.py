"""What shared state costs: fakeai with --state redis:// against fakeai with state in the process (and the bare
raw-ASGI app), same requests, same run, with wrk.

    python benchmarks/bench_state.py [--duration 6] [--connections 1,10] [--json]

Two workloads, each a non-streamed chat completion with a 100-token answer:

* ``plain``: no scenario: the shared backend only journals the request (one Lua call);
* ``scenario``: answered by a scenario rule with a state machine (state read, counter claimed, hit counted,
  state set, journal appended: about six round trips).

fakeai runs pinned to the server core; Valkey/Redis (``redis-server`` or ``valkey-server``, started here with no
persistence) and wrk share the other core, so the fake's own cost is what the server core shows. Read
``redis/process`` (requests/s) and ``added µs`` (1/rps difference at one connection: the extra time one request
takes). Needs wrk and redis-server (Debian packages).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_http import CHAT, CLIENT_CPU, LUA, ROOT, check_answer, free_port, start, wrk

SCENARIO = """
name: bench
rules:
  - name: answer
    when_state: [started, seen]
    match: {operation: createChatCompletion}
    respond: {content: "%s"}
    set_state: seen
""" % " ".join(["word"] * 100)  # noqa: UP031


def start_redis(port: int, directory: str) -> subprocess.Popen[bytes]:
    exe = shutil.which("valkey-server") or shutil.which("redis-server")
    if exe is None:
        raise SystemExit("needs valkey-server or redis-server (apt-get install redis-server)")
    cmd = [*CLIENT_CPU, exe, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", directory]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc


def measure(connection_counts: list[int], duration: int) -> dict[str, Any]:
    tmp = tempfile.mkdtemp()
    scenario = os.path.join(tmp, "bench.yaml")
    with open(scenario, "w") as handle:
        handle.write(SCENARIO)
    script = os.path.join(tmp, "chat.lua")
    with open(script, "w") as handle:
        handle.write(LUA % json.dumps(CHAT))
    redis_port = free_port()
    redis = start_redis(redis_port, tmp)
    state = f"redis://127.0.0.1:{redis_port}/0"
    servers: dict[str, dict[str, Any]] = {
        "bare": {"target": "benchmarks.bare_app:app", "env": {}},
        "process plain": {"settings": {}},
        "redis plain": {"settings": {"state": state}},
        "process scenario": {"settings": {"scenarios": [scenario]}},
        "redis scenario": {"settings": {"state": state, "scenarios": [scenario]}},
    }
    report: dict[str, Any] = {"pinned": bool(CLIENT_CPU), "points": {}}
    procs = []
    try:
        for name, server in servers.items():
            server["port"] = free_port()
            target = server.get("target", "fakeai.app:app_from_environment()")
            env = server.get("env", {"FAKEAI_SETTINGS_JSON": json.dumps(server.get("settings", {}))})
            procs.append(start(target, server["port"], env, ROOT))
            if name == "bare":
                continue
            if "scenario" not in name:
                check_answer(server["port"])
        for connections in connection_counts:
            for name, server in servers.items():
                wrk(server["port"], connections, 1, script)  # warm-up
                report["points"].setdefault(name, {})[connections] = wrk(server["port"], connections, duration, script)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def print_report(report: dict[str, Any], connection_counts: list[int]) -> None:
    points = report["points"]
    if not report["pinned"]:
        print("warning: not pinned (fewer than 2 cores or no taskset)")
    print(f"{'server':18} {'conns':>5} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'of bare':>8}")
    for connections in connection_counts:
        bare = points["bare"][connections]["rps"]
        for name in points:
            row = points[name][connections]
            print(
                f"{name:18} {connections:5d} {row['rps']:8.0f} {row['p50_us'] / 1000:7.2f} {row['p99_us'] / 1000:7.2f}"
                f" {row['rps'] / bare:8.3f}"
            )
    for workload in ("plain", "scenario"):
        for connections in connection_counts:
            process = points[f"process {workload}"][connections]["rps"]
            shared = points[f"redis {workload}"][connections]["rps"]
            added = (1 / shared - 1 / process) * 1e6  # server time per request (latency at c=1)
            print(
                f"{workload:9} c={connections:<4} redis/process req/s {shared / process:6.3f}   "
                f"added per request {added:7.1f} µs"
            )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--connections", default="1,10")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    counts = [int(c) for c in args.connections.split(",")]
    report = measure(counts, args.duration)
    print_report(report, counts)
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
