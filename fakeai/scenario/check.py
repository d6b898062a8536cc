"""``fakeai check FILE ...``: validate scenario files offline.

Format errors (``file:line:column`` + did-you-mean), unknown operationIds, scripted answers on
operations (or with keys, e.g. ``tool_calls`` on createCompletion) that cannot render them (the keys an
operation takes are its binding's ``scripted:``, ``spec/bindings/*.yaml``, so every vendor spec is checked), and
raw ``body:`` answers that violate the spec's response schema (rules matched by ``method``/``path`` are checked
against the one operation they route to), templates naming variables fakeai's template environment does not
provide, unknown operations in ``chaos`` and ``rate_limits`` scopes, and ``resource:`` rules naming an operation
with no stateful resource, a state its kind's lifecycle does not declare, or fields its item schema does not have
(or values it rejects). Exit status 1 on any error.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

from fakeai.errors import FakeAIError, closest
from fakeai.producers.bindings import scripted_keys
from fakeai.scenario.model import Scenario
from fakeai.scenario.template import templated


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="scenario YAML files")
    parser.add_argument(
        "--spec",
        metavar="SPEC",
        default=None,
        help="OpenAPI document or named spec (anthropic, azure, ...; default: openai)",
    )
    parser.add_argument(
        "--bindings",
        metavar="FILE",
        action="append",
        default=[],
        help="extra bindings files (as the server's --bindings)",
    )
    parser.add_argument(
        "--traffic",
        metavar="FILE",
        action="append",
        default=[],
        help="recorded traffic (X.traffic.jsonl from `fakeai record`): report where the live API differs from the spec",
    )


def run(args: argparse.Namespace) -> int:
    from fakeai.spec.load import load_document

    if not args.files and not args.traffic:
        print("fakeai check: give scenario files and/or --traffic FILE", file=sys.stderr)
        return 2
    document = load_document(args.spec)
    errors = 0
    for traffic in args.traffic:
        from fakeai.record.check import check_traffic

        differences = check_traffic(traffic, args.spec)
        for difference in differences:
            print(f"{traffic}: {difference}", file=sys.stderr)
        errors += len(differences)
        if not differences:
            print(f"{traffic}: ok (the recorded traffic conforms to the spec)")
    for path in args.files:
        problems = check_file(path, document, tuple(getattr(args, "bindings", ()) or ()))
        for problem in problems:
            print(problem, file=sys.stderr)
        errors += len(problems)
        if not problems:
            print(f"{path}: ok")
    return 1 if errors else 0


def check_file(path: str, document: Mapping[str, Any], bindings: Sequence[str] = ()) -> list[str]:
    try:
        scenario = Scenario.from_yaml(path)
    except FakeAIError as exc:
        return str(exc).splitlines()
    return check_scenario(scenario, document, bindings)


def check_scenario(scenario: Scenario, document: Mapping[str, Any], bindings: Sequence[str] = ()) -> list[str]:
    from fakeai.spec.operation import iter_operations
    from fakeai.spec.validate import Validators, all_errors

    operations = {op.operation_id: op for op in iter_operations(document)}
    validators = Validators(document)
    problems: list[str] = []
    names = [("rules", r.index, r.match.operations) for r in scenario.rules]
    names += [("chaos", i, c.operations) for i, c in enumerate(scenario.chaos)]
    names += [("rate_limits", i, limit.operations) for i, limit in enumerate(scenario.limits)]
    for section, index, ops in names:
        for op_id in sorted(ops or ()):
            if op_id not in operations:
                where = scenario.document.where((section, index, "match" if section == "rules" else "scope"))
                problems.append(f"{where}: unknown operation {op_id!r}{closest(op_id, operations)}")
    for rule in scenario.rules:
        for op_id in sorted(rule.match.operations or routed(scenario, rule.index, document)):
            operation = operations.get(op_id)
            if operation is None:
                continue
            allowed = scripted_keys(operation, bindings, document)
            for reply in rule.replies:
                if reply.is_script and not (allowed and reply.script_keys <= allowed):
                    keys = "/".join(sorted(reply.script_keys - allowed)) or "a scripted answer"
                    problems.append(f"{reply.where}: {keys} cannot answer {op_id}; use body:")
                if reply.body is None or (reply.status and reply.status >= 400) or templated(reply.raw_body):
                    continue
                media = operation.json_response
                if media is None or not isinstance(reply.raw_body, (dict, list)):
                    continue
                validator = validators.for_pointer(media.pointer)
                if not validator.is_valid(reply.raw_body):
                    detail = "; ".join(all_errors(validator, reply.raw_body))
                    problems.append(f"{reply.where}: body does not match the {op_id} response schema: {detail}")
    problems += _template_problems(scenario, document)
    problems += _resource_problems(scenario, document, validators)
    return problems


def routed(scenario: Scenario, index: int, document: Mapping[str, Any]) -> frozenset[str]:
    """The operation a rule matched by ``method``/``path`` (no ``operation``) answers: the one the spec routes
    that METHOD path to (the path as requested, ``/v1/chat/completions``, or as templated, ``/models/{model}``),
    so its body can be checked. Empty when the match spans several operations (globs, no method)."""
    from fakeai.scenario.match import globs
    from fakeai.spec.operation import iter_operations

    rules = scenario.document.data.get("rules") or ()
    spec = rules[index].get("match") if index < len(rules) and isinstance(rules[index], Mapping) else None
    if not isinstance(spec, Mapping) or "path" not in spec:
        return frozenset()
    method = str(spec["method"]).upper() if "method" in spec else None
    patterns = [spec["path"]] if isinstance(spec["path"], str) else [str(p) for p in spec["path"]]
    literal = [p for p in patterns if not any(c in p for c in "*?[")]
    glob = globs([p for p in patterns if p not in literal]) if len(literal) < len(patterns) else None
    prefix = _base_path(document)
    found = set()
    for op in iter_operations(document):
        if method is not None and op.method != method:
            continue
        route = re.compile(f"(?:{re.escape(prefix)})?" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(op.path)) + "/?")
        if any(route.fullmatch(p) or p == op.path for p in literal) or (
            glob is not None and (glob(op.path) or glob(prefix + op.path))
        ):
            found.add(op.operation_id)
    return frozenset(found) if len(found) == 1 else frozenset()


def _base_path(document: Mapping[str, Any]) -> str:
    """The path part of the document's first server URL (``https://api.openai.com/v1`` -> ``/v1``)."""
    from urllib.parse import urlsplit

    servers = document.get("servers") or [{}]
    url = servers[0].get("url", "") if isinstance(servers[0], Mapping) else ""
    return urlsplit(str(url)).path.rstrip("/")


