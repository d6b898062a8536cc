"""Behaviour ``rerank`` (Cohere's ``POST /v2/rerank`` and ``/v1/rerank``): documents ranked by BM25 against the query.

* Terms are lower-cased word characters; a document's score is Okapi BM25 (``k1`` 1.2, ``b`` 0.75, idf
  ``ln(1 + (N - n + 0.5) / (n + 0.5))``, always positive) over the request's documents, so a document sharing
  the query's words ranks above one that does not, and rarer shared words weigh more.
* ``relevance_score`` is in [0, 1]: ``0.01 + 0.98 * s / (s + 1)`` for a document sharing a query term, and for
  one sharing none a small deterministic score below 0.01 (a hash of query and document), as real rerankers
  never answer exactly 0. Results are sorted by score, ties by ``index``; ``top_n`` keeps the first n.
* v1 documents may be ``{"text": ..., ...}`` objects (``rank_fields`` picks the fields ranked, in order);
  ``return_documents: true`` adds ``document`` to each result when the spec's result schema has it.
* ``meta``: ``api_version`` (from the ``/vN/`` of the path) and ``billed_units.search_units`` (one per 100
  documents, as Cohere bills). No randomness but the ``id``, from ``ctx.rng``.

Request fields are the binding's (``spec/bindings/cohere.yaml``: ``query``, ``documents``, ``top_n``,
``return_documents``).
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from fakeai.context import Output, RequestContext
from fakeai.producers.base import CompileEnv
from fakeai.producers.bindings import Binding, binding_for, env_files
from fakeai.spec.operation import Operation
from fakeai.spec.pointer import deref

__all__ = ["RerankProducer", "factory", "relevance", "scores"]

K1 = 1.2
B = 0.75
DOCUMENTS_PER_SEARCH_UNIT = 100
_WORD = re.compile(r"\w+")


def terms(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def scores(query: str, documents: Sequence[str]) -> list[float]:
    """Okapi BM25 of each document for ``query`` (0.0 when they share no term)."""
    bags = [Counter(terms(text)) for text in documents]
    if not bags:
        return []
    average = sum(sum(bag.values()) for bag in bags) / len(bags) or 1.0
    total = len(bags)
    out: list[float] = []
    wanted = set(terms(query))
    having = {term: sum(1 for bag in bags if term in bag) for term in wanted}
    for bag in bags:
        length = sum(bag.values())
        score = 0.0
        for term in wanted:
            count = bag.get(term, 0)
            if count:
                idf = math.log(1 + (total - having[term] + 0.5) / (having[term] + 0.5))
                score += idf * count * (K1 + 1) / (count + K1 * (1 - B + B * length / average))
        out.append(score)
    return out


def relevance(score: float, query: str, document: str) -> float:
    """A BM25 score as a relevance in [0, 1] (see the module docstring)."""
    if score > 0:
        return round(0.01 + 0.98 * score / (score + 1), 6)
    digest = hashlib.blake2b(f"{query}\0{document}".encode(), digest_size=4).digest()
    return round(int.from_bytes(digest, "big") / 2**32 * 0.01, 6)


@dataclass(frozen=True, slots=True)
class RerankProducer:
    source: ClassVar[str] = "llm"
    binding: Binding
    api_version: str  # meta.api_version.version
    returns_documents: bool  # the result schema has ``document``

    def produce(self, ctx: RequestContext) -> Output | None:
        body = ctx.body if isinstance(ctx.body, dict) else None
        field = self.binding.name_of
        if body is None or not isinstance(body.get(field("documents")), list):
            return None
        query = str(body.get(field("query")) or "")
        documents = body[field("documents")]
        texts = [_text(document, body.get("rank_fields")) for document in documents]
        ranked = sorted(
            (
                (relevance(score, query, text), index)
                for index, (score, text) in enumerate(zip(scores(query, texts), texts, strict=True))
            ),
            key=lambda item: (-item[0], item[1]),
        )
        top_n = body.get(field("top_n"))
        if isinstance(top_n, int) and not isinstance(top_n, bool) and top_n >= 1:
            ranked = ranked[:top_n]
        with_documents = self.returns_documents and body.get(field("return_documents")) is True
        results: list[dict[str, Any]] = []
        for score, index in ranked:
            result: dict[str, Any] = {"index": index, "relevance_score": score}
            if with_documents:
                result["document"] = _document(documents[index])
            results.append(result)
        units = max(1, math.ceil(len(documents) / DOCUMENTS_PER_SEARCH_UNIT))
        meta = {"api_version": {"version": self.api_version}, "billed_units": {"search_units": units}}
        answer = {"id": str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4)), "results": results, "meta": meta}
        return Output(body=answer, source="llm")


def _text(document: Any, rank_fields: Any) -> str:
    """The text ranked: a string as given; an object's ``rank_fields`` (else ``text``) joined in order."""
    if isinstance(document, str):
        return document
    if not isinstance(document, Mapping):
        return ""
    names = (
        [f for f in rank_fields if isinstance(f, str)] if isinstance(rank_fields, list) and rank_fields else ["text"]
    )
    return "\n".join(str(document[name]) for name in names if name in document)


def _document(document: Any) -> dict[str, Any]:
    """A result's ``document``: the request's object (its fields preserved, as the API does) or ``{"text": s}``."""
    if isinstance(document, Mapping):
        return {**document, "text": str(document.get("text", ""))}
    return {"text": str(document)}


def _result_properties(operation: Operation, env: CompileEnv) -> Mapping[str, Any]:
    media = operation.json_response
    if media is None or media.schema is None:
        return {}
    try:
        schema = deref(env.document, media.schema)
        item = deref(env.document, deref(env.document, schema["properties"]["results"])["items"])
        properties: Mapping[str, Any] = item.get("properties") or {}
    except (KeyError, TypeError, AttributeError):
        return {}
    return properties


def factory(operation: Operation, env: CompileEnv) -> RerankProducer | None:
    properties = _result_properties(operation, env)
    if not {"index", "relevance_score"} <= properties.keys():
        return None  # not the rerank answer we know: leave it to the generic producers
    binding = binding_for(operation, env.document, env_files(env)) or Binding("rerank")
    version = re.search(r"/v(\d+)/", operation.path + "/")
    return RerankProducer(binding, version.group(1) if version else "1", "document" in properties)
