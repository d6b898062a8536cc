"""Corrections to upstream documents, applied at load as OpenAPI Overlay 1.0 files.

We never edit an upstream spec. Where the published document disagrees with what the real API and
the official SDKs do, an overlay in ``spec/overlays/*.yaml`` says so, with a reason per action:

    overlay: 1.0.0
    info: {title: ..., version: ...}
    actions:
      - target: $.components.schemas.ResponseUsage.properties.input_tokens_details
        description: why this correction exists
        update: {properties: {cache_write_tokens: {type: integer}}}

Targets are the JSONPath subset ``$.a.b['c/d']``; an action whose target does not exist in a given
document is skipped (overlays apply to every spec version that still needs them). ``update`` merges
objects recursively and appends to arrays; ``remove: true`` deletes the target. ``x-fakeai-when: <target>``
applies an action only to documents that have that node (a path added beside one only OpenAI's document has).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fakeai import yamlload
from fakeai.errors import SpecError

_TOKEN = re.compile(r"\.([A-Za-z0-9_$\-]+)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]")


def parse_target(target: str, source: str) -> list[str]:
    if not target.startswith("$"):
        raise SpecError(f"{source}: overlay target {target!r} must start with '$'")
    keys: list[str] = []
    position = 1
    for match in _TOKEN.finditer(target, 1):
        if match.start() != position:
            break
        keys.append(next(g for g in match.groups() if g is not None))
        position = match.end()
    if position != len(target):
        raise SpecError(f"{source}: unsupported overlay target {target!r} (use $.a.b or $.a['b/c'])")
    return keys


def _merge(node: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        current = node.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(v for v in value if v not in current)
        else:
            node[key] = value


def apply_overlay(document: dict[str, Any], overlay: dict[str, Any], source: str) -> int:
    """Apply one overlay; returns how many actions applied to this document."""
    actions = overlay.get("actions")
    if not isinstance(actions, list):
        raise SpecError(f"{source}: an overlay needs an 'actions' list")
    applied = 0
    for index, action in enumerate(actions):
        where = f"{source}: actions[{index}]"
        if not isinstance(action, dict) or not isinstance(action.get("target"), str):
            raise SpecError(f"{where}: each action needs a 'target'")
        keys = parse_target(action["target"], where)
        parent: Any = document
        for key in keys[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or (keys and keys[-1] not in parent):
            continue
        when = action.get("x-fakeai-when")  # a node that must exist (adding a path to the one document having it)
        if isinstance(when, str) and not _exists(document, parse_target(when, where)):
            continue
        if action.get("remove") is True:
            del parent[keys[-1]]
        elif isinstance(action.get("update"), dict):
            target = parent[keys[-1]] if keys else document
            if not isinstance(target, dict):
                raise SpecError(f"{where}: can only update an object")
            _merge(target, action["update"])
        else:
            raise SpecError(f"{where}: an action needs 'update' (a mapping) or 'remove: true'")
        applied += 1
    return applied


def _exists(document: dict[str, Any], keys: list[str]) -> bool:
    node: Any = document
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def overlay_files(directory: Path) -> Iterator[Path]:
    if directory.is_dir():
        yield from sorted(directory.glob("*.yaml"))


def load_overlays(directory: Path) -> list[tuple[str, dict[str, Any]]]:
    overlays = []
    for path in overlay_files(directory):
        data = yamlload.load(path.read_text(encoding="utf-8"), str(path), SpecError).data
        if not isinstance(data, dict) or "overlay" not in data:
            raise SpecError(f"{path}: not an overlay document (missing 'overlay: 1.0.0')")
        overlays.append((str(path), data))
    return overlays
