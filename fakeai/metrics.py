"""Prometheus metrics, one registry per app, fed by events (the pipeline never imports this).

Label children are cached per label tuple, so recording a request is a few dict lookups and
``inc``/``observe`` calls. Served as text by ``GET /_fakeai/metrics``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from fakeai.events import Events, RequestAnswered, RequestRejected, ResponseInvalid
from fakeai.journal import fault_name, split_source
from fakeai.simulators.base import samples_of

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf"))


class Metrics:
    """Counters and histograms about what fakeai answered."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        reg = self.registry
        self.requests = Counter(
            "fakeai_requests",
            "Requests answered, by operation, status and source",
            ("operation", "status", "source"),
            registry=reg,
        )
        self.rejected = Counter(
            "fakeai_requests_rejected", "Requests rejected with an error before producing", ("status",), registry=reg
        )
        self.latency = Histogram(
            "fakeai_request_duration_seconds",
            "Arrival to last byte",
            ("operation",),
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.ttft = Histogram(
            "fakeai_time_to_first_token_seconds",
            "Arrival to first streamed frame",
            ("operation",),
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.tokens = Counter(
            "fakeai_tokens_streamed", "Completion tokens carried by streamed frames", ("operation",), registry=reg
        )
        self.rules = Counter("fakeai_scenario_rule_hits", "Requests answered by a rule", ("rule",), registry=reg)
        self.faults = Counter("fakeai_stream_faults", "Streams with an injected fault", ("fault",), registry=reg)
        self.invalid = Counter(
            "fakeai_responses_invalid", "Answers that violated the spec (self-check)", ("operation",), registry=reg
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def subscribe(self, events: Events) -> Metrics:
        events.subscribe(RequestAnswered, self.on_answered)
        events.subscribe(RequestRejected, self.on_rejected)
        events.subscribe(ResponseInvalid, self.on_invalid)
        return self

    def watch(self, simulators: Sequence[Any]) -> Metrics:
        """Expose the simulators' samples (GPU, KV cache), read from their state at scrape time."""
        if any(callable(getattr(s, "samples", None)) for s in simulators):
            self.registry.register(SimulatorCollector(simulators))
        return self

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def on_answered(self, event: RequestAnswered) -> None:
        output = event.output
        operation = event.ctx.operation.operation_id
        source, rule = split_source(output.source)
        self._child(self.requests, operation, _status(output.status), source).inc()
        self._child(self.latency, operation).observe(event.elapsed)
        if rule is not None:
            self._child(self.rules, rule).inc()
        frames = output.frames
        if frames is not None:
            self._child(self.ttft, operation).observe(event.timing.first)
            tokens = output.completion_tokens or sum(frame.tokens for frame in frames)
            if tokens:
                self._child(self.tokens, operation).inc(tokens)
            if output.fault is not None:
                self._child(self.faults, fault_name(output.fault) or "fault").inc()

    def on_rejected(self, event: RequestRejected) -> None:
        self._child(self.rejected, _status(event.status)).inc()

    def on_invalid(self, event: ResponseInvalid) -> None:
        self._child(self.invalid, event.operation_id).inc()

    def reset(self) -> None:
        """Forget every count (a test suite reusing one app between tests; Prometheus counters never go back)."""
        metrics = (self.requests, self.rejected, self.latency, self.ttft, self.tokens, self.rules, self.faults)
        for metric in (*metrics, self.invalid):
            metric.clear()
        self._children.clear()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class SimulatorCollector:
    """Turns :class:`fakeai.simulators.base.Sample` values into metric families (one per name)."""

    def __init__(self, simulators: Sequence[Any]) -> None:
        self.simulators = simulators

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Any] = {}
        for sample in samples_of(self.simulators):
            family = families.get(sample.name)
            if family is None:
                kind = CounterMetricFamily if sample.kind == "counter" else GaugeMetricFamily
                family = families[sample.name] = kind(sample.name, sample.help, labels=list(sample.labels))
            family.add_metric(list(sample.labels.values()), sample.value)
        yield from families.values()


_STATUS = {code: str(code) for code in range(100, 600)}


def _status(code: int) -> str:
    return _STATUS.get(code) or str(code)
