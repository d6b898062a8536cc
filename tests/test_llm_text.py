"""Completions: pieces join to the text, lengths obey max_tokens/ignore_eos, stop sequences cut."""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.producers.text.text import Completion, LengthSpec, generate, split_tokens
from fakeai.producers.text.tokenizer import Tokenizer, get_tokenizer

O200K = get_tokenizer("o200k_base")
CL100K = get_tokenizer("cl100k_base")
DEFAULT = LengthSpec()


def lorem(
    seed: int,
    *,
    max_tokens: int | None = None,
    length: LengthSpec = DEFAULT,
    tokenizer: Tokenizer = O200K,
    stop: Sequence[str] = (),
    ignore_eos: bool = False,
) -> Completion:
    return generate(
        mode="lorem",
        rng=random.Random(seed),
        tokenizer=tokenizer,
        max_tokens=max_tokens,
        length=length,
        stop=stop,
        ignore_eos=ignore_eos,
    )


# --- invariants --------------------------------------------------------------------------------


@settings(database=None, max_examples=150)
@given(
    seed=st.integers(0, 2**32),
    max_tokens=st.none() | st.integers(0, 3000),
    mode=st.sampled_from(["lorem", "echo", "fixed"]),
    text=st.text(max_size=80),
    ignore_eos=st.booleans(),
    encoding=st.sampled_from(["o200k_base", "cl100k_base"]),
)
def test_pieces_join_and_lengths_hold(
    seed: int, max_tokens: int | None, mode: str, text: str, ignore_eos: bool, encoding: str
) -> None:
    tokenizer = get_tokenizer(encoding)
    result = generate(
        mode=mode,
        rng=random.Random(seed),
        tokenizer=tokenizer,
        max_tokens=max_tokens,
        length=LengthSpec(300, 200, 1, 7000),
        prompt_text=text,
        fixed_text=text,
        ignore_eos=ignore_eos,
    )
    assert "".join(result.tokens) == result.text
    assert len(result.tokens) == len(result.token_ids)
    decoded = tokenizer.decode(result.token_ids)
    if result.tokens and not result.tokens[-1]:  # cut inside a multi-token character: fragments are counted
        assert decoded.startswith(result.text) and decoded[len(result.text) :].strip("\ufffd") == ""
    else:
        assert decoded == result.text
    if max_tokens is not None:
        assert len(result.tokens) <= max_tokens
        if ignore_eos:
            assert len(result.tokens) == max_tokens
    assert result.finish_reason in ("stop", "length")


@settings(database=None, max_examples=50)
@given(seed=st.integers(0, 2**32), max_tokens=st.none() | st.integers(1, 500))
def test_same_seed_same_completion(seed: int, max_tokens: int | None) -> None:
    assert lorem(seed, max_tokens=max_tokens) == lorem(seed, max_tokens=max_tokens)


def test_different_seeds_give_different_text() -> None:
    assert len({lorem(seed).text for seed in range(20)}) > 15


# --- lorem ---------------------------------------------------------------------------------------


def test_lorem_starts_a_sentence_and_ends_one_when_unconstrained() -> None:
    for seed in range(300):
        result = lorem(seed, length=LengthSpec(120, 0))
        assert result.finish_reason == "stop"
        assert result.text[:1].isupper(), result.text[:40]
        assert result.text.endswith((".", "!", "?", '"')), result.text[-40:]
        assert 60 <= len(result.tokens) <= 180


def test_lorem_cut_by_max_tokens_is_exact_with_length_reason() -> None:
    result = lorem(7, max_tokens=10, length=LengthSpec(200, 0))
    assert len(result.tokens) == 10
    assert result.finish_reason == "length"


def test_lorem_within_max_tokens_never_exceeds_it_while_snapping() -> None:
    for seed in range(200):
        result = lorem(seed, max_tokens=100, length=LengthSpec(95, 0))
        assert len(result.tokens) <= 100
        assert result.finish_reason == "stop"


def test_ignore_eos_forces_the_draw_without_max_tokens() -> None:
    result = lorem(3, ignore_eos=True, length=LengthSpec(77, 0))
    assert len(result.tokens) == 77
    assert result.finish_reason == "length"


def test_ignore_eos_longer_than_the_corpus_wraps_around() -> None:
    result = lorem(3, ignore_eos=True, max_tokens=20_000, tokenizer=CL100K)
    assert len(result.tokens) == 20_000
    assert "".join(result.tokens) == result.text


def test_max_tokens_zero_gives_an_empty_completion() -> None:
    result = lorem(1, max_tokens=0)
    assert (result.text, result.tokens, result.finish_reason) == ("", (), "length")


# --- echo and fixed ------------------------------------------------------------------------------


def test_echo_returns_the_prompt() -> None:
    prompt = "Repeat after me: the quick brown fox."
    result = generate(
        mode="echo", rng=random.Random(0), tokenizer=O200K, max_tokens=None, length=DEFAULT, prompt_text=prompt
    )
    assert (result.text, result.finish_reason) == (prompt, "stop")
    assert result.tokens == split_tokens(prompt, O200K)


def test_echo_cut_by_max_tokens() -> None:
    prompt = "one two three four five six"
    result = generate(
        mode="echo", rng=random.Random(0), tokenizer=O200K, max_tokens=3, length=DEFAULT, prompt_text=prompt
    )
    assert (result.text, result.finish_reason) == ("one two three", "length")


