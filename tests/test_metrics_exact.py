"""GET /metrics: vLLM's and dcgm-exporter's series, exactly as they name, type, label and bucket them.

The bucket lists are copied from vllm/v1/metrics/loggers.py (PrometheusStatLogger), not from fakeai.metrics.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fakeai.app import FakeAI, create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings
from fakeai.testing import async_client

VLLM_TTFT = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0]
VLLM_TTFT += [40.0, 80.0, 160.0, 640.0, 2560.0]
VLLM_ITL = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0]
VLLM_REQUEST = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0]
VLLM_REQUEST += [480.0, 960.0, 1920.0, 7680.0]
VLLM_TOKENS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000]  # max_model_len 128k
DCGM_LABELS = {"gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION"}
DASHBOARD = Path(__file__).parent.parent / "deploy" / "grafana" / "fakeai-dashboard.json"
MESSAGES = [{"role": "user", "content": "Tell me about prometheus metrics."}]


def timed_app(**changes: Any) -> FakeAI:
    settings = Settings(validate_responses="strict", ttft="200", itl="10", output_length="20:0:20:20")
    return create_app(settings.merge(changes, "test"), clock=FakeClock())


async def scrape(app: FakeAI, path: str = "/metrics", **headers: str) -> httpx2.Response:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        return await http.get(path, headers=headers)


async def families(app: FakeAI) -> dict[str, Any]:
    response = await scrape(app)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def value(family: Any, sample: str, **labels: str) -> float:
    found = [s.value for s in family.samples if s.name == sample and labels.items() <= s.labels.items()]
    assert len(found) == 1, (sample, labels, family.samples)
    return float(found[0])


def bounds(family: Any) -> list[float]:
    seen = dict.fromkeys(float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket"))
    return [b for b in seen if b != float("inf")]


async def chat(app: FakeAI, *, model: str = "gpt-4o", stream: bool = False, usage: bool = False) -> tuple[int, int]:
    """(prompt tokens, completion tokens) the client was told."""
    client = async_client(app)
    if not stream:
        reply = await client.chat.completions.create(model=model, messages=MESSAGES)
        return reply.usage.prompt_tokens, reply.usage.completion_tokens
    options = {"stream_options": {"include_usage": True}} if usage else {}
    chunks = [
        c async for c in await client.chat.completions.create(model=model, messages=MESSAGES, stream=True, **options)
    ]
    final = [c.usage for c in chunks if c.usage is not None]
    return (final[0].prompt_tokens, final[0].completion_tokens) if final else (-1, 20)


async def test_metrics_at_the_root_answers_prometheus_text_like_vllm() -> None:
    app = timed_app()
    await chat(app)
    found = await families(app)
    for name, kind in (
        ("vllm:num_requests_running", "gauge"),
        ("vllm:num_requests_waiting", "gauge"),
        ("vllm:kv_cache_usage_perc", "gauge"),
        ("vllm:gpu_cache_usage_perc", "gauge"),
        ("vllm:prompt_tokens", "counter"),
        ("vllm:generation_tokens", "counter"),
        ("vllm:request_success", "counter"),
        ("vllm:prefix_cache_queries", "counter"),
        ("vllm:prefix_cache_hits", "counter"),
        ("vllm:num_preemptions", "counter"),
        ("vllm:time_to_first_token_seconds", "histogram"),
        ("vllm:inter_token_latency_seconds", "histogram"),
        ("vllm:time_per_output_token_seconds", "histogram"),
        ("vllm:e2e_request_latency_seconds", "histogram"),
        ("vllm:request_queue_time_seconds", "histogram"),
        ("vllm:request_prefill_time_seconds", "histogram"),
        ("vllm:request_decode_time_seconds", "histogram"),
        ("vllm:request_prompt_tokens", "histogram"),
        ("vllm:request_generation_tokens", "histogram"),
    ):
        assert found[name].type == kind, name
        assert {s.labels.get("model_name") for s in found[name].samples} == {"gpt-4o"}, name
        assert {s.labels.get("engine") for s in found[name].samples} == {"0"}, name
    assert (await scrape(app, "/_fakeai/metrics")).status_code == 200


async def test_vllm_histogram_buckets_are_vllms() -> None:
    app = timed_app()
    await chat(app)
    found = await families(app)
    assert bounds(found["vllm:time_to_first_token_seconds"]) == VLLM_TTFT
    assert bounds(found["vllm:inter_token_latency_seconds"]) == VLLM_ITL
    assert bounds(found["vllm:time_per_output_token_seconds"]) == VLLM_ITL
    for name in ("e2e_request_latency", "request_queue_time", "request_prefill_time", "request_decode_time"):
        assert bounds(found[f"vllm:{name}_seconds"]) == VLLM_REQUEST, name
    assert bounds(found["vllm:request_prompt_tokens"]) == VLLM_TOKENS
    assert bounds(found["vllm:request_generation_tokens"]) == VLLM_TOKENS


async def test_vllm_counters_and_histograms_add_up_to_what_clients_were_told() -> None:
    app = timed_app()
    plain = await chat(app)
    with_usage = await chat(app, stream=True, usage=True)
    without_usage = await chat(app, stream=True)
    prompt = plain[0] + with_usage[0] + plain[0]  # a stream without a usage chunk is counted like the others
    completion = plain[1] + with_usage[1] + without_usage[1]
    found = await families(app)
    get = {
        name: (lambda sample, f=found[name], **labels: value(f, sample, model_name="gpt-4o", **labels))
        for name in found
    }
    assert get["vllm:prompt_tokens"]("vllm:prompt_tokens_total") == prompt == with_usage[0] * 3
    assert get["vllm:generation_tokens"]("vllm:generation_tokens_total") == completion == 60
    assert get["vllm:request_prompt_tokens"]("vllm:request_prompt_tokens_sum") == prompt
    assert get["vllm:request_generation_tokens"]("vllm:request_generation_tokens_count") == 3
    assert get["vllm:prefix_cache_queries"]("vllm:prefix_cache_queries_total") == prompt
    assert get["vllm:request_success"]("vllm:request_success_total", finished_reason="stop") == 3
    assert get["vllm:request_success"]("vllm:request_success_total", finished_reason="length") == 0
    ttft = get["vllm:time_to_first_token_seconds"]
    assert ttft("vllm:time_to_first_token_seconds_count") == 3
    assert ttft("vllm:time_to_first_token_seconds_sum") == pytest.approx(0.6)
    assert ttft("vllm:time_to_first_token_seconds_bucket", le="0.25") == 3
    assert ttft("vllm:time_to_first_token_seconds_bucket", le="0.1") == 0
    itl = get["vllm:inter_token_latency_seconds"]
    assert itl("vllm:inter_token_latency_seconds_count") == completion - 3  # one gap between two tokens
    assert itl("vllm:inter_token_latency_seconds_sum") == pytest.approx(0.01 * (completion - 3))
    decode = get["vllm:request_decode_time_seconds"]("vllm:request_decode_time_seconds_sum")
    assert decode == pytest.approx(3 * 19 * 0.01)
    e2e = get["vllm:e2e_request_latency_seconds"]("vllm:e2e_request_latency_seconds_sum")
    assert e2e == pytest.approx(3 * (0.2 + 19 * 0.01))
    running = get["vllm:num_requests_running"]("vllm:num_requests_running")
    assert running == 0 and get["vllm:num_requests_waiting"]("vllm:num_requests_waiting") == 0


async def test_each_model_has_its_own_series_and_a_token_limit_finishes_by_length() -> None:
    app = timed_app()
    await chat(app, model="gpt-4o")
    await chat(app, model="gpt-4o-mini")
    await async_client(app).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=3)
    found = await families(app)
    success = found["vllm:request_success"]
    assert value(success, "vllm:request_success_total", model_name="gpt-4o", finished_reason="stop") == 1
    assert value(success, "vllm:request_success_total", model_name="gpt-4o-mini", finished_reason="stop") == 1
    assert value(success, "vllm:request_success_total", model_name="gpt-4o-mini", finished_reason="length") == 1
    assert {s.labels["finished_reason"] for s in success.samples} == {"stop", "length", "abort", "error", "repetition"}


async def test_dcgm_series_carry_dcgm_exporters_labels_per_gpu() -> None:
    app = timed_app(extra={"gpu": {"count": 2, "hostname": "node-1"}})
    await chat(app)
    found = await families(app)
    for name in (
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_FB_FREE",
        "DCGM_FI_DEV_POWER_USAGE",
        "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_MEMORY_TEMP",
        "DCGM_FI_DEV_SM_CLOCK",
        "DCGM_FI_DEV_MEM_CLOCK",
        "DCGM_FI_DEV_MEM_COPY_UTIL",
        "DCGM_FI_DEV_ENC_UTIL",
        "DCGM_FI_DEV_DEC_UTIL",
        "DCGM_FI_DEV_XID_ERRORS",
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    ):
        samples = [s for s in found[name].samples if s.name == name]
        assert [set(s.labels) for s in samples] == [DCGM_LABELS, DCGM_LABELS], name
        assert [s.labels["gpu"] for s in samples] == ["0", "1"] and {s.labels["Hostname"] for s in samples} == {
            "node-1"
        }
    uuids = {s.labels["UUID"] for s in found["DCGM_FI_DEV_GPU_UTIL"].samples}
    assert len(uuids) == 2 and all(re.fullmatch(r"GPU-[0-9a-f-]{36}", u) for u in uuids)
    again = await families(timed_app(extra={"gpu": {"count": 2, "hostname": "node-1"}}))
    assert {s.labels["UUID"] for s in again["DCGM_FI_DEV_GPU_UTIL"].samples} == uuids  # deterministic
    energy = value(found["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"], "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", gpu="0")
    assert energy > 0


async def test_metrics_need_no_key_unless_metrics_auth() -> None:
    app = timed_app(api_keys=("sk-test",))
    assert (await scrape(app)).status_code == 200
    assert (await scrape(app, "/_fakeai/metrics")).status_code == 200
    assert (await scrape(app, "/_fakeai/health")).status_code == 401  # the rest of the control plane still needs it
    locked = timed_app(api_keys=("sk-test",), metrics_auth=True)
    assert (await scrape(locked)).status_code == 401
    assert (await scrape(locked, authorization="Bearer sk-test")).status_code == 200


async def test_every_metric_the_dashboard_queries_is_exported() -> None:
    app = timed_app()
    await chat(app)
    await chat(app, stream=True)
    exported = {s.name for family in (await families(app)).values() for s in family.samples}
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]", target["expr"])
    }
    assert {"vllm:time_to_first_token_seconds_bucket", "DCGM_FI_DEV_GPU_TEMP"} <= queried
    assert queried - exported == set()


def _gap_frames(draw: Any) -> tuple[list[Any], list[float]]:
    from hypothesis import strategies as st

    from fakeai.context import Frame

    tokens = draw(st.lists(st.sampled_from([0, 1, 1, 1, 2]), min_size=0, max_size=60))
    if draw(st.booleans()):  # often the common case: one token a frame
        tokens = [1 if t else 0 for t in tokens]
    steps = draw(st.lists(st.floats(-0.01, 0.2, allow_nan=False), min_size=len(tokens), max_size=len(tokens)))
    at, deadlines = 0.0, []
    for step in steps:
        at += step
        deadlines.append(at)
    return [Frame({}, None, True, t) for t in tokens], deadlines


def test_the_bulk_itl_count_equals_one_observe_per_gap() -> None:
    """observe_gaps' sorted path (one token a frame) gives the counts and the sum of one observe per token gap."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from fakeai.context import Output, Timing
    from fakeai.metrics import ITL_BUCKETS, Buckets, observe_gaps, token_gaps

    bounds = ITL_BUCKETS

    @settings(max_examples=300, deadline=None)
    @given(st.data())
    def check(data: Any) -> None:
        frames, deadlines = _gap_frames(data.draw)
        output, timing = Output(frames=frames), Timing(first=0.0, frames=deadlines)
        completion = sum(f.tokens for f in frames)
        bulk, one = Buckets(bounds), Buckets(bounds)
        observe_gaps(bulk, output, timing, completion)
        for gap, times in token_gaps(output, timing, completion):
            one.observe(gap, times)
        assert bulk.counts == one.counts
        assert bulk.total == one.total

    check()
    for bound in ITL_BUCKETS:  # gaps exactly on a bucket's bound count in that bucket (Prometheus' le)
        frames, deadlines = _exact_gaps(bound)
        output, timing = Output(frames=frames), Timing(first=0.0, frames=deadlines)
        bulk, one = Buckets(ITL_BUCKETS), Buckets(ITL_BUCKETS)
        observe_gaps(bulk, output, timing, 20)
        for gap, times in token_gaps(output, timing, 20):
            one.observe(gap, times)
        index = ITL_BUCKETS.index(bound)
        assert bulk.counts == one.counts and bulk.counts[index] == 10 + (9 if index == 0 else 0)  # 0s: the first


def _exact_gaps(bound: float) -> tuple[list[Any], list[float]]:
    """20 one-token frames due at 0, bound, 0, bound, ...: 10 gaps of exactly ``bound``, 9 clamped to 0."""
    from fakeai.context import Frame

    return [Frame({}, None, True, 1) for _ in range(20)], [0.0 if i % 2 == 0 else bound for i in range(20)]
