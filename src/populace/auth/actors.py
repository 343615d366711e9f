"""Who is calling: the application named by a verified bearer token, with its role assignments;
or, for a user's token from a Worker application's user-based grant, the user with theirs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, select

from populace.assignments import store as assignment_store
from populace.auth.roles import ROLES, Actor, Grant, ScopeType
from populace.auth.tokens import Claims, TokenVerifier
from populace.errors import forbidden, unauthorized
from populace.oauth import signon
from populace.storage.database import Connection
from populace.storage.prepared import Prepared
from populace.storage.schema import applications, role_assignments


def bearer_claims(authorization: str | None, verifier: TokenVerifier) -> Claims:
    """Verify an ``Authorization: Bearer`` header's token (signature, expiry, key) or 401."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("A bearer access token is required.")
    return verifier.verify(token.strip())


_ACTOR_GRANTS = Prepared(
    select(
        applications.c.enabled,
        applications.c.type,
        role_assignments.c.role_id,
        role_assignments.c.scope_type,
        role_assignments.c.scope_id,
        role_assignments.c.scope_environment_id,
    )
    .select_from(
        applications.outerjoin(
            role_assignments,
            and_(
                role_assignments.c.environment_id == applications.c.environment_id,
                role_assignments.c.application_id == applications.c.id,
            ),
        )
    )
    .where(
        applications.c.environment_id == bindparam("environment_id"),
        applications.c.id == bindparam("application_id"),
    )
)


async def load_actor(conn: Connection, claims: Claims) -> Actor:
    """The token's application and grants, read fresh: a deleted or disabled application, or a
    removed role, takes effect on the next request in every process."""
    rows = await _ACTOR_GRANTS.all(
        conn, environment_id=claims.environment_id, application_id=claims.client_id
    )
    if not rows or not rows[0].enabled:
        raise unauthorized("The application of the access token no longer exists or is disabled.")
    if claims.user_id is not None:
        return await _signed_on_user(conn, claims, rows[0].type)
    return _actor(claims, rows)


async def _signed_on_user(conn: Connection, claims: Claims, application_type: str) -> Actor:
    """As PingOne: a Worker application's user-based grant acts with the user's role
    assignments (never the application's); another application's user token is for the
    user's own data (self-service scopes), which the management API does not serve."""
    if application_type != "WORKER":
        raise forbidden()
    environment_id = claims.environment_id
    user = await signon.token_user(conn, environment_id, str(claims.token_id))
    if user is None:
        raise unauthorized("The access token was revoked, or its user is gone or disabled.")
    held = await assignment_store.assignments_held_by_user(conn, environment_id, user.id)
    return _actor(claims, held, user_id=user.id)


def _actor(claims: Claims, rows: Sequence[Any], user_id: str | None = None) -> Actor:
    return Actor(
        application_id=claims.client_id,
        environment_id=claims.environment_id,
        organization_id=claims.organization_id,
        grants=tuple(
            Grant(
                ROLES[row.role_id],
                ScopeType(row.scope_type),
                row.scope_id,
                row.scope_environment_id,
            )
            for row in rows
            if row.role_id is not None and row.role_id in ROLES
        ),
        user_id=user_id,
    )
