"""Prometheus metrics, one registry per app, fed by events (the pipeline never imports this).

Three families, served as text by ``GET /metrics`` (Prometheus' default path) and ``GET /_fakeai/metrics``:

* ``fakeai_*``: what fakeai answered (by operation, status, source, rule), label children cached per tuple;
* ``vllm:*`` (:class:`VLLMSeries`): the series vLLM's ``PrometheusStatLogger`` (vllm/v1/metrics/loggers.py)
  exports, same names, types, help, labels (``model_name``, ``engine``) and bucket boundaries, so vLLM
  dashboards and load generators (AIPerf, genai-perf, llm-d) read fakeai like a vLLM server;
* the simulators' samples (GPU as dcgm-exporter names them, KV cache), read at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import compress
from operator import sub
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.utils import floatToGoString

from fakeai.context import Output, RequestContext, Timing
from fakeai.events import Events, RequestAnswered, RequestReceived, RequestRejected, ResponseInvalid, nothing_to_flush
from fakeai.journal import fault_name, split_source
from fakeai.simulators.base import ReportsLoad, samples_of

# The classic text format every Prometheus (2.x and 3.x) and every scraper accepts; the body is the same.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf"))
# dcgm-exporter writes its counters without the ``_total`` suffix (DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION), which
# prometheus_client cannot write as a counter: these keep their exact name, typed ``untyped`` (rate() works).
EXACT_COUNTER_PREFIXES = ("DCGM_",)


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
        self.vllm = VLLMSeries()
        self.flush: Callable[[], None] = nothing_to_flush  # subscribe(): the bus' queued events, dispatched

    def subscribe(self, events: Events) -> Metrics:
        events.subscribe(RequestReceived, self.vllm.on_received)
        events.subscribe(RequestAnswered, self.on_answered)
        events.subscribe(RequestAnswered, self.vllm.on_answered)
        events.subscribe(RequestRejected, self.on_rejected)
        events.subscribe(RequestRejected, self.vllm.on_rejected)
        events.subscribe(ResponseInvalid, self.on_invalid)
        self.flush = events.flush
        return self

    def watch(self, simulators: Sequence[Any]) -> Metrics:
        """Expose the vLLM series and the simulators' samples (GPU, KV cache), read at scrape time."""
        self.vllm.simulators = list(simulators)
        self.registry.register(self.vllm)
        self.registry.register(GcCollector())
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
            self._child(self.ttft, operation).observe(measured(event).first)
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
        self.flush()
        metrics = (self.requests, self.rejected, self.latency, self.ttft, self.tokens, self.rules, self.faults)
        for metric in (*metrics, self.invalid):
            metric.clear()
        self._children.clear()
        self.vllm.reset()

    def render(self) -> bytes:
        self.flush()
        return generate_latest(self.registry)


# ---- vLLM --------------------------------------------------------------------------------------------------


def build_1_2_5_buckets(max_value: int) -> tuple[float, ...]:
    """vLLM's token-count buckets: 1, 2, 5, 10, 20, 50, ... up to ``max_value``."""
    out: list[float] = []
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > max_value:
                return tuple(out)
            out.append(float(value))
        exponent += 1


MAX_MODEL_LEN = 131_072  # the token-count buckets of a 128k-context model (vLLM derives them from max_model_len)
# fmt: off
TTFT_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
    160.0, 640.0, 2560.0,
)
ITL_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
)
REQUEST_LATENCY_BUCKETS: tuple[float, ...] = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0,
    1920.0, 7680.0,
)
# fmt: on
TOKEN_BUCKETS = build_1_2_5_buckets(MAX_MODEL_LEN)
FINISHED_REASONS = ("stop", "length", "abort", "error", "repetition")  # vllm.v1.engine.FINISH_REASON_STRINGS
LENGTH_REASONS = frozenset({"length", "max_tokens", "max_output_tokens", "model_context_window_exceeded"})
ENGINE = "0"  # one engine core (vLLM labels every series with its index)

