"""A database outage mid-load: clean 503s while it lasts, recovery without a restart after it.

A small TCP proxy sits between ``populace serve`` and PostgreSQL. While clients read and write,
the proxy is cut (every connection reset, no new one accepted): each request made during the
outage must be answered quickly with 503 in PingOne's envelope and a ``Retry-After`` header, never
a 500 and never a hang. Then the proxy is restored and the same process must serve again within
a few seconds, by itself. Two outages in a row, so recovering once is not luck.

The outage is a PostgreSQL matter, so this test always uses PostgreSQL: the session's server if
``POPULACE_TEST_DATABASE_URL`` names one, else the local one, in a database made for the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support import ServerProcess, free_port

pytestmark = pytest.mark.slow

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
CLIENTS = 8
REQUEST_TIMEOUT = 10.0  # an answer slower than this during the outage counts as a hang
RECOVERY_SECONDS = 10.0
ADMIN_ENVIRONMENT_ID = str(uuid.uuid4())
ADMIN_CLIENT_ID = str(uuid.uuid4())
ADMIN_SECRET = "outage-test-" + uuid.uuid4().hex


# -- the proxy ----------------------------------------------------------------------------------


class Proxy:
    """A TCP proxy on its own event loop thread that can be cut and restored."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.AbstractServer | None = None
        self.transports: set[asyncio.BaseTransport] = set()
        self.accepted = 0

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def start(self) -> Proxy:
        self.thread.start()
        self.restore()
        return self

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._cut())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for transport in list(self.transports):
            transport.abort()  # a reset, as when the database goes away
        self.transports.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer.transport, upstream_writer.transport}
        self.transports |= pair

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self.transports -= pair


# -- a throw-away PostgreSQL database --------------------------------------------------------------


def postgres_base() -> str:
    configured = os.environ.get("POPULACE_TEST_DATABASE_URL", "")
    return configured if configured.startswith("postgres") else DEFAULT_POSTGRES


def plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def database() -> Iterator[str]:
    base = postgres_base()
    name = f"populace_outage_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(plain(base))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield make_url(plain(base)).set(database=name).render_as_string(hide_password=False)
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- load ------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    started: float
    finished: float
    what: str
    status: int | None  # None: no answer at all
    body: Any
    retry_after: str | None
    error: str | None = None


class Load:
    """Clients that read and write without pause, recording every answer."""

    def __init__(self, base: str, token: str, environment_id: str) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}
        self.environment_id = environment_id
        self.outcomes: list[Outcome] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(CLIENTS)]

    def start(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT * 3)
            assert not thread.is_alive(), "a client hung"

    def _run(self, number: int) -> None:
        populations = f"{self.base}/v1/environments/{self.environment_id}/populations"
        with httpx.Client(headers=self.headers, timeout=REQUEST_TIMEOUT) as client:
            step = 0
            while not self.stopping.is_set():
                step += 1
                kind = step % 3
                started = time.monotonic()
                try:
                    if kind == 0:
                        what = "create population"
                        response = client.post(
                            populations, json={"name": f"o{number}-{uuid.uuid4().hex[:10]}"}
                        )
                    elif kind == 1:
                        what = "list populations"
                        response = client.get(populations, params={"limit": "5"})
                    else:
                        what = "token"
                        response = client.post(
                            f"{self.base}/{ADMIN_ENVIRONMENT_ID}/as/token",
                            data={"grant_type": "client_credentials"},
                            auth=(ADMIN_CLIENT_ID, ADMIN_SECRET),
                            headers={"Authorization": ""},
                        )
                except httpx.HTTPError as exc:
                    outcome = Outcome(started, time.monotonic(), what, None, None, None, repr(exc))
                else:
                    try:
                        body = response.json()
                    except ValueError:
                        body = response.text
                    outcome = Outcome(
                        started,
                        time.monotonic(),
                        what,
                        response.status_code,
                        body,
                        response.headers.get("retry-after"),
                    )
                with self.lock:
                    self.outcomes.append(outcome)
                time.sleep(0.005)


def problems_during_outage(outcomes: list[Outcome]) -> list[str]:
    found = []
    for o in outcomes:
        label = f"{o.what} after {o.finished - o.started:.2f}s"
        if o.status is None:
            found.append(f"{label}: no answer ({o.error})")
        elif o.status != 503:
            found.append(f"{label}: {o.status} {str(o.body)[:200]}")
        elif not (
            isinstance(o.body, dict)
            and o.body.get("code") == "SERVICE_UNAVAILABLE"
            and all(isinstance(o.body.get(k), str) for k in ("id", "message"))
        ):
            found.append(f"{label}: 503 outside PingOne's envelope: {str(o.body)[:200]}")
        elif not (o.retry_after or "").isdigit() or int(o.retry_after or 0) < 1:
            found.append(f"{label}: 503 without a usable Retry-After ({o.retry_after!r})")
        elif o.finished - o.started > REQUEST_TIMEOUT / 2:
            found.append(f"{label}: 503 only after a long wait")
    return found


