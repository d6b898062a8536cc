"""create_app(): the ONE place the ASGI stack is assembled.

    ErrorMiddleware                 every failure -> OpenAI error envelope, never a traceback
      ConnexionMiddleware           Connexion's RoutingMiddleware only: operationId into the scope
        Pipeline                    fakeai.pipeline: parse -> admit -> match -> produce -> check -> simulate
                                    -> respond -> finish

Everything per operation (validators, producers, templates) is compiled here, at startup.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
from connexion.middleware.routing import RoutingMiddleware
from connexion.resolver import Resolver
from connexion.spec import OpenAPISpecification
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from fakeai.admin import BASE_PATH as ADMIN_BASE_PATH
from fakeai.admin import AdminAPI
from fakeai.bundled import data_path
from fakeai.check import ResponseCheck
from fakeai.clock import Clock, FixedClock, SystemClock
from fakeai.config import Settings
from fakeai.errors import SERVER_ERROR_MESSAGE, APIError, PathEnvelopes, method_not_allowed, not_found
from fakeai.events import Events, RequestRejected, ResponseInvalid
from fakeai.generated.schema import SchemaWalker
from fakeai.journal import Journal
from fakeai.limits import header_limits
from fakeai.metrics import Metrics
from fakeai.operations import CompiledOperation, compile_operations
from fakeai.parse.seed import new_request_id
from fakeai.pipeline import ARRIVED, ROUTING, Pipeline
from fakeai.plugins import producer_factories
from fakeai.producers.base import CompileEnv
from fakeai.producers.text.backend import Selection, load_backend
from fakeai.realtime.server import build as build_realtime
from fakeai.reload import Reloader
from fakeai.resources.producer import built_for
from fakeai.resources.work import WORK
from fakeai.scenario.engine import ScenarioEngine
from fakeai.simulators.base import NO_PROMPT_CACHE, SimulatorEnv
from fakeai.simulators.registry import build as build_simulators
from fakeai.spec.load import load_specs
from fakeai.spec.operation import iter_operations
from fakeai.spec.routing import routing_document
from fakeai.spec.validate import Validators
from fakeai.spec.vendors import mount_groups, route_table
from fakeai.store import ResourceStore
from fakeai.streaming import StreamReset, respond_error
from fakeai.usage import Usage

log = logging.getLogger("fakeai")


@dataclass
class FakeAI:
    """The assembled app and what tests and the admin API may inspect."""

    settings: Settings
    document: dict[str, Any]
    operations: dict[str, CompiledOperation]
    pipeline: Pipeline
    events: Events
    asgi: ASGIApp
    violations: list[ResponseInvalid] = field(default_factory=list)
    startup_seconds: float = 0.0
    scenarios: ScenarioEngine | None = None  # the scenario engine (admin API loads scenarios into it)
    journal: Journal = field(default_factory=Journal)  # every request and answer (fakeai.journal)
    metrics: Metrics = field(default_factory=Metrics)  # prometheus, served by GET /_fakeai/metrics
    admin: AdminAPI | None = None  # the /_fakeai control plane (spec/admin.yaml)
    reloader: Reloader | None = None  # hot reload of scenario files (started by the lifespan)
    store: ResourceStore | None = None  # resources clients created (uploaded files), per namespace
    simulators: list[Any] = field(default_factory=list)  # in chain order (fakeai.simulators)
    usage: Usage | None = None  # what the server answered, for /organization/usage and costs (fakeai.usage)
    broadcast: Any = None  # fakeai.state.shared.Broadcast with --state redis://: admin changes reach every replica
    metrics_listener: Any = None  # fakeai.metrics_listener.MetricsListener with --metrics-port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.asgi(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    producers: Sequence[Any] = (),
    document: dict[str, Any] | None = None,
    simulators: Sequence[Any] = (),
) -> FakeAI:
    started = time.perf_counter()
    settings = settings or Settings()
    clock = clock or (FixedClock(settings.fixed_time) if settings.fixed_time is not None else SystemClock())
    document = document if document is not None else load_specs(settings.spec)
    operations = list(iter_operations(document))
    events = Events()
    sim_env = SimulatorEnv(settings, clock, events)
    chain = build_simulators(settings.simulators, sim_env, simulators)  # unknown names fail here
    if "faults" not in settings.simulators:  # scenario delays and stalls shift deadlines last, always
        chain += build_simulators(("faults",), sim_env)
    shared = _shared_backend(settings)
    backends = Selection.from_settings(settings, load_backend(settings))  # --model-backend: loaded here, once
    request_document = _lenient_copy(document) if settings.validation == "strict" else document
    env = CompileEnv(
        document=document,
        validators=Validators(request_document),
        settings=settings,
        fixtures_dir=_fixtures_dir(settings),
        walker=SchemaWalker(document),
        store=_store(settings, shared),
        prompt_cache=sim_env.simulators.get("kv_cache", NO_PROMPT_CACHE),
        usage=Usage.from_document(document, settings.bindings).subscribe(events),
        text_backends=backends,
    )
    compiled = compile_operations(operations, env, producer_factories(producers))
    check = ResponseCheck(document, events) if settings.validate_responses != "off" else None
    scenarios = ScenarioEngine.from_files(settings.scenarios, settings, document, clock, store=env.store, shared=shared)
    pipeline = Pipeline(
        settings,
        compiled,
        clock,
        events,
        simulators=chain,
        matcher=scenarios,
        store=env.store,
        check=check,
        work={name: WORK.get(name) for name in WORK.names()},
        offload=backends.offload if backends.backend is not None else None,
    )
    if (built := built_for(env.store)) is not None:  # a streamed run works while answered (resources.run_stream)
        built[1].runner = pipeline
    admin = AdminAPI(settings)
    memo = RouteMemo(_SpecParamNames.wrap(admin.in_front_of(pipeline), operations))
    connexion = RoutingMiddleware(memo.recorder)
    title = str((document.get("info") or {}).get("title", "fakeai"))
    resolver = Resolver(function_resolver=lambda _operation_id: _unused_handler)
    connexion.add_api(RoutingSpecification(admin.routes), base_path=ADMIN_BASE_PATH, resolver=resolver)  # before ""
    # each spec under its servers[0] path and "" (or settings.base_paths); most specific mount first. Admin
    # operations marked x-fakeai-root (GET /metrics: Prometheus' default path) are also routed at the root
    root = admin.root_operations  # (and vLLM's GET /health, GET /version)
    admin.public |= {  # x-fakeai-public-unless: <setting>: no API key needed unless that setting is on
        op.operation_id
        for op in admin.operation_list
        if (setting := op.extensions.get("x-fakeai-public-unless")) and not getattr(settings, setting)
    }
    groups = mount_groups(route_table(document, operations, settings.base_paths))
    if root and all(base_path for base_path, _ in groups):
        groups.append(("", []))
    for base_path, mounted in groups:
        if not base_path:  # a spec's own path wins over ours
            mounted = [*mounted, *(op for op in root if op.path not in {m.path for m in mounted})]
        connexion.add_api(
            RoutingSpecification(routing_document(mounted, title)), base_path=base_path, resolver=resolver
        )
    asgi = ErrorMiddleware(memo.in_front_of(connexion), events, clock)
    pipeline.path_envelope = asgi.envelope_of = PathEnvelopes(
        (base_path.rstrip("/") + op.path, pipeline.envelopes.get(op.operation_id, "openai"))
        for base_path, mounted in groups
        for op in mounted
    )
    asgi.websocket = build_realtime(
        settings,
        document,
        env.validators,
        clock,
        pipeline.authorize,
        chain,
        check,
        [b for b, _ in groups],
        events,
        scenarios,
        pipeline.insert,
    )
    if settings.preload_tokenizers:
        asgi.on_startup.append(_warm_tokenizers)
    asgi.checks.append(header_limits(settings))
    asgi.timed = _timed(chain, scenarios)
    journal_args = (settings.journal_size, settings.journal_body_bytes, settings.journal_max_bytes)
    journal = (Journal(*journal_args) if shared is None else _shared_journal(shared, journal_args)).subscribe(events)
    metrics = Metrics().subscribe(events).watch(chain)
    reloader = Reloader(scenarios, settings.scenarios, clock.now, enabled=settings.reload_scenarios)
    asgi.on_startup.append(reloader.start)
    asgi.on_shutdown.append(reloader.stop)

    async def account() -> None:  # the last answers' deferred accounting (fakeai.events), before the process ends
        events.flush()

    asgi.on_shutdown.append(account)
    app = FakeAI(
        settings,
        document,
        compiled,
        pipeline,
        events,
        asgi,
        check.violations if check is not None else [],
        scenarios=scenarios,
        journal=journal,
        metrics=metrics,
        admin=admin,
        reloader=reloader,
        store=env.store,
        simulators=chain,
        usage=env.usage,
    )
    admin.attach(app)
    if shared is not None:
        from fakeai.admin import apply_change
        from fakeai.state.shared import Broadcast

        app.broadcast = broadcast = Broadcast(shared)

        async def listen() -> None:  # replays the kept admin changes, then follows the others' changes
            broadcast.start(lambda change: apply_change(app, change), asyncio.get_running_loop())

        async def stop_listening() -> None:
            broadcast.stop()

        asgi.on_startup.append(listen)
        asgi.on_shutdown.append(stop_listening)
    if settings.metrics_port is not None:  # --metrics-port: /metrics on a listener of its own
        from fakeai.metrics_listener import MetricsListener

        listener = MetricsListener(app, settings.host, settings.metrics_port)
        asgi.on_startup.append(listener.start)
        asgi.on_shutdown.append(listener.stop)
        app.metrics_listener = listener
    if settings.gc_freeze:  # last: everything built at startup (incl. the warmed tokenizers) is frozen
        asgi.on_startup.append(_freeze_heap)
    app.startup_seconds = time.perf_counter() - started
    return app


def _shared_backend(settings: Settings) -> Any:
    """The Valkey/Redis of ``--state redis://...`` (reachable, or a ConfigError now), else None."""
    from fakeai.state import is_shared

    if not is_shared(settings.state):
        return None
    from fakeai.state.shared import Shared

    assert settings.state is not None
    shared = Shared(settings.state)
    shared.ping()
    return shared


