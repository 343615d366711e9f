"""Password policy and theme lookups, always by environment and id together."""

from __future__ import annotations

from sqlalchemy import Table, bindparam, select

from populace.storage.database import Connection
from populace.storage.prepared import Prepared
from populace.storage.schema import password_policies, themes


def _by_id(table: Table) -> Prepared:
    return Prepared(
        select(table.c.id).where(
            table.c.environment_id == bindparam("environment_id"),
            table.c.id == bindparam("object_id"),
        )
    )


_EXISTS = {table.name: _by_id(table) for table in (password_policies, themes)}
_DEFAULT_THEME = Prepared(
    select(themes.c.id).where(
        themes.c.environment_id == bindparam("environment_id"), themes.c.is_default
    )
)


async def exists(conn: Connection, table: Table, environment_id: str, object_id: str) -> bool:
    found = await _EXISTS[table.name].scalar(
        conn, environment_id=environment_id, object_id=object_id
    )
    return found is not None


async def default_theme_id(conn: Connection, environment_id: str) -> str | None:
    found: str | None = await _DEFAULT_THEME.scalar(conn, environment_id=environment_id)
    return found


__all__ = ["default_theme_id", "exists", "password_policies", "themes"]
