"""HTTP: /v1/environments/{envID}/populations."""

from __future__ import annotations

from populace.auth.roles import Permission as P
from populace.http.dispatch import Call
from populace.http.lists import Listing
from populace.http.router import ApiRouter
from populace.populations import rules, store
from populace.populations.wire import Population, PopulationBody, population_json

router = ApiRouter("Populations")

POPULATIONS = "/environments/{envID}/populations"
POPULATION = POPULATIONS + "/{popID}"

router.listing(
    POPULATIONS,
    Listing("populations", population_json, store.LIST, default_limit=250),
    P.POPULATION_READ,
    partial=True,
)


@router.post(POPULATIONS, P.POPULATION_CREATE)
async def create_population(call: Call[PopulationBody]) -> Population:
    """Create a population."""
    row = await rules.create_population(call.conn, call.access, call.body.to_input())
    return population_json(call.urls, row)


@router.get(POPULATION, P.POPULATION_READ, partial=True)
async def read_population(call: Call[None]) -> Population:
    """Read a population."""
    row = await rules.read_population(call.conn, call.access, call.param("popID"))
    return population_json(call.urls, row)


@router.put(POPULATION, P.POPULATION_UPDATE)
async def update_population(call: Call[PopulationBody]) -> Population:
    """Replace a population."""
    population_id, body = call.param("popID"), call.body.to_input()
    return population_json(
        call.urls, await rules.update_population(call.conn, call.access, population_id, body)
    )


@router.delete(POPULATION, P.POPULATION_DELETE)
async def delete_population(call: Call[None]) -> None:
    """Delete a population."""
    await rules.delete_population(call.conn, call.access, call.param("popID"))
