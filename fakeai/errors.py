"""The FakeAI error tree and the one builder of OpenAI error bodies.

Startup problems raise :class:`FakeAIError` subclasses whose messages name the file, the line or
YAML path and a hint. Everything a client sees goes through :func:`error_body`.
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


SERVER_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"  # OpenAI's words


def error_body(message: str, *, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error envelope: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


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
