"""``engine``: a continuous-batching inference engine (vLLM-like) whose latency depends on the load.

Model (one engine per model name served, its profile chosen by model glob from ``spec/engines.yaml``):

* The engine runs in *steps*. One step of ``running`` sequences carrying ``tokens`` tokens (one per decoding
  sequence, a chunk per prefilling one) takes ``step_ms = base_ms + per_seq_ms x running + per_token_ms x
  tokens``; at most ``max_num_seqs`` sequences run and a step carries at most ``max_num_batched_tokens``
  tokens (decodes first, the rest is chunked prefill, as in vLLM V1).
* A request waits (FCFS: never admitted before an earlier arrival) until a sequence slot, a bit of the token
  budget and KV blocks for its context (``ceil(tokens / block_size)`` of ``kv_blocks``) are free; then its
  uncached prompt (prompt - the ``kv_cache`` simulator's cached tokens) is prefilled in chunks of the free
  budget; the last prefill step emits the first token; every later token is one decode step. So
  ``TTFT = queue wait + sum of its prefill steps`` and ``ITL = step_ms`` of the batch it decodes in.
* Its context grows by one token per step; when the engine's blocks would run out the request is *preempted*
  (recompute, as vLLM V1): its blocks are freed, it waits again, then re-prefills prompt + generated tokens
  (the cached prefix stays cached) and goes on; the client sees a stall. Counted in ``preemptions``.

Approximations (the pipeline wants every deadline up front, when the request arrives)
    The schedule is planned once per request, in arrival order, against the requests already planned (their
    slots, batched tokens and blocks as piecewise functions of time). A plan is never revised: a later arrival
    does not slow requests planned before it. To make up for the arrivals it cannot know, the load a request
    arrives into is assumed to persist. Its steps count at least ``floor`` running sequences: as many as were in
    flight when it arrived, capped at ``max_num_seqs`` and at how many requests of its size the KV blocks hold
    at mid-decode. And as those finish, arrivals like them replace them, whose prefill lands in its decode
    steps: besides its own token, each of these carries at least ``floor`` decode tokens plus
    ``floor x prompt / output`` prefill tokens (uncached prompt and completion tokens, each summed over the
    requests in flight and itself; at most the step's token budget), a continuous-batching engine's steady
    state, so that throughput stays under the profile's compute bound (``benchmarks/bench_engine.py``). Where
    the timeline knows more (requests planned before it), the larger count wins. Its own prefill steps count the
    floor's decodes but not their prefill share (its own chunk is one such share). Right for a closed-loop load
    test at constant concurrency; it overestimates ITL for the tail of a burst followed by silence. Admission
    and KV blocks use only the requests planned before it, so the newest request is always the one preempted, as
    vLLM preempts the most recently scheduled one. Each prefill chunk occupies the budget of its own step, and
    takes what the budget leaves free for the whole step it lasts, looking ahead at the chunks planned before it
    (they begin and end at other times than its steps); a request holds its slot and blocks from its first chunk
    on. Other simplifications: a request's KV blocks grow linearly during decode; shared prefix blocks are
    counted once per request (an upper bound); arrivals do not wait for the step in progress; a request
    preempted ``MAX_PREEMPTIONS`` times runs on regardless; a preempted request's recompute is not in the
    prefill share of the requests planned before it. Only answers carrying completion tokens are modelled (other
    requests, and models without a profile, keep the incoming timing).

With ``latency`` in the chain too, ``engine`` must come after it and *replaces* latency's TTFT/ITL for the
requests it models (a ConfigError names the order otherwise). Options (``extra.engine``): ``profile`` (the
profile of every model no glob matches, ``""`` = none), ``models`` (model glob -> profile, first match wins),
``profiles_file`` (a YAML file of more profiles, same shape as ``spec/engines.yaml``), ``max_num_seqs``,
``max_num_batched_tokens``, ``kv_blocks`` (override every profile's; 0 = keep).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakeai import yamlload
from fakeai.bundled import data_path
from fakeai.context import Output, RequestContext, Timing
from fakeai.errors import ConfigError, closest
from fakeai.simulators.base import EngineLoad, SimulatorEnv
from fakeai.simulators.registry import simulator

if TYPE_CHECKING:
    from fakeai.clock import Clock

OPTIONS: dict[str, Any] = {
    "profile": "llama-3.1-8b@h100",
    "models": {},
    "profiles_file": "",
    "max_num_seqs": 0,
    "max_num_batched_tokens": 0,
    "kv_blocks": 0,
}
MAX_PREEMPTIONS = 4
MAX_ENGINES = 1_000  # model names come from clients


@dataclass(frozen=True, slots=True)
class Profile:
    """One model on one GPU setup: the step-time curve and the scheduler limits."""

    name: str
    base_ms: float
    per_seq_ms: float
    per_token_ms: float
    kv_blocks: int
    block_size: int = 16
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    where: str = ""  # file:line it was read from

    def step(self, running: int, tokens: float) -> float:
        """Seconds one engine step takes."""
        return (self.base_ms + self.per_seq_ms * running + self.per_token_ms * tokens) / 1000.0

    def to_dict(self) -> dict[str, Any]:
        keys = ("base_ms", "per_seq_ms", "per_token_ms", "kv_blocks", "block_size", "max_num_seqs")
        return {
            "name": self.name,
            **{k: getattr(self, k) for k in keys},
            "max_num_batched_tokens": self.max_num_batched_tokens,
        }


_REQUIRED = ("base_ms", "per_seq_ms", "per_token_ms", "kv_blocks")
_KEYS = (*_REQUIRED, "block_size", "max_num_seqs", "max_num_batched_tokens")
_INTS = frozenset({"kv_blocks", "block_size", "max_num_seqs", "max_num_batched_tokens"})


def bundled_profiles() -> Path:
    return data_path("spec") / "engines.yaml"


def load_profiles(path: str | Path) -> dict[str, Profile]:
    """``profiles: {name: {base_ms, ...}}`` -> profiles; every problem is a ConfigError naming file:line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read engine profiles: {exc.strerror}") from None
    loaded = yamlload.load(text, str(path), ConfigError, columns=False)
    data = loaded.data
    if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict) or set(data) != {"profiles"}:
        raise ConfigError(f"{path}:1: expected a mapping with one key `profiles:` (name -> step-time curve)")
    out: dict[str, Profile] = {}
    for name, entry in data["profiles"].items():
        line = loaded.line(("profiles", str(name)))
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}:{line}: profiles.{name}: expected a mapping of {', '.join(_KEYS)}")
        for key, value in entry.items():
            at = f"{path}:{loaded.line(('profiles', str(name), str(key)))}: profiles.{name}.{key}"
            if key not in _KEYS:
                raise ConfigError(f"{at}: unknown key{closest(str(key), _KEYS)}; allowed: {', '.join(_KEYS)}")
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{at}: expected a non-negative number; got {value!r}")
            if key in _INTS and (value != int(value) or value < 1):
                raise ConfigError(f"{at}: expected a positive integer; got {value!r}")
        missing = [key for key in _REQUIRED if key not in entry]
        if missing:
            raise ConfigError(f"{path}:{line}: profiles.{name}: missing {', '.join(missing)}")
        values: dict[str, Any] = {k: int(v) if k in _INTS else float(v) for k, v in entry.items()}
        out[str(name)] = Profile(name=str(name), where=f"{path}:{line}", **values)
    return out


