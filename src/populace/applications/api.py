"""HTTP: applications, their secret and role assignments; the role catalog at /v1/roles."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from sqlalchemy import Row, select
from starlette.requests import Request
from starlette.responses import Response

from populace.applications import rules, store
from populace.auth.actors import current_actor
from populace.auth.roles import ROLES, Permission, Role, ScopeType
from populace.environments.rules import authorize
from populace.errors import not_found
from populace.openapi import ApiRouter
from populace.paging import fetch_page, list_body, page_request
from populace.storage.schema import applications, role_assignments
from populace.web import JSONResponse, api_url, no_content, read_json, services
from populace.wire import UNSET, Link, Ref, UnsetType, iso_ms

router = ApiRouter("Applications and roles")


class ApplicationInput(msgspec.Struct):
    name: str
    enabled: bool
    type: Literal["WORKER"]
    protocol: Literal["OPENID_CONNECT"]
    grantTypes: list[Literal["CLIENT_CREDENTIALS"]] = msgspec.field(
        default_factory=lambda: ["CLIENT_CREDENTIALS"]
    )
    tokenEndpointAuthMethod: Literal["CLIENT_SECRET_BASIC", "CLIENT_SECRET_POST"] = (
        "CLIENT_SECRET_BASIC"
    )
    description: str | None = None


class Application(msgspec.Struct, kw_only=True):
    links: dict[str, Link] = msgspec.field(name="_links")
    id: str
    environment: Ref
    name: str
    description: str | UnsetType = UNSET
    enabled: bool
    type: str
    protocol: str
    grantTypes: list[str]
    tokenEndpointAuthMethod: str
    createdAt: str
    updatedAt: str


class Secret(msgspec.Struct):
    secret: str


class Scope(msgspec.Struct):
    type: ScopeType
    id: str


class RoleAssignmentInput(msgspec.Struct):
    role: Ref
    scope: Scope


class RoleAssignment(msgspec.Struct, kw_only=True):
    links: dict[str, Link] = msgspec.field(name="_links")
    id: str
    role: Ref
    scope: Scope
    environment: Ref
    readOnly: bool = False
    createdAt: str


class RoleOut(msgspec.Struct, kw_only=True):
    links: dict[str, Link] = msgspec.field(name="_links")
    id: str
    name: str
    description: str
    applicableTo: list[str]
    permissions: list[Ref]


def _app_path(row: Row[Any]) -> str:
    return f"environments/{row.environment_id}/applications/{row.id}"


def _application(request: Request, row: Row[Any]) -> Application:
    path = _app_path(row)
    return Application(
        links={
            "self": api_url(request, path),
            "environment": api_url(request, f"environments/{row.environment_id}"),
            "secret": api_url(request, f"{path}/secret"),
            "roleAssignments": api_url(request, f"{path}/roleAssignments"),
        },
        id=row.id,
        environment=Ref(row.environment_id),
        name=row.name,
        description=UNSET if row.description is None else row.description,
        enabled=row.enabled,
        type=row.type,
        protocol=row.protocol,
        grantTypes=list(row.grant_types),
        tokenEndpointAuthMethod=row.token_endpoint_auth_method,
        createdAt=iso_ms(row.created_at),
        updatedAt=iso_ms(row.updated_at),
    )


def _assignment(request: Request, row: Row[Any]) -> RoleAssignment:
    app_path = f"environments/{row.environment_id}/applications/{row.application_id}"
    return RoleAssignment(
        links={
            "self": api_url(request, f"{app_path}/roleAssignments/{row.id}"),
            "application": api_url(request, app_path),
            "role": api_url(request, f"roles/{row.role_id}"),
        },
        id=row.id,
        role=Ref(row.role_id),
        scope=Scope(ScopeType(row.scope_type), row.scope_id),
        environment=Ref(row.environment_id),
        createdAt=iso_ms(row.created_at),
    )


def _role(request: Request, role: Role) -> RoleOut:
    return RoleOut(
        links={"self": api_url(request, f"roles/{role.id}")},
        id=role.id,
        name=role.name,
        description=role.description,
        applicableTo=sorted(scope.value for scope in role.scopes),
        permissions=[Ref(p.value) for p in sorted(role.permissions)],
    )


APPS = "/v1/environments/{envID}/applications"


@router.route(
    "POST",
    APPS,
    summary="Create a Worker application",
    request=ApplicationInput,
    response=Application,
    status=201,
)
async def create_application(request: Request) -> Response:
    environment_id = request.path_params["envID"]
    body = await read_json(request, ApplicationInput)
    svc = services(request)
    async with svc.db.write() as conn:
        actor = await current_actor(request, conn)
        application_id = await rules.create_application(
            conn,
            actor,
            svc.box,
            environment_id,
            {
                "name": body.name,
                "description": body.description,
                "enabled": body.enabled,
                "type": body.type,
                "protocol": body.protocol,
                "grant_types": list(body.grantTypes),
                "token_endpoint_auth_method": body.tokenEndpointAuthMethod,
            },
        )
        row = await store.get(conn, environment_id, application_id)
    assert row is not None
    return JSONResponse(_application(request, row), status_code=201)


@router.route(
    "GET", APPS, summary="List applications", response=Application, list_of="applications"
)
async def list_applications(request: Request) -> Response:
    environment_id = request.path_params["envID"]
    page = page_request(request, default_limit=100, max_limit=1000)
    async with services(request).db.read() as conn:
        actor = await current_actor(request, conn)
        await authorize(conn, actor, Permission.APPLICATION_READ, environment_id)
        query = select(applications).where(applications.c.environment_id == environment_id)
        result = await fetch_page(conn, query, applications.c.created_at, applications.c.id, page)
    items = [_application(request, row) for row in result.rows]
    return JSONResponse(list_body(request, "applications", items, result, None))


async def _readable_application(request: Request, permission: Permission) -> Row[Any]:
    environment_id = request.path_params["envID"]
    async with services(request).db.read() as conn:
        actor = await current_actor(request, conn)
        await authorize(conn, actor, permission, environment_id)
        row = await store.get(conn, environment_id, request.path_params["appID"])
    if row is None:
        raise not_found()
    return row


@router.route("GET", APPS + "/{appID}", summary="Read an application", response=Application)
async def read_application(request: Request) -> Response:
    row = await _readable_application(request, Permission.APPLICATION_READ)
    return JSONResponse(_application(request, row))


@router.route("DELETE", APPS + "/{appID}", summary="Delete an application", status=204)
async def delete_application(request: Request) -> Response:
    async with services(request).db.write() as conn:
        actor = await current_actor(request, conn)
        await rules.delete_application(
            conn, actor, request.path_params["envID"], request.path_params["appID"]
        )
    return no_content()


@router.route(
    "GET", APPS + "/{appID}/secret", summary="Read an application's client secret", response=Secret
)
async def read_secret(request: Request) -> Response:
    row = await _readable_application(request, Permission.APPLICATION_SECRET_READ)
    return JSONResponse(Secret(services(request).box.open(row.client_secret)))


ASSIGNMENTS = APPS + "/{appID}/roleAssignments"


@router.route(
    "POST",
    ASSIGNMENTS,
    summary="Assign a role to an application",
    request=RoleAssignmentInput,
    response=RoleAssignment,
    status=201,
)
async def create_role_assignment(request: Request) -> Response:
    environment_id, application_id = request.path_params["envID"], request.path_params["appID"]
    body = await read_json(request, RoleAssignmentInput)
    async with services(request).db.write() as conn:
        actor = await current_actor(request, conn)
        assignment_id = await rules.assign_role(
            conn,
            actor,
            environment_id,
            application_id,
            body.role.id,
            body.scope.type,
            body.scope.id,
        )
        row = await store.get_assignment(conn, environment_id, application_id, assignment_id)
    assert row is not None
    return JSONResponse(_assignment(request, row), status_code=201)


@router.route(
    "GET",
    ASSIGNMENTS,
    summary="List an application's role assignments",
    response=RoleAssignment,
    list_of="roleAssignments",
)
async def list_role_assignments(request: Request) -> Response:
    environment_id, application_id = request.path_params["envID"], request.path_params["appID"]
    page = page_request(request, default_limit=100, max_limit=1000)
    async with services(request).db.read() as conn:
        actor = await current_actor(request, conn)
        await authorize(conn, actor, Permission.APPLICATION_READ, environment_id)
        if await store.get(conn, environment_id, application_id) is None:
            raise not_found()
        query = store.assignments_of(environment_id, application_id)
        result = await fetch_page(
            conn, query, role_assignments.c.created_at, role_assignments.c.id, page
        )
    items = [_assignment(request, row) for row in result.rows]
    return JSONResponse(list_body(request, "roleAssignments", items, result, None))


@router.route(
    "GET",
    ASSIGNMENTS + "/{assignmentID}",
    summary="Read a role assignment",
    response=RoleAssignment,
)
async def read_role_assignment(request: Request) -> Response:
    environment_id = request.path_params["envID"]
    async with services(request).db.read() as conn:
        actor = await current_actor(request, conn)
        await authorize(conn, actor, Permission.APPLICATION_READ, environment_id)
        row = await store.get_assignment(
            conn, environment_id, request.path_params["appID"], request.path_params["assignmentID"]
        )
    if row is None:
        raise not_found()
    return JSONResponse(_assignment(request, row))


@router.route(
    "DELETE", ASSIGNMENTS + "/{assignmentID}", summary="Remove a role assignment", status=204
)
async def delete_role_assignment(request: Request) -> Response:
    async with services(request).db.write() as conn:
        actor = await current_actor(request, conn)
        await rules.remove_role(
            conn,
            actor,
            request.path_params["envID"],
            request.path_params["appID"],
            request.path_params["assignmentID"],
        )
    return no_content()


@router.route("GET", "/v1/roles", summary="List roles", response=RoleOut, list_of="roles")
async def list_roles(request: Request) -> Response:
    async with services(request).db.read() as conn:
        await current_actor(request, conn)
    items = [_role(request, role) for role in ROLES.values()]
    return JSONResponse(
        {
            "_links": {"self": Link(href=str(request.url))},
            "_embedded": {"roles": items},
            "count": len(items),
            "size": len(items),
        }
    )


@router.route("GET", "/v1/roles/{roleID}", summary="Read a role", response=RoleOut)
async def read_role(request: Request) -> Response:
    async with services(request).db.read() as conn:
        await current_actor(request, conn)
    role = ROLES.get(request.path_params["roleID"])
    if role is None:
        raise not_found()
    return JSONResponse(_role(request, role))
