"""Reading requests: raw headers, the base URL, size-bounded bodies and JSON bodies."""

from __future__ import annotations

import asyncio
import re
from typing import TypeVar

from starlette.requests import Request

from populace.errors import ApiError, invalid_request, request_timeout
from populace.wire import MAX_BODY_BYTES, Urls, decode_body

T = TypeVar("T")


def header(request: Request, name: bytes) -> str | None:
    """One request header, read from the raw ASGI scope (``name`` in lower case)."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


# A DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port.
_HOST = re.compile(r"(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def base_url(request: Request) -> str:
    """The deployment's public URL when one is configured, else ``scheme://host[:port]`` as the
    client addressed us, so links point back the same way. Computed once per request (a
    response has several links)."""
    scope = request.scope
    base: str | None = scope.get("populace.base_url")
    if base is None:
        pinned: str | None = request.app.state.services.config.public_url
        base = scope["populace.base_url"] = pinned or f"{scope['scheme']}://{_host(request)}"
    return base


def _host(request: Request) -> str:
    # Straight from the scope: building request.url costs more than the rest of a link.
    host = header(request, b"host")
    if host is None:
        server_host, port = request.scope["server"]
        return f"{server_host}:{port}"
    if not _HOST.fullmatch(host):
        raise invalid_request("The Host header must be a host name or address, with a port.")
    return host


def urls(request: Request) -> Urls:
    return Urls(base_url(request))


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing anything over ``limit`` before reading it all, and a body that
    does not arrive within the read timeout (408)."""
    timeout: float = request.app.state.services.config.read_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            return await _read_body(request, limit)
    except TimeoutError:
        raise request_timeout() from None


async def _read_body(request: Request, limit: int) -> bytes:
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


async def read_json(request: Request, struct: type[T], limit: int = MAX_BODY_BYTES) -> T:
    """A JSON body decoded into ``struct``: 415 for other media types, 413 past ``limit``
    bytes (1 MiB unless the operation says otherwise)."""
    if not _is_json(request.headers.get("content-type", "")):
        raise invalid_request(
            "The request's Content-Type is not supported; use application/json.", status=415
        )
    return decode_body(await read_body(request, limit), struct)
