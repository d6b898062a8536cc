"""Read a scenario file: YAML with positions, checked against the shipped ``schema.json``.

Every error names ``file:line:column`` and, for an unknown key, the closest valid one. The result
is plain data plus a map from YAML path to position, so later compile errors can point too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jsonschema_rs

from fakeai import yamlload
from fakeai.errors import ScenarioError, closest
from fakeai.spec.pointer import deref, resolve

YamlPath = yamlload.YamlPath
MAX_ERRORS = 10


def schema() -> dict[str, Any]:
    text = resources.files("fakeai.scenario").joinpath("schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


_VALIDATOR: Any = None


def _validator() -> Any:
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = jsonschema_rs.Draft202012Validator(schema())
    return _VALIDATOR


@dataclass(frozen=True)
class Document:
    """A scenario file's data and where each node of it was written."""

    source: str
    data: dict[str, Any]
    positions: Mapping[YamlPath, tuple[int, int]]  # 1-based line, column

    def where(self, path: Sequence[str | int]) -> str:
        key = tuple(path)
        while key and key not in self.positions:
            key = key[:-1]
        line, column = self.positions.get(key, (1, 1))
        return f"{self.source}:{line}:{column}"

    def error(self, path: Sequence[str | int], message: str) -> ScenarioError:
        return ScenarioError(f"{self.where(path)}: {_dotted(path)}{message}")


def _dotted(path: Sequence[str | int]) -> str:
    if not path:
        return ""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return f"{text}: "


def parse(text: str, source: str) -> Document:
    """YAML text -> :class:`Document`, validated against the format's JSON Schema."""
    loaded = yamlload.load(text, source, ScenarioError)
    data = {} if loaded.data is None else loaded.data
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{source}:1:1: a scenario file must be a mapping with 'rules:' (got {type(data).__name__})"
        )
    document = Document(source, data, loaded.positions)
    check(document)
    return document


def check(document: Document) -> None:
    """Structural errors against ``schema.json``, each located and with a did-you-mean."""
    problems: list[str] = []
    for error in _validator().iter_errors(document.data):
        path = tuple(error.instance_path)
        problems.append(_describe(document, path, error))
        if len(problems) >= MAX_ERRORS:
            break
    if problems:
        raise ScenarioError("\n".join(dict.fromkeys(problems)))


def _describe(document: Document, path: YamlPath, error: Any) -> str:
    sub = _schema_at(tuple(error.schema_path))
    kind = type(error.kind).__name__
    if kind == "AdditionalProperties" and isinstance(sub, dict):
        known = sorted((sub.get("properties") or {}).keys())
        unexpected = [k for k in getattr(error.kind, "unexpected", []) or []]
        instance = error.instance if isinstance(error.instance, dict) else {}
        unexpected = unexpected or [k for k in instance if k not in known]
        lines = []
        for key in unexpected:
            hint = closest(str(key), known)
            lines.append(
                f"{document.where((*path, key))}: {_dotted((*path, key))}unknown key {key!r}{hint}; "
                f"expected one of: {', '.join(known)}"
            )
        return "\n".join(lines)
    return f"{document.where(path)}: {_dotted(path)}{error.message}"


def _schema_at(schema_path: YamlPath) -> Any:
    """The schema object that holds the failing keyword (following ``$ref`` in the format's schema)."""
    root = schema()
    node: Any = root
    for token in schema_path[:-1]:
        if isinstance(node, dict) and token not in node:
            node = deref(root, node)
        if isinstance(node, dict) and token == "$ref":
            node = resolve(root, node["$ref"])
            continue
        try:
            node = node[token]
        except (KeyError, IndexError, TypeError):
            return None
    if isinstance(node, dict) and "properties" not in node:
        node = deref(root, node)
    return node
