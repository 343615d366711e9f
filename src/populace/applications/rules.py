"""Rules for applications and role assignments.

An actor can grant a role only where it already holds every permission of that role: nobody can
hand out more than it has.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from populace.applications import store
from populace.auth.guard import Access
from populace.auth.roles import ROLES, Actor, Permission, Role, ScopeType
from populace.auth.secrets import SecretBox, new_client_secret
from populace.environments import store as environment_store
from populace.errors import forbidden, found, invalid_data, not_found
from populace.names import clean_name
from populace.populations import store as population_store
from populace.storage.database import Connection, unique_or
from populace.wire import new_id, now_ms


async def create_application(
    conn: Connection, access: Access, box: SecretBox, values: dict[str, Any]
) -> Row[Any]:
    at = now_ms()
    return await store.insert_application(
        conn,
        {
            **values,
            "name": clean_name(values["name"]),
            "environment_id": access.environment,
            "id": new_id(),
            "client_secret": box.seal(new_client_secret()),
            "created_at": at,
            "updated_at": at,
        },
    )


async def read_application(conn: Connection, access: Access, application_id: str) -> Row[Any]:
    return found(await store.get(conn, access.environment, application_id))


async def delete_application(conn: Connection, access: Access, application_id: str) -> None:
    if not await store.delete_application(conn, access.environment, application_id):
        raise not_found()


async def _scope_environment(
    conn: Connection, actor: Actor, scope_type: ScopeType, scope_id: str
) -> str | None:
    """The environment a scope lies in (None for the organization); 400 if it names nothing."""
    if scope_type is ScopeType.ORGANIZATION:
        if scope_id != actor.organization_id:
            raise invalid_data("INVALID_VALUE", "scope.id", "'scope.id' is not this organization.")
        return None
    if scope_type is ScopeType.ENVIRONMENT:
        if not await environment_store.exists(conn, actor.organization_id, scope_id):
            raise invalid_data("INVALID_VALUE", "scope.id", "'scope.id' names no environment.")
        return scope_id
    environment_id = await population_store.environment_of(conn, actor.organization_id, scope_id)
    if environment_id is None:
        raise invalid_data("INVALID_VALUE", "scope.id", "'scope.id' names no population.")
    return environment_id


def _grantable(
    actor: Actor, role: Role, environment_id: str | None, population_id: str | None
) -> bool:
    return actor.can(Permission.ROLE_ASSIGNMENT_MANAGE, environment_id) and all(
        actor.can(permission, environment_id, population_id) for permission in role.permissions
    )


def duplicate_role() -> Any:
    return invalid_data("UNIQUENESS_VIOLATION", "role", "May not assign duplicate Role")


async def assign_role(
    conn: Connection,
    access: Access,
    application_id: str,
    role_id: str,
    scope_type: ScopeType,
    scope_id: str,
) -> Row[Any]:
    actor = access.actor
    await read_application(conn, access, application_id)
    role = ROLES.get(role_id)
    if role is None:
        raise invalid_data("INVALID_VALUE", "role.id", "'role.id' names no role.")
    if scope_type not in role.scopes:
        allowed = sorted(scope.value for scope in role.scopes)
        raise invalid_data(
            "INVALID_VALUE",
            "scope.type",
            f"The role '{role.name}' cannot be scoped to {scope_type.value}.",
            allowedValues=allowed,
        )
    scope_environment_id = await _scope_environment(conn, actor, scope_type, scope_id)
    population_id = scope_id if scope_type is ScopeType.POPULATION else None
    if not _grantable(actor, role, scope_environment_id, population_id):
        raise forbidden()
    with unique_or("role_id", duplicate_role):
        return await store.insert_assignment(
            conn,
            access.environment,
            application_id,
            {
                "role_id": role.id,
                "scope_type": scope_type.value,
                "scope_id": scope_id,
                "scope_environment_id": scope_environment_id,
                "created_at": now_ms(),
            },
        )


async def read_assignment(
    conn: Connection, access: Access, application_id: str, assignment_id: str
) -> Row[Any]:
    return found(
        await store.get_assignment(conn, access.environment, application_id, assignment_id)
    )


async def remove_role(
    conn: Connection, access: Access, application_id: str, assignment_id: str
) -> None:
    row = await read_assignment(conn, access, application_id, assignment_id)
    population_id = row.scope_id if row.scope_type == ScopeType.POPULATION.value else None
    if not _grantable(access.actor, ROLES[row.role_id], row.scope_environment_id, population_id):
        raise forbidden()
    await store.delete_assignment(conn, access.environment, application_id, assignment_id)
