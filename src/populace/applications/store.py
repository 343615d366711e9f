"""The ``applications`` table: only this module writes it. Every lookup is keyed by
environment and id together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select, update

from populace.storage.database import Connection
from populace.storage.paging import TableRows
from populace.storage.prepared import Prepared
from populace.storage.schema import applications

a = applications.c

_APPLICATION = Prepared(
    select(applications).where(a.environment_id == bindparam("envID"), a.id == bindparam("appID"))
)

LIST = TableRows(applications, keys={"envID": a.environment_id})


async def get(conn: Connection, environment_id: str, application_id: str) -> Row[Any] | None:
    return await _APPLICATION.first(conn, envID=environment_id, appID=application_id)


async def insert_application(conn: Connection, values: dict[str, Any]) -> Row[Any]:
    return (
        await conn.execute(insert(applications).values(values).returning(*applications.c))
    ).one()


async def update_application(
    conn: Connection, environment_id: str, application_id: str, values: dict[str, Any]
) -> Row[Any] | None:
    return (
        await conn.execute(
            update(applications)
            .where(a.environment_id == environment_id, a.id == application_id)
            .values(values)
            .returning(*applications.c)
        )
    ).first()


async def set_secret(
    conn: Connection,
    environment_id: str,
    application_id: str,
    sealed: str,
    previous: str | None = None,
    previous_expires_at: int | None = None,
) -> None:
    await conn.execute(
        update(applications)
        .where(a.environment_id == environment_id, a.id == application_id)
        .values(
            client_secret=sealed,
            previous_secret=previous,
            previous_secret_expires_at=previous_expires_at,
        )
    )


async def delete_application(conn: Connection, environment_id: str, application_id: str) -> bool:
    result = await conn.execute(
        delete(applications).where(a.environment_id == environment_id, a.id == application_id)
    )
    return result.rowcount > 0
