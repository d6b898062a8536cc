"""The ``engine`` simulator's saturation curve: TTFT p50/p99 and output tokens/s against concurrency.

    python benchmarks/bench_engine.py [--profile llama-3.1-8b@h100] [--prompt 1024] [--output 128]
                                      [--concurrency 1,2,4,...,512] [--rounds 8] [--png engine.png]

Computed on the simulator with simulated time, not wall time: ``C`` closed-loop clients each send a request
(``--prompt`` uncached prompt tokens, ``--output`` tokens) and the next one when the last token of the previous
is out, ``--rounds`` requests per client; the engine plans each request at its send time (the clock is set to
it). Throughput = output tokens / the span from the first send to the last token. Writes a PNG when matplotlib
is installed (it is not a dependency of fakeai).
"""

from __future__ import annotations

import argparse
import heapq
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fakeai.simulators.engine import Engine, bundled_profiles, load_profiles  # noqa: E402

LEVELS = "1,2,4,8,16,32,64,128,256,512"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(pct / 100 * len(ordered)), len(ordered) - 1)]


def sweep(engine: Engine, concurrency: int, prompt: int, output: int, rounds: int) -> dict[str, float]:
    """One closed-loop run of ``concurrency`` clients on a fresh engine."""
    ready = [(0.0, client) for client in range(concurrency)]
    sent = {client: 0 for client in range(concurrency)}
    ttfts: list[float] = []
    itls: list[float] = []
    last = 0.0
    n = 0
    while ready:
        at, client = heapq.heappop(ready)
        plan = engine.plan(f"r{n}", at, prompt, 0, output)
        n += 1
        ttfts.append(plan.times[0] - at)
        itls.extend(b - a for a, b in zip(plan.times, plan.times[1:], strict=False))
        last = max(last, plan.done)
        sent[client] += 1
        if sent[client] < rounds:
            heapq.heappush(ready, (plan.done, client))
    waiting = max(load.waiting for load in [engine.load("m", 0.0)])
    return {
        "ttft_p50": percentile(ttfts, 50) * 1000,
        "ttft_p99": percentile(ttfts, 99) * 1000,
        "itl_p50": percentile(itls, 50) * 1000 if itls else 0.0,
        "tokens_per_s": n * output / last if last else 0.0,
        "preemptions": float(engine.preemptions + sum(p.preempted_by(last) for p in engine.plans.values())),
        "waiting": float(waiting),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="llama-3.1-8b@h100")
    parser.add_argument("--prompt", type=int, default=1024)
    parser.add_argument("--output", type=int, default=128)
    parser.add_argument("--concurrency", default=LEVELS)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--png", default="engine_saturation.png")
    args = parser.parse_args()
    profiles = load_profiles(bundled_profiles())
    if args.profile not in profiles:
        sys.exit(f"unknown profile {args.profile!r}; one of {', '.join(profiles)}")
    profile = profiles[args.profile]
    levels = [int(c) for c in args.concurrency.split(",")]
    print(f"profile {profile.name}: prompt {args.prompt}, output {args.output}, {args.rounds} requests per client")
    print(f"{'conc':>5} {'TTFT p50 ms':>12} {'TTFT p99 ms':>12} {'ITL p50 ms':>11} {'out tok/s':>10} {'preempt':>8}")
    rows = []
    for concurrency in levels:
        row = sweep(Engine(profile), concurrency, args.prompt, args.output, args.rounds)
        rows.append((concurrency, row))
        print(
            f"{concurrency:>5} {row['ttft_p50']:>12.1f} {row['ttft_p99']:>12.1f} {row['itl_p50']:>11.2f}"
            f" {row['tokens_per_s']:>10.0f} {row['preemptions']:>8.0f}"
        )
    # Where the profile puts the knee: the engine is compute-bound when every step's token work dominates its
    # fixed cost; per request that work is its prompt plus its output tokens at per_token_ms, plus per_seq_ms per
    # step it runs in (base_ms amortized over a full batch). Throughput above this bound means the simulator
    # undercounts work under load (requests are planned once and never see later arrivals' prefill chunks).
    work_ms = (args.prompt + args.output - 1) * profile.per_token_ms + args.output * profile.per_seq_ms
    bound = (
        1000.0 * args.output * profile.max_num_seqs / (work_ms * profile.max_num_seqs + profile.base_ms * args.output)
    )
    peak = max(rows, key=lambda row: row[1]["tokens_per_s"])
    knee = next(c for c, row in rows if row["tokens_per_s"] >= 0.9 * peak[1]["tokens_per_s"])
    print(
        f"profile's compute bound {bound:,.0f} output tok/s; measured peak {peak[1]['tokens_per_s']:,.0f} "
        f"({peak[1]['tokens_per_s'] / bound:.2f}x the bound) at concurrency {peak[0]}; 90% of the peak from {knee}"
    )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNG written (pip install matplotlib)")
        return
    figure, left = plt.subplots(figsize=(8, 5))
    xs = [c for c, _ in rows]
    left.plot(xs, [r["ttft_p50"] for _, r in rows], "o-", label="TTFT p50")
    left.plot(xs, [r["ttft_p99"] for _, r in rows], "o--", label="TTFT p99")
    left.set_xscale("log", base=2)
    left.set_yscale("log")
    left.set_xlabel("concurrency")
    left.set_ylabel("TTFT (ms)")
    right = left.twinx()
    right.plot(xs, [r["tokens_per_s"] for _, r in rows], "s-", color="tab:green", label="output tok/s")
    right.set_ylabel("output tokens/s")
    left.legend(loc="upper left")
    right.legend(loc="lower right")
    left.set_title(f"{profile.name}: {args.prompt} in / {args.output} out")
    figure.tight_layout()
    figure.savefig(args.png)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
