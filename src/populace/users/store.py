"""The ``users`` table. A user's population keeps its ``user_count`` in the same transaction as
every change here (``populations.store.add_to_count``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Row, bindparam, delete, insert, select

from populace.filters import (
    Fields,
    boolean_field,
    case_insensitive_field,
    exact_field,
    text_field,
)
from populace.groups.store import MEMBER_OF
from populace.names import text_key
from populace.populations import store as population_store
from populace.storage.database import Connection
from populace.storage.paging import PageQuery, TableRows
from populace.storage.prepared import ByKey, Prepared, insert_many
from populace.storage.schema import users

u = users.c


def _profile(*path: str) -> ColumnElement[str]:
    return u.profile[path].as_string()


# What a dynamic group's userFilter may name: every user attribute (the indexed ones are
# fast; the profile's are read from JSON, within the read budget).
DYNAMIC_FILTERS: Fields = {
    "id": exact_field(u.id),
    "population.id": exact_field(u.population_id),
    "username": text_field(u.username_key),
    "email": text_field(u.email_key),
    "name.given": text_field(u.name_given_key),
    "name.family": text_field(u.name_family_key),
    "externalid": exact_field(u.external_id),
    "enabled": boolean_field(u.enabled),
    "mfaenabled": boolean_field(u.mfa_enabled),
    "lifecycle.status": exact_field(u.lifecycle_status),
    **{
        attribute.lower(): case_insensitive_field(_profile(*attribute.split(".")))
        for attribute in (
            "locale", "nickname", "title", "type", "preferredLanguage", "timezone",
            "mobilePhone", "primaryPhone", "photo.href", "address.streetAddress",
            "address.locality", "address.region", "address.postalCode", "address.countryCode",
        )
    },
}  # fmt: skip


async def _count_all(conn: Connection, wanted: PageQuery) -> int:
    return await population_store.users_in(conn, wanted.ids["envID"], wanted.limit_to)


LIST = TableRows(
    users,
    keys={"envID": u.environment_id},
    filters={**DYNAMIC_FILTERS, "memberofgroups": MEMBER_OF},
    limited_by=u.population_id,
    unfiltered_count=_count_all,
)


def in_population(population_id: str) -> ColumnElement[bool]:
    return u.population_id == population_id


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


_BY_USERNAME = Prepared(
    select(users).where(
        u.environment_id == bindparam("environment_id"), u.username_key == bindparam("key")
    )
)


async def by_username(conn: Connection, environment_id: str, username: str) -> Row[Any] | None:
    """The user signing in with ``username`` (compared as uniqueness compares it)."""
    return await _BY_USERNAME.first(conn, environment_id=environment_id, key=username_key(username))


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


_update = ByKey(users).update


async def replace_user(
    conn: Connection, environment_id: str, user_id: str, values: dict[str, Any]
) -> Row[Any] | None:
    return await _update(conn, environment_id, user_id, keyed(values))


async def set_flag(
    conn: Connection, environment_id: str, user_id: str, flag: str, value: bool | str, at: int
) -> Row[Any] | None:
    assert flag in ("enabled", "mfa_enabled", "verify_status")
    return await _update(conn, environment_id, user_id, {flag: value, "updated_at": at})


async def set_population(
    conn: Connection, environment_id: str, user_id: str, population_id: str, at: int
) -> Row[Any] | None:
    values = {"population_id": population_id, "updated_at": at}
    return await _update(conn, environment_id, user_id, values)


async def delete_user(conn: Connection, environment_id: str, user_id: str) -> None:
    await conn.execute(delete(users).where(u.environment_id == environment_id, u.id == user_id))
