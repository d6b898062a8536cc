"""The ``engine`` simulator's saturation against its profiles (docs/engine.md, "The saturation curve").

Closed-loop clients on simulated time, on every shipped profile: at high concurrency the throughput stays
under the profile's compute bound and near it; at concurrency 1 it is the single-stream speed; the A100-40GB
profile keeps the published sweep it is calibrated on.
"""

from __future__ import annotations

import heapq

import pytest

from fakeai.simulators.engine import Engine, Profile, bundled_profiles, load_profiles

PROFILES = load_profiles(bundled_profiles())


def closed_loop(profile: Profile, clients: int, prompt: int, output: int, rounds: int) -> tuple[float, float]:
    """(output tok/s over the whole run, output tok/s in its middle half: the steady state without the start)."""
    engine = Engine(profile)
    ready = [(0.0, client) for client in range(clients)]
    sent = dict.fromkeys(range(clients), 0)
    stamps: list[float] = []
    n = 0
    while ready:
        at, client = heapq.heappop(ready)
        plan = engine.plan(f"r{n}", at, prompt, 0, output)
        n += 1
        stamps.extend(plan.times)
        sent[client] += 1
        if sent[client] < rounds:
            heapq.heappush(ready, (plan.done, client))
    end = max(stamps)
    low, high = end / 4, end * 3 / 4
    return len(stamps) / end, sum(low <= t < high for t in stamps) / (high - low)


def compute_bound(profile: Profile, prompt: int, output: int) -> float:
    """Output tok/s if every step ran a full batch: per request, its tokens at per_token_ms, per_seq_ms per step,
    base_ms shared by max_num_seqs sequences."""
    work_ms = (prompt + output - 1) * profile.per_token_ms + output * profile.per_seq_ms
    return 1000.0 * output / (work_ms + profile.base_ms * output / profile.max_num_seqs)


@pytest.mark.parametrize(("prompt", "output", "rounds"), [(1024, 128, 4), (256, 512, 2), (4096, 32, 2)])
@pytest.mark.parametrize("name", sorted(PROFILES))
def test_saturated_throughput_stays_under_the_compute_bound_and_near_it(
    name: str, prompt: int, output: int, rounds: int
) -> None:
    profile = PROFILES[name]
    bound = compute_bound(profile, prompt, output)
    overall, steady = closed_loop(profile, profile.max_num_seqs, prompt, output, rounds)
    assert max(overall, steady) <= 1.01 * bound  # 1%: counting whole tokens in the window
    assert steady >= 0.8 * bound  # KV blocks or the token budget hold fewer than max_num_seqs: 83% at worst


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_concurrency_one_runs_at_single_stream_speed(name: str) -> None:
    profile = PROFILES[name]
    prompt, output = 1024, 128
    assert prompt <= profile.max_num_batched_tokens  # one prefill step
    single = output / (profile.step(1, prompt) + (output - 1) * profile.step(1, 1))
    overall, _ = closed_loop(profile, 1, prompt, output, rounds=3)
    assert overall == pytest.approx(single, rel=1e-9)


def test_the_a100_40gb_profile_keeps_the_published_sweep() -> None:
    """75 tok/s single stream, x6.6 at concurrency 8 (1024 in / 128 out, 20 requests per client)."""
    profile = PROFILES["llama-3.1-8b@a100-40gb"]
    one, _ = closed_loop(profile, 1, 1024, 128, rounds=20)
    eight, _ = closed_loop(profile, 8, 1024, 128, rounds=20)
    assert one == pytest.approx(75, rel=0.03)
    assert eight / one == pytest.approx(6.6, abs=0.15)


def test_the_h100_decode_curve_is_near_the_published_peak() -> None:
    """256 decoding sequences, no prefill: ~11k output tok/s, near the ~12.5k published for one H100."""
    profile = PROFILES["llama-3.1-8b@h100"]
    assert 256 / profile.step(256, 256) == pytest.approx(11_000, rel=0.05)
