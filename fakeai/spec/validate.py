"""Compiled JSON Schema 2020-12 validators (jsonschema-rs) and OpenAI-worded error messages.

The whole normalized document is one registry resource; each validator is a ``$ref`` into it,
compiled once at startup. Validation then costs microseconds per body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jsonschema_rs

from fakeai.spec.pointer import uri

URN = "urn:fakeai:spec"


def ref(pointer: str) -> str:
    """A ``$ref`` into the registered document: the URN plus the pointer, made URI-safe."""
    return uri(URN, pointer)


class Validators:
    """Validators for JSON pointers into one document, cached; each is compiled when it is first used.

    Compiled eagerly, the ~700 validators of OpenAI's document (request bodies, parameters, the example checks)
    held ~50 MiB of native memory in every process while a load test uses two of them; the largest compiles in
    ~3 ms. A schema jsonschema-rs rejects is therefore found by the first request that needs it, and answered as a
    500 naming the schema (:meth:`LazyValidator.compiled`)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.registry = jsonschema_rs.Registry([(URN, dict(document))])
        self._cache: dict[str, LazyValidator] = {}

    def for_pointer(self, pointer: str) -> LazyValidator:
        validator = self._cache.get(pointer)
        if validator is None:
            validator = self.for_schema({"$ref": ref(pointer)})
            self._cache[pointer] = validator
        return validator

    def for_schema(self, schema: Mapping[str, Any]) -> LazyValidator:
        return LazyValidator(dict(schema), self.registry)


class LazyValidator:
    """A jsonschema-rs validator compiled on first use (``is_valid`` / ``iter_errors`` / ``validate``)."""

    __slots__ = ("_registry", "_schema", "_validator")

    def __init__(self, schema: dict[str, Any], registry: Any) -> None:
        self._schema = schema  # a $ref into the registry, or a small schema around such refs
        self._registry = registry
        self._validator: Any = None

    def compiled(self) -> Any:
        validator = self._validator
        if validator is None:  # two threads may both compile: the same validator, harmless
            try:
                validator = jsonschema_rs.Draft202012Validator(
                    self._schema, registry=self._registry, validate_formats=False
                )
            except ValueError as exc:  # a schema of the served document jsonschema-rs rejects (a bad pattern...)
                from fakeai.errors import APIError

                where = self._schema.get("$ref", "a schema")
                problem = str(exc).splitlines()[0]
                raise APIError(
                    500, f"fakeai cannot compile the spec's schema {where}: {problem}", type="server_error"
                ) from exc
            self._validator = validator
        return validator

    def is_valid(self, instance: Any) -> bool:
        return bool((self._validator or self.compiled()).is_valid(instance))

    def iter_errors(self, instance: Any) -> Any:
        return (self._validator or self.compiled()).iter_errors(instance)

    def validate(self, instance: Any) -> None:
        (self._validator or self.compiled()).validate(instance)


def first_error(validator: Any, instance: Any) -> tuple[str, str | None] | None:
    """``None`` when valid, else ``(message, param)`` worded like the OpenAI API."""
    if validator.is_valid(instance):
        return None
    errors = list(validator.iter_errors(instance))
    error = _most_specific(errors)
    path = list(error.instance_path)
    if not isinstance(error, _Merged) and _kind(error) == "required":
        path.append(getattr(error.kind, "property", ""))
    return describe(error), _param(path)


def all_errors(validator: Any, instance: Any, limit: int = 5) -> list[str]:
    """Human-readable list ``path: message`` (for response self-checks and ``fakeai check``)."""
    out = []
    for error in validator.iter_errors(instance):
        out.append(f"{_param(error.instance_path) or '<root>'}: {describe(_most_specific([error]))}")
        if len(out) >= limit:
            break
    return out


def _most_specific(errors: Sequence[Any]) -> Any:
    """Descend into anyOf failures, following the branch that got furthest into the instance."""
    error = max(errors, key=lambda e: len(e.instance_path))
    seen = 0
    while error.kind.name in ("anyOf", "AnyOf", "oneOf") and seen < 32:
        seen += 1
        branches: list[list[Any]] = [list(b) for b in (getattr(error.kind, "context", None) or []) if b]
        if not branches:
            break
        deepest = max(max(len(e.instance_path) for e in b) for b in branches)
        if deepest == len(error.instance_path) and all(_is_leaf(b) for b in branches):
            return _Merged(error, branches)
        key = _discriminator(error, branches)
        if key is not None:
            matching = [b for b in branches if not any(_mismatch(e, error, key) for e in b)]
            if not matching:  # the tag fits no branch: every branch's value for it
                return _Merged(error, [[e for e in b if _mismatch(e, error, key)] for b in branches], key)
            branches = matching  # the branch the tag names, not whichever failed deepest
        best = max(branches, key=lambda b: (max(len(e.instance_path) for e in b), -len(b)))
        error = max(best, key=lambda e: len(e.instance_path))
    return error


