"""HTTP: /v1/environments."""

from __future__ import annotations

from populace.auth.roles import Permission as P
from populace.environments import rules, store
from populace.environments.wire import Environment, EnvironmentBody, environment_json
from populace.http.dispatch import Call
from populace.http.lists import Listing
from populace.http.router import ApiRouter

router = ApiRouter("Environments")

ENVIRONMENTS = "/environments"
ENVIRONMENT = "/environments/{envID}"

router.listing(
    ENVIRONMENTS,
    Listing("environments", environment_json, store.LIST, 1000, max_limit=5000),
    P.ENVIRONMENT_READ,
    partial=True,
)


@router.post(ENVIRONMENTS, P.ENVIRONMENT_CREATE)
async def create_environment(call: Call[EnvironmentBody]) -> Environment:
    """Create an environment."""
    row = await rules.create_environment(call.conn, call.access, call.body.to_values())
    return environment_json(call.urls, row)


@router.get(ENVIRONMENT, P.ENVIRONMENT_READ)
async def read_environment(call: Call[None]) -> Environment:
    """Read an environment."""
    return environment_json(call.urls, await rules.read_environment(call.conn, call.access))


@router.put(ENVIRONMENT, P.ENVIRONMENT_UPDATE)
async def update_environment(call: Call[EnvironmentBody]) -> Environment:
    """Update an environment."""
    row = await rules.update_environment(call.conn, call.access, call.body.to_values())
    return environment_json(call.urls, row)


@router.delete(ENVIRONMENT, P.ENVIRONMENT_DELETE)
async def delete_environment(call: Call[None]) -> None:
    """Delete an environment."""
    await rules.delete_environment(call.conn, call.access)
