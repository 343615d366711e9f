"""User rules, below HTTP: validation, the default population, moves, population-scoped admins.

The import command validates rows with :func:`checked` too, so a row the API would refuse is
refused by the import with the same message.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row

from populace.assignments import rules as assignment_rules
from populace.auth.guard import Access
from populace.errors import ApiError, found, invalid_data, not_found
from populace.groups import rules as group_rules
from populace.groups import store as group_store
from populace.names import checked_text, clean_name
from populace.oauth import store as sign_on_store
from populace.populations import store as population_store
from populace.storage.database import Connection, unique_or
from populace.users import store
from populace.wire import new_id, now_ms

MAX_USERNAME = 128
MAX_EMAIL = 254
MAX_NAME_PART = 256
MAX_EXTERNAL_ID = 1024
# Deliberately loose (as PingOne is): one @, something on each side, a dot in the domain.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_USERNAME_CATEGORY = re.compile(r"[LMNPS].|Zs")


@dataclass(frozen=True, slots=True)
class UserInput:
    username: str
    email: str
    given: str | None = None
    family: str | None = None
    middle: str | None = None
    formatted: str | None = None
    enabled: bool = True  # set on create only: afterwards through .../enabled
    mfa_enabled: bool = False  # set on create only: afterwards through .../mfaEnabled
    population_id: str | None = None
    external_id: str | None = None
    lifecycle_status: str = "ACCOUNT_OK"  # set by an import only
    email_verified: bool = False  # set by an import only
    # The rest of the user, spelled as PingOne spells it: address, locale, nickname, title,
    # type, preferredLanguage, timezone, mobilePhone, primaryPhone, photo, and the name's
    # honorificPrefix and honorificSuffix (under "name").
    profile: dict[str, Any] = field(default_factory=dict)


def _attribute(value: str, target: str, max_length: int) -> str:
    """A user attribute: PingOne's are 1 to ``max_length`` characters (absent, or ``null``,
    is how one is left unset)."""
    if value == "":
        raise invalid_data("INVALID_VALUE", target, f"'{target}' must not be empty.")
    return checked_text(value, target, max_length)


def _text(value: str | None, target: str, max_length: int) -> str | None:
    return None if value is None else _attribute(value, target, max_length)


def _username(value: str) -> str:
    """PingOne's username: 1-128 letters, marks, numbers, punctuation, symbols and spaces
    (its pattern's ``\\p{L}\\p{M}\\p{N}\\p{P}\\p{S}\\p{Zs}``); trimmed. Control, format,
    private-use and unassigned code points are refused."""
    username = clean_name(value, max_length=MAX_USERNAME, target="username")
    if not all(_USERNAME_CATEGORY.match(unicodedata.category(ch)) for ch in username):
        raise invalid_data(
            "INVALID_VALUE",
            "username",
            "'username' may hold only letters, marks, numbers, punctuation, symbols and spaces.",
        )
    return username


# Each profile attribute: its limit, and a pattern it must match in full (or None).
_PROFILE_TEXT: dict[str, tuple[int, re.Pattern[str] | None]] = {
    "locale": (256, None),
    "nickname": (256, None),
    "title": (256, None),
    "type": (256, None),
    "preferredLanguage": (35, re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")),
    "timezone": (64, re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")),
    "mobilePhone": (32, None),
    "primaryPhone": (32, None),
    "name.honorificPrefix": (256, None),
    "name.honorificSuffix": (256, None),
    "address.streetAddress": (256, None),
    "address.locality": (256, None),
    "address.region": (256, None),
    "address.postalCode": (40, None),
    "address.countryCode": (2, re.compile(r"[A-Z]{2}")),
    "photo.href": (2048, re.compile(r"https?://\S+")),
}


def _profile(profile: dict[str, Any]) -> dict[str, Any] | None:
    """Check every profile attribute. None when none is set."""
    kept: dict[str, Any] = {}
    for target, (limit, pattern) in _PROFILE_TEXT.items():
        group, _, leaf = target.rpartition(".")
        holder = profile.get(group) if group else profile
        value = holder.get(leaf) if isinstance(holder, dict) else None
        if value is None:
            continue
        _attribute(value, target, limit)
        if pattern is not None and not pattern.fullmatch(value):
            raise invalid_data("INVALID_VALUE", target, f"'{target}' is not well formed.")
        if group:
            kept.setdefault(group, {})[leaf] = value
        else:
            kept[leaf] = value
    return kept or None


def checked(body: UserInput) -> dict[str, Any]:
    """Validate what needs no database; return the user's column values."""
    username = _username(body.username)
    email = _text(body.email.strip(), "email", MAX_EMAIL)
    if not email or not _EMAIL.fullmatch(email):
        raise invalid_data("INVALID_VALUE", "email", "'email' must be an email address.")
    return {
        "username": username,
        "email": email,
        "name_given": _text(body.given, "name.given", MAX_NAME_PART),
        "name_family": _text(body.family, "name.family", MAX_NAME_PART),
        "name_middle": _text(body.middle, "name.middle", MAX_NAME_PART),
        "name_formatted": _text(body.formatted, "name.formatted", 2 * MAX_NAME_PART),
        "external_id": _text(body.external_id, "externalId", MAX_EXTERNAL_ID),
        "profile": _profile(body.profile),
    }


def duplicate_username() -> ApiError:
    return invalid_data("UNIQUENESS_VIOLATION", "username", "'username' is already in use.")


async def _unique_username(
    conn: Connection, environment_id: str, username: str, except_id: str | None = None
) -> None:
    key = store.username_key(username)
    if await store.usernames_taken(conn, environment_id, [key], except_id=except_id):
        raise duplicate_username()


async def resolve_population(
    conn: Connection, environment_id: str, population_id: str | None
) -> str:
    """The population a new user joins: the one named, else the environment's default."""
    if population_id is None:
        default = await population_store.default_id(conn, environment_id)
        if default is None:
            raise invalid_data(
                "REQUIRED_VALUE",
                "population.id",
                "The environment has no default population; 'population.id' is required.",
            )
        return default
    if await population_store.get(conn, environment_id, population_id) is None:
        raise invalid_data(
            "INVALID_VALUE",
            "population.id",
            "'population.id' names no population of this environment.",
        )
    return population_id


async def create_user(conn: Connection, access: Access, body: UserInput) -> Row[Any]:
    environment_id = access.environment
    values = checked(body)
    # Scope first: a population-scoped admin must not learn which other populations exist.
    if body.population_id is not None:
        access.require(body.population_id)
    population_id = await resolve_population(conn, environment_id, body.population_id)
    access.require(population_id)
    await _unique_username(conn, environment_id, values["username"])
    # Count first: the population row is locked from here on, so it cannot be deleted under us.
    if not await population_store.add_to_count(conn, environment_id, population_id, +1):
        raise not_found()
    at = now_ms()
    with unique_or("username_key", duplicate_username):
        row = await store.insert_user(
            conn,
            {
                **values,
                "environment_id": environment_id,
                "id": new_id(),
                "population_id": population_id,
                "enabled": body.enabled,
                "mfa_enabled": body.mfa_enabled,
                "lifecycle_status": body.lifecycle_status,
                "email_verified": body.email_verified,
                "created_at": at,
                "updated_at": at,
            },
        )
    await group_rules.refresh_dynamic(conn, environment_id, row.id)
    return row


async def read_user(
    conn: Connection, access: Access, user_id: str, *, for_update: bool = False
) -> Row[Any]:
    """A user the actor may act on. Outside a population-scoped actor's populations a user is
    reported as not found, so ids cannot be probed. ``for_update`` (a write to come) locks
    the row, after the lock group writers take (the same order everywhere: no deadlock), and
    refuses a user who holds a role the actor could not grant."""
    if for_update:
        await group_store.lock_dynamic_memberships(conn, access.environment)
    row = await store.get(conn, access.environment, user_id, for_update=for_update)
    if row is None or not access.covers(row.population_id):
        raise not_found()
    if for_update:
        await assignment_rules.may_administer_user(conn, access, user_id)
    return row


async def replace_user(conn: Connection, access: Access, user_id: str, body: UserInput) -> Row[Any]:
    """PUT (and PATCH, merged first) replaces the user's attributes; the population,
    ``enabled`` and ``mfaEnabled`` change only through their own endpoints."""
    row = await read_user(conn, access, user_id, for_update=True)
    values = checked(body)
    if body.population_id is not None and body.population_id != row.population_id:
        raise invalid_data(
            "INVALID_VALUE",
            "population.id",
            "A user's population changes only through PUT .../users/{userID}/population.",
        )
    await _unique_username(conn, access.environment, values["username"], except_id=user_id)
    with unique_or("username_key", duplicate_username):
        stored = await store.replace_user(
            conn, access.environment, user_id, {**values, "updated_at": now_ms()}
        )
    await group_rules.refresh_dynamic(conn, access.environment, user_id)
    return found(stored)


async def set_flag(
    conn: Connection, access: Access, user_id: str, flag: str, value: bool | str
) -> Row[Any]:
    """``enabled``, ``mfa_enabled`` or ``verify_status``, each through its own endpoint."""
    await read_user(conn, access, user_id, for_update=True)
    stored = await store.set_flag(conn, access.environment, user_id, flag, value, now_ms())
    await group_rules.refresh_dynamic(conn, access.environment, user_id)
    if flag == "enabled" and value is False:
        # As in PingOne, a disabled user is signed off: its sessions and tokens end.
        await sign_on_store.end_sessions_of(conn, access.environment, user_id)
    return found(stored)


async def delete_user(conn: Connection, access: Access, user_id: str) -> None:
    row = await read_user(conn, access, user_id, for_update=True)
    await group_store.leave_groups(conn, access.environment, user_id)
    await store.delete_user(conn, access.environment, user_id)
    await population_store.add_to_count(conn, access.environment, row.population_id, -1)


async def move_user(conn: Connection, access: Access, user_id: str, population_id: str) -> Row[Any]:
    """Move a user; both populations' counts change in this transaction. Needs rights on the
    source and on the target population."""
    environment_id = access.environment
    row = await read_user(conn, access, user_id, for_update=True)
    source = row.population_id
    access.require(population_id)  # before existence: no oracle
    if await population_store.get(conn, environment_id, population_id) is None:
        raise invalid_data("INVALID_VALUE", "id", "'id' names no population of this environment.")
    if source == population_id:
        return row
    # Adjust counts in a fixed order, so two opposite moves cannot deadlock.
    for pop, delta in sorted(((source, -1), (population_id, +1))):
        if not await population_store.add_to_count(conn, environment_id, pop, delta):
            raise not_found()
    # As in PingOne, the user leaves the groups of the population it leaves.
    await group_store.leave_groups(conn, environment_id, user_id, population_id=source)
    moved = await store.set_population(conn, environment_id, user_id, population_id, now_ms())
    await group_rules.refresh_dynamic(conn, environment_id, user_id)
    return found(moved)
