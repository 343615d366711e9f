"""The errors populace answers, and the one place that renders them.

::

    ApiError       PingOne's envelope {id, code, message, details[]}: every error of the
                   management API, from a validation failure to an unknown route or a 503
    OAuthError     RFC 6749's {error, error_description}: the authorization server's errors

Rules raise them below HTTP, so the CLI and tests see the same codes and texts as HTTP
clients. :meth:`ApiError.render` and :meth:`OAuthError.render` are the only renderers: the
application's exception handlers, the rate-limit middleware and the HTTP protocol layer (which
answers requests the parser refuses) all send what they return.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

# (status, headers, body): what every layer, from a handler to the protocol, sends.
Rendered = tuple[int, dict[str, str], bytes]
_JSON = {"content-type": "application/json"}

# PingOne's own wording, which clients (Terraform, SDKs) match on.
MSG_INVALID_DATA = (
    "The request could not be completed. One or more validation errors were in the request."
)
MSG_NOT_FOUND = "The request could not be completed. The requested resource was not found."
MSG_FORBIDDEN = "The request could not be completed. You do not have access to this resource."
MSG_ACTOR_NOT_AUTHORIZED = "The actor attempting to perform the request is not authorized."
MSG_UNAUTHORIZED = "The request could not be completed. The access token is invalid."


class Detail(msgspec.Struct, omit_defaults=True, rename="camel"):
    code: str
    message: str
    target: str | None = None
    inner_error: dict[str, Any] | None = None


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """PingOne's error envelope, as it goes on the wire."""

    id: str
    code: str
    message: str
    details: list[Detail] | None = None


@dataclass(slots=True)
class ApiError(Exception):
    """An error with its HTTP status, PingOne top-level code, message and details."""

    status: int
    code: str
    message: str
    details: list[Detail] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> ErrorBody:
        return ErrorBody(str(uuid.uuid4()), self.code, self.message, self.details or None)

    def render(self) -> Rendered:
        return self.status, {**_JSON, **self.headers}, msgspec.json.encode(self.body())


def invalid_data(detail_code: str, target: str | None, message: str, **inner: Any) -> ApiError:
    """400 INVALID_DATA with a single detail, PingOne's shape for every validation failure."""
    return ApiError(
        400, "INVALID_DATA", MSG_INVALID_DATA, [Detail(detail_code, message, target, inner or None)]
    )


def invalid_request(message: str, status: int = 400) -> ApiError:
    return ApiError(status, "INVALID_REQUEST", message)


def not_found(message: str = MSG_NOT_FOUND) -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def found(value: T | None) -> T:
    """``value``, or 404 when the lookup found nothing."""
    if value is None:
        raise not_found()
    return value


def constraint_violation(message: str) -> ApiError:
    """The delete rules: a detail CONSTRAINT_VIOLATION under 400 INVALID_DATA.

    The top-level message starts "The request could not be completed", which the Terraform
    provider's tests match on.
    """
    return invalid_data("CONSTRAINT_VIOLATION", None, message)


def request_limited(
    message: str, retry_after: int, target: str | None = None, **inner: Any
) -> ApiError:
    """429 REQUEST_LIMITED with ``Retry-After``: a detail LIMIT_EXCEEDED saying which limit."""
    return ApiError(
        429,
        "REQUEST_LIMITED",
        "The request could not be completed. Too many requests.",
        [Detail("LIMIT_EXCEEDED", message, target, {"retryAfter": retry_after, **inner})],
        headers={"Retry-After": str(retry_after)},
    )


def forbidden() -> ApiError:
    return ApiError(
        403,
        "ACCESS_FAILED",
        MSG_FORBIDDEN,
        [Detail("INSUFFICIENT_PERMISSIONS", MSG_ACTOR_NOT_AUTHORIZED)],
    )


def unauthorized(reason: str = "The access token is missing, invalid or expired.") -> ApiError:
    return ApiError(
        401,
        "ACCESS_FAILED",
        MSG_UNAUTHORIZED,
        [Detail("INVALID_TOKEN", reason)],
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def service_unavailable(retry_after_seconds: int = 2) -> ApiError:
    return ApiError(
        503,
        "SERVICE_UNAVAILABLE",
        "The service is temporarily unavailable. Try again later.",
        headers={"Retry-After": str(retry_after_seconds)},
    )


def request_timeout() -> ApiError:
    return invalid_request("The request was not received in time.", status=408)


def unexpected() -> ApiError:
    return ApiError(500, "UNEXPECTED_ERROR", "An unexpected error occurred. Try again later.")


def method_not_allowed(method: str, allowed: str) -> ApiError:
    return ApiError(
        405,
        "METHOD_NOT_ALLOWED",
        f"The request method {method} is not supported for this resource.",
        headers={"Allow": allowed},
    )


class OAuthErrorBody(msgspec.Struct):
    """RFC 6749's error body, as it goes on the wire."""

    error: str
    error_description: str


class OAuthError(Exception):
    """RFC 6749 section 5.2 error at the token endpoint: ``{error, error_description}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def render(self) -> Rendered:
        headers = {**_JSON, "Cache-Control": "no-store", "Pragma": "no-cache"}
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="populace"'
        body = OAuthErrorBody(self.error, self.description)
        return self.status, headers, msgspec.json.encode(body)