def _store(settings: Settings, shared: Any) -> ResourceStore:
    bounds = (settings.store_max_items, settings.store_max_bytes)
    if shared is None:
        return ResourceStore(*bounds)
    from fakeai.state.shared import SharedResourceStore

    return SharedResourceStore(shared, *bounds)


def _shared_journal(shared: Any, args: tuple[int, int, int]) -> Journal:
    from fakeai.state.shared import SharedJournal

    return SharedJournal(shared, *args)


class RoutingSpecification(OpenAPISpecification):  # type: ignore[misc]
    """Connexion's view of our generated routing document.

    Connexion validates every document against the OpenAPI 3.0 meta-schema (0.25 s per mount for the
    OpenAI paths). This one is built by :func:`fakeai.spec.routing.routing_document`, valid by construction.
    """

    @classmethod
    def _validate_spec(cls, spec: Any) -> None:
        return None


class _SpecParamNames:
    """Starlette path parameters cannot contain '-': Connexion routes ``{deployment-id}`` (Azure) as
    ``deployment_id``. This puts the spec's names back, and is only installed when a spec needs it."""

    def __init__(self, app: ASGIApp, names: dict[str, str]) -> None:
        self.app = app
        self.names = names

    @classmethod
    def wrap(cls, app: ASGIApp, operations: Sequence[Any]) -> ASGIApp:
        names = {
            p.name.replace("-", "_"): p.name
            for op in operations
            for p in op.parameters
            if p.location == "path" and "-" in p.name
        }
        return cls(app, names) if names else app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope.get("path_params")
        if params:
            scope["path_params"] = {self.names.get(k, k): v for k, v in params.items()}
        await self.app(scope, receive, send)


