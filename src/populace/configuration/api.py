"""HTTP: read an environment's password policies and themes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import Row, Table, select
from starlette.requests import Request
from starlette.responses import Response

from populace.auth.actors import current_actor
from populace.auth.roles import Permission
from populace.environments.rules import authorize
from populace.errors import not_found
from populace.openapi import ApiRouter
from populace.paging import fetch_page, list_body, page_request
from populace.storage.schema import password_policies, themes
from populace.web import JSONResponse, api_url, services
from populace.wire import UNSET, Link, Ref, UnsetType, iso_ms

router = ApiRouter("Configuration")


class PasswordPolicy(msgspec.Struct, kw_only=True):
    links: dict[str, Link] = msgspec.field(name="_links")
    id: str
    environment: Ref
    name: str
    description: str | UnsetType = UNSET
    default: bool
    excludesProfileData: bool
    notSimilarToCurrent: bool
    excludesCommonlyUsed: bool
    minComplexity: int
    maxAgeDays: int
    minAgeDays: int
    history: dict[str, int]
    lockout: dict[str, int]
    length: dict[str, int]
    minCharacters: dict[str, int]
    maxRepeatedCharacters: int
    minUniqueCharacters: int
    populationCount: int
    createdAt: str
    updatedAt: str


class Theme(msgspec.Struct, kw_only=True):
    links: dict[str, Link] = msgspec.field(name="_links")
    id: str
    environment: Ref
    template: str
    default: bool
    configuration: dict[str, Any]
    createdAt: str
    updatedAt: str


def _password_policy(request: Request, row: Row[Any]) -> PasswordPolicy:
    return PasswordPolicy(
        links={
            "self": api_url(request, f"environments/{row.environment_id}/passwordPolicies/{row.id}")
        },
        id=row.id,
        environment=Ref(row.environment_id),
        name=row.name,
        description=UNSET if row.description is None else row.description,
        default=row.is_default,
        createdAt=iso_ms(row.created_at),
        updatedAt=iso_ms(row.updated_at),
        **row.settings,
    )


def _theme(request: Request, row: Row[Any]) -> Theme:
    return Theme(
        links={"self": api_url(request, f"environments/{row.environment_id}/themes/{row.id}")},
        id=row.id,
        environment=Ref(row.environment_id),
        template=row.template,
        default=row.is_default,
        configuration=row.configuration,
        createdAt=iso_ms(row.created_at),
        updatedAt=iso_ms(row.updated_at),
    )


def _register(
    table: Table, collection: str, item: type, render: Callable[[Request, Row[Any]], Any]
) -> None:
    """List and read endpoints for one read-only collection of environment objects."""

    async def list_objects(request: Request) -> Response:
        environment_id = request.path_params["envID"]
        page = page_request(request, default_limit=100, max_limit=1000)
        async with services(request).db.read() as conn:
            actor = await current_actor(request, conn)
            await authorize(conn, actor, Permission.CONFIGURATION_READ, environment_id)
            query = select(table).where(table.c.environment_id == environment_id)
            result = await fetch_page(conn, query, table.c.created_at, table.c.id, page)
        items = [render(request, row) for row in result.rows]
        return JSONResponse(list_body(request, collection, items, result, len(items)))

    async def read_object(request: Request) -> Response:
        environment_id = request.path_params["envID"]
        async with services(request).db.read() as conn:
            actor = await current_actor(request, conn)
            await authorize(conn, actor, Permission.CONFIGURATION_READ, environment_id)
            row = (
                await conn.execute(
                    select(table).where(
                        table.c.environment_id == environment_id,
                        table.c.id == request.path_params["objectID"],
                    )
                )
            ).first()
        if row is None:
            raise not_found()
        return JSONResponse(render(request, row))

    list_objects.__name__ = f"list_{table.name}"
    read_object.__name__ = f"read_{table.name}"
    path = f"/v1/environments/{{envID}}/{collection}"
    router.route("GET", path, summary=f"List {collection}", response=item, list_of=collection)(
        list_objects
    )
    router.route("GET", f"{path}/{{objectID}}", summary=f"Read one of {collection}", response=item)(
        read_object
    )


_register(password_policies, "passwordPolicies", PasswordPolicy, _password_policy)
_register(themes, "themes", Theme, _theme)
