"""The deployment files (Dockerfile, deploy/compose-replicas.yml, deploy/k8s/) checked against fakeai, no docker:
the commands they run parse with fakeai's own parser, their FAKEAI_* variables are settings, their probe and
scrape paths answer 200, the scenarios they mount load, and their names and ports point at each other."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest

from fakeai import yamlload
from fakeai.cli import build_parser, settings_from_args
from fakeai.config import Settings, from_env, load_settings
from fakeai.scenario import Scenario
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose-replicas.yml"
SCRAPE = DEPLOY / "prometheus" / "replicas.yml"
K8S = DEPLOY / "k8s"
YAML_FILES = [COMPOSE, SCRAPE, *sorted(K8S.glob("*.yaml"))]


def load(path: Path) -> Any:
    return yamlload.load(path.read_text(encoding="utf-8"), str(path)).data


def dockerfile() -> list[tuple[str, str]]:
    """The final stage's instructions, ``(INSTRUCTION, rest)``, continuation lines joined."""
    stages: list[list[tuple[str, str]]] = []
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            if instruction.upper() == "FROM":
                stages.append([])
            stages[-1].append((instruction.upper(), rest.strip()))
    return stages[-1]


def instructions(name: str) -> list[str]:
    return [rest for instruction, rest in dockerfile() if instruction == name]


IMAGE_ENV = dict(item.split("=", 1) for rest in instructions("ENV") for item in shlex.split(rest))
ENTRYPOINT, CMD = json.loads(instructions("ENTRYPOINT")[-1]), json.loads(instructions("CMD")[-1])
EXPOSED = int(instructions("EXPOSE")[-1])
SERVICES: dict[str, Any] = load(COMPOSE)["services"]
REPLICAS = {
    n: s for n, s in SERVICES.items() if (DEPLOY / s.get("build", {}).get("context", "/nonexistent")).resolve() == ROOT
}
OBJECTS = {
    (o["kind"], o["metadata"]["name"]): o for o in map(load, sorted(K8S.glob("*.yaml"))) if o["kind"] != "Kustomization"
}
POD = OBJECTS["Deployment", "fakeai"]["spec"]["template"]
CONTAINER = POD["spec"]["containers"][0]


def k8s_env(container: dict[str, Any]) -> dict[str, str]:
    return {**IMAGE_ENV, **{e["name"]: e["value"] for e in container.get("env", ())}}