_NO_PATH_PARAMS: Mapping[str, Any] = MappingProxyType({})


class RouteMemo:
    """Connexion's routing decisions, remembered for paths without parameters (``POST /v1/chat/completions``).

    Connexion routes every request through Starlette's mounts and routes (a copied scope, a context variable,
    regex matches per mount and route: ~25 µs, an eighth of a chat answer). What it decides for a method and
    literal path never changes (the routes are built once, here), so the second request to the same path gets
    the same ``operation_id`` from a dict and skips the walk. Paths with parameters (``/files/{file_id}``),
    unrouted paths and 405s always go through Connexion. The memo holds at most one entry per literal route and
    base path (bounded by ``limit`` all the same)."""

    def __init__(self, app: ASGIApp, limit: int = 4096) -> None:
        self.app = app
        self.limit = limit
        self.memo: dict[tuple[str, str, str], Mapping[str, Any]] = {}
        self.connexion: ASGIApp = app  # set by in_front_of
        self.router: Any = None

    async def recorder(self, scope: Scope, receive: Receive, send: Send) -> None:
        """What Connexion calls once it has routed: remember the decision, then answer."""
        routing = (scope.get("extensions") or {}).get(ROUTING)
        if routing and routing.get("operation_id") and not scope.get("path_params") and len(self.memo) < self.limit:
            # read-only and shared by every request it routes (nothing downstream writes it; a write would raise)
            self.memo[(scope["method"], scope["path"], scope.get("root_path", ""))] = MappingProxyType(dict(routing))
        await self.app(scope, receive, send)

    def in_front_of(self, connexion: RoutingMiddleware) -> RouteMemo:
        self.connexion = connexion
        self.router = connexion.router  # ErrorMiddleware lists a path's methods (405 Allow) from it
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        routing = self.memo.get((scope["method"], scope["path"], scope.get("root_path", "")))
        if routing is None:
            await self.connexion(scope, receive, send)
            return
        extensions = scope.get("extensions")
        if extensions is None:
            extensions = scope["extensions"] = {}
        extensions[ROUTING] = routing
        scope["path_params"] = _NO_PATH_PARAMS
        await self.app(scope, receive, send)


