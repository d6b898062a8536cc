"""A scenario file compiled into frozen rules: predicates, replies, chaos, limits, expectations.

Scenario.from_yaml(path)              # or Scenario.from_text(text, source, name)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakeai.errors import ScenarioError
from fakeai.scenario.chaos import Chaos, compile_chaos
from fakeai.scenario.load import Document, parse
from fakeai.scenario.match import Match, compile_match
from fakeai.scenario.ratelimit import Limit, compile_limit
from fakeai.scenario.resource import compile_directive
from fakeai.scenario.respond import Reply, compile_reply


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    index: int  # position in the file (ties in priority keep file order)
    priority: int
    match: Match
    machine: str
    when_state: frozenset[str] | None
    set_state: str | None
    times: int | None
    replies: tuple[Reply, ...]  # one for ``respond:`` (or ``resource:``), several for ``sequence:``
    after_sequence: str  # repeat_last | fall_through | cycle
    is_sequence: bool
    chaos: tuple[Chaos, ...]
    where: str


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    source: str
    conversation: str
    rules: tuple[Rule, ...]
    chaos: tuple[Chaos, ...]
    limits: tuple[Limit, ...]
    expect: tuple[dict[str, Any], ...]
    document: Document

    @classmethod
    def from_yaml(cls, path: str | Path) -> Scenario:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read scenario file: {exc.strerror}") from None
        return cls.from_text(text, str(path), file.name.removesuffix(".yaml").removesuffix(".yml"))

    @classmethod
    def from_text(cls, text: str, source: str, name: str | None = None) -> Scenario:
        document = parse(text, source)
        return compile_scenario(document, str(document.data.get("name") or name or "scenario"))


def compile_scenario(document: Document, name: str) -> Scenario:
    data = document.data

    def fail(path: Sequence[str | int], message: str) -> Exception:
        return document.error(path, message)

    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(data.get("rules") or ()):
        rule = _compile_rule(spec, index, ("rules", index), fail, document)
        if rule.name in seen:
            raise fail(("rules", index, "name"), f"duplicate rule name {rule.name!r} (also rules[{seen[rule.name]}])")
        seen[rule.name] = index
        rules.append(rule)
    chaos = tuple(
        compile_chaos(spec, ("chaos", i), fail, f"{name}.chaos[{i}]") for i, spec in enumerate(data.get("chaos") or ())
    )
    for i, entry in enumerate(chaos):
        for rule_name in entry.rules or ():
            if rule_name not in seen:
                raise fail(("chaos", i, "scope", "rule"), f"no rule named {rule_name!r}")
    limits = tuple(
        compile_limit(spec, f"{name}.rate_limits[{i}]") for i, spec in enumerate(data.get("rate_limits") or ())
    )
    for i, limit in enumerate(limits):
        if not (limit.requests_per_minute or limit.tokens_per_minute):
            raise fail(("rate_limits", i), "give requests_per_minute and/or tokens_per_minute")
    expect = tuple(
        {**entry, "scenario": name, "file": document.source, "line": document.positions.get(("expect", i), (1, 1))[0]}
        for i, entry in enumerate(data.get("expect") or ())
    )
    ordered = tuple(sorted(rules, key=lambda r: (-r.priority, r.index)))
    return Scenario(
        name, document.source, str(data.get("conversation", "auto")), ordered, chaos, limits, expect, document
    )


def _compile_rule(
    spec: Mapping[str, Any], index: int, path: tuple[str | int, ...], fail: Any, document: Document
) -> Rule:
    name = str(spec.get("name") or f"rule-{index + 1}")
    has_respond, has_sequence = "respond" in spec, "sequence" in spec
    if "resource" in spec and (has_respond or has_sequence):
        raise fail(path, "'resource:' scripts the object the operation answers with; drop 'respond:'/'sequence:'")
    if has_respond and has_sequence:
        raise fail(path, "a rule needs exactly one of 'respond:' or 'sequence:'")
    if not (has_respond or has_sequence or "resource" in spec):
        raise fail(path, "a rule needs 'respond:', 'sequence:' or 'resource:'")
    where = document.where(path)
    replies: tuple[Reply, ...]
    if "resource" in spec:
        at = document.where((*path, "resource"))
        directive = compile_directive(spec["resource"], (*path, "resource"), fail, f"{name} ({at})")
        replies = (Reply(where=f"{name} ({at})", resource=directive),)
    elif has_respond:
        replies = (compile_reply(spec["respond"], (*path, "respond"), fail, f"{name} ({where})"),)
    else:
        replies = tuple(
            compile_reply(step, (*path, "sequence", i), fail, f"{name} step {i + 1} ({where})")
            for i, step in enumerate(spec["sequence"])
        )
    when = spec.get("when_state")
    return Rule(
        name=name,
        index=index,
        priority=int(spec.get("priority", 0)),
        match=compile_match(spec.get("match") or {}, (*path, "match"), fail),
        machine=str(spec.get("machine", "default")),
        when_state=frozenset([when] if isinstance(when, str) else when) if when is not None else None,
        set_state=spec.get("set_state"),
        times=spec.get("times"),
        replies=replies,
        after_sequence=str(spec.get("after_sequence", "repeat_last")),
        is_sequence=has_sequence,
        chaos=tuple(
            compile_chaos(c, (*path, "chaos", i), fail, f"{name}.chaos[{i}]", rule=name)
            for i, c in enumerate(spec.get("chaos") or ())
        ),
        where=where,
    )
