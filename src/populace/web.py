"""HTTP plumbing shared by every resource: bodies in, JSON out, links, the request's services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from populace.errors import ApiError, invalid_request
from populace.wire import Link, decode_body, encode

if TYPE_CHECKING:
    from populace.auth.keys import KeyRing
    from populace.auth.limits import RateLimiter
    from populace.auth.secrets import SecretBox
    from populace.auth.tokens import TokenVerifier
    from populace.config import Config
    from populace.storage.database import Database

T = TypeVar("T")

MAX_BODY_BYTES = 1024 * 1024


@dataclass(slots=True)
class Services:
    """What a running deployment holds: set up once at start, shared by every request."""

    config: Config
    db: Database
    box: SecretBox
    keys: KeyRing
    verifier: TokenVerifier
    organization_id: str
    limiter: RateLimiter | None = None


def services(request: Request) -> Services:
    return request.app.state.services


class JSONResponse(Response):
    media_type = "application/json"

    def __init__(self, content: Any, status_code: int = 200, headers: dict[str, str] | None = None):
        super().__init__(encode(content), status_code=status_code, headers=headers)


def no_content() -> Response:
    return Response(status_code=204)


def base_url(request: Request) -> str:
    """``scheme://host[:port]`` as the client addressed us: links point back the same way.
    Computed once per request (a response has several links)."""
    scope = request.scope
    base: str | None = scope.get("populace.base_url")
    if base is None:
        # Straight from the scope: building request.url costs more than the rest of a link.
        host = header(request, b"host")
        if host is None:
            server_host, port = scope["server"]
            host = f"{server_host}:{port}"
        base = scope["populace.base_url"] = f"{scope['scheme']}://{host}"
    return base


def header(request: Request, name: bytes) -> str | None:
    """One request header, read from the raw ASGI scope (``name`` in lower case)."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def api_url(request: Request, path: str) -> Link:
    return Link(href=f"{base_url(request)}/v1/{path}")


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing anything over ``limit`` before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return invalid_request(f"The request body exceeds the limit of {limit} bytes.", status=413)


async def read_json(request: Request, struct: type[T]) -> T:
    """A JSON body decoded into ``struct``: 415 for other media types, 413 past 1 MiB."""
    if not _is_json(request.headers.get("content-type", "")):
        raise invalid_request(
            "The request's Content-Type is not supported; use application/json.", status=415
        )
    return decode_body(await read_body(request), struct)
