"""Azure OpenAI through ``openai.AsyncAzureOpenAI``: every deployment operation answers like a model (chat, its
stream with usage, completions, embeddings, images, transcriptions, translations), with Azure's content-filter
results where its document declares them, each answer checked against the Azure document's own schemas."""

from __future__ import annotations

import io
import json
import warnings
import wave
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from fakeai.app import FakeAI
from tests.conftest import scenario_app

USER: Any = [{"role": "user", "content": "Tell me about the sea."}]
SAFE = {"filtered": False, "severity": "safe"}


@pytest.fixture
def app() -> Iterator[FakeAI]:
    yield from scenario_app(spec="azure")


def azure(app: FakeAI) -> openai.AsyncAzureOpenAI:
    return openai.AsyncAzureOpenAI(
        azure_endpoint="http://fakeai.test",
        api_key="x",
        api_version="2024-10-21",
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=app)),
        max_retries=0,
    )


def check(app: FakeAI, schema: str, body: Any) -> None:
    components = app.document["components"]
    jsonschema.validate(body, {**components["schemas"][schema], "components": components})


def wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * 16000)
    return buffer.getvalue()


def test_every_deployment_operation_is_bound_to_a_behaviour(app: FakeAI) -> None:
    assert {op_id: compiled.sources[0] for op_id, compiled in app.operations.items()} == dict.fromkeys(
        [
            *("ChatCompletions_Create", "Completions_Create", "embeddings_create"),
            *("ImageGenerations_Create", "Transcriptions_Create", "Translations_Create"),
        ],
        "llm",
    )


async def test_chat_answers_carry_content_filter_results(app: FakeAI) -> None:
    answer = await azure(app).chat.completions.with_raw_response.create(model="gpt-4o", messages=USER, max_tokens=8)
    body = answer.http_response.json()
    check(app, "createChatCompletionResponse", body)
    [prompt] = body["prompt_filter_results"]
    assert prompt["prompt_index"] == 0 and prompt["content_filter_results"]["jailbreak"] == {
        "filtered": False,
        "detected": False,
    }
    assert body["choices"][0]["content_filter_results"]["violence"] == SAFE
    assert answer.parse().usage.completion_tokens == 8  # type: ignore[union-attr]


async def test_a_scripted_reply_carries_them_too(app: FakeAI) -> None:
    assert app.scenarios is not None
    app.scenarios.load("script", "rules:\n  - {match: {operation: ChatCompletions_Create}, respond: {content: Hi}}\n")
    answer = await azure(app).chat.completions.with_raw_response.create(model="gpt-4o", messages=USER)
    body = answer.http_response.json()
    assert body["choices"][0]["message"]["content"] == "Hi" and body["choices"][0]["content_filter_results"]
    check(app, "createChatCompletionResponse", body)


async def test_stream_with_include_usage_validates_chunk_by_chunk(app: FakeAI) -> None:
    client = azure(app)
    created = await client.chat.completions.create(model="gpt-4o", messages=USER, max_tokens=12)
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=USER, max_tokens=12, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == created.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12
    body = {"messages": USER, "max_tokens": 12, "stream": True, "stream_options": {"include_usage": True}}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fakeai.test") as raw:
        answer = await raw.post("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", json=body)
    frames = [line[6:] for line in answer.text.splitlines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    for frame in frames[:-1]:  # the document's chunk declares no filter results, so none are sent
        check(app, "createChatCompletionStreamResponse", json.loads(frame))


async def test_completions_carry_content_filter_results(app: FakeAI) -> None:
    answer = await azure(app).completions.with_raw_response.create(
        model="gpt-35-turbo-instruct", prompt="Hi", max_tokens=4
    )
    body = answer.http_response.json()
    check(app, "createCompletionResponse", body)
    assert body["choices"][0]["content_filter_results"]["hate"] == SAFE and body["prompt_filter_results"]


async def test_embeddings_are_float_vectors_even_when_the_sdk_asks_for_base64(app: FakeAI) -> None:
    client = azure(app)
    default = await client.embeddings.with_raw_response.create(model="text-embedding-3-small", input=["hi", "sea"])
    floats = await client.embeddings.create(
        model="text-embedding-3-small", input=["hi", "sea"], encoding_format="float"
    )
    body = default.http_response.json()
    schema = app.operations["embeddings_create"].operation.json_response
    assert schema is not None and schema.schema is not None
    jsonschema.validate(body, schema.schema)
    parsed = default.parse()
    assert [len(e.embedding) for e in parsed.data] == [1536, 1536] and parsed.data[0].embedding == floats.data[
        0
    ].embedding
    assert parsed.usage.prompt_tokens == 2


async def test_image_generation_carries_filter_results_per_image(app: FakeAI) -> None:
    answer = await azure(app).images.with_raw_response.generate(model="dall-e-3", prompt="a lighthouse at dawn")
    body = answer.http_response.json()
    check(app, "generateImagesResponse", body)
    [image] = body["data"]
    assert image["url"] and image["content_filter_results"]["sexual"] == SAFE
    assert image["prompt_filter_results"]["jailbreak"] == {"filtered": False, "detected": False}


async def test_transcription_and_translation_answer_like_the_audio_behaviour(app: FakeAI) -> None:
    client = azure(app)
    transcript = await client.audio.transcriptions.with_raw_response.create(
        model="whisper", file=("a.wav", wav(), "audio/wav"), response_format="verbose_json"
    )
    body = transcript.http_response.json()
    check(app, "audioVerboseResponse", body)
    assert body["duration"] == 1.0 and body["segments"][0]["text"].strip() == body["text"]
    with warnings.catch_warnings():  # this openai release marks audio.translations deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        translation = await client.audio.translations.create(model="whisper", file=("a.wav", wav(), "audio/wav"))
    assert translation.text


async def test_the_preview_documents_speech_deployment_speaks() -> None:
    from tests.conftest import make_app

    app = make_app(spec="azure-preview")
    client = openai.AsyncAzureOpenAI(
        azure_endpoint="http://fakeai.test", api_key="x", api_version="2025-04-01-preview", max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=app)),
    )  # fmt: skip
    assert app.operations["Speech_Create"].sources[0] == "llm"
    speech = await client.audio.speech.create(model="tts", voice="alloy", input="hello there", response_format="wav")
    with wave.open(io.BytesIO(speech.read())) as reader:
        assert reader.getnframes() / reader.getframerate() > 0.3  # "hello there" is spoken, not generated bytes
    assert not app.violations
