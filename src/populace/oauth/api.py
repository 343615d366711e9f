"""HTTP: the authorization server of each environment (``/{envID}/as/...``).

Its endpoints read the request themselves (a form body, Basic credentials, cookies) and answer
RFC 6749 errors, so they are declared raw: the dispatcher's bearer-token ceremony does not
apply. The rules are in ``signon.py``; this module reads requests and writes answers."""

from __future__ import annotations

import secrets
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from populace.applications import store as application_store
from populace.auth.tokens import issue_token
from populace.emulation import now_seconds
from populace.environments import store as environment_store
from populace.errors import (
    ApiError,
    Detail,
    ErrorBody,
    OAuthError,
    OAuthErrorBody,
    not_found,
    unauthorized,
)
from populace.http.dispatch import services
from populace.http.request import base_url
from populace.http.responses import NO_STORE, json_response
from populace.http.router import ApiRouter
from populace.oauth import browser, clients, signon
from populace.oauth.browser import auth_base
from populace.oauth.flows import flow_response
from populace.oauth.signon import Issuer, RedirectError
from populace.oauth.tokens import user_claims
from populace.oauth.wire import (
    AuthorizeRequest,
    AuthorizeResponse,
    Flow,
    Introspection,
    Jwks,
    OpenIdConfiguration,
    Resumed,
    SignoffRequest,
    TokenParameter,
    TokenRequest,
    TokenResponse,
    UserInfo,
)
from populace.wire import UNSET, Link, is_uuid

router = ApiRouter("Authorization server", prefix="/{envID}/as")

PUBLIC_ERRORS = {404: ErrorBody, 503: ErrorBody}
OAUTH_ERRORS = {
    400: OAuthErrorBody,
    401: OAuthErrorBody,
    408: ErrorBody,
    413: ErrorBody,
    429: ErrorBody,
    503: ErrorBody,
}
FLOW_ERRORS = {400: ErrorBody, 404: ErrorBody, 415: ErrorBody, 429: ErrorBody, 503: ErrorBody}


def issuer(request: Request, environment_id: str) -> str:
    return f"{base_url(request)}/{environment_id}/as"


def _issuer(request: Request, environment_id: str) -> Issuer:
    svc = services(request)
    return Issuer(
        svc.keys,
        issuer(request, environment_id),
        base_url(request),
        svc.organization_id,
        svc.config.token_lifetime_seconds,
    )


def _tokens(issued: signon.TokenSet) -> Response:
    body = TokenResponse(
        issued.access_token,
        "Bearer",
        issued.expires_in,
        issued.scope,
        UNSET if issued.id_token is None else issued.id_token,
        UNSET if issued.refresh_token is None else issued.refresh_token,
    )
    return json_response(body, headers=NO_STORE)


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise OAuthError(400, "invalid_request", f"The parameter '{name}' is required.")
    return value


@router.raw(
    "POST",
    "/token",
    body=TokenRequest,
    response=TokenResponse,
    authenticated=False,
    form=True,
    no_store=True,
    errors=OAUTH_ERRORS,
)
async def token(request: Request) -> Response:
    """Issue tokens: client_credentials, authorization_code and refresh_token."""
    environment_id = request.path_params["envID"]
    form = await clients.form(request)
    grant_type = _required(form, "grant_type")
    if grant_type not in ("client_credentials", "authorization_code", "refresh_token"):
        raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant type '{grant_type}'.")
    app = await clients.authenticate(request, environment_id, form)
    svc = services(request)
    if grant_type == "authorization_code":
        if "AUTHORIZATION_CODE" not in app.grant_types:
            raise OAuthError(400, "unauthorized_client", "The client may not use this grant type.")
        code, redirect_uri = _required(form, "code"), form.get("redirect_uri")
        issued = await signon.exchange_code(
            svc.db, _issuer(request, environment_id), app, code, redirect_uri,
            form.get("code_verifier"),
        )  # fmt: skip
        return _tokens(issued)
    if grant_type == "refresh_token":
        refresh_token = _required(form, "refresh_token")
        issued = await signon.refresh(svc.db, _issuer(request, environment_id), app, refresh_token)
        return _tokens(issued)
    if "CLIENT_CREDENTIALS" not in app.grant_types:
        raise OAuthError(400, "unauthorized_client", "The client may not use this grant type.")
    lifetime = svc.config.token_lifetime_seconds
    access_token = issue_token(
        svc.keys,
        client_id=app.id,
        environment_id=environment_id,
        organization_id=svc.organization_id,
        issuer=issuer(request, environment_id),
        audience=base_url(request),
        lifetime_seconds=lifetime,
    )
    return json_response(TokenResponse(access_token, "Bearer", lifetime), headers=NO_STORE)


