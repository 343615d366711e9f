"""Applications, their secret and role assignments on the wire."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from populace.wire import UNSET, NamedInEnvironment, Ref, UnsetType, Urls, iso_ms

ApplicationType = Literal["WORKER", "WEB_APP", "SINGLE_PAGE_APP", "NATIVE_APP"]
GrantType = Literal["AUTHORIZATION_CODE", "REFRESH_TOKEN", "CLIENT_CREDENTIALS"]
AuthMethod = Literal["NONE", "CLIENT_SECRET_BASIC", "CLIENT_SECRET_POST"]
PkceEnforcement = Literal["OPTIONAL", "REQUIRED", "S256_REQUIRED"]


class ApplicationBody(msgspec.Struct, rename="camel"):
    """An OIDC application as a create or a replace (PUT) states it. Lists left out take the
    type's defaults: a Worker gets client credentials, the others the code flow."""

    name: str
    enabled: bool
    type: ApplicationType
    protocol: Literal["OPENID_CONNECT"]
    grant_types: list[GrantType] | None = None
    response_types: list[Literal["CODE"]] | None = None
    redirect_uris: list[str] = msgspec.field(default_factory=list)
    post_logout_redirect_uris: list[str] = msgspec.field(default_factory=list)
    token_endpoint_auth_method: AuthMethod | None = None
    pkce_enforcement: PkceEnforcement = "OPTIONAL"
    refresh_token_duration: int = 2_592_000
    refresh_token_rolling_duration: int = 15_552_000
    description: str | None = None


class PreviousSecretBody(msgspec.Struct, rename="camel"):
    expires_at: str


class RotateSecretBody(msgspec.Struct):
    """``POST .../secret``: a new secret; ``previous.expiresAt`` keeps the old one valid."""

    previous: PreviousSecretBody | None = None


class Application(NamedInEnvironment, kw_only=True):
    enabled: bool
    type: str
    protocol: str
    grant_types: list[str]
    response_types: list[str] | UnsetType = UNSET
    redirect_uris: list[str] | UnsetType = UNSET
    post_logout_redirect_uris: list[str] | UnsetType = UNSET
    token_endpoint_auth_method: str
    pkce_enforcement: str
    refresh_token_duration: int | UnsetType = UNSET
    refresh_token_rolling_duration: int | UnsetType = UNSET
    created_at: str
    updated_at: str


class PreviousSecret(msgspec.Struct, rename="camel"):
    secret: str
    expires_at: str


class Secret(msgspec.Struct, omit_defaults=True):
    secret: str
    previous: PreviousSecret | None = None


def _application_path(environment_id: str, application_id: str) -> str:
    return f"environments/{environment_id}/applications/{application_id}"


def _listed(values: list[str] | None) -> list[str] | UnsetType:
    return list(values) if values else UNSET


def application_json(urls: Urls, row: Any) -> Application:
    path = _application_path(row.environment_id, row.id)
    refreshes = "REFRESH_TOKEN" in row.grant_types
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
        response_types=_listed(row.response_types),
        redirect_uris=_listed(row.redirect_uris),
        post_logout_redirect_uris=_listed(row.post_logout_redirect_uris),
        token_endpoint_auth_method=row.token_endpoint_auth_method,
        pkce_enforcement=row.pkce_enforcement,
        refresh_token_duration=row.refresh_token_duration if refreshes else UNSET,
        refresh_token_rolling_duration=row.refresh_token_rolling_duration if refreshes else UNSET,
        created_at=iso_ms(row.created_at),
        updated_at=iso_ms(row.updated_at),
    )
