"""HTTP: the role assignments of applications, users and groups (``.../roleAssignments``).

The three surfaces are one: each reads its subject through the subject's own rules (so a
subject the caller may not see is not found), then the assignment rules do the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from populace.applications import rules as application_rules
from populace.assignments import rules, store
from populace.assignments.store import Subject
from populace.assignments.wire import RoleAssignment, RoleAssignmentBody, role_assignment_json
from populace.auth.roles import Permission as P
from populace.errors import forbidden
from populace.groups import rules as group_rules
from populace.http.dispatch import Call
from populace.http.lists import Listing
from populace.http.router import ApiRouter
from populace.users import rules as user_rules

router = ApiRouter("Role assignments")

# For each kind of subject: where its assignments live, the permission to read them, and the
# rule that reads the subject itself (404 when it is not there or out of the caller's reach).
Reader = Callable[[Any, Any, str], Awaitable[Any]]
KINDS: dict[str, tuple[str, str, P, Reader]] = {
    "application": (
        "/environments/{envID}/applications/{appID}",
        "appID",
        P.APPLICATION_READ,
        application_rules.read_application,
    ),
    "user": ("/environments/{envID}/users/{userID}", "userID", P.USER_READ, user_rules.read_user),
    "group": (
        "/environments/{envID}/groups/{groupID}",
        "groupID",
        P.GROUP_READ,
        group_rules.read_group,
    ),
}


async def _subject(call: Call[Any], kind: str) -> Subject:
    """The subject in the path, read as its own rules read it. An actor that may not read
    such subjects is refused first: a 404 would tell it which ids exist."""
    _, parameter, read_permission, read = KINDS[kind]
    if not call.access.actor.can(read_permission, call.access.environment):
        raise forbidden()
    subject_id = call.param(parameter)
    await read(call.conn, call.access, subject_id)
    return Subject(kind, subject_id)


def _declare(kind: str) -> None:
    path, _, read_permission, _ = KINDS[kind]
    assignments, assignment = f"{path}/roleAssignments", f"{path}/roleAssignments/{{assignmentID}}"
    router.listing(
        assignments,
        Listing(
            "roleAssignments", role_assignment_json, store.listing(kind), view=rules.assignment_view
        ),
        read_permission,
        name=f"list_{kind}_role_assignments",
    )

    async def create(call: Call[RoleAssignmentBody]) -> RoleAssignment:
        subject, body = await _subject(call, kind), call.body
        row = await rules.assign_role(
            call.conn, call.access, subject, body.role.id, body.scope.type, body.scope.id
        )
        return role_assignment_json(call.urls, rules.assignment_view(call.access, row))

    async def read(call: Call[None]) -> RoleAssignment:
        subject = await _subject(call, kind)
        row = await rules.read_assignment(
            call.conn, call.access, subject, call.param("assignmentID")
        )
        return role_assignment_json(call.urls, rules.assignment_view(call.access, row))

    async def remove(call: Call[None]) -> None:
        subject = await _subject(call, kind)
        await rules.remove_role(call.conn, call.access, subject, call.param("assignmentID"))

    for handler, verb, summary in (
        (create, "create", f"Assign a role to a {kind}."),
        (read, "read", f"Read a role assignment of a {kind}."),
        (remove, "delete", f"Remove a role assignment of a {kind}."),
    ):
        handler.__name__ = f"{verb}_{kind}_role_assignment"
        handler.__doc__ = summary
    router.post(assignments, P.ROLE_ASSIGNMENT_MANAGE)(create)
    router.get(assignment, read_permission)(read)
    router.delete(assignment, P.ROLE_ASSIGNMENT_MANAGE)(remove)


for _kind in KINDS:
    _declare(_kind)
