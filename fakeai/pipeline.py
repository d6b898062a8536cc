"""What happens to a request, stage by stage. Connexion's routing middleware has already put the
operationId in the ASGI scope; everything after it is here, in this order:

    parse     -> RequestContext  auth, body size limit, path/query/body validation (400), the Prefer
                                 header, the request's ONE seed (fakeai.parse.seed) and its id
    admit                        simulators see the request arrive (KV-cache admission, requests in flight)
    match     -> Decision        the scenario engine decides: rule, reply, error, fault, headers (never an Output)
    produce   -> Output          renders the decision, or asks the operation's producers (the only caller)
    check     -> Output          --validate-responses: the body / every SSE frame against the spec
    simulate  -> Timing          commits the answer's effects (store, scenario memory), then the simulator
                                 chain computes absolute deadlines (latency, kv_cache, gpu, ..., faults)
    respond                      fakeai.streaming: the ONLY code that sleeps or writes to the socket
    finish                       simulators see the request end; RequestAnswered/RequestRejected events

Plugins insert hooks at named positions (:class:`Position`, after Connexion's ``MiddlewarePosition``):
``hook(ctx, value) -> value`` with the stage's result as ``value``. Errors raised as
:class:`~fakeai.errors.APIError` in any stage before respond answer in the operation's error envelope:
OpenAI's, unless its bindings file (``spec/bindings/*.yaml``) declares another (``errors: anthropic``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import Receive, Scope, Send

from fakeai.clock import Clock, SystemClock
from fakeai.config import Settings
from fakeai.context import NO_DECISION, Decision, Effect, Output, RequestContext, Timing, UploadedFile
from fakeai.errors import APIError, invalid_api_key, not_found, reshape_error_body
from fakeai.events import Events, RequestAnswered, RequestReceived, RequestRejected
from fakeai.ids import unique_ids
from fakeai.operations import CompiledOperation
from fakeai.parse.coerce import nest, parse_json, parse_query, prompt_too_large, text_chars
from fakeai.parse.deadline import deadlines
from fakeai.parse.seed import new_request_id, request_seed
from fakeai.producers.bindings import env_files, envelope_of
from fakeai.producers.text.tokenizer import get_tokenizer, unloaded_encoding
from fakeai.scenario.faults import inject
from fakeai.scenario.prefer import parse_prefer
from fakeai.scenario.respond import example_output, refusal_output, reply_output
from fakeai.simulators.base import Admits, Finishes
from fakeai.store import ResourceStore
from fakeai.streaming import Delivered, pack_frames, respond, respond_error

log = logging.getLogger("fakeai.pipeline")
ROUTING = "connexion_routing"
ARRIVED = "fakeai.arrived"  # scope key: when ErrorMiddleware first saw the request (injected clock)


class Position(enum.Enum):
    """Where a plugin hook runs: after the named stage, on its result."""

    AFTER_PARSE = "parse"  # hook(ctx, ctx) -> RequestContext
    AFTER_MATCH = "match"  # hook(ctx, decision) -> Decision
    AFTER_PRODUCE = "produce"  # hook(ctx, output) -> Output (before the check stage)
    AFTER_SIMULATE = "simulate"  # hook(ctx, timing) -> Timing


Hook = Callable[[RequestContext, Any], Any]


class Matcher(Protocol):
    """The match stage's shape (the scenario engine): decide, and remember what an answer carried."""

    def match(self, ctx: RequestContext) -> Decision: ...

    def commit(self, ctx: RequestContext, decision: Decision, output: Output) -> None: ...


class NoScenarios:
    """No scenario engine: every request is answered by the operation's producers."""

    def match(self, ctx: RequestContext) -> Decision:
        return NO_DECISION

    def commit(self, ctx: RequestContext, decision: Decision, output: Output) -> None:
        return None


_UNDELIVERED = Delivered()  # until respond returns (a stream cut by a fault or a client)


