"""uvicorn's httptools protocol, with PingOne's envelope for requests the parser refuses, and
a deadline for slow clients.

uvicorn answers a request it cannot parse with a plain-text 400 before the application sees it.
This subclass bounds the request line and the headers itself and answers such requests (and
any other unparseable ones) in PingOne's error envelope: 414 for a URL over 16 KiB, 431 for
headers over 16 KiB, 400 otherwise. A client that has not sent a whole request head within
the read timeout gets 408 and loses the connection, so slow clients cannot hold connections
open (the application bounds body reads the same way).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from populace.config import Config
from populace.errors import ApiError, invalid_request, request_timeout

MAX_URL_BYTES = 16 * 1024
MAX_HEADER_BYTES = 16 * 1024

_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
}
# Read once per process: workers get their settings from POPULACE_* variables.
_READ_TIMEOUT = Config.from_environment().read_timeout_seconds


class _Refused(Exception):
    pass


class HttpProtocol(HttpToolsProtocol):
    _refusal: ApiError | None = None
    _header_bytes = 0
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._expect_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_received()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._refusal = None
        self._header_bytes = 0
        self._expect_head()

    def on_headers_complete(self) -> None:
        self._head_received()
        super().on_headers_complete()

    def _expect_head(self) -> None:
        self._head_received()
        self._head_deadline = self.loop.call_later(_READ_TIMEOUT, self._head_too_slow)

    def _head_received(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self._refusal = request_timeout()
            self.send_400_response("request head timed out")

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            self._refuse(414, f"The request URL exceeds {MAX_URL_BYTES} bytes.")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > MAX_HEADER_BYTES:
            self._refuse(431, f"The request headers exceed {MAX_HEADER_BYTES} bytes.")
        super().on_header(name, value)

    def _refuse(self, status: int, message: str) -> None:
        self._refusal = invalid_request(message, status=status)
        raise _Refused(message)

    def send_400_response(self, msg: str) -> None:
        error = self._refusal or invalid_request("The HTTP request is malformed.")
        status, headers, body = error.render()
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Bad Request")),
            *(b"%s: %s\r\n" % (k.lower().encode(), v.encode()) for k, v in headers.items()),
            b"content-length: %d\r\n" % len(body),
            b"correlation-id: %s\r\n" % str(uuid.uuid4()).encode(),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
