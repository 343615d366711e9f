"""Group rules, below HTTP: names, population groups, dynamic members, nesting, memberships.

A population-scoped actor works only with its populations' groups (environment groups are
outside its reach, reported as not found, as users are) and their users.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Row

from populace.assignments import rules as assignment_rules
from populace.auth.guard import Access
from populace.errors import (
    ApiError,
    constraint_violation,
    forbidden,
    found,
    invalid_data,
    not_found,
)
from populace.filters import FilterError, compile_filter, parse
from populace.groups import store
from populace.names import checked_text, clean_description, clean_name, duplicate_name
from populace.populations import store as population_store
from populace.storage.database import Connection, unique_or
from populace.users.store import DYNAMIC_FILTERS, in_population
from populace.wire import new_id, now_ms

MAX_USER_FILTER = 4096
MAX_EXTERNAL_ID = 1024
MAX_GROUPS_PER_USER = 10_000


@dataclass(frozen=True, slots=True)
class GroupInput:
    name: str
    description: str | None = None
    population_id: str | None = None
    user_filter: str | None = None
    external_id: str | None = None
    custom_data: dict[str, Any] | None = None


def _user_filter_condition(text: str, population_id: str | None) -> ColumnElement[bool]:
    """The users a dynamic group holds: those matching its filter (and, for a population
    group, in its population). The filter speaks the user list's language, less
    ``memberOfGroups`` (a group defined by groups would have no end)."""
    condition = compile_filter(parse(text), DYNAMIC_FILTERS)
    return condition if population_id is None else in_population(population_id) & condition


def _checked_filter(text: str | None, population_id: str | None) -> str | None:
    if text is None:
        return None
    if len(text) > MAX_USER_FILTER:
        raise invalid_data(
            "SIZE_LIMIT_EXCEEDED",
            "userFilter",
            f"'userFilter' must be at most {MAX_USER_FILTER} characters.",
        )
    try:
        _user_filter_condition(text, population_id)
    except FilterError as error:
        raise invalid_data(
            "INVALID_VALUE", "userFilter", f"'userFilter' is not a valid user filter: {error}."
        ) from None
    return text


async def _validated(
    conn: Connection, access: Access, body: GroupInput, current: Any = None
) -> dict[str, Any]:
    environment_id = access.environment
    population_id = body.population_id
    if current is not None and population_id not in (None, current.population_id):
        raise invalid_data(
            "INVALID_VALUE",
            "population.id",
            "A group's population is set when it is created and never changes.",
        )
    if current is not None:
        population_id = current.population_id
    if not _reaches(access, population_id):
        raise forbidden()
    if (
        current is None
        and population_id is not None
        and await population_store.get(conn, environment_id, population_id) is None
    ):
        raise invalid_data(
            "INVALID_VALUE",
            "population.id",
            "'population.id' names no population of this environment.",
        )
    name = clean_name(body.name)
    except_id = None if current is None else current.id
    if await store.name_taken(conn, environment_id, name, population_id, except_id):
        raise duplicate_name()
    return {
        "name": name,
        "description": clean_description(body.description),
        "population_id": population_id,
        "user_filter": _checked_filter(body.user_filter, population_id),
        "external_id": None
        if body.external_id is None
        else checked_text(body.external_id, "externalId", MAX_EXTERNAL_ID),
        "custom_data": _checked_custom_data(body.custom_data),
    }


MAX_CUSTOM_DATA_BYTES = 64 * 1024
MAX_CUSTOM_DATA_DEPTH = 32


def _too_deep(value: Any) -> bool:
    """Does the JSON value nest deeper than MAX_CUSTOM_DATA_DEPTH (walked without recursion:
    the value may nest a thousand levels)?"""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        if children and depth > MAX_CUSTOM_DATA_DEPTH:
            return True
        pending += [(child, depth + 1) for child in children]
    return False


def _checked_custom_data(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Any JSON object, within bounds every database (and JSON encoder) can hold."""
    if value is None:
        return None
    if _too_deep(value) or len(msgspec.json.encode(value)) > (MAX_CUSTOM_DATA_BYTES):
        raise invalid_data(
            "INVALID_VALUE",
            "customData",
            f"'customData' may nest at most {MAX_CUSTOM_DATA_DEPTH} levels and take at most "
            f"{MAX_CUSTOM_DATA_BYTES // 1024} KiB.",
        )
    return value


