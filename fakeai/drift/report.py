"""Render a drift report as text (CI logs), Markdown (PR comments) or JSON (tools)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fakeai.drift.change import SEVERITY_ORDER, Change, Severity


@dataclass(frozen=True, slots=True)
class DriftReport:
    """What ``fakeai drift`` found between two documents (and in the user's own files)."""

    old: str
    new: str
    old_about: str  # "openapi 3.0.0, 148 operations"
    new_about: str
    changes: tuple[Change, ...]
    seconds: float = 0.0

    def count(self, severity: Severity) -> int:
        return sum(1 for change in self.changes if change.severity is severity)

    def distinct(self, severity: Severity) -> int:
        """Changes counted once per component schema location (one change seen through many operations)."""
        return len({_identity(c) for c in self.changes if c.severity is severity})

    def by_kind(self, severity: Severity | None = None) -> Counter[str]:
        return Counter(c.kind for c in self.changes if severity is None or c.severity is severity)


def _identity(change: Change) -> tuple[str, ...]:
    anchor = change.origin or f"{change.operation} {change.where}"
    return (change.kind, anchor, change.old, change.new)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a report: a change and how many more places show the same component change."""

    change: Change
    more: int


def grouped(changes: Iterable[Change]) -> Iterator[tuple[str, list[Entry]]]:
    """By operation, in order of appearance; repeats of one component change inside an operation fold."""
    operations: dict[str, dict[tuple[str, ...], list[Change]]] = {}
    for change in changes:
        key = (change.kind, change.origin, change.old, change.new) if change.origin else (str(id(change)),)
        operations.setdefault(change.operation, {}).setdefault(key, []).append(change)
    for operation, folds in operations.items():
        yield operation, [Entry(same[0], len(same) - 1) for same in folds.values()]


def _line(entry: Entry) -> str:
    change = entry.change
    values = f": {change.old} -> {change.new}" if change.old or change.new else ""
    more = f" (+{entry.more} more)" if entry.more else ""
    origin = f"  [{change.origin}]" if change.origin else ""
    return f"  {change.kind:36} {change.where}{values}{more}{origin}"


def render_text(report: DriftReport, details: bool = False) -> str:
    lines = [
        f"fakeai drift: {report.old} ({report.old_about}) -> {report.new} ({report.new_about})",
        "   ".join(
            f"{severity.value}: {report.count(severity)} ({report.distinct(severity)} distinct)"
            for severity in SEVERITY_ORDER
        )
        + f"   [{report.seconds:.2f} s]",
    ]
    quiet = report.by_kind(Severity.NON_BREAKING)
    if quiet:
        lines.append("non-breaking: " + ", ".join(f"{kind} {n}" for kind, n in quiet.most_common()))
    shown = SEVERITY_ORDER if details else SEVERITY_ORDER[:2]
    for severity in shown:
        selected = [c for c in report.changes if c.severity is severity]
        if not selected:
            continue
        lines += ["", f"{severity.value.upper()} ({len(selected)})"]
        for operation, entries in grouped(selected):
            lines.append(operation)
            lines.extend(_line(entry) for entry in entries)
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ") if text else ""


def _table(entries: list[Entry]) -> list[str]:
    rows = ["| kind | where | old | new | schema |", "|---|---|---|---|---|"]
    for entry in entries:
        change = entry.change
        where = change.where + (f" (+{entry.more} more)" if entry.more else "")
        cells = (change.old, change.new, change.origin)
        code = f"| `{change.kind}` | `{where.replace('|', '¦')}` | "
        rows.append(code + " | ".join(_cell(c) for c in cells) + " |")
    return rows


def render_markdown(report: DriftReport, details: bool = False) -> str:
    lines = [
        f"### fakeai drift: `{report.old}` → `{report.new}`",
        "",
        f"{report.old_about} → {report.new_about}",
        "",
        "| severity | changes | distinct |",
        "|---|---|---|",
    ]
    lines += [f"| {s.value} | {report.count(s)} | {report.distinct(s)} |" for s in SEVERITY_ORDER]
    for severity in SEVERITY_ORDER:
        selected = [c for c in report.changes if c.severity is severity]
        if not selected or (severity is Severity.NON_BREAKING and not details):
            continue
        fold = severity is not Severity.BREAKING
        title = f"{severity.value.capitalize()} changes ({len(selected)})"
        lines += ["", f"<details><summary>{title}</summary>" if fold else f"#### {title}", ""]
        for operation, entries in grouped(selected):
            lines += [f"**{_cell(operation)}**", "", *_table(entries), ""]
        if fold:
            lines.append("</details>")
    quiet = report.by_kind(Severity.NON_BREAKING)
    if quiet:
        lines += ["", "Non-breaking by kind: " + ", ".join(f"`{kind}` {n}" for kind, n in quiet.most_common())]
    return "\n".join(lines) + "\n"


def render_json(report: DriftReport) -> str:
    document = {
        "old": report.old,
        "new": report.new,
        "old_about": report.old_about,
        "new_about": report.new_about,
        "seconds": round(report.seconds, 3),
        "summary": {s.value: report.count(s) for s in SEVERITY_ORDER},
        "distinct": {s.value: report.distinct(s) for s in SEVERITY_ORDER},
        "by_kind": dict(sorted(report.by_kind().items())),
        "changes": [change.as_dict() for change in report.changes],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown}
