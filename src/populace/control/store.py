"""The ``snapshots`` and ``snapshot_contents`` tables: every statement on them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select

from populace.storage.database import Connection
from populace.storage.paging import TableRows
from populace.storage.schema import snapshot_contents, snapshots

s = snapshots.c

SNAPSHOTS = TableRows(snapshots, keys={})


async def get(conn: Connection, name: str) -> Any:
    return (await conn.execute(select(snapshots).where(s.name == name))).first()


async def content(conn: Connection, snapshot_id: str) -> bytes:
    c = snapshot_contents.c
    found: bytes = await conn.scalar(select(c.content).where(c.snapshot_id == snapshot_id))
    return found


async def insert_snapshot(conn: Connection, values: dict[str, Any], content: bytes) -> Any:
    row = (await conn.execute(insert(snapshots).values(values).returning(snapshots))).one()
    await conn.execute(insert(snapshot_contents).values(snapshot_id=row.id, content=content))
    return row


async def remove(conn: Connection, name: str) -> bool:
    """Delete a snapshot and its content."""
    snapshot = await get(conn, name)
    if snapshot is None:
        return False
    c = snapshot_contents.c
    await conn.execute(delete(snapshot_contents).where(c.snapshot_id == snapshot.id))
    await conn.execute(delete(snapshots).where(s.id == snapshot.id))
    return True
