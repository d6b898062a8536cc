"""pytest plugin: an in-process fakeai per test session, isolated per test by a namespace.

    def test_agent(fakeai):
        fakeai.use_scenario("tool-calling.yaml")          # a file, a YAML string, a dict or a list of rules
        fakeai.client.chat.completions.create(...)        # openai.OpenAI bound to this test's namespace
        assert len(fakeai.requests(operation="createChatCompletion")) == 2
        fakeai.verify({"max_requests": 3})

    @pytest.mark.fakeai(scenario="flaky.yaml", seed=7, ttft="50")   # other keywords are Settings fields

One uvicorn server per session (per xdist worker) on an ephemeral port serves one app per distinct
settings. Every test gets its own namespace, sent by its clients as ``x-fakeai-namespace``: the
journal is queried by it, scenario state is keyed by it, scenarios it loads only match it and are
removed when it ends. Requests without the header (the application's own OpenAI client) belong to the
running test: while it runs, its namespace is the server's default. Nothing heavy is imported until
a test asks for the fixture.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fakeai.app import FakeAI
    from fakeai.expect import Result
    from fakeai.journal import Entry, Journal

NAMESPACE_HEADER = "x-fakeai-namespace"
MARKER = "fakeai(scenario=None, seed=None, ttft=None, **settings): fakeai settings and scenario for this test"
API_KEY = "sk-fakeai-test"
_COUNTER = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


@contextmanager
def quiet_dependencies() -> Iterator[None]:
    """Third-party deprecation warnings raised while the plugin imports and builds fakeai (Connexion's use of
    ``jsonschema.RefResolver``...) are not the project's: under ``-W error`` / ``filterwarnings = error`` they
    would fail the fixture's setup. The test's own code runs outside this block, with the project's filters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        yield


class Hub:
    """The session's server: routes each request to the app of its namespace (or the default app)."""

    def __init__(self) -> None:
        self.apps: dict[str, FakeAI] = {}  # settings repr -> app
        self.journals: dict[int, Journal] = {}
        self.routes: dict[str, FakeAI] = {}  # namespace -> app
        # the running test's namespace, given to requests that carry none: the application's own clients
        # (tests in one process run one at a time; each xdist worker has its own hub)
        self.current = ""
        self.stack = ExitStack()
        self.base_url = ""

    def start(self) -> Hub:
        with quiet_dependencies():
            from fakeai.testing import serve

            self.base_url = self.stack.enter_context(serve(self)).base_url
        return self

    def close(self) -> None:
        self.stack.close()

    def app_for(self, changes: Mapping[str, Any]) -> FakeAI:
        with quiet_dependencies():
            from fakeai.app import create_app
            from fakeai.config import Settings

            settings = Settings().merge(changes, "pytest.mark.fakeai")
            key = repr(settings)
            if key not in self.apps:
                self.apps[key] = create_app(settings)
        return self.apps[key]

    def journal(self, app: FakeAI) -> Journal:
        own: Journal | None = getattr(app, "journal", None)
        if own is not None:
            return own
        if id(app) not in self.journals:  # an app without a journal of its own: subscribe one
            from fakeai.journal import Journal

            self.journals[id(app)] = Journal().subscribe(app.events)
        return self.journals[id(app)]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        header = NAMESPACE_HEADER.encode()
        namespace = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == header), "")
        if not namespace and self.current and scope["type"] in ("http", "websocket"):
            namespace = self.current
            scope = {**scope, "headers": [*scope.get("headers", ()), (header, namespace.encode("latin-1"))]}
        app = self.routes.get(namespace) or next(iter(self.apps.values()), None) or self.app_for({})
        await app(scope, receive, send)


