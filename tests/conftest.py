"""Test fixtures: one populace deployment per test session, driven over HTTP.

``POPULACE_TEST_DATABASE_URL`` chooses the database: unset, a SQLite file in a temporary
directory; ``postgresql://...``, a fresh database created on that server for this session and
dropped at its end. Each test works in environments it creates itself, so tests do not see
each other's data.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from hypothesis import settings
from sqlalchemy.engine import make_url

from populace.app import build_app, start
from populace.bootstrap import AdminCredentials
from populace.config import Config
from populace.services import Services
from tests.support import Actor, bearer, browser_page, fetch_token, unique

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

BASE_URL = "http://populace.test"

# populace's own pytest plugin (populace/testing.py): its fixtures, for the tests of it.
pytest_plugins = ["populace.testing"]

# No per-example deadline for any property test: CI machines are shared and often loaded, and
# how fast an example runs is not what these tests check.
settings.register_profile("populace", deadline=None)
settings.load_profile("populace")


def _server_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _create_database(url: str) -> str:
    """Make a throw-away database next to the one ``url`` names; return its URL."""
    name = f"populace_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_server_url(url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _drop_database(url: str) -> None:
    name = make_url(url).database
    admin_url = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(_server_url(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def is_postgres() -> bool:
    return os.environ.get("POPULACE_TEST_DATABASE_URL", "").startswith("postgres")


@pytest_asyncio.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    configured = os.environ.get("POPULACE_TEST_DATABASE_URL", "")
    if configured.startswith("postgres"):
        url = await _create_database(configured)
        yield url
        await _drop_database(url)
    else:
        yield str(tmp_path_factory.mktemp("db") / "populace.db")


@pytest_asyncio.fixture
async def empty_database(tmp_path: Any) -> AsyncIterator[str]:
    """One empty database of the session's kind, removed afterwards."""
    configured = os.environ.get("POPULACE_TEST_DATABASE_URL", "")
    if configured.startswith("postgres"):
        url = await _create_database(configured)
        yield url
        await _drop_database(url)
    else:
        yield str(tmp_path / "populace.db")


@dataclass
class Deployment:
    app: Any
    services: Services
    admin: AdminCredentials
    database_url: str


@pytest_asyncio.fixture(scope="session")
async def deployment(database_url: str) -> AsyncIterator[Deployment]:
    # Hostile-input and token tests fail client authentication many times from one address;
    # the throttle that would lock them out has tests of its own (test_hardening.py).
    services, admin = await start(
        Config(database_url=database_url, token_failure_limit=0, password_hash_cost="cheap")
    )
    yield Deployment(build_app(services), services, admin, database_url)
    await services.db.dispose()


def _client(deployment: Deployment, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=deployment.app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers)


@pytest_asyncio.fixture
async def client(deployment: Deployment) -> AsyncIterator[httpx.AsyncClient]:
    """A client without a token."""
    async with _client(deployment) as c:
        yield c


async def _admin_token(deployment: Deployment) -> str:
    async with _client(deployment) as c:
        admin = deployment.admin
        return await fetch_token(c, admin.environment_id, admin.client_id, admin.client_secret)


@pytest_asyncio.fixture(scope="module")
async def admin_token(deployment: Deployment) -> str:
    """The bootstrap Worker app's token, fresh for each test module: a token lives an hour, and
    a whole session on a loaded machine may take longer than that."""
    return await _admin_token(deployment)


@pytest_asyncio.fixture
async def admin(deployment: Deployment, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client carrying the bootstrap Worker app's token (Organization Admin)."""
    async with _client(deployment, bearer(admin_token)) as c:
        yield c


@pytest_asyncio.fixture(scope="session")
async def license_id(deployment: Deployment) -> str:
    async with _client(deployment, bearer(await _admin_token(deployment))) as c:
        organization_id = deployment.admin.organization_id
        response = await c.get(f"/v1/organizations/{organization_id}/licenses")
        return str(response.json()["_embedded"]["licenses"][0]["id"])


@pytest_asyncio.fixture(scope="session")
async def role_ids(deployment: Deployment) -> dict[str, str]:
    async with _client(deployment, bearer(await _admin_token(deployment))) as c:
        roles = (await c.get("/v1/roles")).json()["_embedded"]["roles"]
        return {role["name"]: role["id"] for role in roles}


EnvironmentFactory = Callable[..., Awaitable[dict[str, Any]]]


@pytest_asyncio.fixture
async def make_environment(
    admin: httpx.AsyncClient, license_id: str
) -> AsyncIterator[EnvironmentFactory]:
    """Create environments for one test; they are deleted when it ends."""
    made: list[str] = []

    async def make(**fields: Any) -> dict[str, Any]:
        body = {
            "name": unique("env"),
            "type": "SANDBOX",
            "region": "NA",
            "license": {"id": license_id},
            **fields,
        }
        response = await admin.post("/v1/environments", json=body)
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
        return dict(response.json())

    yield make
    for environment_id in made:
        await admin.delete(f"/v1/environments/{environment_id}")


@pytest_asyncio.fixture
async def environment(make_environment: EnvironmentFactory) -> dict[str, Any]:
    return await make_environment()


ActorFactory = Callable[..., Awaitable[Actor]]


@pytest_asyncio.fixture
async def make_actor(
    deployment: Deployment, admin: httpx.AsyncClient, role_ids: dict[str, str]
) -> AsyncIterator[ActorFactory]:
    """Create a Worker app holding exactly the given roles, and a client with its token.

    ``await make_actor(("Environment Admin", "ENVIRONMENT", env_id), ...)``; no roles at all
    makes an actor that can do nothing.
    """
    admin_environment = deployment.admin.environment_id
    clients: list[httpx.AsyncClient] = []
    apps: list[str] = []

    async def make(*grants: tuple[str, str, str]) -> Actor:
        response = await admin.post(
            f"/v1/environments/{admin_environment}/applications",
            json={
                "name": unique("worker"),
                "enabled": True,
                "type": "WORKER",
                "protocol": "OPENID_CONNECT",
                "grantTypes": ["CLIENT_CREDENTIALS"],
                "tokenEndpointAuthMethod": "CLIENT_SECRET_BASIC",
            },
        )
        assert response.status_code == 201, response.text
        application_id = response.json()["id"]
        apps.append(application_id)
        app_path = f"/v1/environments/{admin_environment}/applications/{application_id}"
        for role_name, scope_type, scope_id in grants:
            assigned = await admin.post(
                f"{app_path}/roleAssignments",
                json={
                    "role": {"id": role_ids[role_name]},
                    "scope": {"type": scope_type, "id": scope_id},
                },
            )
            assert assigned.status_code == 201, assigned.text
        secret = (await admin.get(f"{app_path}/secret")).json()["secret"]
        c = _client(deployment)
        token = await fetch_token(c, admin_environment, application_id, secret)
        c.headers.update(bearer(token))
        clients.append(c)
        return Actor(c, application_id, admin_environment, secret, token)

    yield make
    for c in clients:
        await c.aclose()
    for application_id in apps:
        await admin.delete(f"/v1/environments/{admin_environment}/applications/{application_id}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium from Debian (``make chromium``): nothing downloads a browser."""
    from playwright.sync_api import sync_playwright  # only the browser tests need it

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is needed: `make chromium` installs it"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with browser_page(browser) as opened:
        yield opened
