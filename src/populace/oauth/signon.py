"""Sign-on rules, below HTTP: an authorize request becomes a flow; the flow's steps sign the
user on (a session); resume turns a completed flow into a single-use code; the token endpoint
turns a code or a refresh token into tokens. Everything lives in the database, so any process
of a deployment can take any step.

A step that must record something even though it fails (a replayed code revokes its grant, a
refresh token reused revokes its grant) commits that first and raises after."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import secrets
from dataclasses import dataclass
from typing import Any

from populace.applications import store as application_store
from populace.auth.guard import end_user_access
from populace.auth.keys import KeyRing
from populace.environments import store as environment_store
from populace.errors import ApiError, OAuthError, invalid_data, not_found
from populace.oauth import store, tokens
from populace.passwords import rules as password_rules
from populace.passwords.hashing import Hasher
from populace.storage.database import Connection, Database
from populace.users import store as user_store
from populace.wire import is_uuid, new_id, now_ms

FLOW_MS = 15 * 60_000  # PingOne: a flow ends after 15 minutes without a step
CODE_MS = 10 * 60_000  # PingOne: an authorization code lives 10 minutes
SESSION_MS = 30 * 86_400_000  # PingOne: a session lasts 30 days from the sign-on
SCOPES = ("openid", "profile", "email", "address", "phone", "offline_access")
RESPONSE_MODES = ("query", "fragment", "form_post", "pi.flow")
# Ended flows, sessions, grants and tokens are deleted by one authorize in this many (per
# process): they are never used once ended, so the deletes need not cost every sign-on.
PURGE_EVERY = 32
_authorizations = itertools.count()

USERNAME_PASSWORD_REQUIRED = "USERNAME_PASSWORD_REQUIRED"
MUST_CHANGE_PASSWORD = "MUST_CHANGE_PASSWORD"
PASSWORD_EXPIRED = "PASSWORD_EXPIRED"
COMPLETED = "COMPLETED"
CHANGING = (MUST_CHANGE_PASSWORD, PASSWORD_EXPIRED)
# RFC 7636: a verifier (and a plain challenge) is 43-128 unreserved characters.
PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# Authorize parameters kept in the flow (and the nonce in the ID token): bounded.
MAX_PARAMETER = {"state": 2048, "nonce": 2048, "login_hint": 256}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class RedirectError(Exception):
    """An authorize error told to the client at its (verified) redirect URI (RFC 6749
    4.1.2.1), as ``error``, ``error_description`` and ``state``."""

    def __init__(self, request: dict[str, Any], error: str, description: str) -> None:
        super().__init__(description)
        self.request, self.error, self.description = request, error, description


def _authorize_error(status: int, message: str) -> ApiError:
    """An authorize request that cannot even name where to answer: never redirected."""
    return ApiError(status, "INVALID_REQUEST", message)


async def _application(conn: Connection, environment_id: str, client_id: str | None) -> Any:
    if not client_id or not is_uuid(client_id):
        raise _authorize_error(400, "The request must name a client_id of this environment.")
    app = await application_store.get(conn, environment_id, client_id)
    if app is None or not app.enabled:
        raise _authorize_error(400, "The client_id names no enabled application here.")
    if "AUTHORIZATION_CODE" not in app.grant_types:
        raise _authorize_error(400, "The application does not use the authorization code grant.")
    return app


def _redirect_uri(app: Any, params: dict[str, str]) -> str | None:
    """The redirect URI, matched exactly against the application's list (a flow answered as
    JSON may leave it out)."""
    uri = params.get("redirect_uri")
    if uri is None and params.get("response_mode") == "pi.flow":
        return None
    if uri is None or uri not in (app.redirect_uris or []):
        raise _authorize_error(400, "The redirect_uri is not one of the application's.")
    return uri


def _challenge(app: Any, params: dict[str, str], request: dict[str, Any]) -> None:
    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    if challenge is None:
        if method is not None or app.pkce_enforcement != "OPTIONAL":
            raise RedirectError(request, "invalid_request", "A code_challenge is required.")
        return
    method = method or "plain"
    if method not in ("plain", "S256"):
        raise RedirectError(request, "invalid_request", "code_challenge_method is unsupported.")
    if app.pkce_enforcement == "S256_REQUIRED" and method != "S256":
        raise RedirectError(request, "invalid_request", "code_challenge_method must be S256.")
    if not PKCE_VALUE.fullmatch(challenge):
        raise RedirectError(request, "invalid_request", "The code_challenge is malformed.")
    request.update(code_challenge=challenge, code_challenge_method=method)


def _request(app: Any, params: dict[str, str]) -> dict[str, Any]:
    """The authorize parameters the flow keeps, checked in RFC 6749's order: a bad client or
    redirect URI is answered here; anything else at the redirect URI."""
    request: dict[str, Any] = {
        "redirect_uri": _redirect_uri(app, params),
        "response_mode": params.get("response_mode") or "query",
        "state": params.get("state"),
        "nonce": params.get("nonce"),
        "login_hint": params.get("login_hint"),
        "prompt": params.get("prompt"),
    }
    for name, limit in MAX_PARAMETER.items():
        if len(params.get(name) or "") > limit:
            request[name] = None  # not echoed back at its full length either
            raise RedirectError(request, "invalid_request", f"'{name}' is over {limit} characters.")
    if request["response_mode"] not in RESPONSE_MODES:
        request["response_mode"] = "query"
        raise RedirectError(request, "invalid_request", "The response_mode is unsupported.")
    response_type = params.get("response_type")
    if response_type != "code" or "CODE" not in (app.response_types or []):
        raise RedirectError(
            request, "unsupported_response_type", "The response_type must be 'code'."
        )
    scopes = list(dict.fromkeys((params.get("scope") or "").split()))
    if not scopes or any(scope not in SCOPES for scope in scopes):
        raise RedirectError(request, "invalid_scope", "The scope is missing or unknown.")
    request["scope"] = " ".join(scopes)
    if request["prompt"] not in (None, "none", "login"):
        raise RedirectError(request, "invalid_request", "The prompt is unsupported.")
    _challenge(app, params, request)
    max_age = params.get("max_age")
    if max_age is not None:
        if not max_age.isdigit() or len(max_age) > 9:
            raise RedirectError(request, "invalid_request", "max_age must be whole seconds.")
        request["max_age"] = int(max_age)
    return request


async def _signed_on(
    conn: Connection, environment_id: str, request: dict[str, Any], token: str | None, now: int
) -> Any:
    """The browser's session, when it may stand for this request (no ``prompt=login``, within
    ``max_age``)."""
    if token is None or request["prompt"] == "login":
        return None
    session = await store.session_by_token(conn, environment_id, digest(token), now)
    max_age = request.get("max_age")
    if session is None or (max_age is not None and session.authenticated_at + max_age * 1000 < now):
        return None
    user = await user_store.get(conn, environment_id, session.user_id)
    return session if user is not None and user.enabled else None


async def authorize(
    db: Database,
    organization_id: str,
    environment_id: str,
    params: dict[str, str],
    session_token: str | None,
    browser_key: str | None,
) -> Any:
    """A new flow for an authorize request: already COMPLETED when the browser's session
    stands for it, else waiting for the user's credentials. ``browser_key`` binds a flow that
    the hosted sign-on page will drive to that browser."""
    async with db.write() as conn:
        environment = None
        if is_uuid(environment_id):
            environment = await environment_store.get(conn, organization_id, environment_id)
        if environment is None:
            raise not_found()
        app = await _application(conn, environment_id, params.get("client_id"))
        # The region goes with the request to the ID token (``p1.region``); the application's
        # name to every rendering of the flow (``_embedded.application``).
        request = {**_request(app, params), "region": environment.region, "app_name": app.name}
        now = now_ms()
        session = await _signed_on(conn, environment_id, request, session_token, now)
        if session is None and request["prompt"] == "none":
            raise RedirectError(request, "login_required", "The user must sign on.")
        if next(_authorizations) % PURGE_EVERY == 0:
            await store.purge_expired(conn, environment_id, now)
        flow = await store.insert_flow(
            conn,
            {
                "environment_id": environment_id,
                "id": new_id(),
                "application_id": app.id,
                "status": USERNAME_PASSWORD_REQUIRED if session is None else COMPLETED,
                "request": request,
                "user_id": None if session is None else session.user_id,
                "session_id": None if session is None else session.id,
                "browser_hash": None if browser_key is None else digest(browser_key),
                "expires_at": now + FLOW_MS,
                "created_at": now,
                "updated_at": now,
            },
        )
        return flow


async def _flow(conn: Connection, environment_id: str, flow_id: str) -> Any:
    """A flow that has not ended (404 otherwise: PingOne's answer for an expired flow)."""
    if not is_uuid(environment_id) or not is_uuid(flow_id):
        raise not_found()
    flow = await store.flow(conn, environment_id, flow_id, now_ms())
    if flow is None:
        raise not_found()
    return flow


async def read_flow(db: Database, environment_id: str, flow_id: str) -> Any:
    async with db.read() as conn:
        return await _flow(conn, environment_id, flow_id)


def _waiting_for(flow: Any, statuses: tuple[str, ...]) -> None:
    if flow.status not in statuses:
        raise invalid_data(
            "INVALID_VALUE",
            None,
            f"The flow's status is {flow.status}; this action is for {' or '.join(statuses)}.",
        )


@dataclass(frozen=True, slots=True)
class Step:
    """A flow after a step, and the session cookie's value when the step signed the user on."""

    flow: Any
    session_token: str | None = None


async def _advance_in(
    conn: Connection, environment_id: str, flow: Any, user_id: str, status: str
) -> Step | None:
    """Move a flow on after the user proved who they are: to a password change, or to
    COMPLETED with a new session (unless a parallel step completed it first). None: the
    flow ended meanwhile."""
    now = now_ms()
    completing = status == "OK"
    session_id = new_id() if completing else None
    # One statement decides, under the row's lock: a flow a parallel step completed (or that
    # ended) is not moved again.
    step = store.FlowStep(
        COMPLETED if completing else status, user_id, session_id, now + FLOW_MS, now
    )
    moved = await store.advance_flow(conn, environment_id, flow.id, step)
    if moved is None:
        current = await store.flow(conn, environment_id, flow.id, now)
        return None if current is None else Step(current)
    if session_id is None:
        return Step(moved)
    token = new_secret()
    await store.insert_session(
        conn,
        {
            "environment_id": environment_id,
            "id": session_id,
            "user_id": user_id,
            "token_hash": digest(token),
            "authenticated_at": now,
            "active_at": now,
            "expires_at": now + SESSION_MS,
            "created_at": now,
            "updated_at": now,
        },
    )
    return Step(moved, token)


def _moved(step: Step | None) -> Step:
    if step is None:
        raise not_found()
    return step


@dataclass(frozen=True, slots=True)
class FlowAt:
    """Where a flow's step acts: the deployment's database and hasher, and the flow."""

    db: Database
    hasher: Hasher
    organization_id: str
    environment_id: str
    flow_id: str
    session_token: str | None = None  # the browser's ST cookie, if it sent one


async def _replace_session(conn: Connection, at: FlowAt, user_id: str) -> None:
    """A sign-on completed in a browser signed on as someone else ends that session (PingOne
    does so after ``prompt=login`` as another user); the same user's session stays."""
    if at.session_token is None:
        return
    old = await store.session_by_token(conn, at.environment_id, digest(at.session_token), now_ms())
    if old is not None and old.user_id != user_id:
        await store.end_session(conn, at.environment_id, old.id)


async def check_username_password(at: FlowAt, username: str, password: str) -> Step:
    """``usernamePassword.check``: the password is checked under the user's password policy,
    counted toward its lockout; a password that must change moves the flow to that step."""
    async with at.db.read() as conn:
        flow = await _flow(conn, at.environment_id, at.flow_id)
        _waiting_for(flow, (USERNAME_PASSWORD_REQUIRED,))
        user = await user_store.by_username(conn, at.environment_id, username[:128])
        state = None
        if user is not None and user.enabled:
            state = await password_rules.state_of(conn, at.environment_id, user)
    access = end_user_access(at.organization_id, at.environment_id, flow.application_id)

    async def advance(conn: Connection, state: Any) -> Step | None:
        step = await _advance_in(conn, at.environment_id, flow, state.user.id, state.status)
        if step is not None and step.session_token is not None:
            await _replace_session(conn, at, state.user.id)
        return step

    return _moved(await password_rules.sign_on(at.db, access, at.hasher, state, password, advance))


async def change_password(at: FlowAt, current_password: str, new_password: str) -> Step:
    """``password.reset`` in a flow waiting for a password change: the user's own change,
    under the whole policy; then the flow completes."""
    flow = await read_flow(at.db, at.environment_id, at.flow_id)
    _waiting_for(flow, CHANGING)
    access = end_user_access(at.organization_id, at.environment_id, flow.application_id)
    state = await password_rules.change_password(
        at.db, access, at.hasher, flow.user_id, new_password, current_password
    )
    async with at.db.write() as conn:
        step = await _advance_in(conn, at.environment_id, flow, state.user.id, state.status)
        if step is not None and step.session_token is not None:
            await _replace_session(conn, at, state.user.id)
    return _moved(step)


async def restart(db: Database, environment_id: str, flow_id: str) -> Any:
    """``session.reset``: the flow starts over, asking for credentials again."""
    flow = await read_flow(db, environment_id, flow_id)
    now = now_ms()
    async with db.write() as conn:
        step = store.FlowStep(USERNAME_PASSWORD_REQUIRED, None, None, now + FLOW_MS, now)
        restarted = await store.move_flow(conn, environment_id, flow.id, step)
        return restarted or flow


def browser_matches(flow: Any, browser_key: str | None) -> bool:
    """Was this flow begun in the browser holding ``browser_key``?"""
    if flow.browser_hash is None or browser_key is None:
        return False
    return hmac.compare_digest(flow.browser_hash, digest(browser_key))


def _still_registered(app: Any, request: dict[str, Any]) -> None:
    """The redirect URI may have left the application's list since the authorize request."""
    uri = request.get("redirect_uri")
    if uri is not None and uri not in (app.redirect_uris or []):
        raise invalid_data(
            "INVALID_VALUE", "redirect_uri", "The redirect_uri is no longer the application's."
        )


@dataclass(frozen=True, slots=True)
class Resumed:
    request: dict[str, Any]
    code: str


async def resume(
    db: Database, environment_id: str, flow_id: str, session_token: str | None
) -> Resumed:
    """A completed flow becomes a code, once: the flow ends with it. The browser must hold
    the flow's session (the ST cookie), so a code goes only to who signed on."""
    if not is_uuid(environment_id) or not is_uuid(flow_id):
        raise not_found()
    now = now_ms()
    async with db.write() as conn:
        # Taken (deleted) at once, so no parallel resume gets it too; any refusal below rolls
        # the transaction back and the flow stays.
        flow = await store.take_flow(conn, environment_id, flow_id, now)
        if flow is None:
            raise not_found()
        _waiting_for(flow, (COMPLETED,))
        session = None
        if session_token is not None:
            session = await store.session_by_token(conn, environment_id, digest(session_token), now)
        if session is None or session.id != flow.session_id:
            raise invalid_data(
                "INVALID_VALUE", "ST", "The request does not carry the flow's session (ST cookie)."
            )
        app = await application_store.get(conn, environment_id, flow.application_id)
        if app is None or not app.enabled:
            raise not_found()
        _still_registered(app, flow.request)
        code = new_secret()
        rolling = app.refresh_token_rolling_duration * 1000
        await store.insert_grant(
            conn,
            {
                "environment_id": environment_id,
                "id": new_id(),
                "application_id": app.id,
                "user_id": flow.user_id,
                "session_id": session.id,
                "code_hash": digest(code),
                "code_expires_at": now + CODE_MS,
                "request": flow.request,
                "authenticated_at": session.authenticated_at,
                "expires_at": min(now + max(rolling, CODE_MS), session.expires_at),
                "created_at": now,
                "updated_at": now,
            },
        )
        return Resumed(dict(flow.request), code)


# --- the token endpoint's user grants --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Issuer:
    """What tokens are signed with and say about where they come from."""

    keys: KeyRing
    issuer: str
    audience: str
    organization_id: str
    lifetime_seconds: int


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    expires_in: int
    scope: str
    id_token: str | None
    refresh_token: str | None


def _invalid_grant(description: str) -> OAuthError:
    return OAuthError(400, "invalid_grant", description)


def _verifier_matches(request: dict[str, Any], verifier: str | None) -> bool:
    challenge = request.get("code_challenge")
    if challenge is None:
        return verifier is None
    if verifier is None or not PKCE_VALUE.fullmatch(verifier):
        return False
    if request.get("code_challenge_method") == "S256":
        verifier = s256(verifier)
    return hmac.compare_digest(verifier.encode(), challenge.encode())


def s256(verifier: str) -> str:
    """RFC 7636's S256 code challenge of a verifier."""
    hashed = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode()


async def _issue(
    conn: Connection, issuer: Issuer, app: Any, grant: Any, now: int, with_id_token: bool
) -> TokenSet:
    """Tokens for a grant, each recorded under it (so revoking the grant ends them)."""
    environment_id = grant.environment_id
    request = grant.request
    scope = request["scope"]
    user = await user_store.get(conn, environment_id, grant.user_id)
    if user is None or not user.enabled:
        raise _invalid_grant("The user is gone or disabled.")
    seconds = now // 1000
    signed = tokens.Signed(
        issuer.issuer,
        issuer.audience,
        app.id,
        environment_id,
        issuer.organization_id,
        grant.user_id,
        grant.session_id,
        scope,
        grant.authenticated_at // 1000,
        seconds,
        issuer.lifetime_seconds,
    )
    jti = new_id()
    access = tokens.access_token(issuer.keys, signed, jti)
    expires_at = now + issuer.lifetime_seconds * 1000
    await _record(conn, environment_id, jti, grant.id, "access", expires_at)
    refresh = None
    if "REFRESH_TOKEN" in app.grant_types or "offline_access" in scope.split():
        refresh = new_secret()
        until = min(now + app.refresh_token_duration * 1000, grant.expires_at)
        await _record(conn, environment_id, digest(refresh), grant.id, "refresh", until)
    identity = None
    if with_id_token and "openid" in scope.split():
        nonce, region = request.get("nonce"), request.get("region")
        identity = tokens.id_token(issuer.keys, signed, user, access, nonce, region)
    return TokenSet(access, issuer.lifetime_seconds, scope, identity, refresh)


async def _record(
    conn: Connection, environment_id: str, key: str, grant_id: str, kind: str, expires_at: int
) -> None:
    await store.insert_token(
        conn,
        {
            "environment_id": environment_id,
            "key": key,
            "grant_id": grant_id,
            "kind": kind,
            "expires_at": expires_at,
        },
    )


async def _live_session(conn: Connection, grant: Any, now: int) -> bool:
    return await store.session(conn, grant.environment_id, grant.session_id, now) is not None


async def _exchange(
    conn: Connection,
    issuer: Issuer,
    app: Any,
    code: str,
    redirect_uri: str | None,
    verifier: str | None,
) -> TokenSet | OAuthError:
    environment_id, now = app.environment_id, now_ms()
    grant = await store.use_code(conn, environment_id, digest(code))
    if grant is None:
        spent = await store.grant_by_code(conn, environment_id, digest(code))
        if spent is not None and spent.application_id == app.id:
            # A code used twice was stolen or replayed: what it gave ends too (RFC 6749 4.1.2).
            await store.revoke_grant(conn, environment_id, spent.id)
            return _invalid_grant("The authorization code was already used.")
        return _invalid_grant("The authorization code is invalid.")
    if grant.application_id != app.id:
        return _invalid_grant("The authorization code was issued to another client.")
    if grant.code_expires_at <= now or grant.revoked:
        return _invalid_grant("The authorization code has expired.")
    registered = grant.request.get("redirect_uri")
    if redirect_uri != registered or (
        registered is not None and registered not in (app.redirect_uris or [])
    ):
        return _invalid_grant("The redirect_uri differs from the authorize request's.")
    if not _verifier_matches(grant.request, verifier):
        return _invalid_grant("The code_verifier does not match the code_challenge.")
    if not await store.touch_session(conn, environment_id, grant.session_id, now):
        return _invalid_grant("The session that signed the user on has ended.")
    return await _issue(conn, issuer, app, grant, now, with_id_token=True)


async def exchange_code(
    db: Database,
    issuer: Issuer,
    app: Any,
    code: str,
    redirect_uri: str | None,
    verifier: str | None,
) -> TokenSet:
    """``grant_type=authorization_code``. The code is spent whatever the outcome."""
    async with db.write() as conn:
        outcome = await _exchange(conn, issuer, app, code, redirect_uri, verifier)
    if isinstance(outcome, OAuthError):
        raise outcome
    return outcome


async def _refresh(conn: Connection, issuer: Issuer, app: Any, token: str) -> TokenSet | OAuthError:
    environment_id, now = app.environment_id, now_ms()
    row = await store.use_refresh_token(conn, environment_id, digest(token))
    if row is None:
        spent = await store.token(conn, environment_id, digest(token))
        if spent is not None and spent.kind == "refresh":
            grant = await store.grant(conn, environment_id, spent.grant_id)
            if grant is not None and grant.application_id == app.id:
                # Replay protection: a rotated refresh token used again ends its grant.
                await store.revoke_grant(conn, environment_id, grant.id)
        return _invalid_grant("The refresh token is invalid or was already used.")
    grant = await store.grant(conn, environment_id, row.grant_id)
    if grant is None or grant.application_id != app.id:
        return _invalid_grant("The refresh token was issued to another client.")
    if row.revoked or grant.revoked or row.expires_at <= now:
        return _invalid_grant("The refresh token has expired or was revoked.")
    if not await store.touch_session(conn, environment_id, grant.session_id, now):
        return _invalid_grant("The session that signed the user on has ended.")
    return await _issue(conn, issuer, app, grant, now, with_id_token=True)


async def refresh(db: Database, issuer: Issuer, app: Any, token: str) -> TokenSet:
    """``grant_type=refresh_token``: new tokens, and a new refresh token (rotation)."""
    if "REFRESH_TOKEN" not in app.grant_types and "AUTHORIZATION_CODE" not in app.grant_types:
        raise OAuthError(400, "unauthorized_client", "The client may not use this grant type.")
    async with db.write() as conn:
        outcome = await _refresh(conn, issuer, app, token)
    if isinstance(outcome, OAuthError):
        raise outcome
    return outcome


# --- what a token is worth: userinfo, introspection, revocation, sign-off ---------------------


async def _standing_user(conn: Connection, grant: Any) -> Any:
    """The grant's user, while the grant holds: not revoked, its application and user
    enabled; else None."""
    if grant is None or grant.revoked:
        return None
    environment_id = grant.environment_id
    app = await application_store.get(conn, environment_id, grant.application_id)
    if app is None or not app.enabled:
        return None
    user = await user_store.get(conn, environment_id, grant.user_id)
    return user if user is not None and user.enabled else None


async def token_user(conn: Connection, environment_id: str, jti: str) -> Any:
    """The user a user's access token speaks for, while its grant holds and the token is not
    revoked; else None."""
    row = await store.token(conn, environment_id, jti)
    if row is None or row.revoked or row.kind != "access":
        return None
    return await _standing_user(conn, await store.grant(conn, environment_id, row.grant_id))


async def refresh_token_state(conn: Connection, environment_id: str, token: str) -> Any:
    """(token row, grant) of a refresh token that is still good, else None."""
    now = now_ms()
    row = await store.token(conn, environment_id, digest(token))
    if row is None or row.kind != "refresh" or row.used or row.revoked or row.expires_at <= now:
        return None
    grant = await store.grant(conn, environment_id, row.grant_id)
    if await _standing_user(conn, grant) is None or not await _live_session(conn, grant, now):
        return None
    return row, grant


async def revoke(db: Database, app: Any, token: str, jti: str | None) -> None:
    """RFC 7009: a refresh token ends with its grant; an access token alone. Tokens of other
    clients, and unknown ones, are left as they are (and the answer is the same)."""
    environment_id = app.environment_id
    async with db.write() as conn:
        key = jti if jti is not None else digest(token)
        row = await store.token(conn, environment_id, key)
        if row is None:
            return
        grant = await store.grant(conn, environment_id, row.grant_id)
        if grant is None or grant.application_id != app.id:
            return
        if row.kind == "refresh":
            await store.revoke_grant(conn, environment_id, grant.id)
        else:
            await store.revoke_token(conn, environment_id, key)


async def revoke_held(db: Database, environment_id: str, jti: str) -> None:
    """Revoke a user's access token given back by whoever holds it (the console's sign-out):
    holding the token is the proof, as at the revocation endpoint."""
    async with db.write() as conn:
        await store.revoke_token(conn, environment_id, jti)


async def sign_off(
    db: Database, environment_id: str, user_id: str, session_token: str | None
) -> bool:
    """End the browser's session; True when one ended. A session of another user than the
    hinted one is 400 and stays (PingOne: the user must be the session's)."""
    if session_token is None:
        return False
    async with db.write() as conn:
        session = await store.session_by_token(
            conn, environment_id, digest(session_token), now_ms()
        )
        if session is None:
            return False
        if session.user_id != user_id:
            raise invalid_data(
                "INVALID_VALUE", "id_token_hint", "The id_token_hint is not the session's user."
            )
        await store.end_session(conn, environment_id, session.id)
        return True
