"""Population rules, below HTTP: validation, the one-default invariant, the delete constraints.

Every rule takes the :class:`Access` the guard granted; the HTTP handlers, and any other caller,
go through these functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from populace.assignments import store as assignment_store
from populace.auth.guard import Access
from populace.configuration import store as configuration
from populace.environments import store as environment_store
from populace.errors import constraint_violation, found, invalid_data, not_found
from populace.groups import store as group_store
from populace.names import clean_description, clean_name, duplicate_name, text_key
from populace.populations import store
from populace.storage.database import Connection, unique_or
from populace.wire import new_id, now_ms

MAX_ALTERNATIVE_IDENTIFIERS = 100
MAX_IDENTIFIER_LENGTH = 256
# BCP 47 language tags as PingOne uses them: "en", "fr-CA", "zh-Hant-TW"; at most 35
# characters (the column's size, and RFC 5646's longest useful tag).
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
MAX_LANGUAGE_TAG = 35


@dataclass(frozen=True, slots=True)
class PopulationInput:
    """What a client may set on a population (POST and PUT alike: PUT replaces it all)."""

    name: str
    description: str | None = None
    default: bool = False
    password_policy_id: str | None = None
    theme_id: str | None = None
    preferred_language: str | None = None
    alternative_identifiers: list[str] | None = None


def _language(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_LANGUAGE_TAG or not _LANGUAGE_TAG.fullmatch(value):
        raise invalid_data(
            "INVALID_VALUE",
            "preferredLanguage",
            "'preferredLanguage' must be a language tag such as 'en' or 'fr-CA'.",
        )
    return value


def _alternative_identifiers(values: list[str] | None) -> list[str] | None:
    """At most 100 strings of 1-256 characters; case-insensitive duplicates collapse."""
    if values is None:
        return None
    target = "alternativeIdentifiers"
    kept: dict[str, str] = {}
    for raw in values:
        value = raw.strip()
        if not 1 <= len(value) <= MAX_IDENTIFIER_LENGTH:
            raise invalid_data(
                "INVALID_VALUE",
                target,
                f"Each of '{target}' must be 1-{MAX_IDENTIFIER_LENGTH} characters.",
            )
        if any(ord(ch) < 0x20 for ch in value):
            raise invalid_data(
                "INVALID_VALUE", target, f"'{target}' must not hold control characters."
            )
        kept.setdefault(text_key(value), value)
    if len(kept) > MAX_ALTERNATIVE_IDENTIFIERS:
        raise invalid_data(
            "SIZE_LIMIT_EXCEEDED",
            target,
            f"'{target}' holds at most {MAX_ALTERNATIVE_IDENTIFIERS} identifiers.",
            maximumValue=MAX_ALTERNATIVE_IDENTIFIERS,
        )
    return list(kept.values())


async def _validated(
    conn: Connection, environment_id: str, body: PopulationInput, except_id: str | None = None
) -> dict[str, Any]:
    """Check a whole body and turn it into column values; nothing is written on failure."""
    name = clean_name(body.name)
    values: dict[str, Any] = {
        "name": name,
        "description": clean_description(body.description),
        "is_default": body.default,
        "preferred_language": _language(body.preferred_language),
        "alternative_identifiers": _alternative_identifiers(body.alternative_identifiers),
        "password_policy_id": body.password_policy_id,
    }
    # The policy cannot be deleted until this write commits: a deletion waits, then sees the
    # population that names it.
    if body.password_policy_id is not None and not await configuration.hold_policy(
        conn, environment_id, body.password_policy_id
    ):
        raise invalid_data(
            "INVALID_VALUE",
            "passwordPolicy.id",
            "'passwordPolicy.id' names no password policy of this environment.",
        )
    if body.theme_id is None:
        # The environment's default theme is materialized, so reads need no second lookup.
        values["theme_id"] = await configuration.default_theme_id(conn, environment_id)
    elif await configuration.theme_exists(conn, environment_id, body.theme_id):
        values["theme_id"] = body.theme_id
    else:
        raise invalid_data(
            "INVALID_VALUE", "theme.id", "'theme.id' names no theme of this environment."
        )
    if await store.name_taken(conn, environment_id, name, except_id):
        raise duplicate_name()
    return values


async def _write(
    conn: Connection, environment_id: str, population_id: str, values: dict[str, Any]
) -> Row[Any] | None:
    """Write a population (insert when ``values`` carries its id, else update) and return it
    as stored. ``default: true`` takes the flag from every other population in the same
    transaction, under the environment lock, so concurrent flips leave exactly one."""
    if values["is_default"]:
        await environment_store.lock(conn, environment_id)
        await store.clear_default(conn, environment_id, except_id=population_id)
    with unique_or("name_key", duplicate_name):
        if "id" in values:
            return await store.insert_population(conn, values)
        return await store.update_population(conn, environment_id, population_id, values)


async def create_population(conn: Connection, access: Access, body: PopulationInput) -> Row[Any]:
    environment_id = access.environment
    values = await _validated(conn, environment_id, body)
    population_id, at = new_id(), now_ms()
    values.update(
        environment_id=environment_id, id=population_id, user_count=0, created_at=at, updated_at=at
    )
    row = await _write(conn, environment_id, population_id, values)
    assert row is not None, "an insert returns its row"
    return row


async def read_population(conn: Connection, access: Access, population_id: str) -> Row[Any]:
    access.require(population_id)
    return found(await store.get(conn, access.environment, population_id))


async def update_population(
    conn: Connection, access: Access, population_id: str, body: PopulationInput
) -> Row[Any]:
    """PUT: a full replace. What the body omits is cleared; omitted ``default`` means false."""
    environment_id = access.environment
    if await store.get(conn, environment_id, population_id) is None:
        raise not_found()
    values = await _validated(conn, environment_id, body, except_id=population_id)
    values["updated_at"] = now_ms()
    row = await _write(conn, environment_id, population_id, values)
    if row is None:  # deleted by another client since we looked
        raise not_found()
    return row


async def delete_population(conn: Connection, access: Access, population_id: str) -> None:
    environment_id = access.environment
    # The environment lock makes "not the last one" hold against concurrent deletes; the row
    # lock makes "no users" hold against a concurrent user create or move.
    await environment_store.lock(conn, environment_id)
    row = await store.get(conn, environment_id, population_id, for_update=True)
    if row is None:
        raise not_found()
    if await store.count_in_environment(conn, environment_id) <= 1:
        raise constraint_violation(
            "The request could not be completed. An environment must contain at least one "
            "population."
        )
    if row.is_default:
        raise constraint_violation(
            "The default population cannot be deleted; make another population the default first."
        )
    if row.user_count > 0:
        raise constraint_violation(
            "The request could not be completed. The population contains users; move or delete "
            "them first."
        )
    if await group_store.in_population(conn, environment_id, population_id):
        raise constraint_violation(
            "The request could not be completed. The population has groups; delete them first."
        )
    await assignment_store.delete_population_assignments(conn, environment_id, population_id)
    await store.delete_population(conn, environment_id, population_id)
