"""Who is calling the token, introspection and revocation endpoints: the client's
authentication, by the method its application declares (``tokenEndpointAuthMethod``)."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request

from populace.applications import rules as application_rules
from populace.applications import store as application_store
from populace.errors import OAuthError
from populace.http import access
from populace.http.dispatch import services
from populace.http.request import read_body
from populace.wire import is_uuid, now_ms

BAD_CLIENT = "Client authentication failed."


def _bad_client() -> OAuthError:
    return OAuthError(401, "invalid_client", BAD_CLIENT)


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise _bad_client()
    try:
        client_id, sep, secret = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        raise _bad_client() from None
    if not sep:
        raise _bad_client()
    # RFC 6749 2.3.1: the client id and secret are form-encoded before Basic encoding.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


async def form(request: Request) -> dict[str, str]:
    """A form-encoded body (the query string for a GET), each parameter once."""
    if request.method == "GET":
        pairs = list(request.query_params.multi_items())
    else:
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            raise OAuthError(
                400, "invalid_request", "The request must be application/x-www-form-urlencoded."
            )
        try:
            text = (await read_body(request, limit=64 * 1024)).decode()
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise OAuthError(400, "invalid_request", "The request body is malformed.") from None
    found: dict[str, str] = {}
    for key, value in pairs:
        if key in found:
            raise OAuthError(400, "invalid_request", f"The parameter '{key}' is repeated.")
        found[key] = value
    return found


def _presented(request: Request, posted: dict[str, str]) -> tuple[str, str | None, str]:
    """(client id, secret, method) as the request presents them."""
    basic = basic_credentials(request)
    client_id, secret = posted.get("client_id"), posted.get("client_secret")
    if basic is not None:
        if secret is not None or (client_id is not None and client_id != basic[0]):
            raise OAuthError(
                400, "invalid_request", "Use one client authentication method, not several."
            )
        return basic[0], basic[1], "CLIENT_SECRET_BASIC"
    if not client_id:
        raise _bad_client()
    if secret is not None:
        return client_id, secret, "CLIENT_SECRET_POST"
    return client_id, None, "NONE"


async def authenticate(request: Request, environment_id: str, posted: dict[str, str]) -> Any:
    """The enabled application that authenticated as it declares it must; else 401, the same
    answer after the same work whether the client is unknown, disabled or the secret is
    wrong. Failed attempts count toward the per-address throttle."""
    client_id, secret, method = _presented(request, posted)
    svc = services(request)
    address = request.client.host if request.client else ""
    if svc.throttle is not None:
        await svc.throttle.check(address)
    app = None
    # Client ids are UUIDs; anything else cannot name a client (and never reaches the database).
    if is_uuid(client_id) and is_uuid(environment_id):
        async with svc.db.read() as conn:
            app = await application_store.get(conn, environment_id, client_id)
    if secret is None:
        matches = app is not None
    else:
        # The secret, or a rotated-out one in its grace period (a dummy for no client).
        previous = None if app is None else application_rules.previous_secret(app, now_ms())
        sealed = [None] if app is None else [app.client_secret, *([previous] if previous else [])]
        matches = any([svc.box.matches(each, secret) for each in sealed])
    if not matches or app is None or not app.enabled or app.token_endpoint_auth_method != method:
        if svc.throttle is not None:
            await svc.throttle.failed(address)
        raise _bad_client()
    access.identify(request.scope, client_id)
    # Counted once authenticated: a stranger naming a client cannot spend its allowance.
    if svc.limiter is not None:
        await svc.limiter.check(client_id)
    return app
