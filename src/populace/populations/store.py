"""Population rows. Every statement names the environment and the id together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, select, update

from populace.storage.database import Connection
from populace.storage.prepared import Prepared
from populace.storage.schema import populations

p = populations.c


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


async def name_taken(
    conn: Connection, environment_id: str, name: str, except_id: str | None = None
) -> bool:
    query = select(p.id).where(p.environment_id == environment_id, p.name_key == name_key(name))
    if except_id is not None:
        query = query.where(p.id != except_id)
    return await conn.scalar(query) is not None


async def clear_default(conn: Connection, environment_id: str, except_id: str) -> None:
    await conn.execute(
        update(populations)
        .where(p.environment_id == environment_id, p.is_default, p.id != except_id)
        .values(is_default=False)
    )


async def insert_population(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(insert(populations).values({**values, "name_key": name_key(values["name"])}))


async def update_population(
    conn: Connection, environment_id: str, population_id: str, values: dict[str, Any]
) -> None:
    await conn.execute(
        update(populations)
        .where(p.environment_id == environment_id, p.id == population_id)
        .values({**values, "name_key": name_key(values["name"])})
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