async def _known_environment(request: Request) -> str:
    environment_id = request.path_params["envID"]
    svc = services(request)
    if not is_uuid(environment_id):
        raise not_found()
    async with svc.db.read() as conn:
        if not await environment_store.exists(conn, svc.organization_id, environment_id):
            raise not_found()
    return environment_id


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
            authorization_endpoint=f"{iss}/authorize",
            token_endpoint=f"{iss}/token",
            userinfo_endpoint=f"{iss}/userinfo",
            jwks_uri=f"{iss}/jwks",
            end_session_endpoint=f"{iss}/signoff",
            introspection_endpoint=f"{iss}/introspect",
            revocation_endpoint=f"{iss}/revoke",
            scopes_supported=["openid", "profile", "email", "address", "phone", "offline_access"],
            response_types_supported=["code"],
            response_modes_supported=list(signon.RESPONSE_MODES),
            grant_types_supported=["authorization_code", "client_credentials", "refresh_token"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=["RS256"],
            userinfo_signing_alg_values_supported=["none"],
            token_endpoint_auth_methods_supported=[
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            code_challenge_methods_supported=["plain", "S256"],
            claims_parameter_supported=False,
            request_parameter_supported=False,
            request_uri_parameter_supported=False,
            claims_supported=[
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "amr",
                "nonce",
                "sid",
                "at_hash",
                "env",
                "org",
                "p1.region",
                "preferred_username",
                "given_name",
                "family_name",
                "middle_name",
                "name",
                "nickname",
                "locale",
                "zoneinfo",
                "updated_at",
                "email",
                "email_verified",
                "phone_number",
                "address",
            ],
        )
    )


# --- authorize, resume -----------------------------------------------------------------------


def _redirect_error(error: RedirectError) -> Response:
    """An authorize error: at the redirect URI, or as JSON for a flow asked as JSON."""
    if error.request.get("response_mode") == "pi.flow" or error.request["redirect_uri"] is None:
        raise ApiError(
            400, "INVALID_REQUEST", error.description, [Detail(error.error, error.description)]
        )
    answer = {"error": error.error, "error_description": error.description}
    return browser.deliver(error.request, answer)


AUTHORIZE: dict[str, Any] = {
    "response": Flow,
    "authenticated": False,
    "errors": FLOW_ERRORS,
    "redirects": {302: "To the hosted sign-on page, or to the redirect URI with an error"},
    "pages": {200: "form_post: a form that posts an error to the redirect URI"},
}


async def _params(request: Request) -> dict[str, str]:
    """A browser endpoint's parameters; a malformed request is PingOne's 400."""
    try:
        return await clients.form(request)
    except OAuthError as error:
        raise ApiError(400, "INVALID_REQUEST", error.description) from None


@router.raw("GET", "/authorize", **AUTHORIZE)
async def authorize(request: Request) -> Response:
    """Begin a sign-on (the code flow): with response_mode=pi.flow the flow as JSON, else a
    redirect to the hosted sign-on page."""
    return await _authorize(request, await _params(request))


@router.raw("POST", "/authorize", body=AuthorizeRequest, form=True, **AUTHORIZE)
async def authorize_posted(request: Request) -> Response:
    """Begin a sign-on, the parameters form-encoded in the body."""
    return await _authorize(request, await _params(request))


async def _authorize(request: Request, params: dict[str, str]) -> Response:
    environment_id = request.path_params["envID"]
    svc = services(request)
    as_json = params.get("response_mode") == "pi.flow"
    key = None if as_json else secrets.token_urlsafe(32)
    try:
        flow = await signon.authorize(
            svc.db,
            svc.organization_id,
            environment_id,
            params,
            request.cookies.get(browser.SESSION_COOKIE),
            key,
        )
    except RedirectError as error:
        return _redirect_error(error)
    if as_json:  # the flow's id is the end user's capability: never cached
        body = flow_response(request, flow)
        return json_response(body, headers=NO_STORE)
    base = auth_base(request, environment_id)
    if flow.status == signon.COMPLETED:  # the browser's session stands for it
        location = f"{base}/as/resume?flowId={flow.id}"
    else:
        location = f"{base}/signon/?flowId={flow.id}"
    response = RedirectResponse(location, 302, headers=NO_STORE)
    assert key is not None
    browser.set_flow_cookie(request, response, environment_id, flow.id, key)
    return response


