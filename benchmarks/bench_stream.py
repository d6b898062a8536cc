"""Streaming: timing precision and zero-latency throughput of fakeai against a bare raw-ASGI SSE endpoint.

    python benchmarks/bench_stream.py [--rounds 3] [--streams 100] [--ttft 20] [--itl 5] [--tokens 64]
                                      [--tp-streams 10] [--tp-tokens 500] [--tp-seconds 3] [--only timing|throughput]

Both servers (``fakeai.app:app_from_environment()`` and ``benchmarks.bare_sse:app``) run under uvicorn (uvloop,
httptools), one process each, with the same schedule; batches alternate bare / fakeai so both share the
machine's noise. The client is an asyncio program on raw sockets (HTTP/1.1 keep-alive, chunked decoding by
hand) that timestamps every SSE frame when the read carrying it returns; frames that arrive in one read share
a timestamp, as they would for any client.

- timing: ``--streams`` concurrent streams of ``--tokens`` tokens (``max_tokens`` + ``ignore_eos``), the
  servers started with ``--ttft``/``--itl``. TTFT = request written -> first content chunk; ITL = gaps between
  consecutive content chunks of a stream.
- throughput: ``--tp-streams`` concurrent streams of ``--tp-tokens`` tokens with no latency, for
  ``--tp-seconds``; content chunks received per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_http import free_port, pin_client, start  # noqa: E402

CONTENT = b'"content":"'
EMPTY = b'"content":""'


@dataclass
class Stream:
    ttft: float
    arrivals: list[float]


@dataclass
class Batch:
    streams: list[Stream] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0

    @property
    def chunks(self) -> int:
        return sum(len(s.arrivals) for s in self.streams)


def request_bytes(port: int, tokens: int) -> bytes:
    body = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "Say hello"}],
            "stream": True,
            "max_tokens": tokens,
            "ignore_eos": True,
        }
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer sk-bench\r\nAccept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def one_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes) -> Stream:
    clock = time.perf_counter
    writer.write(payload)
    sent = clock()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200") or b"chunked" not in head.lower():
        raise RuntimeError(f"unexpected answer: {head[:200]!r}")
    raw = b""
    events = b""
    arrivals: list[float] = []
    while True:
        data = await reader.read(1 << 16)
        now = clock()
        if not data:
            raise RuntimeError("connection closed mid-stream")
        raw += data
        finished = False
        while True:  # de-chunk what is complete
            eol = raw.find(b"\r\n")
            if eol < 0:
                break
            size = int(raw[:eol], 16)
            end = eol + 2 + size + 2
            if len(raw) < end:
                break
            if size == 0:
                finished = True
                raw = raw[end:]
                break
            events += raw[eol + 2 : end - 2]
            raw = raw[end:]
        frames = events.split(b"\n\n")
        events = frames.pop()
        arrivals.extend(now for frame in frames if CONTENT in frame and EMPTY not in frame)
        if finished:
            if not arrivals:
                raise RuntimeError("no content chunk")
            return Stream(arrivals[0] - sent, arrivals)


async def worker(port: int, payload: bytes, requests: int, until: float, batch: Batch) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    try:
        done = 0
        while done < requests and time.perf_counter() < until:
            try:
                batch.streams.append(await one_stream(reader, writer, payload))
            except (RuntimeError, OSError, asyncio.IncompleteReadError, ValueError):
                batch.errors += 1
                return
            done += 1
    finally:
        writer.close()


async def run_batch(port: int, tokens: int, streams: int, requests: int, seconds: float) -> Batch:
    payload = request_bytes(port, tokens)
    batch = Batch()
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(worker(port, payload, requests, until, batch) for _ in range(streams)))
    batch.seconds = time.perf_counter() - started
    return batch


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))]


def timing_stats(batches: list[Batch]) -> dict[str, float]:
    streams = [s for b in batches for s in b.streams]
    ttft = [s.ttft * 1000 for s in streams]
    itl = [(b - a) * 1000 for s in streams for a, b in zip(s.arrivals, s.arrivals[1:], strict=False)]
    return {
        "streams": len(streams),
        "errors": sum(b.errors for b in batches),
        "itl_mean": sum(itl) / len(itl) if itl else math.nan,
        "itl_p50": percentile(itl, 50),
        "itl_p99": percentile(itl, 99),
        "ttft_p50": percentile(ttft, 50),
        "ttft_p99": percentile(ttft, 99),
    }


SERVERS = {"bare": "benchmarks.bare_sse:app", "fakeai": "fakeai.app:app_from_environment()"}


def server_env(name: str, ttft: float, itl: float, tokens: int) -> dict[str, str]:
    if name == "bare":
        return {"BARE_SSE_TTFT_MS": str(ttft), "BARE_SSE_ITL_MS": str(itl)}
    settings = {"ttft": str(ttft), "itl": str(itl), "output_length": f"{tokens}:0:{tokens}:{tokens}"}
    return {"FAKEAI_SETTINGS_JSON": json.dumps(settings)}


async def measure(
    ports: dict[str, int], rounds: int, tokens: int, streams: int, requests: int, seconds: float
) -> dict[str, list[Batch]]:
    results: dict[str, list[Batch]] = {name: [] for name in ports}
    for port in ports.values():  # warm-up (imports, first-request caches, connection setup)
        await run_batch(port, tokens, min(streams, 10), 2, 10.0)
    for _ in range(rounds):
        for name, port in ports.items():
            results[name].append(await run_batch(port, tokens, streams, requests, seconds))
    return results


def with_servers(ttft: float, itl: float, tokens: int, body: Any) -> dict[str, list[Batch]]:
    procs, ports = [], {}
    try:
        for name, target in SERVERS.items():
            ports[name] = free_port()
            procs.append(start(target, ports[name], server_env(name, ttft, itl, tokens)))
        try:
            import uvloop

            return uvloop.run(body(ports))  # type: ignore[no-any-return]
        except ImportError:
            return asyncio.run(body(ports))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def timing(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    results = with_servers(
        args.ttft,
        args.itl,
        args.tokens,
        lambda ports: measure(ports, args.rounds, args.tokens, args.streams, args.requests, 120.0),
    )
    stats = {name: timing_stats(batches) for name, batches in results.items()}
    print(
        f"timing: {args.streams} concurrent streams x {args.tokens} tokens, --ttft {args.ttft} --itl {args.itl}, "
        f"{args.rounds} alternating rounds of {args.requests} requests per connection"
    )
    keys = ["itl_mean", "itl_p50", "itl_p99", "ttft_p50", "ttft_p99"]
    print(f"{'':>8} {'streams':>8} {'errors':>6} " + " ".join(f"{k + ' ms':>12}" for k in keys))
    for name, row in stats.items():
        print(f"{name:>8} {row['streams']:>8.0f} {row['errors']:>6.0f} " + " ".join(f"{row[k]:>12.3f}" for k in keys))
    diff = {k: stats["fakeai"][k] - stats["bare"][k] for k in keys}
    print(f"{'diff':>8} {'':>8} {'':>6} " + " ".join(f"{diff[k]:>+12.3f}" for k in keys))
    return stats


def throughput(args: argparse.Namespace) -> dict[str, float]:
    results = with_servers(
        0,
        0,
        args.tp_tokens,
        lambda ports: measure(ports, args.rounds, args.tp_tokens, args.tp_streams, 10**6, args.tp_seconds),
    )
    rates = {name: sum(b.chunks for b in runs) / sum(b.seconds for b in runs) for name, runs in results.items()}
    errors = {name: sum(b.errors for b in batches) for name, batches in results.items()}
    print(
        f"throughput: {args.tp_streams} concurrent streams x {args.tp_tokens} tokens, no latency, "
        f"{args.rounds} alternating rounds of {args.tp_seconds} s"
    )
    print(f"{'bare chunks/s':>14} {'fakeai chunks/s':>16} {'ratio':>7} {'errors':>7}")
    print(
        f"{rates['bare']:>14.0f} {rates['fakeai']:>16.0f} {rates['fakeai'] / rates['bare']:>7.1%} "
        f"{sum(errors.values()):>7}"
    )
    return rates


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--requests", type=int, default=3, help="timing: streams per connection per round")
    parser.add_argument("--ttft", type=float, default=20)
    parser.add_argument("--itl", type=float, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--tp-streams", type=int, default=10)
    parser.add_argument("--tp-tokens", type=int, default=500)
    parser.add_argument("--tp-seconds", type=float, default=3)
    parser.add_argument("--only", choices=["timing", "throughput"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pin_client()  # servers on one core (bench_http.start), this client on another
    report: dict[str, Any] = {}
    if args.only != "throughput":
        report["timing"] = timing(args)
    if args.only != "timing":
        report["throughput"] = throughput(args)
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
