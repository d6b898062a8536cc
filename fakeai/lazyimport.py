"""Modules imported on first use: numpy costs ~16 MiB of resident memory and ~0.1 s at startup, and only media
(images, audio) and embeddings answers need it, so a server that never makes one does not hold it.

    if TYPE_CHECKING:
        import numpy as np
    else:
        np = lazy("numpy")

``lazy`` is the standard library's ``importlib.util.LazyLoader``: the module object goes into ``sys.modules`` at
once (so every other ``import numpy`` gets the same object) and runs its code on the first attribute access;
after that it is an ordinary module. Module-level constants built with the module must become functions
(``functools.cache``), or the first access happens at import anyway.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

__all__ = ["lazy"]


def lazy(name: str) -> ModuleType:
    """``name``, loaded on its first attribute access (at once when it is already imported)."""
    if (module := sys.modules.get(name)) is not None:
        return module
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
