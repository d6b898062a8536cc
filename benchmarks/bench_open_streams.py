"""Open streams: how many slow streamed chat completions one fakeai process holds at once, at what memory and ITL.

    python benchmarks/bench_open_streams.py [--streams 10000] [--rate 1000] [--ttft 50] [--itl 1000] [--tokens 20]
                                            [--server fakeai|bare] [--json]

The target it checks (the project's issue): "10,000 open streams at ITL 1 s on one process: all held, <= 20 KiB
per stream, ITL p99 <= 1.05 s".

One fakeai process (``fakeai.app:app_from_environment()`` under uvicorn, uvloop, httptools, pinned to cpu 0)
started with ``ttft``, ``itl`` and ``output_length N:0:N:N``; the client (this process, asyncio on raw sockets,
cpu 1) raises its open-file limit to the hard limit before starting the server, which inherits it. After a
warm-up of a few short streams, it opens ``--streams`` connections at ``--rate`` connects per second (the listen
backlog never overflows), each sending one streamed chat completion (``max_tokens`` = ``--tokens`` +
``ignore_eos``), so with the defaults every stream stays open ~20 s and all 10,000 are open together from the
end of the 10 s ramp. Reported:

- streams completed (every content chunk, then ``[DONE]``) and the failures by kind (connect, HTTP status,
  reset / closed mid-stream, short, timeout), with the first message of each kind and the server's stderr tail;
- open streams at the peak: a stream is open from its first content chunk to its ``[DONE]``;
- ITL = gaps between consecutive content chunks of a stream, timestamped when the read carrying them returns
  (mean/p50/p99/max), and p99/max of the gaps that start once every stream has had its first chunk (no request
  is being admitted any more: the steady state); TTFT = request written -> first content chunk (p50/p99);
  connect time (p50/p99);
- the server's RSS (``/proc/<pid>/status`` VmRSS) idle after the warm-up, at the peak (the sample, every 0.25 s,
  with the most streams open) and after the streams; KiB per stream = (peak - idle) / streams open at that sample;
- CPU seconds of the server (``/proc/<pid>/stat``) and of the client during the run: a client near 100% of its
  core reads late, which shows as ITL jitter that is not the server's. The client's garbage collector is off
  during the run (a full collection over 10,000 streams' objects stalls its reads for tens of ms).

``--server bare`` runs the same against ``benchmarks/bare_sse.py`` (bench_stream's raw-ASGI SSE baseline): the
floor of uvicorn + asyncio per open stream, to read fakeai's KiB per stream against.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_http import free_port, gc_stats, pin_client, start  # noqa: E402
from benchmarks.bench_realtime import cpu_seconds, loop_runner, rss_mb  # noqa: E402
from benchmarks.bench_stream import (  # noqa: E402
    CONTENT,
    EMPTY,
    SERVERS,
    Stream,
    percentile,
    request_bytes,
    server_env,
)

DONE = b"data: [DONE]"
FD_SLACK = 100  # descriptors besides the sockets: the interpreter, the event loop, /proc reads
SAMPLE_SECONDS = 0.25
WARM_UP = 20  # short streams before the idle RSS: first-request lazy loads and caches


class Failed(Exception):
    """A stream that did not complete; ``kind`` is the tally key."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Tally:
    open: int = 0  # streams between their first content chunk and [DONE]
    peak: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    first_message: dict[str, str] = field(default_factory=dict)
    connect: list[float] = field(default_factory=list)

    def fail(self, kind: str, message: str) -> None:
        self.failures[kind] += 1
        self.first_message.setdefault(kind, message)


def raise_nofile(needed: int) -> tuple[int, int]:
    """Soft open-file limit up to the hard one (the server started afterwards inherits it); exits when too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(
            f"the hard open-file limit is {hard}, below the {needed} descriptors this run needs per process "
            f"(streams + {FD_SLACK}): raise it (as root: prlimit --nofile={needed}:{needed} --pid $$, or "
            f"limits.conf) or pass a smaller --streams"
        )
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, needed)  # unlimited: the kernel caps it anyway
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def process_nofile(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return "/".join(line.split()[3:5])  # soft/hard
    return "?"


def drain(pipe: IO[bytes] | None, tail: deque[str]) -> None:
    """Read the server's stderr as it comes (a full pipe would block the server); keep the last lines."""

    def run() -> None:
        for line in iter(pipe.readline, b"") if pipe else ():
            tail.append(line.decode(errors="replace").rstrip())

    threading.Thread(target=run, daemon=True).start()


