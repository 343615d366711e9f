"""The database: one object that hands out read and write transactions.

Every store function takes a :class:`Connection` and awaits its methods, whichever backend is
behind it:

* **PostgreSQL** uses SQLAlchemy's asyncio engine over asyncpg. Invariants that span rows are
  held by constraints and row locks (see ``populations.rules``), never by process memory, so
  several ``populace serve`` processes on one database behave as one service.
* **SQLite** (the default) runs its statements inline on the event loop. A point query takes
  microseconds, far less than handing it to a thread and back (which, measured, capped a GET at
  ~430 requests/s). Writers are serialized by an asyncio lock and take SQLite's write lock at
  ``BEGIN IMMEDIATE``; if another process holds it, the wait is an ``asyncio.sleep`` retry, so
  the event loop never blocks on it.

SQLite runs in WAL mode with ``synchronous=NORMAL`` by default: a commit survives a process
kill (it is in the WAL before the call returns) but the last commits may be lost on power loss.
``POPULACE_SQLITE_SYNCHRONOUS=FULL`` fsyncs every commit and survives power loss too.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection as SyncConnection
from sqlalchemy import CursorResult, Executable, ScalarResult, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

DEFAULT_DATABASE = "populace.db"
T = TypeVar("T")


class Connection(Protocol):
    """What store functions use: the shared subset of SQLAlchemy's AsyncConnection."""

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]: ...

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any: ...

    async def scalars(self, statement: Executable, parameters: Any = None) -> ScalarResult[Any]: ...

    async def run_sync(self, fn: Callable[[SyncConnection], T]) -> T: ...

    def begin_nested(self) -> Any: ...


class DatabaseUnavailable(Exception):
    """The database cannot be reached; the request may be retried later (503)."""


def violates(error: IntegrityError, column: str) -> bool:
    """Did this integrity error come from the unique constraint on ``column``? Both SQLite
    ("UNIQUE constraint failed: t.a, t.column") and PostgreSQL (the constraint's name, which
    the naming convention builds from its columns) name it."""
    return column in str(error.orig)


def normalize_url(url: str) -> str:
    """Accept what users type: a file path, ``sqlite:///x.db`` or ``postgresql://...``."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser()}"
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite"))
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {url!r}: use a SQLite path or postgresql://...")


class _Savepoint:
    def __init__(self, conn: SyncConnection) -> None:
        self._conn = conn
        self._nested: Any = None

    async def __aenter__(self) -> None:
        self._nested = self._conn.begin_nested()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self._nested.commit()
        else:
            self._nested.rollback()


class InlineConnection:
    """A synchronous SQLite connection behind the awaitable :class:`Connection` interface."""

    def __init__(self, conn: SyncConnection) -> None:
        self.sync = conn

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        return self.sync.execute(statement, parameters)

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any:
        return self.sync.scalar(statement, parameters)

    async def scalars(self, statement: Executable, parameters: Any = None) -> ScalarResult[Any]:
        return self.sync.scalars(statement, parameters)

    async def run_sync(self, fn: Callable[[SyncConnection], T]) -> T:
        return fn(self.sync)

    def begin_nested(self) -> _Savepoint:
        return _Savepoint(self.sync)


def _is_busy(error: OperationalError) -> bool:
    return "database is locked" in str(error) or "database is busy" in str(error)


class _SQLite:
    BUSY_RETRY_SECONDS = 30.0

    def __init__(self, url: str) -> None:
        synchronous = os.environ.get("POPULACE_SQLITE_SYNCHRONOUS", "NORMAL").upper()
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("POPULACE_SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA")
        # Connections are used only from the event loop's thread; overflow never blocks.
        self.engine = create_engine(
            url, pool_size=8, max_overflow=-1, connect_args={"check_same_thread": False}
        )
        self._write_lock = asyncio.Lock()
        self._reader: InlineConnection | None = None

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control from the driver: BEGIN is ours to choose.
            dbapi_connection.isolation_level = None
            for pragma in (
                "journal_mode=WAL",
                f"synchronous={synchronous}",
                "foreign_keys=ON",
                # Never wait inside SQLite: a locked database is retried with asyncio.sleep.
                "busy_timeout=0",
                # 64 MiB of page cache: random-id index inserts stay in memory (bulk import
                # measured 16k rows/s at the 2 MiB default). It grows only as it is used.
                "cache_size=-65536",
            ):
                dbapi_connection.execute(f"PRAGMA {pragma}")

    @asynccontextmanager
    async def transaction(self, begin: str) -> AsyncIterator[Connection]:
        with self.engine.connect() as conn:
            await self._begin(conn, begin)
            try:
                yield InlineConnection(conn)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    async def _begin(self, conn: SyncConnection, begin: str) -> None:
        delay, waited = 0.001, 0.0
        while True:
            try:
                conn.exec_driver_sql(begin)
                return
            except OperationalError as error:
                if not _is_busy(error) or waited >= self.BUSY_RETRY_SECONDS:
                    raise
                conn.rollback()
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.05)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        async with self._write_lock, self.transaction("BEGIN IMMEDIATE") as conn:
            yield conn

    def reader(self) -> InlineConnection:
        """One long-lived autocommit connection for reads: each SELECT sees the latest commit,
        with no BEGIN, COMMIT or pool checkout per request. Statements run inline and one at a
        time on the loop's thread, so requests can share it."""
        if self._reader is None:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._reader = InlineConnection(conn)
        return self._reader

    def dispose(self) -> None:
        if self._reader is not None:
            self._reader.sync.close()
            self._reader = None
        self.engine.dispose()


class Database:
    """Read and write transactions over SQLite or PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self._sqlite: _SQLite | None = _SQLite(self.url)
        else:
            self._sqlite = None
            # Connections beyond pool_size are closed on return, so a pool smaller than the
            # usual concurrency reconnects per request (measured: 800 GETs/s instead of ~3k).
            pool_size = int(os.environ.get("POPULACE_PG_POOL_SIZE", "32"))
            self._engine = create_async_engine(
                self.url, pool_size=pool_size, max_overflow=8, pool_recycle=3600
            )
            # Reads need no BEGIN/COMMIT round trips: each statement sees the latest commit.
            self._reader = self._engine.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        if self._sqlite is not None:
            yield self._sqlite.reader()
        else:
            async with self._reader.connect() as conn:
                yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        """A transaction that commits when the block ends and rolls back on any exception."""
        if self._sqlite is not None:
            async with self._sqlite.write() as conn:
                yield conn
        else:
            async with self._engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncConnection]:
        """A PostgreSQL connection outside any transaction (for advisory locks)."""
        assert self._sqlite is None, "PostgreSQL only"
        async with self._engine.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        if self._sqlite is not None:
            self._sqlite.dispose()
        else:
            await self._engine.dispose()
