"""Environment rules: what a new environment holds, names, and what may not be deleted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from populace.assignments import store as assignment_store
from populace.assignments.rules import keep_an_administrator
from populace.assignments.store import Subject
from populace.auth.guard import Access
from populace.auth.roles import ENVIRONMENT_ADMIN, IDENTITY_DATA_ADMIN, ScopeType
from populace.configuration import store as configuration
from populace.environments import store
from populace.errors import constraint_violation, found, invalid_data, not_found
from populace.names import clean_description, clean_name, duplicate_name
from populace.organizations import store as organization_store
from populace.populations import store as population_store
from populace.storage import settings
from populace.storage.database import Connection, unique_or
from populace.wire import new_id, now_ms

DEFAULT_POPULATION_DESCRIPTION = "Automatically created population."


async def provision(conn: Connection, values: dict[str, Any]) -> Row[Any]:
    """Insert an environment with what every new one holds, synchronously (clients never poll):
    the default password policy and theme, and a default population named "Default"."""
    environment_id, at = values["id"], values["created_at"]
    with unique_or("name_key", duplicate_name):
        row = await store.insert_environment(conn, values)
    theme_id = await configuration.insert_defaults(conn, environment_id, at)
    await population_store.insert_population(
        conn,
        {
            "environment_id": environment_id,
            "id": new_id(),
            "name": "Default",
            "description": DEFAULT_POPULATION_DESCRIPTION,
            "is_default": True,
            "theme_id": theme_id,
            "password_policy_id": None,
            "preferred_language": None,
            "alternative_identifiers": None,
            "user_count": 0,
            "created_at": at,
            "updated_at": at,
        },
    )
    return row


async def _checked(
    conn: Connection, organization_id: str, values: dict[str, Any], except_id: str | None = None
) -> dict[str, Any]:
    values = {
        **values,
        "name": clean_name(values["name"]),
        "description": clean_description(values["description"]),
    }
    if await organization_store.get_license(conn, organization_id, values["license_id"]) is None:
        raise invalid_data("INVALID_VALUE", "license.id", "'license.id' does not name a license.")
    if await store.name_taken(conn, organization_id, values["name"], except_id):
        raise duplicate_name()
    return values


async def create_environment(conn: Connection, access: Access, values: dict[str, Any]) -> Row[Any]:
    """Create an environment; the creator (the application, or the user signed on through
    it) becomes its Environment Admin and Identity Data Admin, as PingOne grants them."""
    actor = access.actor
    values = await _checked(conn, actor.organization_id, values)
    environment_id, at = new_id(), now_ms()
    row = await provision(
        conn,
        {
            **values,
            "id": environment_id,
            "organization_id": actor.organization_id,
            "created_at": at,
            "updated_at": at,
        },
    )
    for role in (ENVIRONMENT_ADMIN, IDENTITY_DATA_ADMIN):
        await assignment_store.insert_assignment(
            conn,
            actor.environment_id,
            Subject(*actor.holder()),
            {
                "role_id": role.id,
                "scope_type": ScopeType.ENVIRONMENT.value,
                "scope_id": environment_id,
                "scope_environment_id": environment_id,
                "created_at": at,
            },
        )
    return row


async def read_environment(conn: Connection, access: Access) -> Row[Any]:
    return found(await store.get(conn, access.organization_id, access.environment))


async def update_environment(conn: Connection, access: Access, values: dict[str, Any]) -> Row[Any]:
    await read_environment(conn, access)  # 404 before any complaint about the body
    organization_id, environment_id = access.organization_id, access.environment
    values = await _checked(conn, organization_id, values, except_id=environment_id)
    with unique_or("name_key", duplicate_name):
        row = await store.update_environment(
            conn, organization_id, environment_id, {**values, "updated_at": now_ms()}
        )
    return found(row)


async def delete_environment(conn: Connection, access: Access) -> None:
    environment_id = access.environment
    if environment_id == access.actor.environment_id:
        raise constraint_violation(
            "The environment of the application making the request cannot be deleted."
        )
    administrators, _ = await settings.admin_application(conn)
    if environment_id == administrators:
        raise constraint_violation(
            "The Administrators environment holds the deployment's administrators and cannot "
            "be deleted."
        )
    await keep_an_administrator(conn, lambda held: held.environment_id == environment_id)
    if not await store.delete_environment(conn, access.organization_id, access.environment):
        raise not_found()
