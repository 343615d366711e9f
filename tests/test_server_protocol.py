"""Requests the HTTP parser refuses still get PingOne's envelope from a real server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ServerProcess

# Every request's timeout: generous, so a loaded machine is not taken for a wedged server.
TIMEOUT = 60.0


@pytest.fixture
def server(empty_database: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(empty_database).start(tmp_path)
    try:
        yield process
    finally:
        process.stop()


def _envelope(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == "INVALID_REQUEST" and body["id"] and body["message"]
    assert response.headers["correlation-id"]


def test_url_over_16_kib_gets_414(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/v1/environments?filter={'a' * 30_000}", timeout=TIMEOUT)
    _envelope(response, 414)


def test_headers_over_16_kib_get_431(server: ServerProcess) -> None:
    response = httpx.get(
        f"{server.url}/v1/environments", headers={"X-Big": "a" * 20_000}, timeout=TIMEOUT
    )
    _envelope(response, 431)


def test_garbage_request_gets_400_envelope(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):  # the whole answer: the server closes after it
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b'"code":"INVALID_REQUEST"' in body


def test_server_still_serves_after_refusals(server: ServerProcess) -> None:
    httpx.get(f"{server.url}/v1/x?{'a' * 20_000}", timeout=TIMEOUT)
    assert httpx.get(f"{server.url}/openapi.json", timeout=TIMEOUT).status_code == 200
