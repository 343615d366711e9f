"""Role assignments, below HTTP: what may be granted, to whom, and what may be removed.

An actor can grant a role only where it already holds every permission of that role: nobody
can hand out more than it has. An assignment the caller could not have made is ``readOnly``
for it: it can see it, not remove it. The organization never loses its last administrator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import Row

from populace.assignments import store
from populace.assignments.store import Subject
from populace.auth.guard import Access
from populace.auth.roles import ORGANIZATION_ADMIN, ROLES, Actor, Permission, Role, ScopeType
from populace.environments import store as environment_store
from populace.errors import ApiError, constraint_violation, forbidden, found, invalid_data
from populace.groups import store as group_store
from populace.populations import store as population_store
from populace.storage.database import Connection, unique_or
from populace.wire import now_ms


async def keep_an_administrator(conn: Connection, leaving: Callable[[Any], bool]) -> None:
    """Refuse a change that would remove every Organization Admin assignment (``leaving``
    says which ones the change removes): the organization never loses its last
    administrator."""
    holders = await store.lock_application_holders(conn, ORGANIZATION_ADMIN.id)
    if holders and all(leaving(holder) for holder in holders):
        raise constraint_violation(
            "The organization must keep at least one application with the Organization Admin "
            "role; grant it to another application first."
        )


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


async def may_administer_user(conn: Connection, access: Access, user_id: str) -> None:
    """403 unless the administrator could grant every role the user holds (its own and its
    groups'): whoever may set a user's password may sign on as that user and act with its
    roles, so changing a user who holds more would be a way up. A user's own changes
    (``self_service``) need no such check."""
    if access.self_service:
        return
    held = await store.assignments_held_by_user(conn, access.environment, user_id)
    if any(read_only(access.actor, assignment) for assignment in held):
        raise forbidden()


class AssignmentView(NamedTuple):
    """A role assignment as one actor sees it."""

    row: Any
    subject: Subject
    read_only: bool


def assignment_view(access: Access, row: Any) -> AssignmentView:
    return AssignmentView(row, subject_of(row), read_only(access.actor, row))


def subject_of(row: Any) -> Subject:
    if row.application_id is not None:
        return Subject("application", row.application_id)
    if row.user_id is not None:
        return Subject("user", row.user_id)
    return Subject("group", row.group_id)


def duplicate_role() -> ApiError:
    return invalid_data("UNIQUENESS_VIOLATION", "role", "May not assign duplicate Role")


async def _static_group(conn: Connection, environment_id: str, group_id: str) -> None:
    """Roles go to static groups only: a dynamic group's members change by themselves, so
    who holds its roles would change with every user edit. A group whose members include a
    dynamic group's (nested into it) is no more static."""
    await group_store.lock_groups(conn, environment_id)  # no userFilter appears meanwhile
    if any(
        row.user_filter for row in await group_store.nested_into(conn, environment_id, group_id)
    ):
        raise invalid_data(
            "INVALID_VALUE",
            "role.id",
            "Roles can be assigned only to static groups; this group, or a group nested into "
            "it, has a userFilter.",
        )


async def roles_through(conn: Connection, environment_id: str, group_id: str) -> list[Row[Any]]:
    """The role assignments a member of the group holds through it: the group's own and those
    of every group it is nested into."""
    groups = await group_store.containing(conn, environment_id, group_id)
    return await store.assignments_of_groups(conn, environment_id, groups)


async def may_confer(conn: Connection, access: Access, group_id: str) -> list[Row[Any]]:
    """Making someone a member of the group confers its roles: the actor must be able to grant
    each of them itself (403 otherwise), as for a direct assignment. Returns those roles."""
    # Held until the transaction ends, so no role is granted to the group meanwhile.
    await group_store.lock_dynamic_memberships(conn, access.environment)
    roles = await roles_through(conn, access.environment, group_id)
    if any(read_only(access.actor, assignment) for assignment in roles):
        raise forbidden()
    return roles


async def assign_role(
    conn: Connection,
    access: Access,
    subject: Subject,
    role_id: str,
    scope_type: ScopeType,
    scope_id: str,
) -> Row[Any]:
    """Grant a role to a subject the caller has already read (so it exists, and the caller
    may see it)."""
    actor = access.actor
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
    if subject.kind == "group":
        await _static_group(conn, access.environment, subject.id)
    scope_environment_id = await _scope_environment(conn, actor, scope_type, scope_id)
    population_id = scope_id if scope_type is ScopeType.POPULATION else None
    if not _grantable(actor, role, scope_environment_id, population_id):
        raise forbidden()
    with unique_or("role_id", duplicate_role):
        return await store.insert_assignment(
            conn,
            access.environment,
            subject,
            {
                "role_id": role.id,
                "scope_type": scope_type.value,
                "scope_id": scope_id,
                "scope_environment_id": scope_environment_id,
                "created_at": now_ms(),
            },
        )


async def read_assignment(
    conn: Connection, access: Access, subject: Subject, assignment_id: str
) -> Row[Any]:
    return found(await store.get(conn, access.environment, subject, assignment_id))


async def remove_role(
    conn: Connection, access: Access, subject: Subject, assignment_id: str
) -> None:
    row = await read_assignment(conn, access, subject, assignment_id)
    if read_only(access.actor, row):
        raise forbidden()
    await keep_an_administrator(conn, lambda held: held.id == row.id)
    await store.delete_assignment(conn, access.environment, subject, assignment_id)