async def hold(port: int, payload: bytes, tokens: int, tally: Tally, timeout: float) -> Stream:
    """One streamed completion on its own connection: content-chunk arrival times; raises Failed."""
    clock = time.perf_counter
    began = clock()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        raise Failed("connect", repr(exc)) from None
    tally.connect.append(clock() - began)
    arrivals: list[float] = []
    done = False
    try:
        async with asyncio.timeout(timeout):
            writer.write(payload)
            sent = clock()
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200") or b"chunked" not in head.lower():
                raise Failed("status", head.split(b"\r\n", 1)[0].decode(errors="replace"))
            raw = events = b""
            ended = False
            while not ended:
                data = await reader.read(1 << 16)
                now = clock()
                if not data:
                    raise Failed("reset", f"connection closed after {len(arrivals)} content chunks")
                raw += data
                while (eol := raw.find(b"\r\n")) >= 0:  # de-chunk what is complete
                    size = int(raw[:eol], 16)
                    end = eol + 2 + size + 2
                    if len(raw) < end:
                        break
                    events += raw[eol + 2 : end - 2]
                    raw = raw[end:]
                    ended = size == 0
                frames = events.split(b"\n\n")
                events = frames.pop()
                for frame in frames:
                    if CONTENT in frame and EMPTY not in frame:
                        if not arrivals:
                            tally.open += 1
                            tally.peak = max(tally.peak, tally.open)
                        arrivals.append(now)
                    elif frame.startswith(DONE) and arrivals and not done:
                        done = True
                        tally.open -= 1
            if not done:
                raise Failed("reset", f"the body ended without [DONE] after {len(arrivals)} content chunks")
    except TimeoutError:
        raise Failed("timeout", f"no [DONE] within {timeout:.0f} s ({len(arrivals)} content chunks)") from None
    except (OSError, asyncio.IncompleteReadError) as exc:
        raise Failed("reset", repr(exc)) from None
    except ValueError as exc:  # a malformed chunk size
        raise Failed("other", repr(exc)) from None
    finally:
        if arrivals and not done:
            tally.open -= 1
        writer.close()
    if len(arrivals) != tokens:
        raise Failed("short", f"{len(arrivals)} content chunks, not {tokens}")
    return Stream(arrivals[0] - sent, arrivals)


async def guarded(port: int, payload: bytes, tokens: int, tally: Tally, timeout: float) -> Stream | None:
    try:
        return await hold(port, payload, tokens, tally, timeout)
    except Failed as exc:
        tally.fail(exc.kind, str(exc))
    except Exception as exc:  # anything else is a bug of this client: counted, not fatal to the other streams
        tally.fail("other", repr(exc))
    return None


Sample = tuple[float, int, float, float]  # (seconds into the run, streams open, server RSS MB, server CPU seconds)


async def monitor(pid: int, tally: Tally, stop: asyncio.Event, samples: list[Sample]) -> None:
    started = time.perf_counter()
    while not stop.is_set():
        samples.append((time.perf_counter() - started, tally.open, rss_mb(pid), cpu_seconds(pid)))
        await asyncio.sleep(SAMPLE_SECONDS)


