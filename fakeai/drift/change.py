"""What ``fakeai drift`` reports: one :class:`Change` per difference, located and classified."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """Who a change breaks: clients of the API (or fakeai users' scenarios), maybe someone, nobody."""

    BREAKING = "breaking"
    WARNING = "warning"
    NON_BREAKING = "non-breaking"


SEVERITY_ORDER = (Severity.BREAKING, Severity.WARNING, Severity.NON_BREAKING)


@dataclass(frozen=True, slots=True)
class Delta:
    """A difference found inside one schema, relative to where the comparison started.

    ``path`` is a JSON-ish path (``.choices[].message<ChatCompletionResponseMessage>.refusal``);
    ``origin`` names the innermost component schema and the path inside it, once known.
    """

    kind: str
    path: str = ""
    old: str = ""
    new: str = ""
    origin: str = ""


@dataclass(frozen=True, slots=True)
class Change:
    """One classified difference between OLD and NEW.

    ``where`` reads like ``response 200 .choices[].message.refusal`` or ``request .reasoning_effort``;
    scenario and fixture findings carry ``file:line`` there instead and an empty ``method``.
    """

    kind: str
    severity: Severity
    operation_id: str
    method: str
    path: str
    where: str
    old: str = ""
    new: str = ""
    origin: str = ""
    tags: tuple[str, ...] = ()

    @property
    def operation(self) -> str:
        """``createChatCompletion POST /chat/completions`` (or just the id / the file for user artefacts)."""
        return " ".join(part for part in (self.operation_id, self.method, self.path) if part)

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "severity": self.severity.value,
            "operationId": self.operation_id,
            "method": self.method,
            "path": self.path,
            "where": self.where,
            "old": self.old,
            "new": self.new,
            "origin": self.origin,
            "tags": list(self.tags),
        }


USER_KINDS = ("scenario.", "fixture.")  # findings in the user's own files (--scenario, --fixtures)


def user_finding(change: Change) -> bool:
    """A finding in the user's scenarios or fixtures, not a change between the documents themselves."""
    return change.kind.startswith(USER_KINDS)


def short(value: object, limit: int = 80) -> str:
    """A one-line, bounded rendering of an old/new value."""
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
