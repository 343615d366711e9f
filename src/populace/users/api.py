"""HTTP: /v1/environments/{envID}/users and a user's population."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Row, select
from starlette.requests import Request
from starlette.responses import Response

from populace.auth.actors import current_actor
from populace.auth.roles import Permission
from populace.environments.rules import authorize_population_scope
from populace.filters import boolean_field, exact_field, filter_condition, text_field
from populace.openapi import ApiRouter
from populace.paging import fetch_page, list_body, page_request
from populace.storage.schema import users
from populace.users import rules
from populace.web import JSONResponse, api_url, no_content, read_json, services
from populace.wire import UNSET, Link, Ref, UnsetType, iso_ms

router = ApiRouter("Users")

FILTER_FIELDS = {
    "id": exact_field(users.c.id),
    "population.id": exact_field(users.c.population_id),
    "username": text_field(users.c.username_key, fold=True),
    "email": text_field(users.c.email_key, fold=True),
    "name.given": text_field(users.c.name_given_key, fold=True),
    "name.family": text_field(users.c.name_family_key, fold=True),
    "enabled": boolean_field(users.c.enabled),
}


class Name(msgspec.Struct, omit_defaults=True):
    given: str | None = None
    family: str | None = None
    middle: str | None = None
    formatted: str | None = None


class UserBody(msgspec.Struct):
    """POST and PUT body. Read-only and unknown fields are not here: ignored, never applied."""

    username: str
    email: str
    name: Name | None = None
    enabled: bool | None = None
    population: Ref | None = None

    def to_input(self) -> rules.UserInput:
        name = self.name or Name()
        return rules.UserInput(
            username=self.username,
            email=self.email,
            given=name.given,
            family=name.family,
            middle=name.middle,
            formatted=name.formatted,
            enabled=True if self.enabled is None else self.enabled,
            population_id=self.population.id if self.population else None,
        )


class User(msgspec.Struct, kw_only=True):
    links: dict[str, Link] = msgspec.field(name="_links")
    id: str
    environment: Ref
    population: Ref
    username: str
    email: str
    name: Name | UnsetType = UNSET
    enabled: bool
    createdAt: str
    updatedAt: str


class UserPopulation(msgspec.Struct, kw_only=True):
    links: dict[str, Link] = msgspec.field(name="_links")
    id: str


def _user(request: Request, row: Row[Any]) -> User:
    environment_path = f"environments/{row.environment_id}"
    name = Name(row.name_given, row.name_family, row.name_middle, row.name_formatted)
    return User(
        links={
            "self": api_url(request, f"{environment_path}/users/{row.id}"),
            "environment": api_url(request, environment_path),
            "population": api_url(request, f"{environment_path}/populations/{row.population_id}"),
        },
        id=row.id,
        environment=Ref(row.environment_id),
        population=Ref(row.population_id),
        username=row.username,
        email=row.email,
        name=UNSET if name == Name() else name,
        enabled=row.enabled,
        createdAt=iso_ms(row.created_at),
        updatedAt=iso_ms(row.updated_at),
    )


def _user_population(request: Request, environment_id: str, population_id: str) -> UserPopulation:
    # As in PingOne, "self" points at the population resource itself.
    environment_path = f"environments/{environment_id}"
    return UserPopulation(
        links={
            "self": api_url(request, f"{environment_path}/populations/{population_id}"),
            "environment": api_url(request, environment_path),
        },
        id=population_id,
    )


USERS = "/v1/environments/{envID}/users"


@router.route("POST", USERS, summary="Create a user", request=UserBody, response=User, status=201)
async def create_user(request: Request) -> Response:
    environment_id = request.path_params["envID"]
    body = await read_json(request, UserBody)
    async with services(request).db.write() as conn:
        actor = await current_actor(request, conn)
        user_id = await rules.create_user(conn, actor, environment_id, body.to_input())
        row = await rules.read_user(conn, actor, environment_id, user_id)
    return JSONResponse(_user(request, row), status_code=201)


@router.route("GET", USERS, summary="List users", response=User, list_of="users")
async def list_users(request: Request) -> Response:
    environment_id = request.path_params["envID"]
    page = page_request(request, default_limit=100, max_limit=1000)
    async with services(request).db.read() as conn:
        actor = await current_actor(request, conn)
        scope = await authorize_population_scope(conn, actor, Permission.USER_READ, environment_id)
        query = select(users).where(users.c.environment_id == environment_id)
        if scope is not None:
            query = query.where(users.c.population_id.in_(scope))
        if page.filter:
            query = query.where(filter_condition(page.filter, FILTER_FIELDS))
        result = await fetch_page(conn, query, users.c.created_at, users.c.id, page)
    items = [_user(request, row) for row in result.rows]
    # No total count: counting millions of users per page would cost more than the page.
    return JSONResponse(list_body(request, "users", items, result, None))


async def _read(request: Request) -> Row[Any]:
    async with services(request).db.read() as conn:
        actor = await current_actor(request, conn)
        return await rules.read_user(
            conn, actor, request.path_params["envID"], request.path_params["userID"]
        )


@router.route("GET", USERS + "/{userID}", summary="Read a user", response=User)
async def read_user(request: Request) -> Response:
    return JSONResponse(_user(request, await _read(request)))


@router.route("PUT", USERS + "/{userID}", summary="Replace a user", request=UserBody, response=User)
async def replace_user(request: Request) -> Response:
    environment_id, user_id = request.path_params["envID"], request.path_params["userID"]
    body = await read_json(request, UserBody)
    async with services(request).db.write() as conn:
        actor = await current_actor(request, conn)
        await rules.replace_user(conn, actor, environment_id, user_id, body.to_input())
        row = await rules.read_user(conn, actor, environment_id, user_id)
    return JSONResponse(_user(request, row))


@router.route("DELETE", USERS + "/{userID}", summary="Delete a user", status=204)
async def delete_user(request: Request) -> Response:
    async with services(request).db.write() as conn:
        actor = await current_actor(request, conn)
        await rules.delete_user(
            conn, actor, request.path_params["envID"], request.path_params["userID"]
        )
    return no_content()


@router.route(
    "GET",
    USERS + "/{userID}/population",
    summary="Read a user's population",
    response=UserPopulation,
)
async def read_user_population(request: Request) -> Response:
    row = await _read(request)
    return JSONResponse(_user_population(request, row.environment_id, row.population_id))


@router.route(
    "PUT",
    USERS + "/{userID}/population",
    summary="Move a user to another population",
    request=Ref,
    response=UserPopulation,
)
async def move_user(request: Request) -> Response:
    environment_id, user_id = request.path_params["envID"], request.path_params["userID"]
    body = await read_json(request, Ref)
    async with services(request).db.write() as conn:
        actor = await current_actor(request, conn)
        await rules.move_user(conn, actor, environment_id, user_id, body.id)
    return JSONResponse(_user_population(request, environment_id, body.id))
