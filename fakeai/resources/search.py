"""Vector stores that index their files' text: ``searchVectorStore`` and the Responses ``file_search`` tool.

The files of a vector store are its ``vector_store.file`` records (key ``<vector_store_id>/<file_id>``) that are
not deleted, plus the files a ``vector_store.files_batch`` named, whose ``file`` record (the uploaded bytes)
still exists. Nothing is indexed when a file is attached: the index is built at query time from the store, each
file chunked once like OpenAI's default static strategy (800-token windows overlapping by 400, o200k tokens,
``chunking_strategy.static`` when the file has one) and kept in a bounded LRU keyed by
(namespace, file id, size, window). Producers never write, and this module does not either.

Ranking is BM25 (k1 1.2, b 0.75) over the chunks of the stores searched, normalised to [0, 1] by the score a
chunk of average length with every query term once would get, blended with an exact-phrase bonus, so the chunk
that contains the query text comes first. Chunks sharing no term with the query are not results.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from fakeai.context import Output, RequestContext
from fakeai.ids import hex_id
from fakeai.producers.text.common import last_user_text
from fakeai.producers.text.tokenizer import get_tokenizer
from fakeai.resources.model import TOMBSTONE
from fakeai.store import ResourceStore

if TYPE_CHECKING:
    from fakeai.producers.base import CompileEnv
    from fakeai.producers.text.responses import Answer
    from fakeai.spec.operation import Operation

__all__ = ["Hit", "chunk_text", "file_search", "matches", "search", "search_factory"]

OPERATION_ID = "searchVectorStore"
CHUNK_TOKENS, OVERLAP_TOKENS = 800, 400  # OpenAI's default static chunking
ENCODING = "o200k_base"
K1, B = 1.2, 0.75
PHRASE_WEIGHT = 0.25  # share of the score given to containing the query text itself
DEFAULT_RESULTS, MAX_RESULTS = 10, 50
MAX_CITATIONS = 3
CACHE_SIZE = 4096  # chunked files kept
_WORD = re.compile(r"\w+")
_SKIPPED = ("failed", "cancelled")  # vector-store file statuses whose file is not searchable


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    terms: Mapping[str, int]  # term -> count
    length: int  # terms in the chunk
    words: str  # " a b c ": the chunk's terms in order, for the phrase test


@dataclass(frozen=True, slots=True)
class Hit:
    file_id: str
    filename: str
    attributes: Mapping[str, Any] | None
    text: str
    score: float


@dataclass(frozen=True, slots=True)
class _File:
    file_id: str
    filename: str
    attributes: Mapping[str, Any] | None
    chunks: tuple[Chunk, ...]


class _Cache:
    """Chunked files, least recently used out first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str, int, int, int], tuple[Chunk, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, int, int, int], data: bytes) -> tuple[Chunk, ...]:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        chunks = tuple(_chunk(text) for text in chunk_text(data.decode("utf-8", "replace"), key[3], key[4]))
        with self._lock:
            self._items[key] = chunks
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return chunks


CACHE = _Cache(CACHE_SIZE)


