"""Environments on the wire."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from populace.wire import UNSET, Ref, Resource, UnsetType, Urls, iso_ms

EnvironmentType = Literal["SANDBOX", "PRODUCTION"]
Region = Literal["NA", "EU", "AP", "CA", "AU", "SG"]


class EnvironmentBody(msgspec.Struct):
    name: str
    region: Region
    type: EnvironmentType
    license: Ref
    description: str | None = None

    def to_values(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "region": self.region,
            "license_id": self.license.id,
        }


class Environment(Resource, kw_only=True):
    name: str
    description: str | UnsetType = UNSET
    organization: Ref
    type: str
    region: str
    license: Ref
    status: str = "ACTIVE"
    created_at: str
    updated_at: str


def environment_json(urls: Urls, row: Any) -> Environment:
    organization_path = f"organizations/{row.organization_id}"
    return Environment(
        links={
            "self": urls.environment(row.id),
            "organization": urls.api(organization_path),
            "license": urls.api(f"{organization_path}/licenses/{row.license_id}"),
            "populations": urls.environment(row.id, "/populations"),
        },
        id=row.id,
        name=row.name,
        description=UNSET if row.description is None else row.description,
        organization=Ref(row.organization_id),
        type=row.type,
        region=row.region,
        license=Ref(row.license_id),
        created_at=iso_ms(row.created_at),
        updated_at=iso_ms(row.updated_at),
    )
