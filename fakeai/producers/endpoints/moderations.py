"""``POST /moderations``: one result per input, flagged by a configurable word list.

Inputs: a string, a list of strings (one result each), or a list of multi-modal parts
(``text`` / ``image_url``), which together form ONE input, as with omni-moderation.

A word of ``settings.moderation_words`` (case-insensitive, as a word prefix: "kill" matches
"killing") flags the categories it stands for with a high score (0.80-0.99); everything else gets
a low score (1e-6..1e-2, log-uniform). Scores are deterministic from (global seed, model, text),
so the same text always gets the same result. Known words map to fitting categories; any other
configured word gets one of :data:`FALLBACK_CATEGORIES`, picked by a hash of the word.

The category names and the input types each category applies to are read from the spec's
response schema at startup, so a newer spec adds categories without code changes.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fakeai.context import Output, RequestContext
from fakeai.errors import APIError
from fakeai.ids import HEX, new_id
from fakeai.producers.base import CompileEnv
from fakeai.spec.operation import Operation
from fakeai.spec.pointer import deref

__all__ = ["DEFAULT_MODEL", "Classifier", "ModerationsProducer", "factory"]

DEFAULT_MODEL = "omni-moderation-latest"
WORD_CATEGORIES: Mapping[str, tuple[str, ...]] = {
    "kill": ("violence", "harassment/threatening"),
    "murder": ("violence", "harassment/threatening"),
    "attack": ("violence",),
    "shoot": ("violence", "illicit/violent"),
    "bomb": ("illicit/violent", "violence"),
    "weapon": ("illicit/violent",),
    "gore": ("violence/graphic", "violence"),
    "hate": ("hate", "harassment"),
    "stupid": ("harassment",),
    "idiot": ("harassment",),
    "suicide": ("self-harm", "self-harm/intent"),
    "self-harm": ("self-harm",),
    "cut myself": ("self-harm", "self-harm/intent"),
    "steal": ("illicit",),
    "shoplift": ("illicit",),
    "drugs": ("illicit",),
    "sex": ("sexual",),
    "porn": ("sexual",),
}
FALLBACK_CATEGORIES = ("violence", "harassment", "hate", "self-harm", "illicit")
_LEGACY_NULL = frozenset({"illicit", "illicit/violent"})  # text-moderation-* models predate these


@dataclass(frozen=True, slots=True)
class Classifier:
    """Compiled once: category names, input types per category, the word pattern."""

    categories: tuple[str, ...]
    image_categories: frozenset[str]  # categories that also apply to images
    pattern: re.Pattern[str] | None
    word_categories: Mapping[str, tuple[str, ...]]
    seed: int

    @classmethod
    def from_schema(cls, result_schema: Mapping[str, Any], words: Sequence[str], seed: int) -> Classifier:
        scores = result_schema["properties"]["category_scores"]
        applied = result_schema["properties"].get("category_applied_input_types", {}).get("properties", {})
        categories = tuple(scores.get("required") or scores["properties"])
        image = frozenset(name for name, s in applied.items() if "image" in (s.get("items") or {}).get("enum", ()))
        cleaned = sorted({w.strip().lower() for w in words if w.strip()}, key=len, reverse=True)
        pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in cleaned) + ")", re.IGNORECASE) if cleaned else None
        mapping = {w: _categories_for(w, categories) for w in cleaned}
        return cls(categories, image, pattern, mapping, seed)

    def classify(self, text: str, has_image: bool, model: str) -> dict[str, Any]:
        rng = random.Random(_digest(f"{self.seed}\0{model}\0{text}"))
        hit: dict[str, float] = {}
        for match in self.pattern.finditer(text) if self.pattern else ():
            for category in self.word_categories[match.group(1).lower()]:
                hit.setdefault(category, round(rng.uniform(0.80, 0.99), 6))
        legacy = model.startswith("text-moderation")
        categories: dict[str, bool | None] = {}
        scores: dict[str, float] = {}
        applied: dict[str, list[str]] = {}
        for name in self.categories:
            score = hit.get(name) or float(f"{10 ** rng.uniform(-6, -2):.6g}")
            flagged = name in hit
            if legacy and name in _LEGACY_NULL:
                categories[name], scores[name] = None, 0.0
            else:
                categories[name], scores[name] = flagged, score
            applied[name] = ["text", "image"] if has_image and name in self.image_categories else ["text"]
        return {
            "flagged": bool(hit) and any(categories.get(c) for c in hit),
            "categories": categories,
            "category_scores": scores,
            "category_applied_input_types": applied,
        }


def _categories_for(word: str, known: Sequence[str]) -> tuple[str, ...]:
    mapped = WORD_CATEGORIES.get(word)
    if mapped is None:
        for key, value in WORD_CATEGORIES.items():
            if word.startswith(key):
                mapped = value
                break
    if mapped is None:
        fallback = [c for c in FALLBACK_CATEGORIES if c in known] or list(known)
        mapped = (fallback[_digest(word) % len(fallback)],)
    return tuple(c for c in mapped if c in known)


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _inputs(raw: Any) -> list[tuple[str, bool]]:
    """(text, has_image) per input."""
    if isinstance(raw, str):
        return [(raw, False)]
    if not isinstance(raw, list) or not raw:
        raise APIError(400, "'input' must be a string or a non-empty array.", param="input")
    if all(isinstance(item, str) for item in raw):
        return [(item, False) for item in raw]
    texts = [
        p["text"] for p in raw if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
    ]
    has_image = any(isinstance(p, dict) and p.get("type") == "image_url" for p in raw)
    return [("\n".join(texts), has_image)]


@dataclass(frozen=True, slots=True)
class ModerationsProducer:
    classifier: Classifier
    source: str = "llm"

    def produce(self, ctx: RequestContext) -> Output | None:
        body = ctx.body if isinstance(ctx.body, dict) else {}
        model = str(body.get("model") or DEFAULT_MODEL)
        results = [self.classifier.classify(text, image, model) for text, image in _inputs(body.get("input"))]
        ident = new_id(ctx.rng, "modr-", 32, HEX)
        return Output(body={"id": ident, "model": model, "results": results}, source=self.source)


def factory(operation: Operation, env: CompileEnv) -> ModerationsProducer | None:
    media = operation.json_response
    if operation.operation_id != "createModeration" or media is None or media.schema is None:
        return None
    schema = deref(env.document, media.schema)
    try:
        result = deref(env.document, deref(env.document, schema["properties"]["results"])["items"])
        classifier = Classifier.from_schema(result, env.settings.moderation_words, env.settings.seed)
    except (KeyError, TypeError):
        return None  # not the moderation shape we know: leave it to the generic producers
    return ModerationsProducer(classifier)
