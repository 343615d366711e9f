"""Who is calling: the application named by a verified token, with its role assignments."""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

from populace.auth.roles import ROLES, Actor, Grant, ScopeType
from populace.auth.tokens import Claims
from populace.errors import unauthorized
from populace.storage.schema import applications, role_assignments
from populace.web import services


def bearer_claims(request: Request) -> Claims:
    """Verify the request's bearer token (signature, expiry, issuer key) or answer 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("A bearer access token is required.")
    return services(request).verifier.verify(token.strip())


async def load_actor(conn: AsyncConnection, claims: Claims) -> Actor:
    """The token's application and grants, read fresh: a deleted or disabled application, or a
    removed role, takes effect on the next request in every process."""
    apps, grants = applications, role_assignments
    rows = (
        await conn.execute(
            select(
                apps.c.enabled,
                grants.c.role_id,
                grants.c.scope_type,
                grants.c.scope_id,
                grants.c.scope_environment_id,
            )
            .select_from(
                apps.outerjoin(
                    grants,
                    and_(
                        grants.c.environment_id == apps.c.environment_id,
                        grants.c.application_id == apps.c.id,
                    ),
                )
            )
            .where(apps.c.environment_id == claims.environment_id, apps.c.id == claims.client_id)
        )
    ).all()
    if not rows or not rows[0].enabled:
        raise unauthorized("The application of the access token no longer exists or is disabled.")
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
    )


async def current_actor(request: Request, conn: AsyncConnection) -> Actor:
    return await load_actor(conn, bearer_claims(request))
