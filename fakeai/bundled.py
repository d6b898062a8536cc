"""Where bundled data lives: inside the wheel (``fakeai/_data``) or at the top of a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def data_path(name: str) -> Path:
    """``data_path("fixtures")`` -> the bundled ``fixtures/`` directory (or file), wherever it was installed."""
    packaged = _PACKAGE / "_data" / name
    return packaged if packaged.exists() else _CHECKOUT / name
