"""ARCHITECTURE.md's dependency rules, enforced by scanning every module's imports (ast, no execution)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fakeai"
GLOBAL_RNG = {"random", "randint", "randrange", "choice", "choices", "shuffle", "sample", "uniform", "gauss", "seed"}


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(("fakeai", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        found[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return found


MODULES = modules()


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def runtime_imports(tree: ast.Module, module: str) -> set[str]:
    """Absolute names imported at run time (``if TYPE_CHECKING:`` blocks excluded; relative imports resolved)."""
    names: set[str] = set()
    skip: set[int] = set()
    for node in ast.walk(tree):
        if _type_checking_block(node):
            skip.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: -node.level]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def imports_of(prefix: str) -> dict[str, set[str]]:
    return {m: runtime_imports(t, m) for m, t in MODULES.items() if m == prefix or m.startswith(prefix + ".")}


def offenders(prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in imports_of(prefix).items()
        for name in names
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


def test_the_scan_sees_the_package() -> None:
    assert {"fakeai.pipeline", "fakeai.context", "fakeai.producers.text.chat", "fakeai.simulators.latency"} <= set(
        MODULES
    )
    assert "fakeai.context" in runtime_imports(MODULES["fakeai.pipeline"], "fakeai.pipeline")


def test_context_is_plain_data() -> None:
    fakeai_imports = {n for n in runtime_imports(MODULES["fakeai.context"], "fakeai.context") if n.startswith("fakeai")}
    assert fakeai_imports == set(), "fakeai/context.py must not import fakeai at run time"


@pytest.mark.parametrize("layer", ["fakeai.producers", "fakeai.simulators", "fakeai.generated", "fakeai.media"])
def test_stages_never_import_the_assembly_or_the_listeners(layer: str) -> None:
    assert offenders(layer, ("fakeai.pipeline", "fakeai.app", "fakeai.journal", "fakeai.metrics", "fakeai.admin")) == []


@pytest.mark.parametrize("module", ["fakeai.pipeline", "fakeai.context", "fakeai.operations", "fakeai.producers"])
def test_the_request_path_never_touches_prometheus(module: str) -> None:
    assert offenders(module, ("prometheus_client",)) == []


def test_lower_layers_never_import_the_scenario_engine() -> None:
    """Producers and generated data get scenario decisions through the context, never by importing the engine."""
    assert offenders("fakeai.generated", ("fakeai.scenario", "fakeai.producers")) == []
    assert offenders("fakeai.media", ("fakeai.scenario", "fakeai.producers", "fakeai.generated")) == []
    assert offenders("fakeai.spec", ("fakeai.producers", "fakeai.scenario", "fakeai.simulators")) == []


def test_no_global_random_number_generator() -> None:
    """Randomness comes from ``ctx.rng`` / a ``random.Random(seed)``; ``random.choice(...)`` would be global state."""
    calls = []
    for module, tree in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                if isinstance(owner, ast.Name) and owner.id == "random" and node.func.attr in GLOBAL_RNG:
                    calls.append(f"{module}:{node.lineno} random.{node.func.attr}()")
                numpy_global = ast.unparse(owner) == "np.random" and node.func.attr != "default_rng"
                if isinstance(owner, ast.Attribute) and numpy_global:
                    calls.append(f"{module}:{node.lineno} np.random.{node.func.attr}()")
    assert calls == []
