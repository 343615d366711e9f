"""HTTP: the admin console at ``/console``: a page and its script and style, shipped in the
package (no CDN, no build step), and the few endpoints they call.

The console holds no rule of its own. Signing in is a client-credentials token request to the
environment's token endpoint, or an administrator's sign-on through populace's hosted page (the
authorization code flow with PKCE, through a Worker application, whose token acts with the
user's roles); every action after it is a call of the management API (or the control API) made
in-process with that token, so it meets the same rules, permissions and
errors as any client, and an Identity Data Admin of one population sees only that population.

The token lives in an ``HttpOnly``, ``SameSite=Strict`` cookie scoped to ``/console``: never in
a URL, never where the page's script (or an injected one) could read it, and in no process's
memory, so any process of a deployment serves any console. A call that acts with it must carry
``X-Populace-Console``, a header no other site's page can send without a CORS preflight that
populace never grants, and is refused when the browser says it came from another site."""

from __future__ import annotations

import base64
import json
import secrets
from importlib import resources
from typing import TypeVar
from urllib.parse import quote, urlencode

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from populace.auth.tokens import Claims
from populace.emulation import now_seconds
from populace.errors import ApiError, forbidden, invalid_data, not_found, unauthorized
from populace.http import inprocess
from populace.http.access import CONSOLE_CALLS
from populace.http.dispatch import services
from populace.http.request import base_url, header, read_body
from populace.http.responses import NO_STORE, error_response, json_response
from populace.oauth import signon
from populace.wire import is_uuid

CONSOLE = "/console"
COOKIE = "populace_console"
# An administrator's sign-on under way: what the callback must find (state, PKCE verifier).
SIGN_ON_COOKIE = "populace_console_signon"
SIGN_ON_SECONDS = 600
CALLBACK = CONSOLE + "/callback"
CSRF_HEADER = b"x-populace-console"
# What the console may call: the management API and populace's control API.
CALLABLE = ("/v1/", "/_populace/")
# Copied from the API's answer to the console's: the rest (Correlation-Id aside) is the API's own.
ANSWER_HEADERS = (b"content-type", b"retry-after", b"www-authenticate")
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
_STATIC = resources.files("populace.console") / "static"
T = TypeVar("T")


class SignIn(msgspec.Struct, rename="camel"):
    """A Worker application's credentials and the environment it lives in."""

    environment_id: str
    client_id: str
    client_secret: str


class AdminSignOn(msgspec.Struct, rename="camel"):
    """The Worker application an administrator signs on through, and its environment."""

    environment_id: str
    client_id: str


class Authorize(msgspec.Struct, rename="camel"):
    """Where the browser goes to sign on: the environment's authorize endpoint."""

    authorize_url: str


class Session(msgspec.Struct, rename="camel"):
    """Who the console acts as (an application, or a user signed on through one), until
    when, and whether the control API is there."""

    environment_id: str
    organization_id: str
    client_id: str
    expires_at: int  # epoch seconds
    control_api: bool
    user_id: str | None = None


async def page(_request: Request) -> Response:
    return Response(
        (_STATIC / "index.html").read_bytes(), media_type="text/html", headers=PAGE_HEADERS
    )


async def to_page(_request: Request) -> Response:
    return RedirectResponse(CONSOLE + "/", status_code=308)


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        return error_response(not_found())
    return Response((_STATIC / name).read_bytes(), media_type=ASSETS[name], headers=PAGE_HEADERS)


def _same_site(request: Request) -> None:
    """Only the console's own script may act with its cookie (module docstring)."""
    if header(request, CSRF_HEADER) is None or header(request, b"sec-fetch-site") in (
        "cross-site",
        "same-site",
    ):
        raise forbidden()


def _claims(request: Request) -> tuple[str, Claims]:
    token = request.cookies.get(COOKIE)
    if not token:
        raise unauthorized("Not signed in.")
    try:
        return token, services(request).verifier.verify(token)
    except ApiError:
        raise unauthorized("The console's sign-in has expired; sign in again.") from None


