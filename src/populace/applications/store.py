"""Application and role assignment rows, keyed by environment and id together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, insert, select

from populace.storage.database import Connection
from populace.storage.schema import applications, environments, populations, role_assignments


async def get(conn: Connection, environment_id: str, application_id: str) -> Row[Any] | None:
    return (
        await conn.execute(
            select(applications).where(
                applications.c.environment_id == environment_id,
                applications.c.id == application_id,
            )
        )
    ).first()


async def insert_application(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(insert(applications).values(values))


async def delete_application(conn: Connection, environment_id: str, application_id: str) -> bool:
    result = await conn.execute(
        delete(applications).where(
            applications.c.environment_id == environment_id, applications.c.id == application_id
        )
    )
    return result.rowcount > 0


def assignments_of(environment_id: str, application_id: str) -> Any:
    return select(role_assignments).where(
        role_assignments.c.environment_id == environment_id,
        role_assignments.c.application_id == application_id,
    )


async def get_assignment(
    conn: Connection, environment_id: str, application_id: str, assignment_id: str
) -> Row[Any] | None:
    query = assignments_of(environment_id, application_id).where(
        role_assignments.c.id == assignment_id
    )
    return (await conn.execute(query)).first()


async def insert_assignment(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(insert(role_assignments).values(values))


async def delete_assignment(
    conn: Connection, environment_id: str, application_id: str, assignment_id: str
) -> bool:
    result = await conn.execute(
        delete(role_assignments).where(
            role_assignments.c.environment_id == environment_id,
            role_assignments.c.application_id == application_id,
            role_assignments.c.id == assignment_id,
        )
    )
    return result.rowcount > 0


async def population_environment(
    conn: Connection, organization_id: str, population_id: str
) -> str | None:
    """The environment holding a population, searched within one organization's environments
    (a role assignment's scope names a population by id only)."""
    return await conn.scalar(
        select(populations.c.environment_id)
        .join(environments, environments.c.id == populations.c.environment_id)
        .where(environments.c.organization_id == organization_id, populations.c.id == population_id)
    )


async def delete_population_assignments(
    conn: Connection, environment_id: str, population_id: str
) -> None:
    """Grants scoped to a population go with it."""
    await conn.execute(
        delete(role_assignments).where(
            role_assignments.c.scope_environment_id == environment_id,
            role_assignments.c.scope_id == population_id,
        )
    )