HISTOGRAMS: dict[str, tuple[str, tuple[float, ...]]] = {  # name -> (vLLM's help text, buckets)
    "vllm:time_to_first_token_seconds": ("Histogram of time to first token in seconds.", TTFT_BUCKETS),
    "vllm:inter_token_latency_seconds": ("Histogram of inter-token latency in seconds.", ITL_BUCKETS),
    "vllm:time_per_output_token_seconds": (
        "Histogram of time per output token in seconds.DEPRECATED: Use vllm:inter_token_latency_seconds instead.",
        ITL_BUCKETS,
    ),
    "vllm:request_time_per_output_token_seconds": (
        "Histogram of time_per_output_token_seconds per request.",
        ITL_BUCKETS,
    ),
    "vllm:e2e_request_latency_seconds": ("Histogram of e2e request latency in seconds.", REQUEST_LATENCY_BUCKETS),
    "vllm:request_queue_time_seconds": (
        "Histogram of time spent in WAITING phase for request.",
        REQUEST_LATENCY_BUCKETS,
    ),
    "vllm:request_inference_time_seconds": (
        "Histogram of time spent in RUNNING phase for request.",
        REQUEST_LATENCY_BUCKETS,
    ),
    "vllm:request_prefill_time_seconds": (
        "Histogram of time spent in PREFILL phase for request.",
        REQUEST_LATENCY_BUCKETS,
    ),
    "vllm:request_decode_time_seconds": (
        "Histogram of time spent in DECODE phase for request.",
        REQUEST_LATENCY_BUCKETS,
    ),
    "vllm:request_prompt_tokens": ("Number of prefill tokens processed.", TOKEN_BUCKETS),
    "vllm:request_generation_tokens": ("Number of generation tokens processed.", TOKEN_BUCKETS),
}
COUNTERS = {  # name without _total -> vLLM's help text
    "vllm:prompt_tokens": "Number of prefill tokens processed.",
    "vllm:generation_tokens": "Number of generation tokens processed.",
    "vllm:prefix_cache_queries": "Prefix cache queries, in terms of number of queried tokens.",
    "vllm:prefix_cache_hits": "Prefix cache hits, in terms of number of cached tokens.",
    "vllm:num_preemptions": "Cumulative number of preemption from the engine.",
}
GAUGES = {
    "vllm:num_requests_running": "Number of requests in model execution batches.",
    "vllm:num_requests_waiting": "Number of requests waiting to be processed.",
    "vllm:kv_cache_usage_perc": "KV-cache usage. 1 means 100 percent usage.",
    "vllm:gpu_cache_usage_perc": (
        "GPU KV-cache usage. 1 means 100 percent usage.DEPRECATED: Use vllm:kv_cache_usage_perc instead."
    ),
}


