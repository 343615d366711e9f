"""The ``user_passwords`` and ``password_history`` tables: every statement on them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Row, bindparam, case, delete, func, insert, select, update

from populace.storage.database import Connection
from populace.storage.prepared import Prepared, PreparedWrite
from populace.storage.schema import password_history, user_passwords
from populace.wire import new_id

pw = user_passwords.c
h = password_history.c


def _of(environment_id: str, user_id: str) -> Any:
    return (pw.environment_id == environment_id) & (pw.user_id == user_id)


# Prepared once: every password check runs these (``storage/prepared.py`` says why). Their
# parameters cannot take a column's own name in an UPDATE.
_ONE = (pw.environment_id == bindparam("in_environment")) & (pw.user_id == bindparam("of_user"))
_UNLOCKED = pw.locked_until.is_(None) | (pw.locked_until <= bindparam("now"))
_GET = Prepared(select(user_passwords).where(_ONE))


# Checks in flight with no attempt admitted for this long have no check behind them (a
# process died mid-check): longer than any check takes.
STALE_ATTEMPTS_MS = 60_000
_STALE = func.coalesce(pw.last_attempt_at, 0) < bindparam("stale_before")
_IN_FLIGHT = case((_STALE, 0), else_=pw.checks_in_flight)


def _admitting(limited: bool) -> PreparedWrite:
    """One more check admitted (see :func:`admit_check`), with or without a lockout's room."""
    statement = update(user_passwords).where(_ONE, _UNLOCKED)
    if limited:
        # Failures past the count (the policy lowered it) leave room for one: it locks if wrong.
        failures = case(
            (pw.failed_checks < bindparam("limit"), pw.failed_checks),
            else_=bindparam("last_failure", type_=Integer),
        )
        statement = statement.where(failures + _IN_FLIGHT < bindparam("limit"))
    return PreparedWrite(
        statement.values(
            checks_in_flight=_IN_FLIGHT + 1, last_attempt_at=bindparam("now"), locked_until=None
        ).returning(*user_passwords.c)
    )


_ADMIT, _ADMIT_LIMITED = _admitting(False), _admitting(True)
_DECIDED = case((pw.checks_in_flight > 0, pw.checks_in_flight - 1), else_=0)
# A wrong check: one more failure, and the one that reaches the lockout's count locks (its
# count starts again). A password locked meanwhile keeps the lock's count.
_REACHES = _UNLOCKED & (pw.failed_checks + 1 >= bindparam("limit"))
_FAIL = PreparedWrite(
    update(user_passwords)
    .where(_ONE)
    .values(
        checks_in_flight=_DECIDED,
        failed_checks=case(
            (_REACHES, 0), (_UNLOCKED, pw.failed_checks + 1), else_=pw.failed_checks
        ),
        locked_until=case((_REACHES, bindparam("lock_until")), else_=pw.locked_until),
    )
)
_CLEAR = PreparedWrite(
    update(user_passwords)
    .where(_ONE, _UNLOCKED, pw.hash == bindparam("checked_hash"))
    .values(failed_checks=0, checks_in_flight=_DECIDED)
)
_CLEAR_UPGRADING = PreparedWrite(
    update(user_passwords)
    .where(_ONE, _UNLOCKED, pw.hash == bindparam("checked_hash"))
    .values(failed_checks=0, checks_in_flight=_DECIDED, hash=bindparam("upgraded"))
)
_DECIDE = PreparedWrite(update(user_passwords).where(_ONE).values(checks_in_flight=_DECIDED))


async def get(conn: Connection, environment_id: str, user_id: str) -> Row[Any] | None:
    return await _GET.first(conn, in_environment=environment_id, of_user=user_id)


async def put(
    conn: Connection,
    environment_id: str,
    user_id: str,
    hashed: str,
    must_change: bool,
    at: int,
    *,
    keep: int = 0,
    since: int = 0,
) -> None:
    """Set a user's password (failures and lock cleared). The earlier one joins its history,
    of which only the ``keep`` newest set at ``since`` or later are kept (the policy's
    ``history``): nothing older than the policy asks for is stored."""
    current = await get(conn, environment_id, user_id)
    values = {
        "hash": hashed,
        "must_change": must_change,
        "changed_at": at,
        "failed_checks": 0,
        "locked_until": None,
        # A new password ends a recovery in progress: its code would set another.
        "recovery_hash": None,
        "recovery_expires_at": None,
        "recovery_failures": 0,
    }
    if current is None:
        await conn.execute(
            insert(user_passwords).values(environment_id=environment_id, user_id=user_id, **values)
        )
        return
    if keep:
        await conn.execute(
            insert(password_history).values(
                environment_id=environment_id,
                user_id=user_id,
                id=new_id(),
                hash=current.hash,
                changed_at=current.changed_at,
            )
        )
    await conn.execute(update(user_passwords).where(_of(environment_id, user_id)).values(values))
    await _trim_history(conn, environment_id, user_id, keep, since)