# --- the scheduler ---------------------------------------------------------------------------------------

Event = tuple[float, int, float, float, float]  # (time, d running, d batched tokens, d block intercept, d slope)


@dataclass(frozen=True, slots=True)
class Run:
    """One stay of a request in the running batch (a preempted request has several)."""

    start: float  # scheduled: its first prefill chunk begins
    first: float  # prefill done, its first (or next) token out
    end: float  # last token out, or preempted
    chunks: tuple[tuple[float, float, int], ...]  # its prefill steps: (begin, end, tokens)
    start_blocks: int  # KV blocks of its context when admitted
    end_blocks: int  # ... when it leaves

    def events(self) -> list[Event]:
        slope = (self.end_blocks - self.start_blocks) / (self.end - self.first) if self.end > self.first else 0.0
        intercept = self.start_blocks - slope * self.first  # blocks(t) = intercept + slope x t while decoding
        batched: dict[float, float] = {}  # each prefill chunk occupies the budget of its own step only
        for begin, end, tokens in self.chunks:
            batched[begin] = batched.get(begin, 0.0) + tokens
            batched[end] = batched.get(end, 0.0) - tokens
        at_start, at_first = batched.pop(self.start, 0.0), batched.pop(self.first, 0.0)
        return [
            (self.start, 1, at_start, float(self.start_blocks), 0.0),
            *((at, 0, tokens, 0.0, 0.0) for at, tokens in batched.items() if tokens),
            (self.first, 0, 1.0 + at_first, intercept - self.start_blocks, slope),
            (self.end, -1, -1.0, -intercept, -slope),
        ]