class Buckets:
    """One histogram child; ``observe(value, times)`` records a value several times at the cost of one."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        self.counts[bisect_left(self.bounds, value)] += times
        self.total += value * times

    def observe_all(self, values: list[float]) -> None:
        """Each of ``values`` once (sorts them): one bisect per bound instead of one per value, the same counts
        and sum as ``observe`` for each in order (Prometheus' ``le``: a value on a bound counts in its bucket)."""
        self.total += sum(values)  # in the given order, as one observe each adds them
        values.sort()
        counts, below = self.counts, 0
        for i, bound in enumerate(self.bounds):  # counts[i]: the values in (bounds[i-1], bounds[i]]
            upto = bisect_right(values, bound)
            counts[i] += upto - below
            below = upto
        counts[-1] += len(values) - below

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append((floatToGoString(bound), running))  # type: ignore[no-untyped-call]
        return out


HISTOGRAM_INDEX = {  # name -> index in ModelSeries.buckets; TPOT is ITL under its deprecated name
    **{name: i for i, name in enumerate(n for n in HISTOGRAMS if n != "vllm:time_per_output_token_seconds")},
    "vllm:time_per_output_token_seconds": 1,
}
COUNTER_INDEX = {name: i for i, name in enumerate(COUNTERS) if name != "vllm:num_preemptions"}


class ModelSeries:
    """One model's vLLM histograms (in :data:`HISTOGRAM_INDEX` order) and counter totals."""

    __slots__ = ("buckets", "success", "totals")

    def __init__(self) -> None:
        names = [n for n in HISTOGRAMS if n != "vllm:time_per_output_token_seconds"]
        self.buckets = tuple(Buckets(HISTOGRAMS[name][1]) for name in names)
        self.totals = [0, 0, 0, 0]  # prompt tokens, generation tokens, prefix-cache queries, prefix-cache hits
        self.success: dict[str, int] = {}  # finished_reason -> requests


class VLLMSeries:
    """vLLM's Prometheus series per served model, from the events and the simulators.

    Per answered generative request (an operation whose binding declares a prompt, answered 2xx), on the
    :func:`measured` timing (a stream's real send times, as vLLM measures; else the planned one): TTFT =
    ``first``; decode = the last token - TTFT; each gap between two output tokens is one ITL observation
    (tokens in one frame share its gap); queue time = ``Timing.queued`` (the engine simulator's waiting queue,
    else 0) and prefill = TTFT - queue time; running (inference) = prefill + decode;
    prompt and cached tokens from the answer's ``usage`` (else counted like the producer counts them);
    ``finished_reason`` from the answer (a stream without one was cut: ``abort``). The gauges come from a
    :class:`~fakeai.simulators.base.ReportsLoad` simulator if one runs, else running = requests in flight,
    waiting = 0, KV usage = the ``kv_cache`` simulator's.
    """

    def __init__(self) -> None:
        self.simulators: list[Any] = []
        self.models: dict[str, None] = {}  # every model seen, in order (vLLM exports its series from startup)
        self.in_flight: dict[str, str] = {}  # request id -> model
        self.running: dict[str, int] = {}
        self.series: dict[str, ModelSeries] = {}  # model -> its histograms and counters
        self.generative: dict[tuple[str, tuple[str, ...]], bool] = {}

    # -- events ---------------------------------------------------------------------------------------
    def on_received(self, event: RequestReceived) -> None:
        model = self.model_of(event.ctx)
        if model is not None:
            self.in_flight[event.ctx.request_id] = model
            self.running[model] = self.running.get(model, 0) + 1

    def on_rejected(self, event: RequestRejected) -> None:
        if event.ctx is not None:
            self.done(event.ctx.request_id)

    def on_answered(self, event: RequestAnswered) -> None:
        model = self.done(event.ctx.request_id)
        if model is None or event.output.status >= 400:
            return
        output, timing = event.output, measured(event)
        completion = output.completion_tokens or sum(frame.tokens for frame in output.frames or ())
        prompt, cached = self.prompt_usage(event.ctx, output)
        first = max(timing.first, 0.0)
        decode = max(_last_token(output, timing) - first, 0.0)
        series = self.series.get(model) or self.series_of(model)
        ttft, itl, tpot, e2e, queue, inference, prefill, decoding, prompts, generations = series.buckets
        ttft.observe(first)
        observe_gaps(itl, output, timing, completion)  # also vllm:time_per_output_token_seconds (exported twice)
        tpot.observe(decode / (completion - 1) if completion > 1 else 0)
        e2e.observe(event.elapsed)
        queued = min(max(timing.queued, 0.0), first)  # the engine simulator's queue wait, else 0
        queue.observe(queued)
        prefill.observe(first - queued)
        decoding.observe(decode)
        inference.observe(first - queued + decode)
        prompts.observe(prompt)
        generations.observe(completion)
        totals = series.totals
        totals[0] += prompt
        totals[1] += completion
        totals[2] += prompt
        totals[3] += cached
        reason = finished_reason(output)
        series.success[reason] = series.success.get(reason, 0) + 1

    def done(self, request_id: str) -> str | None:
        model = self.in_flight.pop(request_id, None)
        if model is not None:
            self.running[model] -= 1
        return model

    def series_of(self, model: str) -> ModelSeries:
        found = self.series.get(model)
        if found is None:
            found = self.series[model] = ModelSeries()
        return found

    def model_of(self, ctx: RequestContext) -> str | None:
        """The model of a generative request (its operation's binding names a prompt), else None."""
        body = ctx.body
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str):
            return None
        files = tuple(getattr(ctx.settings, "bindings", ()) or ())
        key = (ctx.operation_id, files)
        generative = self.generative.get(key)
        if generative is None:
            from fakeai.producers.bindings import prompt_fields

            generative = self.generative[key] = bool(prompt_fields(ctx.operation, files))
        if not generative:
            return None
        self.models.setdefault(model, None)
        return model

    def prompt_usage(self, ctx: RequestContext, output: Output) -> tuple[int, int]:
        """(prompt tokens, cached prompt tokens) as the answer's usage reports them (the producer's counts)."""
        if output.prompt_tokens is not None:
            return output.prompt_tokens, min(output.cached_tokens, output.prompt_tokens)
        found = answer_usage(output)
        if found is not None:
            return found
        prompt = count_prompt(ctx)  # a stream without a usage chunk: count like the producer did
        cache = next((s for s in self.simulators if getattr(s, "name", "") == "kv_cache"), None)
        cached = cache.cached_tokens(ctx, prompt) if cache is not None and hasattr(cache, "cached_tokens") else 0
        return prompt, int(cached)

    def reset(self) -> None:
        self.series.clear()
        self.models = {model: None for model in self.in_flight.values()}

    # -- scrape ---------------------------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        loads = {load.model: load for s in self.simulators if isinstance(s, ReportsLoad) for load in s.load()}
        models = [*self.models, *(m for m in loads if m not in self.models)]
        cache = next((s for s in self.simulators if getattr(s, "name", "") == "kv_cache"), None)
        kv_usage = float(cache.usage_ratio()) if cache is not None and hasattr(cache, "usage_ratio") else 0.0
        labels = ["model_name", "engine"]
        gauges = {name: GaugeMetricFamily(name, text, labels=labels) for name, text in GAUGES.items()}
        for model in models:
            load = loads.get(model)
            values = (
                (load.running, load.waiting, load.kv_usage, load.kv_usage)
                if load is not None
                else (self.running.get(model, 0), 0, kv_usage, kv_usage)
            )
            for gauge, value in zip(gauges.values(), values, strict=True):
                gauge.add_metric([model, ENGINE], value)
        yield from gauges.values()
        for name, text in COUNTERS.items():
            counter = CounterMetricFamily(name, text, labels=labels)
            for model in models:
                series = self.series.get(model)
                if name == "vllm:num_preemptions":
                    total = float(loads[model].preemptions) if model in loads else 0.0
                else:
                    total = float(series.totals[COUNTER_INDEX[name]]) if series is not None else 0.0
                counter.add_metric([model, ENGINE], total)
            yield counter
        success = CounterMetricFamily(
            "vllm:request_success", "Count of successfully processed requests.", labels=[*labels, "finished_reason"]
        )
        for model in models:
            for reason in FINISHED_REASONS:
                series = self.series.get(model)
                success.add_metric([model, ENGINE, reason], series.success.get(reason, 0) if series else 0)
        yield success
        for name, (text, bounds) in HISTOGRAMS.items():
            histogram = HistogramMetricFamily(name, text, labels=labels)
            for model in models:
                series = self.series.get(model)
                found = series.buckets[HISTOGRAM_INDEX[name]] if series is not None else Buckets(bounds)
                histogram.add_metric([model, ENGINE], found.cumulative(), found.total)
            yield histogram


