"""What breaks for fakeai users: scenario rules and fixture templates checked against NEW.

Scenario files are read with ``fakeai.scenario.load`` when it is available (positions for
``file:line:column``), else with fakeai.yamlload. Each rule's ``match.operation`` (and every ``scope.operation``)
must exist in NEW; each response ``body`` (``respond`` or ``sequence``) must validate against NEW's
response schema for that operation and status. A body already invalid against OLD is only a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakeai.drift.change import Change, short
from fakeai.drift.classify import severity
from fakeai.drift.compare import route_key
from fakeai.errors import ScenarioError
from fakeai.spec.operation import Operation, iter_operations
from fakeai.spec.pointer import deref, join, pointer

YamlPath = tuple[str | int, ...]
FIXTURE_SUFFIX = ".json.j2"


@dataclass(frozen=True, slots=True)
class Loaded:
    data: dict[str, Any]
    where: Callable[[YamlPath], str]


class Side:
    """One document's operations by id, and its response validators (compiled on first use)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.operations = {op.operation_id: op for op in iter_operations(document)}
        self.by_route = {route_key(op): op for op in self.operations.values()}
        self._validators: Any = None

    def body_errors(self, op: Operation, status: int | None, body: Any) -> list[str] | None:
        """Validation errors of ``body`` (empty: valid), or ``None`` when no JSON schema applies."""
        pointer = self._pointer(op, status)
        if pointer is None:
            return None
        from fakeai.spec.validate import Validators, all_errors

        if self._validators is None:
            self._validators = Validators(self.document)
        return all_errors(self._validators.for_pointer(pointer), body, limit=3)

    def _pointer(self, op: Operation, status: int | None) -> str | None:
        if status is None or status == op.status:
            media = op.json_response
            return media.pointer if media is not None and media.schema is not None else None
        raw = self.document["paths"][op.path][op.method.lower()].get("responses", {}).get(str(status))
        if not isinstance(raw, Mapping):
            return None
        base = raw.get("$ref") or pointer("paths", op.path, op.method.lower(), "responses", status)
        content = (deref(self.document, raw).get("content") or {}).get("application/json")
        return join(base, "content", "application/json", "schema") if isinstance(content, Mapping) else None


def load_scenario(path: Path) -> Loaded:
    text = path.read_text(encoding="utf-8")
    try:
        from fakeai.scenario.load import parse
    except ImportError:  # pragma: no cover - the scenario package ships with fakeai
        return _load_plain(text, str(path))
    document = parse(text, str(path))
    return Loaded(document.data, document.where)


def _load_plain(text: str, source: str) -> Loaded:
    from fakeai import yamlload

    data = yamlload.load(text, source, ScenarioError).data or {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario file must be a mapping with 'rules:'")
    return Loaded(data, lambda path: source)


def _ids(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _references(data: Mapping[str, Any]) -> Iterator[tuple[YamlPath, str]]:
    """Every operationId a scenario names, with its YAML path."""
    for i, rule in enumerate(data.get("rules") or []):
        if isinstance(rule, Mapping):
            for op_id in _ids((rule.get("match") or {}).get("operation")):
                yield ("rules", i, "match", "operation"), op_id
            for j, chaos in enumerate(rule.get("chaos") or []):
                for op_id in _ids(((chaos or {}).get("scope") or {}).get("operation")):
                    yield ("rules", i, "chaos", j, "scope", "operation"), op_id
    for section in ("chaos", "rate_limits"):
        for i, item in enumerate(data.get(section) or []):
            for op_id in _ids(((item or {}).get("scope") or {}).get("operation")):
                yield (section, i, "scope", "operation"), op_id


def _bodies(data: Mapping[str, Any]) -> Iterator[tuple[YamlPath, list[str], int | None, Any]]:
    for i, rule in enumerate(data.get("rules") or []):
        if not isinstance(rule, Mapping):
            continue
        ops = _ids((rule.get("match") or {}).get("operation"))
        answers: list[tuple[YamlPath, Any]] = [(("rules", i, "respond"), rule.get("respond"))]
        answers += [(("rules", i, "sequence", j), step) for j, step in enumerate(rule.get("sequence") or [])]
        for path, answer in answers:
            if isinstance(answer, Mapping) and "body" in answer:
                status = answer.get("status")
                yield (*path, "body"), ops, status if isinstance(status, int) else None, answer["body"]


def check_scenarios(files: Sequence[str | Path], old: Side, new: Side) -> list[Change]:
    changes: list[Change] = []
    for file in files:
        loaded = load_scenario(Path(file))
        for path, op_id in _references(loaded.data):
            if op_id not in new.operations:
                changes.append(_gone("scenario", op_id, loaded.where(path) + " " + _dotted(path), old, new))
        for path, ops, status, body in _bodies(loaded.data):
            for op_id in ops:
                if op_id in new.operations:
                    changes.extend(_body(op_id, status, body, loaded.where(path) + " " + _dotted(path), old, new))
    return changes


def _body(op_id: str, status: int | None, body: Any, where: str, old: Side, new: Side) -> list[Change]:
    op = new.operations[op_id]
    errors = new.body_errors(op, status, body)
    if not errors:
        return []
    before = old.operations.get(op_id)
    old_errors = old.body_errors(before, status, body) if before is not None else None
    kind = "scenario.body.still_invalid" if old_errors else "scenario.body.invalid"
    old_text = "valid" if old_errors == [] else ("invalid" if old_errors else "not checked")
    return [_change(kind, op, where, old_text, short("; ".join(errors), 200))]


def _gone(prefix: str, op_id: str, where: str, old: Side, new: Side) -> Change:
    before = old.operations.get(op_id)
    if before is None:
        return Change(
            f"{prefix}.operation.unknown",
            severity(f"{prefix}.operation.unknown"),
            op_id,
            "",
            "",
            where,
            "not in OLD",
            "not in NEW",
        )
    renamed = new.by_route.get(route_key(before))
    hint = f"now {renamed.operation_id!r}" if renamed is not None else "removed"
    return _change(f"{prefix}.operation.removed", before, where, f"{before.method} {before.path}", hint)


def _change(kind: str, op: Operation, where: str, old: str, new: str) -> Change:
    return Change(kind, severity(kind), op.operation_id, op.method, op.path, where, old, new, tags=op.tags)


def _dotted(path: YamlPath) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def check_fixtures(directory: str | Path, old: Side, new: Side) -> list[Change]:
    """``<operationId>.json.j2`` templates whose operation NEW does not have."""
    changes: list[Change] = []
    for template in sorted(Path(directory).glob(f"*{FIXTURE_SUFFIX}")):
        op_id = template.name[: -len(FIXTURE_SUFFIX)]
        if op_id not in new.operations:
            changes.append(_gone("fixture", op_id, str(template), old, new))
    return changes
