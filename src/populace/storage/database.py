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
import contextlib
import functools
import random
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import Connection as SyncConnection
from sqlalchemy import CursorResult, Executable, ScalarResult, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from populace.errors import ApiError, invalid_request
from populace.storage.functions import SQLITE_LOWER, sqlite_lower

if TYPE_CHECKING:
    from populace.config import Config

T = TypeVar("T")


class Connection(Protocol):
    """What store functions use: the shared subset of SQLAlchemy's AsyncConnection."""

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]: ...

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any: ...

    async def scalars(self, statement: Executable, parameters: Any = None) -> ScalarResult[Any]: ...

    async def run_sync(self, fn: Callable[[SyncConnection], T]) -> T: ...


class DatabaseUnavailable(Exception):
    """The database cannot be reached; the request may be retried later (503)."""


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<columns>.*)")
_POSTGRES_KEY = re.compile(r"Key \((?P<columns>[^)]*)\)=")


def unique_columns(error: IntegrityError) -> set[str]:
    """The columns of the unique constraint an integrity error broke (empty for any other
    kind of integrity error). SQLite lists them in its message ("UNIQUE constraint failed:
    t.a, t.b"); PostgreSQL in the error's detail ("Key (a, b)=(...) already exists")."""
    cause = error.orig.__cause__ if error.orig is not None else None
    if getattr(cause, "sqlstate", None) == "23505":
        match = _POSTGRES_KEY.search(getattr(cause, "detail", None) or "")
        names = match.group("columns").split(", ") if match else []
        return set(names)
    match = _SQLITE_UNIQUE.search(str(error.orig))
    if match is None:
        return set()
    return {name.rpartition(".")[2] for name in match.group("columns").split(", ")}


# PostgreSQL errors a transaction meets only because another one ran at the same moment:
# deadlock, serialization failure, and a foreign key whose row was deleted meanwhile. Run
# again, the transaction sees the other one's outcome and answers from it (often 404).
_RACES = {"40P01", "40001", "23503"}
# Rows SQLite's ANALYZE samples per index: enough to tell a big environment from a small one.
ANALYSIS_ROWS = 10_000
# How long a new SQLite connection waits for another process's brief exclusive lock.
CONNECT_WAIT_MS = 10_000
ATTEMPTS = 4


def lost_a_race(error: DBAPIError) -> bool:
    cause = error.orig.__cause__ if error.orig is not None else None
    return getattr(cause, "sqlstate", None) in _RACES


def violates(error: IntegrityError, column: str) -> bool:
    """Did this integrity error come from a unique constraint on ``column``?"""
    return column in unique_columns(error)


@contextmanager
def unique_or(column: str, duplicate: Callable[[], ApiError]) -> Iterator[None]:
    """Turn a violation of the unique constraint on ``column`` into ``duplicate()`` (PingOne's
    400 UNIQUENESS_VIOLATION): another client took the value between our check and our write.
    Any other integrity error is a bug, not the client's duplicate, and surfaces as a 500.

    No savepoint is needed: the error ends the request, and the transaction rolls back whole.
    """
    try:
        yield
    except IntegrityError as error:
        if not violates(error, column):
            raise
        raise duplicate() from None


async def name_lock(conn: Connection, name: str, *, shared: bool = False) -> None:
    """Hold a lock on ``name`` until the transaction ends: shared holders run together, an
    exclusive one runs alone (PostgreSQL advisory locks; SQLite's one writer needs none)."""
    if isinstance(conn, InlineConnection | ThreadedConnection):
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    await conn.execute(text(f"SELECT {function}(hashtextextended(:name, 0))"), {"name": name})


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