def commands() -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each way the image is started: argv (ENTRYPOINT + CMD, as overridden) and its environment."""
    found = {"Dockerfile": ([*ENTRYPOINT, *CMD], IMAGE_ENV)}
    for name, service in REPLICAS.items():
        env = service.get("environment", {})
        env = dict(e.split("=", 1) for e in env) if isinstance(env, list) else env
        found[f"compose:{name}"] = (
            [*service.get("entrypoint", ENTRYPOINT), *service.get("command", CMD)],
            {**IMAGE_ENV, **env},
        )
    args = CONTAINER.get("args", None if "command" in CONTAINER else CMD)
    found["k8s:fakeai"] = ([*CONTAINER.get("command", ENTRYPOINT), *(args or ())], k8s_env(CONTAINER))
    return found


COMMANDS = commands()


def parsed(source: str, capsys: pytest.CaptureFixture[str]) -> Any:
    argv, _env = COMMANDS[source]
    assert argv[0] == "fakeai", f"{source} does not run fakeai: {argv}"
    try:
        return build_parser().parse_args(argv[1:])
    except SystemExit:
        error = capsys.readouterr().err.strip().splitlines()[-1]
    pytest.fail(f"{source}: {argv[1:]}: {error}")


def flag(source: str, name: str) -> list[str]:
    argv = COMMANDS[source][0]
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == name]


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_deploy_yaml_parses_to_a_mapping(path: Path) -> None:
    assert isinstance(load(path), dict)


def test_kustomization_lists_every_manifest() -> None:
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(load(K8S / "kustomization.yaml")["resources"]) == sorted(manifests)


@pytest.mark.parametrize("source", COMMANDS)
def test_every_fakeai_flag_exists(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    parsed(source, capsys)


@pytest.mark.parametrize("source", COMMANDS)
def test_the_server_listens_on_the_exposed_port_of_every_interface(
    source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_from_args(parsed(source, capsys), COMMANDS[source][1])
    assert (settings.host, settings.port) == ("0.0.0.0", EXPOSED)


FAKEAI_VARIABLES = sorted(
    {
        name
        for path in [ROOT / "Dockerfile", *YAML_FILES]
        for name in re.findall(r"\bFAKEAI_[A-Z0-9_]+", path.read_text())
    }
)


@pytest.mark.parametrize("name", FAKEAI_VARIABLES)
def test_every_fakeai_variable_is_a_setting_or_read_by_fakeai(name: str) -> None:
    mapped = from_env({name: "x"})
    if mapped:  # FAKEAI_PORT -> port
        assert set(mapped) <= {f.name for f in fields(Settings)}, f"{name} is no setting"
    else:  # skipped by from_env: read elsewhere (FAKEAI_CACHE_DIR)
        sources = "".join(p.read_text() for p in (ROOT / "fakeai").rglob("*.py") if p.name != "config.py")
        assert f'"{name}"' in sources, f"{name} is skipped as a setting but fakeai never reads it"


@pytest.mark.parametrize("source", COMMANDS)
def test_every_fakeai_variable_value_loads(source: str) -> None:
    load_settings({}, {k: v for k, v in COMMANDS[source][1].items() if k.startswith("FAKEAI_")})


def probe_paths() -> set[str]:
    urls = [*instructions("HEALTHCHECK"), *(" ".join(s["healthcheck"]["test"]) for s in REPLICAS.values())]
    quoted = r"""['"](?:http://[^/'"]*)?(/[^'"]*)['"]"""  # '/health' or 'http://host:port/health'
    paths = set(re.findall(quoted, " ".join(urls)))
    paths |= {CONTAINER[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe") if "httpGet" in CONTAINER[p]}
    paths |= {job.get("metrics_path", "/metrics") for job in load(SCRAPE)["scrape_configs"]}
    annotated = [POD["metadata"], OBJECTS["Service", "fakeai"]["metadata"]]
    return paths | {m["annotations"]["prometheus.io/path"] for m in annotated}


@pytest.mark.parametrize("path", sorted(probe_paths()))
async def test_every_probe_and_scrape_path_answers_200_without_a_key(path: str) -> None:
    app = make_app(api_keys=("sk-deploy",))  # probes and scrapers send no key
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://fakeai.test") as http:
        assert (await http.get(path)).status_code == 200


def test_dockerfile_runs_as_a_non_root_user() -> None:
    user = instructions("USER")[-1].split(":")[0]
    assert user not in ("", "root", "0")
    assert POD["spec"]["securityContext"]["runAsUser"] == int(user)  # the pod runs as the image's user


def test_dockerfile_has_a_healthcheck() -> None:
    assert instructions("HEALTHCHECK") and not instructions("HEALTHCHECK")[-1].upper().startswith("NONE")


def test_dockerfile_copies_what_the_wheel_is_built_from() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {"pyproject.toml", project["project"]["readme"], *wheel["packages"], *wheel["force-include"]}
    text = (ROOT / "Dockerfile").read_text()
    copied = {src for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M) for src in line.split()[:-1]}
    allowed = {line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    assert (needed - copied, needed - allowed) == (set(), set())


def test_image_installs_the_redis_and_speed_extras() -> None:
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    installed = re.search(r"fakeai_server-\*\.whl\)\[([a-z,]+)\]", (ROOT / "Dockerfile").read_text())
    assert installed, "the Dockerfile installs no wheel with extras"
    assert set(installed[1].split(",")) == {"redis", "speed"} <= extras, f"pyproject.toml extras: {sorted(extras)}"


def test_compose_runs_three_fakeai_replicas_valkey_and_prometheus() -> None:
    images = [s.get("image", "").split(":")[0] for n, s in SERVICES.items() if n not in REPLICAS]
    assert (len(REPLICAS), sorted(images)) == (3, ["prom/prometheus", "valkey/valkey"])


def test_compose_replicas_are_healthchecked_and_wait_for_a_healthy_valkey() -> None:
    valkey = next(n for n, s in SERVICES.items() if s.get("image", "").startswith("valkey/"))
    assert "healthcheck" in SERVICES[valkey]
    for service in REPLICAS.values():
        assert "healthcheck" in service and service["depends_on"][valkey] == {"condition": "service_healthy"}


def test_prometheus_scrapes_every_replica() -> None:
    prometheus = next(s for s in SERVICES.values() if s.get("image", "").startswith("prom/"))
    mounted = {(DEPLOY / v.split(":")[0]).resolve(): v.split(":")[1] for v in prometheus["volumes"]}
    assert mounted[SCRAPE] == "/etc/prometheus/prometheus.yml"
    targets = {t for job in load(SCRAPE)["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert targets == {f"{name}:{EXPOSED}" for name in REPLICAS}


@pytest.mark.parametrize("source", [s for s in COMMANDS if s != "Dockerfile"])
def test_state_points_at_the_valkey_service(source: str) -> None:
    (url,) = flag(source, "--state")
    state = urlsplit(url)
    if source.startswith("compose:"):
        valkey = {n: 6379 for n, s in SERVICES.items() if s.get("image", "").startswith("valkey/")}
    else:
        valkey = {
            OBJECTS["Service", "valkey"]["metadata"]["name"]: OBJECTS["Service", "valkey"]["spec"]["ports"][0]["port"]
        }
    assert (state.scheme, valkey.get(state.hostname)) == ("redis", state.port)


@pytest.mark.parametrize("source", [s for s in COMMANDS if s.startswith("compose:")])
def test_compose_scenarios_are_repo_files_that_load(source: str) -> None:
    mounts = {v.split(":")[1]: (DEPLOY / v.split(":")[0]).resolve() for v in REPLICAS[source[8:]]["volumes"]}
    scenarios = flag(source, "--scenario")
    assert scenarios
    for path in scenarios:
        Scenario.from_yaml(mounts[str(Path(path).parent)] / Path(path).name)


def test_configmap_scenario_is_the_repo_file_and_loads() -> None:
    (path,) = flag("k8s:fakeai", "--scenario")
    mount = next(m for m in CONTAINER["volumeMounts"] if m["mountPath"] == str(Path(path).parent))
    volume = next(v for v in POD["spec"]["volumes"] if v["name"] == mount["name"])
    text = OBJECTS["ConfigMap", volume["configMap"]["name"]]["data"][Path(path).name]
    assert text == (ROOT / "scenarios" / Path(path).name).read_text(encoding="utf-8")
    Scenario.from_text(text, f"configmap:{path}")


def test_service_targets_the_container_port_and_selects_the_pods() -> None:
    service = OBJECTS["Service", "fakeai"]["spec"]
    (port,) = service["ports"]
    (container_port,) = [p for p in CONTAINER["ports"] if port["targetPort"] in (p.get("name"), p["containerPort"])]
    assert (service["type"], port["port"], container_port["containerPort"]) == ("ClusterIP", EXPOSED, EXPOSED)
    assert service["selector"].items() <= POD["metadata"]["labels"].items()


def test_probes_and_scrape_annotations_use_the_container_port() -> None:
    names = {p.get("name"): p["containerPort"] for p in CONTAINER["ports"]} | {EXPOSED: EXPOSED}
    probes = [
        (CONTAINER[p].get("httpGet") or CONTAINER[p]["tcpSocket"])["port"] for p in ("readinessProbe", "livenessProbe")
    ]
    annotated = [POD["metadata"], OBJECTS["Service", "fakeai"]["metadata"]]
    scraped = [int(m["annotations"]["prometheus.io/port"]) for m in annotated]
    assert [names.get(p) for p in probes] + scraped == [EXPOSED] * 4


def test_deployment_runs_three_replicas_with_requests_and_limits() -> None:
    resources = CONTAINER["resources"]
    assert OBJECTS["Deployment", "fakeai"]["spec"]["replicas"] == 3
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def test_pod_is_non_root_and_writes_only_to_empty_dirs() -> None:
    security = POD["spec"]["securityContext"] | CONTAINER["securityContext"]
    assert (security["runAsNonRoot"], security["readOnlyRootFilesystem"]) == (True, True)
    empty = {v["name"] for v in POD["spec"]["volumes"] if "emptyDir" in v}
    writable = {m["mountPath"] for m in CONTAINER["volumeMounts"] if m["name"] in empty}
    assert k8s_env(CONTAINER)["FAKEAI_CACHE_DIR"] in writable


def test_valkey_service_selects_the_valkey_pods_port() -> None:
    pod = OBJECTS["Deployment", "valkey"]["spec"]["template"]
    (port,) = OBJECTS["Service", "valkey"]["spec"]["ports"]
    ports = {p.get("name"): p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
    assert ports[port["targetPort"]] == port["port"]
    assert OBJECTS["Service", "valkey"]["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