def test_database_outage_gives_503_and_recovers_by_itself(
    database: str, tmp_path: Path, capsys
) -> None:
    upstream = make_url(database)
    proxy = Proxy(upstream.host or "127.0.0.1", upstream.port or 5432).start()
    through_proxy = upstream.set(host="127.0.0.1", port=proxy.port)
    env = {
        "POPULACE_ADMIN_ENVIRONMENT_ID": ADMIN_ENVIRONMENT_ID,
        "POPULACE_ADMIN_CLIENT_ID": ADMIN_CLIENT_ID,
        "POPULACE_ADMIN_CLIENT_SECRET": ADMIN_SECRET,
        "POPULACE_RATE_LIMIT": "0",
        "POPULACE_REDIS_URL": "",
        "POPULACE_TOKEN_LIFETIME_SECONDS": "3600",
    }
    server = ServerProcess(through_proxy.render_as_string(hide_password=False), env=env)
    stats = {"outage requests": 0, "outages": 0, "recovery seconds": []}
    try:
        server.start(tmp_path)
        token_response = httpx.post(
            f"{server.url}/{ADMIN_ENVIRONMENT_ID}/as/token",
            data={"grant_type": "client_credentials"},
            auth=(ADMIN_CLIENT_ID, ADMIN_SECRET),
        )
        assert token_response.status_code == 200, token_response.text
        token = token_response.json()["access_token"]
        environment_id = ADMIN_ENVIRONMENT_ID
        load = Load(server.url, token, environment_id).start()
        try:
            for _ in range(2):
                time.sleep(1.0)
                with load.lock:
                    healthy = list(load.outcomes)
                assert healthy, "no request finished before the outage"
                bad = [o for o in healthy if o.status not in (200, 201)]
                assert not bad, f"failures while the database was up: {bad[:5]}"

                proxy.cut()
                cut_at = time.monotonic()
                time.sleep(3.0)
                restored_at = time.monotonic()
                with load.lock:
                    # Requests that began after the cut and ended before the restore.
                    during = [
                        o
                        for o in load.outcomes
                        if o.started > cut_at + 0.05 and o.finished < restored_at
                    ]
                    load.outcomes.clear()
                proxy.restore()
                stats["outages"] += 1
                stats["outage requests"] += len(during)
                assert during, "no request was answered during the outage"
                found = problems_during_outage(during)
                assert not found, (
                    f"{len(found)} of {len(during)} requests during the outage misbehaved:\n"
                    + "\n".join(found[:20])
                    + f"\n--- server log ---\n{server.log()[-3000:]}"
                )

                # Recovery: answers turn 2xx by themselves, and stay so.
                deadline = restored_at + RECOVERY_SECONDS
                recovered_at = None
                while time.monotonic() < deadline and recovered_at is None:
                    time.sleep(0.1)
                    with load.lock:
                        ok = [
                            o
                            for o in load.outcomes
                            if o.started > restored_at and o.status in (200, 201)
                        ]
                    if ok:
                        recovered_at = min(o.finished for o in ok)
                assert recovered_at is not None, (
                    f"no success within {RECOVERY_SECONDS}s of the database's return\n"
                    f"--- server log ---\n{server.log()[-3000:]}"
                )
                stats["recovery seconds"].append(round(recovered_at - restored_at, 2))
                time.sleep(1.5)
                with load.lock:
                    after = [o for o in load.outcomes if o.started > recovered_at + 0.5]
                    load.outcomes.clear()
                failing = [o for o in after if o.status not in (200, 201)]
                assert after and not failing, (
                    f"{len(failing)} of {len(after)} requests failed after recovery: "
                    f"{[(o.what, o.status, str(o.body)[:120]) for o in failing[:5]]}"
                )
        finally:
            load.stop()
        assert server.process is not None and server.process.poll() is None, "populace died"
    finally:
        server.stop()
        proxy.close()
        with capsys.disabled():
            print(
                f"\n[db outage] {stats['outages']} outages, {stats['outage requests']} requests "
                f"answered during them, recovered after {stats['recovery seconds']} s"
            )
