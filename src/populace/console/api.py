"""HTTP: the admin console at ``/console``: a page and its script and style, shipped in the
package (no CDN, no build step), and the few endpoints they call.

The console holds no rule of its own. Signing in is a client-credentials token request to the
environment's token endpoint; every action after it is a call of the management API (or the
control API) made in-process with that token, so it meets the same rules, permissions and
errors as any client, and an Identity Data Admin of one population sees only that population.

The token lives in an ``HttpOnly``, ``SameSite=Strict`` cookie scoped to ``/console``: never in
a URL, never where the page's script (or an injected one) could read it, and in no process's
memory, so any process of a deployment serves any console. A call that acts with it must carry
``X-Populace-Console``, a header no other site's page can send without a CORS preflight that
populace never grants, and is refused when the browser says it came from another site."""

from __future__ import annotations

import base64
import json
from importlib import resources
from urllib.parse import urlencode

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
from populace.http.request import header, read_body
from populace.http.responses import NO_STORE, error_response, json_response

CONSOLE = "/console"
COOKIE = "populace_console"
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


class SignIn(msgspec.Struct, rename="camel"):
    """A Worker application's credentials and the environment it lives in."""

    environment_id: str
    client_id: str
    client_secret: str


class Session(msgspec.Struct, rename="camel"):
    """Who the console acts as, until when, and whether the control API is there."""

    environment_id: str
    organization_id: str
    client_id: str
    expires_at: int  # epoch seconds
    control_api: bool


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
    )


async def read_session(request: Request) -> Response:
    _same_site(request)
    _, claims = _claims(request)
    return json_response(_session(request, claims), headers=NO_STORE)


async def sign_in(request: Request) -> Response:
    """Ask the environment's token endpoint for a token, as the application would."""
    _same_site(request)
    try:
        given = msgspec.json.decode(await read_body(request), type=SignIn)
    except msgspec.ValidationError as error:
        raise invalid_data("INVALID_VALUE", None, str(error)) from None
    except msgspec.DecodeError:
        raise invalid_data("INVALID_VALUE", None, "The body must be a JSON object.") from None
    basic = base64.b64encode(f"{given.client_id}:{given.client_secret}".encode()).decode()
    answer = await inprocess.call(
        request.app,
        "POST",
        f"/{given.environment_id}/as/token",
        host=request.headers.get("host", "populace"),
        headers=[
            (b"authorization", f"Basic {basic}".encode()),
            (b"content-type", b"application/x-www-form-urlencoded"),
        ],
        body=urlencode({"grant_type": "client_credentials"}).encode(),
    )
    if answer.status != 200:
        return _relayed(answer)
    token: str = json.loads(answer.body)["access_token"]
    claims = services(request).verifier.verify(token)
    response = json_response(_session(request, claims), headers=NO_STORE)
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


async def sign_out(request: Request) -> Response:
    _same_site(request)
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
        Route(CONSOLE_CALLS + "/{path:path}", call_api, methods=methods),
    ]
