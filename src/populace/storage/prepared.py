"""Hot-path queries: a Core statement compiled once per dialect, run on the driver directly.

Measured on a GET of one population, building a Core statement, computing its cache key and
running it through SQLAlchemy's execution layer cost ~10x what SQLite itself spends answering
it. A :class:`Prepared` statement is written as ordinary Core (so it is portable and checked
against the schema), compiled once, and executed with the raw driver connection of the current
transaction: ``sqlite3`` inline, ``asyncpg`` with its own statement cache. Results go through
SQLAlchemy's result processors for the column types, so booleans and JSON come back as they
would through SQLAlchemy.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import Connection as SyncConnection
from sqlalchemy import Select, Table, bindparam, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import UpdateBase

from populace.storage.database import (
    Connection,
    DatabaseUnavailable,
    InlineConnection,
    ThreadedConnection,
    sqlite_driver,
)


class _Compiled:
    """A statement compiled once for one dialect: its SQL, its parameters in order, and the
    named tuples its rows become."""

    def __init__(
        self,
        statement: Select[Any] | UpdateBase,
        columns: Sequence[Any],
        row: Any,
        dialect: Dialect,
    ) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.order: list[str] = list(compiled.positiontup or [])
        # Values written in the statement itself (a LIMIT, ``.values(revoked=True)``) are
        # parameters of the compiled SQL too, with their value.
        self.fixed = {key: bind.value for key, bind in compiled.binds.items() if not bind.required}
        # Values go through the columns' bind processors (JSON to text, booleans to 0/1), as
        # SQLAlchemy would send them.
        binders: dict[str, Any] = dict(compiled._bind_processors)
        self.binders: list[Callable[[Any], Any] | None] = [binders.get(n) for n in self.order]
        self.plain_arguments = not any(self.binders)
        # A list parameter (``IN``) is rendered by SQLAlchemy at each execution.
        self.direct = "POSTCOMPILE" not in self.sql
        self.returns = bool(columns)
        self.row = row
        processors = [c.type._cached_result_processor(dialect, None) for c in columns]
        # Only the columns that need it are processed (booleans from 0/1, JSON from text).
        self.processed = [(i, p) for i, p in enumerate(processors) if p is not None]

    def arguments(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        values = tuple(params[n] if n in params else self.fixed[n] for n in self.order)
        if self.plain_arguments:
            return values
        return tuple(b(v) if b else v for v, b in zip(values, self.binders, strict=True))

    def rows(self, raw: list[Any]) -> list[Any]:
        make, processed = self.row._make, self.processed
        if not processed:
            return [make(values) for values in raw]
        rows = []
        for values in raw:
            row = list(values)
            for i, process in processed:
                row[i] = process(row[i])
            rows.append(make(row))
        return rows


class _CompiledOnce:
    """A statement compiled once per dialect, and run on SQLite's driver directly."""

    def __init__(self, statement: Select[Any] | UpdateBase) -> None:
        self.statement = statement
        self._columns = list(statement.exported_columns)
        # The rows, whatever runs the statement. Renamed when a join selects a name twice:
        # the row keeps the first one's.
        names = [str(column.key) for column in self._columns]
        self.row_type: Any = namedtuple("Row", names, rename=True)  # type: ignore[misc]
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = _Compiled(self.statement, self._columns, self.row_type, dialect)
            self._compiled[dialect.name] = compiled
        return compiled

    def _on_driver(self, sync: SyncConnection, params: Mapping[str, Any]) -> tuple[_Compiled, Any]:
        """The compiled statement, and the driver's cursor that ran it."""
        compiled = self._for(sync.dialect)
        return compiled, sqlite_driver(sync).execute(compiled.sql, compiled.arguments(params))


class Prepared(_CompiledOnce):
    """A SELECT with named ``bindparam`` parameters, for hot paths."""

    statement: Select[Any]

    def __init__(self, statement: Select[Any]) -> None:
        super().__init__(statement)

    def _sqlite(self, sync: SyncConnection, params: Mapping[str, Any]) -> list[Any]:
        compiled, cursor = self._on_driver(sync, params)
        return compiled.rows(cursor.fetchall())

    def rows_on(self, sync: SyncConnection, params: Mapping[str, Any]) -> list[Any]:
        """The rows on a synchronous connection (a list's page and count run in one call):
        on SQLite the driver's directly, unless a list parameter needs SQLAlchemy's rendering;
        elsewhere through SQLAlchemy. The same named tuples either way."""
        if sync.dialect.name == "sqlite" and self._for(sync.dialect).direct:
            return self._sqlite(sync, params)
        return [
            self.row_type(*values) for values in sync.execute(self.statement, dict(params)).all()
        ]

    async def all(self, conn: Connection, **params: Any) -> list[Any]:
        if isinstance(conn, InlineConnection | ThreadedConnection):
            return await conn.run_sync(lambda sync: self._sqlite(sync, params))
        if conn.in_transaction():  # type: ignore[attr-defined]
            # Inside a write transaction, go through SQLAlchemy: its asyncpg adapter sends
            # BEGIN lazily on its own first statement, so a statement sent to the driver
            # directly would run outside the transaction (and FOR UPDATE would lock nothing).
            return list((await conn.execute(self.statement, params)).all())
        raw = await conn.get_raw_connection()  # type: ignore[attr-defined]
        compiled = self._for(conn.dialect)  # type: ignore[attr-defined]
        try:
            records = await raw.driver_connection.fetch(compiled.sql, *compiled.arguments(params))
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError) as error:
            # SQLAlchemy never saw this error: drop the connection from the pool ourselves.
            await conn.invalidate()  # type: ignore[attr-defined]
            raise DatabaseUnavailable(str(error)) from error
        return compiled.rows([tuple(record) for record in records])

    async def first(self, conn: Connection, **params: Any) -> Any:
        rows = await self.all(conn, **params)
        return rows[0] if rows else None

    async def scalar(self, conn: Connection, **params: Any) -> Any:
        row = await self.first(conn, **params)
        return None if row is None else row[0]


