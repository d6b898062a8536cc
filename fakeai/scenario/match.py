"""Compiled predicates: a rule's ``match:`` becomes a tuple of small checks, built once at load.

A check is ``(ctx, conversation, captures) -> bool``: ``conversation`` is the request body with the earlier
turns a Responses request continues (``previous_response_id``, ``conversation``) prepended
(:func:`fakeai.producers.text.history.matcher_body`), which the conversation shortcuts (``turn``,
``last_user_message``, ``system_prompt``, ``tool``, ``tool_result``) read; JSON ``body:`` paths read the body as
sent. ``captures`` collects regex groups for templates (``{{ match.city }}``). ``Match.operations`` tells the
engine which operationIds a rule can match, so rules are indexed by operationId and a request only looks at its own.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import re2

from fakeai.context import RequestContext
from fakeai.scenario import conversation as conv

Captures = dict[str, Any]
Check = Callable[[RequestContext, Any, Captures], bool]
Predicate = Callable[[Any, Captures], bool]
Fail = Callable[[Sequence[str | int], str], Exception]
MISSING: Any = object()
_NUMBER = (int, float)


@dataclass(frozen=True, slots=True)
class Match:
    checks: tuple[Check, ...]
    operations: frozenset[str] | None  # None: any operation (method/path rules)
    reads_conversation: bool = False  # a shortcut reads the turns (the engine then looks up earlier ones)

    def test(self, ctx: RequestContext, conversation: Any = MISSING) -> Captures | None:
        """The captures if every check holds; ``conversation`` defaults to the body as sent."""
        seen = ctx.body if conversation is MISSING else conversation
        captures: Captures = {}
        for check in self.checks:
            if not check(ctx, seen, captures):
                return None
        return captures


def globs(value: str | Sequence[str]) -> Callable[[str | None], bool]:
    patterns = [value] if isinstance(value, str) else list(value)
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
    return lambda text: text is not None and regex.match(text) is not None


def compile_match(spec: Mapping[str, Any], path: Sequence[str | int], fail: Fail) -> Match:
    checks: list[Check] = []
    operations: frozenset[str] | None = None
    if "operation" in spec:
        value = spec["operation"]
        operations = frozenset([value] if isinstance(value, str) else value)
    if "method" in spec:
        method = str(spec["method"]).upper()
        checks.append(lambda ctx, _b, _c: ctx.method == method)
    if "path" in spec:
        path_ok = globs(spec["path"])
        checks.append(lambda ctx, _b, _c: path_ok(ctx.path) or path_ok(ctx.operation.path))
    if "model" in spec:
        model_ok = globs(spec["model"])
        checks.append(lambda ctx, _b, _c: model_ok(ctx.model))
    if "stream" in spec:
        want_stream = bool(spec["stream"])
        checks.append(lambda ctx, _b, _c: ctx.wants_stream == want_stream)
    for name, value in (spec.get("headers") or {}).items():
        checks.append(_field_check(_header(name.lower()), compile_predicate(value, (*path, "headers", name), fail)))
    for name, value in (spec.get("query") or {}).items():
        checks.append(_field_check(_query(name), compile_predicate(value, (*path, "query", name), fail)))
    for json_path, value in (spec.get("body") or {}).items():
        checks.append(
            _path_check(
                compile_path(json_path, (*path, "body", json_path), fail),
                compile_predicate(value, (*path, "body", json_path), fail),
            )
        )
    shortcuts: dict[str, Callable[[Any], Any]] = {
        "last_user_message": conv.last_user_message,
        "system_prompt": conv.system_prompt,
        "turn": conv.turn,
    }
    for key, getter in shortcuts.items():
        if key in spec:
            checks.append(_conversation_check(getter, compile_predicate(spec[key], (*path, key), fail)))
    if "has_tools" in spec:
        want_tools = bool(spec["has_tools"])
        checks.append(lambda _ctx, body, _c: bool(conv.tool_names(body)) == want_tools)
    if "tool" in spec:
        tool = spec["tool"]
        checks.append(lambda _ctx, body, _c: tool in conv.tool_names(body))
    if "tool_result" in spec:
        checks.append(_tool_result_check(spec["tool_result"]))
    reads = any(key in spec for key in (*shortcuts, "has_tools", "tool", "tool_result"))
    return Match(tuple(checks), operations, reads)


def _header(name: str) -> Callable[[RequestContext], Any]:
    return lambda ctx: ctx.headers.get(name, MISSING)


def _query(name: str) -> Callable[[RequestContext], Any]:
    return lambda ctx: ctx.query.get(name, MISSING)


def _conversation_check(getter: Callable[[Any], Any], predicate: Predicate) -> Check:
    return lambda _ctx, body, captures: predicate(getter(body), captures)


def _field_check(get: Callable[[RequestContext], Any], predicate: Predicate) -> Check:
    return lambda ctx, _b, captures: predicate(get(ctx), captures)


def _path_check(get: Callable[[Any], list[Any]], predicate: Predicate) -> Check:
    def check(ctx: RequestContext, _body: Any, captures: Captures) -> bool:
        values = get(ctx.body)
        if not values:
            return predicate(MISSING, captures)
        return any(predicate(v, captures) for v in values)

    return check


def _tool_result_check(spec: Any) -> Check:
    if isinstance(spec, bool):
        return lambda _ctx, body, _c: bool(conv.tool_results(body)) == spec
    call_id, name = spec.get("call_id"), spec.get("name")

    def check(_ctx: RequestContext, body: Any, captures: Captures) -> bool:
        for result_id, result_name in conv.tool_results(body):
            if (call_id is None or result_id == call_id) and (name is None or result_name == name):
                captures.setdefault("tool_call_id", result_id)
                return True
        return False

    return check


def compile_predicate(spec: Any, path: Sequence[str | int], fail: Fail) -> Predicate:
    if not isinstance(spec, dict):
        return lambda value, _c: value is not MISSING and _equal(value, spec)
    parts: list[Predicate] = []
    fold = bool(spec.get("ignore_case"))
    for key, operand in spec.items():
        if key == "regex":
            parts.append(_regex(operand, fold, (*path, key), fail))
        elif key in ("gt", "gte", "lt", "lte"):
            parts.append(_compare(key, operand))
        elif key == "schema":
            parts.append(_schema(operand, (*path, key), fail))
        elif key != "ignore_case":
            parts.append(_simple(key, operand, fold))
    return lambda value, captures: all(p(value, captures) for p in parts)


def _simple(key: str, operand: Any, fold: bool) -> Predicate:
    if key == "equals":
        return lambda v, _c: v is not MISSING and _equal(v, operand, fold)
    if key == "not_equals":
        return lambda v, _c: not _equal(v, operand, fold)
    if key == "contains":
        needle = operand.lower() if fold else operand
        return lambda v, _c: _contains(v, needle, fold)
    if key == "exists":
        wanted = bool(operand)
        return lambda v, _c: (v is not MISSING and v is not None) == wanted
    assert key == "in", key
    choices = tuple(operand)
    return lambda v, _c: v is not MISSING and any(_equal(v, x, fold) for x in choices)


def _equal(value: Any, expected: Any, fold: bool = False) -> bool:
    if fold and isinstance(value, str) and isinstance(expected, str):
        return value.lower() == expected.lower()
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    return bool(value == expected)


def _contains(value: Any, needle: str, fold: bool) -> bool:
    if isinstance(value, str):
        return needle in (value.lower() if fold else value)
    if isinstance(value, list):
        return any(isinstance(v, str) and needle == (v.lower() if fold else v) for v in value)
    return False


def _regex(pattern: str, fold: bool, path: Sequence[str | int], fail: Fail) -> Predicate:
    """RE2 (linear time: ``^(a+)+$`` cannot stall a request); what RE2 cannot do fails here, at load."""
    options = re2.Options()
    options.dot_nl, options.case_sensitive, options.log_errors = True, not fold, False
    try:
        regex = re2.compile(pattern, options)
    except re2.error as exc:
        try:
            re.compile(pattern)
        except re.error as invalid:
            raise fail(path, f"invalid regular expression {pattern!r}: {invalid}") from None
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise fail(
            path,
            f"regular expression {pattern!r} is not supported by RE2 ({reason}); scenario regexes run on RE2 "
            "(linear time), which has no backreferences, lookahead/lookbehind, atomic or possessive groups and "
            "no \\Z (write \\z); see docs/scenarios.md, 'Regular expressions'",
        ) from None

    def predicate(value: Any, captures: Captures) -> bool:
        if not isinstance(value, str):
            return False
        found = regex.search(value)
        if found is None:
            return False
        captures.update({k: v for k, v in found.groupdict().items() if v is not None})
        captures.setdefault("groups", found.groups())
        return True

    return predicate


def _compare(op: str, operand: float) -> Predicate:
    tests: dict[str, Callable[[float], bool]] = {
        "gt": lambda v: v > operand,
        "gte": lambda v: v >= operand,
        "lt": lambda v: v < operand,
        "lte": lambda v: v <= operand,
    }
    test = tests[op]
    return lambda v, _c: isinstance(v, _NUMBER) and not isinstance(v, bool) and test(v)


def _schema(schema: Mapping[str, Any], path: Sequence[str | int], fail: Fail) -> Predicate:
    try:
        validator = jsonschema_rs.Draft202012Validator(dict(schema), validate_formats=False)
    except (ValueError, jsonschema_rs.ValidationError) as exc:
        raise fail(path, f"invalid JSON Schema: {exc}") from None
    return lambda v, _c: v is not MISSING and bool(validator.is_valid(v))


_TOKEN = re.compile(r"\.?([A-Za-z_][\w-]*)|\[(-?\d+|\*)\]|\.?\"([^\"]*)\"")


def compile_path(text: str, path: Sequence[str | int], fail: Fail) -> Callable[[Any], list[Any]]:
    """``messages[-1].content``, ``$.tools[*].function.name``, ``response_format.type``."""
    source = text[1:] if text.startswith("$") else text
    steps: list[str | int | None] = []
    position = 0
    while position < len(source):
        found = _TOKEN.match(source, position)
        if found is None or found.end() == position:
            raise fail(path, f"invalid JSON path {text!r} at character {position + 1}")
        name, index, quoted = found.groups()
        if name is not None or quoted is not None:
            steps.append(name if name is not None else quoted)
        else:
            steps.append(None if index == "*" else int(index))
        position = found.end()
    frozen = tuple(steps)
    return lambda body: list(_walk(body, frozen))


def _walk(node: Any, steps: tuple[str | int | None, ...]) -> Iterator[Any]:
    if not steps:
        yield node
        return
    step, rest = steps[0], steps[1:]
    if step is None:
        if isinstance(node, list):
            for item in node:
                yield from _walk(item, rest)
    elif isinstance(step, int):
        if isinstance(node, list) and -len(node) <= step < len(node):
            yield from _walk(node[step], rest)
    elif isinstance(node, dict) and step in node:
        yield from _walk(node[step], rest)
