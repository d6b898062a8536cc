"""Computed fields that declarations name (``derive: [...]`` in spec/resources/*.yaml).

Each function gets the store, the namespace, the kind, the body being answered (to fill in) and its record;
it reads other records, never writes them. Counts always agree with the statuses they count.
"""

from __future__ import annotations

from typing import Any

from fakeai.resources.model import TOMBSTONE, CompiledKind, derive, echo
from fakeai.store import Record, ResourceStore

FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")


@derive("vector_store_file_counts")
def vector_store_file_counts(
    store: ResourceStore, namespace: str, kind: CompiledKind, body: dict[str, Any], record: Record
) -> None:
    """A vector store's ``file_counts`` from the ``vector_store.file`` records filed under it."""
    prefix = f"{body.get('id')}/"
    counts = dict.fromkeys(FILE_STATUSES, 0)
    for key, child in store.entries(namespace, "vector_store.file"):
        if key.startswith(prefix) and not child.meta.get(TOMBSTONE):
            status = _current_status(child, kind)
            counts[status] = counts.get(status, 0) + 1
    counts["total"] = sum(counts[s] for s in FILE_STATUSES)
    if isinstance(body.get("file_counts"), dict):
        body["file_counts"] = counts


def _current_status(child: Record, kind: CompiledKind) -> str:
    status = child.body.get("status")
    return status if isinstance(status, str) and status in FILE_STATUSES else "in_progress"


@derive("files_batch_counts")
def files_batch_counts(
    store: ResourceStore, namespace: str, kind: CompiledKind, body: dict[str, Any], record: Record
) -> None:
    """A file batch's ``file_counts``: every file of the request, all in the batch's own status."""
    request = record.meta.get("request") or {}
    files = request.get("file_ids") or request.get("files") or []
    total = len(files) if isinstance(files, list) else 0
    status = body.get("status") if body.get("status") in FILE_STATUSES else "in_progress"
    counts = dict.fromkeys(FILE_STATUSES, 0)
    counts[str(status)] = total
    counts["total"] = total
    if isinstance(body.get("file_counts"), dict):
        body["file_counts"] = counts


@derive("batch_request_counts")
def batch_request_counts(
    store: ResourceStore, namespace: str, kind: CompiledKind, body: dict[str, Any], record: Record
) -> None:
    """A batch's ``request_counts`` from its input file: one request per non-empty JSONL line (until the
    batch work has run and counted the real answers)."""
    if record.meta.get("counted"):
        return
    source = store.get(namespace, "file", str(body.get("input_file_id", "")))
    lines = [line for line in (source.data if source else b"").splitlines() if line.strip()]
    total = len(lines)
    body["request_counts"] = {"total": total, "completed": 0, "failed": 0}


@echo("assistant_text_content")
def assistant_text_content(value: Any) -> list[dict[str, Any]]:
    """An Assistants message's request ``content`` (a string, or parts with ``text``) as the answer's parts."""
    parts = value if isinstance(value, list) else [{"type": "text", "text": value}]
    out: list[dict[str, Any]] = []
    for part in parts:
        text = part.get("text") if isinstance(part, dict) else part
        if isinstance(text, str):
            out.append({"type": "text", "text": {"value": text, "annotations": []}})
        elif isinstance(part, dict) and part.get("type") in ("image_file", "image_url"):
            out.append(part)
    return out


@derive("message_batch_counts")
def message_batch_counts(
    store: ResourceStore, namespace: str, kind: CompiledKind, body: dict[str, Any], record: Record
) -> None:
    """An Anthropic message batch's ``request_counts``: all ``processing`` until its work has counted them."""
    if record.meta.get("counted"):
        return
    requests = (record.meta.get("request") or {}).get("requests") or []
    ended = body.get("processing_status") == "ended"  # ended without its work: canceled before it ran
    counts = {"processing": 0 if ended else len(requests), "succeeded": 0, "errored": 0, "expired": 0}
    body["request_counts"] = {**counts, "canceled": len(requests) if ended else 0}
