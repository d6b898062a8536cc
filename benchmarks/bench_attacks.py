"""How long one hostile request freezes everyone else (issue 17's attacks), and memory under floods.

One fakeai process on a real socket, without API keys (so that the image URL needs no signature), pinned to
one core when ``taskset`` exists (the probe and the attacker on the other). A probe sends ``GET /health``
every 20 ms the whole time; for each attack the report shows the attack's own answer (status, seconds) and
the worst probe latency while it ran, against the probe's idle baseline. The attacks:

- a YAML alias bomb (billion laughs, ~450 bytes) sent to ``PUT /_fakeai/scenarios/bomb``;
- a scenario whose ``regex`` is ``^(a+)+$`` (catastrophic on a backtracking engine), then a request it scans;
- a fixture template looping 1000 x 1000 (``--fixtures``), then a request answered by it;
- a 30 MB prompt to ``POST /v1/chat/completions``;
- ``GET /_fakeai/images/...?size=4096x4096``;
- a JSON body nested 1024 levels;
- a header flood (10,000 headers) and a 4 MB header.

Then the server's RSS after an upload flood (200 files of 1 MiB) and a stored-response flood (2,000 Responses
with 512 KiB ``instructions``), at the default byte budgets.

    python benchmarks/bench_attacks.py [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

KEY = {"authorization": "Bearer sk-bench"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [lol]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join([*lines, f"rules: [*a{levels - 1}]"]) + "\n"


REDOS = """\
rules:
  - name: redos
    match: {last_user_message: {regex: "^(a+)+$"}}
    respond: {content: matched}
"""


class Probe(threading.Thread):
    """``GET /health`` every 20 ms; latencies with their start times."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=60) as client:
            while not self.stop.is_set():
                started = time.perf_counter()
                with contextlib.suppress(httpx.HTTPError):
                    client.get("/health")
                self.samples.append((started, time.perf_counter() - started))
                time.sleep(0.02)

    def worst(self, since: float, until: float) -> float:
        found = [lat for at, lat in self.samples if since <= at <= until or (at < since and at + lat > since)]
        return max(found, default=0.0)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start(port: int, fixtures: Path) -> subprocess.Popen[bytes]:
    fakeai = Path(sys.executable).with_name("fakeai")
    command = [str(fakeai), "--port", str(port), "--fixtures", str(fixtures), "--log-level", "error"]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        command = ["taskset", "-c", "0", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("fakeai did not start")


def attacks() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(name, method, path, httpx request arguments) per attack, in order (the ReDoS rule is loaded first)."""
    deep = b'{"model":"text-embedding-3-small","input":' + b"[" * 1024 + b"1" + b"]" * 1024 + b"}"
    prompt = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 30_000_000}]}
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "a" * 26 + "!"}]}
    yaml = {**KEY, "content-type": "application/yaml"}
    many = {**KEY, **{f"x-h{i}": "v" for i in range(10_000)}}
    image = "/_fakeai/images/00000000000000a1.png?size=4096x4096"
    return [
        ("alias bomb PUT /_fakeai/scenarios", "PUT", "/_fakeai/scenarios/bomb", {"content": bomb(), "headers": yaml}),
        ("ReDoS ^(a+)+$ load", "PUT", "/_fakeai/scenarios/redos", {"content": REDOS, "headers": yaml}),
        ("ReDoS ^(a+)+$ request", "POST", "/v1/chat/completions", {"json": chat, "headers": KEY}),
        ("template 1000x1000 loop", "GET", "/v1/models", {"headers": KEY}),
        ("30 MB prompt", "POST", "/v1/chat/completions", {"json": prompt, "headers": KEY}),
        ("image 4096x4096", "GET", image, {"headers": KEY}),
        ("JSON nested 1024 levels", "POST", "/v1/embeddings",
         {"content": deep, "headers": {**KEY, "content-type": "application/json"}}),
        ("10,000 headers", "GET", "/v1/models", {"headers": many}),
        ("4 MB header", "GET", "/v1/models", {"headers": {**KEY, "x-big": "v" * 4_000_000}}),
    ]  # fmt: skip


def flood(client: httpx.Client, pid: int) -> dict[str, float]:
    out = {"rss_idle_mib": rss_mib(pid)}
    blob = os.urandom(1 << 20)
    for i in range(200):
        client.post("/v1/files", files={"file": (f"f{i}.jsonl", blob)}, data={"purpose": "assistants"}, headers=KEY)
    out["rss_after_200_uploads_of_1mib"] = rss_mib(pid)
    instructions = "y" * (512 * 1024)
    for i in range(2000):
        client.post("/v1/responses", json={"model": "gpt-4o-mini", "input": f"q{i}", "instructions": instructions,
                                            "store": True, "max_output_tokens": 16}, headers=KEY)  # fmt: skip
    out["rss_after_2000_stored_responses_of_512kib"] = rss_mib(pid)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--no-flood", action="store_true", help="skip the memory floods (they take ~1 min)")
    args = parser.parse_args()
    fixtures = Path(tempfile.mkdtemp(prefix="fakeai-bench-"))
    loop = "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"
    (fixtures / "listModels.json.j2").write_text('{"object": "list", "data": []}' + loop)
    port = free_port()
    process = start(port, fixtures)
    results: list[dict[str, Any]] = []
    try:
        if shutil.which("taskset"):
            subprocess.run(["taskset", "-pc", "1", str(os.getpid())], capture_output=True, check=False)
        probe = Probe(f"http://127.0.0.1:{port}")
        probe.start()
        time.sleep(1.0)
        baseline = max((lat for _at, lat in probe.samples), default=0.0)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            for name, method, path, request in attacks():
                started = time.perf_counter()
                try:
                    status: Any = client.request(method, path, **request).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                took = time.perf_counter() - started
                time.sleep(0.1)
                results.append({"attack": name, "status": status, "seconds": round(took, 3),
                                "worst_probe_ms": round(probe.worst(started, started + took) * 1000, 1)})  # fmt: skip
            memory = {} if args.no_flood else flood(client, process.pid)
        probe.stop.set()
        probe.join()
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(fixtures, ignore_errors=True)
    report = {"probe_idle_worst_ms": round(baseline * 1000, 1), "attacks": results, "memory_mib": memory}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"probe GET /health every 20 ms; idle worst {report['probe_idle_worst_ms']} ms")
    print(f"{'attack':38} {'status':>8} {'seconds':>8} {'worst probe ms':>15}")
    for row in results:
        print(f"{row['attack']:38} {row['status']!s:>8} {row['seconds']:>8} {row['worst_probe_ms']:>15}")
    for name, value in memory.items():
        print(f"{name}: {value:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
