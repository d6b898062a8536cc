"""``/organization/usage/*`` and ``/organization/costs`` answered from the traffic fakeai answered (issue 9).

Python per operationId because the answer is an aggregation of state the spec cannot describe: the rows of
:class:`fakeai.usage.Usage` (``CompileEnv.usage``, subscribed to the events in ``create_app``) and the
catalog's prices (``spec/models.yaml``, USD per 1M tokens).

- Buckets of ``bucket_width`` (``1m`` | ``1h`` | ``1d``; costs only ``1d``) from ``start_time`` (floored to the
  minute) to ``end_time`` (exclusive; default now), ``limit`` buckets a page (per width: 60/1440, 24/168,
  7/31; costs 7/180), ``page`` the ``next_page`` cursor of the previous page.
- A bucket's ``results``: one per ``group_by`` combination (group fields not grouped by are ``null``), none
  when the bucket saw no traffic. Filters: ``models``, ``project_ids``, ``api_key_ids``, ``user_ids``,
  ``batch``, ``sources``, ``sizes``.
- Costs: per model ``"<model>, input"``, ``"<model>, cached input"`` and ``"<model>, output"`` line items;
  input tokens beyond the cached ones at the input price, cached ones at the cached price (the input price
  when the catalog has none); models without prices cost 0.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fakeai.catalog import Catalog
from fakeai.context import Output, RequestContext
from fakeai.errors import APIError
from fakeai.producers.base import CompileEnv
from fakeai.spec.operation import Operation
from fakeai.usage import CACHED, INPUT, OUTPUT, REQUESTS, UNITS, Key

__all__ = ["COSTS", "OPERATIONS", "UsageProducer", "usage_factory"]

WIDTHS = {"1m": 60, "1h": 3600, "1d": 86400}
LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}  # default, max
COSTS_LIMITS = (7, 180)
COSTS = "usage-costs"
GROUP_FIELDS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier", "source", "size")
FILTERS = {  # query parameter -> group field
    "models": "model",
    "project_ids": "project_id",
    "api_key_ids": "api_key_id",
    "user_ids": "user_id",
    "sources": "source",
    "sizes": "size",
}
COST_KINDS = ("completions", "embeddings", "moderations")

Result = Callable[[list[int]], dict[str, Any]]


def _tokens(kind: str) -> Result:
    def result(sums: list[int]) -> dict[str, Any]:
        return {
            "object": f"organization.usage.{kind}.result",
            "input_tokens": sums[INPUT],
            "num_model_requests": sums[REQUESTS],
        }

    return result


def _completions(sums: list[int]) -> dict[str, Any]:
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": sums[INPUT],
        "output_tokens": sums[OUTPUT],
        "input_cached_tokens": sums[CACHED],
        "input_audio_tokens": sums[3],
        "output_audio_tokens": sums[4],
        "num_model_requests": sums[REQUESTS],
    }


def _units(kind: str, name: str, requests: str | None = "num_model_requests") -> Result:
    def result(sums: list[int]) -> dict[str, Any]:
        found = {"object": f"organization.usage.{kind}.result", name: sums[UNITS]}
        if requests is not None:
            found[requests] = sums[REQUESTS]
        return found

    return result


def _searches(kind: str, model_requests: bool) -> Result:
    def result(sums: list[int]) -> dict[str, Any]:
        found = {"object": f"organization.usage.{kind}.result", "num_requests": sums[REQUESTS]}
        return {**found, "num_model_requests": sums[REQUESTS]} if model_requests else found

    return result


# operationId -> (the accumulator's kind, the result's own fields, the group fields the result carries)
OPERATIONS: Mapping[str, tuple[str, Result, tuple[str, ...]]] = {
    "usage-completions": (
        "completions",
        _completions,
        ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
    ),
    "usage-embeddings": ("embeddings", _tokens("embeddings"), ("project_id", "user_id", "api_key_id", "model")),
    "usage-moderations": ("moderations", _tokens("moderations"), ("project_id", "user_id", "api_key_id", "model")),
    "usage-images": (
        "images",
        _units("images", "images"),
        ("source", "size", "project_id", "user_id", "api_key_id", "model"),
    ),
    "usage-audio-speeches": (
        "audio_speeches",
        _units("audio_speeches", "characters"),
        ("project_id", "user_id", "api_key_id", "model"),
    ),
    "usage-audio-transcriptions": (
        "audio_transcriptions",
        _units("audio_transcriptions", "seconds"),
        ("project_id", "user_id", "api_key_id", "model"),
    ),
    "usage-vector-stores": ("vector_stores", _units("vector_stores", "usage_bytes", None), ("project_id",)),
    "usage-code-interpreter-sessions": (
        "code_interpreter_sessions",
        _units("code_interpreter_sessions", "num_sessions", None),
        ("project_id",),
    ),
    # fakeai runs no hosted tools it could count yet: always empty buckets
    "usage-file-search-calls": (
        "file_searches",
        _searches("file_searches", False),
        ("project_id", "user_id", "api_key_id", "vector_store_id"),
    ),
    "usage-web-search-calls": (
        "web_searches",
        _searches("web_searches", True),
        ("project_id", "user_id", "api_key_id", "model", "context_level"),
    ),
}


class UsageProducer:
    source = "usage"

    def __init__(self, usage: Any, catalog: Catalog, results_key: str = "results") -> None:
        self.usage = usage  # fakeai.usage.Usage
        self.catalog = catalog
        self.results_key = results_key  # "results"; the 2025-04 document's bucket schema says "result"

    def produce(self, ctx: RequestContext) -> Output | None:
        query = ctx.query
        costs = ctx.operation_id == COSTS
        width_name = str(query.get("bucket_width") or "1d")
        if width_name not in WIDTHS or (costs and width_name != "1d"):
            allowed = "1d" if costs else "1m, 1h, 1d"
            raise APIError(
                400, f"Invalid bucket_width {width_name!r}: expected one of {allowed}.", param="bucket_width"
            )
        width = WIDTHS[width_name]
        default, most = COSTS_LIMITS if costs else LIMITS[width_name]
        limit = _integer(query, "limit", default)
        if not 1 <= limit <= most:
            raise APIError(400, f"Invalid limit {limit}: must be between 1 and {most}.", param="limit")
        start = _integer(query, "start_time", None)
        start -= start % 60  # the accumulator counts by the minute
        now = int(ctx.now)
        end = _integer(query, "end_time", now - now % 60 + 60)
        first = _page(query.get("page"), start, width) if query.get("page") else start
        starts = range(first, end, width)
        page = starts[:limit]
        buckets: dict[int, dict[tuple[Any, ...], list[int]]] = {s: {} for s in page}
        groups = _list(query.get("group_by"))
        if page:
            kind = COST_KINDS if costs else (OPERATIONS[ctx.operation_id][0],)
            rows = self.usage.select(ctx.namespace, kind, page[0], min(end, page[-1] + width))
            self._sum(buckets, rows, query, groups, start, width, costs)
        data = [
            {
                "object": "bucket",
                "start_time": s,
                "end_time": s + width,
                self.results_key: self._results(ctx.operation_id, sums, groups),
            }
            for s, sums in buckets.items()
        ]
        more = len(starts) > limit
        body = {"object": "page", "data": data, "has_more": more, "next_page": _cursor(starts[limit]) if more else None}
        return Output(status=ctx.operation.status, body=body, source="usage")

    def _sum(
        self,
        buckets: dict[int, dict[tuple[Any, ...], list[int]]],
        rows: Iterable[tuple[Key, list[int]]],
        query: Mapping[str, Any],
        groups: list[str],
        start: int,
        width: int,
        costs: bool,
    ) -> None:
        filters = {field: set(_list(query[name])) for name, field in FILTERS.items() if query.get(name)}
        batch = query.get("batch")
        if batch is not None:
            filters["batch"] = {batch in (True, "true", "1")}
        if costs and "model" not in groups:
            groups = [*groups, "model"]  # line items are per model; folded after pricing
        for key, row in rows:
            fields = _fields(key)
            if any(fields.get(name) not in allowed for name, allowed in filters.items()):
                continue
            bucket = buckets.get(start + (key.minute - start) // width * width)
            if bucket is None:
                continue
            sums = bucket.setdefault(tuple(fields.get(name) for name in groups), [0] * len(row))
            for slot, value in enumerate(row):
                sums[slot] += value

    def _results(self, operation_id: str, sums: dict[tuple[Any, ...], list[int]], groups: list[str]) -> list[Any]:
        if operation_id == COSTS:
            return self._costs(sums, groups)
        _kind, result, carried = OPERATIONS[operation_id]
        found = []
        for values, counts in sums.items():
            grouped = dict(zip(groups, values, strict=True))
            found.append({**result(counts), **{name: grouped.get(name) for name in carried}})
        return found

    def _costs(self, sums: dict[tuple[Any, ...], list[int]], groups: list[str]) -> list[Any]:
        by_line: dict[tuple[Any, ...], float] = {}
        keep = [name for name in ("line_item", "project_id", "api_key_id") if name in groups]
        for values, counts in sums.items():
            grouped = dict(zip([*groups, "model"] if "model" not in groups else groups, values, strict=True))
            for line_item, amount in self._priced(grouped.get("model"), counts):
                grouped["line_item"] = line_item
                line = tuple(grouped.get(name) for name in keep)
                by_line[line] = by_line.get(line, 0.0) + amount
        return [
            {
                "object": "organization.costs.result",
                "amount": {"value": amount, "currency": "usd"},
                "line_item": None,
                "project_id": None,
                "api_key_id": None,
                "quantity": None,
                **dict(zip(keep, line, strict=True)),
            }
            for line, amount in by_line.items()
        ]

    def _priced(self, model: str | None, counts: list[int]) -> list[tuple[str, float]]:
        """``(line item, USD)`` of one model's tokens."""
        info = self.catalog.lookup(model) if model else None
        prices = info.prices if info is not None else None
        per_input = (prices.input if prices is not None else None) or 0.0
        per_cached = prices.cached_input if prices is not None and prices.cached_input is not None else per_input
        per_output = (prices.output if prices is not None else None) or 0.0
        name = model or "unknown"
        cached = counts[CACHED]
        lines = [(f"{name}, input", (counts[INPUT] - cached) * per_input / 1e6)]
        if cached:
            lines.append((f"{name}, cached input", cached * per_cached / 1e6))
        if counts[OUTPUT]:
            lines.append((f"{name}, output", counts[OUTPUT] * per_output / 1e6))
        return lines