class Pipeline:
    """The ASGI app Connexion routes to. Built once by :func:`fakeai.app.create_app`."""

    def __init__(
        self,
        settings: Settings,
        operations: Mapping[str, CompiledOperation],
        clock: Clock,
        events: Events,
        *,
        simulators: Sequence[Any] = (),
        matcher: Matcher | None = None,
        store: ResourceStore | None = None,
        check: Callable[[CompiledOperation, Output], Output] | None = None,
        hooks: Mapping[Position, Sequence[Hook]] | None = None,
        work: Mapping[str, Work] | None = None,
        offload: Callable[[RequestContext], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.operations = operations
        self.clock = clock
        # ids unique per answer (fakeai.ids) on the system clock; a fixed or injected clock asks for byte-identity
        self.unique_ids = isinstance(clock, SystemClock)
        self.events = events
        self.simulators = list(simulators)
        self.admitting = [s for s in self.simulators if isinstance(s, Admits)]  # capabilities found once
        self.finishing = [s for s in self.simulators if isinstance(s, Finishes)]
        self.matcher: Matcher = matcher or NoScenarios()
        self.store = store
        self.check = check
        self.hooks: dict[Position, list[Hook]] = {
            position: list((hooks or {}).get(position, ())) for position in Position
        }
        self.work: Mapping[str, Work] = work or {}
        self.offload = offload  # requests a real model answers: produced in a worker thread (blocking work)
        self.routes = _route_table(operations)
        self.prompted = frozenset(
            op_id for op_id, op in operations.items() if any(p.source == "llm" for p in op.producers)
        )  # model-like
        self.api_keys = frozenset(settings.api_keys)
        self.envelopes = {  # operations answering errors in another vendor's envelope (compiled once)
            op_id: envelope
            for op_id, op in operations.items()
            if (envelope := envelope_of(op.operation, op.env.document, env_files(op.env))) != "openai"
        }
        self.path_envelope: Callable[[str], str] = lambda _path: "openai"  # no operation: create_app sets it

    def insert(self, position: Position, hook: Hook) -> None:
        self.hooks[position].append(hook)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = scope.get(ARRIVED) or self.clock.monotonic()
        op_id = (scope.get("extensions") or {}).get(ROUTING, {}).get("operation_id")
        compiled = self.operations.get(op_id) if op_id else None
        ctx: RequestContext | None = None
        try:
            if compiled is None:
                raise not_found(scope["method"], scope["path"])
            ctx = self._run(Position.AFTER_PARSE, None, await self.parse(scope, receive, compiled))
        except APIError as exc:
            await self.respond_error(send, exc, op_id, ctx, scope["path"])
            self.events.emit(self.rejected(scope, exc, op_id, ctx))
            return
        self.events.emit(RequestReceived(ctx))
        if op_id in self.prompted and (encoding := unloaded_encoding(ctx.model)) is not None:
            await asyncio.to_thread(get_tokenizer, encoding)  # a vocabulary's first use (0.2 s): off the loop
        self.admit(ctx)
        output: Output | None = None
        ids = unique_ids(ctx.request_id if self.unique_ids else None)
        with ids:  # ids unique per answer
            try:
                try:
                    decision = self._run(Position.AFTER_MATCH, ctx, self.match(ctx))
                    produced = self._run(Position.AFTER_PRODUCE, ctx, await self.produce(compiled, ctx, decision))
                    produced = self.vendor_shape(ctx, produced)
                    produced = self.check(compiled, produced) if self.check is not None else produced
                    timing = self._run(Position.AFTER_SIMULATE, ctx, await self.settle(ctx, decision, produced))
                except APIError as exc:
                    await self.respond_error(send, exc, op_id, ctx)
                    self.events.emit(self.rejected(scope, exc, op_id, ctx))
                    return
                if produced.frames is not None:  # what an open stream holds until its last frame (memory)
                    packed = pack_frames(produced.frames)  # the unpacked ones go
                    # the stream's tokens, counted once here for every listener (0 by the producers' convention)
                    tokens = produced.completion_tokens or sum([frame.tokens for frame in packed])
                    produced = replace(produced, frames=packed, completion_tokens=tokens)
                    ctx.draws_done()  # and with the draws, the ids
                    ids.close()
                    if timing.first > 0:  # a stream that waits for its first deadline anyway lets the frames
                        await asyncio.sleep(0)  # other streams have due go out first (a herd's admissions)
                output = produced
                delivered = _UNDELIVERED
                try:
                    delivered = await respond(send, output, timing, self.clock, started, ctx.request_id, receive)
                finally:  # also a stream cut by a reset fault or a client disconnect is journaled
                    elapsed = self.clock.monotonic() - started
                    size, sent = delivered.size, delivered.frames
                    answered = RequestAnswered(
                        ctx, output, timing, elapsed, size, delivered.disconnected, sent, delivered.sent_at,
                        delivered.payload,
                    )  # fmt: skip
                    if output.frames is not None:  # a stream's accounting runs between other callbacks: a herd of
                        self.events.emit_later(answered)  # streams ends together (fakeai.events)
                    else:  # a plain answer's at once: deferred, wrk at c=100 measured 11 % fewer requests/s
                        self.events.emit(answered)
            finally:
                self.finish(ctx, output)

    # ---- the stages ------------------------------------------------------------------------------
    async def parse(self, scope: Scope, receive: Receive, compiled: CompiledOperation) -> RequestContext:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.authorize(headers)
        raw = await read_body(receive, headers, self.settings.max_body_bytes, self.settings.body_read_timeout)
        path_params = {k: str(v) for k, v in (scope.get("path_params") or {}).items()}
        compiled.check_path(path_params)
        query_string = scope.get("query_string", b"")
        query = compiled.parse_query(parse_query(query_string))
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        content_type = compiled.body_content_type(content_type, raw)
        body, files = await parse_body(raw, content_type, headers, self.settings.max_json_depth)
        body = compiled.parse_body(content_type, body, files)
        limit = self.settings.max_prompt_chars
        if (
            len(raw) > limit
            and compiled.operation.operation_id in self.prompted
            and (chars := text_chars(body)) > limit
        ):
            raise prompt_too_large(chars, limit)
        prefer = parse_prefer(headers["prefer"]) if "prefer" in headers else None
        seed = request_seed(
            self.settings.seed,
            compiled.operation.operation_id,
            scope["path"],
            query_string,
            body,
            files,
            headers.get("x-fakeai-seed", ""),
            prefer.seed if prefer is not None else None,
        )
        return RequestContext(
            operation=compiled.operation,
            method=scope["method"],
            path=scope["path"],
            path_params=path_params,
            query=query,
            headers=headers,
            body=body,
            files=files,
            seed=seed,
            rng=random.Random(seed),
            now=self.clock.now(),
            settings=self.settings,
            namespace=headers.get("x-fakeai-namespace", ""),
            request_id=new_request_id(),
            prefer=prefer,
        )

    async def produce(self, compiled: CompiledOperation, ctx: RequestContext, decision: Decision) -> Output:
        """The produce stage; off the event loop when a real model may answer (``--model-backend``): a model-like
        request it answers, or a stream of another operation (a streamed assistant run does its work meanwhile)."""
        prompted = compiled.operation.operation_id in self.prompted
        if self.offload is not None and (self.offload(ctx) if prompted else ctx.wants_stream):
            return await asyncio.to_thread(produce, compiled, ctx, decision)
        return produce(compiled, ctx, decision)

    def admit(self, ctx: RequestContext) -> None:
        for simulator in self.admitting:
            simulator.admit(ctx)

    def match(self, ctx: RequestContext) -> Decision:
        decision = self.matcher.match(ctx)
        if self.settings.replay_strict and decision.rule is None and not decision.decided:
            raise no_recorded_interaction(ctx)
        return decision

    def simulate(self, ctx: RequestContext, decision: Decision, output: Output) -> Timing:
        """State first (the answer's effects, the scenario's memory), then timings from the simulator chain."""
        if output.effects and self.store is not None:
            self.commit(ctx.namespace, output.effects, ctx.now)
        if decision is not NO_DECISION:
            self.matcher.commit(ctx, decision, output)
        timing = Timing()
        for simulator in self.simulators:
            timing = simulator.simulate(ctx, output, timing)
        return timing

    async def settle(self, ctx: RequestContext, decision: Decision, output: Output) -> Timing:
        """The simulate stage, its ``work`` effects committed in a worker thread when a real model is loaded: work
        makes requests of its own (batch lines, assistant runs: :meth:`run_internal`) that the model may answer
        for seconds. The store is locked; the simulators still run here, on the loop."""
        if self.offload is not None and self.store is not None and any(e.action == "work" for e in output.effects):
            await asyncio.to_thread(self.commit, ctx.namespace, output.effects, ctx.now)
            output = replace(output, effects=())
        return self.simulate(ctx, decision, output)

    def commit(self, namespace: str, effects: Sequence[Effect], now: float, depth: int = 0) -> None:
        """Apply an answer's effects in order; ``work`` effects run and commit theirs (never more than 2 deep)."""
        assert self.store is not None
        for effect in effects:
            if effect.action != "work":
                self.store.apply(namespace, effect)
            elif depth < 2 and effect.work is not None and effect.work in self.work:
                more = self.work[effect.work](self, self.store, namespace, effect, now)
                self.commit(namespace, more, now, depth + 1)

    def run_internal(self, namespace: str, method: str, path: str, body: Any, now: float) -> InternalAnswer:
        """Answer one request made by fakeai itself (a batch's line, an assistant run's model call) through the
        same parse checks, scenarios, producers, self-check and state as a client's; no timing, no socket.

        Blocking: with a model backend loaded its produce stage may run the model, so callers keep it off the event
        loop: work from the simulate stage runs in a worker thread (:meth:`settle`), and so does the produce stage
        of a streamed assistant run (:mod:`fakeai.resources.run_stream`, which runs its work while it streams)."""
        found = self.route(method, path)
        if found is None:
            error = not_found(method, path)
            return InternalAnswer(error.status, error.body(), new_request_id())
        compiled, path_params = found
        request_id = new_request_id()
        try:
            parsed = compiled.parse_body("application/json", body, {})
            seed = request_seed(self.settings.seed, compiled.operation.operation_id, path, b"", parsed, {}, "", None)
            ctx = RequestContext.internal(
                compiled.operation, method, path, parsed, seed=seed, now=now, settings=self.settings,
                request_id=request_id, namespace=namespace, path_params=path_params,
                headers={"x-fakeai-namespace": namespace} if namespace else {},
            )  # fmt: skip
            decision = self.match(ctx)
            output = self.vendor_shape(ctx, produce(compiled, ctx, decision))
            output = self.check(compiled, output) if self.check is not None else output
            if output.effects and self.store is not None:
                self.commit(namespace, [e for e in output.effects if e.action != "work"], now, depth=2)
            if decision is not NO_DECISION:
                self.matcher.commit(ctx, decision, output)
        except APIError as exc:
            return InternalAnswer(exc.status, exc.body(), request_id)
        return InternalAnswer(output.status, output.body, request_id)

    def route(self, method: str, path: str) -> tuple[CompiledOperation, dict[str, str]] | None:
        """The operation a request line names (``/v1/chat/completions``), with or without a base path."""
        for prefix in ("", "/v1", "/openai/v1", "/openai"):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) :]
            for route in self.routes.get(method.upper(), ()):
                match = route.pattern.match(rest)
                if match is not None:
                    return route.compiled, {route.names[k]: v for k, v in match.groupdict().items()}
        return None

    def finish(self, ctx: RequestContext, output: Output | None) -> None:
        for simulator in self.finishing:
            simulator.finish(ctx, output)

    # ---- helpers ---------------------------------------------------------------------------------
    async def respond_error(
        self, send: Send, exc: APIError, op_id: str | None, ctx: RequestContext | None, path: str = ""
    ) -> None:
        """``exc`` in the operation's error envelope (OpenAI's unchanged: no request id in it); without an
        operation, the envelope of the operations nearest ``path``."""
        envelope = self.envelopes.get(op_id, "openai") if op_id else self.path_envelope(path)
        if envelope == "openai":
            await respond_error(send, exc)
            return
        await respond_error(send, exc, envelope, ctx.request_id if ctx is not None else new_request_id())

    def vendor_shape(self, ctx: RequestContext, output: Output) -> Output:
        """Another vendor's operation: its ``request-id`` header, and error answers decided elsewhere (scenario
        errors, rate limits) in its envelope."""
        envelope = self.envelopes.get(ctx.operation_id)
        if envelope is None:
            return output
        body = output.body
        if output.status >= 400:
            body = reshape_error_body(body, output.status, envelope, ctx.request_id)
        return replace(output, body=body, headers={**output.headers, "request-id": ctx.request_id})

    def _run(self, position: Position, ctx: RequestContext | None, value: Any) -> Any:
        for hook in self.hooks[position]:
            value = hook(ctx if ctx is not None else value, value)
        return value

    def rejected(self, scope: Scope, exc: APIError, op_id: str | None, ctx: RequestContext | None) -> RequestRejected:
        headers = (
            ctx.headers
            if ctx is not None
            else {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        )
        return RequestRejected(
            scope["method"], scope["path"], exc.status, exc.message, op_id, headers, self.clock.now(), ctx, exc.headers
        )

    def authorize(self, headers: Mapping[str, str]) -> None:
        if not self.api_keys:
            return
        # the bearer token (OpenAI), else Azure's api-key header, else Anthropic's x-api-key
        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        token = bearer or headers.get("api-key") or headers.get("x-api-key") or None
        if token not in self.api_keys:
            raise invalid_api_key(token or None)


@dataclass(frozen=True, slots=True)
class InternalAnswer:
    status: int
    body: Any
    request_id: str


class Runner(Protocol):
    """What work may ask of the pipeline: answer a request fakeai makes itself."""

    def run_internal(self, namespace: str, method: str, path: str, body: Any, now: float) -> InternalAnswer: ...


Work = Callable[[Runner, ResourceStore, str, Effect, float], Sequence[Effect]]


def _route_table(operations: Mapping[str, CompiledOperation]) -> dict[str, list[Route]]:
    """Path templates as regexes per method, literal paths first (``/threads/runs`` before ``/threads/{id}``)."""
    table: dict[str, list[Route]] = {}
    for compiled in sorted(operations.values(), key=lambda c: c.operation.path.count("{")):
        names: dict[str, str] = {}
        parts = []
        for segment in compiled.operation.path.split("?")[0].split("/"):
            if segment.startswith("{") and segment.endswith("}"):
                group = f"p{len(names)}"
                names[group] = segment[1:-1]
                parts.append(f"(?P<{group}>[^/]+)")
            else:
                parts.append(re.escape(segment))
        route = Route(re.compile("^" + "/".join(parts) + "$"), names, compiled)
        table.setdefault(compiled.operation.method, []).append(route)
    return table


@dataclass(frozen=True, slots=True)
class Route:
    pattern: re.Pattern[str]
    names: Mapping[str, str]  # regex group -> the spec's path parameter name
    compiled: CompiledOperation


def produce(compiled: CompiledOperation, ctx: RequestContext, decision: Decision) -> Output:
    """The produce stage: the decision rendered, or the operation's producers in order; then the decided
    fault and headers, and the effects the answer implies."""
    if decision.refusal is not None:
        output = refusal_output(decision.refusal)
    elif decision.reply is not None:
        output = reply_output(ctx, decision.reply, decision.env, compiled.produce_scripted)
    elif decision.example is not None:
        output = example_output(ctx, decision.example)
    else:
        output = compiled.produce(ctx)
    if decision.fault is not None:
        output = inject(output, decision.fault)
    if decision.headers:
        output = replace(output, headers={**decision.headers, **output.headers})
    if decision.rule is not None and output.source == "scenario":  # the journal and metrics show the rule
        output = replace(output, source=f"scenario:{decision.rule}")
    if decision.state is not None:
        output = replace(output, scenario_state=decision.state)
    return compiled.record(ctx, output)


async def read_body(receive: Receive, headers: Mapping[str, str], limit: int, timeout: float = 0) -> bytes:
    """The request body; 413 beyond ``limit`` bytes, 408 when a chunk takes longer than ``timeout`` s (0: no limit)."""
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    watch = deadlines() if timeout > 0 else None
    task = watch.begin(timeout) if watch is not None else None  # a dict entry, swept once per period
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
            if watch is not None and task is not None:  # the limit is on the gap between chunks, not the whole body
                watch.extend(task, timeout)
    except asyncio.CancelledError:
        if watch is not None and task is not None and watch.expired(task):
            raise APIError(408, f"Timed out reading the request body after {timeout:g} s.", code="timeout") from None
        raise
    finally:
        if watch is not None and task is not None:
            watch.end(task)
    return b"".join(chunks)


def no_recorded_interaction(ctx: RequestContext) -> APIError:
    """--replay-strict: say so instead of inventing an answer the recording never had."""
    return APIError(
        404,
        f"No recorded interaction matches {ctx.method} {ctx.path} ({ctx.operation_id}); "
        "fakeai is replaying in strict mode (--replay-strict).",
        code="no_recorded_interaction",
    )


def _too_large(limit: int) -> APIError:
    return APIError(413, f"Request body too large: the limit is {limit} bytes.", code="request_too_large")


async def parse_body(
    raw: bytes, content_type: str, headers: Mapping[str, str], max_depth: int | None = None
) -> tuple[Any, dict[str, list[UploadedFile]]]:
    if not raw.strip():
        return None, {}
    if content_type.startswith("multipart/form-data"):
        return await _parse_multipart(raw, headers)
    if content_type == "application/x-www-form-urlencoded":
        return nest(parse_query(raw)), {}
    if content_type in ("", "application/json") or content_type.endswith("+json"):
        return parse_json(raw, max_depth), {}
    if content_type.startswith("text/") or content_type == "application/sdp":
        return raw.decode("utf-8", "replace"), {}
    return raw, {}


async def _parse_multipart(raw: bytes, headers: Mapping[str, str]) -> tuple[Any, dict[str, list[UploadedFile]]]:
    from starlette.datastructures import Headers, UploadFile

    async def stream() -> Any:
        yield raw

    parser = MultiPartParser(Headers(headers=dict(headers)), stream(), max_files=1000, max_fields=1000)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise APIError(400, f"Could not parse multipart form data: {exc.message}") from None
    fields: list[tuple[str, Any]] = []
    files: dict[str, list[UploadedFile]] = {}
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                name = key[:-2] if key.endswith("[]") else key
                files.setdefault(name, []).append(
                    UploadedFile(value.filename or "", value.content_type or "application/octet-stream", data)
                )
            else:
                fields.append((key, value))
    finally:
        await form.close()
    return nest(fields), files
