"""Applications, their secret and role assignments on the wire."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from populace.wire import UNSET, NamedInEnvironment, Ref, Urls, iso_ms


class ApplicationBody(msgspec.Struct, rename="camel"):
    name: str
    enabled: bool
    type: Literal["WORKER"]
    protocol: Literal["OPENID_CONNECT"]
    grant_types: list[Literal["CLIENT_CREDENTIALS"]] = msgspec.field(
        default_factory=lambda: ["CLIENT_CREDENTIALS"]
    )
    token_endpoint_auth_method: Literal["CLIENT_SECRET_BASIC", "CLIENT_SECRET_POST"] = (
        "CLIENT_SECRET_BASIC"
    )
    description: str | None = None

    def to_values(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "enabled": self.enabled,
            "type": self.type,
            "protocol": self.protocol,
            "grant_types": list(self.grant_types),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
        }


class Application(NamedInEnvironment, kw_only=True):
    enabled: bool
    type: str
    protocol: str
    grant_types: list[str]
    token_endpoint_auth_method: str
    created_at: str
    updated_at: str


class Secret(msgspec.Struct):
    secret: str


def _application_path(environment_id: str, application_id: str) -> str:
    return f"environments/{environment_id}/applications/{application_id}"


def application_json(urls: Urls, row: Any) -> Application:
    path = _application_path(row.environment_id, row.id)
    return Application(
        links={
            "self": urls.api(path),
            "environment": urls.environment(row.environment_id),
            "secret": urls.api(f"{path}/secret"),
            "roleAssignments": urls.api(f"{path}/roleAssignments"),
        },
        id=row.id,
        environment=Ref(row.environment_id),
        name=row.name,
        description=UNSET if row.description is None else row.description,
        enabled=row.enabled,
        type=row.type,
        protocol=row.protocol,
        grant_types=list(row.grant_types),
        token_endpoint_auth_method=row.token_endpoint_auth_method,
        created_at=iso_ms(row.created_at),
        updated_at=iso_ms(row.updated_at),
    )
