"""The directory's whole state as one value: what snapshots hold, what restore and reset
replace. This module reads and writes every directory table, but only as rows: it knows no
table's meaning (each keeps its one owner for that). Deployment infrastructure stays as it is:
the settings (secret key, bootstrap application), signing keys (tokens stay verifiable), rate
windows, the snapshots themselves and their undo journal (``schema.INFRASTRUCTURE``)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

import msgspec
from sqlalchemy import Boolean, Integer, String, Table, delete, insert, select, text
from sqlalchemy.engine import Connection as SyncConnection

from populace.storage.database import Connection, InlineConnection, ThreadedConnection
from populace.storage.schema import DIRECTORY, metadata

_BATCH = 5000  # rows an insert sends at once


async def hold(conn: Connection, *, exclusive: bool) -> None:
    """Hold every directory table until the transaction ends, so what is read or replaced is
    one moment's state on PostgreSQL too (writes are READ COMMITTED there): shared to read
    (writers wait), exclusive to replace (readers go on seeing the state before). SQLite's one
    writer holds everything already."""
    if isinstance(conn, InlineConnection | ThreadedConnection):
        return
    mode = "EXCLUSIVE" if exclusive else "SHARE"
    names = ", ".join(table.name for table in DIRECTORY)
    await conn.execute(text(f"LOCK TABLE {names} IN {mode} MODE"))


async def revision(conn: Connection) -> str:
    """The schema revision the database is at (a state is restored only into its own)."""
    return str(await conn.scalar(text("SELECT version_num FROM alembic_version")))


Tables = dict[str, dict[str, Any]]  # {table: {"columns": [...], "rows": [[...], ...]}}


def read_tables(sync: SyncConnection) -> Tables:
    """Every directory row, by table, in a form JSON and msgpack both carry."""
    tables: Tables = {}
    for table in DIRECTORY:
        columns = [str(column.name) for column in table.columns]  # as select(table) has them
        rows = [list(row) for row in sync.execute(select(table))]
        tables[str(table.name)] = {"columns": columns, "rows": rows}
    return tables


def capture(sync: SyncConnection) -> bytes:
    """Every directory row, compressed (a snapshot's content)."""
    return zlib.compress(msgspec.msgpack.encode(read_tables(sync)), 1)


def clear(sync: SyncConnection, keep: Iterable[Table] = ()) -> None:
    """Delete every directory row but the tables in ``keep`` (children first: no cascades)."""
    kept = set(keep)
    for table in reversed(DIRECTORY):
        if table not in kept:
            sync.execute(delete(table))


def write_tables(sync: SyncConnection, tables: Tables) -> None:
    """The directory becomes exactly ``tables`` (a table not named is left empty)."""
    clear(sync)
    for table in DIRECTORY:
        stored = tables.get(table.name) or {"columns": [], "rows": []}
        columns, rows = stored["columns"], stored["rows"]
        for start in range(0, len(rows), _BATCH):
            batch = [dict(zip(columns, row, strict=True)) for row in rows[start : start + _BATCH]]
            sync.execute(insert(table), batch)


def replace(sync: SyncConnection, content: bytes) -> None:
    """The directory becomes exactly what ``capture`` took."""
    write_tables(sync, msgspec.msgpack.decode(zlib.decompress(content)))


def problems(tables: Tables) -> list[str]:
    """What keeps a document's tables from being the directory: a table missing or unknown,
    columns other than the table's, a row of another width."""
    known = {str(table.name): [str(c.name) for c in table.columns] for table in DIRECTORY}
    # Every table, even empty: a document that leaves one out is not a whole directory.
    found = [f"{name}: missing" for name in known if name not in tables]
    for name, stored in tables.items():
        if name not in known:
            found.append(f"{name}: no such table")
        elif sorted(stored["columns"]) != sorted(known[name]):
            found.append(f"{name}: the columns must be {', '.join(known[name])}")
        else:
            found += _row_problems(name, stored)
    return found


# Values a document may leave null though the column may not be (import fills them in).
OMITTABLE = {("applications", "client_secret")}


def _fits(column: Any, value: Any) -> bool:
    """Does ``value`` have the column's type (SQLite would store anything; PostgreSQL would
    refuse it only as an error of the whole statement)."""
    if value is None:
        return bool(column.nullable) or (column.table.name, column.name) in OMITTABLE
    if isinstance(column.type, Boolean):
        return isinstance(value, bool)
    if isinstance(column.type, Integer):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(column.type, String):
        return isinstance(value, str) and (
            column.type.length is None or len(value) <= column.type.length
        )
    return True  # JSON: any value


def _row_problems(name: str, stored: dict[str, Any]) -> list[str]:
    table = metadata.tables[name]
    columns = [table.c[column] for column in stored["columns"]]
    for number, row in enumerate(stored["rows"]):
        if len(row) != len(columns):
            return [f"{name}: row {number} does not have {len(columns)} values"]
        for column, value in zip(columns, row, strict=True):
            if not _fits(column, value):
                return [f"{name}: row {number}: {column.name} cannot be {value!r}"]
    return []
