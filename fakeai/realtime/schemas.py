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
BETA_SERVER_PREFIX = "RealtimeBetaServerEvent"  # the beta protocol's events (no union: one schema per event)
BETA_CLIENT_PREFIX = "RealtimeBetaClientEvent"
# the beta protocol's names of GA events (what the SDK's beta types declare); the spec's beta schemas of these
# six carry the GA names in their ``type`` enum (upstream), so a beta event is checked against the schema
# under its GA name, with the GA name as its type
BETA_NAMES = {
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
}
_GA_NAMES = {beta: ga for ga, beta in BETA_NAMES.items()}


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
        beta_server: Mapping[str, str] | None = None,
        beta_client: Mapping[str, str] | None = None,
    ) -> None:
        self.server = dict(server)  # event type -> JSON pointer of its schema
        self.client = dict(client)
        self.beta_server = dict(beta_server or {})  # the same for ``OpenAI-Beta: realtime=v1`` connections
        self.beta_client = dict(beta_client or {})
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
        beta_server: dict[str, str] = {}
        beta_client: dict[str, str] = {}
        for name, schema in schemas.items():
            for prefix, table in ((BETA_SERVER_PREFIX, beta_server), (BETA_CLIENT_PREFIX, beta_client)):
                if name.startswith(prefix) and (kind := _event_type(schema)):
                    table.setdefault(kind, f"#/components/schemas/{name}")
        for ga, name in BETA_NAMES.items():  # upstream: these beta schemas carry the GA event names
            if ga in beta_server and name not in beta_server:
                beta_server[name] = beta_server[ga]
        return cls(server, client, validators, client_validators or validators, beta_server, beta_client)

    def server_problems(self, event: Mapping[str, Any], beta: bool = False) -> list[str]:
        """``[]`` when ``event`` is a valid server event, else the problems (an unknown type is one)."""
        pointer = (self.beta_server if beta else self.server).get(str(event.get("type")))
        if pointer is None:
            return [f"type: the spec defines no realtime server event {event.get('type')!r}"]
        if beta and event.get("type") in _GA_NAMES:
            event = {**event, "type": _GA_NAMES[str(event["type"])]}
        validator = self._validators.for_pointer(pointer)
        return [] if validator.is_valid(event) else all_errors(validator, event)

    def client_error(self, event: Mapping[str, Any], beta: bool = False) -> tuple[str, str | None] | None:
        """``None`` when ``event`` is a valid client event of a known type, else ``(message, param)``."""
        pointer = (self.beta_client if beta else self.client).get(str(event.get("type")))
        assert pointer is not None, "the caller checks the type first"
        if beta and event.get("type") == "session.update" and isinstance(event.get("session"), dict):
            # upstream: the beta session.update's session is RealtimeSessionCreateRequest, which requires the
            # `client_secret` only the server hands out (the SDK's beta type has no such field)
            event = {**event, "session": {"client_secret": {"value": "", "expires_at": 0}, **event["session"]}}
        return first_error(self._client_validators.for_pointer(pointer), event)