async def measure(port: int, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    warm = Tally()
    await asyncio.gather(*(guarded(port, request_bytes(port, 2), 2, warm, 60) for _ in range(WARM_UP)))
    if warm.failures:
        raise RuntimeError(f"warm-up failed: {dict(warm.failures)} {warm.first_message}")
    await asyncio.sleep(1.0)
    idle = rss_mb(pid)
    fakeai = args.server == "fakeai"  # bare_sse answers every request with a stream: no /metrics to ask
    collector = gc_stats(port) if fakeai else {}  # fakeai_gc_* counters, read outside the measured window
    payload = request_bytes(port, args.tokens)
    timeout = (args.ttft + args.tokens * args.itl) / 1000 + 60 + args.streams / args.rate
    tally, stop = Tally(), asyncio.Event()
    samples: list[Sample] = []
    watcher = asyncio.ensure_future(monitor(pid, tally, stop, samples))
    cpu, mine, started = cpu_seconds(pid), time.process_time(), time.perf_counter()
    tasks = []
    gc.collect()
    gc.disable()  # a full collection over 10,000 streams' objects would stall this client's reads (seen as ITL)
    for i in range(args.streams):
        delay = started + i / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(guarded(port, payload, args.tokens, tally, timeout)))
    ramp = time.perf_counter() - started
    results = await asyncio.gather(*tasks)
    seconds = time.perf_counter() - started
    server_cpu, client_cpu = cpu_seconds(pid) - cpu, time.process_time() - mine
    gc.enable()
    stop.set()
    await watcher
    await asyncio.sleep(1.0)
    after = rss_mb(pid)
    collected = gc_stats(port) if fakeai else {}
    streams = [s for s in results if s is not None]
    itl = [(b - a) * 1000 for s in streams for a, b in zip(s.arrivals, s.arrivals[1:], strict=False)]
    admitted = max((s.arrivals[0] for s in streams), default=0.0)  # every stream has had its first chunk
    steady = [
        (b - a) * 1000 for s in streams for a, b in zip(s.arrivals, s.arrivals[1:], strict=False) if a >= admitted
    ]
    ttft = [s.ttft * 1000 for s in streams]
    last_all_open = max((t for t, n, _, _ in samples if n >= tally.peak - 10), default=0.0)
    connect = [c * 1000 for c in tally.connect]
    _, peak_open, peak_rss, _ = max(samples, key=lambda s: (s[1], s[2]), default=(0.0, 0, float("nan"), 0.0))
    return {
        "streams": args.streams,
        "completed": len(streams),
        "failures": dict(tally.failures),
        "first_failure": tally.first_message,
        "peak_open": tally.peak,
        "ramp_seconds": ramp,
        "run_seconds": seconds,
        "itl_mean_ms": sum(itl) / len(itl) if itl else float("nan"),
        "itl_p50_ms": percentile(itl, 50),
        "itl_p99_ms": percentile(itl, 99),
        "itl_max_ms": max(itl, default=float("nan")),
        "itl_gaps": len(itl),
        "itl_steady_p99_ms": percentile(steady, 99),
        "itl_steady_max_ms": max(steady, default=float("nan")),
        "itl_steady_gaps": len(steady),
        "admitted_seconds": admitted - started if streams else float("nan"),
        "ttft_p50_ms": percentile(ttft, 50),
        "ttft_p99_ms": percentile(ttft, 99),
        "connect_p50_ms": percentile(connect, 50),
        "connect_p99_ms": percentile(connect, 99),
        "rss_idle_mb": idle,
        "rss_peak_mb": peak_rss,
        "rss_peak_open": peak_open,
        "rss_max_mb": max((s[2] for s in samples), default=float("nan")),
        "rss_after_mb": after,
        "kib_per_stream": (peak_rss - idle) * 1024 / peak_open if peak_open else float("nan"),
        "server_cpu_seconds": server_cpu,
        "server_gc": {k: v - collector.get(k, 0.0) for k, v in collected.items()},
        "server_cpu_share_admitting": cpu_share(samples, 0.0, admitted - started),
        "server_cpu_share_holding": cpu_share(samples, admitted - started, last_all_open),
        "client_cpu_seconds": client_cpu,
        "samples": [(round(t, 2), n, round(mb, 2), round(c, 2)) for t, n, mb, c in samples],
    }


def cpu_share(samples: list[Sample], since: float, until: float) -> float:
    """The server's CPU use between two moments of the run (the samples nearest inside), as a share of one core."""
    inside = [s for s in samples if since <= s[0] <= until]
    if len(inside) < 2:
        return float("nan")
    return (inside[-1][3] - inside[0][3]) / (inside[-1][0] - inside[0][0])


def verdicts(r: dict[str, Any], itl: float) -> list[tuple[str, bool, str]]:
    limit = itl * 1.05
    return [
        (
            "all held",
            r["peak_open"] == r["streams"] == r["completed"],
            f"{r['peak_open']} open at once, {r['completed']} completed of {r['streams']}",
        ),
        ("<= 20 KiB per stream", r["kib_per_stream"] <= 20, f"{r['kib_per_stream']:.1f} KiB"),
        (
            f"ITL p99 <= {limit / 1000:g} s",
            r["itl_p99_ms"] <= limit,
            f"{r['itl_p99_ms'] / 1000:.4f} s (once all admitted: {r['itl_steady_p99_ms'] / 1000:.4f} s)",
        ),
    ]