def template_names(document: Mapping[str, Any]) -> frozenset[str]:
    """Every name a scenario template may use: what :func:`fakeai.scenario.template.environment` provides for a
    request (built here for a blank one, so the list cannot drift from the code) and the sandbox's globals."""
    import random

    from fakeai.config import Settings
    from fakeai.context import RequestContext
    from fakeai.scenario.template import environment, jinja_environment
    from fakeai.spec.operation import iter_operations

    operation = next(iter(iter_operations(document)))
    blank = RequestContext(
        operation, operation.method, operation.path, {}, {}, {}, {}, {}, 0, random.Random(0), 0.0, Settings()
    )
    return frozenset(environment(blank, {}, "")) | frozenset(jinja_environment().globals)


def _strings(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def _template_problems(scenario: Scenario, document: Mapping[str, Any]) -> list[str]:
    """Templates in answers (``respond``, ``sequence``, ``resource``) naming variables no request provides."""
    from jinja2 import TemplateSyntaxError, meta

    from fakeai.scenario.template import jinja_environment

    texts = []
    for i, rule in enumerate(scenario.document.data.get("rules") or ()):
        if isinstance(rule, Mapping):
            for key in ("respond", "sequence", "resource"):
                texts += [(p, t) for p, t in _strings(rule.get(key), ("rules", i, key)) if templated(t)]
    if not texts:
        return []
    known = template_names(document)
    found = []
    for path, text in texts:
        try:
            names = meta.find_undeclared_variables(jinja_environment().parse(text))
        except TemplateSyntaxError:
            continue  # the scenario loader reports invalid templates
        dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        for name in sorted(names - known):
            found.append(
                f"{scenario.document.where(path)}: {dotted}: undefined template variable {name!r}"
                f"{closest(name, sorted(known))}"
            )
    return found


def _resource_problems(scenario: Scenario, document: Mapping[str, Any], validators: Any) -> list[str]:
    """``resource:`` rules against the resource graph of ``document`` and the shipped declarations."""
    rules = [(rule, reply.resource) for rule in scenario.rules for reply in rule.replies if reply.resource is not None]
    if not rules:
        return []
    from fakeai.generated.merge import absolute_refs
    from fakeai.resources.producer import declared_graph
    from fakeai.scenario.resource import problems
    from fakeai.spec.pointer import deref
    from fakeai.spec.validate import URN

    graph, decls = declared_graph(document)

    def properties(schema: Any) -> Mapping[str, Any]:
        resolved = deref(document, schema) if schema is not None else None
        return (resolved.get("properties") or {}) if isinstance(resolved, Mapping) else {}

    def valid(schema: Any, value: Any) -> str | None:
        validator = validators.for_schema(absolute_refs(schema, URN))
        errors = [f"{error.message}" for error in islice(validator.iter_errors(value), 3)]
        return "; ".join(errors) or None

    found: list[str] = []
    for rule, directive in rules:
        for op_id in sorted(rule.match.operations or ()):
            found += problems(directive, scenario.document.where, op_id, graph, decls, properties, valid)
        if not rule.match.operations:
            found.append(f"{scenario.document.where(directive.path)}: a resource: rule needs match.operation")
    return found