@dataclass(slots=True)
class Plan:
    """A request's planned schedule (kept until it finishes)."""

    arrival: float
    namespace: str
    runs: list[Run]
    times: list[float]  # when each token is out
    events: list[Event] = field(default_factory=list)
    prefill: int = 0  # uncached prompt tokens (for the engine's expected prefill share)
    tokens: int = 0  # completion tokens

    @property
    def done(self) -> float:
        return self.times[-1] if self.times else self.arrival

    def preempted_by(self, now: float) -> int:
        return sum(1 for run in self.runs[:-1] if run.end <= now)


class Timeline:
    """The planned requests' load, walked forward in time (running slots, batched tokens, KV blocks)."""

    def __init__(self, events: list[Event]) -> None:
        self.events = sorted(events)
        self.index = 0
        self.running = 0
        self.batched = 0.0
        self.intercept = 0.0
        self.slope = 0.0

    def advance(self, to: float) -> None:
        events, i = self.events, self.index
        while i < len(events) and events[i][0] <= to:
            _, running, batched, intercept, slope = events[i]
            self.running += running
            self.batched += batched
            self.intercept += intercept
            self.slope += slope
            i += 1
        self.index = i

    def next_time(self) -> float | None:
        return self.events[self.index][0] if self.index < len(self.events) else None

    def peak_batched(self, until: float, cap: float) -> float:
        """The most batched tokens from now until ``until``, or the first count above ``cap`` (a prefill chunk
        must fit the budget for its whole step, not just where it begins)."""
        events, i, end, batched = self.events, self.index, len(self.events), self.batched
        peak = batched
        while peak <= cap and i < end and events[i][0] < until:
            batched += events[i][2]
            if batched > peak:
                peak = batched
            i += 1
        return peak

    def blocks(self, at: float) -> float:
        return max(self.intercept + self.slope * at, 0.0)


