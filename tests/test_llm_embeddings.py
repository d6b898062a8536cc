"""Embeddings through the official SDK: unit vectors, determinism, dimensions, base64, usage."""

from __future__ import annotations

from typing import Any

import numpy as np
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.producers.endpoints.embeddings import embed, native_dimensions
from fakeai.producers.text.tokenizer import for_model

MODEL = "text-embedding-3-small"


async def test_base64_default_decodes_to_the_float_answer(client: Any) -> None:
    packed = await client.embeddings.create(model=MODEL, input=["alpha beta", "gamma"])  # SDK asks for base64
    floats = await client.embeddings.create(model=MODEL, input=["alpha beta", "gamma"], encoding_format="float")
    assert [d.embedding for d in packed.data] == [d.embedding for d in floats.data]
    assert [d.index for d in packed.data] == [0, 1]


@pytest.mark.parametrize(
    ("model", "width"),
    [(MODEL, 1536), ("text-embedding-3-large", 3072), ("text-embedding-ada-002", 1536), ("my-embedder", 1536)],
)
async def test_default_width_by_model_and_unit_norm(client: Any, model: str, width: int) -> None:
    answer = await client.embeddings.create(model=model, input="Hello there", encoding_format="float")
    vector = np.array(answer.data[0].embedding)
    assert (len(vector), answer.model) == (width, model)
    assert abs(np.linalg.norm(vector) - 1.0) < 1e-5


async def test_dimensions_shorten_like_text_embedding_3(client: Any) -> None:
    full = await client.embeddings.create(model=MODEL, input="a cat on a mat", encoding_format="float")
    short = await client.embeddings.create(model=MODEL, input="a cat on a mat", dimensions=256)
    prefix = np.array(full.data[0].embedding[:256])
    vector = np.array(short.data[0].embedding)
    assert len(vector) == 256
    assert np.allclose(vector, prefix / np.linalg.norm(prefix), atol=1e-6)


async def test_usage_counts_strings_and_token_arrays(client: Any) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    tokens = for_model(MODEL).encode(text)
    by_text = await client.embeddings.create(model=MODEL, input=[text, "hi"])
    by_tokens = await client.embeddings.create(model=MODEL, input=[tokens, [1, 2]])
    assert by_text.usage.prompt_tokens == len(tokens) + for_model(MODEL).count("hi")
    assert (by_tokens.usage.prompt_tokens, by_tokens.usage.total_tokens) == (len(tokens) + 2, len(tokens) + 2)
    assert by_text.data[0].embedding == by_tokens.data[0].embedding  # a text and its tokens embed alike


async def test_single_token_array_is_one_input(client: Any) -> None:
    answer = await client.embeddings.create(model=MODEL, input=[11, 22, 33])
    assert (len(answer.data), answer.usage.prompt_tokens) == (1, 3)


async def test_related_texts_are_closer_than_unrelated_ones(client: Any) -> None:
    texts = ["I love my cat very much", "I love my dog very much", "Quarterly revenue fell sharply"]
    answer = await client.embeddings.create(model=MODEL, input=texts)
    cats, dogs, revenue = (np.array(d.embedding) for d in answer.data)
    assert cats @ dogs > 0.5 > cats @ revenue


async def test_ada_rejects_dimensions_and_small_rejects_too_many(client: Any) -> None:
    with pytest.raises(openai.BadRequestError):
        await client.embeddings.create(model="text-embedding-ada-002", input="x", dimensions=256)
    with pytest.raises(openai.BadRequestError):
        await client.embeddings.create(model=MODEL, input="x", dimensions=2048)


async def test_empty_string_is_rejected(client: Any) -> None:
    with pytest.raises(openai.BadRequestError):
        await client.embeddings.create(model=MODEL, input=["ok", ""])


@settings(database=None, max_examples=60, deadline=None)
@given(texts=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=6), dims=st.integers(1, 1536))
def test_vectors_are_unit_and_deterministic(texts: list[str], dims: int) -> None:
    tokenizer = for_model(MODEL)
    lists = [tokenizer.encode(t) for t in texts]
    first = embed(lists, MODEL, dims)
    again = embed(list(reversed(lists)), MODEL, dims)[::-1]
    assert first.shape == (len(texts), dims) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first, again)  # a text's vector does not depend on its neighbours


def test_models_differ() -> None:
    tokens = [for_model(MODEL).encode("same text")]
    assert not np.allclose(embed(tokens, MODEL, 1536), embed(tokens, "text-embedding-ada-002", 1536))
    assert native_dimensions("TEXT-EMBEDDING-3-LARGE") == 3072


def test_hundred_inputs_of_1536_dims_in_one_batch() -> None:
    """A batch of 100 inputs is 100 unit vectors, each the same as embedded alone (speed: ``benchmarks/``)."""
    tokenizer = for_model(MODEL)
    lists = [tokenizer.encode(f"Sentence number {i} talks about foxes, dogs and other animals.") for i in range(100)]
    batch = embed(lists, MODEL, 1536)
    assert batch.shape == (100, 1536)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(batch[41], embed([lists[41]], MODEL, 1536)[0])