def terms(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def chunk_text(text: str, size: int = CHUNK_TOKENS, overlap: int = OVERLAP_TOKENS) -> list[str]:
    """Windows of ``size`` tokens, each starting ``size - overlap`` tokens after the previous one."""
    tokenizer = get_tokenizer(ENCODING)
    ids = tokenizer.encode(text) if text else []
    stride = max(size - max(min(overlap, size // 2), 0), 1)
    out = []
    for start in range(0, max(len(ids), 1), stride):
        # a character split over two windows is dropped at their edges (U+FFFD) rather than half-kept
        out.append(tokenizer.decode(ids[start : start + size]).strip("\ufffd"))
        if start + size >= len(ids):
            break
    return [chunk for chunk in out if chunk.strip()]


def _chunk(text: str) -> Chunk:
    words = terms(text)
    return Chunk(text, Counter(words), len(words), f" {' '.join(words)} ")


# --- which files a vector store has ------------------------------------------------------------------


def _window(body: Mapping[str, Any]) -> tuple[int, int]:
    strategy = body.get("chunking_strategy")
    static = strategy.get("static") if isinstance(strategy, Mapping) else None
    if isinstance(static, Mapping):
        size, overlap = static.get("max_chunk_size_tokens"), static.get("chunk_overlap_tokens")
        if isinstance(size, int) and isinstance(overlap, int) and size > 0:
            return size, overlap
    return CHUNK_TOKENS, OVERLAP_TOKENS


def _members(store: ResourceStore, namespace: str, vector_store_id: str) -> list[tuple[str, Mapping[str, Any]]]:
    """(file id, the vector_store.file body or {}) of every searchable file of one vector store."""
    prefix = f"{vector_store_id}/"
    seen: set[str] = set()
    found: list[tuple[str, Mapping[str, Any]]] = []
    for key, record in store.entries(namespace, "vector_store.file"):
        if not key.startswith(prefix):
            continue
        file_id = key[len(prefix) :]
        seen.add(file_id)
        if not record.meta.get(TOMBSTONE) and record.body.get("status") not in _SKIPPED:
            found.append((file_id, record.body))
    for key, record in store.entries(namespace, "vector_store.files_batch"):
        if not key.startswith(prefix) or record.meta.get(TOMBSTONE) or record.body.get("status") in _SKIPPED:
            continue
        request = record.meta.get("request") or {}
        for entry in [*(request.get("file_ids") or ()), *(request.get("files") or ())]:
            named: Any = entry.get("file_id") if isinstance(entry, Mapping) else entry
            if isinstance(named, str) and named not in seen:
                seen.add(named)
                found.append((named, entry if isinstance(entry, Mapping) else {}))
    return found


def _files(store: ResourceStore, namespace: str, vector_store_ids: Iterable[str]) -> list[_File]:
    files = []
    for vector_store_id in dict.fromkeys(vector_store_ids):
        for file_id, body in _members(store, namespace, vector_store_id):
            upload = store.get(namespace, "file", file_id)
            if upload is None or upload.meta.get(TOMBSTONE):
                continue
            size, overlap = _window(body)
            chunks = CACHE.get((namespace, file_id, len(upload.data), size, overlap), upload.data)
            attributes = body.get("attributes")
            filename = str(upload.body.get("filename") or file_id)
            files.append(_File(file_id, filename, attributes if isinstance(attributes, Mapping) else None, chunks))
    return files


# --- filters and ranking ---------------------------------------------------------------------------


def matches(filters: Any, attributes: Mapping[str, Any] | None) -> bool:
    """The spec's ComparisonFilter / CompoundFilter over a file's ``attributes`` (no filter: every file)."""
    if not isinstance(filters, Mapping):
        return True
    kind = filters.get("type", "eq")
    if kind in ("and", "or"):
        parts = [matches(f, attributes) for f in filters.get("filters") or () if isinstance(f, Mapping)]
        return all(parts) if kind == "and" else any(parts)
    key, value = str(filters.get("key")), filters.get("value")
    attrs = attributes or {}
    if key not in attrs:
        return kind in ("ne", "nin")
    actual = attrs[key]
    if kind == "eq":
        return bool(actual == value)
    if kind == "ne":
        return bool(actual != value)
    if kind in ("in", "nin"):
        inside = isinstance(value, list) and actual in value
        return inside if kind == "in" else not inside
    if not _comparable(actual, value):
        return False
    order = {"gt": actual > value, "gte": actual >= value, "lt": actual < value, "lte": actual <= value}
    return bool(order.get(str(kind), False))


def _comparable(a: Any, b: Any) -> bool:
    def number(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool)

    return (number(a) and number(b)) or (isinstance(a, str) and isinstance(b, str))


def search(
    store: ResourceStore,
    namespace: str,
    vector_store_ids: Sequence[str],
    queries: Sequence[str],
    max_results: int = DEFAULT_RESULTS,
    threshold: float = 0.0,
    filters: Any = None,
) -> list[Hit]:
    """The best chunks of the stores' files for any of ``queries``, best first (ties: store order)."""
    files = [f for f in _files(store, namespace, vector_store_ids) if matches(filters, f.attributes)]
    chunks = [(f, c) for f in files for c in f.chunks]
    if not chunks:
        return []
    total = len(chunks)
    average = sum(c.length for _, c in chunks) / total or 1.0
    scores = [0.0] * total
    for query in queries:
        wanted = list(dict.fromkeys(terms(query)))
        if not wanted:
            continue
        idf = {}
        for term in wanted:
            df = sum(1 for _, c in chunks if term in c.terms)
            idf[term] = math.log(1 + (total - df + 0.5) / (df + 0.5))
        ideal = sum(idf.values())
        phrase = f" {' '.join(terms(query))} "
        for i, (_, chunk) in enumerate(chunks):
            raw = 0.0
            for term in wanted:
                tf = chunk.terms.get(term, 0)
                if tf:
                    raw += idf[term] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * chunk.length / average))
            if raw <= 0:
                continue
            bonus = 1.0 if all(t in chunk.terms for t in wanted) and phrase in chunk.words else 0.0
            score = (1 - PHRASE_WEIGHT) * min(raw / ideal, 1.0) + PHRASE_WEIGHT * bonus
            scores[i] = max(scores[i], score)
    ranked = sorted((i for i in range(total) if scores[i] > 0), key=lambda i: -scores[i])
    hits = []
    for i in ranked:
        score = round(scores[i], 6)
        if score < threshold:
            break
        owner, chunk = chunks[i]
        hits.append(Hit(owner.file_id, owner.filename, owner.attributes, chunk.text, score))
        if len(hits) >= max_results:
            break
    return hits


def _limit(value: Any) -> int:
    return (
        min(max(value, 1), MAX_RESULTS) if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_RESULTS
    )


def _threshold(options: Any) -> float:
    value = options.get("score_threshold") if isinstance(options, Mapping) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


# --- searchVectorStore -------------------------------------------------------------------------------


class SearchProducer:
    """``POST /vector_stores/{vector_store_id}/search`` over a vector store this server made."""

    source = "search"

    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    def produce(self, ctx: RequestContext) -> Output | None:
        ident = ctx.path_params.get("vector_store_id", "")
        record = self.store.get(ctx.namespace, "vector_store", ident)
        if record is None or record.meta.get(TOMBSTONE):
            return None  # the resource model's 404s, or generated data for placeholder ids
        body = ctx.body if isinstance(ctx.body, Mapping) else {}
        query = body.get("query")
        queries = [query] if isinstance(query, str) else [q for q in query or () if isinstance(q, str)]
        hits = search(
            self.store,
            ctx.namespace,
            [ident],
            queries,
            _limit(body.get("max_num_results")),
            _threshold(body.get("ranking_options")),
            body.get("filters"),
        )
        page = {
            "object": "vector_store.search_results.page",
            "search_query": queries,  # rewrite_query: the query is already what a search engine wants
            "data": [
                {
                    "file_id": hit.file_id,
                    "filename": hit.filename,
                    "score": hit.score,
                    "attributes": dict(hit.attributes) if hit.attributes is not None else None,
                    "content": [{"type": "text", "text": hit.text}],
                }
                for hit in hits
            ],
            "has_more": False,
            "next_page": None,
        }
        return Output(status=ctx.operation.status, body=page, source=self.source)


def search_factory(operation: Operation, env: CompileEnv) -> SearchProducer | None:
    if operation.operation_id != OPERATION_ID or env.store is None:
        return None
    return SearchProducer(env.store)


# --- the Responses file_search tool ------------------------------------------------------------------


def file_search(answer: Answer, body: Mapping[str, Any], ctx: RequestContext, store: Any) -> Answer:
    """``answer`` with a ``file_search_call`` item first when the request has a ``file_search`` tool, and
    ``file_citation`` annotations of the best files on its message. The call item is in the response's
    ``output`` only (not in ``answer.items``): :func:`fakeai.producers.text.hosted.streamed` adds its events."""
    tools = body.get("tools")
    found = [t for t in tools or () if isinstance(t, Mapping) and t.get("type") == "file_search"]
    if not found or not isinstance(store, ResourceStore):
        return answer
    tool = found[0]
    ids = [i for t in found for i in t.get("vector_store_ids") or () if isinstance(i, str)]
    query = last_user_text(body.get("input"))
    queries = [query] if query.strip() else []
    hits = search(
        store,
        ctx.namespace,
        ids,
        queries,
        _limit(tool.get("max_num_results")),
        _threshold(tool.get("ranking_options")),
        tool.get("filters"),
    )
    call: dict[str, Any] = {
        "id": hex_id(ctx.rng, "fs_", 192),
        "type": "file_search_call",
        "status": "completed",
        "queries": queries,
        "results": None,
    }
    include = body.get("include")
    if isinstance(include, list) and "file_search_call.results" in include:
        call["results"] = [
            {
                "file_id": hit.file_id,
                "text": hit.text,
                "filename": hit.filename,
                "attributes": dict(hit.attributes) if hit.attributes is not None else None,
                "score": hit.score,
            }
            for hit in hits
        ]
    cited = list({hit.file_id: hit for hit in hits}.values())[:MAX_CITATIONS]
    items = tuple(_cite(item, cited) for item in answer.items)
    response = {**answer.response, "output": [call, *(item.body for item in items)]}
    return replace(answer, response=response, items=items)


def _cite(item: Any, hits: Sequence[Hit]) -> Any:
    body = item.body
    if body.get("type") != "message" or not hits:
        return item
    content = []
    for part in body["content"]:
        if part.get("type") == "output_text":
            end = len(part["text"])
            notes = [
                {"type": "file_citation", "file_id": h.file_id, "index": end, "filename": h.filename} for h in hits
            ]
            part = {**part, "annotations": [*part["annotations"], *notes]}
        content.append(part)
    return replace(item, body={**body, "content": content})
