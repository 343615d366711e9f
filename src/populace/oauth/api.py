"""HTTP: the authorization server of each environment (``/{envID}/as/...``).

Its endpoints read the request themselves (a form body, Basic credentials) and answer RFC 6749
errors, so they are declared raw: the dispatcher's bearer-token ceremony does not apply."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qsl, unquote

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from populace.applications import store as application_store
from populace.auth.tokens import issue_token
from populace.environments import store as environment_store
from populace.errors import ErrorBody, OAuthError, OAuthErrorBody, not_found
from populace.http import access
from populace.http.dispatch import services
from populace.http.request import base_url, read_body
from populace.http.responses import NO_STORE, json_response
from populace.http.router import ApiRouter
from populace.services import Services
from populace.wire import is_uuid

router = ApiRouter("Authorization server", prefix="/{envID}/as")

_BAD_CLIENT = "Client authentication failed."


class TokenRequest(msgspec.Struct):
    grant_type: str
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    scope: str = ""


class Jwks(msgspec.Struct):
    keys: list[dict[str, Any]]


class OpenIdConfiguration(msgspec.Struct):
    issuer: str
    token_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    id_token_signing_alg_values_supported: list[str]
    response_types_supported: list[str]
    subject_types_supported: list[str]


def issuer(request: Request, environment_id: str) -> str:
    return f"{base_url(request)}/{environment_id}/as"


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError(401, "invalid_client", _BAD_CLIENT)
    try:
        client_id, sep, secret = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError(401, "invalid_client", _BAD_CLIENT) from None
    if not sep:
        raise OAuthError(401, "invalid_client", _BAD_CLIENT)
    # RFC 6749 2.3.1: the client id and secret are form-encoded before Basic encoding.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


async def _form(request: Request) -> dict[str, str]:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise OAuthError(
            400, "invalid_request", "The token request must be application/x-www-form-urlencoded."
        )
    try:
        text = (await read_body(request, limit=64 * 1024)).decode()
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError(400, "invalid_request", "The token request body is malformed.") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise OAuthError(400, "invalid_request", f"The parameter '{key}' is repeated.")
        form[key] = value
    return form


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    basic = _basic_credentials(request)
    posted = form.get("client_id"), form.get("client_secret")
    if basic is not None and posted[1] is not None:
        raise OAuthError(
            400, "invalid_request", "Use one client authentication method, not several."
        )
    if basic is not None:
        return basic
    if posted[0] and posted[1] is not None:
        return posted[0], posted[1]
    raise OAuthError(401, "invalid_client", _BAD_CLIENT)


@router.raw(
    "POST",
    "/token",
    body=TokenRequest,
    response=TokenResponse,
    authenticated=False,
    form=True,
    no_store=True,
    errors={
        400: OAuthErrorBody,
        401: OAuthErrorBody,
        408: ErrorBody,
        413: ErrorBody,
        429: ErrorBody,
        503: ErrorBody,
    },
)
async def token(request: Request) -> Response:
    """Issue an access token (client_credentials)."""
    environment_id = request.path_params["envID"]
    form = await _form(request)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError(400, "invalid_request", "The parameter 'grant_type' is required.")
    if grant_type != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant type '{grant_type}'.")
    client_id, secret = _client_credentials(request, form)
    svc = services(request)
    address = request.client.host if request.client else ""
    if svc.throttle is not None:
        await svc.throttle.check(address)
    app = await _authenticated_client(svc, environment_id, client_id, secret)
    if app is None:
        if svc.throttle is not None:
            await svc.throttle.failed(address)
        raise OAuthError(401, "invalid_client", _BAD_CLIENT)
    access.identify(request.scope, client_id)
    # Counted once authenticated: a stranger naming a client cannot spend its allowance.
    if svc.limiter is not None:
        await svc.limiter.check(client_id)
    if "CLIENT_CREDENTIALS" not in app.grant_types:
        raise OAuthError(400, "unauthorized_client", "The client may not use this grant type.")
    lifetime = svc.config.token_lifetime_seconds
    access_token = issue_token(
        svc.keys,
        client_id=client_id,
        environment_id=environment_id,
        organization_id=svc.organization_id,
        issuer=issuer(request, environment_id),
        audience=base_url(request),
        lifetime_seconds=lifetime,
    )
    return json_response(TokenResponse(access_token, "Bearer", lifetime), headers=NO_STORE)


async def _authenticated_client(
    svc: Services, environment_id: str, client_id: str, secret: str
) -> Any:
    """The enabled application whose secret was presented, else None: the same answer, after
    the same work, whether the client is unknown, disabled or the secret is wrong."""
    app = None
    # Client ids are UUIDs; anything else cannot name a client (and never reaches the database).
    if is_uuid(client_id) and is_uuid(environment_id):
        async with svc.db.read() as conn:
            app = await application_store.get(conn, environment_id, client_id)
    matches = svc.box.matches(None if app is None else app.client_secret, secret)
    return app if matches and app is not None and app.enabled else None


async def _known_environment(request: Request) -> str:
    environment_id = request.path_params["envID"]
    svc = services(request)
    if not is_uuid(environment_id):
        raise not_found()
    async with svc.db.read() as conn:
        if not await environment_store.exists(conn, svc.organization_id, environment_id):
            raise not_found()
    return environment_id


PUBLIC_ERRORS = {404: ErrorBody, 503: ErrorBody}


@router.raw("GET", "/jwks", response=Jwks, authenticated=False, errors=PUBLIC_ERRORS)
async def jwks(request: Request) -> Response:
    """The signing keys."""
    await _known_environment(request)
    return json_response(services(request).keys.jwks())


@router.raw(
    "GET",
    "/.well-known/openid-configuration",
    errors=PUBLIC_ERRORS,
    response=OpenIdConfiguration,
    authenticated=False,
)
async def openid_configuration(request: Request) -> Response:
    """OpenID Connect discovery."""
    environment_id = await _known_environment(request)
    iss = issuer(request, environment_id)
    return json_response(
        OpenIdConfiguration(
            issuer=iss,
            token_endpoint=f"{iss}/token",
            jwks_uri=f"{iss}/jwks",
            grant_types_supported=["client_credentials"],
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
            id_token_signing_alg_values_supported=["RS256"],
            response_types_supported=["token"],
            subject_types_supported=["public"],
        )
    )
