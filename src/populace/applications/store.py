"""The ``applications`` and ``role_assignments`` tables: only this module writes them.
Every lookup is keyed by environment and id together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select, update

from populace.storage.database import Connection
from populace.storage.paging import TableRows
from populace.storage.prepared import Prepared
from populace.storage.schema import applications, role_assignments
from populace.wire import new_id

a = applications.c
r = role_assignments.c

_APPLICATION = Prepared(
    select(applications).where(a.environment_id == bindparam("envID"), a.id == bindparam("appID"))
)

LIST = TableRows(applications, keys={"envID": a.environment_id})
ASSIGNMENTS = TableRows(
    role_assignments,
    keys={"envID": r.environment_id, "appID": r.application_id},
    parent=_APPLICATION,
)


async def get(conn: Connection, environment_id: str, application_id: str) -> Row[Any] | None:
    return await _APPLICATION.first(conn, envID=environment_id, appID=application_id)


async def insert_application(conn: Connection, values: dict[str, Any]) -> Row[Any]:
    return (
        await conn.execute(insert(applications).values(values).returning(*applications.c))
    ).one()


async def set_secret(
    conn: Connection, environment_id: str, application_id: str, sealed: str
) -> None:
    await conn.execute(
        update(applications)
        .where(a.environment_id == environment_id, a.id == application_id)
        .values(client_secret=sealed)
    )


async def delete_application(conn: Connection, environment_id: str, application_id: str) -> bool:
    result = await conn.execute(
        delete(applications).where(a.environment_id == environment_id, a.id == application_id)
    )
    return result.rowcount > 0


async def assignments_of(
    conn: Connection, environment_id: str, application_id: str
) -> list[Row[Any]]:
    query = select(role_assignments).where(
        r.environment_id == environment_id, r.application_id == application_id
    )
    return list((await conn.execute(query)).all())


async def get_assignment(
    conn: Connection, environment_id: str, application_id: str, assignment_id: str
) -> Row[Any] | None:
    query = select(role_assignments).where(
        r.environment_id == environment_id,
        r.application_id == application_id,
        r.id == assignment_id,
    )
    return (await conn.execute(query)).first()


async def insert_assignment(
    conn: Connection, environment_id: str, application_id: str, values: dict[str, Any]
) -> Row[Any]:
    """Grant a role to an application (``values``: role, scope, created_at)."""
    row = {
        **values,
        "environment_id": environment_id,
        "id": new_id(),
        "application_id": application_id,
    }
    statement = insert(role_assignments).values(row).returning(*role_assignments.c)
    return (await conn.execute(statement)).one()


async def delete_assignment(
    conn: Connection, environment_id: str, application_id: str, assignment_id: str
) -> bool:
    result = await conn.execute(
        delete(role_assignments).where(
            r.environment_id == environment_id,
            r.application_id == application_id,
            r.id == assignment_id,
        )
    )
    return result.rowcount > 0


async def lock_role_holders(conn: Connection, role_id: str) -> list[Row[Any]]:
    """Every assignment of ``role_id`` held by an enabled application, locked until the
    transaction ends: two transactions that each remove one of the last two wait for each
    other, and the second sees the first's removal."""
    query = (
        select(role_assignments)
        .join(
            applications,
            (a.environment_id == r.environment_id) & (a.id == r.application_id),
        )
        .where(r.role_id == role_id, a.enabled)
        .with_for_update(of=role_assignments)
    )
    return list((await conn.execute(query)).all())


async def delete_population_assignments(
    conn: Connection, environment_id: str, population_id: str
) -> None:
    """Grants scoped to a population go with it."""
    await conn.execute(
        delete(role_assignments).where(
            r.scope_environment_id == environment_id, r.scope_id == population_id
        )
    )
