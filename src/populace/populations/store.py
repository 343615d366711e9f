"""Population rows. Every statement names the environment and the id together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from populace.storage.schema import populations

p = populations.c


def name_key(name: str) -> str:
    return name.casefold()


async def get(
    conn: AsyncConnection, environment_id: str, population_id: str, *, for_update: bool = False
) -> Row[Any] | None:
    query = select(populations).where(p.environment_id == environment_id, p.id == population_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def name_taken(
    conn: AsyncConnection, environment_id: str, name: str, except_id: str | None = None
) -> bool:
    query = select(p.id).where(p.environment_id == environment_id, p.name_key == name_key(name))
    if except_id is not None:
        query = query.where(p.id != except_id)
    return await conn.scalar(query) is not None


async def clear_default(conn: AsyncConnection, environment_id: str, except_id: str) -> None:
    await conn.execute(
        update(populations)
        .where(p.environment_id == environment_id, p.is_default, p.id != except_id)
        .values(is_default=False)
    )


async def insert_population(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(populations).values({**values, "name_key": name_key(values["name"])}))


async def update_population(
    conn: AsyncConnection, environment_id: str, population_id: str, values: dict[str, Any]
) -> None:
    await conn.execute(
        update(populations)
        .where(p.environment_id == environment_id, p.id == population_id)
        .values({**values, "name_key": name_key(values["name"])})
    )


async def delete_population(conn: AsyncConnection, environment_id: str, population_id: str) -> None:
    await conn.execute(
        delete(populations).where(p.environment_id == environment_id, p.id == population_id)
    )


async def count_in_environment(conn: AsyncConnection, environment_id: str) -> int:
    return int(
        await conn.scalar(
            select(func.count()).select_from(populations).where(p.environment_id == environment_id)
        )
        or 0
    )
