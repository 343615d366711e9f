"""The database: one object that hands out read and write transactions.

SQLite (the default) runs in WAL mode. Writers take the lock at ``BEGIN IMMEDIATE`` rather than
on their first write, so two writers never deadlock half-way through; the write engine keeps a
single connection, so writers of one process queue in Python instead of spinning on
``SQLITE_BUSY``. ``synchronous=FULL`` makes every acknowledged commit durable against a process
kill and a power loss (``POPULACE_SQLITE_SYNCHRONOUS=NORMAL`` keeps only the first guarantee).

PostgreSQL uses one pooled engine for both; invariants that span rows are held by constraints
and row locks (see ``populations.store``), never by process memory, so several ``populace
serve`` processes on one database behave as one service.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

DEFAULT_DATABASE = "populace.db"


def normalize_url(url: str) -> str:
    """Accept what users type: a file path, ``sqlite:///x.db`` or ``postgresql://...``."""
    if "://" not in url:
        return f"sqlite+aiosqlite:///{Path(url).expanduser()}"
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {url!r}: use a SQLite path or postgresql://...")


def _sqlite_engine(url: str, *, begin: str, pool_size: int) -> AsyncEngine:
    synchronous = os.environ.get("POPULACE_SQLITE_SYNCHRONOUS", "FULL").upper()
    if synchronous not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError("POPULACE_SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA")
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so that BEGIN is ours to choose.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"synchronous={synchronous}",
            "foreign_keys=ON",
            "busy_timeout=10000",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


class Database:
    """Read and write transactions over SQLite or PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self._read_engine = _sqlite_engine(self.url, begin="BEGIN", pool_size=4)
            self._write_engine = _sqlite_engine(self.url, begin="BEGIN IMMEDIATE", pool_size=1)
        else:
            engine = create_async_engine(self.url, pool_size=10, max_overflow=20)
            self._read_engine = self._write_engine = engine

    @property
    def engine(self) -> AsyncEngine:
        return self._write_engine

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._read_engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits when the block ends and rolls back on any exception."""
        async with self._write_engine.begin() as conn:
            yield conn

    async def dispose(self) -> None:
        await self._read_engine.dispose()
        if self._write_engine is not self._read_engine:
            await self._write_engine.dispose()
