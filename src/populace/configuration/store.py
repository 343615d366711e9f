"""Password policy and theme lookups, always by environment and id together."""

from __future__ import annotations

from sqlalchemy import Table, select

from populace.storage.database import Connection
from populace.storage.schema import password_policies, themes


async def exists(conn: Connection, table: Table, environment_id: str, object_id: str) -> bool:
    found = await conn.scalar(
        select(table.c.id).where(table.c.environment_id == environment_id, table.c.id == object_id)
    )
    return found is not None


async def default_theme_id(conn: Connection, environment_id: str) -> str | None:
    return await conn.scalar(
        select(themes.c.id).where(themes.c.environment_id == environment_id, themes.c.is_default)
    )


__all__ = ["default_theme_id", "exists", "password_policies", "themes"]
