"""HTTP: /v1/organizations and the organization's licenses."""

from __future__ import annotations

from populace.auth.roles import Permission as P
from populace.errors import found
from populace.http.dispatch import Call
from populace.http.lists import Listing
from populace.http.router import ApiRouter
from populace.organizations import store
from populace.organizations.wire import License, Organization, license_json, organization_json

router = ApiRouter("Organization")

LICENSES = "/organizations/{orgID}/licenses"

router.listing(
    "/organizations",
    Listing("organizations", organization_json, store.ORGANIZATIONS),
    P.ORGANIZATION_READ,
)
router.listing(LICENSES, Listing("licenses", license_json, store.LICENSES), P.LICENSE_READ)


@router.get("/organizations/{orgID}", P.ORGANIZATION_READ)
async def read_organization(call: Call[None]) -> Organization:
    """Read the organization."""
    row = await store.get(call.conn, call.access.organization_id)
    return organization_json(call.urls, found(row))


@router.get(LICENSES + "/{licenseID}", P.LICENSE_READ)
async def read_license(call: Call[None]) -> License:
    """Read a license."""
    row = await store.get_license(call.conn, call.access.organization_id, call.param("licenseID"))
    return license_json(call.urls, found(row))
