"""The ``engine`` simulator: continuous batching, a waiting queue, prefix caching and preemption (docs/engine.md).

Most tests call the simulator directly with bare contexts on a FakeClock and a profile with round numbers;
one goes through the app with the official SDK.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fakeai.app import create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings
from fakeai.context import Frame, Output
from fakeai.errors import ConfigError
from fakeai.simulators.base import EngineLoad, ReportsLoad, SimulatorEnv
from fakeai.simulators.engine import EngineSimulator, Profile, bundled_profiles, engine, load_profiles
from fakeai.simulators.kv_cache import KVCacheSimulator
from fakeai.testing import async_client

# step_ms = 10 + 1 x running + 0.1 x tokens; 4 sequences; 2048 tokens a step
PROFILE = Profile("test", base_ms=10.0, per_seq_ms=1.0, per_token_ms=0.1, kv_blocks=10_000, max_num_seqs=4,
                  max_num_batched_tokens=2048)  # fmt: skip
_ids = itertools.count()


def build(profile: Profile = PROFILE, cache: KVCacheSimulator | None = None) -> tuple[EngineSimulator, FakeClock]:
    clock = FakeClock()
    simulators: dict[str, Any] = {"kv_cache": cache} if cache is not None else {}
    return EngineSimulator(clock, {profile.name: profile}, profile.name, simulators=simulators), clock


def ctx(prompt: int, namespace: str = "", first_id: int = 0) -> Any:
    ids = list(range(first_id, first_id + prompt))
    return SimpleNamespace(
        operation_id="createCompletion",
        body={"prompt": ids},
        namespace=namespace,
        model="m",
        headers={},
        request_id=f"req_{next(_ids)}",
    )


def stream(tokens: int) -> Output:
    return Output(frames=[Frame({"n": i}, tokens=1) for i in range(tokens)], content_type="text/event-stream")


def send(sim: EngineSimulator, prompt: int, tokens: int, **kw: Any) -> tuple[Any, list[float]]:
    request = ctx(prompt, **kw)
    if "kv_cache" in sim.simulators:
        sim.simulators["kv_cache"].admit(request)
    return request, list(sim.simulate(request, stream(tokens), _timing()).frames)


def _timing() -> Any:
    from fakeai.context import Timing

    return Timing()


def only(sim: EngineSimulator) -> EngineLoad:
    (load,) = sim.load()
    return load


def test_ttft_at_concurrency_one_is_the_prefill_time_and_itl_one_decode_step() -> None:
    sim, _ = build()
    _, times = send(sim, 1000, 3)
    assert times[0] == pytest.approx((10 + 1 + 0.1 * 1000) / 1000)  # one prefill step of 1000 tokens
    assert times[1] - times[0] == pytest.approx((10 + 1 + 0.1) / 1000)
    chunked, _ = build(Profile("c", 10.0, 1.0, 0.1, 10_000, max_num_batched_tokens=512))
    assert send(chunked, 1000, 1)[1][0] == pytest.approx((2 * 11 + 0.1 * 1000) / 1000)  # 512 + 488 in 2 steps


def test_a_queue_forms_once_max_num_seqs_saturate_and_ttft_grows() -> None:
    sim, clock = build()
    ttfts = [send(sim, 100, 50)[1][0] for _ in range(8)]
    assert ttfts == sorted(ttfts)
    assert ttfts[4] > ttfts[3] + 40 * 0.010  # the fifth waits for a slot: a whole decode of the first
    clock.elapsed = ttfts[0] / 2
    load = only(sim)
    assert isinstance(sim, ReportsLoad)
    assert (load.model, load.running, load.waiting) == ("m", 4, 4)
    assert 0 < load.kv_usage < 1


def test_itl_grows_with_the_running_batch() -> None:
    alone, _ = build()
    _, times = send(alone, 100, 20)
    busy, _ = build()
    for _ in range(3):
        send(busy, 100, 200)
    _, loaded = send(busy, 100, 20)
    assert loaded[-1] - loaded[-2] > times[-1] - times[-2]
    share = 3 * (3 * 100 + 100) / (3 * 200 + 20)  # the three's replacements' prefill, at the mix in flight
    assert loaded[-1] - loaded[-2] == pytest.approx((10 + 4 + 0.1 * (4 + share)) / 1000)


def test_a_cached_prompt_prefix_reduces_ttft() -> None:
    sim, _ = build(cache=KVCacheSimulator())
    first, cold = send(sim, 2000, 2)
    sim.finish(first, None)
    sim.simulators["kv_cache"].finish(first, None)
    _, warm = send(sim, 2000, 2)
    assert warm[0] < cold[0] / 5  # 1920 of 2000 tokens cached: 80 tokens to prefill


def test_preemption_when_kv_blocks_run_out_is_counted_and_stalls_the_stream() -> None:
    sim, clock = build(Profile("small", 10.0, 1.0, 0.1, kv_blocks=40))
    send(sim, 160, 300)  # 10 blocks growing to 29
    _, times = send(sim, 160, 300)  # fits when admitted, preempted when both grow past 40 blocks
    plan = next(iter(sim.engines["m"].plans.values()))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) > 10 * min(gaps)  # waits for the first request's blocks, then recomputes
    assert len(plan.runs) == 1
    clock.elapsed = times[-1]
    assert only(sim).preemptions >= 1


def test_the_same_requests_in_the_same_order_get_the_same_deadlines() -> None:
    def run() -> list[list[float]]:
        sim, clock = build(Profile("small", 10.0, 1.0, 0.1, kv_blocks=60))
        out = []
        for i in range(6):
            clock.elapsed = i * 0.05
            out.append(send(sim, 100 + 50 * i, 80)[1])
        return out

    assert run() == run()


def test_reset_clears_engines_or_one_namespace() -> None:
    sim, _ = build()
    send(sim, 100, 50, namespace="a")
    send(sim, 100, 50, namespace="b")
    sim.reset("a")
    assert [plan.namespace for plan in sim.engines["m"].plans.values()] == ["b"]
    sim.reset(None)
    assert list(sim.load()) == [] and sim.state()["engines"] == {}


def test_answers_without_tokens_and_models_without_a_profile_keep_their_timing() -> None:
    sim = EngineSimulator(FakeClock(), {PROFILE.name: PROFILE}, "", {"gpt-*": PROFILE.name})
    timing = _timing()
    assert sim.simulate(ctx(100), stream(5), timing) is timing  # model "m" matches no glob, no default
    assert sim.simulate(SimpleNamespace(**{**vars(ctx(100)), "model": "gpt-x"}), Output(), timing) is timing


def test_bundled_profiles_load_and_bad_ones_name_file_line_and_the_closest_key(tmp_path: Path) -> None:
    assert {"llama-3.1-8b@h100", "llama-3.3-70b@h100-tp4", "gpt-oss-20b@h100"} <= set(load_profiles(bundled_profiles()))
    bad = tmp_path / "engines.yaml"
    bad.write_text("profiles:\n  mine:\n    base_ms: 5\n    per_seq_ms: 1\n    per_tokn_ms: 2\n    kv_blocks: 9\n")
    with pytest.raises(ConfigError, match=r"engines.yaml:5: profiles.mine.per_tokn_ms: .*did you mean 'per_token_ms'"):
        load_profiles(bad)
    env = SimulatorEnv(
        Settings(simulators=("engine",), extra={"engine": {"profile": "llama-3.1-8b@h10"}}), FakeClock(), None
    )  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"unknown engine profile 'llama-3.1-8b@h10' \(did you mean"):
        engine(env)
    wrong_order = Settings(simulators=("engine", "latency"))
    with pytest.raises(ConfigError, match="after 'latency'"):
        engine(SimulatorEnv(wrong_order, FakeClock(), None))  # type: ignore[arg-type]


async def test_through_the_app_latency_follows_the_engine_and_state_is_shown() -> None:
    clock = FakeClock()
    extra = {"engine": {"profile": "", "models": {"gpt-4o*": "llama-3.1-8b@h100"}, "max_num_seqs": 8}}
    app = create_app(Settings(simulators=("kv_cache", "engine"), extra=extra), clock=clock)
    client = async_client(app)
    reply = await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert len(clock.sleeps) == 1
    per_token = (6.0 + 0.035 + 0.03) / 1000
    assert clock.sleeps[0] == pytest.approx(
        reply.usage.prompt_tokens * 0.03 / 1000 + reply.usage.completion_tokens * per_token, rel=0.05
    )
    state = next(s for s in app.simulators if s.name == "engine").state()  # type: ignore[attr-defined]
    assert state["engines"]["gpt-4o"]["requests"] == 1 and state["engines"]["gpt-4o"]["running"] == 0
    assert state["engines"]["gpt-4o"]["profile"]["max_num_seqs"] == 8


async def test_the_queue_wait_is_vllms_queue_time_and_not_prefill() -> None:
    """Three requests at once on one sequence slot: two wait. ``vllm:request_queue_time_seconds`` counts the
    wait, ``vllm:request_prefill_time_seconds`` the rest of the TTFT, as vLLM splits them."""
    import asyncio

    from prometheus_client.parser import text_string_to_metric_families

    extra = {"engine": {"profile": "", "models": {"gpt-4o*": "llama-3.1-8b@h100"}, "max_num_seqs": 1}}
    app = create_app(Settings(simulators=("engine",), extra=extra), clock=FakeClock())
    client = async_client(app)
    ask = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}
    await asyncio.gather(*(client.chat.completions.create(**ask) for _ in range(3)))  # type: ignore[call-overload]
    text = app.metrics.render().decode()
    sums = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.endswith("_sum") and sample.labels.get("model_name") == "gpt-4o"
    }
    queued = sums["vllm:request_queue_time_seconds_sum"]
    assert queued > 0  # the later ones waited for the slot
    assert sums["vllm:request_prefill_time_seconds_sum"] + queued == pytest.approx(
        sums["vllm:time_to_first_token_seconds_sum"]
    )
    assert queued < sums["vllm:e2e_request_latency_seconds_sum"]
