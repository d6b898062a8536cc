"""JSON pointers (``fakeai.spec.pointer``): escaping, percent-encoding, resolution, ``$ref`` chains."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.errors import SpecError
from fakeai.spec.pointer import deref, escape, join, name, pointer, resolve, tokens, unescape, uri

# keys made of the characters pointers treat specially, plus anything else
KEYS = st.text(alphabet=st.sampled_from("/~%01 a{}#?:é"), max_size=8) | st.text(max_size=8)


def test_escape_follows_rfc_6901() -> None:
    assert escape("a/b~c") == "a~1b~0c"
    assert unescape("a~1b~0c") == "a/b~c"


def test_unescape_decodes_tilde_one_before_tilde_zero() -> None:
    assert unescape("~01") == "~1"


def test_pointer_percent_encodes_what_a_uri_cannot_hold() -> None:
    assert pointer("paths", "/files/{file_id}", "get") == "#/paths/~1files~1%7Bfile_id%7D/get"
    assert pointer("a b", "50%") == "#/a%20b/50%25"
    assert pointer() == "#"


def test_join_extends_a_ref_read_from_a_document() -> None:
    assert join("#/components/responses/Ok", "content", "application/json", 0) == (
        "#/components/responses/Ok/content/application~1json/0"
    )


def test_uri_keeps_what_is_already_encoded() -> None:
    assert uri("urn:x", "#/a%20b/{c}") == "urn:x#/a%20b/%7Bc%7D"


def test_tokens_of_a_percent_encoded_fragment() -> None:
    assert tokens("#/paths/~1files~1%7Bfile_id%7D") == ["paths", "/files/{file_id}"]
    assert tokens("#") == []
    assert name("#/components/schemas/A~1B") == "A/B"


def test_resolve_follows_arrays_and_the_root() -> None:
    document = {"a": [{"b": 1}]}
    assert resolve(document, "#/a/0/b") == 1
    assert resolve(document, "#") is document


def test_resolve_refuses_an_external_ref() -> None:
    with pytest.raises(SpecError, match=r"external \$ref 'other.yaml#/X' is not supported"):
        resolve({}, "other.yaml#/X")


def test_an_unresolvable_ref_names_the_missing_token_and_the_closest_key() -> None:
    document = {"components": {"schemas": {"Message": {}}}}
    with pytest.raises(SpecError, match=r"no 'Mesage' at #/components/schemas \(did you mean 'Message'\?\)"):
        resolve(document, "#/components/schemas/Mesage")


def test_an_array_index_must_be_a_plain_number() -> None:
    with pytest.raises(SpecError, match="unresolvable"):
        resolve({"a": [1, 2]}, "#/a/01")


def test_deref_follows_a_chain_of_refs() -> None:
    document = {"A": {"$ref": "#/B"}, "B": {"$ref": "#/C"}, "C": {"type": "string"}}
    assert deref(document, {"$ref": "#/A"}) == {"type": "string"}
    assert deref(document, {"type": "integer"}) == {"type": "integer"}


def test_deref_stops_a_cycle() -> None:
    document = {"A": {"$ref": "#/B"}, "B": {"$ref": "#/A"}}
    with pytest.raises(SpecError, match="a reference cycle"):
        deref(document, {"$ref": "#/A"}, limit=4)


def test_any_key_round_trips_through_pointer_and_resolve() -> None:
    @settings(database=None, max_examples=200, deadline=None)
    @given(outer=KEYS, inner=KEYS, value=st.integers())
    def check(outer: str, inner: str, value: int) -> None:
        document: dict[str, Any] = {outer: {inner: value}}
        assert resolve(document, pointer(outer, inner)) == value
        assert tokens(pointer(outer, inner)) == [outer, inner]

    check()
