"""HTTP: ``.../users/{userID}/password``, one path whose operation the Content-Type picks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from populace.auth.roles import Permission as P
from populace.http.dispatch import Call
from populace.http.router import ApiRouter
from populace.passwords import rules
from populace.passwords.wire import (
    CHECK,
    FORCE_CHANGE,
    RECOVER,
    RESET,
    SEND_RECOVERY_CODE,
    SET,
    UNLOCK,
    PasswordCheck,
    PasswordRecover,
    PasswordReset,
    PasswordSet,
    PasswordState,
    password_state_json,
)

router = ApiRouter("Passwords")

PASSWORD = "/environments/{envID}/users/{userID}/password"


async def _hashing(
    call: Call[Any],
    operation: Callable[..., Awaitable[rules.PasswordState]],
    *args: Any,
    **options: Any,
) -> PasswordState:
    """An operation that may hash or check a password: it opens its own transactions around
    the hashing (``own_writes``), so it takes the database and the hasher, not a connection."""
    services = call.services
    state = await operation(
        services.db, call.access, services.hasher, call.param("userID"), *args, **options
    )
    return password_state_json(call.urls, state)


@router.get(PASSWORD, P.USER_READ, partial=True)
async def read_password_state(call: Call[None]) -> PasswordState:
    """Read a user's password state."""
    state = await rules.read_state(call.conn, call.access, call.param("userID"))
    return password_state_json(call.urls, state)


@router.put(PASSWORD, P.PASSWORD_SET, partial=True, media_type=SET, own_writes=True)
async def set_password(call: Call[PasswordSet]) -> PasswordState:
    """Set a user's password (an administrator's)."""
    body = call.body
    return await _hashing(
        call, rules.set_password, body.value,
        force_change=body.force_change, bypass_policy=body.bypass_policy,
    )  # fmt: skip


@router.put(PASSWORD, P.PASSWORD_SET, partial=True, media_type=RESET, own_writes=True)
async def reset_password(call: Call[PasswordReset]) -> PasswordState:
    """Change a user's password (with the current one), or reset it (without)."""
    body = call.body
    return await _hashing(call, rules.change_password, body.new_password, body.current_password)


@router.post(
    PASSWORD, P.PASSWORD_CHECK, partial=True, media_type=CHECK, own_writes=True, status=200
)
async def check_password(call: Call[PasswordCheck]) -> PasswordState:
    """Check a user's password."""
    return await _hashing(call, rules.check_password, call.body.password)


@router.post(PASSWORD, P.PASSWORD_SET, partial=True, media_type=UNLOCK, own_writes=True, status=200)
async def unlock_password(call: Call[None]) -> PasswordState:
    """Unlock a user's password locked by failed checks."""
    state = await rules.unlock(call.services.db, call.access, call.param("userID"))
    return password_state_json(call.urls, state)


@router.post(
    PASSWORD, P.PASSWORD_SET, partial=True, media_type=FORCE_CHANGE, own_writes=True, status=200
)
async def force_password_change(call: Call[None]) -> PasswordState:
    """Make a user change the password at the next sign-on."""
    state = await rules.force_change(call.services.db, call.access, call.param("userID"))
    return password_state_json(call.urls, state)


@router.post(PASSWORD, P.PASSWORD_SET, partial=True, media_type=SEND_RECOVERY_CODE, status=200)
async def send_recovery_code(call: Call[None]) -> PasswordState:
    """Send the user a password recovery code (to populace's outbox: ``/_populace``)."""
    state = await rules.send_recovery_code(call.conn, call.access, call.param("userID"))
    return password_state_json(call.urls, state)


@router.post(
    PASSWORD, P.PASSWORD_SET, partial=True, media_type=RECOVER, own_writes=True, status=200
)
async def recover_password(call: Call[PasswordRecover]) -> PasswordState:
    """Set a new password with the recovery code the user was sent."""
    body = call.body
    return await _hashing(call, rules.recover, body.recovery_code, body.new_password)
