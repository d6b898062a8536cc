"""OpenAI-looking ids (``fakeai.ids``): shaped like the API's, drawn only from the RNG passed in."""

from __future__ import annotations

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.ids import BASE62, HEX, hex_id, new_id, new_id_per_char, new_uuid


def test_new_id_is_prefix_and_letters_or_digits() -> None:
    assert re.fullmatch(r"chatcmpl-[A-Za-z0-9]{29}", new_id(random.Random(0), "chatcmpl-", 29))


def test_alphabet_and_length_are_honoured() -> None:
    assert re.fullmatch(r"modr-[0-9a-f]{32}", new_id(random.Random(0), "modr-", 32, HEX))
    assert set(new_id(random.Random(0), "", 200, BASE62)) <= set(BASE62)


def test_hex_id_is_zero_padded() -> None:
    assert re.fullmatch(r"fp_[0-9a-f]{10}", hex_id(random.Random(0), "fp_", 40))


def test_new_uuid_is_version_4() -> None:
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", new_uuid(random.Random(0))
    )


def test_ids_come_from_the_rng_passed_in_never_the_global_one() -> None:
    @settings(database=None, max_examples=50, deadline=None)
    @given(seed=st.integers(), noise=st.integers())
    def check(seed: int, noise: int) -> None:
        made = []
        for _ in range(2):
            random.seed(noise)
            noise += 1  # the global RNG differs between the two draws; the ids must not
            rng = random.Random(seed)
            made.append((new_id(rng, "call_"), new_id_per_char(rng, "file-", 22), hex_id(rng, "", 64), new_uuid(rng)))
        assert made[0] == made[1]

    check()


def test_the_two_draws_give_different_ids_from_the_same_seed() -> None:
    assert new_id(random.Random(1), "x", 24) != new_id_per_char(random.Random(1), "x", 24)
