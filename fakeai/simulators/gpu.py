"""``gpu``: simulated GPU state for load-testing dashboards (named and labelled like NVIDIA's dcgm-exporter).

Model (one tensor-parallel group of ``count`` GPUs serving every model; each GPU shows the same load):

* running requests: admitted and not yet finished (the pipeline calls ``admit`` / ``finish``);
* utilization = 1 - exp(-running / ``saturation``): 0 when idle, 63% at ``saturation`` concurrent
  requests, ~100% well above it (a GPU is busy whenever a batch runs; bigger batches fill it up);
* memory used per GPU = (``weights_bytes`` + KV blocks held by requests in flight x block tokens x
  ``kv_bytes_per_token``) / ``count``, capped at ``memory_bytes`` (KV blocks from the ``kv_cache`` simulator);
* power = ``idle_watts`` + (``max_watts`` - ``idle_watts``) x utilization; energy = power integrated over the
  injected clock since startup (updated when a request arrives or ends, and at scrape time);
* temperature = ``idle_celsius`` + (``max_celsius`` - ``idle_celsius``) x utilization (memory: 4 C warmer);
  SM clock = ``max_sm_mhz`` while a request runs, else ``idle_sm_mhz``; memory clock ``mem_mhz``; memory copy
  utilization = 60% of utilization (decoding streams weights and KV), tensor pipe 50%;
* tokens/s = completion tokens of the requests answered in the last ``window_seconds`` (injected clock)
  / ``window_seconds``.

Everything is computed at scrape time from that state and the clock; nothing runs in the background.
Options (``extra.gpu``): ``count`` (1), ``memory_bytes`` (80 GiB), ``weights_bytes`` (16 GB: an 8B model
in bf16), ``kv_bytes_per_token`` (131072: 32 layers x 8 KV heads x 128 dims x K,V x 2 bytes),
``saturation`` (8.0), ``idle_watts`` (70.0), ``max_watts`` (700.0), ``window_seconds`` (10.0), ``idle_celsius``
(32.0), ``max_celsius`` (76.0), ``idle_sm_mhz`` (345), ``max_sm_mhz`` (1980), ``mem_mhz`` (2619), and the
labels: ``model_name`` ("NVIDIA H100 80GB HBM3"), ``hostname`` ("": this machine's), ``driver_version``.

Every DCGM series carries dcgm-exporter's labels: ``gpu`` (index), ``UUID`` (derived from hostname + index, so
stable), ``pci_bus_id`` (an HGX H100 board's), ``device`` (``nvidia<i>``), ``modelName``, ``Hostname``,
``DCGM_FI_DRIVER_VERSION`` (a label field of its default-counters.csv). dcgm-exporter's main branch renamed
``Hostname`` to ``hostname`` (after 4.x); released versions and their dashboards use ``Hostname``.
"""

from __future__ import annotations

