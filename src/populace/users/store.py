"""The ``users`` table. A user's population keeps its ``user_count`` in the same transaction as
every change here (``populations.store.add_to_count``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from populace.filters import boolean_field, exact_field, text_field
from populace.names import text_key
from populace.storage.database import Connection
from populace.storage.paging import TableRows
from populace.storage.prepared import ByKey, insert_many
from populace.storage.schema import users

u = users.c

LIST = TableRows(
    users,
    keys={"envID": u.environment_id},
    filters={
        "id": exact_field(u.id),
        "population.id": exact_field(u.population_id),
        "username": text_field(u.username_key),
        "email": text_field(u.email_key),
        "name.given": text_field(u.name_given_key),
        "name.family": text_field(u.name_family_key),
        "enabled": boolean_field(u.enabled),
    },
    limited_by=u.population_id,
)


def username_key(username: str) -> str:
    return text_key(username)


def keyed(values: dict[str, Any]) -> dict[str, Any]:
    """Add the lookup keys (``names.text_key``) to a user's values."""

    def key(value: str | None) -> str | None:
        return None if value is None else text_key(value)

    return {
        **values,
        "username_key": username_key(values["username"]),
        "email_key": text_key(values["email"]),
        "name_given_key": key(values.get("name_given")),
        "name_family_key": key(values.get("name_family")),
    }


get = ByKey(users).get


async def usernames_taken(
    conn: Connection, environment_id: str, keys: Iterable[str], except_id: str | None = None
) -> set[str]:
    query = select(u.username_key).where(
        u.environment_id == environment_id, u.username_key.in_(list(keys))
    )
    if except_id is not None:
        query = query.where(u.id != except_id)
    return set((await conn.scalars(query)).all())


_INSERT = insert(users).returning(*users.c)


async def insert_user(conn: Connection, values: dict[str, Any]) -> Row[Any]:
    return (await conn.execute(_INSERT, keyed(values))).one()


async def insert_users(conn: Connection, rows: list[dict[str, Any]]) -> None:
    await insert_many(conn, users, [keyed(row) for row in rows])


async def _update(
    conn: Connection, environment_id: str, user_id: str, values: dict[str, Any]
) -> Row[Any] | None:
    statement = (
        update(users)
        .where(u.environment_id == environment_id, u.id == user_id)
        .values(values)
        .returning(*users.c)
    )
    return (await conn.execute(statement)).first()


async def replace_user(
    conn: Connection, environment_id: str, user_id: str, values: dict[str, Any]
) -> Row[Any] | None:
    return await _update(conn, environment_id, user_id, keyed(values))


async def set_population(
    conn: Connection, environment_id: str, user_id: str, population_id: str, at: int
) -> Row[Any] | None:
    values = {"population_id": population_id, "updated_at": at}
    return await _update(conn, environment_id, user_id, values)


async def delete_user(conn: Connection, environment_id: str, user_id: str) -> None:
    await conn.execute(delete(users).where(u.environment_id == environment_id, u.id == user_id))
