"""Passwords on the wire: the operation bodies (one per Content-Type) and the password state."""

from __future__ import annotations

from typing import Any

import msgspec

from populace.wire import UNSET, Links, Ref, UnsetType, Urls, iso_ms

# PingOne's media types, one per operation on ``.../users/{userID}/password``.
SET = "application/vnd.pingidentity.password.set+json"
RESET = "application/vnd.pingidentity.password.reset+json"
CHECK = "application/vnd.pingidentity.password.check+json"
UNLOCK = "application/vnd.pingidentity.password.unlock+json"
FORCE_CHANGE = "application/vnd.pingidentity.password.forceChange"
SEND_RECOVERY_CODE = "application/vnd.pingidentity.password.sendRecoveryCode"
RECOVER = "application/vnd.pingidentity.password.recover+json"


class PasswordSet(msgspec.Struct, kw_only=True, rename="camel"):
    value: str
    force_change: bool = False
    bypass_policy: bool = False


class PasswordReset(msgspec.Struct, kw_only=True, rename="camel"):
    new_password: str
    current_password: str | None = None


class PasswordRecover(msgspec.Struct, kw_only=True, rename="camel"):
    recovery_code: str
    new_password: str


class PasswordCheck(msgspec.Struct):
    password: str


class PasswordState(msgspec.Struct, kw_only=True, rename="camel"):
    links: Links = msgspec.field(name="_links")
    environment: Ref
    user: Ref
    password_policy: Ref | UnsetType = UNSET
    status: str
    last_changed_at: str | UnsetType = UNSET
    seconds_until_unlock: int | UnsetType = UNSET


def password_state_json(urls: Urls, state: Any) -> PasswordState:
    """``state``: a ``passwords.rules.PasswordState``."""
    user, stored, policy = state.user, state.stored, state.policy
    path = f"/users/{user.id}"
    links = {
        "self": urls.environment(user.environment_id, f"{path}/password"),
        "user": urls.environment(user.environment_id, path),
    }
    if policy is not None:
        links["passwordPolicy"] = urls.environment(
            user.environment_id, f"/passwordPolicies/{policy.id}"
        )
    unlock = state.seconds_until_unlock
    return PasswordState(
        links=links,
        environment=Ref(user.environment_id),
        user=Ref(user.id),
        password_policy=UNSET if policy is None else Ref(policy.id),
        status=state.status,
        last_changed_at=UNSET if stored is None else iso_ms(stored.changed_at),
        seconds_until_unlock=UNSET if unlock is None else unlock,
    )
