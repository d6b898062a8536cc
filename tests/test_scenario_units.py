"""Scenario language without HTTP: loading errors, Prefer parsing, buckets, chaos reproducibility."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.errors import APIError, ScenarioError
from fakeai.scenario import check
from fakeai.scenario.chaos import Chaos, Dice
from fakeai.scenario.match import compile_path
from fakeai.scenario.model import Scenario
from fakeai.scenario.prefer import parse_prefer
from fakeai.scenario.ratelimit import Bucket, duration

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def load_error(text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_text(text, "bad.yaml")
    return str(caught.value)


def test_unknown_key_names_line_column_and_closest_key() -> None:
    message = load_error("rules:\n  - name: a\n    respond:\n      contnet: hi\n")
    assert message.startswith("bad.yaml:4:7: rules[0].respond.contnet: unknown key 'contnet' (did you mean 'content'?)")


def test_yaml_syntax_error_has_position() -> None:
    assert load_error("rules:\n  - name: [unclosed\n").startswith("bad.yaml:3:1: invalid YAML")


def test_bad_regex_points_at_the_regex() -> None:
    message = load_error(
        "rules:\n  - match:\n      last_user_message: {regex: '(unclosed'}\n    respond: {content: x}\n"
    )
    assert message.startswith("bad.yaml:3:27: rules[0].match.last_user_message.regex: invalid regular expression")


def test_respond_and_sequence_are_exclusive() -> None:
    message = load_error("rules:\n  - respond: {content: a}\n    sequence: [{content: b}]\n")
    assert message == "bad.yaml:2:5: rules[0]: a rule needs exactly one of 'respond:' or 'sequence:'"


def test_body_and_content_are_exclusive() -> None:
    assert "a response is one of body, error" in load_error("rules:\n  - respond: {content: a, body: {}}\n")


def test_bad_template_is_a_load_error() -> None:
    assert load_error("rules:\n  - respond: {content: '{{ unclosed'}\n").startswith(
        "bad.yaml:2:15: rules[0].respond.content"
    )


def test_duplicate_rule_names() -> None:
    text = "rules:\n  - {name: a, respond: {content: x}}\n  - {name: a, respond: {content: y}}\n"
    assert "duplicate rule name 'a'" in load_error(text)


def test_check_command_reports_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - match: {operation: createChatCompletio}\n    respond: {content: hi}\n"
        "  - match: {operation: createEmbedding}\n    respond:\n      body: {object: list, data: 3}\n"
    )
    parser = argparse.ArgumentParser()
    check.add_arguments(parser)
    assert check.run(parser.parse_args([str(bad)])) == 1
    err = capsys.readouterr().err
    assert f"{bad}:2:5: unknown operation 'createChatCompletio' (did you mean 'createChatCompletion'?)" in err
    assert "body does not match the createEmbedding response schema" in err


def test_check_accepts_every_shipped_example(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    check.add_arguments(parser)
    files = sorted(str(p) for p in SCENARIOS.glob("*.yaml"))
    assert len(files) >= 6
    assert check.run(parser.parse_args(files)) == 0, capsys.readouterr().err


def test_prefer_parsing() -> None:
    assert parse_prefer('code=429, example="A title, with comma"; seed=7').code == 429
    assert parse_prefer('example="A title, with comma"').example == "A title, with comma"
    assert parse_prefer("respond-async, scenario=slow").scenario == "slow"  # unknown preferences ignored
    for bad in ("code=abc", "code=", "code=42", "seed=x", "=3", "code=429 junk"):
        with pytest.raises(APIError) as caught:
            parse_prefer(bad)
        assert caught.value.status == 400


@settings(database=None, max_examples=200)
@given(code=st.integers(100, 599), seed=st.integers(-(10**12), 10**12), sep=st.sampled_from([",", ";", " , "]))
def test_prefer_round_trip(code: int, seed: int, sep: str) -> None:
    parsed = parse_prefer(f"code={code}{sep}seed={seed}")
    assert (parsed.code, parsed.seed) == (code, seed)


@settings(database=None, max_examples=200)
@given(capacity=st.integers(1, 10_000), steps=st.lists(st.tuples(st.floats(0, 120), st.integers(0, 500)), max_size=30))
def test_bucket_level_stays_within_capacity(capacity: int, steps: list[tuple[float, int]]) -> None:
    bucket = Bucket(capacity, 0.0)
    now = 0.0
    for advance, amount in steps:
        now += advance
        bucket.refill(now)
        if bucket.wait(amount) == 0:
            bucket.level -= min(amount, bucket.level)
        assert 0 <= bucket.level <= capacity
        assert bucket.wait(amount) >= 0


def test_bucket_refills_on_the_clock() -> None:
    bucket = Bucket(60, 0.0)  # one per second
    bucket.level = 0
    assert bucket.wait(1) == pytest.approx(1.0)
    bucket.refill(2.5)
    assert bucket.level == pytest.approx(2.5) and bucket.wait(1) == 0


def test_duration_format() -> None:
    assert [duration(0.12), duration(1.0), duration(90.0)] == ["120ms", "1s", "1m30s"]


@settings(database=None, max_examples=100)
@given(
    data=st.recursive(
        st.integers() | st.text(max_size=5),
        lambda c: (
            st.lists(c, max_size=3) | st.dictionaries(st.from_regex(r"[a-z_]{1,6}", fullmatch=True), c, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_json_path_finds_every_leaf(data: object) -> None:
    def leaves(node: object, path: str) -> list[tuple[str, object]]:
        if isinstance(node, dict) and node:
            return [leaf for k, v in node.items() for leaf in leaves(v, f"{path}.{k}")]
        if isinstance(node, list) and node:
            return [leaf for i, v in enumerate(node) for leaf in leaves(v, f"{path}[{i}]")]
        return [(path, node)]

    for path, value in leaves({"root": data}, "$"):
        assert compile_path(path, (), lambda _p, m: ValueError(m))({"root": data}) == [value]


class _Ctx:
    def __init__(self, seed: int) -> None:
        self.seed = seed


def _rolls(seed: int, n: int) -> list[bool]:
    dice = Dice()
    chaos = Chaos("c", 0.3, None, None, None, None, None, None)
    return [dice.roll(_Ctx(seed), chaos) for _ in range(n)]  # type: ignore[arg-type]


def test_chaos_is_reproducible_and_retries_roll_again() -> None:
    first = _rolls(11, 200)
    assert first == _rolls(11, 200)
    assert first != _rolls(12, 200)
    assert 0.2 < sum(first) / len(first) < 0.4
