"""JSON the prompt asks for: the schema or example object a client wrote into its messages.

Instructor (JSON and MD_JSON modes), pydantic-ai's ``PromptedOutput``, dspy's JSON adapter and hand-written
langchain ``json_mode`` prompts do not send the schema as ``response_format.json_schema``: they put it in the
system or user text ("... match the following json_schema: {...}", a ```json fence, or an example object
such as ``{"reasoning": "...", "answer": "..."}``) and send ``response_format: {"type": "json_object"}`` or
nothing at all. :func:`prompted_schema` finds that schema (or derives one from the example object) so the
answer is an object the client can parse into its model; :func:`wants_fenced_json` tells when the prompt
asks for the JSON inside a Markdown ```json block (instructor MD_JSON, no ``response_format``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fakeai.producers.text.common import content_text

__all__ = ["prompt_texts", "prompted_schema", "wants_fenced_json"]

MAX_SCAN_CHARS = 64 * 1024  # of each message: a schema sits in instructions, not in a 200k-token document
MAX_ATTEMPTS = 256  # '{' positions tried per message
_FENCE = re.compile(r"```(?:json|JSON)\s*\n(.*?)```", re.DOTALL)
_ASKS_FENCE = re.compile(r"\b(?:return|respond|reply|answer|output|provide|give|wrap)\b[^\n]{0,120}```json", re.I)
_SCHEMA_KEYS = ("properties", "$defs", "definitions", "$schema", "items", "anyOf", "oneOf", "allOf")
_JSON_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
_decoder = json.JSONDecoder()


def prompt_texts(messages: Any, *extra: Any) -> list[str]:
    """The text of the instructions a client wrote: ``extra`` strings (Responses ``instructions``) and every
    system, developer and user message of chat ``messages`` or a Responses ``input`` (a string is itself)."""
    texts = [text for text in extra if isinstance(text, str)]
    if isinstance(messages, str):
        return [*texts, messages]
    for item in messages if isinstance(messages, list) else ():
        if isinstance(item, Mapping) and item.get("role") in ("system", "developer", "user"):
            texts.append(content_text(item.get("content")))
    return texts


def prompted_schema(texts: Sequence[str]) -> Mapping[str, Any] | None:
    """The JSON Schema the prompt gives (the last one), else a schema derived from its last example object."""
    schema: Mapping[str, Any] | None = None
    example: Mapping[str, Any] | None = None
    for found in (obj for text in texts for obj in _objects(text)):
        if _is_schema(found):
            schema = found
        elif isinstance(found.get("schema"), Mapping) and _is_schema(found["schema"]):
            schema = found["schema"]  # {"name": ..., "schema": {...}}: a response_format written out
        elif found:
            example = found
    if schema is not None:
        return schema
    return _schema_of(example) if example is not None else None


def wants_fenced_json(texts: Sequence[str]) -> bool:
    """The prompt asks for the answer in a ```json block ("Return the correct JSON response within a ```json
    codeblock") and says what the JSON looks like. A ```json block the user merely pasted is no request."""
    asks = any("```" in text and _ASKS_FENCE.search(text[:MAX_SCAN_CHARS]) for text in texts)  # fence first: cheap
    return asks and prompted_schema(texts) is not None


def _objects(text: str) -> Iterator[dict[str, Any]]:
    """JSON objects written in ``text``: inside ```json fences first, then anywhere else."""
    text = text[:MAX_SCAN_CHARS]
    for fenced in _FENCE.finditer(text):
        yield from _scan(fenced.group(1))
    yield from _scan(_FENCE.sub("", text))


def _scan(text: str) -> Iterator[dict[str, Any]]:
    at, attempts = text.find("{"), 0
    while at >= 0 and attempts < MAX_ATTEMPTS:
        attempts += 1
        try:
            value, end = _decoder.raw_decode(text, at)
        except ValueError:
            at = text.find("{", at + 1)
            continue
        if isinstance(value, dict):
            yield value
        at = text.find("{", end)


def _is_schema(value: Mapping[str, Any]) -> bool:
    if isinstance(value.get("properties"), Mapping) or "$schema" in value:
        return True
    return value.get("type") in _JSON_TYPES and any(key in value for key in _SCHEMA_KEYS)


def _schema_of(example: Any) -> dict[str, Any]:
    """A schema every value shaped like ``example`` satisfies (each key required, types as written)."""
    if isinstance(example, Mapping):
        properties = {str(key): _schema_of(value) for key, value in example.items()}
        return {"type": "object", "properties": properties, "required": list(properties)}
    if isinstance(example, list):
        return {"type": "array", "items": _schema_of(example[0])} if example else {"type": "array"}
    if isinstance(example, bool):
        return {"type": "boolean"}
    if isinstance(example, int):
        return {"type": "integer"}
    if isinstance(example, float):
        return {"type": "number"}
    return {"type": "string"} if isinstance(example, str) else {}
