"""``POST /embeddings``: deterministic, unit-length, vaguely semantic vectors.

An input is tokenised with the model's tokenizer (token-array inputs are used as given), and its
vector is the normalised sum of a unigram part (one row of a per-model random table per token)
and half-weighted bigram rows (so word order matters). Consequences clients can rely on:

* identical texts (or a text and its token array) give identical vectors, in every worker;
* texts sharing tokens are closer (higher cosine similarity) than unrelated ones;
* ``dimensions`` keeps the first ``d`` components and renormalises, as text-embedding-3's
  shortened embeddings do, so a short embedding is a prefix of the long one, rescaled.

The table (``BUCKETS`` rows of ``float32``, token ids hashed into rows) is built once per model
and width from a seed derived from the model name and the global seed; a request only gathers
rows and sums them (``numpy``, vectorised over all inputs).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from fakeai.context import Output, RequestContext
from fakeai.errors import APIError
from fakeai.lazyimport import lazy
from fakeai.producers.base import CompileEnv
from fakeai.producers.text.tokenizer import for_model
from fakeai.spec.operation import Operation
from fakeai.spec.pointer import deref

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Matrix = npt.NDArray[np.float32]
else:
    np = lazy("numpy")


__all__ = ["BUCKETS", "EmbeddingsProducer", "embed", "factory", "native_dimensions"]

BUCKETS = 1024  # table rows; token ids are hashed into them
BIGRAM_WEIGHT = 0.5
MAX_INPUT_TOKENS = 8192
DEFAULT_DIMENSIONS = 1536
_NATIVE = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
_FIXED = frozenset({"text-embedding-ada-002"})  # models that do not accept ``dimensions``
_BIGRAM_MIX = 1_000_003  # int64 arithmetic with the token ids
_MAX_TOKEN_ID = 2**32


def native_dimensions(model: str) -> int:
    """The model's full embedding width (1536 for unknown models)."""
    return _NATIVE.get(model.lower(), DEFAULT_DIMENSIONS)


@lru_cache(maxsize=8)
def _table(model: str, width: int, seed: int) -> Matrix:
    digest = hashlib.blake2b(f"{seed}\0{model}".encode(), digest_size=8).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "big"))
    table = rng.standard_normal((BUCKETS, width), dtype=np.float32)
    table.setflags(write=False)
    return table


def embed(token_lists: Sequence[Sequence[int]], model: str, dimensions: int, *, seed: int = 0) -> Matrix:
    """``(len(token_lists), dimensions)`` float32 unit vectors, one per (non-empty) token list."""
    table = _table(model, max(native_dimensions(model), dimensions), seed)
    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    ids = np.fromiter((i for tokens in token_lists for i in tokens), dtype=np.int64, count=int(lengths.sum()))
    count = len(token_lists)
    owner = np.repeat(np.arange(count, dtype=np.int64), lengths)
    # bigrams: each token with its successor; the last token of an input pairs with nothing
    has_next = np.ones(len(ids), dtype=bool)
    has_next[np.cumsum(lengths) - 1] = False
    bigram_buckets = (ids[:-1] * _BIGRAM_MIX + ids[1:]) % BUCKETS
    cells = np.concatenate(
        (owner * BUCKETS + ids % BUCKETS, (owner[:-1][has_next[:-1]] + count) * BUCKETS + bigram_buckets[has_next[:-1]])
    )
    # token counts per (input, bucket): rows 0..n-1 unigrams, n..2n-1 bigrams; one matrix product
    counts = np.bincount(cells, minlength=2 * count * BUCKETS).reshape(2 * count, BUCKETS).astype(np.float32)
    # one vector-matrix product per row: a batched matrix product blocks rows together, so a text's vector
    # would depend on its neighbours in the last bits (a batch of the same texts reversed differed)
    summed = _unit(np.stack([row @ table for row in counts]))
    full = _unit(summed[:count] + np.float32(BIGRAM_WEIGHT) * summed[count:])
    vectors = _unit(full[:, :dimensions])  # shortened embeddings: a prefix of the full one, renormalised
    return vectors.astype(np.float32, copy=False)


