"""The ``engine`` simulator's saturation curve: TTFT p50/p99 and output tokens/s against concurrency.

    python benchmarks/bench_engine.py [--profile llama-3.1-8b@h100 | --all-profiles] [--prompt 1024]
                                      [--output 128] [--concurrency 1,2,4,...,512] [--rounds 8]
                                      [--png engine_saturation.png]

Computed on the simulator with simulated time, not wall time: ``C`` closed-loop clients each send a request
(``--prompt`` uncached prompt tokens, ``--output`` tokens) and the next one when the last token of the previous
is out, ``--rounds`` requests per client; the engine plans each request at its send time (the clock is set to
it). Throughput = output tokens / the span from the first send to the last token; ``steady`` = the output
tokens of the middle half of that span / its length, without the start (every client's prefill at once) and
the end (the last requests in a thinning batch).

Beside the measured curve it prints what the profile predicts (``expected``): the compute bound, the batch
limit (max_num_seqs, the requests of this size the KV blocks hold, or the token budget a step), the plateau at
that batch and the knee (the batch reaching 90 % of the plateau), next to the measured peak and the concurrency
where the measured curve reaches 90 % of it. Writes a PNG per profile when matplotlib is installed (it is not a
dependency of fakeai).
"""

from __future__ import annotations

import argparse
import heapq
import math
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fakeai.simulators.engine import Engine, Profile, bundled_profiles, load_profiles  # noqa: E402

LEVELS = "1,2,4,8,16,32,64,128,256,512"
Row = dict[str, float]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(pct / 100 * len(ordered)), len(ordered) - 1)]


def sweep(engine: Engine, concurrency: int, prompt: int, output: int, rounds: int) -> Row:
    """One closed-loop run of ``concurrency`` clients on a fresh engine."""
    ready = [(0.0, client) for client in range(concurrency)]
    sent = dict.fromkeys(range(concurrency), 0)
    ttfts: list[float] = []
    itls: list[float] = []
    stamps: list[float] = []
    last = 0.0
    n = 0
    while ready:
        at, client = heapq.heappop(ready)
        plan = engine.plan(f"r{n}", at, prompt, 0, output)
        n += 1
        ttfts.append(plan.times[0] - at)
        itls.extend(b - a for a, b in zip(plan.times, plan.times[1:], strict=False))
        stamps.extend(plan.times)
        last = max(last, plan.done)
        sent[client] += 1
        if sent[client] < rounds:
            heapq.heappush(ready, (plan.done, client))
    return {
        "ttft_p50": percentile(ttfts, 50) * 1000,
        "ttft_p99": percentile(ttfts, 99) * 1000,
        "itl_p50": percentile(itls, 50) * 1000 if itls else 0.0,
        "tokens_per_s": n * output / last if last else 0.0,
        "steady_per_s": sum(last / 4 <= t < last * 3 / 4 for t in stamps) / (last / 2) if last else 0.0,
        "preemptions": float(engine.preemptions + sum(p.preempted_by(last) for p in engine.plans.values())),
    }


@dataclass(frozen=True)
class Expected:
    """What the profile predicts for a steady closed loop of ``prompt`` in / ``output`` out requests."""

    bound: float  # output tok/s at a full batch of max_num_seqs: the compute bound
    limit: int  # the largest batch that runs: max_num_seqs, KV blocks or the token budget, the first reached
    limited_by: str
    plateau: float  # output tok/s at that batch
    knee: float  # the batch at which throughput reaches 90 % of the plateau


