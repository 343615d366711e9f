"""The ``snapshots``, ``snapshot_contents`` and ``fault_rules`` tables: every statement on
them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from populace.storage.database import Connection
from populace.storage.paging import TableRows
from populace.storage.schema import fault_rules, snapshot_contents, snapshots

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


# --- fault rules --------------------------------------------------------------------------

f = fault_rules.c
FAULTS = TableRows(fault_rules, keys={})


async def insert_fault(conn: Connection, values: dict[str, Any]) -> Any:
    return (await conn.execute(insert(fault_rules).values(values).returning(fault_rules))).one()


async def faults(conn: Connection) -> list[Any]:
    return list((await conn.execute(select(fault_rules).order_by(f.created_at, f.id))).all())


async def fault(conn: Connection, fault_id: str) -> Any:
    return (await conn.execute(select(fault_rules).where(f.id == fault_id))).first()


async def delete_faults(conn: Connection, fault_id: str | None = None) -> int:
    """Delete one rule, or every one."""
    statement = delete(fault_rules)
    if fault_id is not None:
        statement = statement.where(f.id == fault_id)
    return int((await conn.execute(statement)).rowcount)


async def spend_fault(conn: Connection, fault_id: str) -> bool:
    """Count one use of a rule that applies a number of times: False once none is left (the
    count goes down in one statement, so parallel requests in every process share it)."""
    left = await conn.scalar(
        update(fault_rules)
        .where(f.id == fault_id, f.remaining > 0)
        .values(remaining=f.remaining - 1)
        .returning(f.remaining)
    )
    return left is not None
