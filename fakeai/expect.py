"""Expectations over the journal, and a verdict on how resilient the client was.

Expectations come from scenario files (``expect:``)::

    expect:
      - sends_tool_result: {call: call_weather, before_turn: 3}   # a call id or a tool name
      - includes: stream_options.include_usage                      # streamed requests only for stream_options.*
      - respects_retry_after: true
      - max_requests: 20
        scope: {operation: createChatCompletion}

``scope`` narrows the requests looked at: ``operation``, ``model``, ``rule``, ``namespace``,
``conversation``, ``stream``. A *thread* is a conversation (``x-fakeai-conversation`` header or
the Responses ``conversation``) or else one client (API key fingerprint + namespace: two keys whose masked
forms collide are still two clients). A *turn* is the number of user messages in a request (as the scenario
matcher counts it), a Responses chain's earlier turns included; a tool result's tool name is also found in the
earlier answer that made the call (:class:`Chains`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from fakeai.journal import Entry, request_fields
from fakeai.scenario import conversation as conv

META_KEYS = frozenset({"scenario", "file", "line", "source", "name", "scope"})
KINDS = ("sends_tool_result", "includes", "respects_retry_after", "max_requests", "min_requests")
FAILED_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
TRUNCATING_FAULTS = frozenset({"cut", "reset", "error_frame", "malformed", "empty"})
DEFAULT_MIN_BACKOFF = 0.25  # seconds; the openai SDK's first retry waits >= 0.375 s
SLACK = 0.001  # clock granularity tolerated when comparing against retry-after


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    kind: str
    passed: bool
    detail: str
    requests: tuple[int, ...] = ()  # journal seqs that show the failure
    scenario: str | None = None
    file: str | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "passed": self.passed,
            "detail": self.detail,
            "requests": list(self.requests),
            "scenario": self.scenario,
            "file": self.file,
            "line": self.line,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    count: int = 0
    requests: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "requests": list(self.requests[:50])}


@dataclass(frozen=True, slots=True)
class Verdict:
    requests: int
    failures: int  # answers a client should retry: 408/409/429/5xx or a truncated stream
    retries: int
    retried_too_fast: Finding = field(default_factory=Finding)
    ignored_retry_after: Finding = field(default_factory=Finding)
    accepted_truncated_stream: Finding = field(default_factory=Finding)

    @property
    def resilient(self) -> bool:
        findings = (self.retried_too_fast, self.ignored_retry_after, self.accepted_truncated_stream)
        return not any(f.count for f in findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": "no traffic" if not self.requests else "resilient" if self.resilient else "fragile",
            "requests": self.requests,
            "failures": self.failures,
            "retries": self.retries,
            "retried_too_fast": self.retried_too_fast.to_dict(),
            "ignored_retry_after": self.ignored_retry_after.to_dict(),
            "accepted_truncated_stream": self.accepted_truncated_stream.to_dict(),
        }


# expectations ------------------------------------------------------------------------------------
def evaluate(raw: Iterable[Mapping[str, Any]], entries: Sequence[Entry]) -> list[Result]:
    ordered = arrival_order(entries)
    return [check(spec, ordered) for spec in raw]


def check(raw: Mapping[str, Any], entries: Sequence[Entry]) -> Result:
    """One ``expect:`` entry (possibly wrapped as ``{"expect": {...}, "scenario": ...}``)."""
    spec = raw.get("expect") if isinstance(raw.get("expect"), Mapping) else raw
    assert isinstance(spec, Mapping)
    kind = next((k for k in KINDS if k in spec), None)
    line = raw.get("line")
    meta: dict[str, Any] = {
        "scenario": raw.get("scenario"),
        "file": raw.get("file") or raw.get("source"),
        "line": line if isinstance(line, int) else None,
    }
    name = str(spec.get("name") or raw.get("name") or kind or "expectation")
    if kind is None:
        return Result(
            name, "unknown", False, f"no known expectation in {sorted(spec)}; expected one of {KINDS}", **meta
        )
    scope = spec.get("scope") if isinstance(spec.get("scope"), Mapping) else {}
    assert isinstance(scope, Mapping)
    selected = [e for e in entries if in_scope(e, scope)]
    passed, detail, seqs = CHECKS[kind](spec[kind], selected)
    return Result(name, kind, passed, detail, tuple(seqs), **meta)


def in_scope(entry: Entry, scope: Mapping[str, Any]) -> bool:
    for key in ("operation", "rule", "namespace", "conversation"):
        wanted = scope.get(key)
        if wanted is not None and getattr(entry, key) not in (wanted if isinstance(wanted, list) else [wanted]):
            return False
    if "stream" in scope and entry_streamed(entry) != bool(scope["stream"]):
        return False
    model = scope.get("model")
    return model is None or request_fields(entry).get("model") in (model if isinstance(model, list) else [model])


Outcome = tuple[bool, str, list[int]]


def _sends_tool_result(spec: Any, entries: Sequence[Entry]) -> Outcome:
    call = str(spec.get("call")) if isinstance(spec, Mapping) else str(spec)
    before = spec.get("before_turn") if isinstance(spec, Mapping) else None
    highest = 0
    chains = Chains()
    for entry in entries:
        turn, results = chains.facts(entry)
        highest = max(highest, turn)
        if any(call in (call_id, name) for call_id, name in results):
            if before is not None and turn >= before:
                return False, f"tool result for {call!r} sent at turn {turn}, not before turn {before}", [entry.seq]
            return True, f"tool result for {call!r} sent at turn {turn} (request {entry.seq})", [entry.seq]
    return False, f"tool result for {call!r} never sent ({len(entries)} requests, up to turn {highest})", []


def _includes(spec: Any, entries: Sequence[Entry]) -> Outcome:
    path = str(spec)
    streams_only = path.split(".")[0] == "stream_options"
    looked = [e for e in entries if e.request is not None and (entry_streamed(e) or not streams_only)]
    missing = [e.seq for e in looked if not _present(request_fields(e), path.split("."))]
    if missing:
        return False, f"{len(missing)} of {len(looked)} requests lack {path}", missing
    return True, f"all {len(looked)} requests include {path}", []


def _respects_retry_after(spec: Any, entries: Sequence[Entry]) -> Outcome:
    if not spec:
        return True, "not checked (respects_retry_after: false)", []
    early = [seq for seq, _wanted, _waited in retry_after_violations(entries)]
    if early:
        return False, f"{len(early)} requests came before retry-after elapsed", early
    return True, "every retry-after was respected", []


def _max_requests(spec: Any, entries: Sequence[Entry]) -> Outcome:
    count = len(entries)
    if count > int(spec):
        return False, f"{count} requests, more than {spec}", [e.seq for e in entries[int(spec) :]]
    return True, f"{count} requests (at most {spec})", []


def _min_requests(spec: Any, entries: Sequence[Entry]) -> Outcome:
    count = len(entries)
    return count >= int(spec), f"{count} requests (at least {spec} expected)", []


CHECKS: dict[str, Any] = {
    "sends_tool_result": _sends_tool_result,
    "includes": _includes,
    "respects_retry_after": _respects_retry_after,
    "max_requests": _max_requests,
    "min_requests": _min_requests,
}


# the resilience verdict --------------------------------------------------------------------------
def verdict(entries: Sequence[Entry], min_backoff: float = DEFAULT_MIN_BACKOFF) -> Verdict:
    ordered = arrival_order(entries)
    too_fast: list[int] = []
    accepted: list[int] = []
    failures = retries = 0
    for thread in threads(ordered).values():
        for previous, following in pairwise(thread):
            failed = is_failure(previous)
            failures += failed
            retry = same_request(previous, following)
            retries += failed and retry
            hurried = following.time - finished(previous) < min_backoff - SLACK
            if failed and retry and previous.retry_after is None and hurried:
                too_fast.append(following.seq)
            if truncated(previous) and not retry and following.operation == previous.operation:
                accepted.append(previous.seq)
        failures += bool(thread) and is_failure(thread[-1])
    ignored = [seq for seq, _wanted, _waited in retry_after_violations(ordered)]
    return Verdict(
        requests=len(ordered),
        failures=failures,
        retries=retries,
        retried_too_fast=Finding(len(too_fast), tuple(too_fast)),
        ignored_retry_after=Finding(len(ignored), tuple(ignored)),
        accepted_truncated_stream=Finding(len(accepted), tuple(accepted)),
    )


def retry_after_violations(entries: Sequence[Entry]) -> list[tuple[int, float, float]]:
    """``(seq of the early request, retry-after asked, seconds actually waited)``."""
    found: list[tuple[int, float, float]] = []
    for thread in threads(arrival_order(entries)).values():
        for previous, following in pairwise(thread):
            if previous.retry_after is None or previous.status < 400:
                continue
            waited = following.time - finished(previous)
            if waited < previous.retry_after - SLACK:
                found.append((following.seq, previous.retry_after, waited))
    return found


# helpers -------------------------------------------------------------------------------------------
def arrival_order(entries: Iterable[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: (e.time, e.seq))


def threads(entries: Iterable[Entry]) -> dict[tuple[Any, ...], list[Entry]]:
    grouped: dict[tuple[Any, ...], list[Entry]] = {}
    for entry in entries:
        grouped.setdefault(thread_of(entry), []).append(entry)
    return grouped


def thread_of(entry: Entry) -> tuple[Any, ...]:
    """:attr:`Entry.thread`, with the client told apart by its key's fingerprint rather than its mask (entries
    journaled before fingerprints existed keep the mask)."""
    if entry.conversation or entry.api_key_hash is None:
        return entry.thread
    return ("k", entry.api_key_hash, entry.namespace)


def finished(entry: Entry) -> float:
    return entry.time + entry.total


def is_failure(entry: Entry) -> bool:
    return entry.status in FAILED_STATUSES or truncated(entry)


def truncated(entry: Entry) -> bool:
    return entry.stream and entry.fault in TRUNCATING_FAULTS


def same_request(a: Entry, b: Entry) -> bool:
    return a.operation == b.operation and a.path == b.path and a.request == b.request


def entry_streamed(entry: Entry) -> bool:
    return entry.stream or request_fields(entry).get("stream") is True


def facts(entry: Entry) -> tuple[int, list[tuple[str, str | None]]]:
    """(turn, tool results) of a request, also when only a truncated preview was kept."""
    body = entry.request
    if isinstance(body, dict) and body.get("truncated") is True:
        results: list[tuple[str, str | None]] = [(str(call_id), None) for call_id in body.get("tool_results") or ()]
        return int(body.get("turn") or 0), results
    return conv.turn(body), conv.tool_results(body)


class Chains:
    """What a request continues, read back from earlier answers in the journal: a Responses request naming
    ``previous_response_id`` sends only its new items (the usual tool loop sends just the ``function_call_output``),
    so its earlier turns and the name of the call it answers are in the answers before it. Feed entries in
    arrival order."""

    def __init__(self) -> None:
        self.turns: dict[tuple[str, str], int] = {}  # (namespace, response id) -> turn of the request it answered
        self.calls: dict[tuple[str, str], str] = {}  # (namespace, call id) -> tool name, from answers

    def facts(self, entry: Entry) -> tuple[int, list[tuple[str, str | None]]]:
        """:func:`facts`, with the chain's earlier turns counted and tool names resolved from earlier answers."""
        turn, results = facts(entry)
        previous = request_fields(entry).get("previous_response_id")
        if isinstance(previous, str):
            turn += self.turns.get((entry.namespace, previous), 0)
        named = [(call_id, name or self.calls.get((entry.namespace, call_id))) for call_id, name in results]
        for answer in (entry.response, entry.last_frame):
            self._learn(entry.namespace, answer, turn)
        return turn, named

    def _learn(self, namespace: str, answer: Any, turn: int) -> None:
        if isinstance(answer, Mapping) and isinstance(answer.get("response"), Mapping):
            answer = answer["response"]  # a Responses stream's final event
        if not isinstance(answer, Mapping):
            return
        if answer.get("object") == "response" and isinstance(answer.get("id"), str):
            self.turns[(namespace, answer["id"])] = turn
        for item in answer.get("output") or ():
            if isinstance(item, Mapping) and item.get("type") == "function_call" and isinstance(item.get("name"), str):
                self.calls[(namespace, str(item.get("call_id")))] = item["name"]
        for choice in answer.get("choices") or ():
            message = choice.get("message") if isinstance(choice, Mapping) else None
            for call in (message.get("tool_calls") or ()) if isinstance(message, Mapping) else ():
                function = call.get("function") if isinstance(call, Mapping) else None
                if isinstance(function, Mapping) and isinstance(function.get("name"), str):
                    self.calls[(namespace, str(call.get("id")))] = function["name"]


def _present(fields: Mapping[str, Any], path: Sequence[str]) -> bool:
    node: Any = fields
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return node is not None and node is not False
