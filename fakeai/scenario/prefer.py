"""The ``Prefer`` request header, as Prism users know it: per-request control without a scenario.

``Prefer: code=429`` answers that status in OpenAI's envelope; ``example=<title>`` answers the
operation's x-oaiMeta example with that title; ``scenario=<rule-name>`` forces a rule (skipping its
match and state); ``seed=7`` reseeds the request. Unknown preferences are ignored (RFC 7240);
malformed ones get 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fakeai.errors import APIError

_ITEM = re.compile(r'\s*([A-Za-z][\w-]*)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,;\s]*))?\s*')


@dataclass(frozen=True, slots=True)
class Preference:
    code: int | None = None
    example: str | None = None
    scenario: str | None = None
    seed: int | None = None


def bad_prefer(header: str, why: str) -> APIError:
    return APIError(400, f"Invalid Prefer header {header!r}: {why}", param="Prefer", code="invalid_prefer_header")


def parse_prefer(header: str) -> Preference:
    values: dict[str, str] = {}
    position = 0
    while position < len(header):
        found = _ITEM.match(header, position)
        if found is None or found.end() == position or (found.group(2) is not None and found.group(2) == ""):
            raise bad_prefer(header, f"expected name=value at character {position + 1}")
        name, value = found.group(1).lower(), found.group(2)
        if value is not None:
            values[name] = value[1:-1].replace('\\"', '"') if value.startswith('"') else value
        position = found.end()
        if position < len(header):
            if header[position] not in ",;":
                raise bad_prefer(header, f"expected ',' or ';' at character {position + 1}")
            position += 1
    code = values.get("code")
    seed = values.get("seed")
    if code is not None and not (code.isdigit() and 100 <= int(code) <= 599):
        raise bad_prefer(header, f"code must be an HTTP status 100-599, got {code!r}")
    if seed is not None and not re.fullmatch(r"-?\d{1,30}", seed):
        raise bad_prefer(header, f"seed must be an integer, got {seed!r}")
    return Preference(
        code=int(code) if code is not None else None,
        example=values.get("example"),
        scenario=values.get("scenario"),
        seed=int(seed) if seed is not None else None,
    )