def _unit(rows: Matrix) -> Matrix:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: Matrix = rows / np.maximum(norms, np.float32(1e-12))
    return unit


@dataclass(frozen=True, slots=True)
class EmbeddingsProducer:
    source: str = "llm"
    base64: bool = True  # encoding_format base64 honoured (the answer's schema lets a vector be a string)

    def produce(self, ctx: RequestContext) -> Output | None:
        body = ctx.body if isinstance(ctx.body, dict) else {}
        model = str(body.get("model") or "text-embedding-3-small")
        dimensions = _dimensions(model, body.get("dimensions"))
        token_lists = _token_lists(body.get("input"), model)
        vectors = embed(token_lists, model, dimensions, seed=ctx.settings.seed)
        as_base64 = self.base64 and body.get("encoding_format") == "base64"
        data: list[dict[str, Any]] = []
        for index, vector in enumerate(vectors):
            value: Any = base64.b64encode(vector.astype("<f4").tobytes()).decode() if as_base64 else vector.tolist()
            data.append({"object": "embedding", "index": index, "embedding": value})
        tokens = sum(len(t) for t in token_lists)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return Output(body={"object": "list", "data": data, "model": model, "usage": usage}, source=self.source)


def _dimensions(model: str, requested: Any) -> int:
    native = native_dimensions(model)
    if requested is None:
        return native
    if not isinstance(requested, int) or isinstance(requested, bool) or requested < 1:
        raise APIError(400, f"Invalid value for 'dimensions': {requested!r}.", param="dimensions")
    if model.lower() in _FIXED and requested != native:
        raise APIError(400, "This model does not support specifying dimensions.", param="dimensions")
    if model.lower() in _NATIVE and requested > native:
        raise APIError(
            400,
            f"Invalid value for 'dimensions' = {requested}. Must be less than or equal to {native}.",
            param="dimensions",
        )
    return requested


def _token_lists(raw: Any, model: str) -> list[list[int]]:
    """Every input as token ids: a string, strings, a token array, or token arrays."""
    if isinstance(raw, str):
        items: list[Any] = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(i, int) for i in raw):
        items = [raw]
    elif isinstance(raw, list) and raw:
        items = raw
    else:
        raise APIError(400, "'input' must be a non-empty string or array.", param="input")
    tokenizer = for_model(model)
    lists: list[list[int]] = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            if not item:
                raise APIError(400, f"'$.input[{index}]' is invalid: it cannot be an empty string.", param="input")
            tokens = tokenizer.encode(item)
        elif isinstance(item, list) and item and all(isinstance(i, int) and 0 <= i < _MAX_TOKEN_ID for i in item):
            tokens = item
        else:
            raise APIError(400, f"'$.input[{index}]' must be a string or a non-empty array of tokens.", param="input")
        if len(tokens) > MAX_INPUT_TOKENS:
            raise APIError(
                400,
                f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you requested "
                f"{len(tokens)} tokens in input {index}. Please reduce your prompt.",
                param="input",
                code="context_length_exceeded",
            )
        lists.append(tokens)
    return lists


def factory(operation: Operation, env: CompileEnv) -> EmbeddingsProducer | None:
    """Bound by declaration (spec/bindings/*.yaml: behaviour embeddings), whatever the operationId. Vectors are
    floats where the answer's schema types ``embedding`` as an array only (Azure's 2024-10-21 document), even when
    base64 is asked for: the SDKs decode only the strings they get."""
    media = operation.json_response
    embedding = _at(
        env.document, media.schema if media else None, ("properties", "data", "items", "properties", "embedding")
    )
    return EmbeddingsProducer(base64=not (isinstance(embedding, dict) and embedding.get("type") == "array"))


def _at(document: Any, schema: Any, keys: Sequence[str]) -> Any:
    for key in keys:
        schema = deref(document, schema)
        schema = schema.get(key) if isinstance(schema, dict) else None
    return deref(document, schema)
