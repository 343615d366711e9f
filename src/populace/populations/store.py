"""The ``populations`` table, and only this module writes it: populations themselves, the
default population of a new environment, and the ``user_count`` every user change adjusts.

Every statement names the environment and the id together.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, ScalarSelect, Table, bindparam, delete, func, insert, select, update

from populace.filters import exact_field, text_field
from populace.names import text_key
from populace.storage.database import Connection
from populace.storage.paging import TableRows
from populace.storage.prepared import ByKey, Prepared
from populace.storage.schema import POPULATION_IS_DEFAULT, environments, populations

p = populations.c

LIST = TableRows(
    populations,
    keys={"envID": p.environment_id},
    filters={"id": exact_field(p.id), "name": text_field(p.name_key)},
    limited_by=p.id,
)

get = ByKey(populations).get


_NAME_TAKEN = Prepared(
    select(p.id).where(
        p.environment_id == bindparam("environment_id"),
        p.name_key == bindparam("name_key"),
        p.id != bindparam("except_id"),
    )
)


async def name_taken(
    conn: Connection, environment_id: str, name: str, except_id: str | None = None
) -> bool:
    found = await _NAME_TAKEN.scalar(
        conn, environment_id=environment_id, name_key=text_key(name), except_id=except_id or ""
    )
    return found is not None


_DEFAULT_ID = Prepared(
    select(p.id).where(p.environment_id == bindparam("environment_id"), POPULATION_IS_DEFAULT)
)


async def default_id(conn: Connection, environment_id: str) -> str | None:
    found: str | None = await _DEFAULT_ID.scalar(conn, environment_id=environment_id)
    return found


# Parameters of UPDATE statements must not be named like a column of the table.
_CLEAR_DEFAULT = (
    update(populations)
    .where(
        p.environment_id == bindparam("where_environment_id"),
        POPULATION_IS_DEFAULT,
        p.id != bindparam("where_except_id"),
    )
    .values(is_default=False)
)


async def clear_default(conn: Connection, environment_id: str, except_id: str) -> None:
    await conn.execute(
        _CLEAR_DEFAULT, {"where_environment_id": environment_id, "where_except_id": except_id}
    )


# Prebuilt statements: building Core DML per request cost more than running it (profiled).
# RETURNING answers a write with the row as stored, in the same statement.
_INSERT = insert(populations).returning(*populations.c)
_UPDATE = (
    update(populations)
    .where(p.environment_id == bindparam("where_environment_id"), p.id == bindparam("where_id"))
    .returning(*populations.c)
)


async def insert_population(conn: Connection, values: dict[str, Any]) -> Row[Any]:
    result = await conn.execute(_INSERT, {**values, "name_key": text_key(values["name"])})
    return result.one()


async def update_population(
    conn: Connection, environment_id: str, population_id: str, values: dict[str, Any]
) -> Row[Any] | None:
    """Write new values; None when the population is gone."""
    result = await conn.execute(
        _UPDATE,
        {
            **values,
            "name_key": text_key(values["name"]),
            "where_environment_id": environment_id,
            "where_id": population_id,
        },
    )
    return result.first()


async def delete_population(conn: Connection, environment_id: str, population_id: str) -> None:
    await conn.execute(
        delete(populations).where(p.environment_id == environment_id, p.id == population_id)
    )


async def all_in_environment(conn: Connection, environment_id: str) -> list[Row[Any]]:
    """Every population of an environment: id and default flag (for the import)."""
    query = select(p.id, p.is_default).where(p.environment_id == environment_id)
    return list((await conn.execute(query)).all())


async def count_in_environment(conn: Connection, environment_id: str) -> int:
    return int(
        await conn.scalar(
            select(func.count()).select_from(populations).where(p.environment_id == environment_id)
        )
        or 0
    )


async def add_to_count(
    conn: Connection, environment_id: str, population_id: str, delta: int
) -> bool:
    """Adjust a population's user count with ``user_count = user_count + delta``: atomic on
    both databases, so concurrent creates, moves and deletes from several processes keep it
    exact, and reading a population never counts users. False when the population is gone."""
    result = await conn.execute(
        update(populations)
        .where(p.environment_id == environment_id, p.id == population_id)
        .values(user_count=p.user_count + delta)
    )
    return result.rowcount == 1


async def environment_of(conn: Connection, organization_id: str, population_id: str) -> str | None:
    """The environment holding a population, searched within one organization's environments
    (a role assignment's scope names a population by id only)."""
    found: str | None = await conn.scalar(
        select(p.environment_id)
        .join(environments, environments.c.id == p.environment_id)
        .where(environments.c.organization_id == organization_id, p.id == population_id)
    )
    return found


async def users_in(
    conn: Connection, environment_id: str, population_ids: frozenset[str] | None
) -> int:
    """How many users an environment holds (in ``population_ids`` only, when given): the
    sum of the populations' exact ``user_count``."""
    query = select(func.coalesce(func.sum(p.user_count), 0)).where(
        p.environment_id == environment_id
    )
    if population_ids is not None:
        query = query.where(p.id.in_(population_ids))
    return int(await conn.scalar(query) or 0)


def count_using_policy(policy: Table) -> ScalarSelect[int]:
    """How many populations name each row of ``policy`` (``password_policies``) as their
    password policy: a correlated count, for the policy's ``populationCount``."""
    return (
        select(func.count())
        .where(p.environment_id == policy.c.environment_id, p.password_policy_id == policy.c.id)
        .scalar_subquery()
    )
