"""``gpu``: simulated GPU state for load-testing dashboards (DCGM / vLLM-like gauges).

Model (one tensor-parallel group of ``count`` GPUs serving every model; each GPU shows the same load):

* running requests: admitted and not yet finished (the pipeline calls ``admit`` / ``finish``);
* utilization = 1 - exp(-running / ``saturation``): 0 when idle, 63% at ``saturation`` concurrent
  requests, ~100% well above it (a GPU is busy whenever a batch runs; bigger batches fill it up);
* memory used per GPU = (``weights_bytes`` + KV blocks held by requests in flight x block tokens x
  ``kv_bytes_per_token``) / ``count``, capped at ``memory_bytes`` (KV blocks from the ``kv_cache`` simulator);
* power = ``idle_watts`` + (``max_watts`` - ``idle_watts``) x utilization;
* tokens/s = completion tokens of the requests answered in the last ``window_seconds`` (injected clock)
  / ``window_seconds``.

Everything is computed at scrape time from that state and the clock; nothing runs in the background.
Options (``extra.gpu``): ``count`` (1), ``memory_bytes`` (80 GiB), ``weights_bytes`` (16 GB: an 8B model
in bf16), ``kv_bytes_per_token`` (131072: 32 layers x 8 KV heads x 128 dims x K,V x 2 bytes),
``saturation`` (8.0), ``idle_watts`` (70.0), ``max_watts`` (700.0), ``window_seconds`` (10.0).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from typing import Any

from fakeai.clock import Clock
from fakeai.context import Output, RequestContext, Timing
from fakeai.simulators.base import Sample, SimulatorEnv
from fakeai.simulators.registry import simulator

OPTIONS: dict[str, Any] = {
    "count": 1,
    "memory_bytes": 80 * 1024**3,
    "weights_bytes": 16_000_000_000,
    "kv_bytes_per_token": 131_072,
    "saturation": 8.0,
    "idle_watts": 70.0,
    "max_watts": 700.0,
    "window_seconds": 10.0,
}
MIB = 1024 * 1024


class GPUSimulator:
    name = "gpu"

    def __init__(self, clock: Clock, simulators: dict[str, Any] | None = None, **options: Any) -> None:
        self.clock = clock
        self.simulators = simulators if simulators is not None else {}  # finds "kv_cache" at scrape time
        self.options = {**OPTIONS, **options}
        self.count = max(int(self.options["count"]), 1)
        self.window = max(float(self.options["window_seconds"]), 1e-3)
        self.running: dict[str, RequestContext] = {}  # request id -> request in flight
        self.answered: deque[tuple[float, int]] = deque()  # (monotonic, completion tokens)
        self.generated_tokens = 0
        self.requests = 0

    def admit(self, ctx: RequestContext) -> None:
        self.running[ctx.request_id] = ctx

    def simulate(self, ctx: RequestContext, output: Output, timing: Timing) -> Timing:
        return timing  # timings are the latency simulator's

    def finish(self, ctx: RequestContext, output: Output | None) -> None:
        if self.running.pop(ctx.request_id, None) is None or output is None:
            return
        completion = output.completion_tokens or sum(f.tokens for f in output.frames or ())
        self.answered.append((self.clock.monotonic(), completion))
        self.generated_tokens += completion
        self.requests += 1

    def reset(self, namespace: str | None) -> None:
        """``POST /_fakeai/state/reset`` without a namespace zeroes the counters (GPUs are not per namespace)."""
        if namespace is None:
            self.answered.clear()
            self.generated_tokens = 0
            self.requests = 0

    # -- derived at read time -------------------------------------------------------------------
    def utilization(self) -> float:
        return 1.0 - math.exp(-len(self.running) / max(float(self.options["saturation"]), 1e-9))

    def throughput(self) -> float:
        """Completion tokens per second over the window."""
        horizon = self.clock.monotonic() - self.window
        while self.answered and self.answered[0][0] < horizon:
            self.answered.popleft()
        return sum(entry[1] for entry in self.answered) / self.window

    def memory_used(self) -> float:
        """Per GPU, in bytes."""
        cache = self.simulators.get("kv_cache")
        kv = 0.0
        if cache is not None and hasattr(cache, "blocks_in_use"):
            kv = cache.blocks_in_use * cache.block_tokens * float(self.options["kv_bytes_per_token"])
        total = (float(self.options["weights_bytes"]) + kv) / self.count
        return min(total, float(self.options["memory_bytes"]))

    def state(self) -> dict[str, Any]:
        util = self.utilization()
        generation = self.throughput()
        idle, peak = float(self.options["idle_watts"]), float(self.options["max_watts"])
        memory = self.memory_used()
        return {
            "requests_running": len(self.running),
            "generation_tokens_per_second": generation,
            "generated_tokens": self.generated_tokens,
            "requests_answered": self.requests,
            "gpus": [
                {
                    "gpu": index,
                    "utilization_ratio": util,
                    "memory_used_bytes": memory,
                    "memory_total_bytes": float(self.options["memory_bytes"]),
                    "power_watts": idle + (peak - idle) * util,
                }
                for index in range(self.count)
            ],
        }

    def samples(self) -> Iterator[Sample]:
        state = self.state()
        yield Sample(
            "fakeai_gpu_requests_running", "Requests in flight on the simulated GPUs", state["requests_running"]
        )
        yield Sample("vllm:num_requests_running", "Requests running (vLLM name)", state["requests_running"])
        yield Sample(
            "fakeai_gpu_generation_tokens_per_second",
            "Completion tokens/s over the window",
            state["generation_tokens_per_second"],
        )
        yield Sample(
            "fakeai_gpu_generation_tokens", "Completion tokens generated", self.generated_tokens, kind="counter"
        )
        for gpu in state["gpus"]:
            label = {"gpu": str(gpu["gpu"])}
            util, used, total, power = (
                gpu["utilization_ratio"],
                gpu["memory_used_bytes"],
                gpu["memory_total_bytes"],
                gpu["power_watts"],
            )
            yield Sample("fakeai_gpu_utilization_ratio", "Simulated GPU utilization, 0-1", util, label)
            yield Sample("fakeai_gpu_memory_used_bytes", "Weights + KV cache blocks in use", used, label)
            yield Sample("fakeai_gpu_memory_total_bytes", "GPU memory", total, label)
            yield Sample("fakeai_gpu_power_watts", "Simulated board power", power, label)
            yield Sample("DCGM_FI_DEV_GPU_UTIL", "GPU utilization in percent (DCGM name)", round(util * 100), label)
            yield Sample("DCGM_FI_DEV_FB_USED", "Framebuffer memory used in MiB (DCGM name)", used // MIB, label)
            yield Sample(
                "DCGM_FI_DEV_FB_FREE", "Framebuffer memory free in MiB (DCGM name)", (total - used) // MIB, label
            )
            yield Sample("DCGM_FI_DEV_POWER_USAGE", "Power draw in watts (DCGM name)", power, label)


@simulator("gpu")
def gpu(env: SimulatorEnv) -> GPUSimulator:
    return GPUSimulator(env.clock, env.simulators, **env.options("gpu", OPTIONS))
