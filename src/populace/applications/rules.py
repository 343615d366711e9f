"""Rules for applications and role assignments.

An actor can grant a role only where it already holds every permission of that role: nobody can
hand out more than it has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import Row

from populace.applications import store
from populace.auth.guard import Access
from populace.auth.roles import ORGANIZATION_ADMIN, ROLES, Actor, Permission, Role, ScopeType
from populace.auth.secrets import SecretBox, new_client_secret
from populace.environments import store as environment_store
from populace.errors import (
    MSG_FORBIDDEN,
    ApiError,
    Detail,
    constraint_violation,
    forbidden,
    found,
    invalid_data,
    not_found,
)
from populace.names import clean_description, clean_name
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
            "description": clean_description(values["description"]),
            "environment_id": access.environment,
            "id": new_id(),
            "client_secret": box.seal(new_client_secret()),
            "created_at": at,
            "updated_at": at,
        },
    )


async def read_application(conn: Connection, access: Access, application_id: str) -> Row[Any]:
    return found(await store.get(conn, access.environment, application_id))


async def keep_an_administrator(conn: Connection, leaving: Callable[[Any], bool]) -> None:
    """Refuse a change that would remove every Organization Admin assignment (``leaving``
    says which ones the change removes): the organization never loses its last
    administrator."""
    holders = await store.lock_role_holders(conn, ORGANIZATION_ADMIN.id)
    if holders and all(leaving(holder) for holder in holders):
        raise constraint_violation(
            "The organization must keep at least one application with the Organization Admin "
            "role; grant it to another application first."
        )


async def delete_application(conn: Connection, access: Access, application_id: str) -> None:
    environment_id = access.environment
    await keep_an_administrator(
        conn,
        lambda held: (held.environment_id, held.application_id) == (environment_id, application_id),
    )
    if not await store.delete_application(conn, environment_id, application_id):
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


def read_only(actor: Actor, assignment: Any) -> bool:
    """Is this assignment read-only for ``actor``: one it could not have made?"""
    population_id = (
        assignment.scope_id if assignment.scope_type == ScopeType.POPULATION.value else None
    )
    role = ROLES[assignment.role_id]
    return not _grantable(actor, role, assignment.scope_environment_id, population_id)


class AssignmentView(NamedTuple):
    """A role assignment as one actor sees it."""

    row: Any
    read_only: bool


def assignment_view(access: Access, row: Any) -> AssignmentView:
    return AssignmentView(row, read_only(access.actor, row))


def _secret_refused() -> ApiError:
    return ApiError(
        403,
        "ACCESS_FAILED",
        MSG_FORBIDDEN,
        [
            Detail(
                "INSUFFICIENT_PERMISSIONS",
                "Actor does not have permissions to access worker application client secrets",
            )
        ],
    )


async def read_secret(conn: Connection, access: Access, box: SecretBox, application_id: str) -> str:
    """An application's secret, guarded as PingOne guards it: never the caller's own, and
    only where none of the application's role assignments is read-only for the caller, so
    nobody gains through an application's secret what it could not grant itself."""
    actor = access.actor
    if (access.environment, application_id) == (actor.environment_id, actor.application_id):
        raise _secret_refused()
    row = await read_application(conn, access, application_id)
    assignments = await store.assignments_of(conn, access.environment, application_id)
    if any(read_only(actor, assignment) for assignment in assignments):
        raise _secret_refused()
    return box.open(row.client_secret)


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
    if read_only(access.actor, row):
        raise forbidden()
    await keep_an_administrator(conn, lambda held: held.id == row.id)
    await store.delete_assignment(conn, access.environment, application_id, assignment_id)