def measured(event: RequestAnswered) -> Timing:
    """When a stream's frames really went out (``RequestAnswered.sent_at``, as vLLM measures its latencies),
    else the planned timing (non-streamed answers; streams cut by a disconnect or a reset fault)."""
    global _MEASURED
    last = _MEASURED  # one read: another thread may replace it meanwhile
    if last[0] is event:  # Metrics and VLLMSeries both ask, one after the other
        return last[1]
    sent, frames, timing = event.sent_at, event.output.frames, event.timing
    if frames and sent and len(sent) == len(frames):
        timing = Timing(first=sent[0], frames=tuple(sent), done=sent[-1], queued=timing.queued)
    _MEASURED = (event, timing)
    return timing


_MEASURED: tuple[RequestAnswered | None, Timing] = (None, Timing())  # the last event measured() answered for


def observe_gaps(histogram: Buckets, output: Output, timing: Timing, completion: int) -> None:
    """Every gap of :func:`token_gaps` into ``histogram``: a stream of one token per frame (chat's deltas, the
    common case) in one ``observe_all``, others one observe per gap (tests/test_metrics_exact.py: the same)."""
    frames, deadlines = output.frames, timing.frames
    if frames and len(deadlines) == len(frames):
        tokens = [frame.tokens for frame in frames]
        if max(tokens) == 1:  # no frame carries more than one token: the gaps between the ones that carry one
            due = list(compress(deadlines, tokens))
            if len(due) > 8:
                gaps = list(map(sub, due[1:], due[:-1]))
                histogram.observe_all(gaps if min(gaps) >= 0.0 else [gap if gap > 0.0 else 0.0 for gap in gaps])
                return
    bounds, counts, total = histogram.bounds, histogram.counts, 0.0
    for gap, times in token_gaps(output, timing, completion):
        counts[bisect_left(bounds, gap)] += times
        total += gap * times
    histogram.total += total


