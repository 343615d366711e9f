"""A pytest plugin for suites that test against populace: ``pytest_plugins = ["populace.testing"]``.

- ``populace_server`` (session): ``populace serve`` in a subprocess on a free loopback port, on
  a SQLite file in a temporary folder (cheap password hashes), with known admin credentials.
  Its state right after the first start is kept as a snapshot.
- ``populace`` (each test): that snapshot restored, so every test starts from the same clean
  state; a :class:`PopulaceClient` holding the admin application's token.
- :class:`ClientCredentials`: an ``httpx`` auth that fetches a client-credentials token, and
  fetches a new one when the old one expires or is refused, for any application.

Needs ``httpx`` (``pip install 'populace[testing]'``).
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CLEAN_SNAPSHOT = "populace-testing-clean"
START_SECONDS = 120.0  # a first start migrates a new database: generous on a loaded machine


class ClientCredentials(httpx.Auth):
    """Bearer tokens from ``POST /{envID}/as/token`` (``client_credentials``), fetched on the
    first request and again when the API answers 401 (expired, or a reset took it away)."""

    requires_response_body = True  # the token response is read inside the flow

    def __init__(self, base_url: str, environment_id: str, client_id: str, secret: str) -> None:
        self.token_url = f"{base_url.rstrip('/')}/{environment_id}/as/token"
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        self.credentials = f"Basic {basic}"
        self.token: str | None = None

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": self.credentials},
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        for fresh in (self.token is None, True):
            if fresh:
                answered = yield self._token_request()
                if answered.status_code != 200:
                    raise RuntimeError(f"populace refused the token request: {answered.text}")
                self.token = str(answered.json()["access_token"])
            request.headers["Authorization"] = f"Bearer {self.token}"
            response = yield request
            if response.status_code != 401:
                return
            self.token = None


class PopulaceClient(httpx.Client):
    """An ``httpx.Client`` on populace's base URL, as the admin Worker application."""

    def __init__(self, server: PopulaceServer, **options: Any) -> None:
        auth = ClientCredentials(
            server.url, server.environment_id, server.client_id, server.client_secret
        )
        options.setdefault("transport", server.transport)
        super().__init__(base_url=server.url, auth=auth, timeout=60.0, **options)
        self.server = server

    @property
    def environment_id(self) -> str:
        """The Administrators environment (the admin application's own)."""
        return self.server.environment_id


class _Shared(httpx.BaseTransport):
    """The session's pool, lent to a client: closing the client leaves the pool open."""

    def __init__(self, pool: httpx.HTTPTransport) -> None:
        self.pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.pool.handle_request(request)


@dataclass
class PopulaceServer:
    """A ``populace serve`` process and the admin credentials it was started with."""

    url: str
    environment_id: str
    client_id: str
    client_secret: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self) -> PopulaceClient:
        return PopulaceClient(self)

    def __post_init__(self) -> None:
        # One connection pool for every client of the session: a new client costs no TLS
        # context and no connection (measured: 27 ms a test before, most of the overhead).
        self._pool = httpx.HTTPTransport()
        self.transport = _Shared(self._pool)
        self._control: PopulaceClient | None = None  # kept: a restore per test fetches no token

    def restore(self, name: str = CLEAN_SNAPSHOT) -> None:
        if self._control is None:
            self._control = self.client()
        restored = self._control.post(f"/_populace/snapshots/{name}/restore")
        if restored.status_code != 204:
            raise RuntimeError(f"populace did not restore {name!r}: {restored.text}")

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
        self._pool.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(server: PopulaceServer) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"populace serve exited:\n{server.log_path.read_text()}")
        try:
            probe = server.transport.handle_request(
                httpx.Request(
                    "GET",
                    f"{server.url}/_populace/ready",
                    extensions={"timeout": {"connect": 10, "read": 10, "write": 10, "pool": 10}},
                )
            )
            probe.read()
            if probe.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"populace serve was not ready in {START_SECONDS:.0f} s")


def start_server(folder: Path) -> PopulaceServer:
    """``populace serve`` on a new SQLite database in ``folder``, ready, with its clean
    state kept as the snapshot ``populace-testing-clean``."""
    port = _free_port()
    credentials = {
        "POPULACE_ADMIN_ENVIRONMENT_ID": str(uuid.uuid4()),
        "POPULACE_ADMIN_CLIENT_ID": str(uuid.uuid4()),
        "POPULACE_ADMIN_CLIENT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
    }
    # The developer's own POPULACE_* settings (a public URL, Redis, rate limits) stay out.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("POPULACE_")}
    environment = {**inherited, **credentials, "POPULACE_PASSWORD_HASH_COST": "cheap"}
    log_path = folder / "populace.log"
    command = [
        sys.executable, "-m", "populace", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--database", str(folder / "populace.db"), "--control",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
    server = PopulaceServer(
        f"http://127.0.0.1:{port}",
        credentials["POPULACE_ADMIN_ENVIRONMENT_ID"],
        credentials["POPULACE_ADMIN_CLIENT_ID"],
        credentials["POPULACE_ADMIN_CLIENT_SECRET"],
        process,
        log_path,
    )
    try:
        _wait_ready(server)
        with server.client() as client:
            taken = client.post("/_populace/snapshots", json={"name": CLEAN_SNAPSHOT})
            if taken.status_code != 201:
                raise RuntimeError(f"populace did not take the clean snapshot: {taken.text}")
    except BaseException:  # Ctrl-C included: no server is left behind
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def populace_server() -> Iterator[PopulaceServer]:
    """One populace for the test session, stopped when it ends."""
    with tempfile.TemporaryDirectory(prefix="populace-") as folder:
        server = start_server(Path(folder))
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def populace(populace_server: PopulaceServer) -> Iterator[PopulaceClient]:
    """populace as it was at its first start, and a client holding the admin's token."""
    populace_server.restore()
    with populace_server.client() as client:
        yield client
