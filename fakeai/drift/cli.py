"""``fakeai drift OLD NEW``: argv -> documents -> changes -> report -> exit code."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fakeai.drift.change import Change, Severity, user_finding

FAIL_ON = ("breaking", "warning", "any", "scenarios", "none")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    spec = "a file, a named spec (openai, anthropic, azure, azure-preview, groq, cohere, ...), avs://..., or 'embedded'"
    parser.add_argument("old", metavar="OLD", help=f"the OpenAPI document you build against: {spec}")
    parser.add_argument("new", metavar="NEW", help=f"the newer document: {spec}")
    parser.add_argument("--format", dest="drift_format", choices=("text", "markdown", "json"), default="text")
    parser.add_argument(
        "--fail-on",
        dest="drift_fail_on",
        choices=FAIL_ON,
        default="breaking",
        help="exit 1 on: breaking changes (default), breaking or warning, any change at all, "
        "any finding in the --scenario/--fixtures files (whatever the spec changes), never",
    )
    parser.add_argument(
        "--only", dest="drift_only", metavar="TERMS", help="comma-separated tags/operationIds (substrings, any case)"
    )
    parser.add_argument(
        "--scenario",
        dest="drift_scenarios",
        metavar="FILE",
        nargs="+",
        action="extend",
        default=[],
        help="scenario YAML files whose rules must still hold against NEW",
    )
    parser.add_argument(
        "--fixtures", dest="drift_fixtures", metavar="DIR", help="directory of <operationId>.json.j2 templates"
    )
    parser.add_argument("--details", dest="drift_details", action="store_true", help="also list non-breaking changes")
    parser.add_argument("--no-cache", dest="drift_no_cache", action="store_true", help="do not use the spec cache")


def run(args: argparse.Namespace) -> int:
    from fakeai.drift.report import RENDERERS, render_json

    report = build_report(
        args.old,
        args.new,
        scenarios=args.drift_scenarios,
        fixtures=args.drift_fixtures,
        only=args.drift_only,
        use_cache=not args.drift_no_cache,
    )
    if args.drift_format == "json":
        sys.stdout.write(render_json(report))
    else:
        sys.stdout.write(RENDERERS[args.drift_format](report, args.drift_details))
    return exit_code(report.changes, args.drift_fail_on)


def build_report(
    old: str,
    new: str,
    *,
    scenarios: Sequence[str] = (),
    fixtures: str | None = None,
    only: str | None = None,
    use_cache: bool = True,
) -> Any:
    """Load both documents, compare them, check the user's files and filter: a :class:`DriftReport`."""
    from fakeai.drift.compare import compare_documents
    from fakeai.drift.report import DriftReport
    from fakeai.drift.usage import Side, check_fixtures, check_scenarios
    from fakeai.spec.load import load_document

    missing = [f"--scenario {file}" for file in scenarios if not Path(file).is_file()]
    if fixtures and not Path(fixtures).is_dir():
        missing.append(f"--fixtures {fixtures}")
    if missing:  # before the (slow) documents: a typo in CI should fail fast and plainly
        from fakeai.errors import ConfigError

        raise ConfigError("fakeai drift: not found: " + ", ".join(missing))
    started = time.perf_counter()
    old_doc = load_document(None if old == "embedded" else old, use_cache=use_cache)
    new_doc = load_document(None if new == "embedded" else new, use_cache=use_cache)
    changes = compare_documents(old_doc, new_doc)
    if scenarios or fixtures:
        old_side, new_side = Side(old_doc), Side(new_doc)
        changes += check_scenarios(scenarios, old_side, new_side)
        if fixtures:
            changes += check_fixtures(fixtures, old_side, new_side)
    if only:
        changes = [c for c in changes if selected(c, only)]
    order = {Severity.BREAKING: 0, Severity.WARNING: 1, Severity.NON_BREAKING: 2}
    changes.sort(key=lambda c: order[c.severity])  # stable: document order within a severity
    return DriftReport(
        old=_label(old),
        new=_label(new),
        old_about=about(old_doc),
        new_about=about(new_doc),
        changes=tuple(changes),
        seconds=time.perf_counter() - started,
    )


def _label(spec: str) -> str:
    """A file by its name; a named spec (``azure``, ``avs://openai/groq``) as written."""
    return Path(spec).name if Path(spec).expanduser().is_file() else spec


def about(document: Mapping[str, Any]) -> str:
    from fakeai.spec.operation import METHODS

    source = document.get("x-fakeai-source-openapi") or document.get("openapi")
    count = sum(1 for item in (document.get("paths") or {}).values() for m in METHODS if m in (item or {}))
    version = (document.get("info") or {}).get("version", "?")
    return f"openapi {source}, version {version}, {count} operations"


def selected(change: Change, only: str) -> bool:
    """``--only chat,responses``: a case-insensitive substring of a tag or of the operationId."""
    terms = [t.strip().lower() for t in only.split(",") if t.strip()]
    names = [change.operation_id.lower(), *(tag.lower() for tag in change.tags)]
    return any(term in name for term in terms for name in names)


def exit_code(changes: Sequence[Change], fail_on: str) -> int:
    if fail_on == "none":
        return 0
    if fail_on == "any":
        return int(bool(changes))
    if fail_on == "scenarios":
        return int(any(user_finding(c) for c in changes))
    failing = {Severity.BREAKING} if fail_on == "breaking" else {Severity.BREAKING, Severity.WARNING}
    return int(any(c.severity in failing for c in changes))
