"""Environment rules, and the access guard every resource inside an environment uses."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from populace.auth.roles import (
    ENVIRONMENT_ADMIN,
    IDENTITY_DATA_ADMIN,
    Actor,
    Permission,
    ScopeType,
)
from populace.environments import store
from populace.errors import ApiError, forbidden, invalid_data, not_found
from populace.storage.database import Connection
from populace.storage.schema import role_assignments
from populace.wire import new_id, now_ms

EnvironmentType = Literal["SANDBOX", "PRODUCTION"]
Region = Literal["NA", "EU", "AP", "CA", "AU", "SG"]


async def authorize(
    conn: Connection,
    actor: Actor,
    permission: Permission,
    environment_id: str,
    population_id: str | None = None,
    *,
    check_environment: bool = True,
) -> None:
    """Let the actor act in an environment, or raise.

    An actor without a right there gets 403 whether or not the environment exists (no
    existence oracle). An actor with an organization-wide role learns that it does not: 404.
    Grants scoped to an environment are deleted with it, so only organization-wide grants can
    point at a missing environment. ``check_environment=False`` skips that query when the
    caller looks up one object of the environment next: a missing object is 404 either way.
    """
    if not actor.can(permission, environment_id, population_id):
        raise forbidden()
    if (
        check_environment
        and actor.has_organization_scope()
        and not await store.exists(conn, environment_id, actor.organization_id)
    ):
        raise not_found()


async def authorize_population_scope(
    conn: Connection,
    actor: Actor,
    permission: Permission,
    environment_id: str,
    *,
    check_environment: bool = True,
) -> set[str] | None:
    """Like :func:`authorize` for a whole collection: None when the actor may act on every
    population of the environment, else the populations its population-scoped grants name."""
    scope = actor.population_scope(permission, environment_id)
    if scope is None:
        await authorize(
            conn, actor, permission, environment_id, check_environment=check_environment
        )
    elif not scope:
        raise forbidden()
    return scope


def authorize_organization(actor: Actor, permission: Permission) -> None:
    if not actor.can(permission, None):
        raise forbidden()


def clean_name(name: str, *, max_length: int = 256) -> str:
    """Trim and check a display name: 1-256 characters, no control characters."""
    trimmed = name.strip()
    if not trimmed:
        raise invalid_data("EMPTY_VALUE", "name", "'name' must not be empty.")
    if len(trimmed) > max_length:
        raise invalid_data(
            "SIZE_LIMIT_EXCEEDED",
            "name",
            f"'name' must be at most {max_length} characters.",
            maximumValue=max_length,
        )
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in trimmed):
        raise invalid_data("INVALID_VALUE", "name", "'name' must not contain control characters.")
    return trimmed


def duplicate_name() -> ApiError:
    return invalid_data("UNIQUENESS_VIOLATION", "name", "'name' is already in use.")


async def _check_environment(
    conn: Connection, actor: Actor, values: dict[str, Any], except_id: str | None = None
) -> dict[str, Any]:
    values["name"] = clean_name(values["name"])
    if not await store.license_exists(conn, actor.organization_id, values["license_id"]):
        raise invalid_data("INVALID_VALUE", "license.id", "'license.id' does not name a license.")
    if await store.name_taken(conn, actor.organization_id, values["name"], except_id):
        raise duplicate_name()
    return values


async def create_environment(conn: Connection, actor: Actor, values: dict[str, Any]) -> str:
    """Create an environment with its default population, password policy and theme.

    The creating application becomes its Environment Admin and Identity Data Admin, as PingOne
    grants a Worker app that creates an environment.
    """
    authorize_organization(actor, Permission.ENVIRONMENT_CREATE)
    values = await _check_environment(conn, actor, values)
    environment_id, at = new_id(), now_ms()
    try:
        await store.insert_environment(
            conn,
            {
                **values,
                "id": environment_id,
                "organization_id": actor.organization_id,
                "created_at": at,
                "updated_at": at,
            },
        )
    except IntegrityError:
        raise duplicate_name() from None
    await conn.execute(
        insert(role_assignments),
        [
            {
                "environment_id": actor.environment_id,
                "id": new_id(),
                "application_id": actor.application_id,
                "role_id": role.id,
                "scope_type": ScopeType.ENVIRONMENT.value,
                "scope_id": environment_id,
                "scope_environment_id": environment_id,
                "created_at": at,
            }
            for role in (ENVIRONMENT_ADMIN, IDENTITY_DATA_ADMIN)
        ],
    )
    return environment_id


async def update_environment(
    conn: Connection, actor: Actor, environment_id: str, values: dict[str, Any]
) -> None:
    await authorize(conn, actor, Permission.ENVIRONMENT_UPDATE, environment_id)
    values = await _check_environment(conn, actor, values, except_id=environment_id)
    try:
        await store.update_environment(
            conn, actor.organization_id, environment_id, {**values, "updated_at": now_ms()}
        )
    except IntegrityError:
        raise duplicate_name() from None


async def delete_environment(conn: Connection, actor: Actor, environment_id: str) -> None:
    await authorize(conn, actor, Permission.ENVIRONMENT_DELETE, environment_id)
    if environment_id == actor.environment_id:
        raise invalid_data(
            "CONSTRAINT_VIOLATION",
            None,
            "The environment of the application making the request cannot be deleted.",
        )
    if not await store.delete_environment(conn, actor.organization_id, environment_id):
        raise not_found()
