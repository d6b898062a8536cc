"""JSON pointers (RFC 6901) in URI-fragment form (``#/components/schemas/X``), the one place they are parsed.

Every pointer fakeai builds or follows is the form a ``$ref`` takes in a document: ``#`` then
``/``-separated tokens, each with ``~`` written ``~0`` and ``/`` written ``~1`` (RFC 6901 §3), and
the whole fragment percent-encoded where a URI needs it (RFC 6901 §6, RFC 3986 §3.5). So a pointer
built with :func:`pointer` and a ``$ref`` read from the spec are the same kind of string, and
``f"{ref}/schema"`` extends either.

Only local references resolve: the normalized document (or a client's ``response_format`` schema) is
one resource, so an external ``$ref`` is a :class:`~fakeai.errors.SpecError`; bundle such documents first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from fakeai.errors import SpecError, closest

# RFC 3986 fragment characters kept as they are besides letters and digits (unreserved, sub-delims, ":", "@");
# not "/" (a token's own "/" is "~1") nor "%" (a token's "%" is encoded so it survives :func:`tokens`)
_TOKEN_SAFE = "~:@!$&'()*+,;=-._"
DEREF_LIMIT = 16


def escape(token: str) -> str:
    """One reference token, RFC 6901 escaped (``~`` -> ``~0``, ``/`` -> ``~1``), not percent-encoded."""
    return token.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    """The inverse of :func:`escape` (``~1`` first would turn ``~01`` into ``/``: decode ``~1`` then ``~0``)."""
    return token.replace("~1", "/").replace("~0", "~")


def pointer(*tokens: str | int) -> str:
    """``#/a/b`` for the tokens ``a``, ``b``: escaped and percent-encoded, ready for ``$ref`` or a URI."""
    return "#" + "".join("/" + quote(escape(str(token)), safe=_TOKEN_SAFE) for token in tokens)


def join(ref: str, *tokens: str | int) -> str:
    """``ref`` (a pointer or a local ``$ref``) extended by ``tokens``."""
    return ref + pointer(*tokens)[1:]


def uri(base: str, ref: str) -> str:
    """``base + ref`` with any character a URI cannot hold percent-encoded (already encoded ones kept)."""
    return base + quote(ref, safe="#/%" + _TOKEN_SAFE)


def tokens(ref: str) -> list[str]:
    """The decoded reference tokens of a local ``$ref`` (``"#"`` is the whole document: no tokens)."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise SpecError(f"external $ref {ref!r} is not supported: only local ones ('#/...') resolve")
    path = unquote(ref[1:])
    if not path:
        return []
    if not path.startswith("/"):
        raise SpecError(f"$ref {ref!r} is not a JSON pointer (anchors are not supported)")
    return [unescape(part) for part in path[1:].split("/")]


def name(ref: str) -> str:
    """The last decoded token of ``ref`` (``#/components/schemas/X`` -> ``X``), ``""`` for ``"#"``."""
    parts = tokens(ref)
    return parts[-1] if parts else ""


def resolve(document: Any, ref: str) -> Any:
    """The value ``ref`` points at inside ``document``; a :class:`SpecError` naming the missing token."""
    node = document
    for depth, part in enumerate(tokens(ref)):
        try:
            if isinstance(node, list) and part.isdigit() and (part == "0" or not part.startswith("0")):
                node = node[int(part)]
            elif isinstance(node, Mapping):
                node = node[part]
            else:
                raise LookupError(part)
        except LookupError:
            where = pointer(*tokens(ref)[:depth]) if depth else "the document root"
            hint = closest(part, [str(k) for k in node]) if isinstance(node, Mapping) else ""
            raise SpecError(f"unresolvable $ref {ref!r}: no {part!r} at {where}{hint}") from None
    return node


def deref(document: Any, node: Any, limit: int = DEREF_LIMIT) -> Any:
    """``node`` with a chain of ``$ref``-only hops followed (``{"$ref": A}`` -> A's target -> ...).

    Sibling keywords of a ``$ref`` are not merged: callers that need them (the schema walker) flatten
    themselves. More than ``limit`` hops is a reference cycle: a :class:`SpecError`.
    """
    for _ in range(limit):
        if not isinstance(node, Mapping) or not isinstance(node.get("$ref"), str):
            return node
        node = resolve(document, node["$ref"])
    if isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        raise SpecError(f"$ref chain longer than {limit} hops at {node['$ref']!r} (a reference cycle?)")
    return node
