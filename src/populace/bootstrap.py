"""First start of a deployment: an organization, a license, the Administrators environment and
a Worker application that holds Organization Admin.

It runs at every start and creates only what is missing, so it is safe to repeat; the start-up
lock (``storage.migrate.deployment_lock``) keeps two processes from doing it at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from populace.applications import store as application_store
from populace.auth.roles import ORGANIZATION_ADMIN, ScopeType
from populace.auth.secrets import SecretBox, new_client_secret
from populace.config import Config
from populace.environments.rules import provision
from populace.organizations import store as organization_store
from populace.storage import settings
from populace.storage.database import Connection
from populace.wire import is_uuid, new_id, now_ms

ADMIN_ENVIRONMENT_NAME = "Administrators"
ADMIN_APPLICATION_NAME = "populace admin worker"
_ADMIN_SETTING = "admin_application"


@dataclass(frozen=True, slots=True)
class AdminCredentials:
    organization_id: str
    environment_id: str
    client_id: str
    client_secret: str
    created: bool  # True on the start that bootstrapped the deployment


def _fixed_id(value: str | None, variable: str) -> str:
    if value is None:
        return new_id()
    if not is_uuid(value):
        raise ValueError(f"{variable} must be a UUID, got {value!r}")
    return value.lower()


async def _create(conn: Connection, config: Config, box: SecretBox) -> tuple[str, str, str]:
    at = now_ms()
    organization_id, license_id = new_id(), new_id()
    environment_id = _fixed_id(config.admin_environment_id, "POPULACE_ADMIN_ENVIRONMENT_ID")
    client_id = _fixed_id(config.admin_client_id, "POPULACE_ADMIN_CLIENT_ID")
    secret = config.admin_client_secret or new_client_secret()
    await organization_store.insert_organization(
        conn, {"id": organization_id, "name": "populace", "created_at": at, "updated_at": at}
    )
    await organization_store.insert_license(
        conn,
        {
            "id": license_id,
            "organization_id": organization_id,
            "name": "populace",
            "package": "INTERNAL",
            "created_at": at,
        },
    )
    await provision(
        conn,
        {
            "id": environment_id,
            "organization_id": organization_id,
            "name": ADMIN_ENVIRONMENT_NAME,
            "description": "Holds the Worker application that administers this deployment.",
            "type": "PRODUCTION",
            "region": "NA",
            "license_id": license_id,
            "created_at": at,
            "updated_at": at,
        },
    )
    await application_store.insert_application(
        conn,
        {
            "environment_id": environment_id,
            "id": client_id,
            "name": ADMIN_APPLICATION_NAME,
            "description": "Created by populace at bootstrap; holds Organization Admin.",
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
    await application_store.insert_assignment(
        conn,
        environment_id,
        client_id,
        {
            "role_id": ORGANIZATION_ADMIN.id,
            "scope_type": ScopeType.ORGANIZATION.value,
            "scope_id": organization_id,
            "scope_environment_id": None,
            "created_at": at,
        },
    )
    await settings.put(conn, _ADMIN_SETTING, f"{environment_id}/{client_id}")
    return organization_id, environment_id, client_id


async def bootstrap(conn: Connection, config: Config, box: SecretBox) -> AdminCredentials:
    organization_id = await organization_store.the_organization_id(conn)
    created = organization_id is None
    if created:
        organization_id, environment_id, client_id = await _create(conn, config, box)
    else:
        stored = await settings.get(conn, _ADMIN_SETTING)
        environment_id, client_id = str(stored).split("/")
    assert organization_id is not None
    app = await application_store.get(conn, environment_id, client_id)
    if app is None:
        raise RuntimeError(
            "the bootstrap Worker application was deleted; create another Worker app with "
            "Organization Admin, or start on a new database"
        )
    secret = box.open(app.client_secret)
    if config.admin_client_secret and config.admin_client_secret != secret:
        # Scripts that fix the secret in advance must be able to rely on it at every start.
        secret = config.admin_client_secret
        await application_store.set_secret(conn, environment_id, client_id, box.seal(secret))
    return AdminCredentials(organization_id, environment_id, client_id, secret, created)