def _session(request: Request, claims: Claims) -> Session:
    return Session(
        environment_id=claims.environment_id,
        organization_id=claims.organization_id,
        client_id=claims.client_id,
        expires_at=claims.expires_at,
        control_api=services(request).config.control_api,
        user_id=claims.user_id,
    )


async def read_session(request: Request) -> Response:
    _same_site(request)
    _, claims = _claims(request)
    return json_response(_session(request, claims), headers=NO_STORE)


def _decoded(body: bytes, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as error:
        raise invalid_data("INVALID_VALUE", None, str(error)) from None
    except msgspec.DecodeError:
        raise invalid_data("INVALID_VALUE", None, "The body must be a JSON object.") from None


async def _token_call(
    request: Request, environment_id: str, form: dict[str, str], basic: str | None = None
) -> inprocess.Answer:
    """The environment's token endpoint, asked in-process as the application would ask it."""
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    if basic is not None:
        headers.append((b"authorization", f"Basic {basic}".encode()))
    return await inprocess.call(
        request.app,
        "POST",
        f"/{environment_id}/as/token",
        host=request.headers.get("host", "populace"),
        headers=headers,
        body=urlencode(form).encode(),
        client=_address(request),
    )


def _address(request: Request) -> tuple[str, int] | None:
    """The browser's address: throttles count the person signing in, not the console."""
    return (request.client.host, request.client.port) if request.client else None


def _reason(answer: inprocess.Answer) -> str:
    """Why the token endpoint refused, in its words (OAuth's or PingOne's envelope)."""
    try:
        body = json.loads(answer.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"The token endpoint answered {answer.status}."
    return str(body.get("error_description") or body.get("message") or body.get("error", ""))


def _signed_in(request: Request, response: Response, token: str, claims: Claims) -> Response:
    response.set_cookie(
        COOKIE,
        token,
        max_age=max(0, int(claims.expires_at - now_seconds())),
        path=CONSOLE,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


async def sign_in(request: Request) -> Response:
    """Ask the environment's token endpoint for a token, as the application would."""
    _same_site(request)
    given = _decoded(await read_body(request), SignIn)
    basic = base64.b64encode(f"{given.client_id}:{given.client_secret}".encode()).decode()
    answer = await _token_call(
        request, given.environment_id, {"grant_type": "client_credentials"}, basic
    )
    if answer.status != 200:
        return _relayed(answer)
    token: str = json.loads(answer.body)["access_token"]
    claims = services(request).verifier.verify(token)
    response = json_response(_session(request, claims), headers=NO_STORE)
    return _signed_in(request, response, token, claims)


def _callback_url(request: Request) -> str:
    return base_url(request) + CALLBACK


async def start_admin_sign_on(request: Request) -> Response:
    """Where an administrator's browser goes to sign on: the environment's authorize endpoint
    (code flow, PKCE S256, a state, ``prompt=login`` so that a session left in the browser
    never signs the console in unasked). The state and the verifier wait in an ``HttpOnly``
    cookie for the callback."""
    _same_site(request)
    given = _decoded(await read_body(request), AdminSignOn)
    for name, value in (("environmentId", given.environment_id), ("clientId", given.client_id)):
        if not is_uuid(value):
            raise invalid_data("INVALID_VALUE", name, f"'{name}' must be an ID.")
    state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": given.client_id,
            "redirect_uri": _callback_url(request),
            "scope": "openid",
            "state": state,
            "code_challenge": signon.s256(verifier),
            "code_challenge_method": "S256",
            "prompt": "login",
        }
    )
    url = f"/{given.environment_id}/as/authorize?{query}"
    response = json_response(Authorize(url), headers=NO_STORE)
    response.set_cookie(
        SIGN_ON_COOKIE,
        ":".join((given.environment_id, given.client_id, state, verifier)),
        max_age=SIGN_ON_SECONDS,
        path=CONSOLE,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


def _back_to_sign_in(reason: str) -> Response:
    """To the console's sign-in page, which shows why (a message, never a token)."""
    response = RedirectResponse(f"{CONSOLE}/#/signin?failed={quote(reason)}", status_code=303)
    response.delete_cookie(SIGN_ON_COOKIE, path=CONSOLE, httponly=True, samesite="strict")
    return response


async def admin_callback(request: Request) -> Response:
    """The authorize endpoint's answer: the code, exchanged for the user's token (a public
    client with the PKCE verifier), or the error, shown on the sign-in page."""
    params = request.query_params
    environment_id, _, rest = request.cookies.get(SIGN_ON_COOKIE, "").partition(":")
    client_id, _, rest = rest.partition(":")
    state, _, verifier = rest.partition(":")
    known = is_uuid(environment_id) and is_uuid(client_id) and state and verifier
    if not known or not secrets.compare_digest(params.get("state", ""), state):
        return _back_to_sign_in("The sign-in could not be matched to this browser; start again.")
    if "error" in params:
        return _back_to_sign_in(params.get("error_description") or params["error"])
    form = {
        "grant_type": "authorization_code",
        "code": params.get("code", ""),
        "redirect_uri": _callback_url(request),
        "code_verifier": verifier,
        "client_id": client_id,
    }
    answer = await _token_call(request, environment_id, form)
    if answer.status != 200:
        return _back_to_sign_in(_reason(answer))
    token: str = json.loads(answer.body)["access_token"]
    claims = services(request).verifier.verify(token)
    response = RedirectResponse(f"{CONSOLE}/", status_code=303)
    response.delete_cookie(SIGN_ON_COOKIE, path=CONSOLE, httponly=True, samesite="strict")
    return _signed_in(request, response, token, claims)


async def sign_out(request: Request) -> Response:
    """Forget the cookie; a user's token is revoked as well, so it works nowhere after (as
    the revocation endpoint revokes it for its client: holding the token is the proof)."""
    _same_site(request)
    token = request.cookies.get(COOKIE)
    if token:
        try:
            claims = services(request).verifier.verify(token)
        except ApiError:
            claims = None
        if claims is not None and claims.token_id is not None:
            await signon.revoke_held(services(request).db, claims.environment_id, claims.token_id)
    response = Response(status_code=204, headers=NO_STORE)
    response.delete_cookie(COOKIE, path=CONSOLE, httponly=True, samesite="strict")
    return response


async def call_api(request: Request) -> Response:
    """The console's call of the API: the same request, with the signed-in token."""
    _same_site(request)
    token, _ = _claims(request)
    path = request.url.path[len(CONSOLE_CALLS) :]
    if not path.startswith(CALLABLE):
        raise not_found()
    forwarded = [(b"authorization", f"Bearer {token}".encode())]
    for name in (b"content-type", b"accept"):
        value = header(request, name)
        if value is not None:
            forwarded.append((name, value.encode("latin-1")))
    answer = await inprocess.call(
        request.app,
        request.method,
        path,
        host=request.headers.get("host", "populace"),
        headers=forwarded,
        body=await read_body(request),
        query=request.url.query.encode(),
        client=_address(request),
    )
    return _relayed(answer)


def _relayed(answer: inprocess.Answer) -> Response:
    headers = {
        key.decode(): value.decode("latin-1")
        for key, value in answer.headers
        if key in ANSWER_HEADERS
    }
    return Response(answer.body, answer.status, {**headers, **NO_STORE})


def routes() -> list[BaseRoute]:
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return [
        Route(CONSOLE, to_page, methods=["GET"]),
        Route(CONSOLE + "/", page, methods=["GET"]),
        Route(CONSOLE + "/assets/{name}", asset, methods=["GET"]),
        Route(CONSOLE + "/session", read_session, methods=["GET"]),
        Route(CONSOLE + "/session", sign_in, methods=["POST"]),
        Route(CONSOLE + "/session", sign_out, methods=["DELETE"]),
        Route(CONSOLE + "/session/authorize", start_admin_sign_on, methods=["POST"]),
        Route(CALLBACK, admin_callback, methods=["GET"]),
        Route(CONSOLE_CALLS + "/{path:path}", call_api, methods=methods),
    ]
