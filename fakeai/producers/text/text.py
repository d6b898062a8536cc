"""Deterministic, model-like completion text cut into tokens.

Three modes: ``lorem`` takes prose from the bundled ``corpus.txt`` (original text, ASCII only),
starting at a sentence or paragraph picked by the caller's ``random.Random``; ``echo`` repeats the
prompt; ``fixed`` returns a given text. The corpus is tokenised once per tokenizer (ids, pieces,
sentence starts and ends), so a request only draws two numbers and slices tuples.

Every :class:`Completion` satisfies ``"".join(tokens) == text`` and ``len(tokens) == len(token_ids)``
is the completion token count. A character spread over several tokens (emoji, CJK in echoed text)
is attached to the token that completes it; the tokens before it carry ``""``.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from itertools import accumulate
from typing import TypeVar

from fakeai.producers.text.tokenizer import Tokenizer

__all__ = ["MODES", "Completion", "LengthSpec", "generate", "split_tokens"]

MODES = ("lorem", "echo", "fixed")
_T = TypeVar("_T")
_SENTENCE_END = (".", "!", "?", '."', '!"', '?"')
SENTENCE_TOKENS = 24  # a typical sentence: the shortest mean a cap shrinks the natural length to


@dataclass(frozen=True, slots=True)
class LengthSpec:
    """How many tokens a model "wants" to write before it stops on its own.

    :meth:`draw` samples a lognormal distribution with the given ``mean`` and ``stddev`` (moment
    matched: ``sigma**2 = ln(1 + (stddev/mean)**2)``, ``mu = ln(mean) - sigma**2/2``), rounds it and
    clips it to ``[minimum, maximum]``. Lognormal because output lengths are positive and
    right-skewed: most answers are near the mean, a few are much longer. ``stddev=0`` is constant.
    """

    mean: float = 120
    stddev: float = 40
    minimum: int = 1
    maximum: int = 2048
    _mu: float = field(init=False, repr=False, compare=False)
    _sigma: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean) and self.mean > 0):
            raise ValueError(f"length mean must be a positive number, got {self.mean!r}")
        if not (math.isfinite(self.stddev) and self.stddev >= 0):
            raise ValueError(f"length stddev must be >= 0, got {self.stddev!r}")
        if not 0 <= self.minimum <= self.maximum:
            raise ValueError(f"length bounds need 0 <= minimum <= maximum, got {self.minimum}..{self.maximum}")
        sigma2 = math.log1p((self.stddev / self.mean) ** 2)
        object.__setattr__(self, "_sigma", math.sqrt(sigma2))
        object.__setattr__(self, "_mu", math.log(self.mean) - sigma2 / 2)

    def draw(self, rng: random.Random) -> int:
        value = round(rng.lognormvariate(self._mu, self._sigma)) if self._sigma > 0 else round(self.mean)
        return min(max(value, self.minimum), self.maximum)

    def under(self, cap: int | None) -> LengthSpec:
        """The lengths a model writes when the request caps it at ``cap`` tokens.

        Clients pick a cap with room for the answer they ask for, and a model asked for a short answer writes
        one: real replies usually end before ``max_tokens``, and clients treat ``finish_reason: length`` as a
        failure (openai-agents, langchain). A cap below ``mean + 2 * stddev`` scales mean and stddev down
        alike (the same shape), so most draws fit and a few are still cut; but a reply is rarely shorter than
        a sentence, so the mean stays at least :data:`SENTENCE_TOKENS` and tiny caps (``max_tokens: 5``) cut
        the reply as they do with real models. A constant length (``stddev`` 0, ``output_length N:0``) stays
        as given: benchmarks use it for exact lengths."""
        room = self.mean + 2 * self.stddev
        if cap is None or cap <= 0 or self.stddev == 0 or cap >= room:
            return self
        scale = max(cap / room, min(1.0, SENTENCE_TOKENS / self.mean))
        return LengthSpec(self.mean * scale, self.stddev * scale, min(self.minimum, cap), self.maximum)

    @classmethod
    def parse(cls, text: str) -> LengthSpec:
        """``MEAN[:STDDEV[:MIN[:MAX]]]``, e.g. ``"120"``, ``"120:40"``, ``"300:100:16:4096"``."""
        parts = text.strip().split(":")
        if not 1 <= len(parts) <= 4 or any(not part.strip() for part in parts):
            raise ValueError(f"length spec {text!r} must look like MEAN[:STDDEV[:MIN[:MAX]]], e.g. '120:40'")
        names = ("MEAN", "STDDEV", "MIN", "MAX")
        numbers: list[float] = []
        for name, part in zip(names, parts, strict=False):
            try:
                numbers.append(float(part))
            except ValueError:
                raise ValueError(f"length spec {text!r}: {name} must be a number, got {part.strip()!r}") from None
        for name, number in zip(names[2:], numbers[2:], strict=False):
            if not number.is_integer():
                raise ValueError(f"length spec {text!r}: {name} must be a whole number of tokens, got {number}")
        defaults = cls()
        return cls(
            mean=numbers[0],
            stddev=numbers[1] if len(numbers) > 1 else defaults.stddev,
            minimum=int(numbers[2]) if len(numbers) > 2 else defaults.minimum,
            maximum=int(numbers[3]) if len(numbers) > 3 else max(defaults.maximum, int(numbers[0])),
        )


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    tokens: tuple[str, ...]  # decoded piece of each token; "".join(tokens) == text
    token_ids: tuple[int, ...]
    finish_reason: str  # "stop" | "length"


def split_tokens(text: str, tokenizer: Tokenizer) -> tuple[str, ...]:
    """The token pieces of ``text``; they join back to ``text`` exactly."""
    return tokenizer.split(text)[1]


# --- the corpus, tokenised once per tokenizer --------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Start:
    index: int  # corpus token the completion starts at
    first_id: int  # that token, without the leading space a mid-paragraph sentence start has
    first_piece: str


@dataclass(frozen=True, slots=True)
class _Corpus:
    ids: tuple[int, ...]  # the corpus twice, so a slice of up to len(corpus) never wraps
    pieces: tuple[str, ...]
    size: int  # tokens in one copy
    starts: tuple[_Start, ...]
    ends: tuple[int, ...]  # token offsets just after a sentence end, over both copies, sorted


_corpus_lock = threading.Lock()
_corpus_text: list[str] = []
_corpora: dict[str, _Corpus] = {}


def _load_text() -> str:
    if not _corpus_text:
        raw = resources.files("fakeai.producers.text").joinpath("corpus.txt").read_text(encoding="ascii")
        _corpus_text.append(raw.strip() + "\n\n")  # paragraph break where the cycle wraps around
    return _corpus_text[0]


def _build(tokenizer: Tokenizer) -> _Corpus:
    ids, pieces = tokenizer.split(_load_text())
    size = len(ids)
    starts = [_Start(0, ids[0], pieces[0])]
    ends: list[int] = []
    for i in range(size - 1):
        piece, following = pieces[i], pieces[i + 1]
        if piece.endswith("\n") and following[:1].isupper():
            starts.append(_Start(i + 1, ids[i + 1], following))
        if piece.rstrip().endswith(_SENTENCE_END) and following[:1].isspace():
            ends.append(i + 1)
            bare = following.lstrip(" ")
            bare_ids = tokenizer.encode(bare) if bare[:1].isupper() and bare != following else []
            if len(bare_ids) == 1:
                starts.append(_Start(i + 1, bare_ids[0], bare))
    ends.append(size)
    return _Corpus(ids + ids, pieces + pieces, size, tuple(starts), tuple(ends + [e + size for e in ends]))


def _corpus_for(tokenizer: Tokenizer) -> _Corpus:
    corpus = _corpora.get(tokenizer.name)
    if corpus is None:
        with _corpus_lock:
            corpus = _corpora.get(tokenizer.name)
            if corpus is None:
                corpus = _corpora[tokenizer.name] = _build(tokenizer)
    return corpus


def _ring(values: tuple[_T, ...], start: int, count: int) -> tuple[_T, ...]:
    """``count`` items of the non-empty ``values`` read as a ring from ``start``."""
    if start + count <= len(values):
        return values[start : start + count]
    out = values[start:]
    while len(out) + len(values) <= count:
        out += values
    return out + values[: count - len(out)]


def _snap(corpus: _Corpus, start: int, natural: int, low: int, high: int) -> int:
    """The length ending on the sentence end nearest ``natural`` within [low, high] and +-50%."""
    tolerance = natural // 2
    low, high = max(low, natural - tolerance, 1), min(high, natural + tolerance)
    ends = corpus.ends
    i = bisect.bisect_left(ends, start + natural)
    best = natural
    best_gap = tolerance + 1
    for j in (i - 1, i):
        if 0 <= j < len(ends):
            length = ends[j] - start
            if low <= length <= high and abs(length - natural) < best_gap:
                best, best_gap = length, abs(length - natural)
    return best


def _lorem(
    corpus: _Corpus, rng: random.Random, count: int, start: _Start | None = None
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    if count <= 0:
        return (), ()
    start = start or corpus.starts[rng.randrange(len(corpus.starts))]
    ids = (start.first_id, *_ring(corpus.ids, start.index + 1, count - 1))
    pieces = (start.first_piece, *_ring(corpus.pieces, start.index + 1, count - 1))
    return ids, pieces


def _cut_at_stop(
    ids: tuple[int, ...], pieces: tuple[str, ...], stop: Sequence[str], tokenizer: Tokenizer
) -> tuple[tuple[int, ...], tuple[str, ...]] | None:
    """The tokens before the earliest stop sequence, or None when no stop sequence occurs."""
    text = "".join(pieces)
    found = [at for at in (text.find(s) for s in stop if s) if at >= 0]
    if not found:
        return None
    cut = min(found)
    ends = list(accumulate(map(len, pieces)))
    keep = bisect.bisect_right(ends, cut)  # pieces wholly before the stop sequence
    while keep and not pieces[keep - 1]:
        keep -= 1  # fragments of a character that belongs to the stop sequence
    head = ends[keep - 1] if keep else 0
    if cut == head:
        return ids[:keep], pieces[:keep]
    tail_ids, tail_pieces = tokenizer.split(text[head:cut])  # a token straddles the stop sequence
    return ids[:keep] + tail_ids, pieces[:keep] + tail_pieces


def generate(
    *,
    mode: str,
    rng: random.Random,
    tokenizer: Tokenizer,
    max_tokens: int | None,
    length: LengthSpec,
    prompt_text: str = "",
    fixed_text: str = "",
    stop: Sequence[str] = (),
    ignore_eos: bool = False,
    min_tokens: int = 0,
) -> Completion:
    """One completion.

    Length: the natural length is a ``length.under(max_tokens)`` draw (lorem: a small cap shrinks the
    draw, see :meth:`LengthSpec.under`) or the whole echo/fixed text. If ``max_tokens`` is smaller, the
    text is cut at exactly ``max_tokens`` tokens, finish_reason ``"length"``. Lorem text otherwise
    ends on the sentence end nearest the draw (within +-50% of it, ``length``'s bounds and
    ``max_tokens``), finish_reason ``"stop"``. ``ignore_eos`` forces
    exactly ``max_tokens`` tokens (a ``length`` draw when it is None), cycling echo/fixed text
    (an empty one falls back to the corpus); finish_reason ``"length"``.
    Stop sequences are honoured even with ``ignore_eos`` (as vLLM does): the text is cut before
    the earliest one, which is not included, finish_reason ``"stop"``. ``min_tokens`` (vLLM): echo/fixed
    text shorter than it continues (cycling) to that length, and a stop sequence that would leave fewer
    tokens is not one (vLLM checks stops only from then on); lorem lengths take it from ``length.minimum``.
    """
    if mode not in MODES:
        raise ValueError(f"unknown text mode {mode!r}; expected one of {', '.join(MODES)}")
    if max_tokens is not None and max_tokens < 0:
        raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")
    ids: tuple[int, ...]
    pieces: tuple[str, ...]
    if mode == "lorem":
        corpus = _corpus_for(tokenizer)
        start = corpus.starts[rng.randrange(len(corpus.starts))]
        wanted = length if ignore_eos else length.under(max_tokens)
        natural = wanted.draw(rng)
        if ignore_eos or (max_tokens is not None and natural > max_tokens):
            count, finish = (natural if max_tokens is None else max_tokens), "length"
        else:
            high = wanted.maximum if max_tokens is None else min(max_tokens, wanted.maximum)
            count, finish = _snap(corpus, start.index, natural, wanted.minimum, high), "stop"
        ids, pieces = _lorem(corpus, rng, count, start)
    else:
        ids, pieces = tokenizer.split(prompt_text if mode == "echo" else fixed_text)
        if ignore_eos:
            count, finish = (length.draw(rng) if max_tokens is None else max_tokens), "length"
            if not ids:
                ids, pieces = _lorem(_corpus_for(tokenizer), rng, count)
            elif count != len(ids):
                if not pieces[-1][-1:].isspace():
                    space_ids, space_pieces = tokenizer.split(" ")
                    ids, pieces = ids + space_ids, pieces + space_pieces  # separates the repeats
                ids, pieces = _ring(ids, 0, count), _ring(pieces, 0, count)
        elif max_tokens is not None and len(ids) > max_tokens:
            ids, pieces, finish = ids[:max_tokens], pieces[:max_tokens], "length"
        else:
            finish = "stop"
            floor = min_tokens if max_tokens is None else min(min_tokens, max_tokens)
            if ids and len(ids) < floor:
                ids, pieces = _ring(ids, 0, floor), _ring(pieces, 0, floor)
                finish = "length" if floor == max_tokens else "stop"
    if stop:
        cut = _cut_at_stop(ids, pieces, stop, tokenizer)
        if cut is not None and len(cut[0]) >= min_tokens:
            ids, pieces = cut
            finish = "stop"
    return Completion("".join(pieces), pieces, ids, finish)