def expected(profile: Profile, prompt: int, output: int) -> Expected:
    """Throughput at a steady batch of ``B`` decoding sequences: every request costs its prompt and output
    tokens at per_token_ms and per_seq_ms for each step it decodes in, and each step's base_ms is shared by the
    ``B`` sequences in it: ``tok/s(B) = B x output / (output x base_ms + B x work_ms)``, rising towards
    ``output / work_ms``. No real engine beats ``tok/s(max_num_seqs)``, the compute bound."""
    work_ms = (prompt + output - 1) * profile.per_token_ms + output * profile.per_seq_ms
    fixed_ms = output * profile.base_ms

    def rate(batch: float) -> float:
        return 1000.0 * batch * output / (fixed_ms + batch * work_ms)

    blocks = -(-(prompt + output // 2) // profile.block_size)  # a running request, on average: at mid-decode
    limits = {
        "max_num_seqs": profile.max_num_seqs,
        "KV blocks": profile.kv_blocks // max(blocks, 1),
        "token budget": profile.max_num_batched_tokens * output // (prompt + output),  # decodes + prefill a step
    }
    limited_by = min(limits, key=lambda key: limits[key])
    limit = max(limits[limited_by], 1)
    knee = 0.9 * limit * fixed_ms / (fixed_ms + 0.1 * limit * work_ms)  # rate(knee) = 0.9 x rate(limit)
    return Expected(rate(profile.max_num_seqs), limit, limited_by, rate(limit), knee)


def measured_knee(rows: list[tuple[int, Row]], key: str = "tokens_per_s", fraction: float = 0.9) -> tuple[float, int]:
    """(the concurrency where the ``key`` curve reaches ``fraction`` of its peak, interpolated on log2, and the
    first measured level at or above it)."""
    peak = max(row[key] for _, row in rows)
    target = fraction * peak
    previous: tuple[int, float] | None = None
    for concurrency, row in rows:
        rate = row[key]
        if rate >= target:
            if previous is None:
                return float(concurrency), concurrency
            low, low_rate = previous
            share = (target - low_rate) / (rate - low_rate)
            return low * 2 ** (share * math.log2(concurrency / low)), concurrency
        previous = (concurrency, rate)
    raise AssertionError("the peak is one of the rows")


def run(profile: Profile, args: argparse.Namespace, levels: list[int]) -> tuple[list[tuple[int, Row]], Expected]:
    print(f"profile {profile.name}: prompt {args.prompt}, output {args.output}, {args.rounds} requests per client")
    print(
        f"{'conc':>5} {'TTFT p50 ms':>12} {'TTFT p99 ms':>12} {'ITL p50 ms':>11} {'out tok/s':>10} {'steady':>8}"
        f" {'preempt':>8}"
    )
    rows = []
    for concurrency in levels:
        row = sweep(Engine(profile), concurrency, args.prompt, args.output, args.rounds)
        rows.append((concurrency, row))
        print(
            f"{concurrency:>5} {row['ttft_p50']:>12.1f} {row['ttft_p99']:>12.1f} {row['itl_p50']:>11.2f}"
            f" {row['tokens_per_s']:>10.0f} {row['steady_per_s']:>8.0f} {row['preemptions']:>8.0f}"
        )
    exp = expected(profile, args.prompt, args.output)
    got = measured(rows)
    print(
        f"expected: compute bound {exp.bound:,.0f} output tok/s; batch limit {exp.limit} ({exp.limited_by}), "
        f"plateau {exp.plateau:,.0f} tok/s; knee (90% of the plateau) at batch {exp.knee:.0f}"
    )
    print(
        f"measured: peak {got['peak']:,.0f} tok/s at concurrency {got['peak_at']:.0f} ({got['peak'] / exp.bound:.0%}"
        f" of the bound; steady state {got['steady_peak'] / exp.bound:.0%}); 90% of the peak at concurrency"
        f" {got['knee']:.0f} (first level: {got['level']:.0f}; steady state: {got['steady_knee']:.0f})"
    )
    return rows, exp


def measured(rows: list[tuple[int, Row]]) -> Row:
    """The measured peak (and where), the steady state's, and the concurrency reaching 90 % of each."""
    peak_at, peak = max(rows, key=lambda item: item[1]["tokens_per_s"])
    knee, level = measured_knee(rows)
    steady_knee, _ = measured_knee(rows, "steady_per_s")
    return {
        "peak": peak["tokens_per_s"],
        "peak_at": float(peak_at),
        "steady_peak": max(row["steady_per_s"] for _, row in rows),
        "knee": knee,
        "level": float(level),
        "steady_knee": steady_knee,
    }


def plot(path: str, profile: Profile, args: argparse.Namespace, rows: list[tuple[int, Row]], exp: Expected) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
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
    right.plot(xs, [r["steady_per_s"] for _, r in rows], "s--", color="tab:olive", label="steady state")
    right.axhline(exp.bound, color="tab:red", linestyle=":", label=f"compute bound {exp.bound:,.0f}")
    right.axvline(exp.knee, color="tab:gray", linestyle=":", label=f"expected knee {exp.knee:.0f}")
    right.set_ylim(0, 1.1 * max(exp.bound, *(max(r["tokens_per_s"], r["steady_per_s"]) for _, r in rows)))
    right.set_ylabel("output tokens/s")
    left.legend(loc="upper left")
    right.legend(loc="lower right")
    left.set_title(f"{profile.name}: {args.prompt} in / {args.output} out")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="llama-3.1-8b@h100")
    parser.add_argument("--all-profiles", action="store_true", help="every profile of spec/engines.yaml")
    parser.add_argument("--prompt", type=int, default=1024)
    parser.add_argument("--output", type=int, default=128)
    parser.add_argument("--concurrency", default=LEVELS)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--png", default="engine_saturation.png", help="with --all-profiles: one per profile")
    args = parser.parse_args()
    profiles = load_profiles(bundled_profiles())
    if not args.all_profiles and args.profile not in profiles:
        sys.exit(f"unknown profile {args.profile!r}; one of {', '.join(profiles)}")
    chosen = list(profiles.values()) if args.all_profiles else [profiles[args.profile]]
    levels = [int(c) for c in args.concurrency.split(",")]
    summary = []
    for profile in chosen:
        rows, exp = run(profile, args, levels)
        path = args.png
        if args.all_profiles:
            png = Path(args.png)
            path = str(png.with_name(f"{png.stem}-{profile.name.replace('@', '_')}{png.suffix}"))
        print(f"wrote {path}" if plot(path, profile, args, rows, exp) else "no PNG: pip install matplotlib")
        print()
        summary.append((profile.name, rows, exp))
    if len(summary) > 1:
        print(f"{args.prompt} in / {args.output} out, {args.rounds} requests per client")
        print("| profile | compute bound tok/s | measured peak (at C) | peak / bound | steady peak / bound "
              "| batch limit | expected knee | 90 % of the peak at | steady state |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        for name, rows, exp in summary:
            got = measured(rows)
            print(
                f"| {name} | {exp.bound:,.0f} | {got['peak']:,.0f} ({got['peak_at']:.0f})"
                f" | {got['peak'] / exp.bound:.0%} | {got['steady_peak'] / exp.bound:.0%}"
                f" | {exp.limit} ({exp.limited_by}) | {exp.knee:.0f}"
                f" | {got['knee']:.0f} | {got['steady_knee']:.0f} |"
            )


if __name__ == "__main__":
    main()
