"""Reading requests: raw headers, the base URL, size-bounded bodies and JSON bodies."""

from __future__ import annotations

from typing import TypeVar

from starlette.requests import Request

from populace.errors import ApiError, invalid_request
from populace.wire import Urls, decode_body

T = TypeVar("T")

MAX_BODY_BYTES = 1024 * 1024


def header(request: Request, name: bytes) -> str | None:
    """One request header, read from the raw ASGI scope (``name`` in lower case)."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


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


def urls(request: Request) -> Urls:
    return Urls(base_url(request))


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing anything over ``limit`` before reading it all."""
    declared = request.headers.get("content-length")
    # Bounded by length before conversion: int() of thousands of digits is slow, then refused.
    if (
        declared is not None
        and declared.isdigit()
        and (len(declared) > 18 or int(declared) > limit)
    ):
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
