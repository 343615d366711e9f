"""The ``outbox_messages`` table: every statement on it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert

from populace.filters import exact_field
from populace.storage.database import Connection
from populace.storage.paging import TableRows
from populace.storage.prepared import ByKey
from populace.storage.schema import outbox_messages
from populace.wire import new_id

o = outbox_messages.c

MESSAGES = TableRows(
    outbox_messages,
    keys={"envID": o.environment_id},
    filters={"user.id": exact_field(o.user_id), "type": exact_field(o.type)},
)


async def deliver(
    conn: Connection,
    environment_id: str,
    user_id: str,
    kind: str,
    recipient: str,
    content: dict[str, Any],
    *,
    at: int,
    expires_at: int | None = None,
) -> None:
    """Keep a message for ``recipient`` (in the caller's transaction: it is there exactly
    when what it tells of is)."""
    await conn.execute(
        insert(outbox_messages).values(
            environment_id=environment_id,
            id=new_id(),
            user_id=user_id,
            type=kind,
            recipient=recipient,
            content=content,
            expires_at=expires_at,
            created_at=at,
            updated_at=at,
        )
    )


get = ByKey(outbox_messages).get


async def remove(conn: Connection, environment_id: str, message_id: str) -> bool:
    result = await conn.execute(
        delete(outbox_messages).where(o.environment_id == environment_id, o.id == message_id)
    )
    return result.rowcount == 1


async def discard(conn: Connection, environment_id: str, user_id: str, kind: str) -> None:
    """Drop the user's messages of a kind (a recovery code once it is replaced, used or the
    password set otherwise: a code that no longer works is not kept readable)."""
    await conn.execute(
        delete(outbox_messages).where(
            o.environment_id == environment_id, o.user_id == user_id, o.type == kind
        )
    )