def token_gaps(output: Output, timing: Timing, completion: int) -> Iterator[tuple[float, int]]:
    """(gap, how many tokens have it): the intervals between consecutive output tokens; ``completion - 1``
    in all. Streams: from the frames' deadlines (the tokens of one frame share its interval); otherwise the
    decode time spread evenly."""
    frames = output.frames
    if frames and len(timing.frames) == len(frames):
        previous: float | None = None
        for frame, deadline in zip(frames, timing.frames, strict=True):
            if frame.tokens <= 0:
                continue
            if previous is None:
                if frame.tokens > 1:
                    yield max(deadline - timing.first, 0.0) / (frame.tokens - 1), frame.tokens - 1
            else:
                yield max(deadline - previous, 0.0) / frame.tokens, frame.tokens
            previous = deadline
    elif completion > 1:
        yield max(_last_token(output, timing) - timing.first, 0.0) / (completion - 1), completion - 1


def _last_token(output: Output, timing: Timing) -> float:
    if output.frames is not None and timing.frames:
        return max(timing.frames)
    return max(timing.done, timing.first)


def _usage_objects(output: Output) -> Iterator[Mapping[str, Any]]:
    """``usage`` objects of the answer: the body's, or the stream's (chat/completions usage chunk, Responses'
    ``response.completed``, Anthropic's ``message_start`` / ``message_delta``)."""
    datas: Iterable[Any] = [output.body] if output.frames is None else (f.data for f in output.frames if f.summary)
    for data in datas:
        if not isinstance(data, Mapping):
            continue
        for holder in (data, data.get("response"), data.get("message")):
            usage = holder.get("usage") if isinstance(holder, Mapping) else None
            if isinstance(usage, Mapping):
                yield usage


def answer_usage(output: Output) -> tuple[int, int] | None:
    """(prompt tokens, cached tokens) from the answer's usage, None if it carries none."""
    prompt: int | None = None
    cached = 0
    for usage in _usage_objects(output):
        for key in ("prompt_tokens", "input_tokens"):
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                prompt = max(prompt or 0, value)
        for key in ("prompt_tokens_details", "input_tokens_details"):
            details = usage.get(key)
            if isinstance(details, Mapping) and isinstance(details.get("cached_tokens"), int):
                cached = max(cached, details["cached_tokens"])
        read = usage.get("cache_read_input_tokens")  # Anthropic: input_tokens excludes the cache
        if isinstance(read, int) and read:
            cached = max(cached, read)
            prompt = (prompt or 0) + read
    return None if prompt is None else (prompt, min(cached, prompt))


