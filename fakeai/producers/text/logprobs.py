"""Log probabilities for generated tokens, in the chat and the legacy completions formats.

The sampled token gets a logprob near 0 (``-Exp(3)``: a confident model); ``top_logprobs`` lists
the sampled token first, then other common tokens of the same tokenizer with strictly smaller
logprobs. ``token`` strings are the completion's pieces (they join back to the content) and
``bytes`` are the tokenizer's bytes of each token id (they join back to the UTF-8 content).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from fakeai.producers.text.tokenizer import Tokenizer

__all__ = ["MAX_TOP_LOGPROBS", "chat_logprobs", "legacy_logprobs"]

MAX_TOP_LOGPROBS = 20
_COMMON = (
    " the", " a", " and", " of", " to", " in", " is", " that", " it", ",", ".", " for", " with", " as", " on",
    " this", " was", " be", " are", " by", "\n", " or", " an", " at", " from", " not", " we", " can", " which",
    " they", " you", " but",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Alternative:
    token: str
    bytes: list[int]  # shared by every answer that lists it: never mutated


_lock = threading.Lock()
_alternatives: dict[str, tuple[_Alternative, ...]] = {}


def _alternatives_for(tokenizer: Tokenizer) -> tuple[_Alternative, ...]:
    found = _alternatives.get(tokenizer.name)
    if found is None:
        with _lock:
            built = []
            for text in _COMMON:
                ids = tokenizer.encode(text)
                if len(ids) == 1:
                    built.append(_Alternative(text, list(tokenizer.token_bytes(ids[0]))))
            found = _alternatives[tokenizer.name] = tuple(built)
    return found


def _draws(rng: random.Random, piece: str, top: int, alternatives: Sequence[_Alternative]) -> tuple[float, list[Any]]:
    """The sampled token's logprob and ``top - 1`` (alternative, logprob) pairs below it.

    Alternatives are consecutive entries of the common-token table from a random start (one draw
    instead of a sample: this runs once per token).
    """
    chosen = -round(rng.expovariate(3.0), 6)
    pairs: list[Any] = []
    if top > 1:
        value = chosen
        size = len(alternatives)
        at = int(rng.random() * size)
        for _ in range(min(top, size)):
            alternative = alternatives[at]
            at = at + 1 if at + 1 < size else 0
            if alternative.token == piece:
                continue
            value = round(value - 0.05 - rng.expovariate(0.8), 6)
            pairs.append((alternative, value))
            if len(pairs) == top - 1:
                break
    return chosen, pairs


def chat_logprobs(
    pieces: Sequence[str], ids: Sequence[int], tokenizer: Tokenizer, rng: random.Random, top: int
) -> list[dict[str, Any]]:
    """``choices[].logprobs.content`` entries, one per token."""
    top = max(0, min(top, MAX_TOP_LOGPROBS))
    alternatives = _alternatives_for(tokenizer)
    entries: list[dict[str, Any]] = []
    for piece, token_id in zip(pieces, ids, strict=True):
        raw = list(tokenizer.token_bytes(token_id))
        chosen, pairs = _draws(rng, piece, top, alternatives)
        tops = [{"token": piece, "logprob": chosen, "bytes": raw}] if top else []
        tops.extend({"token": alt.token, "logprob": value, "bytes": alt.bytes} for alt, value in pairs)
        entries.append({"token": piece, "logprob": chosen, "bytes": raw, "top_logprobs": tops})
    return entries


def legacy_logprobs(
    pieces: Sequence[str], tokenizer: Tokenizer, rng: random.Random, top: int, offset: int = 0
) -> dict[str, Any]:
    """The legacy completions ``logprobs`` object: tokens, token_logprobs, top_logprobs, text_offset."""
    top = max(0, min(top, 5))
    alternatives = _alternatives_for(tokenizer)
    token_logprobs: list[float] = []
    tops: list[dict[str, float]] = []
    for piece in pieces:
        chosen, pairs = _draws(rng, piece, top, alternatives)
        token_logprobs.append(chosen)
        table = {piece: chosen} if top else {}
        table.update((alt.token, value) for alt, value in pairs)
        tops.append(table)
    offsets = list(accumulate((len(p) for p in pieces[:-1]), initial=offset)) if pieces else []
    return {"tokens": list(pieces), "token_logprobs": token_logprobs, "top_logprobs": tops, "text_offset": offsets}
