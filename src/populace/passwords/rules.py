"""Password rules, below HTTP: setting, changing, checking, locking and unlocking a user's
password under the password policy in force (the user's population's, else the environment's
default).

Hashing takes tens of milliseconds by design, so the rules that hash read in a short read,
hash with no connection held, and write in short transactions of their own: an attempt is
counted (and may lock the password) even though the request then fails.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from populace.auth.guard import Access
from populace.configuration import store as configuration_store
from populace.errors import ApiError, invalid_data, request_limited
from populace.outbox import store as outbox
from populace.passwords import hashing, policy, store
from populace.passwords.hashing import Checked, Hasher, UnsupportedHash
from populace.storage.database import Connection, Database
from populace.users import rules as user_rules
from populace.wire import now_ms

T = TypeVar("T")
DAY_MS = 86_400_000
POLICY_MESSAGE = "User password did not satisfy password policy requirements"


@dataclass(frozen=True, slots=True)
class PasswordState:
    """A user's password as PingOne reports it (``GET .../users/{id}/password``)."""

    user: Any
    stored: Any  # the user_passwords row, or None
    policy: Any  # the password_policies row in force
    now: int

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.policy.settings) if self.policy is not None else {}

    @property
    def seconds_until_unlock(self) -> int | None:
        locked_until = None if self.stored is None else self.stored.locked_until
        if locked_until is None or locked_until <= self.now:
            return None
        return -(-(locked_until - self.now) // 1000)

    @property
    def status(self) -> str:
        if self.stored is None:
            return "NO_PASSWORD"
        if self.seconds_until_unlock is not None:
            return "PASSWORD_LOCKED_OUT"
        if self.stored.must_change:
            return "MUST_CHANGE_PASSWORD"
        max_age = self.settings.get("maxAgeDays")
        if max_age is not None and self.stored.changed_at + max_age * DAY_MS <= self.now:
            return "PASSWORD_EXPIRED"
        return "OK"


async def read_state(conn: Connection, access: Access, user_id: str) -> PasswordState:
    user = await user_rules.read_user(conn, access, user_id)
    return await _state(conn, access.environment, user)


async def _state(conn: Connection, environment_id: str, user: Any) -> PasswordState:
    return PasswordState(
        user,
        await store.get(conn, environment_id, user.id),
        await configuration_store.policy_of_population(conn, environment_id, user.population_id),
        now_ms(),
    )


def _bounded(password: str, target: str) -> str:
    if len(password) > hashing.MAX_PASSWORD_LENGTH or "\x00" in password:
        raise invalid_data(
            "INVALID_VALUE",
            target,
            f"'{target}' must be at most {hashing.MAX_PASSWORD_LENGTH} characters, without NUL.",
        )
    return password


def _profile_values(user: Any) -> list[str]:
    values = [user.username, user.email, user.name_given, user.name_family]
    values += [part for part in user.email.split("@")[:1]]
    return [value for value in values if value]


def _history_window(state: PasswordState) -> tuple[int, int]:
    """The policy's ``history``: how many earlier passwords the rule compares with besides
    the current one (``count - 1``), and the oldest time one of them may have been set."""
    history = state.settings.get("history") or {}
    days = history.get("retentionDays")
    return max(0, history.get("count", 0) - 1), state.now - days * DAY_MS if days else 0


async def _load(db: Database, access: Access, user_id: str) -> tuple[PasswordState, list[str]]:
    """The password state and the hashes the history rule compares with, read in a short
    read that ends before any hashing (a connection is not held while threads hash)."""
    async with db.read() as conn:
        state = await read_state(conn, access, user_id)
        earlier = []
        if state.settings.get("history") and state.stored is not None:
            keep, since = _history_window(state)
            previous = await store.history(conn, access.environment, user_id, keep, since)
            earlier = [state.stored.hash, *previous]
    return state, earlier


async def _policy_failures(
    state: PasswordState, hasher: Hasher, earlier: list[str], password: str, current: str | None
) -> dict[str, str]:
    """What the policy in force finds wrong with ``password``, history included."""
    settings = state.settings
    failed = policy.unsatisfied(settings, password, _profile_values(state.user), current)
    # History last, and only for a password that meets every other rule: otherwise the
    # answer would tell, uncounted, whether a weak guess is the current password.
    if not failed:
        for stored in earlier:
            if (await hasher.check(stored, password)).matches:
                count = len(earlier)
                failed["history"] = f"The password must differ from the last {count}."
                break
    return failed


def _refused(target: str, failed: dict[str, str]) -> ApiError:
    return invalid_data(
        "INVALID_VALUE",
        target,
        POLICY_MESSAGE,
        unsatisfiedRequirements=list(failed),
        **failed,
    )


async def prepare_new(hasher: Hasher, value: str) -> str:
    """A new user's password as it will be stored, made before the create's transaction opens:
    argon2id of a cleartext value (checked against the policy inside it), or a pre-encoded
    value as it is."""
    value = _bounded(value, "password.value")
    if hashing.scheme_of(value) is None:
        return await hasher.hash(value)
    try:
        return hashing.check_imported(value)
    except UnsupportedHash as error:
        raise invalid_data(
            "INVALID_VALUE", "password.value", f"'password.value': {error}."
        ) from None


async def give_new_user(
    conn: Connection, environment_id: str, user: Any, value: str, hashed: str, force_change: bool
) -> None:
    """Store a new user's password (``hashed`` by :func:`prepare_new`), in the create's
    transaction: a cleartext one must meet the policy in force, or the user is not created."""
    if hashing.scheme_of(value) is None:
        state = await _state(conn, environment_id, user)  # a new user has no history
        failed = policy.unsatisfied(state.settings, value, _profile_values(user))
        if failed:
            raise _refused("password.value", failed)
    await store.put(conn, environment_id, user.id, hashed, force_change, now_ms())


async def set_password(
    db: Database,
    access: Access,
    hasher: Hasher,
    user_id: str,
    value: str,
    *,
    force_change: bool,
    bypass_policy: bool = False,
) -> PasswordState:
    """An administrator sets a password: a cleartext one is checked against the policy
    (unless ``bypass_policy``); a pre-encoded one (``{SSHA512}...``) is stored as it is,
    after checking populace can verify it."""
    value = _bounded(value, "value")
    state, earlier = await _load(db, access, user_id)
    if hashing.scheme_of(value) is not None:
        try:
            hashed = hashing.check_imported(value)
        except UnsupportedHash as error:
            raise invalid_data("INVALID_VALUE", "value", f"'value': {error}.") from None
    else:
        if not bypass_policy:
            failed = await _policy_failures(state, hasher, earlier, value, None)
            if failed:
                raise _refused("value", failed)
        hashed = await hasher.hash(value)
    return await _store(db, access, state.user, hashed, force_change)


async def _store(
    db: Database, access: Access, user: Any, hashed: str, must_change: bool
) -> PasswordState:
    async with db.write() as conn:
        await user_rules.read_user(conn, access, user.id, for_update=True)  # gone meanwhile: 404
        state = await _state(conn, access.environment, user)
        keep, since = _history_window(state)
        await store.put(
            conn, access.environment, user.id, hashed, must_change, state.now,
            keep=keep, since=since,
        )  # fmt: skip
        await outbox.discard(conn, access.environment, user.id, RECOVERY_MESSAGE)  # ends a code
        return await _state(conn, access.environment, user)


async def change_password(
    db: Database,
    access: Access,
    hasher: Hasher,
    user_id: str,
    new_password: str,
    current_password: str | None,
) -> PasswordState:
    """``password.reset+json``. With ``currentPassword``, the user's own change: the current
    password must match (a mismatch counts toward the lockout), the new one meets the whole
    policy and the password must be older than ``minAgeDays``. Without it, an administrator's
    reset: not checked against the policy, and the user must change it at the next sign-on."""
    new_password = _bounded(new_password, "newPassword")
    state, earlier = await _load(db, access, user_id)
    if current_password is None:
        return await _store(db, access, state.user, await hasher.hash(new_password), True)
    await _verify(
        db, access, hasher, state, _bounded(current_password, "currentPassword"), "currentPassword"
    )
    min_age = state.settings.get("minAgeDays")
    # A password that must change (an administrator's, or an expired one) may change at once.
    must = state.status in ("MUST_CHANGE_PASSWORD", "PASSWORD_EXPIRED")
    if min_age and not must and state.stored.changed_at + min_age * DAY_MS > state.now:
        raise invalid_data(
            "INVALID_VALUE",
            "newPassword",
            f"The password was changed less than {min_age} day(s) ago and cannot change yet.",
        )
    failed = await _policy_failures(state, hasher, earlier, new_password, current_password)
    if failed:
        raise _refused("newPassword", failed)
    return await _store(db, access, state.user, await hasher.hash(new_password), False)


async def _verify(
    db: Database,
    access: Access,
    hasher: Hasher,
    state: PasswordState,
    password: str,
    target: str,
    then: Callable[[Connection], Awaitable[T]] | None = None,
) -> T | None:
    """The password must match; otherwise 400. Each check is admitted before the hash is
    checked, atomically (every process and every parallel request shares the count): failures
    and checks in flight together never pass the lockout's count, so one past them is answered
    429 unchecked, and the failure that reaches the count locks the password. A match forgets
    the failures, unless the password got locked meanwhile; checks still in flight keep their
    place, so a match never frees room for more guesses than the count.

    A check quicker than a thread hop (:meth:`Hasher.is_quick`) is made in the admitting
    transaction and settled in its commit; any other runs between two transactions, so no
    lock is held while it hashes."""
    environment_id, user_id = access.environment, state.user.id
    if state.stored is None:
        await hasher.check(None, password)  # as long as a real check
        raise invalid_data("INVALID_VALUE", target, "The user has no password.")
    lockout = state.settings.get("lockout") or {}
    limit, duration = lockout.get("failureCount"), lockout.get("durationSeconds", 900)

    async def settle(
        conn: Connection, hashed: str, checked: Checked
    ) -> tuple[T | None, ApiError | None]:
        """The outcome written: the answer, or the error to raise once it is committed."""
        now = now_ms()
        if not checked.matches:
            await store.fail_check(conn, environment_id, user_id, now, limit, now + duration * 1000)
            return None, invalid_data("INVALID_VALUE", target, "The password is not correct.")
        if not await store.clear_attempts(
            conn, environment_id, user_id, now, hashed, checked.upgraded
        ):
            return None, _locked(_seconds_locked(await store.get(conn, environment_id, user_id)))
        # What the match allows is written with the cleared count, in one commit.
        return (None if then is None else await then(conn)), None

    outcome = None
    async with db.write() as conn:
        admitted = await store.admit_check(conn, environment_id, user_id, now_ms(), limit)
        if admitted is None:
            row = await store.get(conn, environment_id, user_id)
            if row is None:  # removed meanwhile
                raise invalid_data("INVALID_VALUE", target, "The user has no password.")
            seconds = _seconds_locked(row)
            raise _locked(seconds) if seconds else _busy(user_id)
        if hasher.is_quick(admitted.hash):
            outcome = await settle(conn, admitted.hash, hasher.check_now(admitted.hash, password))
    if outcome is None:
        checked = await hasher.check(admitted.hash, password)
        async with db.write() as conn:
            outcome = await settle(conn, admitted.hash, checked)
    result, error = outcome
    if error is not None:
        raise error
    return result


def _busy(user_id: str) -> ApiError:
    """As many attempts as the lockout allows are being checked: this one waits its turn."""
    return request_limited(
        "Too many attempts at this user's password are being checked at once; retry.",
        retry_after=1,
        target="password",
    )


def _seconds_locked(row: Any) -> int:
    """How long the password stays locked (whole seconds, rounded up); 0 when it is not."""
    locked_until = None if row is None else row.locked_until
    return max(0, -(-((locked_until or 0) - now_ms()) // 1000))


def _locked(seconds: int) -> ApiError:
    return invalid_data(
        "PASSWORD_LOCKED_OUT",
        "password",
        "The password is locked after too many failed attempts.",
        secondsUntilUnlock=max(1, seconds),
    )


async def check_password(
    db: Database, access: Access, hasher: Hasher, user_id: str, password: str
) -> PasswordState:
    """``password.check+json``: 200 with the state when it matches, else 400."""
    password = _bounded(password, "password")
    state, _ = await _load(db, access, user_id)
    await _verify(db, access, hasher, state, password, "password")
    async with db.read() as conn:
        return await _state(conn, access.environment, state.user)


def _invalid_credentials() -> ApiError:
    return invalid_data(
        "INVALID_CREDENTIALS", "password", "The provided username or password is incorrect."
    )


async def state_of(conn: Connection, environment_id: str, user: Any) -> PasswordState:
    """A user's password state, for a rule that found the user itself (sign-on)."""
    return await _state(conn, environment_id, user)


async def sign_on(
    db: Database,
    access: Access,
    hasher: Hasher,
    state: PasswordState | None,
    password: str,
    then: Callable[[Connection, PasswordState], Awaitable[T]],
) -> T | None:
    """``usernamePassword.check`` in a sign-on flow, ``state`` being the password of the
    user named (None for no such user, or a disabled one): as :func:`check_password`, counted
    toward the lockout, but every mismatch (no such user, no password, a wrong one) is the
    same INVALID_CREDENTIALS, after the same work. On a match, ``then`` runs in the
    transaction that clears the failure count; its result is the answer."""
    if state is None or len(password) > hashing.MAX_PASSWORD_LENGTH:
        await hasher.check(None, password[: hashing.MAX_PASSWORD_LENGTH])  # as long as a check
        raise _invalid_credentials()
    try:
        # A match changes neither the password nor whether it must change: the state read
        # before the check is the state after it.
        return await _verify(
            db, access, hasher, state, _bounded(password, "password"), "password",
            lambda conn: then(conn, state),
        )  # fmt: skip
    except ApiError as error:
        mismatch = error.details and error.details[0].code == "INVALID_VALUE"
        if mismatch or error.status == 404:  # 404: the user went meanwhile
            raise _invalid_credentials() from None
        raise


async def _change_state(db: Database, access: Access, user_id: str, **values: Any) -> PasswordState:
    async with db.write() as conn:
        user = await user_rules.read_user(conn, access, user_id, for_update=True)
        if await store.update_state(conn, access.environment, user_id, **values) is None:
            raise invalid_data("INVALID_VALUE", "password", "The user has no password.")
        return await _state(conn, access.environment, user)


def unlock(db: Database, access: Access, user_id: str) -> Awaitable[PasswordState]:
    """``password.unlock+json``: the failures are forgotten and the lock lifted."""
    return _change_state(db, access, user_id, failed_checks=0, locked_until=None)


def force_change(db: Database, access: Access, user_id: str) -> Awaitable[PasswordState]:
    """``password.forceChange``: the user must change the password at the next sign-on."""
    return _change_state(db, access, user_id, must_change=True)


# Recovery codes: PingOne's are 8 characters, valid 5 minutes, and 5 wrong ones end the code.
RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off an e-mail
RECOVERY_CODE_LENGTH = 8
RECOVERY_SECONDS = 300
RECOVERY_ATTEMPTS = 5
RECOVERY_MESSAGE = "PASSWORD_RECOVERY"


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def send_recovery_code(conn: Connection, access: Access, user_id: str) -> PasswordState:
    """``password.sendRecoveryCode``: a new code for the user, delivered to the outbox (to
    the user's e-mail), unless the user is disabled, has no password or is locked out, as
    PingOne does not send one then. The answer is the same either way."""
    user = await user_rules.read_user(conn, access, user_id, for_update=True)
    state = await _state(conn, access.environment, user)
    if user.enabled and state.status not in ("NO_PASSWORD", "PASSWORD_LOCKED_OUT"):
        code = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        expires_at = state.now + RECOVERY_SECONDS * 1000
        await store.start_recovery(conn, access.environment, user.id, _code_hash(code), expires_at)
        await outbox.discard(conn, access.environment, user.id, RECOVERY_MESSAGE)
        await outbox.deliver(
            conn, access.environment, user.id, RECOVERY_MESSAGE, user.email,
            {"recoveryCode": code}, at=state.now, expires_at=expires_at,
        )  # fmt: skip
    return state


async def recover(
    db: Database, access: Access, hasher: Hasher, user_id: str, code: str, new_password: str
) -> PasswordState:
    """``password.recover+json``: the code sent last, within its five minutes, sets a new
    password that meets the whole policy (and lifts a lockout). Every try is counted before
    the code is compared, in one statement, so no more than five are ever compared."""
    new_password = _bounded(new_password, "newPassword")
    state, earlier = await _load(db, access, user_id)
    async with db.write() as conn:
        attempt = await store.count_recovery_attempt(
            conn, access.environment, user_id, now_ms(), RECOVERY_ATTEMPTS
        )
    if attempt is None:
        raise invalid_data(
            "INVALID_VALUE",
            "recoveryCode",
            "No recovery code is valid: none was sent, it expired, or the maximum password "
            "recovery failures exceeded.",
        )
    if not hmac.compare_digest(attempt.recovery_hash, _code_hash(code)):
        raise invalid_data("INVALID_VALUE", "recoveryCode", "The recovery code is not correct.")
    failed = await _policy_failures(state, hasher, earlier, new_password, None)
    if failed:
        async with db.write() as conn:
            await store.uncount_recovery_attempt(
                conn, access.environment, user_id, attempt.recovery_hash
            )
        raise _refused("newPassword", failed)
    hashed = await hasher.hash(new_password)
    async with db.write() as conn:
        if not await store.end_recovery(conn, access.environment, user_id, attempt.recovery_hash):
            raise invalid_data(
                "INVALID_VALUE", "recoveryCode", "The recovery code was replaced or used."
            )
    return await _store(db, access, state.user, hashed, False)
