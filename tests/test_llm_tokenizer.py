"""Token counts must equal OpenAI's: known ids, the cookbook's worked example, offline loading."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.producers.text.tokenizer import (
    IMAGE_TOKENS_HIGH,
    IMAGE_TOKENS_LOW,
    count_chat_prompt,
    count_responses_input,
    encoding_name_for_model,
    for_model,
    from_hf_tokenizer_json,
    get_tokenizer,
)

O200K = get_tokenizer("o200k_base")
CL100K = get_tokenizer("cl100k_base")

# Ids published by tiktoken's README and test-suite (verified facts, not computed here).
KNOWN_IDS = [
    ("cl100k_base", "hello world", [15339, 1917]),
    ("o200k_base", "hello world", [24912, 2375]),
    ("cl100k_base", "tiktoken is great!", [83, 1609, 5963, 374, 2294, 0]),
]


@pytest.mark.parametrize(("encoding", "text", "ids"), KNOWN_IDS)
def test_encode_matches_published_ids(encoding: str, text: str, ids: list[int]) -> None:
    assert get_tokenizer(encoding).encode(text) == ids


@pytest.mark.parametrize(("encoding", "text", "ids"), KNOWN_IDS)
def test_decode_inverts_published_ids(encoding: str, text: str, ids: list[int]) -> None:
    assert get_tokenizer(encoding).decode(ids) == text


def test_special_token_text_is_ordinary_text() -> None:
    assert 100257 not in CL100K.encode("hello <|endoftext|>")
    assert CL100K.count("<|endoftext|>") > 1


def test_token_bytes() -> None:
    assert O200K.token_bytes(2375) == b" world"


def test_tokenizers_are_process_wide_singletons() -> None:
    assert for_model("gpt-4o") is for_model("o3-mini") is O200K


def test_unknown_encoding_is_rejected_with_the_known_names() -> None:
    with pytest.raises(ValueError, match="cl100k_base"):
        get_tokenizer("p50k_base")


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-4.5-preview", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o1-mini", "o200k_base"),
        ("o3", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-oss-120b", "o200k_base"),
        ("codex-mini-latest", "o200k_base"),
        ("computer-use-preview", "o200k_base"),
        ("omni-moderation-latest", "o200k_base"),
        ("some-local-llama", "o200k_base"),
        (None, "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo-2024-04-09", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("text-embedding-ada-002", "cl100k_base"),
        ("ft:gpt-3.5-turbo-0125:acme::abc123", "cl100k_base"),
        ("ft:gpt-4o-mini:acme::abc123", "o200k_base"),
    ],
)
def test_model_to_encoding(model: str | None, encoding: str) -> None:
    assert encoding_name_for_model(model) == encoding


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_split_joins_back_and_agrees_with_encode(encoding: str) -> None:
    tokenizer = get_tokenizer(encoding)

    @settings(database=None, max_examples=200)
    @given(st.text())
    def check(text: str) -> None:
        ids, pieces = tokenizer.split(text)
        assert "".join(pieces) == text
        assert list(ids) == tokenizer.encode(text)
        assert len(pieces) == len(ids)

    check()


def test_split_attaches_a_multi_token_character_to_its_last_token() -> None:
    ids, pieces = O200K.split("\U0001d518x")  # MATHEMATICAL FRAKTUR CAPITAL U: 3 byte-level tokens
    assert pieces == ("", "", "\U0001d518", "x")
    assert len(ids) == 4


def test_loading_is_offline_and_thread_safe(tmp_path: Path) -> None:
    """A fresh interpreter with no network and an empty tiktoken cache still loads both encodings."""
    script = textwrap.dedent(
        """
        import socket, threading
        def refuse(*args, **kwargs):
            raise OSError("network used")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        from fakeai.producers.text.tokenizer import get_tokenizer
        found = []
        threads = [threading.Thread(target=lambda n=n: found.append(get_tokenizer(n)))
                   for n in ["o200k_base", "cl100k_base"] * 4]
        for t in threads: t.start()
        for t in threads: t.join()
        assert len({id(t) for t in found}) == 2, found
        print(get_tokenizer("o200k_base").count("hello world"), get_tokenizer("cl100k_base").count("hello world"))
        """
    )
    env = {"TIKTOKEN_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd())}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "2"]
    assert list(tmp_path.iterdir()) == []


def test_hf_tokenizer_without_the_package_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ImportError, match="'tokenizers' package"):
        from_hf_tokenizer_json(tmp_path / "tokenizer.json")


def test_hf_tokenizer_json(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel({"hello": 0, "world": 1, "[UNK]": 2}, unk_token="[UNK]"))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    path = tmp_path / "tokenizer.json"
    backend.save(str(path))
    tokenizer = from_hf_tokenizer_json(path)
    assert tokenizer.encode("hello  world!") == [0, 1, 2]
    assert tokenizer.split("hello  world!") == ((0, 1, 2), ("hello  ", "world", "!"))


# --- prompt counting: the OpenAI cookbook's worked example --------------------------------------

COOKBOOK_MESSAGES: list[dict[str, Any]] = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
        "into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more time to touch base on opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]


@pytest.mark.parametrize(("model", "published"), [("gpt-4o", 124), ("gpt-4o-mini", 124), ("gpt-4-0613", 129)])
def test_cookbook_example_matches_the_api_totals(model: str, published: int) -> None:
    # The cookbook reports these prompt_tokens as returned by the OpenAI API for this example.
    assert count_chat_prompt(COOKBOOK_MESSAGES, model) == published


def test_cookbook_example_by_hand() -> None:
    c = O200K.count
    by_hand = (
        (3 + c("system") + c(COOKBOOK_MESSAGES[0]["content"]))
        + (3 + c("system") + c("example_user") + 1 + c("New synergies will help drive top-line growth."))
        + sum(3 + c(m["role"]) + c(m["content"]) + c(m["name"]) + 1 for m in COOKBOOK_MESSAGES[2:5])
        + (3 + c("user") + c(COOKBOOK_MESSAGES[5]["content"]))
        + 3
    )
    assert count_chat_prompt(COOKBOOK_MESSAGES, "gpt-4o") == by_hand


def test_text_parts_count_like_a_string_and_images_have_a_fixed_cost() -> None:
    text = "What is in this picture?"
    as_string = count_chat_prompt([{"role": "user", "content": text}], "gpt-4o")
    parts = [
        {"type": "text", "text": text},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.png"}},
    ]
    assert count_chat_prompt([{"role": "user", "content": parts}], "gpt-4o") == (
        as_string + IMAGE_TOKENS_LOW + IMAGE_TOKENS_HIGH
    )


def test_assistant_tool_calls_and_tool_results() -> None:
    arguments = '{"city": "Paris", "unit": "celsius"}'
    messages: list[dict[str, Any]] = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees, sunny"},
    ]
    c = O200K.count
    expected = (
        (3 + c("assistant") + 3 + c("get_weather") + c(arguments))
        + (3 + c("tool") + c("call_1") + c("18 degrees, sunny"))
        + 3
    )
    assert count_chat_prompt(messages, "gpt-4o") == expected


def test_tools_add_the_tokens_of_their_json() -> None:
    function = {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    without = count_chat_prompt(messages, "gpt-4o")
    with_tools = count_chat_prompt(messages, "gpt-4o", tools=[{"type": "function", "function": function}])
    assert with_tools - without == O200K.count(json.dumps(function, separators=(",", ":")))


def test_responses_string_input_with_instructions() -> None:
    c = CL100K.count
    expected = (3 + c("developer") + c("Be terse.")) + (3 + c("user") + c("hello world")) + 3
    assert count_responses_input("hello world", "Be terse.", "gpt-4") == expected


def test_responses_items_count_like_chat_messages() -> None:
    items: list[dict[str, Any]] = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
    ]
    c = O200K.count
    expected = (
        (3 + c("user") + c("Weather in Paris?")) + (3 + c("get_weather") + c('{"city":"Paris"}')) + (3 + c("sunny")) + 3
    )
    assert count_responses_input(items, None, "gpt-4o") == expected
