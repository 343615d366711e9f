"""The sign-on tables: ``sign_on_flows``, ``sign_on_sessions``, ``sign_on_grants`` and
``sign_on_tokens``; only this module writes them. Every lookup names the environment; secrets
handed out (session cookies, codes, refresh tokens) are looked up by their SHA-256 digest."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from populace.storage.database import Connection
from populace.storage.prepared import ByKey
from populace.storage.schema import sign_on_flows, sign_on_grants, sign_on_sessions, sign_on_tokens

f, s, g, t = sign_on_flows.c, sign_on_sessions.c, sign_on_grants.c, sign_on_tokens.c

_flows, _sessions, _grants = ByKey(sign_on_flows), ByKey(sign_on_sessions), ByKey(sign_on_grants)


async def _insert(conn: Connection, table: Any, values: dict[str, Any]) -> Row[Any]:
    return (await conn.execute(insert(table).values(values).returning(*table.c))).one()


async def insert_flow(conn: Connection, values: dict[str, Any]) -> Row[Any]:
    return await _insert(conn, sign_on_flows, values)


async def flow(
    conn: Connection, environment_id: str, flow_id: str, now: int, *, for_update: bool = False
) -> Row[Any] | None:
    """A flow that has not expired."""
    row = await _flows.get(conn, environment_id, flow_id, for_update=for_update)
    return row if row is not None and row.expires_at > now else None


async def update_flow(
    conn: Connection, environment_id: str, flow_id: str, values: dict[str, Any]
) -> Row[Any] | None:
    return await _flows.update(conn, environment_id, flow_id, values)


async def end_flow(conn: Connection, environment_id: str, flow_id: str) -> bool:
    """Delete a flow; False if another request ended it first."""
    result = await conn.execute(
        delete(sign_on_flows).where(f.environment_id == environment_id, f.id == flow_id)
    )
    return result.rowcount > 0


PURGE_BATCH = 200


async def purge_expired(conn: Connection, environment_id: str, now: int) -> None:
    """Forget some of what has ended in an environment: flows, sessions, grants and tokens
    past their time, at most PURGE_BATCH rows of each (each found through an index on
    ``(environment_id, expires_at)``), so no request waits on a large clean-up."""
    for table in (sign_on_flows, sign_on_tokens, sign_on_grants, sign_on_sessions):
        c = table.c
        key = c.key if table is sign_on_tokens else c.id
        ended = (
            select(key)
            .where(c.environment_id == environment_id, c.expires_at <= now)
            .limit(PURGE_BATCH)
        )
        await conn.execute(delete(table).where(c.environment_id == environment_id, key.in_(ended)))


async def insert_session(conn: Connection, values: dict[str, Any]) -> Row[Any]:
    return await _insert(conn, sign_on_sessions, values)


async def session_by_token(
    conn: Connection, environment_id: str, token_hash: str, now: int
) -> Row[Any] | None:
    query = select(sign_on_sessions).where(
        s.environment_id == environment_id, s.token_hash == token_hash, s.expires_at > now
    )
    return (await conn.execute(query)).first()


async def session(conn: Connection, environment_id: str, session_id: str, now: int) -> Any:
    row = await _sessions.get(conn, environment_id, session_id)
    return row if row is not None and row.expires_at > now else None


async def touch_session(conn: Connection, environment_id: str, session_id: str, now: int) -> None:
    await _sessions.update(conn, environment_id, session_id, {"active_at": now})


async def end_session(conn: Connection, environment_id: str, session_id: str) -> None:
    """End a session and every grant made in it (their tokens go with them)."""
    await conn.execute(
        update(sign_on_grants)
        .where(g.environment_id == environment_id, g.session_id == session_id)
        .values(revoked=True)
    )
    await conn.execute(
        delete(sign_on_sessions).where(s.environment_id == environment_id, s.id == session_id)
    )


async def end_sessions_of(conn: Connection, environment_id: str, user_id: str) -> None:
    """End every session of a user, and every grant made to it."""
    await conn.execute(
        update(sign_on_grants)
        .where(g.environment_id == environment_id, g.user_id == user_id)
        .values(revoked=True)
    )
    await conn.execute(
        delete(sign_on_sessions).where(s.environment_id == environment_id, s.user_id == user_id)
    )


async def insert_grant(conn: Connection, values: dict[str, Any]) -> Row[Any]:
    return await _insert(conn, sign_on_grants, values)


async def grant(conn: Connection, environment_id: str, grant_id: str) -> Row[Any] | None:
    return await _grants.get(conn, environment_id, grant_id)


async def use_code(conn: Connection, environment_id: str, code_hash: str) -> Row[Any] | None:
    """Mark a code used, atomically: only one request can; None for every other one."""
    statement = (
        update(sign_on_grants)
        .where(g.environment_id == environment_id, g.code_hash == code_hash, g.code_used.is_(False))
        .values(code_used=True)
        .returning(*sign_on_grants.c)
    )
    return (await conn.execute(statement)).first()


async def grant_by_code(conn: Connection, environment_id: str, code_hash: str) -> Row[Any] | None:
    query = select(sign_on_grants).where(
        g.environment_id == environment_id, g.code_hash == code_hash
    )
    return (await conn.execute(query)).first()


async def revoke_grant(conn: Connection, environment_id: str, grant_id: str) -> None:
    await _grants.update(conn, environment_id, grant_id, {"revoked": True})


async def insert_token(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(insert(sign_on_tokens).values(values))


async def token(conn: Connection, environment_id: str, key: str) -> Row[Any] | None:
    query = select(sign_on_tokens).where(t.environment_id == environment_id, t.key == key)
    return (await conn.execute(query)).first()


async def use_refresh_token(conn: Connection, environment_id: str, key: str) -> Row[Any] | None:
    """Mark a refresh token used, atomically (rotation): None if it was used already."""
    statement = (
        update(sign_on_tokens)
        .where(
            t.environment_id == environment_id,
            t.key == key,
            t.kind == "refresh",
            t.used.is_(False),
        )
        .values(used=True)
        .returning(*sign_on_tokens.c)
    )
    return (await conn.execute(statement)).first()


async def revoke_token(conn: Connection, environment_id: str, key: str) -> None:
    await conn.execute(
        update(sign_on_tokens)
        .where(t.environment_id == environment_id, t.key == key)
        .values(revoked=True)
    )
