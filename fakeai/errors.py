"""The FakeAI error tree and the one builder of OpenAI error bodies.

Startup problems raise :class:`FakeAIError` subclasses whose messages name the file, the line or
YAML path and a hint. Everything a client sees goes through :func:`error_body` (OpenAI's envelope) or,
for the operations a bindings file declares ``errors: anthropic`` or ``errors: azure`` for,
:func:`vendor_error` (the status and words that vendor uses) and :func:`vendor_error_body`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class FakeAIError(Exception):
    """Base of every error fakeai raises on purpose at startup."""


class SpecError(FakeAIError):
    """An OpenAPI document could not be loaded, normalized or compiled."""


class ScenarioError(FakeAIError):
    """A scenario file is invalid."""


class ConfigError(FakeAIError):
    """Settings, CLI flags, env vars or a config file are invalid."""


class PluginError(FakeAIError):
    """A plugin could not be found or loaded."""


def closest(word: str, choices: Iterable[str]) -> str:
    """A ``did you mean 'x'?`` hint, or an empty string."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


# status -> OpenAI error type, as the real API words them
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    502: "server_error",
    503: "server_error",
    504: "server_error",
}


class APIError(Exception):
    """An error answered to the client in OpenAI's envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


class StateUnavailable(APIError):
    """The shared state backend (``--state redis://...``) did not answer: 503, and the next request retries."""

    def __init__(self, where: str, exc: BaseException) -> None:
        super().__init__(
            503,
            f"fakeai's state backend ({where}) is unavailable: {type(exc).__name__}: {exc}. "
            "Retry shortly; nothing stored there is lost.",
            code="state_backend_unavailable",
        )


SERVER_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"  # OpenAI's words


def error_body(message: str, *, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error envelope: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


# The error envelopes a bindings file may declare (``errors:``); OpenAI's is the default.
ENVELOPES = ("openai", "anthropic", "azure")
# status -> Anthropic error type (docs.anthropic.com/en/api/errors; the types its spec's ErrorResponse allows)
ANTHROPIC_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",  # the API says request_too_large, which its spec's ErrorResponse does not list
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_ANTHROPIC_KINDS = frozenset(ANTHROPIC_TYPES.values())


def anthropic_error_body(status: int, message: str, request_id: str, type: str | None = None) -> dict[str, Any]:
    """Anthropic's envelope: ``{"type": "error", "error": {"type", "message"}, "request_id"}``. ``type`` is
    kept when it is one of Anthropic's and not just OpenAI's default for the status; else it follows the status."""
    kind = type if type in _ANTHROPIC_KINDS and type != ERROR_TYPES.get(status) else None
    kind = kind or ANTHROPIC_TYPES.get(status) or ("invalid_request_error" if status < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id or None}


AZURE_NOT_FOUND = "Resource not found"  # what Azure OpenAI answers for an unknown route or a missing api-version


def vendor_error(error: APIError, envelope: str) -> APIError:
    """``error`` as the vendor of ``envelope`` answers it: Azure OpenAI routes by ``api-version``, so a request
    without one is a 404 ``Resource not found`` there (not OpenAI's 400 ``Missing required parameter``), as is
    an unknown URL; Anthropic's words for a body that is not JSON do not send its clients to OpenAI's help."""
    if envelope == "azure":
        missing = error.status == 400 and error.message.startswith("Missing required parameter")
        if (missing and error.param == "api-version") or error.code == "unknown_url":
            return APIError(404, AZURE_NOT_FOUND, code="404", headers=error.headers)
    if envelope == "anthropic" and error.message.startswith(_OPENAI_JSON_HINT):
        detail = error.message[error.message.rfind("[") :] if error.message.endswith("]") else ""
        message = f"There was an issue with your request: the body is not valid JSON. {detail}".rstrip()
        return APIError(error.status, message, type=error.type, param=error.param, headers=error.headers)
    return error


_OPENAI_JSON_HINT = "We could not parse the JSON body of your request. (HINT"


class PathEnvelopes:
    """The error envelope for a request no operation answers (an unknown URL, a method a path lacks): that of
    the served operations whose path template shares the most leading segments with the request's path
    (``/v1/messages/x`` -> Anthropic's when its spec is served beside OpenAI's); a server of one vendor
    answers in its envelope everywhere; a tie, or nothing in common, is ``default``'s."""

    def __init__(self, templates: Iterable[tuple[str, str]], default: str = "openai") -> None:
        self.default = default
        self.templates = [(tuple(t.strip("/").split("/")), envelope) for t, envelope in templates]
        kinds = {envelope for _t, envelope in self.templates}
        self.only = kinds.pop() if len(kinds) == 1 else None

    def __call__(self, path: str) -> str:
        if self.only is not None:
            return self.only
        segments = path.strip("/").split("/")
        best, found = 0, {self.default}
        for template, envelope in self.templates:
            shared = 0
            for want, got in zip(template, segments, strict=False):
                if want != got and not (want.startswith("{") and want.endswith("}")):
                    break
                shared += 1
            if shared > best:
                best, found = shared, {envelope}
            elif shared == best and shared:
                found.add(envelope)
        return found.pop() if len(found) == 1 else self.default


def azure_error_body(message: str, *, type: str | None, param: str | None, code: str | None) -> dict[str, Any]:
    """Azure OpenAI's envelope: OpenAI's fields, but only those with a value (its ``error`` schema types ``code``,
    ``param`` and ``type`` as strings), e.g. ``{"error": {"code": "404", "message": "Resource not found"}}``."""
    fields = {"code": code, "message": message, "type": type, "param": param}
    return {"error": {key: value for key, value in fields.items() if value is not None}}


def vendor_error_body(error: APIError, envelope: str, request_id: str = "") -> dict[str, Any]:
    """``error`` in the envelope an operation's binding declares (``openai``, ``anthropic`` or ``azure``); the
    caller sends ``vendor_error(error, envelope)`` (its status and words) through here."""
    if envelope == "anthropic":
        return anthropic_error_body(error.status, error.message, request_id, error.type)
    if envelope == "azure":
        if error.message == AZURE_NOT_FOUND:  # the real 404 says only code and message
            return azure_error_body(error.message, type=None, param=None, code=error.code)
        return azure_error_body(error.message, type=error.type, param=error.param, code=error.code)
    return error.body()


def reshape_error_body(body: Any, status: int, envelope: str, request_id: str = "") -> Any:
    """An OpenAI error body built elsewhere (a scenario's scripted error, a rate-limit refusal) in
    ``envelope``; other bodies unchanged."""
    if envelope == "openai" or not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return body
    inner = body["error"]
    if envelope == "anthropic" and body.get("type") != "error":
        return anthropic_error_body(status, str(inner.get("message") or ""), request_id, inner.get("type"))
    if envelope == "azure":
        return {**body, "error": {key: value for key, value in inner.items() if value is not None}}
    return body


def not_found(method: str, path: str) -> APIError:
    return APIError(404, f"Invalid URL ({method} {path})", code="unknown_url")


def method_not_allowed(method: str, path: str) -> APIError:
    return APIError(405, f"Method Not Allowed: {method} {path}", code="method_not_allowed")


def invalid_api_key(shown: str | None) -> APIError:
    if shown is None:
        return APIError(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
            "username) if you're accessing the API from your browser and are prompted for a username and "
            "password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            code=None,
        )
    masked = shown[:3] + "*" * max(0, len(shown) - 7) + shown[-4:] if len(shown) > 7 else "*" * len(shown)
    return APIError(
        401,
        f"Incorrect API key provided: {masked}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )
