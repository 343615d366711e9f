"""Password policy rules, below HTTP: what a policy may say, the one default per environment,
and the references populations hold to policies.

An environment always has exactly one default policy (the one a population without its own
policy uses): a policy becomes the default by being made so, never by the default being
unset, and the default one cannot be deleted. A policy a population names cannot be deleted
either; the policy's row lock makes that hold against a population written meanwhile.
"""

from __future__ import annotations

from typing import Any

from populace.auth.guard import Access
from populace.configuration import store
from populace.configuration.wire import PasswordPolicyBody
from populace.environments import store as environment_store
from populace.errors import ApiError, constraint_violation, found, invalid_data, not_found
from populace.names import clean_description, clean_name
from populace.passwords.hashing import MAX_PASSWORD_LENGTH
from populace.passwords.policy import CHARACTER_CLASSES, SEQUENCE_RULES
from populace.storage.database import Connection, unique_or
from populace.wire import new_id, now_ms

MIN_LENGTH_RANGE = (8, 32)  # PingOne's bounds for ``length.min``
# ``maxAgeDays`` must exceed ``minAgeDays`` by more than this many days.
AGE_GAP_DAYS = 21
# Bounds of the counters, wide enough for any real policy, narrow enough that no arithmetic on
# them (lockout durations in milliseconds, ages in days) can overflow a column.
MAX_COUNT = 10_000
# Every change of a password checks it against this many stored hashes, one argon2id check
# each (a third of a second at the default cost): "Standard" keeps 6.
MAX_HISTORY = 24
MAX_DAYS = 36_500
MAX_SECONDS = 10 * 365 * 86_400


def _duplicate_name() -> ApiError:
    return invalid_data(
        "UNIQUENESS_VIOLATION", "name", "'name' is already used by another password policy."
    )


def _within(value: int | None, target: str, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise invalid_data(
            "INVALID_VALUE",
            target,
            f"'{target}' must be from {low} to {high}.",
            minimumValue=low,
            maximumValue=high,
        )


def _checked_settings(body: PasswordPolicyBody) -> dict[str, Any]:
    """The body's rules, each within PingOne's bounds, as they are stored."""
    low, high = (body.length.min, body.length.max) if body.length else (None, None)
    _within(low, "length.min", *MIN_LENGTH_RANGE)
    _within(high, "length.max", low or 1, MAX_PASSWORD_LENGTH)
    for alphabet, count in (body.min_characters or {}).items():
        if alphabet not in CHARACTER_CLASSES:
            raise invalid_data(
                "INVALID_VALUE",
                "minCharacters",
                "The keys of 'minCharacters' are the character classes "
                + ", ".join(f"'{name}'" for name in CHARACTER_CLASSES)
                + ".",
            )
        _within(count, f"minCharacters.{alphabet}", 1, high or MAX_PASSWORD_LENGTH)
    _within(body.max_repeated_characters, "maxRepeatedCharacters", 1, MAX_PASSWORD_LENGTH)
    _within(body.min_unique_characters, "minUniqueCharacters", 1, high or MAX_PASSWORD_LENGTH)
    _within(body.min_complexity, "minComplexity", 1, MAX_DAYS)
    if body.history:
        _within(body.history.count, "history.count", 1, MAX_HISTORY)
        _within(body.history.retention_days, "history.retentionDays", 1, MAX_DAYS)
    if body.lockout:
        _within(body.lockout.failure_count, "lockout.failureCount", 1, MAX_COUNT)
        _within(body.lockout.duration_seconds, "lockout.durationSeconds", 1, MAX_SECONDS)
    _within(body.min_age_days, "minAgeDays", 1, MAX_DAYS)
    _within(body.max_age_days, "maxAgeDays", (body.min_age_days or 0) + AGE_GAP_DAYS + 1, MAX_DAYS)
    settings = body.settings()
    for key, (rule_low, rule_high, _) in SEQUENCE_RULES.items():
        if key in settings:
            _within(settings[key]["maxLength"], f"{key}.maxLength", rule_low, rule_high)
    return settings


async def _validated(
    conn: Connection, environment_id: str, body: PasswordPolicyBody, except_id: str | None = None
) -> dict[str, Any]:
    name = clean_name(body.name)
    values = {
        "name": name,
        "description": clean_description(body.description),
        "is_default": body.default,
        "settings": _checked_settings(body),
    }
    if await store.policy_name_taken(conn, environment_id, name, except_id):
        raise _duplicate_name()
    return values


async def _write(
    conn: Connection, environment_id: str, policy_id: str, values: dict[str, Any], insert: bool
) -> Any:
    """Insert or update, then read the policy back as stored. ``default: true`` takes the
    flag from every other policy under the environment lock, so exactly one stays default."""
    if values["is_default"]:
        await environment_store.lock(conn, environment_id)
        await store.clear_default_policy(conn, environment_id, except_id=policy_id)
    with unique_or("name_key", _duplicate_name):
        if insert:
            await store.insert_policy(conn, values)
        elif not await store.update_policy(conn, environment_id, policy_id, values):
            raise not_found()
    return await store.get_policy(conn, environment_id, policy_id)


async def create_policy(conn: Connection, access: Access, body: PasswordPolicyBody) -> Any:
    environment_id, policy_id, at = access.environment, new_id(), now_ms()
    values = await _validated(conn, environment_id, body)
    values.update(environment_id=environment_id, id=policy_id, created_at=at, updated_at=at)
    return await _write(conn, environment_id, policy_id, values, insert=True)


async def read_policy(conn: Connection, access: Access, policy_id: str) -> Any:
    return found(await store.get_policy(conn, access.environment, policy_id))


async def replace_policy(
    conn: Connection, access: Access, policy_id: str, body: PasswordPolicyBody
) -> Any:
    """PUT: a full replace; a rule the body omits is no longer enforced."""
    environment_id = access.environment
    if body.default:
        # The environment first, as a create does: both then take the other policies' rows
        # in the same order (no deadlock).
        await environment_store.lock(conn, environment_id)
    current = await store.lock_policy(conn, environment_id, policy_id, to_delete=False)
    if current is None:
        raise not_found()
    if current.is_default and not body.default:
        raise invalid_data(
            "INVALID_VALUE",
            "default",
            "An environment always has a default password policy: make another policy the "
            "default instead.",
        )
    values = await _validated(conn, environment_id, body, except_id=policy_id)
    values["updated_at"] = now_ms()
    return await _write(conn, environment_id, policy_id, values, insert=False)


async def delete_policy(conn: Connection, access: Access, policy_id: str) -> None:
    environment_id = access.environment
    policy = await store.lock_policy(conn, environment_id, policy_id, to_delete=True)
    if policy is None:
        raise not_found()
    if policy.is_default:
        raise constraint_violation("Default Password Policy can not be deleted.")
    counted = await store.get_policy(conn, environment_id, policy_id)
    if counted.population_count:
        raise constraint_violation(
            "The request could not be completed. The password policy is used by "
            f"{counted.population_count} population(s); assign them another policy first."
        )
    await store.delete_policy(conn, environment_id, policy_id)
