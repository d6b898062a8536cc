"""Turn raw query strings, JSON and form bodies into values the spec's schemas can validate.

The official SDKs encode arrays and objects in query strings and forms with brackets:
``include[]=x``, ``metadata[foo]=bar``, ``expires_after[anchor]=created_at``, repeated
``image[]`` file parts. Strings are coerced by the parameter's schema type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from fakeai.context import UploadedFile
from fakeai.errors import APIError

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_query(raw: bytes | str) -> list[tuple[str, str]]:
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return parse_qsl(text, keep_blank_values=True)


def nest(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Bracket keys into nested values: ``a[]=1&a[]=2&m[k]=v`` -> ``{"a": ["1","2"], "m": {"k": "v"}}``.

    A plain key repeated (``a=1&a=2``) becomes a list too.
    """
    out: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if not match:
            _put(out, [key], value)
            continue
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        _put(out, parts, value)
    return out


def _put(node: dict[str, Any], parts: list[str], value: Any) -> None:
    head, rest = parts[0], parts[1:]
    if not rest:
        if head in node:
            existing = node[head]
            node[head] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            node[head] = value
        return
    if rest[0] == "":  # head[] -> append
        current = node.get(head)
        if not isinstance(current, list):
            current = [] if current is None else [current]
            node[head] = current
        if len(rest) == 1:
            current.append(value)
        else:  # head[][k]=v: a list of objects; start a new object when the key repeats
            if not current or not isinstance(current[-1], dict) or rest[1] in current[-1]:
                current.append({})
            _put(current[-1], rest[1:], value)
        return
    child = node.get(head)
    if not isinstance(child, dict):
        child = {}
        node[head] = child
    _put(child, rest, value)


def coerce(value: Any, schema: Mapping[str, Any], resolve: Any = None, depth: int = 0) -> Any:
    """Coerce form/query strings toward the schema's type; leave anything unexpected as is."""
    if depth > 8 or not isinstance(schema, Mapping):
        return value
    if "$ref" in schema and resolve is not None:
        return coerce(value, resolve(schema["$ref"]), resolve, depth + 1)
    types = _types(schema, resolve)
    if isinstance(value, list):
        if "array" in types:
            items = schema.get("items") or _branch_key(schema, "items", resolve) or {}
            return [coerce(v, items, resolve, depth + 1) for v in value]
        return value
    if isinstance(value, dict):
        props = schema.get("properties") or _branch_key(schema, "properties", resolve) or {}
        return {k: coerce(v, props.get(k, {}), resolve, depth + 1) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    if "array" in types and "string" not in types:
        items = schema.get("items") or _branch_key(schema, "items", resolve) or {}
        return [coerce(v, items, resolve, depth + 1) for v in value.split(",")] if value else []
    if "integer" in types and "string" not in types:
        try:
            return int(value)
        except ValueError:
            pass
    if ("number" in types or "integer" in types) and "string" not in types:
        try:
            return float(value)
        except ValueError:
            return value
    if "boolean" in types and "string" not in types and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if "null" in types and value in ("", "null") and "string" not in types:
        return None
    if "object" in types and "string" not in types and value.startswith("{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _types(schema: Mapping[str, Any], resolve: Any, depth: int = 0) -> set[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return set(kind)
    out: set[str] = set()
    if depth < 6:
        for key in ("anyOf", "oneOf", "allOf"):
            for branch in schema.get(key) or []:
                if isinstance(branch, Mapping):
                    if "$ref" in branch and resolve is not None:
                        branch = resolve(branch["$ref"])
                    out |= _types(branch, resolve, depth + 1)
    return out


def _branch_key(schema: Mapping[str, Any], key: str, resolve: Any, depth: int = 0) -> Any:
    """``key`` (e.g. ``properties``) from the first branch of a union that has it, however nested."""
    if depth > 6:
        return None
    for combinator in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(combinator) or []:
            if isinstance(branch, Mapping) and "$ref" in branch and resolve is not None:
                branch = resolve(branch["$ref"])
            if not isinstance(branch, Mapping):
                continue
            if key in branch:
                return branch[key]
            found = _branch_key(branch, key, resolve, depth + 1)
            if found is not None:
                return found
    return None


def parse_json(body: bytes, max_depth: int | None = None) -> Any:
    """The JSON body; 400 when it is not JSON or nests deeper than ``max_depth`` (validators and the seed's
    encoder recurse per level: jsonschema-rs and orjson give up at a few hundred)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if max_depth is not None and "depth limit" in exc.msg:
            raise too_deep(max_depth) from None
        raise APIError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
            "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. "
            f"If you have trouble figuring out how to fix this, please contact us through our help center at "
            f"help.openai.com.) [{exc.msg} at line {exc.lineno} column {exc.colno}]",
            code=None,
        ) from None
    # fewer brackets than the limit cannot nest deeper than it (bytes.count runs at memory speed)
    if max_depth is not None and body.count(b"[") + body.count(b"{") > max_depth and nests_deeper(value, max_depth):
        raise too_deep(max_depth)
    return value


def nests_deeper(value: Any, limit: int) -> bool:
    """Whether ``value`` has containers more than ``limit`` levels deep (iterative: no recursion limit)."""
    stack = [(value, 1)] if isinstance(value, (list, dict)) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
    return False


def text_chars(value: Any) -> int:
    """Characters of text in a parsed body (its strings; ``data:`` URIs are media, not prompt), iteratively."""
    total, stack = 0, [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            total += 0 if node.startswith("data:") else len(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return total


def prompt_too_large(chars: int, limit: int) -> APIError:
    """Refused before any tokenizer sees it: tokenizing 30 MB of text takes seconds of the event loop."""
    return APIError(
        400,
        f"Your request's prompt is {chars} characters; this server accepts at most {limit} (max_prompt_chars). "
        "Please reduce the length of the messages or input.",
        code="context_length_exceeded",
    )


def too_deep(limit: int) -> APIError:
    return APIError(
        400,
        f"We could not parse the JSON body of your request: it nests deeper than {limit} levels "
        "(the limit is max_json_depth).",
        code="json_too_deep",
    )


def file_placeholders(files: Mapping[str, list[UploadedFile]]) -> dict[str, Any]:
    """File parts as strings, so ``type: string, format: binary`` schemas validate them."""
    return {
        name: [f.filename or "file" for f in parts] if len(parts) > 1 else (parts[0].filename or "file")
        for name, parts in files.items()
    }