@router.raw(
    "GET",
    "/resume",
    response=Resumed,
    authenticated=False,
    errors=FLOW_ERRORS,
    redirects={302: "To the redirect URI with the code and state"},
    pages={200: "form_post: a form that posts the code to the redirect URI"},
)
async def resume(request: Request) -> Response:
    """Finish a completed flow: the authorization code, at the redirect URI (or as JSON)."""
    environment_id = request.path_params["envID"]
    flow_id = request.query_params.get("flowId", "")
    resumed = await signon.resume(
        services(request).db, environment_id, flow_id, request.cookies.get(browser.SESSION_COOKIE)
    )
    state = resumed.request.get("state")
    if resumed.request.get("response_mode") == "pi.flow":
        url = f"{auth_base(request, environment_id)}/flows/{flow_id}"
        body = Resumed(
            links={"self": Link(url)},
            id=flow_id,
            status=signon.COMPLETED,
            authorize_response=AuthorizeResponse(resumed.code, state),
        )
        return json_response(body, headers=NO_STORE)
    return browser.deliver(resumed.request, {"code": resumed.code})


# --- userinfo, introspection, revocation, sign-off -----------------------------------------


def _signed_here(
    request: Request, environment_id: str, token: str, required: list[str]
) -> dict[str, Any] | None:
    """The claims of a JWT this deployment signed as this environment's issuer, whatever its
    expiry (the caller judges it on the deployment's clock); None for any other token."""
    keys = services(request).keys
    try:
        key = keys.get(str(jwt.get_unverified_header(token).get("kid", "")))
        if key is None:
            return None
        claims: dict[str, Any] = jwt.decode(
            token,
            key.public_key,
            algorithms=["RS256"],
            issuer=issuer(request, environment_id),
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False,
                     "require": required},
        )  # fmt: skip
    except jwt.PyJWTError:
        return None
    return claims


def _user_token(request: Request, environment_id: str, token: str) -> dict[str, Any] | None:
    """The claims of an unexpired access token issued here for this environment, else None."""
    claims = _signed_here(request, environment_id, token, ["exp", "iat", "client_id"])
    if claims is None or claims.get("env") != environment_id:
        return None
    live = isinstance(claims["exp"], int) and claims["exp"] > now_seconds()
    return claims if live else None


async def _userinfo(request: Request) -> Response:
    environment_id = request.path_params["envID"]
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("The request must carry a bearer access token.")
    claims = _user_token(request, environment_id, token.strip())
    if claims is None or "sub" not in claims or "jti" not in claims:
        raise unauthorized("The access token is not a user's token from this environment.")
    scopes = str(claims.get("scope", "")).split()
    if "openid" not in scopes:
        raise ApiError(
            403, "ACCESS_FAILED", "The access token does not hold the openid scope.",
            [Detail("INSUFFICIENT_SCOPE", "userinfo needs the openid scope.")],
        )  # fmt: skip
    async with services(request).db.read() as conn:
        user = await signon.token_user(conn, environment_id, claims["jti"])
    if user is None:
        raise unauthorized("The access token was revoked, or its user is gone.")
    return json_response(UserInfo(user.id, **user_claims(user, scopes)), headers=NO_STORE)


USERINFO = {
    "response": UserInfo,
    "authenticated": False,
    "errors": {401: ErrorBody, 403: ErrorBody},
}


@router.raw("GET", "/userinfo", **USERINFO)
async def userinfo(request: Request) -> Response:
    """The signed-on user's claims, as the access token's scopes release them."""
    return await _userinfo(request)


@router.raw("POST", "/userinfo", **USERINFO)
async def userinfo_posted(request: Request) -> Response:
    """The signed-on user's claims (POST)."""
    return await _userinfo(request)