def print_report(r: dict[str, Any], args: argparse.Namespace, nofile: str) -> None:
    print(
        f"open streams ({args.server}): {args.streams} x {args.tokens} tokens, ttft {args.ttft:g} ms, "
        f"itl {args.itl:g} ms, {args.rate:g} connects/s; open-file limit (soft/hard) client {nofile}"
    )
    failed = ", ".join(f"{k} {v}" for k, v in sorted(r["failures"].items())) or "none"
    print(
        f"  completed {r['completed']}/{r['streams']}, failures: {failed}; peak open {r['peak_open']}\n"
        f"  ramp {r['ramp_seconds']:.1f} s, run {r['run_seconds']:.1f} s; "
        f"connect p50 {r['connect_p50_ms']:.2f} ms, p99 {r['connect_p99_ms']:.2f} ms\n"
        f"  ITL  mean {r['itl_mean_ms']:.2f} ms, p50 {r['itl_p50_ms']:.2f}, p99 {r['itl_p99_ms']:.2f}, "
        f"max {r['itl_max_ms']:.2f} ms ({r['itl_gaps']} gaps)\n"
        f"       once every stream had its first chunk ({r['admitted_seconds']:.1f} s into the run): "
        f"p99 {r['itl_steady_p99_ms']:.2f}, max {r['itl_steady_max_ms']:.2f} ms ({r['itl_steady_gaps']} gaps)\n"
        f"  TTFT p50 {r['ttft_p50_ms']:.2f} ms, p99 {r['ttft_p99_ms']:.2f} ms\n"
        f"  server RSS idle {r['rss_idle_mb']:.1f} MB, peak {r['rss_peak_mb']:.1f} MB with {r['rss_peak_open']} "
        f"open ({r['kib_per_stream']:.1f} KiB per stream), max {r['rss_max_mb']:.1f} MB, "
        f"after {r['rss_after_mb']:.1f} MB\n"
        f"  CPU over the run: server {r['server_cpu_seconds']:.1f} s "
        f"({r['server_cpu_seconds'] / r['run_seconds']:.0%} of a core), client {r['client_cpu_seconds']:.1f} s "
        f"({r['client_cpu_seconds'] / r['run_seconds']:.0%}); server while admitting "
        f"{r['server_cpu_share_admitting']:.0%}, while holding the peak {r['server_cpu_share_holding']:.0%}"
    )
    if r["server_gc"]:
        print(
            f"  server garbage collector over the run: {r['server_gc']['collections']:.0f} collections, "
            f"{r['server_gc']['pause_seconds'] * 1000:.0f} ms paused"
        )
    for kind, message in r["first_failure"].items():
        print(f"  first {kind} failure: {message}")
    for name, ok, detail in verdicts(r, args.itl):
        print(f"  {'PASS' if ok else 'FAIL'} {name}: {detail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="connects per second while ramping up")
    parser.add_argument("--ttft", type=float, default=50.0, help="ms")
    parser.add_argument("--itl", type=float, default=1000.0, help="ms")
    parser.add_argument("--tokens", type=int, default=20, help="content chunks per stream")
    parser.add_argument(
        "--server", choices=sorted(SERVERS), default="fakeai", help="bare: bench_stream's raw-ASGI SSE baseline"
    )
    parser.add_argument("--json", action="store_true", help="also print the report as one JSON line")
    args = parser.parse_args()
    soft, hard = raise_nofile(args.streams + FD_SLACK)
    port = free_port()
    proc = start(SERVERS[args.server], port, server_env(args.server, args.ttft, args.itl, args.tokens))
    tail: deque[str] = deque(maxlen=40)
    drain(proc.stderr, tail)
    pin_client()
    try:
        report = loop_runner()(measure(port, proc.pid, args))
        report["server_nofile"] = process_nofile(proc.pid)
        report["server_alive"] = proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(10)
    report["server_stderr_tail"] = list(tail)
    print_report(report, args, f"{soft}/{hard}, server {report['server_nofile']}")
    if not report["server_alive"]:
        print("  the server process died during the run")
    if tail:
        print("  server stderr (last lines):\n    " + "\n    ".join(tail))
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
