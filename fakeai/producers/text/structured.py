"""JSON content that validates against a user's schema (structured outputs, tool arguments).

A user schema (``response_format.json_schema.schema`` or a function's ``parameters``) is compiled
by :class:`~fakeai.generated.schema.SchemaWalker` with the schema itself as the document, so
local ``$ref``s (``#/$defs/...``, pydantic's style) resolve. Compiled generators are kept in an LRU
keyed by a hash of the schema: a load test repeating one schema compiles it once.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from fakeai.errors import APIError, SpecError
from fakeai.generated.schema import GenContext, SchemaWalker
from fakeai.producers.text.prompted import prompted_schema, wants_fenced_json

__all__ = ["CACHE_SIZE", "compile_user_schema", "generate_json", "response_format_text"]

CACHE_SIZE = 256
Generator = Callable[[GenContext], Any]
_EMPTY_OBJECT: Mapping[str, Any] = {"type": "object", "properties": {}}
_JSON_OBJECT: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "maxLength": 80},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 24}, "maxItems": 3},
    },
    "required": ["answer", "confidence", "tags"],
}

_lock = threading.Lock()
_cache: OrderedDict[bytes, Generator] = OrderedDict()


def _key(schema: Mapping[str, Any]) -> bytes:
    raw = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(raw, digest_size=16).digest()


def compile_user_schema(schema: Mapping[str, Any] | None, param: str = "response_format") -> Generator:
    """The generator for ``schema`` (compiled on first use, then served from the LRU).

    An unsupported or contradictory schema is the client's problem: 400, like OpenAI's
    "Invalid schema" errors.
    """
    schema = schema if isinstance(schema, Mapping) and schema else _EMPTY_OBJECT
    key = _key(schema)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    try:
        document = dict(schema)
        generator = SchemaWalker(document).compile(document)
    except (SpecError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise APIError(400, f"Invalid schema: {exc}", param=param, code="invalid_schema") from None
    with _lock:
        _cache[key] = generator
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return generator


def generate_json(
    schema: Mapping[str, Any] | None,
    rng: random.Random,
    now: float,
    param: str = "response_format",
    overrides: Mapping[str, Any] | None = None,
) -> str:
    """Compact JSON (as OpenAI writes it) of one instance of ``schema``, drawn from ``rng``; ``overrides``
    (top-level property -> value) are kept where valid for their property (tool arguments from the user)."""
    generator = compile_user_schema(schema, param)
    try:
        value = generator(GenContext(rng=rng, now=now, overrides=overrides or {}))
    except (ValueError, RecursionError) as exc:
        raise APIError(400, f"Invalid schema: {exc}", param=param, code="invalid_schema") from None
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def response_format_text(
    response_format: Any, rng: random.Random, now: float, prompt: Sequence[str] = ()
) -> str | None:
    """The JSON content ``response_format`` asks for, or None for plain text.

    ``json_schema`` (strict or not): an instance of its ``schema``; ``json_object``: an instance of the
    schema or example object the ``prompt`` texts give (``fakeai.producers.text.prompted``), else a small
    generic object. Without a JSON format, a prompt that asks for its JSON in a ```json block (instructor
    MD_JSON) gets that block.
    """
    fmt: Mapping[str, Any] = response_format if isinstance(response_format, Mapping) else {}
    kind = fmt.get("type")
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        return generate_json(schema if isinstance(schema, Mapping) else None, rng, now)
    if kind == "json_object":
        return _prompted_json(prompt, rng, now) or generate_json(_JSON_OBJECT, rng, now)
    if kind in (None, "text") and wants_fenced_json(prompt):
        text = _prompted_json(prompt, rng, now)
        if text is not None:
            pretty = orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
            return f"```json\n{pretty}\n```"
    return None


def _prompted_json(prompt: Sequence[str], rng: random.Random, now: float) -> str | None:
    """An instance of the schema the prompt gives; None when there is none or it cannot be generated (the
    client did not send it as a schema, so a schema fakeai cannot handle is no 400)."""
    schema = prompted_schema(prompt) if prompt else None
    if schema is None:
        return None
    try:
        return generate_json(schema, rng, now)
    except APIError:
        return None
