"""PingOne's error envelope: ``{id, code, message, details[]}``.

Every error populace answers, from a validation failure to an unknown route, is an
:class:`ApiError`. Rules raise them below HTTP; one exception handler turns them into responses,
so the CLI and tests see the same codes and texts as HTTP clients.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

# PingOne's own wording, which clients (Terraform, SDKs) match on.
MSG_INVALID_DATA = (
    "The request could not be completed. One or more validation errors were in the request."
)
MSG_NOT_FOUND = "The request could not be completed. The requested resource was not found."
MSG_FORBIDDEN = "The request could not be completed. You do not have access to this resource."
MSG_ACTOR_NOT_AUTHORIZED = "The actor attempting to perform the request is not authorized."
MSG_UNAUTHORIZED = "The request could not be completed. The access token is invalid."


@dataclass(frozen=True, slots=True)
class Detail:
    code: str
    message: str
    target: str | None = None
    inner_error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code}
        if self.target is not None:
            out["target"] = self.target
        out["message"] = self.message
        if self.inner_error:
            out["innerError"] = self.inner_error
        return out


@dataclass(slots=True)
class ApiError(Exception):
    """An error with its HTTP status, PingOne top-level code, message and details."""

    status: int
    code: str
    message: str
    details: list[Detail] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": str(uuid.uuid4()), "code": self.code, "message": self.message}
        if self.details:
            body["details"] = [d.to_json() for d in self.details]
        return body


def invalid_data(detail_code: str, target: str | None, message: str, **inner: Any) -> ApiError:
    """400 INVALID_DATA with a single detail, PingOne's shape for every validation failure."""
    return ApiError(
        400, "INVALID_DATA", MSG_INVALID_DATA, [Detail(detail_code, message, target, inner or None)]
    )


def invalid_request(message: str, status: int = 400) -> ApiError:
    return ApiError(status, "INVALID_REQUEST", message)


def not_found(message: str = MSG_NOT_FOUND) -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def constraint_violation(message: str) -> ApiError:
    """The delete rules: a detail CONSTRAINT_VIOLATION under 400 INVALID_DATA.

    The top-level message starts "The request could not be completed", which the Terraform
    provider's tests match on.
    """
    return invalid_data("CONSTRAINT_VIOLATION", None, message)


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


class OAuthError(Exception):
    """RFC 6749 section 5.2 error at the token endpoint: ``{error, error_description}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