def _reaches(access: Access, population_id: str | None) -> bool:
    """May the actor touch a group of ``population_id`` (None: an environment group)? A
    population-scoped actor reaches only its populations' groups."""
    return access.limit is None or (population_id is not None and access.covers(population_id))


def _no_such_group() -> ApiError:
    return invalid_data("INVALID_VALUE", "id", "'id' names no group of this environment.")


async def _refill(conn: Connection, environment_id: str, row: Any) -> None:
    matches = (
        None
        if row.user_filter is None
        else _user_filter_condition(row.user_filter, row.population_id)
    )
    await store.refill_group(conn, environment_id, row.id, matches, now_ms())


async def create_group(conn: Connection, access: Access, body: GroupInput) -> Row[Any]:
    await store.lock_groups(conn, access.environment)
    values = await _validated(conn, access, body)
    at = now_ms()
    with unique_or("name_key", duplicate_name):
        row = await store.insert_group(
            conn,
            {
                **values,
                "environment_id": access.environment,
                "id": new_id(),
                "direct_member_count": 0,
                "created_at": at,
                "updated_at": at,
            },
        )
    await _refill(conn, access.environment, row)
    return row


async def _visible(conn: Connection, access: Access, group_id: str) -> Row[Any] | None:
    """The group, if it exists and the actor may see it (a population-scoped actor sees only
    its populations' groups)."""
    row = await store.get(conn, access.environment, group_id)
    return row if row is not None and _reaches(access, row.population_id) else None


async def read_group(conn: Connection, access: Access, group_id: str) -> Row[Any]:
    """A group the actor may see: any other group is reported as not found."""
    return found(await _visible(conn, access, group_id))


async def replace_group(
    conn: Connection, access: Access, group_id: str, body: GroupInput
) -> Row[Any]:
    await store.lock_groups(conn, access.environment)
    current = await read_group(conn, access, group_id)
    values = await _validated(conn, access, body, current)
    if current.user_filter is None and values["user_filter"] is not None:
        await _holds_no_roles(conn, access.environment, group_id)
    with unique_or("name_key", duplicate_name):
        row = found(
            await store.update_group(
                conn, access.environment, group_id, {**values, "updated_at": now_ms()}
            )
        )
    if row.user_filter != current.user_filter:
        await _refill(conn, access.environment, row)
    return row


async def _holds_no_roles(conn: Connection, environment_id: str, group_id: str) -> None:
    """A group whose members hold roles through it stays static (roles go to static groups
    only): its own roles, or those of a group it is nested into."""
    if await assignment_rules.roles_through(conn, environment_id, group_id):
        raise invalid_data(
            "INVALID_VALUE",
            "userFilter",
            "A group whose members hold roles through it cannot have a userFilter; remove the "
            "roles first.",
        )


async def delete_group(conn: Connection, access: Access, group_id: str) -> None:
    await read_group(conn, access, group_id)
    if not await store.delete_group(conn, access.environment, group_id):
        raise not_found()


async def total_members(conn: Connection, access: Access, group_id: str) -> int:
    return await store.total_members(conn, access.environment, group_id)


# -- nesting ----------------------------------------------------------------------------------


def _already_nested() -> ApiError:
    return invalid_data(
        "UNIQUENESS_VIOLATION", "id", "The group is already a member of that group."
    )


def _already_member() -> ApiError:
    return invalid_data("UNIQUENESS_VIOLATION", "id", "The user is already in that group.")


