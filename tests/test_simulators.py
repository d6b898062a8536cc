"""Pluggable simulators: the registry, --simulator, the kv_cache prefix cache and the gpu gauges.

API behaviour goes through the official openai SDK; the cache's invariants are hypothesis properties.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from types import SimpleNamespace
from typing import Any

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.app import FakeAI, create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings
from fakeai.context import Output, RequestContext, Timing
from fakeai.errors import PluginError
from fakeai.simulators.gpu import GPUSimulator
from fakeai.simulators.kv_cache import KVCacheSimulator
from fakeai.simulators.registry import simulator
from fakeai.testing import async_client
from tests.test_cli import settings_for

LONG = " ".join(f"word{i}" for i in range(2500))  # ~5000 tokens
SHORT = " ".join(f"word{i}" for i in range(200))  # ~400 tokens: below OpenAI's 1024-token minimum


def app_with(*argv: str, clock: Any = None, **changes: Any) -> FakeAI:
    settings = settings_for(list(argv)).merge({"validate_responses": "strict", **changes}, "test")
    return create_app(settings, clock=clock)


async def chat_cached(app: FakeAI, text: str, namespace: str = "") -> int:
    client = async_client(app, headers={"x-fakeai-namespace": namespace} if namespace else None)
    reply = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "system", "content": text}, {"role": "user", "content": "hi"}]
    )
    assert not app.violations
    cached: int = reply.usage.prompt_tokens_details.cached_tokens
    return cached


async def metrics(app: FakeAI) -> dict[str, float]:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        text = (await http.get("/_fakeai/metrics")).text
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^([^#\s]\S*) (\S+)$", text, re.M)}


# --- registry and settings ---------------------------------------------------------------------


def test_unknown_simulator_fails_at_startup_with_a_hint() -> None:
    with pytest.raises(PluginError, match=r"unknown simulator 'kv_cach'.*did you mean 'kv_cache'"):
        app_with("--simulator", "latency", "--simulator", "kv_cach")


async def test_simulator_flag_chooses_the_chain() -> None:
    app = app_with("--simulator", "latency")
    assert [s.name for s in app.simulators] == ["latency", "faults"]  # scenario fault timing always runs last
    await chat_cached(app, LONG)
    assert await chat_cached(app, LONG) == 0  # no kv_cache simulator: nothing is ever cached
    assert "fakeai_gpu_utilization_ratio" not in await metrics(app)


def test_simulators_env_var_reaches_the_settings() -> None:
    assert settings_for([], {"FAKEAI_SIMULATORS": "latency,gpu"}).simulators == ("latency", "gpu")
    assert Settings().simulators == ("latency", "kv_cache", "gpu")


class FixedDelay:
    name = "fixed_delay"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def simulate(self, ctx: RequestContext, output: Output, timing: Timing) -> Timing:
        return Timing(first=timing.first + self.seconds, frames=timing.frames, done=timing.done + self.seconds)


async def test_simulator_objects_and_registered_factories_join_the_chain() -> None:
    @simulator("test_half_second")
    def half(env: Any) -> FixedDelay:
        return FixedDelay(0.5)

    clock = FakeClock()
    settings = Settings(simulators=("latency", "test_half_second"), ttft="100")
    app = create_app(settings, clock=clock, simulators=[FixedDelay(0.25)])
    assert [s.name for s in app.simulators] == ["latency", "fixed_delay", "fixed_delay", "faults"]
    await async_client(app).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert sum(clock.sleeps) == pytest.approx(0.1 + 0.5 + 0.25)


def test_bad_simulator_options_name_the_closest_key() -> None:
    from fakeai.errors import ConfigError

    with pytest.raises(ConfigError, match=r"extra.kv_cache: unknown option 'capacity'.*capacity_tokens"):
        app_with(extra={"kv_cache": {"capacity": 10}})


# --- kv_cache through the SDK ------------------------------------------------------------------


async def test_second_long_prompt_is_cached_in_128_token_steps() -> None:
    app = app_with()
    assert await chat_cached(app, LONG) == 0
    cached = await chat_cached(app, LONG)
    assert cached > 4000 and cached % 128 == 0
    assert await chat_cached(app, SHORT) == 0 and await chat_cached(app, SHORT) == 0  # under 1024 tokens
    assert await chat_cached(app, LONG, namespace="other") == 0  # namespaces do not share the cache


async def test_responses_and_completions_report_cached_tokens() -> None:
    client = async_client(app_with())
    first = await client.responses.create(model="gpt-4o", input=LONG)
    second = await client.responses.create(model="gpt-4o", input=LONG + " and more")
    assert first.usage.input_tokens_details.cached_tokens == 0
    assert second.usage.input_tokens_details.cached_tokens % 128 == 0
    assert second.usage.input_tokens_details.cached_tokens > 4000
    legacy = [await client.completions.create(model="davinci-002", prompt=LONG) for _ in range(2)]
    assert legacy[0].usage.prompt_tokens_details is None  # legacy completions only report details on a hit
    assert legacy[1].usage.prompt_tokens_details.cached_tokens > 4000


async def test_cache_is_deterministic_for_the_same_request_sequence() -> None:
    texts = [LONG, LONG[:6000], LONG, SHORT + LONG, LONG[:9000]]

    async def run() -> list[int]:
        app = app_with(extra={"kv_cache": {"capacity_tokens": 8192}})  # small: evictions happen
        return [await chat_cached(app, text) for text in texts]

    first = await run()
    assert first == await run()
    assert first[0] == 0 and first[2] > 0


async def test_state_reset_makes_a_namespace_start_cold() -> None:
    app = app_with()
    await chat_cached(app, LONG, namespace="a")
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.post("/_fakeai/state/reset?namespace=a")).status_code == 200
    assert await chat_cached(app, LONG, namespace="a") == 0


async def test_cached_prompt_shortens_ttft() -> None:
    clock = FakeClock()
    app = app_with("--ttft", "1000", clock=clock)
    await chat_cached(app, LONG)
    assert clock.sleeps == [pytest.approx(1.0)]
    assert await chat_cached(app, LONG) > 0
    assert 0.2 <= clock.sleeps[1] < 0.3  # 20% fixed + 80% x the small uncached share


# --- kv_cache properties -----------------------------------------------------------------------


_request_ids = itertools.count()


def fake_ctx(ids: list[int], namespace: str = "") -> Any:
    return SimpleNamespace(
        operation_id="createCompletion",
        body={"prompt": ids},
        namespace=namespace,
        model="m",
        headers={},
        request_id=f"req_{next(_request_ids)}",
    )


def admitted(cache: KVCacheSimulator, ids: list[int]) -> int:
    ctx = fake_ctx(ids)
    cache.admit(ctx)
    return cache.cached_tokens(ctx, len(ids))


@settings(database=None, max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3000)), min_size=1, max_size=12),
    st.sampled_from([16, 128]),
)
def test_cache_invariants(requests: list[tuple[int, int]], block: int) -> None:
    cache = KVCacheSimulator(capacity_tokens=4096, block_tokens=block)
    inflight = []
    for prefix, length in requests:
        ids = [prefix] * 64 + list(range(length))
        ctx = fake_ctx(ids)
        cache.admit(ctx)
        cached = cache.cached_tokens(ctx, len(ids))
        assert cached % 128 == 0 and 0 <= cached <= len(ids)
        assert cached == 0 or len(ids) >= 1024
        cache.admit(ctx)  # admitting the same request twice changes nothing
        assert cache.cached_tokens(ctx, len(ids)) == cached
        assert len(cache.refs) <= cache.capacity_blocks
        inflight.append(ctx)
    for ctx in inflight:
        cache.finish(ctx, None)
    assert cache.blocks_in_use == 0 and cache.usage_ratio() == 0.0


def test_full_prefix_repeated_is_a_hit_and_a_changed_first_block_is_not() -> None:
    cache = KVCacheSimulator()
    ids = list(range(2000))
    assert admitted(cache, ids) == 0
    assert admitted(cache, ids) == 1920  # 15 full blocks
    assert admitted(cache, [7, *ids[1:]]) == 0


# --- gpu -----------------------------------------------------------------------------------------


async def test_gpu_gauges_move_under_load_and_return_to_idle() -> None:
    app = app_with("--ttft", "1000", extra={"gpu": {"saturation": 4}})
    client = async_client(app)
    await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "warm up"}])
    idle = await metrics(app)
    assert idle['fakeai_gpu_utilization_ratio{gpu="0"}'] == 0.0

    async def one(i: int) -> None:
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"{i} {LONG}"}])

    load = asyncio.gather(*(one(i) for i in range(8)))
    for _ in range(100):  # until all 8 are in flight (each waits 1 s for its first token)
        await asyncio.sleep(0.01)
        busy = await metrics(app)
        if busy["fakeai_gpu_requests_running"] == 8:
            break
    await load
    after = await metrics(app)
    assert busy["fakeai_gpu_requests_running"] == 8
    assert busy['fakeai_gpu_utilization_ratio{gpu="0"}'] > 0.8
    assert busy['fakeai_gpu_power_watts{gpu="0"}'] > idle['fakeai_gpu_power_watts{gpu="0"}']
    assert busy['fakeai_gpu_memory_used_bytes{gpu="0"}'] > idle['fakeai_gpu_memory_used_bytes{gpu="0"}']
    assert busy["fakeai_kv_cache_usage_ratio"] > 0
    assert after["fakeai_gpu_requests_running"] == 0 and after['fakeai_gpu_utilization_ratio{gpu="0"}'] == 0.0
    assert after["fakeai_kv_cache_usage_ratio"] == 0.0
    assert after['fakeai_gpu_memory_used_bytes{gpu="0"}'] == idle['fakeai_gpu_memory_used_bytes{gpu="0"}']
    assert after["fakeai_gpu_generation_tokens_per_second"] > 0
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        data = (await http.get("/_fakeai/simulators")).json()["data"]
    assert [d["name"] for d in data] == ["latency", "kv_cache", "gpu", "faults"]
    assert data[2]["state"]["requests_answered"] == 9


def test_tokens_per_second_is_a_window_on_the_injected_clock() -> None:
    clock = FakeClock()
    gpu = GPUSimulator(clock, window_seconds=10.0)
    ctx: Any = SimpleNamespace(request_id="req_1")
    gpu.admit(ctx)
    assert gpu.utilization() > 0
    gpu.finish(ctx, Output(completion_tokens=50))
    assert gpu.utilization() == 0.0 and gpu.throughput() == 5.0
    clock.elapsed += 10.5
    assert gpu.throughput() == 0.0


async def test_prefer_seed_requests_release_their_blocks() -> None:
    """``Prefer: seed=N`` reseeds the request at parse time; its held blocks are released when it is answered."""
    app = app_with()
    kv = next(s for s in app.simulators if isinstance(s, KVCacheSimulator))
    client = async_client(app, headers={"prefer": "seed=7"})
    await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "system", "content": LONG}, {"role": "user", "content": "hi"}]
    )
    assert kv.held == {}
