"""fakeai's control plane under ``/_fakeai``, described by ``spec/admin.yaml``.

Connexion routes it like the OpenAI API (a routing-only document, the operationId lands in the
scope); :class:`AdminDispatch` sends admin operationIds here and everything else to the pipeline.
Requests are parsed and validated by the same compiled machinery as the OpenAI API
(:class:`~fakeai.operations.CompiledOperation` over the admin document); errors use OpenAI's envelope.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from starlette.types import ASGIApp, Receive, Scope, Send

from fakeai.bundled import data_path
from fakeai.config import Settings
from fakeai.context import Output, Timing
from fakeai.errors import APIError, ConfigError, ScenarioError
from fakeai.expect import evaluate, verdict
from fakeai.journal import Filter, dump, mask
from fakeai.media.formats import parse_size
from fakeai.media.links import rendered, signed
from fakeai.metrics import CONTENT_TYPE
from fakeai.operations import CompiledOperation, compile_operations
from fakeai.parse.coerce import parse_query
from fakeai.pipeline import ROUTING, parse_body, read_body
from fakeai.plugins import Registry
from fakeai.producers.base import CompileEnv
from fakeai.simulators.base import Resettable, state_of
from fakeai.spec.load import load_document
from fakeai.spec.operation import Operation, iter_operations
from fakeai.spec.routing import routing_document
from fakeai.spec.validate import Validators
from fakeai.streaming import respond, respond_error
from fakeai.ui import feed as ui_feed
from fakeai.ui import page as ui_page

if TYPE_CHECKING:
    from fakeai.app import FakeAI
    from fakeai.scenario.engine import ScenarioEngine

BASE_PATH = "/_fakeai"
IMAGE_NAME = re.compile(r"^([0-9a-f]{1,16})\.(png|jpeg|webp)$")
SECRET_WORDS = ("key", "token", "secret", "password")


@dataclass(frozen=True, slots=True)
class AdminRequest:
    operation_id: str
    path_params: Mapping[str, str]
    query: Mapping[str, Any]
    body: Any  # parsed JSON, YAML/plain text as str, or None
    content_type: str


@dataclass(frozen=True, slots=True)
class AdminResponse:
    body: Any
    status: int = 200
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[["FakeAI", AdminRequest], Awaitable[AdminResponse]]
HANDLERS: Registry[Handler] = Registry("admin handler")  # by operationId in spec/admin.yaml
handler = HANDLERS.register


@runtime_checkable
class LatencyControl(Protocol):
    """What ``/_fakeai/latency`` drives (the ``latency`` simulator)."""

    name: str

    def state(self) -> Mapping[str, Any]: ...

    def set(self, values: Mapping[str, Any], model: str | None = None, where: str = "latency") -> Any: ...


class AdminAPI:
    """The admin operations compiled from ``spec/admin.yaml``; :meth:`attach` gives them the app."""

    def __init__(self, settings: Settings) -> None:
        self.document = load_document(data_path("spec") / "admin.yaml")
        self.operation_list: list[Operation] = list(iter_operations(self.document))
        strict = dataclasses.replace(settings, validation="strict")
        env = CompileEnv(self.document, Validators(self.document), strict, None, None)
        self.operations: dict[str, CompiledOperation] = compile_operations(self.operation_list, env, [])
        missing = set(self.operations) ^ set(HANDLERS)
        assert not missing, f"admin.yaml and fakeai.admin.HANDLERS disagree on {sorted(missing)}"
        # x-fakeai-public: answered without the API key (the image URLs images answers hand out)
        self.public = frozenset(op.operation_id for op in self.operation_list if op.extensions.get("x-fakeai-public"))
        self.app: FakeAI | None = None
        self.started = 0.0

    @property
    def routes(self) -> dict[str, Any]:
        return routing_document(self.operation_list, title="fakeai control plane")

    @property
    def root_operations(self) -> list[Operation]:
        """Operations also routed at the server root: ``x-fakeai-root: true`` at their own path (``/metrics``),
        ``x-fakeai-root: /health`` at that path (vLLM's ``/health`` and ``/version``)."""
        marked = [(op, op.extensions.get("x-fakeai-root")) for op in self.operation_list]
        return [dataclasses.replace(op, path=where) if isinstance(where, str) else op for op, where in marked if where]

    def attach(self, app: FakeAI) -> None:
        self.app = app
        self.started = app.pipeline.clock.monotonic()

    def in_front_of(self, pipeline: ASGIApp) -> AdminDispatch:
        return AdminDispatch(self, pipeline)

    async def handle(self, scope: Scope, receive: Receive, send: Send, operation_id: str) -> None:
        assert self.app is not None, "AdminAPI.attach(app) was not called"
        clock = self.app.pipeline.clock
        started = clock.monotonic()
        try:
            request = await self.parse(scope, receive, self.operations[operation_id])
            answer = await HANDLERS.get(operation_id)(self.app, request)
        except APIError as exc:
            await respond_error(send, exc)
            return
        if isinstance(answer, AdminStream):  # an endless answer (the dashboard's live feed): it writes itself
            await answer.stream(send, receive)
            return
        output = Output(
            status=answer.status,
            body=answer.body,
            content_type=answer.content_type,
            headers=answer.headers,
            source="admin",
        )
        await respond(send, output, Timing(), clock, started, request_id="")

    async def parse(self, scope: Scope, receive: Receive, compiled: CompiledOperation) -> AdminRequest:
        assert self.app is not None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if compiled.operation.operation_id not in self.public:
            self.app.pipeline.authorize(headers)  # the control plane needs the same API key as the API
        raw = await read_body(receive, headers, self.app.settings.max_body_bytes, self.app.settings.body_read_timeout)
        path_params = {k: str(v) for k, v in (scope.get("path_params") or {}).items()}
        compiled.check_path(path_params)
        query = compiled.parse_query(parse_query(scope.get("query_string", b"")))
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"):
            body: Any = raw.decode("utf-8", "replace") if raw.strip() else None
            content_type = "application/yaml" if "yaml" in content_type else content_type
        else:
            body, _files = await parse_body(raw, content_type, headers, self.app.settings.max_json_depth)
        body = compiled.parse_body(content_type or "application/json", body, {})
        return AdminRequest(compiled.operation.operation_id, path_params, query, body, content_type)


class AdminDispatch:
    """What Connexion routes to: admin operationIds go to :class:`AdminAPI`, the rest to the pipeline."""

    def __init__(self, admin: AdminAPI, pipeline: ASGIApp) -> None:
        self.admin = admin
        self.pipeline = pipeline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        op_id = (scope.get("extensions") or {}).get(ROUTING, {}).get("operation_id")
        if op_id in self.admin.operations:
            await self.admin.handle(scope, receive, send, op_id)
        else:
            await self.pipeline(scope, receive, send)


# handlers ----------------------------------------------------------------------------------------
def _engine(app: FakeAI) -> ScenarioEngine:
    engine = app.scenarios
    if engine is None:
        raise APIError(501, "This fakeai has no scenario engine.", type="server_error", code="not_implemented")
    return engine


@handler("fakeai_getHealth")
async def get_health(app: FakeAI, request: AdminRequest) -> AdminResponse:
    engine = app.scenarios
    admin = app.admin
    return AdminResponse(
        {
            "status": "ok",
            "operations": len(app.operations),
            "scenarios": len(engine.scenarios) if engine is not None else 0,
            "journal": len(app.journal),  # with --state redis://: 503 while the backend is away (readiness)
            "state": app.broadcast.shared.where if app.broadcast is not None else (app.settings.state or "process"),
            "uptime_seconds": app.pipeline.clock.monotonic() - (admin.started if admin is not None else 0.0),
        }
    )


@handler("fakeai_getVllmHealth")
async def get_vllm_health(app: FakeAI, request: AdminRequest) -> AdminResponse:
    """vLLM's readiness probe: 200, empty body; with --state redis://, 503 while the backend is away."""
    if app.broadcast is not None:
        shared = app.broadcast.shared
        with shared.guard():
            shared.client.ping()
    return AdminResponse(b"", content_type="text/plain")


@handler("fakeai_getVersion")
async def get_version(app: FakeAI, request: AdminRequest) -> AdminResponse:
    from fakeai import __version__  # fakeai/__init__.py imports lazily; at module level this would be a cycle

    return AdminResponse({"version": __version__})


@handler("fakeai_listScenarios")
async def list_scenarios(app: FakeAI, request: AdminRequest) -> AdminResponse:
    engine = app.scenarios
    return AdminResponse({"data": engine.summary() if engine is not None else []})


@handler("fakeai_putScenario")
async def put_scenario(app: FakeAI, request: AdminRequest) -> AdminResponse:
    name = request.path_params["name"]
    text = request.body.get("yaml") if isinstance(request.body, dict) else request.body
    if not isinstance(text, str):
        message = 'Send the scenario as YAML text (Content-Type: application/yaml) or as JSON {"yaml": ...}.'
        raise APIError(415, message, code="unsupported_media_type")
    try:
        _engine(app).load(name, text, source=f"<admin:{name}>")
    except ScenarioError as exc:
        raise APIError(
            400,
            f"Invalid scenario {name!r}; the previous version (if any) is kept: {exc}",
            param="yaml",
            code="invalid_scenario",
        ) from None
    _publish(app, {"kind": "put_scenario", "name": name, "yaml": text})
    return AdminResponse({"name": name, "loaded": True})


@handler("fakeai_deleteScenario")
async def delete_scenario(app: FakeAI, request: AdminRequest) -> AdminResponse:
    name = request.path_params["name"]
    if not _engine(app).remove(name):
        raise APIError(404, f"No scenario named {name!r} is loaded.", param="name", code="scenario_not_found")
    _publish(app, {"kind": "delete_scenario", "name": name})
    return AdminResponse({"name": name, "removed": True})


@handler("fakeai_resetState")
async def reset_state(app: FakeAI, request: AdminRequest) -> AdminResponse:
    body = request.body if isinstance(request.body, dict) else {}
    namespace = request.query.get("namespace", body.get("namespace"))
    _engine(app).reset_state(namespace)
    if app.store is not None:
        app.store.clear(namespace)
    _reset_local(app, namespace)
    _publish(app, {"kind": "reset", "namespace": namespace})
    return AdminResponse({"reset": True, **({"namespace": namespace} if namespace is not None else {})})


@handler("fakeai_getJournal")
async def get_journal(app: FakeAI, request: AdminRequest) -> AdminResponse:
    q = request.query
    where = Filter(
        rule=q.get("rule"),
        operation=q.get("operation"),
        conversation=q.get("conversation"),
        namespace=q.get("namespace"),
        status=q.get("status"),
        source=q.get("source"),
    )
    entries = app.journal.select(where, limit=int(q.get("limit", 100)), after=int(q.get("after", 0)))
    return AdminResponse({"data": dump(entries), "total": len(app.journal), "dropped": app.journal.dropped})


@handler("fakeai_clearJournal")
async def clear_journal(app: FakeAI, request: AdminRequest) -> AdminResponse:
    return AdminResponse({"cleared": app.journal.clear()})


@handler("fakeai_getExpectations")
async def get_expectations(app: FakeAI, request: AdminRequest) -> AdminResponse:
    engine = app.scenarios
    namespace = request.query.get("namespace")
    entries = app.journal.select(Filter(namespace=namespace))
    results = evaluate(engine.expectations() if engine is not None else [], entries)
    summary = verdict(entries, float(request.query.get("min_backoff", 0.25)))
    return AdminResponse(
        {
            "passed": all(r.passed for r in results),
            "results": [r.to_dict() for r in results],
            "verdict": summary.to_dict(),
        }
    )


@handler("fakeai_getMetrics")
async def get_metrics(app: FakeAI, request: AdminRequest) -> AdminResponse:
    return AdminResponse(app.metrics.render(), content_type=CONTENT_TYPE)


@handler("fakeai_getConfig")
async def get_config(app: FakeAI, request: AdminRequest) -> AdminResponse:
    return AdminResponse({"settings": masked_settings(app.settings)})


@handler("fakeai_getSimulators")
async def get_simulators(app: FakeAI, request: AdminRequest) -> AdminResponse:
    data = [{"name": str(getattr(s, "name", type(s).__name__)), "state": state_of(s)} for s in app.simulators]
    return AdminResponse({"data": data})


def _latency(app: FakeAI) -> LatencyControl:
    found = next((s for s in app.simulators if isinstance(s, LatencyControl) and s.name == "latency"), None)
    if found is None:
        raise APIError(409, "The latency simulator is not running (see --simulator).", code="simulator_not_running")
    return found


@handler("fakeai_getLatency")
async def get_latency(app: FakeAI, request: AdminRequest) -> AdminResponse:
    return AdminResponse(_latency(app).state())


@handler("fakeai_putLatency")
async def put_latency(app: FakeAI, request: AdminRequest) -> AdminResponse:
    body = dict(request.body)
    model = body.pop("model", None)
    latency = _latency(app)
    try:
        latency.set(body, model, where="latency")
    except ConfigError as exc:
        raise APIError(400, str(exc), param="ttft" if "ttft" in str(exc) else "itl", code="invalid_latency") from None
    _publish(app, {"kind": "latency", "body": body, "model": model})
    return AdminResponse(latency.state())


def _reset_local(app: FakeAI, namespace: str | None) -> None:
    """What each replica keeps for itself: usage counters, simulator state (KV cache, engine queue)."""
    if app.usage is not None:
        app.usage.reset(namespace)
    for simulator in app.simulators:
        if isinstance(simulator, Resettable):
            simulator.reset(namespace)


def _publish(app: FakeAI, change: Mapping[str, Any]) -> None:
    if app.broadcast is not None:
        app.broadcast.publish(change)


def apply_change(app: FakeAI, change: Mapping[str, Any]) -> None:
    """Another replica's admin change, here (``--state redis://``: :class:`fakeai.state.shared.Broadcast`).
    What lives in the shared backend was changed there once; this applies what each process holds."""
    kind = change.get("kind")
    engine = app.scenarios
    if kind == "put_scenario" and engine is not None:
        engine.load(str(change["name"]), str(change["yaml"]), source=f"<admin:{change['name']}>", reset=False)
    elif kind == "delete_scenario" and engine is not None:
        engine.remove(str(change["name"]), reset=False)
    elif kind == "reset":
        _reset_local(app, change.get("namespace"))
    elif kind == "latency":
        _latency(app).set(dict(change.get("body") or {}), change.get("model"), where="latency")


@handler("fakeai_getReload")
async def get_reload(app: FakeAI, request: AdminRequest) -> AdminResponse:
    reloader = app.reloader
    return AdminResponse(reloader.status() if reloader is not None else {"enabled": False, "files": []})


def masked_settings(settings: Settings) -> dict[str, Any]:
    """Every setting as JSON; API keys and secret-looking ``extra`` values masked."""
    out = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    out["api_keys"] = [mask(k) for k in settings.api_keys]
    out["extra"] = _mask_secrets(settings.extra)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _mask_secrets(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out[key] = _mask_secrets(value)
        elif any(word in str(key).lower() for word in SECRET_WORDS) and value is not None:
            out[key] = mask(str(value))
        else:
            out[key] = value
    return out


def operation_ids() -> Iterable[str]:
    return HANDLERS.names()


@handler("fakeai_getImage")
async def get_image(app: FakeAI, request: AdminRequest) -> AdminResponse:
    """The deterministic picture an images answer linked to (``image_url`` in producers/endpoints/images)."""
    name = request.path_params.get("name", "")
    match = IMAGE_NAME.match(name)
    if match is None:
        raise APIError(404, f"No image at {BASE_PATH}/images/{name}.", code="not_found")
    size = request.query.get("size") or "1024x1024"
    if not signed(app.settings, name, size, request.query.get("sig")):  # api_keys set: only URLs we handed out
        raise APIError(404, f"No image at {BASE_PATH}/images/{name}.", code="not_found")
    width, height = parse_size(size)
    if width * height > app.settings.max_image_pixels:
        raise APIError(400, f"Image size {size} is larger than {app.settings.max_image_pixels} pixels.", param="size")
    seed = int(match.group(1), 16)
    data, content_type = await asyncio.to_thread(rendered, match.group(2), width, height, seed)  # ~2 s at 4096x4096
    return AdminResponse(data, content_type=content_type, headers={"cache-control": "public, max-age=86400"})


# the dashboard (fakeai/ui) ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class AdminStream(AdminResponse):
    """An answer that writes itself to the socket for as long as it likes (``stream(send, receive)``)."""

    stream: Callable[[Send, Receive], Awaitable[None]]


@handler("fakeai_getUi")
async def get_ui(app: FakeAI, request: AdminRequest) -> AdminResponse:
    return AdminResponse(ui_page.html(), content_type="text/html; charset=utf-8", headers=ui_page.HEADERS)


@handler("fakeai_getUiAsset")
async def get_ui_asset(app: FakeAI, request: AdminRequest) -> AdminResponse:
    name = request.path_params.get("asset", "")
    found = ui_page.asset(name)
    if found is None:
        raise APIError(404, f"No dashboard asset at {BASE_PATH}/ui/assets/{name}.", code="not_found")
    data, content_type = found
    return AdminResponse(data, content_type=content_type, headers=ui_page.HEADERS)


@handler("fakeai_getUiEvents")
async def get_ui_events(app: FakeAI, request: AdminRequest) -> AdminResponse:
    """x-fakeai-public in admin.yaml because EventSource cannot send headers: the key comes as ``?key=``."""
    key = request.query.get("key")
    app.pipeline.authorize({"authorization": f"Bearer {key}"} if key else {})
    feed = ui_feed.Feed(app.journal, after=int(request.query.get("after", 0)))
    return AdminStream(body=None, content_type="text/event-stream", stream=feed.run)


@handler("fakeai_getUiEntry")
async def get_ui_entry(app: FakeAI, request: AdminRequest) -> AdminResponse:
    seq = request.path_params.get("seq", "")
    entry = ui_feed.find(app.journal, int(seq)) if seq.isdigit() else None
    if entry is None:
        raise APIError(404, f"No journal entry with seq {seq} (it may have left the ring).", code="not_found")
    return AdminResponse(entry.to_dict())
