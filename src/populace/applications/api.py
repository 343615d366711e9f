"""HTTP: applications and their secret (their role assignments: ``assignments/api.py``)."""

from __future__ import annotations

from populace.applications import rules, store
from populace.applications.wire import (
    Application,
    ApplicationBody,
    Secret,
    application_json,
)
from populace.auth.roles import Permission as P
from populace.http.dispatch import Call
from populace.http.lists import Listing
from populace.http.router import ApiRouter

router = ApiRouter("Applications")

APPLICATIONS = "/environments/{envID}/applications"
APPLICATION = APPLICATIONS + "/{appID}"

router.listing(
    APPLICATIONS, Listing("applications", application_json, store.LIST), P.APPLICATION_READ
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
