"""First start of a deployment: an organization, a license, the Administrators environment and
a Worker application that holds Organization Admin; and the local recovery of that application.

Bootstrap runs at every start and creates only what is missing, so it is safe to repeat; the
start-up lock (``storage.migrate.deployment_lock``) keeps two processes from doing it at once.
It never refuses to start: if the bootstrap application is gone, the credentials say so, and
``populace admin recover`` (local database access is the root of trust) makes a new one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from populace.applications import store as application_store
from populace.assignments import store as assignment_store
from populace.assignments.store import Subject
from populace.auth.roles import ORGANIZATION_ADMIN, ScopeType
from populace.auth.secrets import SecretBox, new_client_secret
from populace.config import Config
from populace.environments import store as environment_store
from populace.environments.rules import provision
from populace.organizations import store as organization_store
from populace.storage import settings
from populace.storage.database import Connection
from populace.wire import is_uuid, new_id, now_ms

ADMIN_ENVIRONMENT_NAME = "Administrators"
ADMIN_APPLICATION_NAME = "populace admin worker"


@dataclass(frozen=True, slots=True)
class AdminCredentials:
    organization_id: str
    environment_id: str
    client_id: str
    # None when the bootstrap application no longer exists (``populace admin recover``).
    client_secret: str | None
    created: bool  # True on the start that bootstrapped the deployment


def _fixed_id(value: str | None, variable: str) -> str:
    if value is None:
        return new_id()
    if not is_uuid(value):
        raise ValueError(f"{variable} must be a UUID, got {value!r}")
    return value.lower()


async def _create_organization(conn: Connection) -> str:
    at = now_ms()
    organization_id = new_id()
    await organization_store.insert_organization(
        conn, {"id": organization_id, "name": "populace", "created_at": at, "updated_at": at}
    )
    await organization_store.insert_license(
        conn,
        {
            "id": new_id(),
            "organization_id": organization_id,
            "name": "populace",
            "package": "INTERNAL",
            "created_at": at,
        },
    )
    return organization_id


async def _admin_environment(conn: Connection, organization_id: str, wanted_id: str) -> None:
    """The Administrators environment ``wanted_id``, made if it does not exist."""
    if await environment_store.exists(conn, organization_id, wanted_id):
        return
    at = now_ms()
    license_id = await organization_store.first_license_id(conn, organization_id)
    taken = await environment_store.name_taken(conn, organization_id, ADMIN_ENVIRONMENT_NAME)
    await provision(
        conn,
        {
            "id": wanted_id,
            "organization_id": organization_id,
            "name": ADMIN_ENVIRONMENT_NAME + (f" {wanted_id[:8]}" if taken else ""),
            "description": "Holds the Worker application that administers this deployment.",
            "type": "PRODUCTION",
            "region": "NA",
            "license_id": license_id,
            "created_at": at,
            "updated_at": at,
        },
    )


async def install_admin(
    conn: Connection,
    box: SecretBox,
    organization_id: str,
    environment_id: str,
    client_id: str,
    secret: str,
) -> None:
    """The Administrators environment (made if it is gone) and a Worker application in it
    holding Organization Admin, recorded as the bootstrap one, with these ids and secret (a
    first start, the control API's reset, ``populace admin recover``)."""
    await _admin_environment(conn, organization_id, environment_id)
    at = now_ms()
    await application_store.insert_application(
        conn,
        {
            "environment_id": environment_id,
            "id": client_id,
            "name": ADMIN_APPLICATION_NAME,
            "description": "Created by populace; holds Organization Admin.",
            "enabled": True,
            "type": "WORKER",
            "protocol": "OPENID_CONNECT",
            "grant_types": ["CLIENT_CREDENTIALS"],
            "token_endpoint_auth_method": "CLIENT_SECRET_BASIC",
            "client_secret": box.seal(secret),
            "created_at": at,
            "updated_at": at,
        },
    )
    await assignment_store.insert_assignment(
        conn,
        environment_id,
        Subject("application", client_id),
        {
            "role_id": ORGANIZATION_ADMIN.id,
            "scope_type": ScopeType.ORGANIZATION.value,
            "scope_id": organization_id,
            "scope_environment_id": None,
            "created_at": at,
        },
    )
    await settings.set_admin_application(conn, environment_id, client_id)


async def current_credentials(conn: Connection, box: SecretBox) -> AdminCredentials | None:
    """The deployment's bootstrap credentials as they are (None: no deployment yet); reads
    only. The secret is None when the bootstrap application no longer exists."""
    organization_id = await organization_store.the_organization_id(conn)
    if organization_id is None:
        return None
    environment_id, client_id = await settings.admin_application(conn)
    app = await application_store.get(conn, environment_id, client_id)
    secret = None if app is None else box.open(app.client_secret)
    return AdminCredentials(organization_id, environment_id, client_id, secret, False)


def _refuse_other_ids(config: Config, current: AdminCredentials) -> None:
    """Ids fixed by variables cannot change on an existing deployment (everything holds them):
    a start that asks for other ones fails, rather than running with ids it was not given."""
    for variable, wanted, actual in (
        ("POPULACE_ADMIN_ENVIRONMENT_ID", config.admin_environment_id, current.environment_id),
        ("POPULACE_ADMIN_CLIENT_ID", config.admin_client_id, current.client_id),
    ):
        if wanted is not None and wanted.lower() != actual:
            raise ValueError(
                f"{variable} is {wanted}, but this database's bootstrap value is {actual}: "
                "unset the variable, or start on a new database"
            )


async def bootstrap(conn: Connection, config: Config, box: SecretBox) -> AdminCredentials:
    current = await current_credentials(conn, box)
    if current is None:
        organization_id = await _create_organization(conn)
        environment_id = _fixed_id(config.admin_environment_id, "POPULACE_ADMIN_ENVIRONMENT_ID")
        client_id = _fixed_id(config.admin_client_id, "POPULACE_ADMIN_CLIENT_ID")
        secret = config.admin_client_secret or new_client_secret()
        await install_admin(conn, box, organization_id, environment_id, client_id, secret)
        return AdminCredentials(organization_id, environment_id, client_id, secret, True)
    _refuse_other_ids(config, current)
    wanted = config.admin_client_secret
    if current.client_secret is not None and wanted and wanted != current.client_secret:
        # Scripts that fix the secret in advance must be able to rely on it at every start.
        await application_store.set_secret(
            conn, current.environment_id, current.client_id, box.seal(wanted)
        )
        return dataclasses.replace(current, client_secret=wanted)
    return current


async def recover(conn: Connection, box: SecretBox) -> AdminCredentials:
    """A new Organization Admin application in the Administrators environment (made again if
    it is gone), recorded as the bootstrap application; its credentials."""
    organization_id = await organization_store.the_organization_id(conn)
    if organization_id is None:
        raise ValueError("the database has no deployment yet: `populace serve` creates one")
    environment_id, _ = await settings.admin_application(conn)
    client_id, secret = new_id(), new_client_secret()
    await install_admin(conn, box, organization_id, environment_id, client_id, secret)
    return AdminCredentials(organization_id, environment_id, client_id, secret, True)