def count_prompt(ctx: RequestContext) -> int:
    """Prompt tokens of a chat / completions request, counted like the producers count ``usage``."""
    from fakeai.producers.text.tokenizer import count_chat_prompt, for_model

    body = ctx.body if isinstance(ctx.body, dict) else {}
    messages, prompt = body.get("messages"), body.get("prompt")
    tools = body.get("tools") if isinstance(body.get("tools"), list) else None
    if isinstance(messages, list):
        return count_chat_prompt([m for m in messages if isinstance(m, Mapping)], ctx.model, tools)
    if isinstance(prompt, str):
        return for_model(ctx.model).count(prompt)
    if isinstance(prompt, list):
        return sum(for_model(ctx.model).count(p) if isinstance(p, str) else 1 for p in prompt)
    return 0


def finished_reason(output: Output) -> str:
    """vLLM's ``finished_reason`` label for an answer: ``length`` when cut by a token limit, ``stop`` otherwise
    (tool calls and content filters included), ``abort`` for a stream that ended without a finish reason."""
    datas: Iterable[Any] = (
        [output.body] if output.frames is None else (f.data for f in reversed(output.frames) if f.summary)
    )
    for data in datas:
        reason = _reason_in(data)
        if reason is not None:
            return "length" if reason in LENGTH_REASONS else "stop"
    return "abort" if output.frames is not None else "stop"


def _reason_in(data: Any) -> str | None:
    if not isinstance(data, Mapping):
        return None
    for choice in data.get("choices") or ():
        if isinstance(choice, Mapping) and isinstance(choice.get("finish_reason"), str):
            return str(choice["finish_reason"])
    for holder in (data, data.get("delta"), data.get("response")):
        if not isinstance(holder, Mapping):
            continue
        if isinstance(holder.get("stop_reason"), str):  # Anthropic messages
            return str(holder["stop_reason"])
        if holder.get("object") == "response" and holder.get("status") in ("completed", "incomplete"):
            details = holder.get("incomplete_details")
            return str(details.get("reason")) if isinstance(details, Mapping) else "stop"
    return None


# ---- simulators -------------------------------------------------------------------------------------------


class SimulatorCollector:
    """Turns :class:`fakeai.simulators.base.Sample` values into metric families (one per name).

    ``vllm:*`` samples are skipped: :class:`VLLMSeries` exports those, per model as vLLM does."""

    def __init__(self, simulators: Sequence[Any]) -> None:
        self.simulators = simulators

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Any] = {}
        for sample in samples_of(self.simulators):
            if sample.name.startswith("vllm:"):
                continue
            family: Any = families.get(sample.name)
            if family is None:
                if sample.kind != "counter":
                    family = GaugeMetricFamily(sample.name, sample.help, labels=list(sample.labels))
                elif sample.name.startswith(EXACT_COUNTER_PREFIXES):
                    family = Metric(sample.name, sample.help, "unknown")
                else:
                    family = CounterMetricFamily(sample.name, sample.help, labels=list(sample.labels))
                families[sample.name] = family
            if isinstance(family, (GaugeMetricFamily, CounterMetricFamily)):
                family.add_metric(list(sample.labels.values()), sample.value)
            else:
                family.add_sample(sample.name, dict(sample.labels), sample.value)
        yield from families.values()


class GcCollector:
    """The collector's work since startup (fakeai.gctune): pauses stall every stream, so they are worth a graph."""

    def collect(self) -> Iterator[Metric]:
        from fakeai.gctune import STATS

        snap = STATS.snapshot()
        runs = CounterMetricFamily("fakeai_gc_collections", "Garbage collections by generation", labels=["generation"])
        pause = CounterMetricFamily("fakeai_gc_pause_seconds", "Time spent in collections", labels=["generation"])
        longest = GaugeMetricFamily("fakeai_gc_pause_max_seconds", "Longest collection", labels=["generation"])
        for generation in range(3):
            label = [str(generation)]
            runs.add_metric(label, snap["collections"][generation])
            pause.add_metric(label, snap["pause_seconds"][generation])
            longest.add_metric(label, snap["max_pause_seconds"][generation])
        yield from (runs, pause, longest)
        yield GaugeMetricFamily("fakeai_gc_frozen_objects", "Objects frozen after startup", value=snap["frozen"])


_STATUS = {code: str(code) for code in range(100, 600)}


def _status(code: int) -> str:
    return _STATUS.get(code) or str(code)
