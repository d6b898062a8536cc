"""The dashboard's files, read once from ``fakeai/ui/static`` and served with a strict Content-Security-Policy."""

from __future__ import annotations

import functools
from pathlib import Path

STATIC = Path(__file__).parent / "static"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
ASSETS = frozenset({"app.js", "style.css"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


@functools.cache
def html() -> bytes:
    return (STATIC / "index.html").read_bytes()


@functools.cache
def asset(name: str) -> tuple[bytes, str] | None:
    if name not in ASSETS:
        return None
    path = STATIC / name
    return path.read_bytes(), TYPES[path.suffix]
