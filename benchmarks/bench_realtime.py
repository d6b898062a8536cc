"""Realtime sessions: how many WebSocket sessions one fakeai process holds, and how precisely it paces their deltas.

    python benchmarks/bench_realtime.py [--sessions 200] [--ttft 100] [--itl 20] [--tokens 32] [--rounds 1] [--json]

One fakeai process (``fakeai.app:app_from_environment()`` under uvicorn, uvloop, pinned to cpu 0) started with
``ttft``, ``itl`` and ``output_length N:0:N:N``; the client (asyncio + the ``websockets`` package, on cpu 1)
opens ``--sessions`` sessions to ``/v1/realtime`` and holds them all open (each answered ``session.created``
and a ``session.updated`` to text output; a warm-up round of 5 sessions first), then every session sends one
user item and ``response.create`` at once and timestamps each ``response.output_text.delta`` when its frame is
read. Reported:

- sessions held (open at the same time) and failed;
- TTFT error: first delta - ``response.create`` sent - ``ttft``; ITL error: each gap between two consecutive
  deltas of a session - ``itl`` (p50/p99, ms; positive = late);
- CPU use during the turns (share of one core): the server's (``/proc/<pid>/stat``) and the client's own; near
  100% means that side is saturated and the timing errors are its lateness (the client's shows as deltas read
  in bursts: gaps below ``itl``, negative errors);
- the server's RSS (``/proc/<pid>/status`` VmRSS) idle, with every session open, and after the turns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_http import free_port, pin_client, start  # noqa: E402
from benchmarks.bench_stream import percentile  # noqa: E402


@dataclass
class Turn:
    ttft: float = 0.0
    created: float = 0.0  # response.create sent -> response.created read
    arrivals: list[float] = field(default_factory=list)
    tokens: int = 0


def loop_runner() -> Any:
    """``uvloop.run`` when uvloop is installed (a client as fast as the server's loop), else ``asyncio.run``."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def open_session(port: int) -> Any:
    import websockets

    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime",
        additional_headers={"Authorization": "Bearer sk-bench"},
        max_size=None,
        open_timeout=60,
    )
    assert json.loads(await ws.recv())["type"] == "session.created"
    await ws.send(
        json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
    )
    assert json.loads(await ws.recv())["type"] == "session.updated"
    return ws


async def one_turn(ws: Any, start_line: asyncio.Event) -> Turn:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello"}]}
    await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
    await start_line.wait()
    clock = time.perf_counter
    await ws.send(json.dumps({"type": "response.create"}))
    sent = clock()
    turn = Turn()
    while True:
        event = json.loads(await ws.recv())
        kind = event["type"]
        if kind == "response.created":
            turn.created = clock() - sent
        elif kind == "response.output_text.delta":
            now = clock()
            if not turn.arrivals:
                turn.ttft = now - sent
            turn.arrivals.append(now)
        elif kind == "response.done":
            turn.tokens = int(event["response"]["usage"]["output_tokens"])
            return turn
        elif kind == "error":
            raise RuntimeError(event["error"]["message"])


async def measure(port: int, pid: int, sessions: int, ttft: float, itl: float, tokens: int) -> dict[str, Any]:
    idle = rss_mb(pid)
    opened = await asyncio.gather(*(open_session(port) for _ in range(sessions)), return_exceptions=True)
    held = [ws for ws in opened if not isinstance(ws, BaseException)]
    holding = rss_mb(pid)
    start_line = asyncio.Event()
    running = [asyncio.ensure_future(one_turn(ws, start_line)) for ws in held]
    await asyncio.sleep(0.5)  # every user item is in before the herd of response.create
    cpu, wall, mine = cpu_seconds(pid), time.perf_counter(), time.process_time()
    start_line.set()
    turns = await asyncio.gather(*running, return_exceptions=True)
    seconds = time.perf_counter() - wall
    busy, client = (cpu_seconds(pid) - cpu) / seconds, (time.process_time() - mine) / seconds
    after = rss_mb(pid)
    for ws in held:
        await ws.close()
    done = [t for t in turns if isinstance(t, Turn)]
    ttft_err = [t.ttft * 1000 - ttft for t in done]
    created = [t.created * 1000 for t in done]
    gaps = [(b - a) * 1000 - itl for t in done for a, b in zip(t.arrivals, t.arrivals[1:], strict=False)]
    return {
        "sessions": sessions,
        "held": len(held),
        "failed": sessions - len(held) + len(turns) - len(done),
        "short": sum(1 for t in done if t.tokens != tokens or len(t.arrivals) != tokens),
        "deltas": sum(len(t.arrivals) for t in done),
        "created_p50": percentile(created, 50),
        "created_p99": percentile(created, 99),
        "ttft_err_p50": percentile(ttft_err, 50),
        "ttft_err_p99": percentile(ttft_err, 99),
        "itl_err_p50": percentile(gaps, 50),
        "itl_err_p99": percentile(gaps, 99),
        "itl_err_mean": sum(gaps) / len(gaps) if gaps else float("nan"),
        "server_cpu": busy,
        "client_cpu": client,
        "rss_idle_mb": idle,
        "rss_held_mb": holding,
        "rss_after_mb": after,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--ttft", type=float, default=100.0, help="ms")
    parser.add_argument("--itl", type=float, default=20.0, help="ms")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = {
        "ttft": str(args.ttft),
        "itl": str(args.itl),
        "output_length": f"{args.tokens}:0:{args.tokens}:{args.tokens}",
    }
    port = free_port()
    proc = start("fakeai.app:app_from_environment()", port, {"FAKEAI_SETTINGS_JSON": json.dumps(settings)})
    pin_client()
    try:
        run = loop_runner()
        run(measure(port, proc.pid, 5, args.ttft, args.itl, args.tokens))  # warm-up: first-response lazy loads
        results = [
            run(measure(port, proc.pid, args.sessions, args.ttft, args.itl, args.tokens)) for _ in range(args.rounds)
        ]
    finally:
        proc.terminate()
        proc.wait(10)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"realtime: {args.sessions} sessions, ttft {args.ttft:g} ms, itl {args.itl:g} ms, {args.tokens} tokens each")
    for r in results:
        print(
            f"  held {r['held']}/{r['sessions']} (failed {r['failed']}, short {r['short']}), {r['deltas']} deltas\n"
            f"  response.created after p50 {r['created_p50']:.2f} ms, p99 {r['created_p99']:.2f} ms\n"
            f"  TTFT error p50 {r['ttft_err_p50']:+.2f} ms, p99 {r['ttft_err_p99']:+.2f} ms\n"
            f"  ITL error  p50 {r['itl_err_p50']:+.2f} ms, p99 {r['itl_err_p99']:+.2f} ms, "
            f"mean {r['itl_err_mean']:+.3f} ms\n"
            f"  CPU during the turns: server {r['server_cpu']:.0%}, client {r['client_cpu']:.0%} of a core\n"
            f"  server RSS idle {r['rss_idle_mb']:.0f} MB, {r['held']} sessions open {r['rss_held_mb']:.0f} MB, "
            f"after the turns {r['rss_after_mb']:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
