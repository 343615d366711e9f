"""Rules for applications and their secrets (their role assignments: ``assignments``)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Row

from populace.applications import store
from populace.applications.wire import ApplicationBody
from populace.assignments import store as assignment_store
from populace.assignments.rules import keep_an_administrator, read_only
from populace.assignments.store import Subject
from populace.auth.guard import Access
from populace.auth.secrets import SecretBox, new_client_secret
from populace.errors import MSG_FORBIDDEN, ApiError, Detail, found, invalid_data, not_found
from populace.names import clean_description, clean_name
from populace.storage.database import Connection
from populace.wire import new_id, now_ms

MAX_URIS = 100
MAX_URI_LENGTH = 2048
# PingOne keeps a rotated-out secret valid for one minute to thirty days.
PREVIOUS_SECRET_MS = (60_000, 30 * 86_400_000)
MAX_DURATION = 2**31 - 1
_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*$")
# Schemes a browser would run or read locally rather than hand to an application.
_UNSAFE_SCHEMES = {"javascript", "data", "vbscript", "file", "about", "blob"}
_LOOPBACK = {"localhost", "127.0.0.1", "[::1]"}


def _bad(target: str, message: str) -> ApiError:
    return invalid_data("INVALID_VALUE", target, message)


def _redirect_uri(value: str, target: str) -> str:
    """https, a custom scheme (a native app's), or http on the loopback only; absolute,
    without a fragment: redirect URIs are compared exactly, so what is stored is what is
    matched."""
    if len(value) > MAX_URI_LENGTH or any(c.isspace() or ord(c) < 0x20 for c in value):
        raise _bad(target, f"'{target}' holds a URI that is too long or has spaces.")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise _bad(target, f"'{target}' holds an invalid URI: {value}") from None
    scheme = parts.scheme.lower()
    if not _SCHEME.match(scheme) or scheme in _UNSAFE_SCHEMES or parts.fragment:
        raise _bad(target, f"'{target}' holds an invalid URI: {value}")
    if scheme == "http" and parts.hostname not in {"localhost", "127.0.0.1", "::1"}:
        raise _bad(target, f"'{target}': http is allowed only for localhost: {value}")
    if scheme in {"http", "https"} and not parts.netloc:
        raise _bad(target, f"'{target}' holds an invalid URI: {value}")
    return value


def _uris(values: list[str], target: str) -> list[str]:
    if len(values) > MAX_URIS:
        raise _bad(target, f"'{target}' may hold at most {MAX_URIS} URIs.")
    return list(dict.fromkeys(_redirect_uri(value, target) for value in values))


def _grant_types(body: ApplicationBody) -> list[str]:
    if body.grant_types is not None:
        return list(dict.fromkeys(body.grant_types))
    return ["CLIENT_CREDENTIALS"] if body.type == "WORKER" else ["AUTHORIZATION_CODE"]


def _auth_method(body: ApplicationBody) -> str:
    if body.token_endpoint_auth_method is not None:
        return body.token_endpoint_auth_method
    return "NONE" if body.type == "SINGLE_PAGE_APP" else "CLIENT_SECRET_BASIC"


def checked(body: ApplicationBody) -> dict[str, Any]:
    """The values of an application as stored, or 400 naming what does not fit together."""
    grants = _grant_types(body)
    code_flow = "AUTHORIZATION_CODE" in grants
    responses = list(dict.fromkeys(body.response_types or (["CODE"] if code_flow else [])))
    method = _auth_method(body)
    redirects = _uris(body.redirect_uris, "redirectUris")
    if not grants:
        raise _bad("grantTypes", "'grantTypes' must name at least one grant type.")
    if responses and not code_flow:
        raise _bad("responseTypes", "The CODE response type needs the AUTHORIZATION_CODE grant.")
    if code_flow and not responses:
        raise _bad("responseTypes", "The AUTHORIZATION_CODE grant needs the CODE response type.")
    if code_flow and not redirects:
        raise _bad("redirectUris", "The AUTHORIZATION_CODE grant needs at least one redirect URI.")
    if "REFRESH_TOKEN" in grants and not code_flow:
        raise _bad("grantTypes", "The REFRESH_TOKEN grant needs the AUTHORIZATION_CODE grant.")
    if method == "NONE" and "CLIENT_CREDENTIALS" in grants:
        raise _bad("grantTypes", "A public client (NONE) cannot use CLIENT_CREDENTIALS.")
    if body.type == "SINGLE_PAGE_APP" and method != "NONE":
        raise _bad("tokenEndpointAuthMethod", "A single-page app is a public client (NONE).")
    if not 60 <= body.refresh_token_duration <= body.refresh_token_rolling_duration <= MAX_DURATION:
        raise _bad(
            "refreshTokenDuration",
            "'refreshTokenDuration' must be at least 60 seconds and at most "
            "'refreshTokenRollingDuration'.",
        )
    return {
        "name": clean_name(body.name),
        "description": clean_description(body.description),
        "enabled": body.enabled,
        "type": body.type,
        "protocol": body.protocol,
        "grant_types": grants,
        "response_types": responses,
        "redirect_uris": redirects,
        "post_logout_redirect_uris": _uris(
            body.post_logout_redirect_uris, "postLogoutRedirectUris"
        ),
        "token_endpoint_auth_method": method,
        "pkce_enforcement": body.pkce_enforcement,
        "refresh_token_duration": body.refresh_token_duration,
        "refresh_token_rolling_duration": body.refresh_token_rolling_duration,
    }


async def create_application(
    conn: Connection, access: Access, box: SecretBox, body: ApplicationBody
) -> Row[Any]:
    at = now_ms()
    return await store.insert_application(
        conn,
        {
            **checked(body),
            "environment_id": access.environment,
            "id": new_id(),
            "client_secret": box.seal(new_client_secret()),
            "created_at": at,
            "updated_at": at,
        },
    )


async def read_application(conn: Connection, access: Access, application_id: str) -> Row[Any]:
    return found(await store.get(conn, access.environment, application_id))


async def replace_application(
    conn: Connection, access: Access, application_id: str, body: ApplicationBody
) -> Row[Any]:
    """PUT: every setting as the body states it; the type is the application's for good."""
    current = await read_application(conn, access, application_id)
    if body.type != current.type:
        raise _bad("type", "An application's type cannot change.")
    values = {**checked(body), "updated_at": now_ms()}
    return found(await store.update_application(conn, access.environment, application_id, values))


async def delete_application(conn: Connection, access: Access, application_id: str) -> None:
    environment_id = access.environment
    await keep_an_administrator(
        conn,
        lambda held: (held.environment_id, held.application_id) == (environment_id, application_id),
    )
    if not await store.delete_application(conn, environment_id, application_id):
        raise not_found()


def _secret_refused() -> ApiError:
    return ApiError(
        403,
        "ACCESS_FAILED",
        MSG_FORBIDDEN,
        [
            Detail(
                "INSUFFICIENT_PERMISSIONS",
                "Actor does not have permissions to access worker application client secrets",
            )
        ],
    )


async def _guarded(conn: Connection, access: Access, application_id: str) -> Row[Any]:
    """An application whose secret the actor may see, as PingOne guards it: never the
    caller's own, and only where none of the application's role assignments is read-only for
    the caller, so nobody gains through an application's secret what it could not grant
    itself."""
    actor = access.actor
    own = ("application", application_id) == actor.holder()
    if own and access.environment == actor.environment_id:
        raise _secret_refused()
    row = await read_application(conn, access, application_id)
    subject = Subject("application", application_id)
    assignments = await assignment_store.assignments_of(conn, access.environment, subject)
    if any(read_only(actor, assignment) for assignment in assignments):
        raise _secret_refused()
    return row


def previous_secret(row: Any, now: int) -> str | None:
    """The sealed rotated-out secret while it is still valid."""
    expires_at = row.previous_secret_expires_at
    return row.previous_secret if expires_at is not None and expires_at > now else None


async def read_secret(
    conn: Connection, access: Access, box: SecretBox, application_id: str
) -> tuple[str, tuple[str, int] | None]:
    """The secret, and the previous one with its end while it is valid."""
    row = await _guarded(conn, access, application_id)
    previous = previous_secret(row, now_ms())
    kept = None if previous is None else (box.open(previous), row.previous_secret_expires_at)
    return box.open(row.client_secret), kept


def _previous_until(expires_at: str) -> int:
    try:
        when = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        raise _bad("previous.expiresAt", "'previous.expiresAt' must be an ISO-8601 time.") from None
    if when.tzinfo is None:
        raise _bad("previous.expiresAt", "'previous.expiresAt' must name its time zone.")
    until, now = int(when.timestamp() * 1000), now_ms()
    shortest, longest = PREVIOUS_SECRET_MS
    if not now + shortest <= until <= now + longest:
        raise _bad(
            "previous.expiresAt",
            "'previous.expiresAt' must be between one minute and thirty days from now.",
        )
    return until


async def rotate_secret(
    conn: Connection,
    access: Access,
    box: SecretBox,
    application_id: str,
    previous_expires_at: str | None,
) -> tuple[str, tuple[str, int] | None]:
    """A new secret. The old one stays valid until ``previous_expires_at`` when given;
    otherwise it ends now (as does any secret rotated out before)."""
    until = None if previous_expires_at is None else _previous_until(previous_expires_at)
    row = await _guarded(conn, access, application_id)
    secret = new_client_secret()
    previous = None if until is None else row.client_secret
    await store.set_secret(
        conn, access.environment, application_id, box.seal(secret), previous, until
    )
    return secret, None if previous is None or until is None else (box.open(previous), until)


async def drop_previous_secret(conn: Connection, access: Access, application_id: str) -> None:
    row = await _guarded(conn, access, application_id)
    await store.set_secret(conn, access.environment, application_id, row.client_secret, None, None)
