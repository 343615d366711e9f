"""The ``organizations`` and ``licenses`` tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, insert, select

from populace.storage.database import Connection
from populace.storage.paging import TableRows
from populace.storage.schema import licenses, organizations

ORGANIZATIONS = TableRows(organizations, keys={"organization": organizations.c.id})
LICENSES = TableRows(licenses, keys={"orgID": licenses.c.organization_id})


async def the_organization_id(conn: Connection) -> str | None:
    """The deployment's organization, once bootstrap has made it."""
    found: str | None = await conn.scalar(select(organizations.c.id))
    return found


async def first_license_id(conn: Connection, organization_id: str) -> str:
    query = (
        select(licenses.c.id)
        .where(licenses.c.organization_id == organization_id)
        .order_by(licenses.c.created_at, licenses.c.id)
    )
    return str(await conn.scalar(query))


async def get(conn: Connection, organization_id: str) -> Row[Any] | None:
    query = select(organizations).where(organizations.c.id == organization_id)
    return (await conn.execute(query)).first()


async def get_license(conn: Connection, organization_id: str, license_id: str) -> Row[Any] | None:
    query = select(licenses).where(
        licenses.c.organization_id == organization_id, licenses.c.id == license_id
    )
    return (await conn.execute(query)).first()


async def insert_organization(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(insert(organizations).values(values))


async def insert_license(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(insert(licenses).values(values))
