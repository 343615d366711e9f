"""User rows, and the population ``user_count`` kept in the same transaction as every change.

Counts are adjusted with ``UPDATE ... SET user_count = user_count + n``: atomic on both
databases, so concurrent creates, moves and deletes from several processes keep them exact,
and reading a population never counts users.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, bindparam, delete, select, update

from populace.storage.database import Connection
from populace.storage.prepared import Prepared, insert_many
from populace.storage.schema import POPULATION_IS_DEFAULT, populations, users

u = users.c


def keyed(values: dict[str, Any]) -> dict[str, Any]:
    """Add the casefolded lookup columns to a user's values."""

    def fold(value: str | None) -> str | None:
        return None if value is None else value.casefold()

    return {
        **values,
        "username_key": values["username"].casefold(),
        "email_key": values["email"].casefold(),
        "name_given_key": fold(values.get("name_given")),
        "name_family_key": fold(values.get("name_family")),
    }


_BY_ID = select(users).where(
    u.environment_id == bindparam("environment_id"), u.id == bindparam("user_id")
)
_GET = Prepared(_BY_ID)
_GET_FOR_UPDATE = Prepared(_BY_ID.with_for_update())


async def get(
    conn: Connection, environment_id: str, user_id: str, *, for_update: bool = False
) -> Row[Any] | None:
    query = _GET_FOR_UPDATE if for_update else _GET
    return await query.first(conn, environment_id=environment_id, user_id=user_id)


async def usernames_taken(
    conn: Connection, environment_id: str, keys: Iterable[str], except_id: str | None = None
) -> set[str]:
    query = select(u.username_key).where(
        u.environment_id == environment_id, u.username_key.in_(list(keys))
    )
    if except_id is not None:
        query = query.where(u.id != except_id)
    return set((await conn.scalars(query)).all())


async def add_to_count(
    conn: Connection, environment_id: str, population_id: str, delta: int
) -> bool:
    """Adjust a population's user count; False when the population does not exist (any more)."""
    result = await conn.execute(
        update(populations)
        .where(populations.c.environment_id == environment_id, populations.c.id == population_id)
        .values(user_count=populations.c.user_count + delta)
    )
    return result.rowcount == 1


async def insert_users(conn: Connection, rows: list[dict[str, Any]]) -> None:
    await insert_many(conn, users, [keyed(row) for row in rows])


async def update_user(
    conn: Connection, environment_id: str, user_id: str, values: dict[str, Any]
) -> None:
    await conn.execute(
        update(users)
        .where(u.environment_id == environment_id, u.id == user_id)
        .values(keyed(values))
    )


async def set_population(
    conn: Connection, environment_id: str, user_id: str, population_id: str, at: int
) -> None:
    await conn.execute(
        update(users)
        .where(u.environment_id == environment_id, u.id == user_id)
        .values(population_id=population_id, updated_at=at)
    )


async def delete_user(conn: Connection, environment_id: str, user_id: str) -> None:
    await conn.execute(delete(users).where(u.environment_id == environment_id, u.id == user_id))


async def default_population_id(conn: Connection, environment_id: str) -> str | None:
    return await conn.scalar(
        select(populations.c.id).where(
            populations.c.environment_id == environment_id, POPULATION_IS_DEFAULT
        )
    )
