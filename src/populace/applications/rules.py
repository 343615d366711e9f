"""Rules for applications and their secrets (their role assignments: ``assignments``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from populace.applications import store
from populace.assignments import store as assignment_store
from populace.assignments.rules import keep_an_administrator, read_only
from populace.assignments.store import Subject
from populace.auth.guard import Access
from populace.auth.secrets import SecretBox, new_client_secret
from populace.errors import MSG_FORBIDDEN, ApiError, Detail, found, not_found
from populace.names import clean_description, clean_name
from populace.storage.database import Connection
from populace.wire import new_id, now_ms


async def create_application(
    conn: Connection, access: Access, box: SecretBox, values: dict[str, Any]
) -> Row[Any]:
    at = now_ms()
    return await store.insert_application(
        conn,
        {
            **values,
            "name": clean_name(values["name"]),
            "description": clean_description(values["description"]),
            "environment_id": access.environment,
            "id": new_id(),
            "client_secret": box.seal(new_client_secret()),
            "created_at": at,
            "updated_at": at,
        },
    )


async def read_application(conn: Connection, access: Access, application_id: str) -> Row[Any]:
    return found(await store.get(conn, access.environment, application_id))


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


async def read_secret(conn: Connection, access: Access, box: SecretBox, application_id: str) -> str:
    """An application's secret, guarded as PingOne guards it: never the caller's own, and
    only where none of the application's role assignments is read-only for the caller, so
    nobody gains through an application's secret what it could not grant itself."""
    actor = access.actor
    if (access.environment, application_id) == (actor.environment_id, actor.application_id):
        raise _secret_refused()
    row = await read_application(conn, access, application_id)
    subject = Subject("application", application_id)
    assignments = await assignment_store.assignments_of(conn, access.environment, subject)
    if any(read_only(actor, assignment) for assignment in assignments):
        raise _secret_refused()
    return box.open(row.client_secret)