class FakeAIFixture:
    """What the ``fakeai`` fixture gives a test."""

    def __init__(self, hub: Hub, app: FakeAI, namespace: str, here: Path) -> None:
        self.hub = hub
        self.app = app
        self.namespace = namespace
        self.here = here  # directory of the test module: relative scenario paths start here
        self.api_key = API_KEY
        self.loaded: list[str] = []
        self._client: Any = None
        self._async_client: Any = None

    @property
    def base_url(self) -> str:
        """The API root the openai SDK wants (``http://127.0.0.1:<port>/v1``)."""
        return self.hub.base_url + "/v1"

    @property
    def headers(self) -> dict[str, str]:
        return {NAMESPACE_HEADER: self.namespace}

    @property
    def client(self) -> Any:
        """An ``openai.OpenAI`` for this test (no retries, namespace header set)."""
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                base_url=self.base_url, api_key=self.api_key, max_retries=0, default_headers=self.headers
            )
        return self._client

    @property
    def async_client(self) -> Any:
        """An ``openai.AsyncOpenAI`` for this test; create it inside the test's event loop."""
        if self._async_client is None:
            import httpx2
            import openai

            # no pooled connections: the test's event loop is gone by the time a sync teardown runs
            http = openai.DefaultAsyncHttpxClient(limits=httpx2.Limits(max_keepalive_connections=0))
            self._async_client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self.api_key,
                max_retries=0,
                default_headers=self.headers,
                http_client=http,
            )
        return self._async_client

    @property
    def journal(self) -> Journal:
        return self.hub.journal(self.app)

    def use_scenario(self, source: str | Path | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> str:
        """Load a scenario for this test only: a file (bundled ``scenarios/`` too), YAML text, a mapping or rules.

        Returns the name it was loaded under. Its rules only match this test's namespace.
        """
        text, where, name = self._scenario_text(source)
        from fakeai.scenario.model import Scenario

        scenario = Scenario.from_text(text, where, name)  # errors point into the text as written
        data = scenario.document.data
        for rule in data.get("rules") or ():
            rule.setdefault("match", {}).setdefault("headers", {})[NAMESPACE_HEADER] = self.namespace
        loaded = data["name"] = f"{scenario.name}@{self.namespace}"
        engine = self.app.scenarios
        if engine is None:
            raise RuntimeError("this fakeai build has no scenario engine")
        engine.load(loaded, json.dumps(data), where)
        self.loaded.append(loaded)
        return loaded

    def _scenario_text(self, source: Any) -> tuple[str, str, str | None]:
        if isinstance(source, Mapping):
            return json.dumps(dict(source)), "<mapping>", None
        if isinstance(source, Sequence) and not isinstance(source, str):
            return json.dumps({"rules": [dict(r) for r in source]}), "<rules>", None
        text = str(source)
        if "\n" in text or text.lstrip().startswith(("rules:", "{", "name:")):
            return text, "<yaml>", None
        path = self._find(text)
        return path.read_text(encoding="utf-8"), str(path), path.name.removesuffix(".yaml").removesuffix(".yml")

    def _find(self, name: str) -> Path:
        from fakeai.bundled import data_path

        for candidate in (Path(name), self.here / name, data_path("scenarios") / name):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"scenario {name!r} not found (looked in ., {self.here}, bundled scenarios/)")

    def requests(
        self,
        operation: str | None = None,
        rule: str | None = None,
        status: int | None = None,
        source: str | None = None,
    ) -> list[Entry]:
        """This test's journal entries, oldest first."""
        from fakeai.journal import Filter

        where = Filter(rule=rule, operation=operation, namespace=self.namespace, status=status, source=source)
        return self.journal.select(where)

    def verify(self, expectations: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None) -> list[Result]:
        """Check expectations (``expect:`` entries; default: those of the scenarios this test loaded).

        Raises ``AssertionError`` listing every failed one.
        """
        from fakeai.expect import evaluate

        if expectations is None:
            engine = self.app.scenarios
            specs = [e for e in (engine.expectations() if engine else []) if e.get("scenario") in self.loaded]
        else:
            specs = [dict(expectations)] if isinstance(expectations, Mapping) else [dict(e) for e in expectations]
        results = evaluate(specs, self.requests())
        failed = [r for r in results if not r.passed]
        if failed:
            raise AssertionError("fakeai expectations failed:\n" + "\n".join(f"- {r.name}: {r.detail}" for r in failed))
        return results

    def reset(self) -> None:
        """Forget this test's scenario state (sequences, state machines)."""
        if self.app.scenarios is not None:
            self.app.scenarios.reset_state(self.namespace)

    def close(self) -> None:
        engine = self.app.scenarios
        for name in self.loaded:
            if engine is not None:
                engine.remove(name)
        self.reset()
        if self._client is not None:
            self._client.close()
        self.hub.routes.pop(self.namespace, None)
        if self.hub.current == self.namespace:
            self.hub.current = ""


@pytest.fixture(scope="session")
def fakeai_hub() -> Iterator[Hub]:
    """The session's fakeai server (one per xdist worker)."""
    hub = Hub().start()
    yield hub
    hub.close()


def namespace_for(nodeid: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    digest = hashlib.blake2b(nodeid.encode(), digest_size=4).hexdigest()
    return f"{worker}-{next(_COUNTER)}-{digest}"


@pytest.fixture
def fakeai(request: pytest.FixtureRequest, fakeai_hub: Hub) -> Iterator[FakeAIFixture]:
    """fakeai for this test: ``base_url``, ``api_key``, ``client``, ``async_client``, ``use_scenario``,
    ``requests``, ``verify``. Settings come from ``@pytest.mark.fakeai(...)``."""
    marker = request.node.get_closest_marker("fakeai")
    options = dict(marker.kwargs) if marker is not None else {}
    scenario = options.pop("scenario", None)
    changes = {k: v for k, v in options.items() if v is not None}
    app = fakeai_hub.app_for(changes)
    namespace = namespace_for(request.node.nodeid)
    fakeai_hub.routes[namespace] = app
    fakeai_hub.current = namespace  # requests without the namespace header belong to this test
    fixture = FakeAIFixture(fakeai_hub, app, namespace, Path(str(request.node.path)).parent)
    try:
        for source in [scenario] if isinstance(scenario, (str, Path, Mapping)) else scenario or ():
            fixture.use_scenario(source)
        yield fixture
    finally:
        fixture.close()
