"""HTTP: /v1/environments/{envID}/populations."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Row, func, select
from starlette.requests import Request
from starlette.responses import Response

from populace.auth.actors import current_actor
from populace.auth.roles import Permission
from populace.environments.rules import authorize, authorize_population_scope
from populace.errors import not_found
from populace.filters import exact_field, filter_condition, text_field
from populace.openapi import ApiRouter
from populace.paging import fetch_page, list_body, page_request
from populace.populations import rules, store
from populace.storage.schema import populations
from populace.web import JSONResponse, api_url, no_content, read_json, services
from populace.wire import UNSET, Link, Ref, UnsetType, iso_ms

router = ApiRouter("Populations")

DEFAULT_LANGUAGE = "en"
FILTER_FIELDS = {
    "id": exact_field(populations.c.id),
    "name": text_field(populations.c.name_key, fold=True),
}


class PopulationBody(msgspec.Struct):
    """The request body of POST and PUT. Read-only and unknown fields are not here, so they are
    ignored, never applied."""

    name: str
    description: str | None = None
    default: bool | None = None
    passwordPolicy: Ref | None = None
    theme: Ref | None = None
    preferredLanguage: str | None = None
    alternativeIdentifiers: list[str] | None = None

    def to_input(self) -> rules.PopulationInput:
        return rules.PopulationInput(
            name=self.name,
            description=self.description,
            default=bool(self.default),
            password_policy_id=self.passwordPolicy.id if self.passwordPolicy else None,
            theme_id=self.theme.id if self.theme else None,
            preferred_language=self.preferredLanguage,
            alternative_identifiers=self.alternativeIdentifiers,
        )


class Population(msgspec.Struct, kw_only=True):
    links: dict[str, Link] = msgspec.field(name="_links")
    id: str
    environment: Ref
    name: str
    description: str | UnsetType = UNSET
    userCount: int
    createdAt: str
    updatedAt: str
    preferredLanguage: str
    theme: Ref | UnsetType = UNSET
    passwordPolicy: Ref | UnsetType = UNSET
    alternativeIdentifiers: list[str] | UnsetType = UNSET
    default: bool


def population_json(request: Request, row: Row[Any]) -> Population:
    environment_path = f"environments/{row.environment_id}"
    links = {
        "self": api_url(request, f"{environment_path}/populations/{row.id}"),
        "environment": api_url(request, environment_path),
    }
    if row.theme_id is not None:
        links["theme"] = api_url(request, f"{environment_path}/themes/{row.theme_id}")
    if row.password_policy_id is not None:
        links["passwordPolicy"] = api_url(
            request, f"{environment_path}/passwordPolicies/{row.password_policy_id}"
        )
    return Population(
        links=links,
        id=row.id,
        environment=Ref(row.environment_id),
        name=row.name,
        description=UNSET if row.description is None else row.description,
        userCount=row.user_count,
        createdAt=iso_ms(row.created_at),
        updatedAt=iso_ms(row.updated_at),
        preferredLanguage=row.preferred_language or DEFAULT_LANGUAGE,
        theme=UNSET if row.theme_id is None else Ref(row.theme_id),
        passwordPolicy=UNSET if row.password_policy_id is None else Ref(row.password_policy_id),
        alternativeIdentifiers=(
            UNSET if row.alternative_identifiers is None else list(row.alternative_identifiers)
        ),
        default=row.is_default,
    )


async def _answer(request: Request, conn: Any, population_id: str) -> Response:
    row = await store.get(conn, request.path_params["envID"], population_id)
    assert row is not None, "written in this transaction"
    return JSONResponse(population_json(request, row))


POPULATIONS = "/v1/environments/{envID}/populations"


@router.route(
    "POST",
    POPULATIONS,
    summary="Create a population",
    request=PopulationBody,
    response=Population,
    status=201,
)
async def create_population(request: Request) -> Response:
    body = await read_json(request, PopulationBody)
    async with services(request).db.write() as conn:
        actor = await current_actor(request, conn)
        row = await rules.create_population(
            conn, actor, request.path_params["envID"], body.to_input()
        )
    return JSONResponse(population_json(request, row), status_code=201)


@router.route(
    "GET", POPULATIONS, summary="List populations", response=Population, list_of="populations"
)
async def list_populations(request: Request) -> Response:
    environment_id = request.path_params["envID"]
    page = page_request(request, default_limit=250, max_limit=1000)
    async with services(request).db.read() as conn:
        actor = await current_actor(request, conn)
        scope = await authorize_population_scope(
            conn, actor, Permission.POPULATION_READ, environment_id
        )
        where = [populations.c.environment_id == environment_id]
        if scope is not None:
            where.append(populations.c.id.in_(scope))
        if page.filter:
            where.append(filter_condition(page.filter, FILTER_FIELDS))
        result = await fetch_page(
            conn,
            select(populations).where(*where),
            populations.c.created_at,
            populations.c.id,
            page,
        )
        count = await conn.scalar(select(func.count()).select_from(populations).where(*where))
    items = [population_json(request, row) for row in result.rows]
    return JSONResponse(list_body(request, "populations", items, result, count))


@router.route("GET", POPULATIONS + "/{popID}", summary="Read a population", response=Population)
async def read_population(request: Request) -> Response:
    environment_id, population_id = request.path_params["envID"], request.path_params["popID"]
    async with services(request).db.read() as conn:
        actor = await current_actor(request, conn)
        await authorize(
            conn,
            actor,
            Permission.POPULATION_READ,
            environment_id,
            population_id,
            check_environment=False,
        )
        row = await store.get(conn, environment_id, population_id)
    if row is None:
        raise not_found()
    return JSONResponse(population_json(request, row))


@router.route(
    "PUT",
    POPULATIONS + "/{popID}",
    summary="Replace a population",
    request=PopulationBody,
    response=Population,
)
async def update_population(request: Request) -> Response:
    body = await read_json(request, PopulationBody)
    population_id = request.path_params["popID"]
    async with services(request).db.write() as conn:
        actor = await current_actor(request, conn)
        await rules.update_population(
            conn, actor, request.path_params["envID"], population_id, body.to_input()
        )
        return await _answer(request, conn, population_id)


@router.route("DELETE", POPULATIONS + "/{popID}", summary="Delete a population", status=204)
async def delete_population(request: Request) -> Response:
    async with services(request).db.write() as conn:
        actor = await current_actor(request, conn)
        await rules.delete_population(
            conn, actor, request.path_params["envID"], request.path_params["popID"]
        )
    return no_content()