def test_echo_with_ignore_eos_cycles_the_prompt() -> None:
    result = generate(
        mode="echo",
        rng=random.Random(0),
        tokenizer=O200K,
        max_tokens=7,
        length=DEFAULT,
        prompt_text="ping pong",
        ignore_eos=True,
    )
    assert result.text == "ping pong ping pong ping"
    assert len(result.tokens) == 7


def test_fixed_text_with_multi_token_characters() -> None:
    text = "Caf\u00e9 \U0001d518\U0001f9a9 done"
    result = generate(
        mode="fixed", rng=random.Random(0), tokenizer=CL100K, max_tokens=None, length=DEFAULT, fixed_text=text
    )
    assert result.text == text
    assert len(result.tokens) == CL100K.count(text)


def test_cut_inside_a_character_keeps_the_fragment_tokens_with_empty_pieces() -> None:
    result = generate(
        mode="fixed", rng=random.Random(0), tokenizer=O200K, max_tokens=2, length=DEFAULT, fixed_text="\U0001d518x"
    )
    assert (result.text, result.tokens, result.finish_reason) == ("", ("", ""), "length")


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="lorem"):
        generate(mode="poetry", rng=random.Random(0), tokenizer=O200K, max_tokens=None, length=DEFAULT)


# --- stop sequences ------------------------------------------------------------------------------


@settings(database=None, max_examples=100)
@given(seed=st.integers(0, 2**32), start=st.integers(0, 400), size=st.integers(1, 12))
def test_stop_cuts_before_the_first_occurrence(seed: int, start: int, size: int) -> None:
    full = lorem(seed, length=LengthSpec(120, 0, 100, 200))
    stop = full.text[start : start + size]
    if not stop:
        return
    result = lorem(seed, length=LengthSpec(120, 0, 100, 200), stop=[stop])
    assert result.text == full.text[: full.text.find(stop)]
    assert result.finish_reason == "stop"
    assert "".join(result.tokens) == result.text
    assert O200K.decode(result.token_ids) == result.text


def test_stop_inside_a_token_keeps_the_part_before_it() -> None:
    result = generate(
        mode="fixed",
        rng=random.Random(0),
        tokenizer=O200K,
        max_tokens=None,
        length=DEFAULT,
        fixed_text="hello world",
        stop=["orl"],
    )
    assert (result.text, result.finish_reason) == ("hello w", "stop")
    assert result.tokens == ("hello", " w")


def test_stop_on_a_multi_token_character_drops_its_fragments() -> None:
    result = generate(
        mode="fixed",
        rng=random.Random(0),
        tokenizer=O200K,
        max_tokens=None,
        length=DEFAULT,
        fixed_text="ab \U0001d518 cd",
        stop=["\U0001d518"],
    )
    assert (result.tokens, result.token_ids) == (("ab", " "), tuple(O200K.encode("ab ")))


def test_stop_beyond_max_tokens_is_never_seen() -> None:
    result = generate(
        mode="fixed",
        rng=random.Random(0),
        tokenizer=O200K,
        max_tokens=2,
        length=DEFAULT,
        fixed_text="one two three",
        stop=["three"],
    )
    assert (result.text, result.finish_reason) == ("one two", "length")


def test_stop_wins_over_ignore_eos() -> None:
    result = generate(
        mode="echo",
        rng=random.Random(0),
        tokenizer=O200K,
        max_tokens=50,
        length=DEFAULT,
        prompt_text="alpha beta",
        stop=["beta"],
        ignore_eos=True,
    )
    assert (result.text, result.finish_reason) == ("alpha ", "stop")


def test_empty_stop_strings_are_ignored() -> None:
    assert lorem(5, stop=[""]) == lorem(5)


# --- LengthSpec ----------------------------------------------------------------------------------


def test_length_draw_has_the_requested_mean_and_stddev() -> None:
    rng = random.Random(42)
    spec = LengthSpec(200, 50, 1, 100_000)
    draws = [spec.draw(rng) for _ in range(20_000)]
    assert statistics.fmean(draws) == pytest.approx(200, rel=0.02)
    assert statistics.stdev(draws) == pytest.approx(50, rel=0.05)


@settings(database=None)
@given(seed=st.integers(0, 2**32), mean=st.floats(1, 5000), stddev=st.floats(0, 5000), low=st.integers(0, 100))
def test_length_draw_is_clipped(seed: int, mean: float, stddev: float, low: int) -> None:
    spec = LengthSpec(mean, stddev, low, low + 500)
    assert low <= spec.draw(random.Random(seed)) <= low + 500


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("120", LengthSpec(120, 40, 1, 2048)),
        ("120:0", LengthSpec(120, 0, 1, 2048)),
        ("300:100:16", LengthSpec(300, 100, 16, 2048)),
        (" 300:100:16:4096 ", LengthSpec(300, 100, 16, 4096)),
        ("5000", LengthSpec(5000, 40, 1, 5000)),
    ],
)
def test_length_spec_parse(text: str, expected: LengthSpec) -> None:
    assert LengthSpec.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "MEAN"),
        ("abc", "MEAN must be a number"),
        ("100:x", "STDDEV must be a number"),
        ("100:10:1.5", "MIN must be a whole number"),
        ("1:2:3:4:5", r"MEAN\[:STDDEV"),
        ("100::5", r"MEAN\[:STDDEV"),
        ("-5", "mean must be a positive"),
        ("100:10:50:20", "minimum <= maximum"),
    ],
)
def test_length_spec_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LengthSpec.parse(text)
