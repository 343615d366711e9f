"""HTTP: applications, their secret and role assignments."""

from __future__ import annotations

from populace.applications import rules, store
from populace.applications.wire import (
    Application,
    ApplicationBody,
    RoleAssignment,
    RoleAssignmentBody,
    Secret,
    application_json,
    role_assignment_json,
)
from populace.auth.roles import Permission as P
from populace.http.dispatch import Call
from populace.http.lists import Listing
from populace.http.router import ApiRouter

router = ApiRouter("Applications")

APPLICATIONS = "/environments/{envID}/applications"
APPLICATION = APPLICATIONS + "/{appID}"
ASSIGNMENTS = APPLICATION + "/roleAssignments"
ASSIGNMENT = ASSIGNMENTS + "/{assignmentID}"

router.listing(
    APPLICATIONS, Listing("applications", application_json, store.LIST), P.APPLICATION_READ
)
router.listing(
    ASSIGNMENTS,
    Listing("roleAssignments", role_assignment_json, store.ASSIGNMENTS, view=rules.assignment_view),
    P.APPLICATION_READ,
)


@router.post(APPLICATIONS, P.APPLICATION_CREATE)
async def create_application(call: Call[ApplicationBody]) -> Application:
    """Create a Worker application."""
    values = call.body.to_values()
    row = await rules.create_application(call.conn, call.access, call.services.box, values)
    return application_json(call.urls, row)


@router.get(APPLICATION, P.APPLICATION_READ)
async def read_application(call: Call[None]) -> Application:
    """Read an application."""
    row = await rules.read_application(call.conn, call.access, call.param("appID"))
    return application_json(call.urls, row)


@router.delete(APPLICATION, P.APPLICATION_DELETE)
async def delete_application(call: Call[None]) -> None:
    """Delete an application."""
    await rules.delete_application(call.conn, call.access, call.param("appID"))


@router.get(APPLICATION + "/secret", P.APPLICATION_SECRET_READ, no_store=True)
async def read_secret(call: Call[None]) -> Secret:
    """Read an application's client secret."""
    box, application_id = call.services.box, call.param("appID")
    return Secret(await rules.read_secret(call.conn, call.access, box, application_id))


@router.post(ASSIGNMENTS, P.ROLE_ASSIGNMENT_MANAGE)
async def create_role_assignment(call: Call[RoleAssignmentBody]) -> RoleAssignment:
    """Assign a role to an application."""
    role, scope = call.body.role, call.body.scope
    row = await rules.assign_role(
        call.conn, call.access, call.param("appID"), role.id, scope.type, scope.id
    )
    return role_assignment_json(call.urls, rules.assignment_view(call.access, row))


@router.get(ASSIGNMENT, P.APPLICATION_READ)
async def read_role_assignment(call: Call[None]) -> RoleAssignment:
    """Read a role assignment."""
    app_id, assignment_id = call.param("appID"), call.param("assignmentID")
    row = await rules.read_assignment(call.conn, call.access, app_id, assignment_id)
    return role_assignment_json(call.urls, rules.assignment_view(call.access, row))


@router.delete(ASSIGNMENT, P.ROLE_ASSIGNMENT_MANAGE)
async def delete_role_assignment(call: Call[None]) -> None:
    """Remove a role assignment."""
    await rules.remove_role(call.conn, call.access, call.param("appID"), call.param("assignmentID"))
