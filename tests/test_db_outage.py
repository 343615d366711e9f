"""A database outage mid-load: clean 503s while it lasts, recovery without a restart after it.

A small TCP proxy sits between ``populace serve`` and PostgreSQL. While clients read and write,
the proxy is cut (every connection reset, no new one accepted): each request made during the
outage must be answered with 503 in PingOne's envelope and a ``Retry-After`` header, never a 500
and never a hang. Then the proxy is restored and the same process must serve again, by itself,
and keep serving. Two outages in a row, so recovering once is not luck.

Every phase waits for what it needs (every client has had answers in it), with generous
deadlines, never for a fixed time: on a loaded machine the phases just take longer.

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

from tests.support import WAIT_SECONDS, ServerProcess, free_port, wait_until

pytestmark = pytest.mark.slow

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
CLIENTS = 8
# No answer within this long is a hang. Generous, so a loaded machine is not taken for one.
HANG_SECONDS = 60.0
# Each phase lasts until every client has had this many answers in it: each client cycles
# through the three kinds of request, so every kind is seen from every client.
ANSWERS_PER_CLIENT = 3
# The least an outage lasts, so it spans many requests even on a fast machine.
OUTAGE_SECONDS = 3.0
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
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=WAIT_SECONDS)

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
        self.thread.join(timeout=WAIT_SECONDS)

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
    client: int
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
        self.in_flight: dict[int, tuple[str, float]] = {}  # client -> (what, started)
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
            thread.join(timeout=HANG_SECONDS + WAIT_SECONDS)
            assert not thread.is_alive(), "a client hung"

    def answered(self, after: float, before: float | None = None) -> list[Outcome]:
        """The requests started after ``after`` that have finished (before ``before``)."""
        with self.lock:
            return [
                o
                for o in self.outcomes
                if o.started > after and (before is None or o.finished < before)
            ]

    def every_client_answered(self, after: float) -> bool:
        """Has every client had ANSWERS_PER_CLIENT answers to requests it began after
        ``after``?"""
        counts = dict.fromkeys(range(CLIENTS), 0)
        for o in self.answered(after):
            counts[o.client] += 1
        return min(counts.values()) >= ANSWERS_PER_CLIENT

    def summary(self, after: float) -> str:
        """Per client, the answers to requests started after ``after``, for failure messages."""
        lines = []
        for number in range(CLIENTS):
            mine = [o for o in self.answered(after) if o.client == number]
            statuses = sorted({str(o.status) for o in mine})
            line = f"client {number}: {len(mine)} answers, statuses {statuses}"
            with self.lock:
                waiting = self.in_flight.get(number)
            if waiting is not None:
                line += f"; waiting {time.monotonic() - waiting[1]:.1f}s for {waiting[0]}"
            lines.append(line)
        return "\n".join(lines)

    def _run(self, number: int) -> None:
        populations = f"{self.base}/v1/environments/{self.environment_id}/populations"
        with httpx.Client(headers=self.headers, timeout=HANG_SECONDS) as client:
            step = 0
            while not self.stopping.is_set():
                step += 1
                kind = step % 3
                what = ("create population", "list populations", "token")[kind]
                started = time.monotonic()
                with self.lock:
                    self.in_flight[number] = (what, started)
                try:
                    if kind == 0:
                        response = client.post(
                            populations, json={"name": f"o{number}-{uuid.uuid4().hex[:10]}"}
                        )
                    elif kind == 1:
                        response = client.get(populations, params={"limit": "5"})
                    else:
                        response = client.post(
                            f"{self.base}/{ADMIN_ENVIRONMENT_ID}/as/token",
                            data={"grant_type": "client_credentials"},
                            auth=(ADMIN_CLIENT_ID, ADMIN_SECRET),
                            headers={"Authorization": ""},
                        )
                except httpx.HTTPError as exc:
                    outcome = Outcome(
                        number, started, time.monotonic(), what, None, None, None, repr(exc)
                    )
                else:
                    try:
                        body = response.json()
                    except ValueError:
                        body = response.text
                    outcome = Outcome(
                        number,
                        started,
                        time.monotonic(),
                        what,
                        response.status_code,
                        body,
                        response.headers.get("retry-after"),
                    )
                with self.lock:
                    self.outcomes.append(outcome)
                    del self.in_flight[number]
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
    stats: dict[str, Any] = {"outage requests": 0, "outages": 0, "recovery seconds": []}

    def log_tail() -> str:
        return f"\n--- server log ---\n{server.log()[-3000:]}"

    try:
        server.start(tmp_path)
        token_response = httpx.post(
            f"{server.url}/{ADMIN_ENVIRONMENT_ID}/as/token",
            data={"grant_type": "client_credentials"},
            auth=(ADMIN_CLIENT_ID, ADMIN_SECRET),
            timeout=HANG_SECONDS,
        )
        assert token_response.status_code == 200, token_response.text
        token = token_response.json()["access_token"]
        environment_id = ADMIN_ENVIRONMENT_ID
        up_since = time.monotonic()
        load = Load(server.url, token, environment_id).start()
        try:
            for _ in range(2):
                # Before the outage: every client has been answered, and only with success.
                wait_until(
                    lambda since=up_since: load.every_client_answered(since),
                    lambda since=up_since: (
                        "answers before the outage\n" + load.summary(since) + log_tail()
                    ),
                )
                healthy = load.answered(up_since)
                bad = [o for o in healthy if o.status not in (200, 201)]
                assert not bad, f"failures while the database was up: {bad[:5]}"

                proxy.cut()
                cut_at = time.monotonic()
                # The outage lasts at least OUTAGE_SECONDS, and until every client has been
                # answered for requests it began after the cut.
                time.sleep(OUTAGE_SECONDS)
                wait_until(
                    lambda cut=cut_at: load.every_client_answered(cut),
                    lambda cut=cut_at: (
                        "answers during the outage\n"
                        + load.summary(cut)
                        + "\n".join(problems_during_outage(load.answered(cut))[:20])
                        + log_tail()
                    ),
                )
                restoring_at = time.monotonic()
                # Requests that began after the cut and ended before the restore.
                during = load.answered(cut_at, before=restoring_at)
                proxy.restore()
                restored_at = time.monotonic()
                stats["outages"] += 1
                stats["outage requests"] += len(during)
                assert during, "no request was answered during the outage"
                found = problems_during_outage(during)
                assert not found, (
                    f"{len(found)} of {len(during)} requests during the outage misbehaved:\n"
                    + "\n".join(found[:20])
                    + log_tail()
                )

                # Recovery: answers turn 2xx by themselves, without a restart.
                def successes(restored: float = restored_at) -> list[Outcome]:
                    return [o for o in load.answered(restored) if o.status in (200, 201)]

                wait_until(
                    lambda: bool(successes()),
                    lambda restored=restored_at: (
                        "a success after the database's return\n"
                        + load.summary(restored)
                        + log_tail()
                    ),
                )
                recovered_at = min(o.finished for o in successes())
                stats["recovery seconds"].append(round(recovered_at - restored_at, 2))

                # And they stay so: every request begun after the first success succeeds.
                wait_until(
                    lambda recovered=recovered_at: load.every_client_answered(recovered),
                    lambda recovered=recovered_at: (
                        "answers after recovery\n" + load.summary(recovered) + log_tail()
                    ),
                )
                after = load.answered(recovered_at)
                failing = [o for o in after if o.status not in (200, 201)]
                assert after and not failing, (
                    f"{len(failing)} of {len(after)} requests failed after recovery: "
                    f"{[(o.what, o.status, str(o.body)[:120]) for o in failing[:5]]}"
                )
                up_since = recovered_at
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
