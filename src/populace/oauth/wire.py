"""The authorization server's shapes on the wire: tokens, flows, discovery (snake_case keys
where OAuth names them so, camelCase where PingOne's flows API does)."""

from __future__ import annotations

from typing import Any

import msgspec

from populace.wire import UNSET, Link, Ref, UnsetType, iso_ms

FLOW_MEDIA = "application/vnd.pingidentity.{}+json"


class TokenRequest(msgspec.Struct):
    """The token endpoint's form: the grant's parameters, and the client's when it
    authenticates in the body (or is public)."""

    grant_type: str
    code: str | None = None
    redirect_uri: str | None = None
    code_verifier: str | None = None
    refresh_token: str | None = None
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class TokenParameter(msgspec.Struct):
    """Introspection's and revocation's form."""

    token: str
    token_type_hint: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class AuthorizeRequest(msgspec.Struct):
    response_type: str
    client_id: str
    scope: str
    redirect_uri: str | None = None
    response_mode: str | None = None
    state: str | None = None
    nonce: str | None = None
    prompt: str | None = None
    max_age: str | None = None
    login_hint: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None


class SignoffRequest(msgspec.Struct):
    id_token_hint: str
    post_logout_redirect_uri: str | None = None
    state: str | None = None


class Address(msgspec.Struct, omit_defaults=True):
    street_address: str | None = None
    locality: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class UserInfo(msgspec.Struct, omit_defaults=True):
    """The claims userinfo releases: ``sub`` always, the rest as the token's scopes allow."""

    sub: str
    preferred_username: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    middle_name: str | None = None
    name: str | None = None
    nickname: str | None = None
    locale: str | None = None
    zoneinfo: str | None = None
    updated_at: int | None = None
    email: str | None = None
    email_verified: bool | None = None
    phone_number: str | None = None
    address: Address | None = None


class TokenResponse(msgspec.Struct, omit_defaults=True):
    access_token: str
    token_type: str
    expires_in: int
    scope: str = ""
    id_token: str | UnsetType = UNSET
    refresh_token: str | UnsetType = UNSET


class Jwks(msgspec.Struct):
    keys: list[dict[str, Any]]


class OpenIdConfiguration(msgspec.Struct):
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    end_session_endpoint: str
    introspection_endpoint: str
    revocation_endpoint: str
    scopes_supported: list[str]
    response_types_supported: list[str]
    response_modes_supported: list[str]
    grant_types_supported: list[str]
    subject_types_supported: list[str]
    id_token_signing_alg_values_supported: list[str]
    userinfo_signing_alg_values_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    code_challenge_methods_supported: list[str]
    claims_parameter_supported: bool
    request_parameter_supported: bool
    request_uri_parameter_supported: bool
    claims_supported: list[str]


class NamedRef(msgspec.Struct):
    name: str


class FlowEmbedded(msgspec.Struct):
    application: NamedRef


class Flow(msgspec.Struct, kw_only=True, rename="camel"):
    """A sign-on flow as PingOne's flows API shows it: its status, and a link per action it
    takes next."""

    links: dict[str, Link] = msgspec.field(name="_links")
    id: str
    environment: Ref
    status: str
    resume_url: str
    created_at: str
    expires_at: str
    embedded: FlowEmbedded = msgspec.field(name="_embedded")


class AuthorizeResponse(msgspec.Struct, omit_defaults=True):
    code: str
    state: str | None = None


class Resumed(msgspec.Struct, kw_only=True, rename="camel"):
    """What ``/as/resume`` answers for a flow begun with ``response_mode=pi.flow``."""

    links: dict[str, Link] = msgspec.field(name="_links")
    id: str
    status: str
    authorize_response: AuthorizeResponse


class UsernamePassword(msgspec.Struct):
    username: str
    password: str


class PasswordChange(msgspec.Struct, rename="camel"):
    current_password: str
    new_password: str


class Introspection(msgspec.Struct, omit_defaults=True):
    active: bool
    client_id: str | None = None
    scope: str | None = None
    token_type: str | None = None
    sub: str | None = None
    sid: str | None = None
    iss: str | None = None
    aud: list[str] | str | None = None
    exp: int | None = None
    iat: int | None = None
    auth_time: int | None = None
    env: str | None = None
    org: str | None = None


# The action each waiting status takes next (one link each, as PingOne lists them).
NEXT_ACTIONS = {
    "USERNAME_PASSWORD_REQUIRED": ("usernamePassword.check",),
    "MUST_CHANGE_PASSWORD": ("password.reset",),
    "PASSWORD_EXPIRED": ("password.reset",),
}


def flow_json(auth_base: str, flow: Any) -> Flow:
    """``auth_base`` is ``{base}/{envID}``, where the flows and ``/as`` live."""
    url = f"{auth_base}/flows/{flow.id}"
    links = {"self": Link(url)}
    for action in NEXT_ACTIONS.get(flow.status, ()):
        links[action] = Link(url)
    links["session.reset"] = Link(url)
    return Flow(
        links=links,
        id=flow.id,
        environment=Ref(flow.environment_id),
        status=flow.status,
        resume_url=f"{auth_base}/as/resume?flowId={flow.id}",
        created_at=iso_ms(flow.created_at),
        expires_at=iso_ms(flow.expires_at),
        embedded=FlowEmbedded(NamedRef(flow.request.get("app_name", ""))),
    )
