"""Render a drift report as text (CI logs), Markdown (PR comments) or JSON (tools)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fakeai.drift.change import SEVERITY_ORDER, Change, Severity, user_finding


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


MARKDOWN_LIMIT = 60_000  # characters: under a GitHub PR comment's 65,536, with room for what CI adds around it


def render_markdown(report: DriftReport, details: bool = False, limit: int = MARKDOWN_LIMIT) -> str:
    """For a PR comment: counts by severity and by kind first, then the findings in ``<details>`` blocks (the
    user's scenarios and fixtures first, then breaking changes and warnings; non-breaking with ``details``), by
    operation, cut to stay under ``limit`` characters with a note saying how many findings were left out."""
    lines = [
        f"### fakeai drift: `{report.old}` → `{report.new}`",
        "",
        f"{report.old_about} → {report.new_about}",
        "",
        "| severity | changes | distinct |",
        "|---|---|---|",
    ]
    lines += [f"| {s.value} | {report.count(s)} | {report.distinct(s)} |" for s in SEVERITY_ORDER]
    kinds = Counter((c.severity, c.kind) for c in report.changes)
    if kinds:
        lines += ["", "| kind | severity | changes |", "|---|---|---|"]
        rank = {severity: n for n, severity in enumerate(SEVERITY_ORDER)}
        for (severity, kind), n in sorted(kinds.items(), key=lambda item: (rank[item[0][0]], -item[1], item[0][1])):
            lines.append(f"| `{kind}` | {severity.value} | {n} |")
    head = "\n".join(lines) + "\n"
    sections = [(title, changes, open_) for title, changes, open_ in _markdown_sections(report, details) if changes]
    budget = limit - len(head) - 400  # the note and the closing tags
    body: list[str] = []
    left_out = 0
    for title, changes, open_ in sections:
        blocks = [
            (f"**{_cell(operation)}**\n\n" + "\n".join(_table(entries)) + "\n", entries)
            for operation, entries in grouped(changes)
        ]
        opening = f"\n<details{' open' if open_ else ''}><summary>{title} ({len(changes)})</summary>\n\n"
        closing = "\n</details>\n"
        if budget < len(opening) + len(closing) + 200:
            left_out += len(changes)
            continue
        budget -= len(opening) + len(closing)
        shown: list[str] = []
        for text, entries in blocks:
            if len(text) + 1 > budget:
                left_out += sum(1 + entry.more for entry in entries)
                continue
            budget -= len(text) + 1
            shown.append(text)
        if shown:
            body += [opening, "\n".join(shown), closing]
        else:
            budget += len(opening) + len(closing)
    text = head + "".join(body)
    if left_out:
        listed = sum(len(changes) for _title, changes, _open in sections)
        text += (
            f"\n_{left_out} of {listed} findings left out to stay under {limit:,} characters "
            "(a PR comment holds 65,536); `--format text` or `--format json` lists them all._\n"
        )
    return text


def _markdown_sections(report: DriftReport, details: bool) -> list[tuple[str, list[Change], bool]]:
    """(title, changes, shown open): the user's own files first, whatever their severity."""
    user = [c for c in report.changes if user_finding(c)]
    spec = [c for c in report.changes if not user_finding(c)]
    sections = [("Scenarios and fixtures", user, True)]
    for severity in SEVERITY_ORDER:
        if severity is Severity.NON_BREAKING and not details:
            continue
        title = f"{severity.value.capitalize()} changes"
        sections.append((title, [c for c in spec if c.severity is severity], severity is Severity.BREAKING))
    return sections


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