class Engine:
    """One model's scheduler: plans each request against the requests planned before it."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.plans: dict[str, Plan] = {}  # request id -> its schedule, until finished
        self.last_start = 0.0  # FCFS: the latest first admission planned
        self.preemptions = 0  # of finished requests (live ones are counted as their clock passes)
        self.requests = 0
        self.prefill_sum = 0  # uncached prompt tokens of the planned requests ...
        self.tokens_sum = 0  # ... and their completion tokens: the mix of the load in flight

    def timeline(self, now: float) -> Timeline:
        for request_id in [r for r, plan in self.plans.items() if plan.done <= now]:
            self.forget(request_id, now)
        timeline = Timeline([event for plan in self.plans.values() for event in plan.events])
        timeline.advance(now)
        return timeline

    def plan(self, request_id: str, now: float, prompt: int, cached: int, tokens: int, namespace: str = "") -> Plan:
        """Schedule a request of ``prompt`` tokens (``cached`` of them cached) generating ``tokens`` tokens."""
        p = self.profile
        line = self.timeline(now)
        fits = p.kv_blocks // max(_blocks(prompt + tokens // 2, p.block_size), 1)  # requests this size, mid-decode
        floor = min(len(self.plans), p.max_num_seqs, fits)  # the load it arrives into persists (see the docstring)
        cached = min(max(cached, 0), max(prompt - 1, 0))  # at least one token is computed for the first logit
        todo, generated, at = prompt - cached, 0, max(now, self.last_start)
        # ... and so do its arrivals: the floor's sequences are replaced as they finish, and the replacements'
        # prefill lands in its decode steps, floor x prompt / output tokens a step at the mix in flight
        share = floor * (self.prefill_sum + todo) / max(self.tokens_sum + tokens, 1)
        busy = min(floor + share, p.max_num_batched_tokens - 1.0)  # tokens of others in each of its decode steps
        runs: list[Run] = []
        times: list[float] = []
        while True:
            at = self.admission(line, at, _blocks(prompt + generated, p.block_size))
            start_blocks, remaining = _blocks(prompt + generated, p.block_size), todo
            chunks: list[tuple[float, float, int]] = []
            while remaining > 0:  # chunked prefill in what the step's token budget leaves
                line.advance(at)
                longest = at + p.step(max(line.running, floor) + 1, p.max_num_batched_tokens)
                room = int(p.max_num_batched_tokens - line.peak_batched(longest, p.max_num_batched_tokens - 1))
                if room < 1:
                    later = line.next_time()
                    at = (
                        later
                        if later is not None and later > at
                        else at + p.step(max(line.running, floor) + 1, line.batched)
                    )
                    continue
                chunk = min(remaining, room)
                begin, at = at, at + p.step(max(line.running, floor) + 1, max(line.batched, floor) + chunk)
                chunks.append((begin, at, chunk))
                remaining -= chunk
            start = chunks[0][0]  # scheduled with its first chunk (it waited for the budget until then)
            if not runs:
                self.last_start = start
            first = at
            generated += 1
            times.append(at)
            preempted = False
            while generated < tokens:  # one decode step per token
                line.advance(at)
                need = _blocks(prompt + generated + 1, p.block_size)
                if line.blocks(at) + need > p.kv_blocks and len(runs) < MAX_PREEMPTIONS:
                    preempted = True
                    break
                at += p.step(max(line.running, floor) + 1, max(line.batched, busy) + 1)
                generated += 1
                times.append(at)
            runs.append(Run(start, first, at, tuple(chunks), start_blocks, _blocks(prompt + generated, p.block_size)))
            if not preempted:
                break
            todo = prompt - cached + generated  # recompute: the cached prefix is still cached
        plan = Plan(
            now, namespace, runs, times, [event for run in runs for event in run.events()], prompt - cached, tokens
        )
        self.forget(request_id, now)  # a request id planned again replaces its plan
        self.plans[request_id] = plan
        self.prefill_sum += plan.prefill
        self.tokens_sum += plan.tokens
        self.requests += 1
        return plan

    def admission(self, line: Timeline, at: float, blocks: int) -> float:
        """The first time from ``at`` with a free sequence slot, token budget and ``blocks`` KV blocks."""
        p = self.profile
        while True:
            line.advance(at)
            if (
                line.running < p.max_num_seqs
                and line.batched < p.max_num_batched_tokens
                and line.blocks(at) + blocks <= p.kv_blocks
            ):
                return at
            later = line.next_time()
            if later is None:  # nothing left to wait for: a context bigger than the cache still runs
                return at
            at = max(later, at)

    def forget(self, request_id: str, now: float) -> None:
        """The request is over (or cut: its remaining work is dropped from the engine now)."""
        plan = self.plans.pop(request_id, None)
        if plan is not None:
            self.preemptions += plan.preempted_by(now)
            self.prefill_sum -= plan.prefill
            self.tokens_sum -= plan.tokens

    def load(self, model: str, now: float) -> EngineLoad:
        running = waiting = preemptions = 0
        for plan in self.plans.values():
            preemptions += plan.preempted_by(now)
            if plan.arrival <= now < plan.done:
                if any(run.start <= now < run.end for run in plan.runs):
                    running += 1
                else:
                    waiting += 1
        line = Timeline([event for plan in self.plans.values() for event in plan.events])
        line.advance(now)
        usage = min(line.blocks(now) / self.profile.kv_blocks, 1.0) if self.profile.kv_blocks else 0.0
        return EngineLoad(model, running, waiting, usage, self.preemptions + preemptions)


def _blocks(tokens: int, block_size: int) -> int:
    return -(-max(tokens, 0) // block_size)


# --- the simulator -------------------------------------------------------------------------------------


class EngineSimulator:
    name = "engine"

    def __init__(
        self,
        clock: Clock,
        profiles: Mapping[str, Profile],
        profile: str = "llama-3.1-8b@h100",
        models: Mapping[str, str] | None = None,
        simulators: dict[str, Any] | None = None,
    ) -> None:
        self.clock = clock
        self.profiles = dict(profiles)
        for where, name in [("extra.engine.profile", profile)] + [
            (f"extra.engine.models[{glob!r}]", name) for glob, name in (models or {}).items()
        ]:
            if name and name not in self.profiles:
                raise ConfigError(f"{where}: unknown engine profile {name!r}{closest(name, self.profiles)}")
        self.default = self.profiles[profile] if profile else None
        self.models = {glob: self.profiles[name] for glob, name in (models or {}).items()}
        self.simulators = simulators if simulators is not None else {}  # finds "kv_cache" at request time
        self.engines: dict[str, Engine] = {}  # model -> its engine

    def engine(self, model: str | None) -> Engine | None:
        key = model or ""
        found = self.engines.get(key)
        if found is None:
            profile = next((p for glob, p in self.models.items() if fnmatch.fnmatchcase(key, glob)), self.default)
            if profile is None or len(self.engines) >= MAX_ENGINES:
                return None
            found = self.engines[key] = Engine(profile)
        return found

    def simulate(self, ctx: RequestContext, output: Output, timing: Timing) -> Timing:
        tokens = output.completion_tokens if output.frames is None else sum(f.tokens for f in output.frames)
        engine = self.engine(ctx.model) if tokens > 0 and output.status < 400 else None
        if engine is None:
            return timing
        prompt, cached = self.prompt(ctx, output)
        now = self.clock.monotonic()
        plan = engine.plan(ctx.request_id, now, prompt, cached, tokens, ctx.namespace)
        times = [at - now for at in plan.times]
        queued = max(plan.runs[0].start - now, 0.0)  # waiting until first admitted (the queue)
        if output.frames is None:
            return Timing(first=times[0], frames=(), done=times[-1], queued=queued)
        deadlines: list[float] = []
        seen = 0
        for frame in output.frames:
            seen += frame.tokens
            deadlines.append(times[min(max(seen, 1), len(times)) - 1])
        done = deadlines[-1] if deadlines else times[-1]
        return Timing(first=times[0], frames=tuple(deadlines), done=done, queued=queued)

    def prompt(self, ctx: RequestContext, output: Output) -> tuple[int, int]:
        """(prompt tokens, cached tokens): usage's count, else the ``kv_cache`` simulator's, else an estimate."""
        cache = self.simulators.get("kv_cache")
        admitted = cache.admitted(ctx) if cache is not None and hasattr(cache, "admitted") else None
        prompt = _usage_prompt(output)
        if prompt is None:
            prompt = int(admitted[0]) if admitted is not None else _estimate_prompt(ctx.body)
        cached = int(admitted[1]) if admitted is not None else 0
        return max(prompt, 1), min(cached, prompt)

    def finish(self, ctx: RequestContext, output: Output | None) -> None:
        for engine in self.engines.values():
            if ctx.request_id in engine.plans:
                engine.forget(ctx.request_id, self.clock.monotonic())
                return

    def load(self) -> Iterator[EngineLoad]:
        now = self.clock.monotonic()
        for model, engine in self.engines.items():
            yield engine.load(model, now)

    def state(self) -> dict[str, Any]:
        now = self.clock.monotonic()
        return {
            "profile": self.default.name if self.default else None,
            "models": {glob: profile.name for glob, profile in self.models.items()},
            "engines": {
                model: {
                    "profile": engine.profile.to_dict(),
                    "requests": engine.requests,
                    **{k: v for k, v in _load_dict(engine.load(model, now)).items() if k != "model"},
                }
                for model, engine in self.engines.items()
            },
        }

    def reset(self, namespace: str | None) -> None:
        """Everything (``None``): engines start idle, counters at 0; a namespace: its requests leave the engines."""
        if namespace is None:
            self.engines.clear()
            return
        now = self.clock.monotonic()
        for engine in self.engines.values():
            for request_id in [r for r, plan in engine.plans.items() if plan.namespace == namespace]:
                engine.forget(request_id, now)


def _load_dict(load: EngineLoad) -> dict[str, Any]:
    return {
        "model": load.model,
        "running": load.running,
        "waiting": load.waiting,
        "kv_usage": load.kv_usage,
        "preemptions": load.preemptions,
    }


def _usage_prompt(output: Output) -> int | None:
    bodies: Sequence[Any] = [output.body] if output.frames is None else [f.data for f in output.frames[-3:]]
    for body in bodies:
        usage = body.get("usage") if isinstance(body, dict) else None
        if isinstance(usage, dict):
            count = usage.get("prompt_tokens", usage.get("input_tokens"))
            if isinstance(count, int) and not isinstance(count, bool):
                return count
    return None


def _estimate_prompt(body: Any) -> int:
    """About 4 characters per token over the request's strings (token-id prompts: their length)."""
    if isinstance(body, dict) and isinstance(body.get("prompt"), list) and all(type(t) is int for t in body["prompt"]):
        return len(body["prompt"])
    chars = 0
    stack = (
        [body.get(k) for k in ("messages", "prompt", "input", "instructions", "system", "tools")]
        if isinstance(body, dict)
        else []
    )
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            chars += len(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return chars // 4 + 1


@simulator("engine")
def engine(env: SimulatorEnv) -> EngineSimulator:
    options = env.options("engine", OPTIONS)
    names = list(env.settings.simulators)
    if "latency" in names and "engine" in names and names.index("latency") > names.index("engine"):
        raise ConfigError("simulators: put 'engine' after 'latency' (engine replaces latency's TTFT/ITL)")
    models, profile, extra_file = options["models"], options["profile"], options["profiles_file"]
    if not isinstance(models, Mapping) or not all(isinstance(v, str) for v in models.values()):
        raise ConfigError(f"extra.engine.models: expected a mapping of model glob -> profile name; got {models!r}")
    if not isinstance(profile, str) or not isinstance(extra_file, str):
        raise ConfigError("extra.engine.profile and extra.engine.profiles_file: expected strings")
    profiles = load_profiles(bundled_profiles())
    if extra_file:
        profiles.update(load_profiles(extra_file))
    overrides: dict[str, Any] = {
        k: int(options[k]) for k in ("max_num_seqs", "max_num_batched_tokens", "kv_blocks") if options[k]
    }
    if overrides:
        profiles = {name: replace(p, **overrides) for name, p in profiles.items()}
    return EngineSimulator(env.clock, profiles, profile, {str(k): v for k, v in models.items()}, env.simulators)
