"""Writing responses: JSON bodies and rendered errors."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from populace.errors import ApiError, OAuthError
from populace.wire import encode

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(encode(content), status, headers, media_type="application/json")


def error_response(error: ApiError | OAuthError) -> Response:
    status, headers, body = error.render()
    return Response(body, status, headers)
