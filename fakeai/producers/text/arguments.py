"""Tool-call arguments taken from what the user said: "weather in Paris" -> ``{"city": "Paris"}``.

A model fills a function's string arguments from the conversation. :func:`argument_overrides` reads the
user's messages (newest first) and, for each top-level property of the function's ``parameters`` whose name
or description says what it holds, proposes the matching words:

* places (``city``, ``location``, ``destination``, ...): the capitalized phrase after "in", "at", "to",
  "from", "for", ... ("in New York" -> "New York");
* people (``name``, ``recipient``, ``person``, ...): a capitalized phrase that does not start a sentence;
* search text (``query``, ``topic``, ``question``, ...): the phrase after "about", "search for", "look
  up", ..., else the whole request;
* ``email`` / ``url``: the first address or link written.

Proposals are overrides for the schema-driven generator (:class:`~fakeai.generated.schema.GenContext`):
the walker keeps one only when it is valid for its property (type, enum, pattern, lengths), so the arguments
still validate; properties nothing matched keep their generated (realistic) values. Pure text work: no RNG.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fakeai.producers.text.common import content_text

__all__ = ["argument_overrides", "user_texts"]

MAX_CHARS = 4096  # of each user message read
_CAPS = r"[A-Z][\w'\u2019.-]*(?:[ -](?:(?:de|del|da|la|le|of|upon|am)[ -])?[A-Z][\w'\u2019.-]*)*(?<![.-])"
_PLACE = re.compile(rf"\b(?:in|at|near|around|to|from|for|of|visiting|across)\s+(?:the\s+)?({_CAPS})")
_FROM = re.compile(rf"\bfrom\s+({_CAPS})")
_TO = re.compile(rf"\b(?:to|for)\s+({_CAPS})")
_TOPIC = re.compile(
    r"\b(?:search(?:ing)?(?: the web| online)? for|look(?:ing)? up|find|about|regarding|on the topic of|"
    r"information on|news on|learn about)\s+(.+?)\s*(?:[?!;\n]|\.(?:\s|$)|$)",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://[^\s<>\"')\]]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NOT_NAMES = _words(
    "I I'm I'd I'll Please Hi Hello Hey Thanks Thank What When Where Who Why How Can Could Would Will Is Are Do "
    "Does Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July "
    "August September October November December"
)
PLACE_WORDS = _words(
    "city location place town destination origin region area address where locality city_name location_name "
    "departure arrival from_city to_city"
)
PERSON_WORDS = _words(
    "name person full_name first_name username user recipient contact customer employee attendee author assignee "
    "to_name"
)
TOPIC_WORDS = _words(
    "query q search search_query search_term term terms keywords keyword topic subject question prompt"
)


def user_texts(source: Any) -> list[str]:
    """The user's messages, newest first: chat ``messages``, Anthropic ``messages`` or a Responses ``input``."""
    if isinstance(source, str):
        return [source[:MAX_CHARS]]
    items = source if isinstance(source, list) else []
    said = [content_text(m.get("content")) for m in items if isinstance(m, Mapping) and m.get("role") == "user"]
    return [text[:MAX_CHARS] for text in reversed(said) if text]


def argument_overrides(parameters: Mapping[str, Any] | None, said: Sequence[str]) -> dict[str, str]:
    """Property -> the user's words for it (top-level properties whose name or description matches)."""
    properties = parameters.get("properties") if isinstance(parameters, Mapping) else None
    if not said or not isinstance(properties, Mapping):
        return {}
    found: dict[str, str] = {}
    for name, schema in properties.items():
        extract = _extractor(str(name), schema if isinstance(schema, Mapping) else {})
        value = next((v for v in map(extract, said) if v), None) if extract is not None else None
        if value:
            found[str(name)] = value
    return found


def _extractor(name: str, schema: Mapping[str, Any]) -> Callable[[str], str | None] | None:
    key = name.lower()
    about = str(schema.get("description") or "").lower()
    if "email" in key or schema.get("format") == "email":
        return _first(_EMAIL)
    if key in ("url", "link", "website", "uri", "page_url") or schema.get("format") in ("uri", "url"):
        return _first(_URL)
    if key in ("origin", "departure", "from_city", "source_city"):
        return _after(_FROM)
    if key in ("destination", "arrival", "to_city", "destination_city"):
        return _after(_TO)
    if key in PLACE_WORDS or key.endswith(("_city", "_location")) or re.search(r"\b(city|location|town)\b", about):
        return _after(_PLACE)
    if key in PERSON_WORDS or (key.endswith(("_name", "_person")) and key not in ("file_name", "function_name")):
        return _person
    if key in TOPIC_WORDS or re.search(r"\b(search|query|topic)\b", about):
        return _topic
    return None


def _first(pattern: re.Pattern[str]) -> Callable[[str], str | None]:
    def extract(text: str) -> str | None:
        match = pattern.search(text)
        return match.group(0).rstrip(".,;:") if match else None

    return extract


def _after(pattern: re.Pattern[str]) -> Callable[[str], str | None]:
    def extract(text: str) -> str | None:
        match = pattern.search(text)
        return match.group(1) if match else None

    return extract


def _person(text: str) -> str | None:
    for match in re.finditer(_CAPS, text):
        words = match.group(0).split()
        before = text[: match.start()].rstrip(" \t")
        if not before or before.endswith(("\n", ".", "!", "?")):
            words = words[1:]  # "Email Alice Smith": the first capital is the sentence's
        words = [word for word in words if word not in _NOT_NAMES]
        if words:
            return " ".join(words)
    return None


def _topic(text: str) -> str | None:
    match = _TOPIC.search(text)
    if match:
        return match.group(1).strip(" \"'")
    whole = " ".join(text.split()).strip(" ?!.")
    return whole[:200] or None