async def nest(conn: Connection, access: Access, group_id: str, parent_id: str) -> Row[Any]:
    """Make ``group_id`` a member of ``parent_id``: its members become the parent's members.
    Cycles are allowed (they change nothing: a member is a member once)."""
    child = await read_group(conn, access, group_id)
    parent = await _visible(conn, access, parent_id)
    if parent is None:
        raise _no_such_group()
    if parent.id == child.id:
        raise invalid_data("INVALID_VALUE", "id", "A group cannot be a member of itself.")
    if parent.population_id not in (None, child.population_id):
        raise invalid_data(
            "INVALID_VALUE",
            "id",
            "A population group holds only its population's users: only groups of the same "
            "population can be its members.",
        )
    if await assignment_rules.may_confer(conn, access, parent_id) and any(
        row.user_filter for row in await store.nested_into(conn, access.environment, group_id)
    ):
        raise invalid_data(
            "INVALID_VALUE",
            "id",
            "The group holds roles (or is nested into one that does): a group with a "
            "userFilter, or holding one, cannot become its member.",
        )
    if await store.get_nesting(conn, access.environment, group_id, parent_id) is not None:
        raise _already_nested()
    with unique_or("parent_id", _already_nested):
        await store.insert_nesting(conn, access.environment, group_id, parent_id, now_ms())
    return found(await store.get_nesting(conn, access.environment, group_id, parent_id))


async def read_nesting(conn: Connection, access: Access, group_id: str, parent_id: str) -> Row[Any]:
    """A group's membership of another, both groups the actor may see."""
    await read_group(conn, access, group_id)
    await read_group(conn, access, parent_id)
    return found(await store.get_nesting(conn, access.environment, group_id, parent_id))


async def unnest(conn: Connection, access: Access, group_id: str, parent_id: str) -> None:
    """Take a group out of another; both must be groups the actor may see (the parent's
    members change)."""
    await read_nesting(conn, access, group_id, parent_id)
    await store.delete_nesting(conn, access.environment, group_id, parent_id)


# -- memberships ------------------------------------------------------------------------------


async def add_member(conn: Connection, access: Access, user: Any, group_id: str) -> Row[Any]:
    """Add a user (already read through the user rules) to a group, directly."""
    group = await _visible(conn, access, group_id)
    if group is None:
        raise _no_such_group()
    if group.population_id is not None and group.population_id != user.population_id:
        raise invalid_data(
            "INVALID_VALUE",
            "id",
            "A population group holds only users of its population.",
        )
    await assignment_rules.may_confer(conn, access, group_id)
    if await store.get_membership(conn, access.environment, user.id, group_id) is not None:
        raise _already_member()
    if await store.direct_group_count(conn, access.environment, user.id) >= MAX_GROUPS_PER_USER:
        raise constraint_violation(f"A user may belong to at most {MAX_GROUPS_PER_USER:,} groups.")
    with unique_or("user_id", _already_member):
        await store.add_member(conn, access.environment, group_id, user.id, now_ms())
    return found(await store.get_membership(conn, access.environment, user.id, group_id))


async def groups_of_user(conn: Connection, access: Access, user: Any) -> list[Row[Any]]:
    """The groups a user (already read through the user rules) belongs to, in any way, that
    the actor may see."""
    return await store.member_group_ids(conn, access.environment, user.id, access.limit)


async def read_membership(
    conn: Connection, access: Access, user_id: str, group_id: str
) -> Row[Any]:
    row = await store.get_membership(conn, access.environment, user_id, group_id)
    if row is None or not _reaches(access, row.population_id):
        raise not_found()
    return row


async def remove_member(conn: Connection, access: Access, user_id: str, group_id: str) -> None:
    await read_membership(conn, access, user_id, group_id)
    await store.remove_member(conn, access.environment, group_id, user_id)


async def refresh_dynamic(conn: Connection, environment_id: str, *user_ids: str) -> None:
    """Recompute users' dynamic memberships after they changed (or were created)."""
    await store.lock_dynamic_memberships(conn, environment_id)
    conditions = [
        (row.id, _user_filter_condition(row.user_filter, row.population_id))
        for row in await store.dynamic_groups(conn, environment_id)
    ]
    await store.refill_users(conn, environment_id, list(user_ids), conditions, now_ms())