class ThreadedConnection:
    """A SQLite read that may be costly (a list filtered on an unindexed attribute over
    millions of users) but must never hold the event loop long.

    Each call (a statement, or a list's page and count together) first runs inline on the
    shared reader, within :attr:`INLINE_STEPS` SQLite virtual machine steps (a few
    milliseconds): most lists, index-driven, end there, with no thread hop, pool checkout or
    GIL hand-over. One that goes past it is interrupted and run again from the start in a
    worker thread, on a connection of its own, within ``budget`` steps; past that it is
    interrupted and the request is refused (400)."""

    PROGRESS_EVERY = 10_000  # VM steps between checks of a budget
    INLINE_STEPS = 100_000

    def __init__(
        self, inline: SyncConnection, own: Callable[[], SyncConnection], budget: int
    ) -> None:
        self._inline = inline
        self._own = own
        self._budget = budget

    async def run_sync(self, fn: Callable[[SyncConnection], T]) -> T:
        inline = min(self.INLINE_STEPS, self._budget)
        try:
            return self._bounded(self._inline, fn, inline)
        except _Interrupted:
            if inline == self._budget:
                raise too_costly(self._budget) from None
        try:
            return await asyncio.to_thread(self._bounded, self._own(), fn, self._budget)
        except _Interrupted:
            raise too_costly(self._budget) from None

    def _bounded(self, sync: SyncConnection, fn: Callable[[SyncConnection], T], steps: int) -> T:
        driver = sqlite_driver(sync)
        checks = iter(range(steps // self.PROGRESS_EVERY))
        driver.set_progress_handler(lambda: next(checks, None) is None, self.PROGRESS_EVERY)
        try:
            return fn(sync)
        except (OperationalError, sqlite3.OperationalError) as error:  # prepared: the driver's
            if "interrupted" not in str(error):
                raise
            raise _Interrupted from None
        finally:
            driver.set_progress_handler(None, self.PROGRESS_EVERY)

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        def buffered(sync: SyncConnection) -> Any:
            return sync.execute(statement, parameters).freeze()

        frozen = await self.run_sync(buffered)
        result: CursorResult[Any] = frozen()
        return result

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any:
        return await self.run_sync(lambda sync: sync.scalar(statement, parameters))

    async def scalars(self, statement: Executable, parameters: Any = None) -> ScalarResult[Any]:
        return (await self.execute(statement, parameters)).scalars()


class _Interrupted(Exception):
    """A read ran out of its steps."""


def too_costly(budget: int) -> ApiError:
    return invalid_request(
        f"The request needs more than the {budget:,} SQLite steps one read may take. Filter on "
        "an indexed attribute (id, username, email, population.id, name) or narrow the filter."
    )


def sqlite_driver(sync: SyncConnection) -> sqlite3.Connection:
    """The ``sqlite3`` connection under a SQLAlchemy one, for what runs on the driver."""
    driver = sync.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver


def _commit(conn: SyncConnection) -> None:
    """End a transaction begun on the driver: SQLAlchemy's, if a statement began it, and the
    driver's (a no-op when SQLAlchemy's commit ended it)."""
    conn.commit()
    sqlite_driver(conn).commit()


def _rollback(conn: SyncConnection) -> None:
    conn.rollback()
    sqlite_driver(conn).rollback()


def _is_busy(error: Exception) -> bool:
    return "database is locked" in str(error) or "database is busy" in str(error)


class _SQLite:
    BUSY_RETRY_SECONDS = 30.0

    def __init__(self, url: str, synchronous: str) -> None:
        # Connections are used only from the event loop's thread; overflow never blocks. An
        # error's text must not carry user data or encrypted secrets into logs.
        self.engine = create_engine(
            url,
            pool_size=8,
            max_overflow=-1,
            connect_args={"check_same_thread": False},
            hide_parameters=True,
        )
        self._write_lock = asyncio.Lock()
        self._reader: InlineConnection | None = None
        self._writer_conn: SyncConnection | None = None

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control from the driver: BEGIN is ours to choose.
            dbapi_connection.isolation_level = None
            # A new connection may meet another process's brief exclusive lock (it switching
            # the file to WAL, or removing the WAL as its last connection closes): these
            # pragmas wait for it, as no event loop can retry them here.
            dbapi_connection.execute(f"PRAGMA busy_timeout={CONNECT_WAIT_MS}")
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
            dbapi_connection.create_function(SQLITE_LOWER, 1, sqlite_lower, deterministic=True)

    def _writer(self) -> SyncConnection:
        """The process's write connection, kept between writes: they take the write lock in
        turn, so a pool checkout and return per write (a third of an empty write's cost,
        measured) buys nothing."""
        if self._writer_conn is None or self._writer_conn.invalidated:
            self._writer_conn = self.engine.connect()
        return self._writer_conn

    async def _begin(self, conn: SyncConnection, begin: str) -> None:
        # Sent to the driver: SQLAlchemy's statement path costs more than BEGIN itself, and its
        # own transaction begins (as a no-op for this driver) at its first statement, if any.
        driver = sqlite_driver(conn)
        delay, waited = 0.001, 0.0
        while True:
            try:
                driver.execute(begin)
                return
            except sqlite3.OperationalError as error:
                if not _is_busy(error) or waited >= self.BUSY_RETRY_SECONDS:
                    raise OperationalError(begin, None, error) from error
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.05)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        async with self._write_lock:
            conn = self._writer()
            await self._begin(conn, "BEGIN IMMEDIATE")
            try:
                yield InlineConnection(conn)
                _commit(conn)
            except BaseException:
                _rollback(conn)
                raise

    @asynccontextmanager
    async def schema_change(self) -> AsyncIterator[Connection]:
        """A write transaction with foreign keys off, for migrations. SQLite alters a table by
        copying it and dropping the original; with foreign keys on, that drop would cascade
        to every row that refers to it. The keys are checked before the commit instead."""
        async with self._write_lock:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # only outside a transaction
                try:
                    await self._begin(conn, "BEGIN IMMEDIATE")
                    try:
                        yield InlineConnection(conn)
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise RuntimeError(f"a migration broke foreign keys: {broken[:5]}")
                    except BaseException:
                        _rollback(conn)
                        raise
                    _commit(conn)
                finally:
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")

    @asynccontextmanager
    async def costly_reader(self, budget: int) -> AsyncIterator[ThreadedConnection]:
        """The shared reader for what ends quickly; for the rest, an autocommit connection of
        its own, taken only when needed, whose statements run in a worker thread."""
        with contextlib.ExitStack() as stack:

            @functools.cache
            def own() -> SyncConnection:
                autocommit = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                return stack.enter_context(autocommit)

            yield ThreadedConnection(self.reader().sync, own, budget)

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
        if self._writer_conn is not None:
            self._writer_conn.close()
            self._writer_conn = None
        self.engine.dispose()


class Database:
    """Read and write transactions over SQLite or PostgreSQL."""

    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "NORMAL",
        pg_pool_size: int = 32,
        sqlite_read_budget: int = 100_000_000,
    ) -> None:
        self.url = normalize_url(url)
        self.sqlite_read_budget = sqlite_read_budget
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self._sqlite: _SQLite | None = _SQLite(self.url, sqlite_synchronous)
        else:
            self._sqlite = None
            # Connections beyond pool_size are closed on return, so a pool smaller than the
            # usual concurrency reconnects per request (measured: 800 GETs/s instead of ~3k).
            self._engine = create_async_engine(
                self.url,
                pool_size=pg_pool_size,
                max_overflow=8,
                pool_recycle=3600,
                # An error's text must not carry user data or encrypted secrets into logs.
                hide_parameters=True,
            )
            # Reads need no BEGIN/COMMIT round trips: each statement sees the latest commit.
            self._reader = self._engine.execution_options(isolation_level="AUTOCOMMIT")

    @classmethod
    def from_config(cls, config: Config) -> Database:
        return cls(
            config.database_url,
            sqlite_synchronous=config.sqlite_synchronous,
            pg_pool_size=config.pg_pool_size,
            sqlite_read_budget=config.sqlite_read_budget,
        )

    @asynccontextmanager
    async def read(self, *, costly: bool = False) -> AsyncIterator[Connection]:
        """A connection that sees the latest commit at each statement. ``costly`` (a list,
        whose filter may scan): on SQLite its statements run off the event loop, within the
        read budget; PostgreSQL's never run on the loop."""
        if self._sqlite is None:
            async with self._reader.connect() as conn:
                yield conn
        elif costly:
            async with self._sqlite.costly_reader(self.sqlite_read_budget) as threaded:
                yield threaded
        else:
            yield self._sqlite.reader()

    async def refresh_statistics(self) -> None:
        """Tell the query planner what the data looks like now (an environment of a million
        users, groups of a hundred). SQLite has no statistics until ANALYZE runs, and without
        them it reads a group's members by scanning the environment's users in list order;
        sampled (``analysis_limit``), it takes milliseconds at any size. PostgreSQL's
        autovacuum keeps its own; after a bulk load it is asked at once."""
        async with self.write() as conn:
            if self.is_sqlite:
                await conn.execute(text(f"PRAGMA analysis_limit={ANALYSIS_ROWS}"))
            await conn.execute(text("ANALYZE"))

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
    async def schema_change(self) -> AsyncIterator[Connection]:
        """A transaction for migrations (PostgreSQL alters tables in place; see
        ``_SQLite.schema_change`` for SQLite)."""
        if self._sqlite is not None:
            async with self._sqlite.schema_change() as conn:
                yield conn
        else:
            async with self._engine.begin() as conn:
                yield conn

    async def run(
        self, work: Callable[[Connection], Awaitable[T]], *, writes: bool, costly: bool = False
    ) -> T:
        """``work`` in one transaction (``writes``) or on a read connection. A write that lost
        a race on PostgreSQL (:func:`lost_a_race`) is rolled back and run again, a bounded
        number of times, after a short random pause."""
        if not writes:
            async with self.read(costly=costly) as conn:
                return await work(conn)
        attempt = 1
        while True:
            try:
                async with self.write() as conn:
                    return await work(conn)
            except DBAPIError as error:
                if attempt == ATTEMPTS or not lost_a_race(error):
                    raise
            await asyncio.sleep(random.uniform(0, 0.01 * attempt))
            attempt += 1

    async def ping(self) -> None:
        """One round trip to the database (raises what an unreachable one raises)."""
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

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
