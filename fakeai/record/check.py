"""Recorded traffic against a spec: where the live API differs from the published document.

    check_traffic("recorded.yaml")              # reads the sibling recorded.traffic.jsonl
    check_traffic("recorded.traffic.jsonl", spec="openapi.yaml")

Every recorded request body, response body and SSE event is validated against the operation's
schemas; each difference is one line ``file:line: METHOD path (operationId) <where>: problem``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson


def traffic_file(path: str | Path) -> Path:
    file = Path(path)
    if file.suffix in (".yaml", ".yml"):
        return file.with_name(file.name.removesuffix(file.suffix) + ".traffic.jsonl")
    return file


def check_traffic(path: str | Path, spec: str | None = None) -> list[str]:
    """Differences between recorded traffic and the spec (empty: the traffic conforms)."""
    from fakeai.spec.load import load_document
    from fakeai.spec.operation import iter_operations
    from fakeai.spec.validate import Validators, all_errors

    file = traffic_file(path)
    document = load_document(spec)
    operations = {op.operation_id: op for op in iter_operations(document)}
    validators = Validators(document)
    problems: list[str] = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        record: dict[str, Any] = orjson.loads(line)
        op = operations.get(record.get("operation") or "")
        where = f"{file}:{number}: {record['method']} {record['path']}"
        if op is None:
            problems.append(f"{where}: no operation of the spec serves this path")
            continue
        where += f" ({op.operation_id})"
        checks: list[tuple[str, Any, Any]] = []
        media = op.request_media.get("application/json")
        if media is not None and record.get("request") is not None:
            checks.append(("request body", media.pointer, record["request"]))
        if record["status"] < 400:
            if record.get("events") is not None:
                stream = op.stream_response or op.json_response
                events = [orjson.loads(e) for e in record["events"] if e != "[DONE]"]
                checks += [(f"event {i}", stream.pointer if stream else None, e) for i, e in enumerate(events)]
            elif record.get("response") is not None and op.json_response is not None:
                checks.append(("response body", op.json_response.pointer, record["response"]))
        for label, pointer, instance in checks:
            if pointer is None:
                problems.append(f"{where} {label}: the spec has no schema for it")
                continue
            validator = validators.for_pointer(pointer)
            if not validator.is_valid(instance):
                problems.append(f"{where} {label}: {'; '.join(all_errors(validator, instance, limit=3))}")
    return problems
