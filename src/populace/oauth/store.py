"""The sign-on tables: ``sign_on_flows``, ``sign_on_sessions``, ``sign_on_grants`` and
``sign_on_tokens``; only this module writes them. Every lookup names the environment; secrets
handed out (session cookies, codes, refresh tokens) are looked up by their SHA-256 digest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, delete, select, update

from populace.storage.database import Connection
from populace.storage.prepared import ByKey, Prepared, PreparedInsert, PreparedWrite
from populace.storage.schema import sign_on_flows, sign_on_grants, sign_on_sessions, sign_on_tokens

f, s, g, t = sign_on_flows.c, sign_on_sessions.c, sign_on_grants.c, sign_on_tokens.c

_flows, _sessions, _grants = ByKey(sign_on_flows), ByKey(sign_on_sessions), ByKey(sign_on_grants)

# Prepared once: every step of a sign-on runs these (``storage/prepared.py`` says why).
_SESSION_BY_TOKEN = Prepared(
    select(sign_on_sessions).where(
        s.environment_id == bindparam("environment_id"),
        s.token_hash == bindparam("token_hash"),
        s.expires_at > bindparam("now"),
    )
)
_GRANT_BY_CODE = Prepared(
    select(sign_on_grants).where(
        g.environment_id == bindparam("environment_id"), g.code_hash == bindparam("code_hash")
    )
)
_TOKEN = Prepared(
    select(sign_on_tokens).where(
        t.environment_id == bindparam("environment_id"), t.key == bindparam("key")
    )
)


def _keyed(table: Any, *where: Any) -> Any:
    # Parameters of UPDATE and DELETE statements cannot take a column's own name.
    return (table.c.environment_id == bindparam("in_environment"), *where)


_INSERT_FLOW, _INSERT_SESSION = PreparedInsert(sign_on_flows), PreparedInsert(sign_on_sessions)
_INSERT_GRANT, _INSERT_TOKEN = PreparedInsert(sign_on_grants), PreparedInsert(sign_on_tokens)
_FLOW_STEP: dict[str, Any] = {
    "status": bindparam("new_status"),
    "user_id": bindparam("new_user_id"),
    "session_id": bindparam("new_session_id"),
    "expires_at": bindparam("new_expires_at"),
    "updated_at": bindparam("new_updated_at"),
}
_THE_FLOW = f.id == bindparam("flow_id")
_MOVE_FLOW = PreparedWrite(
    update(sign_on_flows)
    .where(*_keyed(sign_on_flows, _THE_FLOW))
    .values(_FLOW_STEP)
    .returning(*sign_on_flows.c)
)
_ADVANCE_FLOW = PreparedWrite(
    update(sign_on_flows)
    .where(
        *_keyed(
            sign_on_flows,
            _THE_FLOW,
            f.status != "COMPLETED",
            f.expires_at > bindparam("new_updated_at"),
        )
    )
    .values(_FLOW_STEP)
    .returning(*sign_on_flows.c)
)
_TAKE_FLOW = PreparedWrite(
    delete(sign_on_flows)
    .where(*_keyed(sign_on_flows, f.id == bindparam("flow_id"), f.expires_at > bindparam("now")))
    .returning(*sign_on_flows.c)
)
_TOUCH_SESSION = PreparedWrite(
    update(sign_on_sessions)
    .where(
        *_keyed(
            sign_on_sessions,
            s.id == bindparam("session_id"),
            s.expires_at > bindparam("new_active_at"),
        )
    )
    .values(active_at=bindparam("new_active_at"))
)
_USE_CODE = PreparedWrite(
    update(sign_on_grants)
    .where(*_keyed(sign_on_grants, g.code_hash == bindparam("of_code"), g.code_used.is_(False)))
    .values(code_used=True)
    .returning(*sign_on_grants.c)
)
_REVOKE_GRANT = PreparedWrite(
    update(sign_on_grants)
    .where(*_keyed(sign_on_grants, g.id == bindparam("grant_id")))
    .values(revoked=True)
)
_USE_REFRESH_TOKEN = PreparedWrite(
    update(sign_on_tokens)
    .where(
        *_keyed(
            sign_on_tokens, t.key == bindparam("token_key"), t.kind == "refresh", t.used.is_(False)
        )
    )
    .values(used=True)
    .returning(*sign_on_tokens.c)
)
_REVOKE_TOKEN = PreparedWrite(
    update(sign_on_tokens)
    .where(*_keyed(sign_on_tokens, t.key == bindparam("token_key")))
    .values(revoked=True)
)


async def insert_flow(conn: Connection, values: dict[str, Any]) -> Row[Any]:
    return await _INSERT_FLOW.row(conn, values)


async def flow(
    conn: Connection, environment_id: str, flow_id: str, now: int, *, for_update: bool = False
) -> Row[Any] | None:
    """A flow that has not expired."""
    row = await _flows.get(conn, environment_id, flow_id, for_update=for_update)
    return row if row is not None and row.expires_at > now else None


@dataclass(frozen=True, slots=True)
class FlowStep:
    """Where a step moves a flow: its status, who it signs on, in which session, until when."""

    status: str
    user_id: str | None
    session_id: str | None
    expires_at: int
    now: int

    def parameters(self, environment_id: str, flow_id: str) -> dict[str, Any]:
        return {
            "in_environment": environment_id,
            "flow_id": flow_id,
            "new_status": self.status,
            "new_user_id": self.user_id,
            "new_session_id": self.session_id,
            "new_expires_at": self.expires_at,
            "new_updated_at": self.now,
        }


async def advance_flow(
    conn: Connection, environment_id: str, flow_id: str, step: FlowStep
) -> Row[Any] | None:
    """Move a flow that is neither completed nor ended (None otherwise)."""
    return await _ADVANCE_FLOW.first(conn, **step.parameters(environment_id, flow_id))


async def move_flow(
    conn: Connection, environment_id: str, flow_id: str, step: FlowStep
) -> Row[Any] | None:
    return await _MOVE_FLOW.first(conn, **step.parameters(environment_id, flow_id))


async def take_flow(conn: Connection, environment_id: str, flow_id: str, now: int) -> Any:
    """Delete a flow that has not expired, and answer it (None: ended, or taken first)."""
    return await _TAKE_FLOW.first(conn, in_environment=environment_id, flow_id=flow_id, now=now)


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
    return await _INSERT_SESSION.row(conn, values)


async def session_by_token(
    conn: Connection, environment_id: str, token_hash: str, now: int
) -> Row[Any] | None:
    return await _SESSION_BY_TOKEN.first(
        conn, environment_id=environment_id, token_hash=token_hash, now=now
    )


async def session(conn: Connection, environment_id: str, session_id: str, now: int) -> Any:
    row = await _sessions.get(conn, environment_id, session_id)
    return row if row is not None and row.expires_at > now else None


async def touch_session(conn: Connection, environment_id: str, session_id: str, now: int) -> bool:
    """Mark a session active now; False when it has ended (nothing to touch)."""
    touched = await _TOUCH_SESSION.count(
        conn, in_environment=environment_id, session_id=session_id, new_active_at=now
    )
    return touched > 0


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
    fresh = {"code_used": False, "revoked": False, **values}
    return await _INSERT_GRANT.row(conn, fresh)


async def grant(conn: Connection, environment_id: str, grant_id: str) -> Row[Any] | None:
    return await _grants.get(conn, environment_id, grant_id)


async def use_code(conn: Connection, environment_id: str, code_hash: str) -> Row[Any] | None:
    """Mark a code used, atomically: only one request can; None for every other one."""
    return await _USE_CODE.first(conn, in_environment=environment_id, of_code=code_hash)


async def grant_by_code(conn: Connection, environment_id: str, code_hash: str) -> Row[Any] | None:
    return await _GRANT_BY_CODE.first(conn, environment_id=environment_id, code_hash=code_hash)


async def revoke_grant(conn: Connection, environment_id: str, grant_id: str) -> None:
    await _REVOKE_GRANT.run(conn, in_environment=environment_id, grant_id=grant_id)


async def insert_token(conn: Connection, values: dict[str, Any]) -> None:
    await _INSERT_TOKEN.row(conn, {"used": False, "revoked": False, **values})


async def token(conn: Connection, environment_id: str, key: str) -> Row[Any] | None:
    return await _TOKEN.first(conn, environment_id=environment_id, key=key)


async def use_refresh_token(conn: Connection, environment_id: str, key: str) -> Row[Any] | None:
    """Mark a refresh token used, atomically (rotation): None if it was used already."""
    return await _USE_REFRESH_TOKEN.first(conn, in_environment=environment_id, token_key=key)


async def revoke_token(conn: Connection, environment_id: str, key: str) -> None:
    await _REVOKE_TOKEN.run(conn, in_environment=environment_id, token_key=key)
