"""HTTP: /v1/environments, /v1/organizations and the organization's licenses."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Row, select
from starlette.requests import Request
from starlette.responses import Response

from populace.auth.actors import current_actor
from populace.auth.roles import Actor, Permission
from populace.environments import rules, store
from populace.environments.rules import EnvironmentType, Region
from populace.errors import forbidden, not_found
from populace.filters import exact_field, filter_condition, text_field
from populace.openapi import ApiRouter
from populace.paging import fetch_page, list_body, page_request
from populace.storage.schema import environments, licenses, organizations
from populace.web import JSONResponse, api_url, no_content, read_json, services
from populace.wire import UNSET, Link, Ref, UnsetType, iso_ms

router = ApiRouter("Environments")

FILTER_FIELDS = {
    "id": exact_field(environments.c.id),
    "name": text_field(environments.c.name_key, fold=True),
    "organization.id": exact_field(environments.c.organization_id),
    "license.id": exact_field(environments.c.license_id),
    "type": exact_field(environments.c.type),
    "region": exact_field(environments.c.region),
}


class EnvironmentInput(msgspec.Struct):
    name: str
    region: Region
    type: EnvironmentType
    license: Ref
    description: str | None = None


class Environment(msgspec.Struct, kw_only=True):
    links: dict[str, Link] = msgspec.field(name="_links")
    id: str
    name: str
    description: str | UnsetType = UNSET
    organization: Ref
    type: str
    region: str
    license: Ref
    status: str = "ACTIVE"
    createdAt: str
    updatedAt: str


class Organization(msgspec.Struct, kw_only=True):
    links: dict[str, Link] = msgspec.field(name="_links")
    id: str
    name: str
    type: str = "INTERNAL"
    createdAt: str
    updatedAt: str


class License(msgspec.Struct, kw_only=True):
    links: dict[str, Link] = msgspec.field(name="_links")
    id: str
    name: str
    package: str
    organization: Ref
    status: str = "ACTIVE"
    createdAt: str


def _environment(request: Request, row: Row[Any]) -> Environment:
    return Environment(
        links={
            "self": api_url(request, f"environments/{row.id}"),
            "organization": api_url(request, f"organizations/{row.organization_id}"),
            "license": api_url(
                request, f"organizations/{row.organization_id}/licenses/{row.license_id}"
            ),
            "populations": api_url(request, f"environments/{row.id}/populations"),
        },
        id=row.id,
        name=row.name,
        description=UNSET if row.description is None else row.description,
        organization=Ref(row.organization_id),
        type=row.type,
        region=row.region,
        license=Ref(row.license_id),
        createdAt=iso_ms(row.created_at),
        updatedAt=iso_ms(row.updated_at),
    )


def _values(body: EnvironmentInput) -> dict[str, Any]:
    return {
        "name": body.name,
        "description": body.description,
        "type": body.type,
        "region": body.region,
        "license_id": body.license.id,
    }


async def _read_one(request: Request, conn: Any, environment_id: str) -> JSONResponse:
    row = await store.get(conn, services(request).organization_id, environment_id)
    if row is None:
        raise not_found()
    return JSONResponse(_environment(request, row))


@router.route(
    "POST",
    "/v1/environments",
    summary="Create an environment",
    request=EnvironmentInput,
    response=Environment,
    status=201,
)
async def create_environment(request: Request) -> Response:
    body = await read_json(request, EnvironmentInput)
    async with services(request).db.write() as conn:
        actor = await current_actor(request, conn)
        environment_id = await rules.create_environment(conn, actor, _values(body))
        response = await _read_one(request, conn, environment_id)
    response.status_code = 201
    response.headers["Location"] = api_url(request, f"environments/{environment_id}").href
    return response


@router.route(
    "GET",
    "/v1/environments",
    summary="List environments",
    response=Environment,
    list_of="environments",
)
async def list_environments(request: Request) -> Response:
    page = page_request(request, default_limit=1000, max_limit=5000)
    async with services(request).db.read() as conn:
        actor = await current_actor(request, conn)
        query = select(environments).where(environments.c.organization_id == actor.organization_id)
        visible = actor.environments_with(Permission.ENVIRONMENT_READ)
        if visible is not None:
            query = query.where(environments.c.id.in_(visible))
        if page.filter:
            query = query.where(filter_condition(page.filter, FILTER_FIELDS))
        result = await fetch_page(conn, query, environments.c.created_at, environments.c.id, page)
    items = [_environment(request, row) for row in result.rows]
    return JSONResponse(list_body(request, "environments", items, result, None))


@router.route(
    "GET", "/v1/environments/{envID}", summary="Read an environment", response=Environment
)
async def read_environment(request: Request) -> Response:
    environment_id = request.path_params["envID"]
    async with services(request).db.read() as conn:
        actor = await current_actor(request, conn)
        await rules.authorize(conn, actor, Permission.ENVIRONMENT_READ, environment_id)
        return await _read_one(request, conn, environment_id)


@router.route(
    "PUT",
    "/v1/environments/{envID}",
    summary="Update an environment",
    request=EnvironmentInput,
    response=Environment,
)
async def update_environment(request: Request) -> Response:
    environment_id = request.path_params["envID"]
    body = await read_json(request, EnvironmentInput)
    async with services(request).db.write() as conn:
        actor = await current_actor(request, conn)
        await rules.update_environment(conn, actor, environment_id, _values(body))
        return await _read_one(request, conn, environment_id)


@router.route("DELETE", "/v1/environments/{envID}", summary="Delete an environment", status=204)
async def delete_environment(request: Request) -> Response:
    async with services(request).db.write() as conn:
        actor = await current_actor(request, conn)
        await rules.delete_environment(conn, actor, request.path_params["envID"])
    return no_content()


def _organization(request: Request, row: Row[Any]) -> Organization:
    return Organization(
        links={"self": api_url(request, f"organizations/{row.id}")},
        id=row.id,
        name=row.name,
        createdAt=iso_ms(row.created_at),
        updatedAt=iso_ms(row.updated_at),
    )


def _license(request: Request, row: Row[Any]) -> License:
    return License(
        links={"self": api_url(request, f"organizations/{row.organization_id}/licenses/{row.id}")},
        id=row.id,
        name=row.name,
        package=row.package,
        organization=Ref(row.organization_id),
        createdAt=iso_ms(row.created_at),
    )


@router.route(
    "GET",
    "/v1/organizations",
    summary="List the organization",
    response=Organization,
    list_of="organizations",
)
async def list_organizations(request: Request) -> Response:
    page = page_request(request, default_limit=100, max_limit=100)
    async with services(request).db.read() as conn:
        actor = await current_actor(request, conn)
        rules.authorize_organization(actor, Permission.ORGANIZATION_READ)
        query = select(organizations).where(organizations.c.id == actor.organization_id)
        result = await fetch_page(conn, query, organizations.c.created_at, organizations.c.id, page)
    items = [_organization(request, row) for row in result.rows]
    return JSONResponse(list_body(request, "organizations", items, result, len(items)))


def _own_organization(request: Request, actor: Actor, permission: Permission) -> str:
    organization_id = request.path_params["orgID"]
    if organization_id != actor.organization_id:
        raise forbidden()
    rules.authorize_organization(actor, permission)
    return organization_id


@router.route(
    "GET", "/v1/organizations/{orgID}", summary="Read the organization", response=Organization
)
async def read_organization(request: Request) -> Response:
    async with services(request).db.read() as conn:
        actor = await current_actor(request, conn)
        organization_id = _own_organization(request, actor, Permission.ORGANIZATION_READ)
        row = (
            await conn.execute(select(organizations).where(organizations.c.id == organization_id))
        ).first()
    if row is None:
        raise not_found()
    return JSONResponse(_organization(request, row))


@router.route(
    "GET",
    "/v1/organizations/{orgID}/licenses",
    summary="List the organization's licenses",
    response=License,
    list_of="licenses",
)
async def list_licenses(request: Request) -> Response:
    page = page_request(request, default_limit=100, max_limit=1000)
    async with services(request).db.read() as conn:
        actor = await current_actor(request, conn)
        organization_id = _own_organization(request, actor, Permission.LICENSE_READ)
        query = select(licenses).where(licenses.c.organization_id == organization_id)
        result = await fetch_page(conn, query, licenses.c.created_at, licenses.c.id, page)
    items = [_license(request, row) for row in result.rows]
    return JSONResponse(list_body(request, "licenses", items, result, len(items)))


@router.route(
    "GET",
    "/v1/organizations/{orgID}/licenses/{licenseID}",
    summary="Read a license",
    response=License,
)
async def read_license(request: Request) -> Response:
    async with services(request).db.read() as conn:
        actor = await current_actor(request, conn)
        organization_id = _own_organization(request, actor, Permission.LICENSE_READ)
        row = (
            await conn.execute(
                select(licenses).where(
                    licenses.c.organization_id == organization_id,
                    licenses.c.id == request.path_params["licenseID"],
                )
            )
        ).first()
    if row is None:
        raise not_found()
    return JSONResponse(_license(request, row))
