"""NVIDIA AIPerf 0.13 reads fakeai's server metrics and GPU telemetry: its scraping rules, restated here (no aiperf
import; docs/aiperf.md cites the AIPerf source each rule comes from) and applied to what fakeai serves.

* server metrics: ``<--url>/metrics``; reachable = ``HEAD`` answers 200, else ``GET`` does; a JSON content type is
  rejected; the body is parsed as classic Prometheus text and counter, gauge, histogram and untyped families kept;
* GPU telemetry (DCGM, ``http://localhost:9400/metrics`` and ``:9401`` by default): in document order, the first
  sample carrying a given ``gpu`` label defines that GPU (``UUID`` and ``modelName`` required, else the whole scrape
  is dropped); the values are taken from the ``DCGM_FI_*`` names it maps, a trailing ``_total`` ignored.
"""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fakeai.app import create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings
from fakeai.testing import free_port, serve

DCGM_FIELDS = {  # the DCGM names AIPerf maps to its GPU telemetry fields
    "DCGM_FI_DEV_POWER_USAGE": "power",
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": "energy",
    "DCGM_FI_DEV_GPU_UTIL": "gpu_utilization",
    "DCGM_FI_DEV_MEM_COPY_UTIL": "memory_utilization",
    "DCGM_FI_DEV_FB_USED": "memory_used",
    "DCGM_FI_DEV_GPU_TEMP": "temperature",
    "DCGM_FI_DEV_ENC_UTIL": "encoder_utilization",
    "DCGM_FI_DEV_DEC_UTIL": "decoder_utilization",
    "DCGM_FI_PROF_SM_ACTIVE": "sm_utilization",
    "DCGM_FI_DEV_XID_ERRORS": "xid_errors",
    "DCGM_FI_DEV_POWER_VIOLATION": "power_violation",
}
KEPT_TYPES = {"counter", "gauge", "histogram", "unknown"}


def gpu_telemetry(text: str) -> dict[int, dict[str, Any]]:
    """AIPerf's DCGM rule: {gpu index: {"uuid", "model", field: value}}; {} when it would drop the scrape."""
    identity: dict[int, tuple[Any, Any]] = {}
    values: dict[int, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            index = sample.labels.get("gpu", "")
            if not index.isdigit():
                continue
            found = identity.setdefault(int(index), (sample.labels.get("UUID"), sample.labels.get("modelName")))
            if not all(isinstance(part, str) for part in found):
                return {}  # AIPerf's GpuMetadata validation fails and the parse is abandoned
            field = DCGM_FIELDS.get(sample.name.removesuffix("_total"))
            if field is not None:
                values.setdefault(int(index), {})[field] = sample.value
    return {i: {"uuid": identity[i][0], "model": identity[i][1], **fields} for i, fields in values.items()}


def server_metric_types(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text) if f.type in KEPT_TYPES}


def test_the_rule_drops_a_scrape_whose_first_gpu_sample_lacks_the_identity() -> None:
    leading = 'fakeai_gpu_power_watts{gpu="0"} 70\nDCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-1",modelName="H"} 70\n'
    assert gpu_telemetry(leading) == {}
    assert gpu_telemetry("\n".join(reversed(leading.splitlines())))[0]["power"] == 70


async def test_aiperf_reads_every_gpu_and_the_vllm_series_from_metrics() -> None:
    app = create_app(Settings(extra={"gpu": {"count": 2}}), clock=FakeClock())
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.get("/metrics")
    assert response.status_code == 200 and not response.headers["content-type"].startswith("application/json")
    gpus = gpu_telemetry(response.text)
    assert sorted(gpus) == [0, 1] and gpus[0]["uuid"] != gpus[1]["uuid"]
    assert {"power", "energy", "gpu_utilization", "memory_used", "temperature"} <= gpus[0].keys()
    assert gpus[0]["model"] == "NVIDIA H100 80GB HBM3" and gpus[0]["memory_used"] > 0
    types = server_metric_types(response.text)
    assert types["vllm:time_to_first_token_seconds"] == "histogram" and types["vllm:num_requests_running"] == "gauge"
    assert types["vllm:generation_tokens"] == "counter"


@pytest.mark.parametrize("path", ["/metrics", "/health"])
def test_the_metrics_port_answers_aiperfs_head_probe(path: str) -> None:
    port = free_port()
    with serve(create_app(Settings(metrics_port=port))):
        head = httpx.head(f"http://127.0.0.1:{port}{path}", timeout=5)
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert head.status_code == 200 and head.content == b""
    assert path != "/metrics" or head.headers["content-type"].startswith("text/plain")
    assert sorted(gpu_telemetry(body)) == [0]
