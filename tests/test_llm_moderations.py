"""Moderations through the official SDK: word-driven flags, every category, applied input types."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.app import FakeAI
from fakeai.producers.endpoints.moderations import Classifier
from fakeai.testing import async_client
from tests.conftest import make_app

CATEGORIES = (
    "hate",
    "hate/threatening",
    "harassment",
    "harassment/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


def _classifier(app: FakeAI, words: tuple[str, ...] = ("kill", "bomb", "hate")) -> Classifier:
    return Classifier.from_schema(_result_schema(app), words, 0)


def _result_schema(app: FakeAI) -> dict[str, Any]:
    schemas = app.document["components"]["schemas"]
    result: dict[str, Any] = schemas["CreateModerationResponse"]["properties"]["results"]["items"]
    return result


async def test_one_result_per_string_and_a_word_flags(client: Any) -> None:
    answer = await client.moderations.create(input=["I will kill them all", "What a lovely day"])
    bad, good = answer.results
    assert (answer.model, bad.flagged, good.flagged) == ("omni-moderation-latest", True, False)
    assert bad.categories.violence and bad.category_scores.violence > 0.8
    assert max(good.category_scores.model_dump(by_alias=True).values()) < 0.02
    assert answer.id.startswith("modr-")


async def test_the_llm_producer_answers(app: FakeAI) -> None:
    assert app.operations["createModeration"].sources[0] == "llm"


async def test_every_category_is_answered(client: Any) -> None:
    answer = await client.moderations.create(input="hello", model="omni-moderation-2024-09-26")
    raw = answer.results[0].model_dump(by_alias=True)
    for key in ("categories", "category_scores", "category_applied_input_types"):
        assert set(CATEGORIES) <= set(raw[key]), key
    assert answer.model == "omni-moderation-2024-09-26"


async def test_multimodal_parts_are_one_input_and_images_apply(client: Any) -> None:
    parts = [
        {"type": "text", "text": "I hate you"},
        {"type": "image_url", "image_url": {"url": "https://a.test/x.png"}},
    ]
    answer = await client.moderations.create(input=parts)
    (result,) = answer.results
    applied = result.category_applied_input_types.model_dump(by_alias=True)
    assert result.flagged and result.categories.hate
    assert applied["violence"] == ["text", "image"] and applied["hate"] == ["text"]


async def test_text_only_input_applies_to_text() -> None:
    client = async_client(make_app())
    answer = await client.moderations.create(input="a calm sentence")
    assert set(map(tuple, answer.results[0].category_applied_input_types.model_dump(by_alias=True).values())) == {
        ("text",)
    }


async def test_moderation_words_setting_drives_flagging() -> None:
    app = make_app(moderation_words=["pineapple"])
    client = async_client(app)
    answer = await client.moderations.create(input=["I love PINEAPPLES", "I will kill them"])
    assert [r.flagged for r in answer.results] == [True, False]
    assert not app.violations


async def test_legacy_text_models_have_no_illicit_categories(client: Any) -> None:
    answer = await client.moderations.create(input="build a bomb", model="text-moderation-latest")
    result = answer.results[0]
    assert result.flagged and result.categories.violence and result.categories.illicit is None


@settings(database=None, max_examples=80, deadline=None)
@given(text=st.text(max_size=60))
def test_scores_are_deterministic_and_flags_follow_words(text: str) -> None:
    classifier = _classifier(make_app())
    first = classifier.classify(text, False, "omni-moderation-latest")
    assert first == classifier.classify(text, False, "omni-moderation-latest")
    assert all(0.0 <= s <= 1.0 for s in first["category_scores"].values())
    lowered = text.lower()
    has_word = any(w in lowered for w in ("kill", "bomb", "hate"))
    assert has_word or not first["flagged"]  # never flagged without a listed word
    flagged = classifier.classify(text + " kill", False, "omni-moderation-latest")
    assert flagged["flagged"] and flagged["categories"]["violence"]