async def _trim_history(
    conn: Connection, environment_id: str, user_id: str, keep: int, since: int
) -> None:
    mine = (h.environment_id == environment_id) & (h.user_id == user_id)
    newest = select(h.id).where(mine, h.changed_at >= since).order_by(h.changed_at.desc())
    await conn.execute(delete(password_history).where(mine, h.id.not_in(newest.limit(keep))))


async def update_state(
    conn: Connection, environment_id: str, user_id: str, **values: Any
) -> Row[Any] | None:
    statement = (
        update(user_passwords)
        .where(_of(environment_id, user_id))
        .values(values)
        .returning(*user_passwords.c)
    )
    return (await conn.execute(statement)).first()


async def admit_check(
    conn: Connection, environment_id: str, user_id: str, now: int, limit: int | None
) -> Row[Any] | None:
    """One more check of the password admitted, in one statement (every process and request
    shares the count): the row, or None when the password is locked, gone, or has as many
    checks failed and in flight as the lockout's ``limit`` allows."""
    one = {"in_environment": environment_id, "of_user": user_id, "now": now}
    stale_before = now - STALE_ATTEMPTS_MS
    if not limit:
        return await _ADMIT.first(conn, **one, stale_before=stale_before)
    return await _ADMIT_LIMITED.first(
        conn, **one, stale_before=stale_before, limit=limit, last_failure=limit - 1
    )


async def fail_check(
    conn: Connection,
    environment_id: str,
    user_id: str,
    now: int,
    limit: int | None,
    lock_until: int,
) -> None:
    """An admitted check was wrong: it counts as a failure, and the one that reaches ``limit``
    locks the password until ``lock_until``."""
    await _FAIL.count(
        conn,
        in_environment=environment_id,
        of_user=user_id,
        now=now,
        # No lockout: a count no failure reaches.
        limit=limit or 2**31 - 1,
        lock_until=lock_until,
    )


async def clear_attempts(
    conn: Connection,
    environment_id: str,
    user_id: str,
    now: int,
    checked_hash: str,
    upgraded: str | None,
) -> bool:
    """An admitted check matched: the failures are forgotten, and an upgraded hash replaces
    the one checked, unless the password was locked or changed meanwhile (False when locked)."""
    one = {"in_environment": environment_id, "of_user": user_id, "now": now}
    if upgraded:
        changed = await _CLEAR_UPGRADING.count(
            conn, **one, checked_hash=checked_hash, upgraded=upgraded
        )
    else:
        changed = await _CLEAR.count(conn, **one, checked_hash=checked_hash)
    if changed:  # it was unlocked: the statement says so
        return True
    await _DECIDE.count(conn, in_environment=environment_id, of_user=user_id)
    row = await get(conn, environment_id, user_id)
    return row is not None and (row.locked_until is None or row.locked_until <= now)


async def history(
    conn: Connection, environment_id: str, user_id: str, newest: int, since: int
) -> list[str]:
    """The hashes of the user's ``newest`` earlier passwords set at ``since`` or later,
    newest first."""
    query = (
        select(h.hash)
        .where(h.environment_id == environment_id, h.user_id == user_id, h.changed_at >= since)
        .order_by(h.changed_at.desc())
        .limit(newest)
    )
    return list((await conn.scalars(query)).all())


async def start_recovery(
    conn: Connection, environment_id: str, user_id: str, code_hash: str, expires_at: int
) -> None:
    """A new recovery code replaces any earlier one, with no failures against it yet."""
    await conn.execute(
        update(user_passwords)
        .where(_of(environment_id, user_id))
        .values(recovery_hash=code_hash, recovery_expires_at=expires_at, recovery_failures=0)
    )


async def count_recovery_attempt(
    conn: Connection, environment_id: str, user_id: str, now: int, limit: int
) -> Row[Any] | None:
    """One more try of the user's recovery code, counted in one statement (every process
    shares the count); None when there is no code to try: none sent, expired, or tried
    ``limit`` times already."""
    statement = (
        update(user_passwords)
        .where(
            _of(environment_id, user_id),
            pw.recovery_hash.is_not(None),
            pw.recovery_expires_at > now,
            pw.recovery_failures < limit,
        )
        .values(recovery_failures=pw.recovery_failures + 1)
        .returning(*user_passwords.c)
    )
    return (await conn.execute(statement)).first()


async def uncount_recovery_attempt(
    conn: Connection, environment_id: str, user_id: str, code_hash: str
) -> None:
    """Take back a try that had the right code (the new password was refused): only wrong
    codes use up the code."""
    await conn.execute(
        update(user_passwords)
        .where(
            _of(environment_id, user_id),
            pw.recovery_hash == code_hash,
            pw.recovery_failures > 0,
        )
        .values(recovery_failures=pw.recovery_failures - 1)
    )


async def end_recovery(conn: Connection, environment_id: str, user_id: str, code_hash: str) -> bool:
    """The code is used up; False when it was replaced or ended meanwhile."""
    result = await conn.execute(
        update(user_passwords)
        .where(_of(environment_id, user_id), pw.recovery_hash == code_hash)
        .values(recovery_hash=None, recovery_expires_at=None, recovery_failures=0)
    )
    return result.rowcount == 1