def _unused_handler() -> None:
    """Connexion's resolver wants a function per operation; routing never calls it."""


def _fixtures_dir(settings: Settings) -> Path | None:
    if settings.fixtures:
        return Path(settings.fixtures)
    bundled = data_path("fixtures")
    return bundled if bundled.is_dir() else None


def _lenient_copy(document: dict[str, Any]) -> dict[str, Any]:
    """Requests: unknown body fields are tolerated (newer SDKs add them before the spec does)."""
    copy: dict[str, Any] = orjson.loads(orjson.dumps(document))
    from fakeai.spec.normalize import document_schemas

    for schema in document_schemas(copy):
        if schema.get("additionalProperties") is False:
            del schema["additionalProperties"]
    return copy


class ErrorMiddleware:
    """Outermost layer: routing 404/405 and any unexpected failure become OpenAI error bodies."""

    def __init__(self, app: ASGIApp, events: Events, clock: Clock | None = None) -> None:
        self.app = app
        self.events = events
        self.clock = clock or SystemClock()
        self.websocket: ASGIApp | None = None  # fakeai.realtime: /v1/realtime (create_app sets it)
        self.envelope_of: Callable[[str], str] = lambda _path: "openai"  # errors with no operation (create_app)
        self.on_startup: list[Callable[[], Awaitable[None]]] = []  # run by the ASGI lifespan
        self.on_shutdown: list[Callable[[], Awaitable[None]]] = []
        self.checks: list[Callable[[Scope], None]] = []  # run on every request before routing (fakeai.limits)
        self.timed: Callable[[], bool] = lambda: True  # may an answer wait for a deadline? (create_app: _timed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self.on_startup, self.on_shutdown)
            return
        if scope["type"] != "http":
            if scope["type"] == "websocket" and self.websocket is not None:
                try:
                    await self.websocket(scope, receive, send)
                except Exception:
                    log.exception("realtime connection failed (%s)", scope.get("path"))
            return
        scope["app"] = self  # makes Starlette's router raise HTTPException(405) instead of answering plain text
        # Deadlines (TTFT, ITL) count from arrival. Yielding once lets every request of a burst record its
        # arrival before any of them does CPU work, so fakeai's own overhead counts inside TTFT, not before it.
        # Answers due at once (no simulated latency: a throughput test) skip that loop turn (~10 µs).
        scope[ARRIVED] = self.clock.monotonic()
        if self.timed():
            await asyncio.sleep(0)
        tracked = _TrackedSend(send)
        try:
            for check in self.checks:
                check(scope)
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if tracked.started:
                if isinstance(exc, StreamReset):  # a deliberate scenario fault: the connection just drops
                    log.info("%s (%s %s)", exc, scope["method"], scope["path"])
                    return
                log.exception("failure after the response started (%s %s)", scope["method"], scope["path"])
                return
            error = _as_api_error(exc, scope, self.app)
            self.events.emit(RequestRejected(scope["method"], scope["path"], error.status, error.message))
            envelope = self.envelope_of(scope["path"])
            await respond_error(send, error, envelope, new_request_id() if envelope == "anthropic" else "")