import hashlib
import math
import socket
import uuid
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
    "idle_celsius": 32.0,
    "max_celsius": 76.0,
    "idle_sm_mhz": 345,
    "max_sm_mhz": 1980,
    "mem_mhz": 2619,
    "model_name": "NVIDIA H100 80GB HBM3",
    "hostname": "",
    "driver_version": "550.90.07",
}
MIB = 1024 * 1024
HGX_BUS_IDS = (0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB)  # the PCI buses of an 8-GPU HGX H100 board


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
        self.energy_joules = 0.0  # per GPU, since startup
        self.energy_at = clock.monotonic()
        hostname = str(self.options["hostname"]) or socket.gethostname()
        self.labels = [self.device_labels(hostname, index) for index in range(self.count)]

    def device_labels(self, hostname: str, index: int) -> dict[str, str]:
        """dcgm-exporter's labels of GPU ``index``, in its order."""
        digest = hashlib.blake2b(f"{hostname}\0{index}".encode(), digest_size=16).digest()
        bus = HGX_BUS_IDS[index] if index < len(HGX_BUS_IDS) else 0x18 + index
        return {
            "gpu": str(index),
            "UUID": f"GPU-{uuid.UUID(bytes=digest)}",
            "pci_bus_id": f"00000000:{bus:02X}:00.0",
            "device": f"nvidia{index}",
            "modelName": str(self.options["model_name"]),
            "Hostname": hostname,
            "DCGM_FI_DRIVER_VERSION": str(self.options["driver_version"]),
        }

    def admit(self, ctx: RequestContext) -> None:
        self.integrate()
        self.running[ctx.request_id] = ctx

    def simulate(self, ctx: RequestContext, output: Output, timing: Timing) -> Timing:
        return timing  # timings are the latency simulator's

    def finish(self, ctx: RequestContext, output: Output | None) -> None:
        self.integrate()
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

    def power(self) -> float:
        idle, peak = float(self.options["idle_watts"]), float(self.options["max_watts"])
        return idle + (peak - idle) * self.utilization()

    def integrate(self) -> float:
        """Energy per GPU in joules until now (the power since the last change was constant)."""
        now = self.clock.monotonic()
        self.energy_joules += self.power() * max(now - self.energy_at, 0.0)
        self.energy_at = now
        return self.energy_joules

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
        low, high = float(self.options["idle_celsius"]), float(self.options["max_celsius"])
        energy = self.integrate()
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
                    "temperature_celsius": low + (high - low) * util,
                    "energy_joules": energy,
                    "sm_clock_mhz": int(self.options["max_sm_mhz" if self.running else "idle_sm_mhz"]),
                    "labels": self.labels[index],
                }
                for index in range(self.count)
            ],
        }

    def samples(self) -> Iterator[Sample]:
        """dcgm-exporter's series first, then fakeai's own (``fakeai_gpu_*``, labelled with ``gpu`` alone).

        The order matters to AIPerf: its DCGM collector takes a GPU's identity (``UUID``, ``modelName``, both
        required) from the first sample in the scrape that carries that ``gpu`` label, and drops the whole scrape
        when they are missing (docs/aiperf.md)."""
        state = self.state()
        for gpu in state["gpus"]:
            yield from self.dcgm_samples(gpu)
        yield Sample(
            "fakeai_gpu_requests_running", "Requests in flight on the simulated GPUs", state["requests_running"]
        )
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
            yield Sample(
                "fakeai_gpu_utilization_ratio", "Simulated GPU utilization, 0-1", gpu["utilization_ratio"], label
            )
            yield Sample(
                "fakeai_gpu_memory_used_bytes", "Weights + KV cache blocks in use", gpu["memory_used_bytes"], label
            )
            yield Sample("fakeai_gpu_memory_total_bytes", "GPU memory", gpu["memory_total_bytes"], label)
            yield Sample("fakeai_gpu_power_watts", "Simulated board power", gpu["power_watts"], label)

    def dcgm_samples(self, gpu: dict[str, Any]) -> Iterator[Sample]:
        """One GPU's series as dcgm-exporter's etc/default-counters.csv names, types, units and describes them."""
        dcgm = gpu["labels"]
        util, used, total = gpu["utilization_ratio"], gpu["memory_used_bytes"], gpu["memory_total_bytes"]
        temp = gpu["temperature_celsius"]
        for name, text, value in (
            ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", gpu["sm_clock_mhz"]),
            ("DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz).", float(self.options["mem_mhz"])),
            ("DCGM_FI_DEV_MEMORY_TEMP", "Memory temperature (in C).", round(temp) + 4),
            ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", round(temp)),
            ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", gpu["power_watts"]),
            ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", round(util * 100)),
            ("DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %).", round(util * 60)),
            ("DCGM_FI_DEV_ENC_UTIL", "Encoder utilization (in %).", 0),  # an LLM server never encodes video
            ("DCGM_FI_DEV_DEC_UTIL", "Decoder utilization (in %).", 0),
            ("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", 0),
            ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", (total - used) // MIB),
            ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", used // MIB),
            ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "Ratio of time the graphics engine is active.", util),
            ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "Ratio of cycles the tensor (HMMA) pipe is active.", util * 0.5),
            (
                "DCGM_FI_PROF_DRAM_ACTIVE",
                "Ratio of cycles the device memory interface is active sending or receiving data.",
                util * 0.6,
            ),
        ):
            yield Sample(name, text, value, dcgm)
        yield Sample(
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
            "Total energy consumption since boot (in mJ).",
            round(gpu["energy_joules"] * 1000),
            dcgm,
            kind="counter",
        )


@simulator("gpu")
def gpu(env: SimulatorEnv) -> GPUSimulator:
    return GPUSimulator(env.clock, env.simulators, **env.options("gpu", OPTIONS))
