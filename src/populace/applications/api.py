"""HTTP: applications and their secret (their role assignments: ``assignments/api.py``)."""

from __future__ import annotations

from populace.applications import rules, store
from populace.applications.wire import (
    Application,
    ApplicationBody,
    PreviousSecret,
    RotateSecretBody,
    Secret,
    application_json,
)
from populace.auth.roles import Permission as P
from populace.http.dispatch import Call
from populace.http.lists import Listing
from populace.http.request import read_body
from populace.http.router import ApiRouter
from populace.wire import decode_body, iso_ms

router = ApiRouter("Applications")

APPLICATIONS = "/environments/{envID}/applications"
APPLICATION = APPLICATIONS + "/{appID}"
SECRET = APPLICATION + "/secret"

router.listing(
    APPLICATIONS, Listing("applications", application_json, store.LIST), P.APPLICATION_READ
)


@router.post(APPLICATIONS, P.APPLICATION_CREATE)
async def create_application(call: Call[ApplicationBody]) -> Application:
    """Create an OIDC application (Worker, Web, single-page or native)."""
    row = await rules.create_application(call.conn, call.access, call.services.box, call.body)
    return application_json(call.urls, row)


@router.get(APPLICATION, P.APPLICATION_READ)
async def read_application(call: Call[None]) -> Application:
    """Read an application."""
    row = await rules.read_application(call.conn, call.access, call.param("appID"))
    return application_json(call.urls, row)


@router.put(APPLICATION, P.APPLICATION_UPDATE)
async def update_application(call: Call[ApplicationBody]) -> Application:
    """Replace an application's settings (its type stays)."""
    row = await rules.replace_application(call.conn, call.access, call.param("appID"), call.body)
    return application_json(call.urls, row)


@router.delete(APPLICATION, P.APPLICATION_DELETE)
async def delete_application(call: Call[None]) -> None:
    """Delete an application."""
    await rules.delete_application(call.conn, call.access, call.param("appID"))


def _secret(secret: str, previous: tuple[str, int] | None) -> Secret:
    kept = None if previous is None else PreviousSecret(previous[0], iso_ms(previous[1]))
    return Secret(secret, kept)


@router.get(SECRET, P.APPLICATION_SECRET_READ, no_store=True)
async def read_secret(call: Call[None]) -> Secret:
    """Read an application's client secret (and the previous one while it is valid)."""
    box, application_id = call.services.box, call.param("appID")
    return _secret(*await rules.read_secret(call.conn, call.access, box, application_id))


@router.post(SECRET, P.APPLICATION_SECRET_UPDATE, no_store=True, status=200)
async def rotate_secret(call: Call[None]) -> Secret:
    """Rotate an application's client secret; ``previous.expiresAt`` keeps the old one valid.

    The body is optional (``{"previous": {"expiresAt": "..."}}``), so it is read here."""
    raw = await read_body(call.request)
    body = decode_body(raw, RotateSecretBody) if raw.strip() else RotateSecretBody()
    until = None if body.previous is None else body.previous.expires_at
    box, application_id = call.services.box, call.param("appID")
    return _secret(*await rules.rotate_secret(call.conn, call.access, box, application_id, until))


@router.delete(SECRET, P.APPLICATION_SECRET_UPDATE)
async def delete_previous_secret(call: Call[None]) -> None:
    """End the previous client secret now."""
    await rules.drop_previous_secret(call.conn, call.access, call.param("appID"))