class _TrackedSend:
    """``send``, noting whether the response started (after that an error cannot be answered any more). An
    object of two slots rather than a closure and its cell: every open stream holds one."""

    __slots__ = ("send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    def __call__(self, message: Any) -> Awaitable[None]:  # the server's own awaitable: no coroutine per frame
        if message["type"] == "http.response.start":
            self.started = True
        return self.send(message)


_UNTIMED_SIMULATORS = frozenset({"kv_cache", "gpu", "faults"})  # no delay of their own (faults: scenarios')


def _timed(chain: Sequence[Any], scenarios: ScenarioEngine) -> Callable[[], bool]:
    """Whether an answer may now wait for a deadline counted from its arrival: the latency simulator has a
    non-zero TTFT, ITL or prefill cost (PUT /_fakeai/latency changes that at runtime), another simulator that
    plans timings runs (the engine, a plugin's), or scenarios are loaded (their delays and faults). A request's
    ``Prefer`` header alone does not count: its delay counts from when fakeai started it."""
    latency = next((s for s in chain if getattr(s, "name", "") == "latency"), None)
    if any(getattr(s, "name", "") not in {"latency", *_UNTIMED_SIMULATORS} for s in chain):
        return lambda: True
    if latency is None:
        return lambda: bool(scenarios.scenarios)
    if not hasattr(latency, "timed"):  # a plugin's simulator under that name
        return lambda: True
    return lambda: latency.timed or bool(scenarios.scenarios)


_WARMING: list[asyncio.Future[None]] = []  # the warm-up of the default vocabulary, while it runs


async def _warm_tokenizers() -> None:
    """``preload_tokenizers``: start loading the default vocabulary (o200k_base: ~0.3 s, ~45 MiB) in a worker
    thread at startup, and serve meanwhile. Without it (the default) every vocabulary is loaded by the first
    request that needs it, in a worker thread (``Pipeline``: the event loop never blocks on it), so an idle
    worker holds none: ~45 MiB for o200k_base, ~23 MiB for cl100k_base (GPT-4, GPT-3.5, the embedding models)."""
    from fakeai.gctune import trim_heap
    from fakeai.producers.text.tokenizer import for_model

    def warm() -> None:
        for_model("gpt-4o").count("warm up")
        trim_heap()  # the vocabulary file's parse is garbage now

    future = asyncio.get_running_loop().run_in_executor(None, warm)
    _WARMING.append(future)
    future.add_done_callback(_WARMING.remove)


async def _freeze_heap() -> None:
    """Move the startup heap out of the collector's way (fakeai.gctune: full collections stall streams)."""
    from fakeai.gctune import freeze

    frozen = freeze()
    log.debug("gc: %d startup objects frozen", frozen)


def _as_api_error(exc: Exception, scope: Scope, app: Any = None) -> APIError:
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, HTTPException):
        if exc.status_code == 405:
            error = method_not_allowed(scope["method"], scope["path"])
            allowed = ", ".join(sorted(_allowed_methods(getattr(app, "router", None), scope)))
            allowed = allowed or (exc.headers or {}).get("Allow", "")
            if allowed:
                error.headers["allow"] = allowed
            return error
        if exc.status_code == 404:
            return not_found(scope["method"], scope["path"])
        return APIError(exc.status_code, str(exc.detail))
    log.exception("unexpected failure answering %s %s", scope["method"], scope["path"])
    return APIError(500, SERVER_ERROR_MESSAGE, type="server_error")


def _allowed_methods(router: Any, scope: Scope) -> set[str]:
    """Every method the spec defines for the request's path. Starlette's own ``Allow`` names only the first
    route that matched the path, and Connexion adds one route per operation (``PATCH /v1/chat/completions``
    said ``GET, HEAD``: the list operation, not the create)."""
    from starlette.routing import Match, Mount, Route

    methods: set[str] = set()
    for route in getattr(router, "routes", ()):
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(route, Route):
            methods |= route.methods or set()
        elif isinstance(route, Mount) and not methods:
            found = _allowed_methods(route.app, {**scope, **child})
            if found:
                return found
    return methods


async def _lifespan(
    receive: Receive,
    send: Send,
    on_startup: Sequence[Callable[[], Awaitable[None]]] = (),
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            for hook in on_startup:
                await hook()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            for hook in on_shutdown:
                await hook()
            await send({"type": "lifespan.shutdown.complete"})
            return


def app_from_environment() -> FakeAI:
    """uvicorn factory for ``--workers N``: every worker rebuilds the same app from the settings."""
    import os

    settings = Settings().merge(orjson.loads(os.environ.get("FAKEAI_SETTINGS_JSON", "{}")), "FAKEAI_SETTINGS_JSON")
    return create_app(settings)
