"""User rules, below HTTP: validation, default population, moves, population-scoped admins.

The import command validates rows with :func:`checked` too, so a row the API would refuse is
refused by the import with the same message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError

from populace.auth.roles import Actor, Permission
from populace.environments.rules import authorize_population_scope
from populace.errors import ApiError, forbidden, invalid_data, not_found
from populace.populations import store as population_store
from populace.storage.database import Connection, violates
from populace.users import store
from populace.wire import new_id, now_ms

MAX_USERNAME = 128
MAX_EMAIL = 254
MAX_NAME_PART = 256
# Deliberately loose (as PingOne is): one @, something on each side, a dot in the domain.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class UserInput:
    username: str
    email: str
    given: str | None = None
    family: str | None = None
    middle: str | None = None
    formatted: str | None = None
    enabled: bool = True
    population_id: str | None = None


def _text(value: str | None, target: str, max_length: int) -> str | None:
    if value is None:
        return None
    if len(value) > max_length:
        raise invalid_data(
            "SIZE_LIMIT_EXCEEDED",
            target,
            f"'{target}' must be at most {max_length} characters.",
            maximumValue=max_length,
        )
    if any(ord(ch) < 0x20 for ch in value):
        raise invalid_data(
            "INVALID_VALUE", target, f"'{target}' must not contain control characters."
        )
    return value


def checked(body: UserInput) -> dict[str, Any]:
    """Validate what needs no database; return the user's column values."""
    username = _text(body.username, "username", MAX_USERNAME)
    if not username or not username.strip():
        raise invalid_data("EMPTY_VALUE", "username", "'username' must not be empty.")
    email = _text(body.email.strip(), "email", MAX_EMAIL)
    if not email or not _EMAIL.match(email):
        raise invalid_data("INVALID_VALUE", "email", "'email' must be an email address.")
    return {
        "username": username,
        "email": email,
        "name_given": _text(body.given, "name.given", MAX_NAME_PART),
        "name_family": _text(body.family, "name.family", MAX_NAME_PART),
        "name_middle": _text(body.middle, "name.middle", MAX_NAME_PART),
        "name_formatted": _text(body.formatted, "name.formatted", 2 * MAX_NAME_PART),
        "enabled": body.enabled,
    }


def duplicate_username() -> ApiError:
    return invalid_data("UNIQUENESS_VIOLATION", "username", "'username' is already in use.")


async def resolve_population(
    conn: Connection, environment_id: str, population_id: str | None
) -> str:
    """The population a new user joins: the one named, else the environment's default."""
    if population_id is None:
        default = await store.default_population_id(conn, environment_id)
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


def _require_in_scope(scope: set[str] | None, population_id: str) -> None:
    if scope is not None and population_id not in scope:
        raise forbidden()


async def create_user(conn: Connection, actor: Actor, environment_id: str, body: UserInput) -> str:
    scope = await authorize_population_scope(conn, actor, Permission.USER_CREATE, environment_id)
    values = checked(body)
    # Scope first: a population-scoped admin must not learn which other populations exist.
    if body.population_id is not None:
        _require_in_scope(scope, body.population_id)
    population_id = await resolve_population(conn, environment_id, body.population_id)
    _require_in_scope(scope, population_id)
    if await store.usernames_taken(conn, environment_id, [values["username"].casefold()]):
        raise duplicate_username()
    user_id, at = new_id(), now_ms()
    # Count first: the population row is locked from here on, so it cannot be deleted under us.
    if not await store.add_to_count(conn, environment_id, population_id, +1):
        raise not_found()
    try:
        async with conn.begin_nested():
            await store.insert_users(
                conn,
                [
                    {
                        **values,
                        "environment_id": environment_id,
                        "id": user_id,
                        "population_id": population_id,
                        "created_at": at,
                        "updated_at": at,
                    }
                ],
            )
    except IntegrityError as error:
        if not violates(error, "username_key"):
            raise
        raise duplicate_username() from None
    return user_id


async def _visible_user(
    conn: Connection,
    actor: Actor,
    permission: Permission,
    environment_id: str,
    user_id: str,
    *,
    for_update: bool = False,
) -> tuple[Row[Any], set[str] | None]:
    """A user the actor may act on. Outside a population-scoped actor's populations a user is
    reported as not found, so ids cannot be probed."""
    scope = await authorize_population_scope(
        conn, actor, permission, environment_id, check_environment=False
    )
    row = await store.get(conn, environment_id, user_id, for_update=for_update)
    if row is None or (scope is not None and row.population_id not in scope):
        raise not_found()
    return row, scope


async def read_user(conn: Connection, actor: Actor, environment_id: str, user_id: str) -> Row[Any]:
    row, _ = await _visible_user(conn, actor, Permission.USER_READ, environment_id, user_id)
    return row


async def replace_user(
    conn: Connection, actor: Actor, environment_id: str, user_id: str, body: UserInput
) -> None:
    """PUT replaces the user's attributes; the population changes only through a move."""
    row, _ = await _visible_user(
        conn, actor, Permission.USER_UPDATE, environment_id, user_id, for_update=True
    )
    values = checked(body)
    if body.population_id is not None and body.population_id != row.population_id:
        raise invalid_data(
            "INVALID_VALUE",
            "population.id",
            "A user's population changes only through PUT .../users/{userID}/population.",
        )
    if await store.usernames_taken(
        conn, environment_id, [values["username"].casefold()], except_id=user_id
    ):
        raise duplicate_username()
    try:
        async with conn.begin_nested():
            await store.update_user(
                conn, environment_id, user_id, {**values, "updated_at": now_ms()}
            )
    except IntegrityError as error:
        if not violates(error, "username_key"):
            raise
        raise duplicate_username() from None


async def delete_user(conn: Connection, actor: Actor, environment_id: str, user_id: str) -> None:
    row, _ = await _visible_user(
        conn, actor, Permission.USER_DELETE, environment_id, user_id, for_update=True
    )
    await store.delete_user(conn, environment_id, user_id)
    await store.add_to_count(conn, environment_id, row.population_id, -1)


async def move_user(
    conn: Connection, actor: Actor, environment_id: str, user_id: str, population_id: str
) -> None:
    """Move a user; both populations' counts change in this transaction. Needs rights on the
    source and on the target population."""
    row, scope = await _visible_user(
        conn, actor, Permission.USER_UPDATE, environment_id, user_id, for_update=True
    )
    source = row.population_id
    _require_in_scope(scope, population_id)  # before existence: no oracle
    if await population_store.get(conn, environment_id, population_id) is None:
        raise invalid_data("INVALID_VALUE", "id", "'id' names no population of this environment.")
    if source == population_id:
        return
    # Adjust counts in a fixed order, so two opposite moves cannot deadlock.
    for pop, delta in sorted(((source, -1), (population_id, +1))):
        if not await store.add_to_count(conn, environment_id, pop, delta):
            raise not_found()
    await store.set_population(conn, environment_id, user_id, population_id, now_ms())