@router.raw(
    "POST",
    "/introspect",
    body=TokenParameter,
    response=Introspection,
    authenticated=False,
    form=True,
    no_store=True,
    errors=OAUTH_ERRORS,
)
async def introspect(request: Request) -> Response:
    """Is a token active, and what does it say (RFC 7662)."""
    environment_id = request.path_params["envID"]
    form = await clients.form(request)
    token = _required(form, "token")
    await clients.authenticate(request, environment_id, form)
    claims = _user_token(request, environment_id, token) if token.count(".") == 2 else None
    svc = services(request)
    async with svc.db.read() as conn:
        if claims is not None:
            live = "jti" not in claims or await signon.token_user(
                conn, environment_id, claims["jti"]
            )
            if not live:
                return json_response(Introspection(False), headers=NO_STORE)
            known: dict[str, Any] = {f: claims.get(f) for f in Introspection.__struct_fields__}
            known.update(active=True, token_type="Bearer")
            return json_response(Introspection(**known), headers=NO_STORE)
        found = await signon.refresh_token_state(conn, environment_id, token)
    if found is None:
        return json_response(Introspection(False), headers=NO_STORE)
    row, grant = found
    return json_response(
        Introspection(
            active=True,
            client_id=grant.application_id,
            scope=grant.request["scope"],
            token_type="refresh_token",
            sub=grant.user_id,
            sid=grant.session_id,
            exp=row.expires_at // 1000,
            env=environment_id,
        ),
        headers=NO_STORE,
    )


@router.raw(
    "POST", "/revoke", body=TokenParameter, authenticated=False, form=True, errors=OAUTH_ERRORS
)
async def revoke(request: Request) -> Response:
    """Revoke a token of the calling client (RFC 7009): 200 whatever the token was."""
    environment_id = request.path_params["envID"]
    form = await clients.form(request)
    token = _required(form, "token")
    app = await clients.authenticate(request, environment_id, form)
    claims = _user_token(request, environment_id, token) if token.count(".") == 2 else None
    if claims is None or "jti" in claims:
        jti = None if claims is None else claims["jti"]
        await signon.revoke(services(request).db, app, token, jti)
    return Response(status_code=200, headers=NO_STORE)


def _hinted(request: Request, environment_id: str, hint: str) -> dict[str, Any]:
    """The claims of an ID token this environment issued (expired ones too)."""
    claims = _signed_here(request, environment_id, hint, ["sub", "aud"])
    if claims is None:
        raise ApiError(
            400, "INVALID_DATA", "The id_token_hint is not an ID token of this environment.",
            [Detail("INVALID_VALUE", "The id_token_hint is invalid.", "id_token_hint")],
        )  # fmt: skip
    return claims


async def _signoff(request: Request) -> Response:
    environment_id = await _known_environment(request)
    params = await _params(request)
    hint = params.get("id_token_hint")
    if not hint:
        raise ApiError(
            400, "INVALID_DATA", "The request must carry an id_token_hint.",
            [Detail("REQUIRED_VALUE", "id_token_hint is required.", "id_token_hint")],
        )  # fmt: skip
    claims = _hinted(request, environment_id, hint)
    client_id = str(claims["aud"])
    svc = services(request)
    async with svc.db.read() as conn:
        app = (
            await application_store.get(conn, environment_id, client_id)
            if is_uuid(client_id)
            else None
        )
    if app is None or not app.enabled:
        raise not_found()
    target = params.get("post_logout_redirect_uri")
    if target is not None and target not in (app.post_logout_redirect_uris or []):
        raise ApiError(
            400, "INVALID_DATA", "The post_logout_redirect_uri is not one of the application's.",
            [Detail("INVALID_VALUE", "Unregistered URI.", "post_logout_redirect_uri")],
        )  # fmt: skip
    session_token = request.cookies.get(browser.SESSION_COOKIE)
    ended = await signon.sign_off(svc.db, environment_id, str(claims["sub"]), session_token)
    if target is None:
        response: Response = HTMLResponse(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signed off'
            "</title></head><body><p>You are signed off.</p></body></html>",
            headers=NO_STORE,
        )
    else:
        state = params.get("state")
        response = browser.deliver(
            {"redirect_uri": target, "state": state, "response_mode": "query"}, {}
        )
    if ended:
        browser.clear_session_cookie(request, response, environment_id)
    return response


SIGNOFF: dict[str, Any] = {
    "authenticated": False,
    "errors": {400: ErrorBody, 404: ErrorBody},
    "pages": {200: "Signed off (no post-logout URI given)"},
    "redirects": {302: "To the post-logout redirect URI, with the state"},
}


@router.raw("GET", "/signoff", **SIGNOFF)
async def signoff(request: Request) -> Response:
    """End the user's session, then go to the application's post-logout URI."""
    return await _signoff(request)


@router.raw("POST", "/signoff", body=SignoffRequest, form=True, **SIGNOFF)
async def signoff_posted(request: Request) -> Response:
    """End the user's session (POST)."""
    return await _signoff(request)
