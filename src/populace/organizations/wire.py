"""The organization and its licenses on the wire."""

from __future__ import annotations

from typing import Any

from populace.wire import Ref, Resource, Urls, iso_ms


class Organization(Resource, kw_only=True):
    name: str
    type: str = "INTERNAL"
    created_at: str
    updated_at: str


class License(Resource, kw_only=True):
    name: str
    package: str
    organization: Ref
    status: str = "ACTIVE"
    created_at: str


def organization_json(urls: Urls, row: Any) -> Organization:
    return Organization(
        links={"self": urls.api(f"organizations/{row.id}")},
        id=row.id,
        name=row.name,
        created_at=iso_ms(row.created_at),
        updated_at=iso_ms(row.updated_at),
    )


def license_json(urls: Urls, row: Any) -> License:
    return License(
        links={"self": urls.api(f"organizations/{row.organization_id}/licenses/{row.id}")},
        id=row.id,
        name=row.name,
        package=row.package,
        organization=Ref(row.organization_id),
        created_at=iso_ms(row.created_at),
    )