class PreparedWrite(_CompiledOnce):
    """An INSERT, UPDATE or DELETE (RETURNING or not) with named ``bindparam`` parameters,
    for hot paths: compiled once; on SQLite run on the driver inside the current transaction,
    elsewhere through SQLAlchemy (inside a transaction asyncpg must go through it, see
    :meth:`Prepared.all`), which at least skips building the statement each time."""

    statement: UpdateBase

    def __init__(self, statement: UpdateBase) -> None:
        super().__init__(statement)

    def _sqlite(self, sync: SyncConnection, params: dict[str, Any]) -> tuple[int, list[Any]]:
        compiled, cursor = self._on_driver(sync, params)
        rows = compiled.rows(cursor.fetchall()) if compiled.returns else []
        return cursor.rowcount, rows

    async def run(self, conn: Connection, **params: Any) -> tuple[int, list[Any]]:
        """(rows changed, rows returned)."""
        if isinstance(conn, InlineConnection | ThreadedConnection):
            return await conn.run_sync(lambda sync: self._sqlite(sync, params))
        result = await conn.execute(self.statement, params)
        rows = list(result.all()) if self.statement.exported_columns else []
        return result.rowcount, rows

    async def first(self, conn: Connection, **params: Any) -> Any:
        """The first row returned, or None."""
        _, rows = await self.run(conn, **params)
        return rows[0] if rows else None

    async def count(self, conn: Connection, **params: Any) -> int:
        """How many rows it changed."""
        changed, _ = await self.run(conn, **params)
        return changed


class PreparedInsert(PreparedWrite):
    """An INSERT of every column of a table, RETURNING the row as stored."""

    def __init__(self, table: Table) -> None:
        # SQLAlchemy reserves columns' own names for the parameters it makes itself.
        values: dict[str, Any] = {c.name: bindparam(f"{c.name}_value") for c in table.c}
        super().__init__(insert(table).values(values).returning(*table.c))

    async def row(self, conn: Connection, values: dict[str, Any]) -> Any:
        """Insert ``values`` (a value for every column); the row as stored."""
        return await self.first(conn, **{f"{name}_value": v for name, v in values.items()})


class ByKey:
    """A row of an environment's table looked up by environment and id together, optionally
    locked until the transaction ends (``FOR UPDATE``), or updated."""

    def __init__(self, table: Table) -> None:
        self._table = table
        query = select(table).where(
            table.c.environment_id == bindparam("environment_id"),
            table.c.id == bindparam("row_id"),
        )
        self._plain = Prepared(query)
        self._locked = Prepared(query.with_for_update())

    async def get(
        self, conn: Connection, environment_id: str, row_id: str, *, for_update: bool = False
    ) -> Any:
        query = self._locked if for_update else self._plain
        return await query.first(conn, environment_id=environment_id, row_id=row_id)

    async def update(
        self, conn: Connection, environment_id: str, row_id: str, values: dict[str, Any]
    ) -> Any:
        """Set ``values`` on the row; the row as stored, or None when it is not there."""
        columns = self._table.c
        statement = (
            update(self._table)
            .where(columns.environment_id == environment_id, columns.id == row_id)
            .values(values)
            .returning(*columns)
        )
        return (await conn.execute(statement)).first()


async def insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Bulk insert. On SQLite it goes straight to ``executemany`` of the driver: SQLAlchemy's
    per-row parameter processing cost more than SQLite's own work (profiled on the import)."""
    if not rows:
        return
    if isinstance(conn, InlineConnection):
        columns = list(rows[0])
        sql = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        sqlite_driver(conn.sync).executemany(sql, [tuple(row[c] for c in columns) for row in rows])
        return
    await conn.execute(table.insert(), rows)
