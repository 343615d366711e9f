"""Population rows. Every statement names the environment and the id together."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, select, update

from populace.storage.database import Connection
from populace.storage.prepared import Prepared
from populace.storage.schema import POPULATION_IS_DEFAULT, populations

p = populations.c


# A written population, shaped like a row read back (answers a POST without a second query).
WrittenPopulation = namedtuple("WrittenPopulation", [c.key for c in populations.c])  # type: ignore[misc]


def as_row(values: dict[str, Any]) -> Any:
    return WrittenPopulation(**{**values, "name_key": name_key(values["name"])})


def name_key(name: str) -> str:
    return name.casefold()


_BY_ID = select(populations).where(
    p.environment_id == bindparam("environment_id"), p.id == bindparam("population_id")
)
_GET = Prepared(_BY_ID)
_GET_FOR_UPDATE = Prepared(_BY_ID.with_for_update())


async def get(
    conn: Connection, environment_id: str, population_id: str, *, for_update: bool = False
) -> Row[Any] | None:
    query = _GET_FOR_UPDATE if for_update else _GET
    return await query.first(conn, environment_id=environment_id, population_id=population_id)


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
        conn, environment_id=environment_id, name_key=name_key(name), except_id=except_id or ""
    )
    return found is not None


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
_INSERT = insert(populations)
_UPDATE = update(populations).where(
    p.environment_id == bindparam("where_environment_id"), p.id == bindparam("where_id")
)


async def insert_population(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(_INSERT, {**values, "name_key": name_key(values["name"])})


async def update_population(
    conn: Connection, environment_id: str, population_id: str, values: dict[str, Any]
) -> None:
    await conn.execute(
        _UPDATE,
        {
            **values,
            "name_key": name_key(values["name"]),
            "where_environment_id": environment_id,
            "where_id": population_id,
        },
    )


async def delete_population(conn: Connection, environment_id: str, population_id: str) -> None:
    await conn.execute(
        delete(populations).where(p.environment_id == environment_id, p.id == population_id)
    )


async def count_in_environment(conn: Connection, environment_id: str) -> int:
    return int(
        await conn.scalar(
            select(func.count()).select_from(populations).where(p.environment_id == environment_id)
        )
        or 0
    )