def _mismatch(branch_error: Any, union: Any, key: str) -> bool:
    """The branch rejected the union's value for its tag ``key`` (an enum/const on that direct property)."""
    path = list(branch_error.instance_path)
    return _kind(branch_error) in ("enum", "constant", "const") and path == [*union.instance_path, key]


def _discriminator(union: Any, branches: list[list[Any]]) -> str | None:
    """The property that tells an object union's branches apart (OpenAPI's ``discriminator``, e.g. a tool's
    ``type``): one whose value at least two branches reject by enum/const."""
    if not isinstance(union.instance, dict):
        return None
    depth = len(union.instance_path)
    counts: dict[str, int] = {}
    for branch in branches:
        for key in {
            e.instance_path[depth]
            for e in branch
            if len(e.instance_path) == depth + 1 and isinstance(e.instance_path[depth], str)
        }:
            if any(_mismatch(e, union, key) for e in branch):
                counts[key] = counts.get(key, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts and max(counts.values()) >= 2 else None


def _is_leaf(branch: list[Any]) -> bool:
    return len(branch) == 1 and _kind(branch[0]) in ("type", "enum", "constant", "const")


class _Merged:
    """Every branch of an anyOf rejected the value by type/enum (or, with ``key``, rejected the object's tag
    ``key``): one combined message."""

    def __init__(self, error: Any, branches: list[list[Any]], key: str | None = None) -> None:
        self.instance_path = error.instance_path if key is None else [*error.instance_path, key]
        self.instance = error.instance if key is None else error.instance.get(key)
        self.expected: list[str] = []
        self.values: list[Any] = []
        for branch in branches:
            err = branch[0]
            kind = _kind(err)
            if kind == "type":
                self.expected.extend(_types(err))
            elif kind == "enum":
                self.values.extend(getattr(err.kind, "options", None) or [])
            else:
                self.values.append(getattr(err.kind, "expected_value", None))


def describe(error: Any) -> str:
    where = _param(error.instance_path)
    name = f"'{where}'" if where else "the request body"
    if isinstance(error, _Merged):
        if error.values and (not error.expected or error.instance is not None):
            return f"Invalid value: {_show(error.instance)}. Supported values are: {_join(error.values)}."
        expected = [_TYPE_WORDS.get(t, t) for t in dict.fromkeys(error.expected)]
        if error.values:
            expected.append("one of " + _join(error.values))
        return f"Invalid type for {name}: expected {_or(expected)}, but got {_got(error.instance)} instead."
    kind = _kind(error)
    if kind == "required":
        prop = getattr(error.kind, "property", None)
        full = f"{where}.{prop}" if where else str(prop)
        return f"Missing required parameter: '{full}'."
    if kind == "type":
        expected = [_TYPE_WORDS.get(t, t) for t in _types(error)]
        return f"Invalid type for {name}: expected {_or(expected)}, but got {_got(error.instance)} instead."
    if kind == "enum":
        options = getattr(error.kind, "options", None) or []
        return f"Invalid value: {_show(error.instance)}. Supported values are: {_join(options)}."
    if kind == "additionalproperties":
        extra = getattr(error.kind, "unexpected", None) or []
        return f"Unrecognized request argument supplied: {', '.join(map(str, extra))}"
    if kind in ("minimum", "exclusiveminimum"):
        return f"Invalid {name}: {_show(error.instance)} is less than the minimum of {error.kind.limit}."
    if kind in ("maximum", "exclusivemaximum"):
        return f"Invalid {name}: {_show(error.instance)} is greater than the maximum of {error.kind.limit}."
    if kind == "minitems":
        return f"Invalid {name}: empty array. Expected an array with minimum length {error.kind.limit}, but got an array with length {len(error.instance)} instead."  # noqa: E501
    if kind == "maxitems":
        return f"Invalid {name}: array too long. Expected an array with maximum length {error.kind.limit}, but got an array with length {len(error.instance)} instead."  # noqa: E501
    if kind == "minlength":
        return f"Invalid {name}: string too short. Expected a string with minimum length {error.kind.limit}, but got a string with length {len(error.instance)} instead."  # noqa: E501
    if kind == "maxlength":
        return f"Invalid {name}: string too long. Expected a string with maximum length {error.kind.limit}, but got a string with length {len(error.instance)} instead."  # noqa: E501
    return f"Invalid {name}: {error.message}"


def _kind(error: Any) -> str:
    return str(error.kind.name).lower().replace("_", "")


def _types(error: Any) -> list[str]:
    types = getattr(error.kind, "types", None)
    if types:
        return [str(t) for t in types]
    return []


_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a decimal",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


def _got(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _show(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else repr(value)


def _join(values: Iterable[Any]) -> str:
    shown = [_show(v) for v in dict.fromkeys(v for v in values if v is not None)]
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + ", and " + shown[-1]


def _or(words: list[str]) -> str:
    words = list(dict.fromkeys(words))
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _param(path: Sequence[Any]) -> str | None:
    if not path:
        return None
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
