"""The spec's realtime event schemas, by event ``type``, compiled once at startup.

The OpenAI document has no path for ``/v1/realtime`` (a WebSocket), but it ships every client and server
event as a component schema: ``RealtimeClientEvent`` (a union over ``type``) and one
``RealtimeServerEvent<Name>`` per server event (GA names; the ``RealtimeBeta*`` ones are the beta protocol).
Each schema's ``type`` enum names its event, so the table is read from the document, not written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fakeai.spec.validate import Validators, all_errors, first_error

SCHEMAS = "#/components/schemas/"
SERVER_PREFIX = "RealtimeServerEvent"
CLIENT_UNION = "RealtimeClientEvent"


def _event_type(schema: Any) -> str | None:
    kind = ((schema or {}).get("properties") or {}).get("type") or {}
    values = kind.get("enum") or ([kind["const"]] if "const" in kind else [])
    return values[0] if len(values) == 1 and isinstance(values[0], str) else None


def _refs(union: Any) -> list[str]:
    return [str(branch["$ref"]) for branch in (union or {}).get("anyOf", ()) if "$ref" in branch]


class EventSchemas:
    """``type`` -> validator for the server events fakeai sends and the client events it accepts."""

    def __init__(
        self,
        server: Mapping[str, str],
        client: Mapping[str, str],
        validators: Validators,
        client_validators: Validators,
    ) -> None:
        self.server = dict(server)  # event type -> JSON pointer of its schema
        self.client = dict(client)
        self._validators = validators
        self._client_validators = client_validators

    @classmethod
    def from_document(
        cls, document: Mapping[str, Any], validators: Validators, client_validators: Validators | None = None
    ) -> EventSchemas:
        schemas = (document.get("components") or {}).get("schemas") or {}
        server: dict[str, str] = {}
        for name, schema in schemas.items():
            if name.startswith(SERVER_PREFIX) and name != SERVER_PREFIX and (kind := _event_type(schema)):
                server.setdefault(kind, f"#/components/schemas/{name}")
        client = {}
        for ref in _refs(schemas.get(CLIENT_UNION)):
            name = ref.removeprefix(SCHEMAS)
            if kind := _event_type(schemas.get(name)):
                client[kind] = f"#/components/schemas/{name}"
        return cls(server, client, validators, client_validators or validators)

    def server_problems(self, event: Mapping[str, Any]) -> list[str]:
        """``[]`` when ``event`` is a valid server event, else the problems (an unknown type is one)."""
        pointer = self.server.get(str(event.get("type")))
        if pointer is None:
            return [f"type: the spec defines no realtime server event {event.get('type')!r}"]
        validator = self._validators.for_pointer(pointer)
        return [] if validator.is_valid(event) else all_errors(validator, event)

    def client_error(self, event: Mapping[str, Any]) -> tuple[str, str | None] | None:
        """``None`` when ``event`` is a valid client event of a known type, else ``(message, param)``."""
        pointer = self.client.get(str(event.get("type")))
        assert pointer is not None, "the caller checks the type first"
        return first_error(self._client_validators.for_pointer(pointer), event)