def _fields(key: Key) -> dict[str, Any]:
    return {
        "project_id": key.project_id,
        "user_id": key.user_id,
        "api_key_id": key.api_key_id,
        "model": key.model,
        "batch": key.batch,
        "service_tier": None,
        "source": key.detail[0] if key.detail else None,
        "size": key.detail[1] if key.detail else None,
    }


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _integer(query: Mapping[str, Any], name: str, default: int | None) -> int:
    value = query.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise APIError(400, f"Invalid {name} {value!r}: expected an integer.", param=name) from None


def _cursor(start: int) -> str:
    return "page_" + base64.urlsafe_b64encode(start.to_bytes(8, "big")).decode()


def _page(cursor: Any, start: int, width: int) -> int:
    """The first bucket's start a ``next_page`` cursor names (it must be one of this query's buckets)."""
    try:
        found = int.from_bytes(base64.urlsafe_b64decode(str(cursor).removeprefix("page_")), "big")
    except (binascii.Error, ValueError):
        found = -1
    if found < start or (found - start) % width:
        raise APIError(400, f"Invalid page cursor {cursor!r}.", param="page")
    return found


def usage_factory(operation: Operation, env: CompileEnv) -> UsageProducer | None:
    if env.usage is None or (operation.operation_id not in OPERATIONS and operation.operation_id != COSTS):
        return None
    return UsageProducer(env.usage, Catalog.from_settings(env.settings), _results_key(operation, env))


def _results_key(operation: Operation, env: CompileEnv) -> str:
    """The name the document gives a bucket's result list (``results``, or ``result`` in older documents)."""
    from fakeai.spec.pointer import deref

    media = operation.json_response
    page = deref(env.document, media.schema) if media is not None and media.schema is not None else None
    data = (
        deref(env.document, ((page or {}).get("properties") or {}).get("data") or {}) if isinstance(page, dict) else {}
    )
    bucket = deref(env.document, data.get("items") or {}) if isinstance(data, dict) else {}
    names = (bucket.get("properties") or {}) if isinstance(bucket, dict) else {}
    return "result" if "result" in names and "results" not in names else "results"
