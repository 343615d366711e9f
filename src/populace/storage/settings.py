"""The ``settings`` table: deployment-wide values (the secret key, the bootstrap application)
that every process must share, so none lives only in one process's memory."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from populace.storage.database import Connection
from populace.storage.schema import settings


async def get(conn: Connection, key: str) -> str | None:
    value: str | None = await conn.scalar(select(settings.c.value).where(settings.c.key == key))
    return value


async def put(conn: Connection, key: str, value: str) -> None:
    if await get(conn, key) is None:
        await conn.execute(insert(settings).values(key=key, value=value))
    else:
        await conn.execute(update(settings).where(settings.c.key == key).values(value=value))


_ADMIN_APPLICATION = "admin_application"


async def admin_application(conn: Connection) -> tuple[str, str]:
    """The bootstrap application's environment and id, as bootstrap recorded them."""
    environment_id, _, application_id = str(await get(conn, _ADMIN_APPLICATION)).partition("/")
    return environment_id, application_id


async def set_admin_application(conn: Connection, environment_id: str, application_id: str) -> None:
    await put(conn, _ADMIN_APPLICATION, f"{environment_id}/{application_id}")


_CLOCK_OFFSET = "clock_offset_ms"


async def clock_offset_ms(conn: Connection) -> int:
    """How far the control API's test clock is ahead of the system's (0 unless moved)."""
    return int(await get(conn, _CLOCK_OFFSET) or 0)


async def set_clock_offset_ms(conn: Connection, offset_ms: int) -> None:
    await put(conn, _CLOCK_OFFSET, str(offset_ms))


# The snapshot the undo journal counts from (``storage/journal.py``): the database's triggers
# read this key, and journal nothing while it is absent.
STATE_BASE = "state_base"


async def state_base(conn: Connection) -> str | None:
    return await get(conn, STATE_BASE)


async def set_state_base(conn: Connection, snapshot_id: str | None) -> None:
    if snapshot_id is None:
        await conn.execute(delete(settings).where(settings.c.key == STATE_BASE))
    else:
        await put(conn, STATE_BASE, snapshot_id)
