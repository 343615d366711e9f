"""The ``environments`` table, always searched within one organization."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select, update

from populace.filters import exact_field, text_field
from populace.names import text_key
from populace.storage.database import Connection
from populace.storage.paging import TableRows
from populace.storage.prepared import Prepared
from populace.storage.schema import environments

e = environments.c

LIST = TableRows(
    environments,
    keys={"organization": e.organization_id},
    filters={
        "id": exact_field(e.id),
        "name": text_field(e.name_key),
        "organization.id": exact_field(e.organization_id),
        "license.id": exact_field(e.license_id),
        "type": exact_field(e.type),
        "region": exact_field(e.region),
    },
    limited_by=e.id,
)

_EXISTS = Prepared(
    select(e.id).where(
        e.organization_id == bindparam("organization_id"), e.id == bindparam("environment_id")
    )
)


async def exists(conn: Connection, organization_id: str, environment_id: str) -> bool:
    found = await _EXISTS.scalar(
        conn, organization_id=organization_id, environment_id=environment_id
    )
    return found is not None


_HOLD = Prepared(
    select(e.id)
    .where(e.organization_id == bindparam("organization_id"), e.id == bindparam("environment_id"))
    .with_for_update(read=True, key_share=True)
)


async def hold(conn: Connection, organization_id: str, environment_id: str) -> bool:
    """Keep the environment from being deleted until this transaction ends (``FOR KEY
    SHARE`` on PostgreSQL; SQLite's writer is alone anyway); False if it is already gone.

    Every write inside an environment takes this lock first, so the lock order is always the
    environment, then its objects: a delete of the environment waits for writers in it, or
    they wait for it and then find it gone (404), and neither can deadlock the other."""
    found = await _HOLD.scalar(conn, organization_id=organization_id, environment_id=environment_id)
    return found is not None


def _one(organization_id: str, environment_id: str) -> Any:
    return (e.organization_id == organization_id) & (e.id == environment_id)


_GET = Prepared(
    select(environments).where(
        e.organization_id == bindparam("organization_id"), e.id == bindparam("environment_id")
    )
)


async def get(conn: Connection, organization_id: str, environment_id: str) -> Row[Any] | None:
    return await _GET.first(conn, organization_id=organization_id, environment_id=environment_id)


async def name_taken(
    conn: Connection, organization_id: str, name: str, except_id: str | None = None
) -> bool:
    query = select(e.id).where(e.organization_id == organization_id, e.name_key == text_key(name))
    if except_id is not None:
        query = query.where(e.id != except_id)
    return await conn.scalar(query) is not None


async def insert_environment(conn: Connection, values: dict[str, Any]) -> Row[Any]:
    statement = insert(environments).values({**values, "name_key": text_key(values["name"])})
    return (await conn.execute(statement.returning(*environments.c))).one()


async def update_environment(
    conn: Connection, organization_id: str, environment_id: str, values: dict[str, Any]
) -> Row[Any] | None:
    statement = (
        update(environments)
        .where(_one(organization_id, environment_id))
        .values({**values, "name_key": text_key(values["name"])})
        .returning(*environments.c)
    )
    return (await conn.execute(statement)).first()


async def delete_environment(conn: Connection, organization_id: str, environment_id: str) -> bool:
    """Delete an environment; foreign keys cascade to everything in it."""
    result = await conn.execute(delete(environments).where(_one(organization_id, environment_id)))
    return result.rowcount > 0


async def lock(conn: Connection, environment_id: str) -> None:
    """Serialize writers that change an environment-wide invariant (its one default population,
    its last population) until this transaction ends. PostgreSQL takes a row lock; SQLite's
    ``BEGIN IMMEDIATE`` has already made this transaction the only writer."""
    await conn.execute(
        select(e.id)
        .where(e.id == environment_id)
        # FOR NO KEY UPDATE: serializes these writers, but not the KEY SHARE locks that
        # foreign-key checks take when users or populations are inserted (no deadlock).
        .with_for_update(key_share=True)
    )
