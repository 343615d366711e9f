"""Helpers for tests that talk to populace as a client would."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import insert

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# How long a ``populace serve`` process may take to answer its first request. Generous: on a
# shared, loaded CI machine a start (interpreter, imports, migrations) can take many seconds,
# and a start that fails says so at once (the process exits), without waiting for this.
START_SECONDS = 120.0
# How long a stopped process may take to exit before it is killed.
STOP_SECONDS = 60.0
# How long to wait for a condition a test needs before it may go on (a request to finish, load
# to reach a phase). Tests wait for conditions, never for a fixed time: how fast the machine is
# must not decide whether they pass.
WAIT_SECONDS = 120.0


def wait_until(
    condition: Callable[[], bool],
    what: str | Callable[[], str],
    timeout: float = WAIT_SECONDS,
    interval: float = 0.05,
) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` (text, or a function that makes it
    when needed) if it still does not after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            message = what() if callable(what) else what
            raise AssertionError(f"still not the case after {timeout:.0f}s: {message}")
        time.sleep(interval)


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def fetch_token(
    client: httpx.AsyncClient, environment_id: str, client_id: str, secret: str
) -> str:
    response = await client.post(
        f"/{environment_id}/as/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(
    response: httpx.Response,
    status: int,
    code: str,
    detail: str | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """Check PingOne's envelope: {id, code, message, details[]}."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["id"], str) and isinstance(body["message"], str), body
    if detail is not None:
        details = body.get("details") or []
        assert any(d["code"] == detail for d in details), body
        if target is not None:
            assert any(d["code"] == detail and d.get("target") == target for d in details), body
    return body


@dataclass
class Actor:
    """A Worker application and a client that carries its token."""

    client: httpx.AsyncClient
    application_id: str
    environment_id: str
    secret: str
    token: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A real ``populace serve`` process on 127.0.0.1, for tests that need processes."""

    database_url: str
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    arguments: list[str] = field(default_factory=list)  # more options for ``populace serve``

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path, timeout: float = START_SECONDS) -> ServerProcess:
        self.log_path = log_dir / f"serve-{self.port}.log"
        environment = {**os.environ, **self.env}
        command = [
            sys.executable, "-m", "populace", "serve",
            "--port", str(self.port),
            "--database", self.database_url,
            "--workers", str(self.workers),
            *self.arguments,
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=environment
            )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"populace serve exited: {self.log()}")
            try:
                probe = httpx.get(f"{self.url}/openapi.json", timeout=min(10.0, timeout))
                if probe.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"populace serve did not start in {timeout}s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self, sig: int | None = None) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if sig is None:
            self.process.terminate()
        else:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def record_calls(monkeypatch: Any, target: Any, method: str) -> list[tuple[Any, ...]]:
    """Wrap ``target.method`` for the test: it still runs, and the arguments of every call
    are appended to the list returned (counting work instead of timing it)."""
    calls: list[tuple[Any, ...]] = []
    original = getattr(target, method)

    def recording(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(target, method, recording)
    return calls


_PRINTED = re.compile(
    r"^\s+(apiPath|authPath|adminEnvID|adminAppID|adminAppSecret|orgID)\s+(.+?)(?:\s{4}#.*)?$",
    re.MULTILINE,
)


def printed(output: str) -> dict[str, str]:
    """The ``name  value`` lines ``serve`` and ``credentials`` print for Postman."""
    return {name: value.strip() for name, value in _PRINTED.findall(output)}


async def insert_organization(conn: Any, organization_id: str, license_id: str) -> None:
    """An organization and its license as every schema revision has them (tests of
    migrations write rows at an old revision, below the API)."""
    from populace.storage.schema import licenses, organizations

    await conn.execute(
        insert(organizations).values(
            id=organization_id, name="populace", created_at=1, updated_at=1
        )
    )
    await conn.execute(
        insert(licenses).values(
            id=license_id,
            organization_id=organization_id,
            name="populace",
            package="INTERNAL",
            created_at=1,
        )
    )


# Playwright's timeouts are in milliseconds. Generous: CI machines are loaded.
BROWSER_TIMEOUT_MS = 60_000


@contextmanager
def browser_page(browser: Browser, **options: Any) -> Iterator[Page]:
    """A page in a new browser profile (no cookie of another page's), generous timeouts."""
    context = browser.new_context(**options)
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    context.set_default_navigation_timeout(BROWSER_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
