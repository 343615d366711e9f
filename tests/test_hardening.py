"""Regression tests for the hardening round (commits eefaa56 and 3f890af): one test, or one
parametrized test, per finding; each docstring names the finding it guards.

Destructive or specially configured checks run in a deployment of their own (``own_deployment``,
on a fresh database of the session's kind from ``empty_database``, or on a SQLite file where the
behaviour is SQLite's); the rest use the session deployment in environments they create. Tests
that need processes start ``python -m populace ...`` as a user would. No assertion depends on the
machine's speed: waits have generous deadlines, and concurrency is judged by ordering only.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError

from populace.app import build_app, start
from populace.auth.roles import ORGANIZATION_ADMIN
from populace.bootstrap import AdminCredentials
from populace.config import Config
from populace.http import limits
from populace.names import text_key
from populace.services import Services
from populace.storage.database import Database
from populace.storage.migrate import upgrade
from populace.storage.schema import (
    environments,
    populations,
    rate_windows,
    settings,
    users,
)
from populace.users.importer import import_users
from tests.conftest import BASE_URL, Deployment
from tests.support import (
    ServerProcess,
    assert_error,
    bearer,
    fetch_token,
    insert_organization,
    printed,
    record_calls,
    unique,
)

Json = dict[str, Any]
GRANT = {"grant_type": "client_credentials"}
# Generous deadlines for anything that waits on another process.
DEADLINE_SECONDS = 60.0
CLI_SECONDS = 120.0


@pytest.fixture(autouse=True)
def _no_populace_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Child processes inherit os.environ: keep the caller's POPULACE_* settings out."""
    for name in list(os.environ):
        if name.startswith("POPULACE_") and name != "POPULACE_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


# -- helpers -----------------------------------------------------------------------------------


@dataclass
class Own:
    """A deployment of one test's own, in process."""

    services: Services
    admin: AdminCredentials
    app: Any

    def client(
        self, token: str | None = None, address: str = "127.0.0.1", **headers: str
    ) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(
            app=self.app, raise_app_exceptions=False, client=(address, 1234)
        )
        if token is not None:
            headers.update(bearer(token))
        return httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers)

    async def admin_client(self) -> httpx.AsyncClient:
        """A client carrying the bootstrap application's token."""
        assert self.admin.client_secret is not None
        async with self.client() as anonymous:
            token = await fetch_token(
                anonymous, self.admin.environment_id, self.admin.client_id, self.admin.client_secret
            )
        return self.client(token)


@asynccontextmanager
async def own_deployment(config: Config) -> AsyncIterator[Own]:
    services, admin = await start(config)
    try:
        yield Own(services, admin, build_app(services))
    finally:
        await services.db.dispose()


def applications_path(environment_id: str, application_id: str | None = None) -> str:
    path = f"/v1/environments/{environment_id}/applications"
    return path if application_id is None else f"{path}/{application_id}"


async def new_worker(client: httpx.AsyncClient, environment_id: str) -> str:
    created = await client.post(
        applications_path(environment_id),
        json={
            "name": unique("worker"),
            "enabled": True,
            "type": "WORKER",
            "protocol": "OPENID_CONNECT",
            "grantTypes": ["CLIENT_CREDENTIALS"],
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def assign(
    client: httpx.AsyncClient,
    environment_id: str,
    application_id: str,
    role_id: str,
    scope_type: str,
    scope_id: str,
) -> Json:
    response = await client.post(
        f"{applications_path(environment_id, application_id)}/roleAssignments",
        json={"role": {"id": role_id}, "scope": {"type": scope_type, "id": scope_id}},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def read_secret(client: httpx.AsyncClient, environment_id: str, application_id: str) -> str:
    response = await client.get(f"{applications_path(environment_id, application_id)}/secret")
    assert response.status_code == 200, response.text
    return str(response.json()["secret"])


async def new_environment(client: httpx.AsyncClient, admin: AdminCredentials) -> str:
    listed = await client.get(f"/v1/organizations/{admin.organization_id}/licenses")
    assert listed.status_code == 200, listed.text
    license_id = listed.json()["_embedded"]["licenses"][0]["id"]
    created = await client.post(
        "/v1/environments",
        json={
            "name": unique("env"),
            "type": "SANDBOX",
            "region": "NA",
            "license": {"id": license_id},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def organization_admin(
    client: httpx.AsyncClient, admin: AdminCredentials, environment_id: str
) -> tuple[str, str]:
    """A new Worker application in ``environment_id`` holding Organization Admin: its id and
    a token of its own."""
    application_id = await new_worker(client, environment_id)
    await assign(
        client,
        environment_id,
        application_id,
        ORGANIZATION_ADMIN.id,
        "ORGANIZATION",
        admin.organization_id,
    )
    secret = await read_secret(client, environment_id, application_id)
    token = await fetch_token(client, environment_id, application_id, secret)
    return application_id, token


async def organization_admin_assignment(
    client: httpx.AsyncClient, environment_id: str, application_id: str
) -> str:
    listed = await client.get(
        f"{applications_path(environment_id, application_id)}/roleAssignments"
    )
    assert listed.status_code == 200, listed.text
    (found,) = [
        a["id"]
        for a in listed.json()["_embedded"]["roleAssignments"]
        if a["role"]["id"] == ORGANIZATION_ADMIN.id
    ]
    return str(found)


def assert_constraint_violation(response: httpx.Response) -> None:
    assert_error(response, 400, "INVALID_DATA", "CONSTRAINT_VIOLATION")


def assert_no_store(response: httpx.Response) -> None:
    assert response.headers.get("cache-control") == "no-store", response.headers


def words(text: str) -> str:
    """Output with its line wrapping undone (rich wraps long messages to the terminal)."""
    return " ".join(text.split())


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "populace", *arguments],
        capture_output=True,
        text=True,
        timeout=CLI_SECONDS,
    )


def run_in_thread(make: Callable[[], Any]) -> Any:
    """Run a coroutine function to completion on an event loop of its own, in a thread of its
    own (the test's thread may own pytest-asyncio's event loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result(timeout=CLI_SECONDS)


# -- 1. application secrets and readOnly role assignments ------------------------------------


@pytest.mark.parametrize("actor_role", ["Environment Admin", "Client Application Developer"])
async def test_secret_of_an_application_holding_more_than_the_actor_is_refused(
    admin: httpx.AsyncClient,
    make_actor: Any,
    environment: Json,
    role_ids: dict[str, str],
    deployment: Deployment,
    actor_role: str,
) -> None:
    """Finding: any actor with mgmt:read:applicationSecret in an environment could read the
    secret of an application there holding Organization Admin, and so act as it. Now a secret
    is readable only when the actor could have made every role assignment the application
    holds; otherwise 403 ACCESS_FAILED / INSUFFICIENT_PERMISSIONS. A readable secret is sent
    with Cache-Control: no-store."""
    environment_id = environment["id"]
    organization_id = deployment.admin.organization_id
    actor = await make_actor((actor_role, "ENVIRONMENT", environment_id))

    plain = await new_worker(admin, environment_id)
    holds: dict[str, tuple[str, str, str]] = {
        "Organization Admin": (role_ids["Organization Admin"], "ORGANIZATION", organization_id),
        "Identity Data Admin": (role_ids["Identity Data Admin"], "ENVIRONMENT", environment_id),
        "Client Application Developer": (
            role_ids["Client Application Developer"],
            "ENVIRONMENT",
            environment_id,
        ),
    }
    holders = {}
    for name, (role_id, scope_type, scope_id) in holds.items():
        holders[name] = await new_worker(admin, environment_id)
        await assign(admin, environment_id, holders[name], role_id, scope_type, scope_id)

    # An Environment Admin holds every permission of Client Application Developer and the
    # right to assign roles; a Client Application Developer may assign no role at all.
    readable = {
        plain: True,
        holders["Organization Admin"]: False,
        holders["Identity Data Admin"]: False,
        holders["Client Application Developer"]: actor_role == "Environment Admin",
    }
    for application_id, allowed in readable.items():
        response = await actor.client.get(
            f"{applications_path(environment_id, application_id)}/secret"
        )
        if allowed:
            assert response.status_code == 200, response.text
            assert_no_store(response)
            assert response.json()["secret"] == await read_secret(
                admin, environment_id, application_id
            )
        else:
            assert_error(response, 403, "ACCESS_FAILED", "INSUFFICIENT_PERMISSIONS")


async def test_an_application_cannot_read_its_own_secret(
    admin: httpx.AsyncClient, deployment: Deployment, make_actor: Any
) -> None:
    """Finding: a Worker application could read its own client secret through the API (PingOne
    never allows it). Now 403 ACCESS_FAILED / INSUFFICIENT_PERMISSIONS, for the bootstrap
    Organization Admin and for an Environment Admin of its own environment alike."""
    own = deployment.admin
    response = await admin.get(f"{applications_path(own.environment_id, own.client_id)}/secret")
    assert_error(response, 403, "ACCESS_FAILED", "INSUFFICIENT_PERMISSIONS")

    actor = await make_actor(("Environment Admin", "ENVIRONMENT", own.environment_id))
    response = await actor.client.get(
        f"{applications_path(actor.environment_id, actor.application_id)}/secret"
    )
    assert_error(response, 403, "ACCESS_FAILED", "INSUFFICIENT_PERMISSIONS")


async def test_read_only_says_which_assignments_the_caller_could_not_have_made(
    admin: httpx.AsyncClient,
    make_actor: Any,
    environment: Json,
    role_ids: dict[str, str],
    deployment: Deployment,
) -> None:
    """Finding: role assignments always said readOnly: false. Now readOnly is computed for the
    caller, in POST, GET and list responses alike: true exactly for the assignments it could
    not have made (so cannot remove)."""
    environment_id = environment["id"]
    actor = await make_actor(("Environment Admin", "ENVIRONMENT", environment_id))
    application_id = await new_worker(admin, environment_id)
    path = f"{applications_path(environment_id, application_id)}/roleAssignments"

    organization = await assign(
        admin,
        environment_id,
        application_id,
        role_ids["Organization Admin"],
        "ORGANIZATION",
        deployment.admin.organization_id,
    )
    identity = await assign(
        admin,
        environment_id,
        application_id,
        role_ids["Identity Data Admin"],
        "ENVIRONMENT",
        environment_id,
    )
    assert organization["readOnly"] is False and identity["readOnly"] is False
    developer = await assign(
        actor.client,
        environment_id,
        application_id,
        role_ids["Client Application Developer"],
        "ENVIRONMENT",
        environment_id,
    )
    assert developer["readOnly"] is False

    expected = {organization["id"]: True, identity["id"]: True, developer["id"]: False}
    for assignment_id, read_only in expected.items():
        as_actor = await actor.client.get(f"{path}/{assignment_id}")
        assert as_actor.status_code == 200, as_actor.text
        assert as_actor.json()["readOnly"] is read_only, as_actor.json()
        as_admin = await admin.get(f"{path}/{assignment_id}")
        assert as_admin.json()["readOnly"] is False, as_admin.json()

    listed = await actor.client.get(path)
    assert listed.status_code == 200, listed.text
    items = listed.json()["_embedded"]["roleAssignments"]
    assert {a["id"]: a["readOnly"] for a in items} == expected
    listed = await admin.get(path)
    items = listed.json()["_embedded"]["roleAssignments"]
    assert {a["id"]: a["readOnly"] for a in items} == dict.fromkeys(expected, False)

    # What readOnly announces holds: the actor cannot remove them.
    refused = await actor.client.delete(f"{path}/{organization['id']}")
    assert_error(refused, 403, "ACCESS_FAILED")


# -- 2. the organization keeps an administrator ------------------------------------------------


async def test_the_last_organization_admin_assignment_cannot_be_removed(
    empty_database: str,
) -> None:
    """Finding: removing the only Organization Admin role assignment left the organization
    with no administrator at all. Now 400 INVALID_DATA / CONSTRAINT_VIOLATION."""
    async with own_deployment(Config(database_url=empty_database)) as own:
        bootstrap = own.admin
        async with await own.admin_client() as admin:
            assignment_id = await organization_admin_assignment(
                admin, bootstrap.environment_id, bootstrap.client_id
            )
            path = applications_path(bootstrap.environment_id, bootstrap.client_id)
            response = await admin.delete(f"{path}/roleAssignments/{assignment_id}")
            assert_constraint_violation(response)
            kept = await admin.get(f"{path}/roleAssignments/{assignment_id}")
            assert kept.status_code == 200, kept.text


async def test_the_last_organization_admin_application_cannot_be_deleted(
    empty_database: str,
) -> None:
    """Finding: deleting the only application holding Organization Admin left the organization
    with no administrator. Now 400 INVALID_DATA / CONSTRAINT_VIOLATION."""
    async with own_deployment(Config(database_url=empty_database)) as own:
        bootstrap = own.admin
        async with await own.admin_client() as admin:
            path = applications_path(bootstrap.environment_id, bootstrap.client_id)
            response = await admin.delete(path)
            assert_constraint_violation(response)
            assert (await admin.get(path)).status_code == 200


async def test_the_administrators_environment_cannot_be_deleted(empty_database: str) -> None:
    """Finding: an Organization Admin of another environment could delete the Administrators
    environment (the bootstrap one), and the bootstrap application with it. Now 400
    INVALID_DATA / CONSTRAINT_VIOLATION, even while another Organization Admin exists."""
    async with own_deployment(Config(database_url=empty_database)) as own:
        bootstrap = own.admin
        async with await own.admin_client() as admin:
            elsewhere = await new_environment(admin, bootstrap)
            _, token = await organization_admin(admin, bootstrap, elsewhere)
            async with own.client(token) as other:
                response = await other.delete(f"/v1/environments/{bootstrap.environment_id}")
                assert_constraint_violation(response)
                kept = await other.get(f"/v1/environments/{bootstrap.environment_id}")
                assert kept.status_code == 200, kept.text


async def test_a_second_organization_admin_lets_the_first_one_go(empty_database: str) -> None:
    """Finding (the last administrator kept): the rule refuses only the removal of the last
    Organization Admin. With a second one, the first's assignment can be removed and its
    application deleted; the second then becomes the last and is kept."""
    async with own_deployment(Config(database_url=empty_database)) as own:
        bootstrap = own.admin
        async with await own.admin_client() as admin:
            elsewhere = await new_environment(admin, bootstrap)
            second_id, token = await organization_admin(admin, bootstrap, elsewhere)
            first_path = applications_path(bootstrap.environment_id, bootstrap.client_id)
            first_assignment = await organization_admin_assignment(
                admin, bootstrap.environment_id, bootstrap.client_id
            )
            removed = await admin.delete(f"{first_path}/roleAssignments/{first_assignment}")
            assert removed.status_code == 204, removed.text

        async with own.client(token) as second:
            second_path = applications_path(elsewhere, second_id)
            last = await organization_admin_assignment(second, elsewhere, second_id)
            refused = await second.delete(f"{second_path}/roleAssignments/{last}")
            assert_constraint_violation(refused)
            # The first application holds no Organization Admin any more: it may go.
            deleted = await second.delete(first_path)
            assert deleted.status_code == 204, deleted.text
            assert_constraint_violation(await second.delete(second_path))


def test_serve_credentials_and_admin_recover_after_the_bootstrap_application_is_gone(
    empty_database: str, tmp_path: Path
) -> None:
    """Finding: once the bootstrap application was deleted, `populace serve` refused to start.
    Now it starts and says the application no longer exists, naming `populace admin recover`;
    `populace credentials` says the same and exits 1; `populace admin recover` prints new
    credentials whose token administers the organization."""

    async def delete_the_bootstrap_application() -> tuple[str, str]:
        async with own_deployment(Config(database_url=empty_database)) as own:
            bootstrap = own.admin
            async with await own.admin_client() as admin:
                elsewhere = await new_environment(admin, bootstrap)
                _, token = await organization_admin(admin, bootstrap, elsewhere)
            async with own.client(token) as other:
                path = applications_path(bootstrap.environment_id, bootstrap.client_id)
                deleted = await other.delete(path)
                assert deleted.status_code == 204, deleted.text
            return bootstrap.environment_id, bootstrap.client_id

    administrators, deleted_client_id = run_in_thread(delete_the_bootstrap_application)

    server = ServerProcess(empty_database)
    try:
        server.start(tmp_path, timeout=DEADLINE_SECONDS)
        log = words(server.log())
        assert "no longer exists" in log, log
        assert "populace admin recover" in log, log
        assert "adminAppSecret" not in log, log

        credentials = run_cli("credentials", "--database", empty_database)
        output = words(credentials.stdout + credentials.stderr)
        assert credentials.returncode == 1, output
        assert "no longer exists" in output and "populace admin recover" in output, output

        recovered = run_cli("admin", "recover", "--database", empty_database)
        assert recovered.returncode == 0, recovered.stdout + recovered.stderr
        shown = printed(recovered.stdout)
        assert {"adminEnvID", "adminAppID", "adminAppSecret"} <= shown.keys(), recovered.stdout
        assert shown["adminEnvID"] == administrators, recovered.stdout
        assert shown["adminAppID"] != deleted_client_id, recovered.stdout

        token = httpx.post(
            f"{server.url}/{shown['adminEnvID']}/as/token",
            data=GRANT,
            auth=(shown["adminAppID"], shown["adminAppSecret"]),
            timeout=DEADLINE_SECONDS,
        )
        assert token.status_code == 200, token.text
        listed = httpx.get(
            f"{server.url}/v1/environments",
            headers=bearer(token.json()["access_token"]),
            timeout=DEADLINE_SECONDS,
        )
        assert listed.status_code == 200, listed.text
        assert administrators in {e["id"] for e in listed.json()["_embedded"]["environments"]}
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()


# -- 4. SQLite: costly lists off the event loop, within a step budget ------------------------

CROWD = 30_000


@dataclass
class Crowd:
    """A SQLite file holding one environment of CROWD users (made once for the module)."""

    database_url: str
    environment_id: str
    population_id: str
    user_id: str


@pytest_asyncio.fixture(scope="module")
async def crowd(tmp_path_factory: pytest.TempPathFactory) -> Crowd:
    directory = tmp_path_factory.mktemp("crowd")
    database_url = str(directory / "crowd.db")
    lines = directory / "users.jsonl"
    with lines.open("w", encoding="utf-8") as handle:
        for i in range(CROWD):
            user = {
                "username": f"user{i:06d}",
                "email": f"user{i:06d}@example.com",
                "name": {"given": f"Given{i % 997}", "family": f"Family{i % 991}"},
            }
            handle.write(json.dumps(user) + "\n")
    config = Config(database_url=database_url)
    async with own_deployment(config) as own, await own.admin_client() as admin:
        environment_id = await new_environment(admin, own.admin)
        report = await import_users(own.services.db, environment_id, lines)
        assert (report.imported, report.rejected) == (CROWD, [])
        found = await admin.get(
            f"/v1/environments/{environment_id}/users",
            params={"filter": 'username eq "user000123"'},
        )
        (user,) = found.json()["_embedded"]["users"]
    return Crowd(database_url, environment_id, user["population"]["id"], user["id"])


async def test_a_list_past_the_sqlite_read_budget_is_refused(crowd: Crowd) -> None:
    """Finding: on SQLite, a list filtered on an unindexed attribute scanned every user with
    no bound. Now each list statement has a step budget (Config.sqlite_read_budget): past it
    the list is 400 INVALID_REQUEST saying the budget was exceeded, while a filter on an
    indexed attribute still answers."""
    config = Config(database_url=crowd.database_url, sqlite_read_budget=20_000)
    async with own_deployment(config) as own, await own.admin_client() as admin:
        path = f"/v1/environments/{crowd.environment_id}/users"
        # Every user is enabled: the filter matches none of them, so it reads them all.
        for costly in (
            "enabled eq false",
            " or ".join(f'name.given eq "nobody{i}"' for i in range(20)),
        ):
            response = await admin.get(path, params={"filter": costly})
            body = assert_error(response, 400, "INVALID_REQUEST")
            assert "20,000" in body["message"] and "steps" in body["message"], body

        cheap = await admin.get(path, params={"filter": f'id eq "{crowd.user_id}"'})
        assert cheap.status_code == 200, cheap.text
        assert [u["id"] for u in cheap.json()["_embedded"]["users"]] == [crowd.user_id]
        # The budget is per statement, not a lasting state: the next costly list is refused
        # again and the server keeps answering.
        again = await admin.get(path, params={"filter": "enabled eq false"})
        assert_error(again, 400, "INVALID_REQUEST")


async def test_a_costly_list_does_not_hold_cheap_requests(crowd: Crowd) -> None:
    """Finding: on SQLite, a costly list ran on the event loop and every other request of the
    process waited for it. Now lists run in a worker thread: cheap requests issued while it
    runs are answered before it is."""
    config = Config(database_url=crowd.database_url)
    async with own_deployment(config) as own, await own.admin_client() as admin:
        users_path = f"/v1/environments/{crowd.environment_id}/users"
        population_path = (
            f"/v1/environments/{crowd.environment_id}/populations/{crowd.population_id}"
        )
        # Matches nobody, so every user is read, each against 150 terms.
        costly = " or ".join(
            f'name.given eq "n{i}"' if i % 2 else f'name.family sw "f{i}"' for i in range(150)
        )
        finished = asyncio.Event()

        async def expensive() -> httpx.Response:
            try:
                return await admin.get(users_path, params={"filter": costly})
            finally:
                finished.set()

        async def cheap() -> int:
            answered_first = 0
            while not finished.is_set():
                response = await admin.get(population_path)
                assert response.status_code == 200, response.text
                if not finished.is_set():
                    answered_first += 1
                # Leave the interpreter to the worker thread now and then.
                await asyncio.sleep(0.005)
            return answered_first

        response, answered_first = await asyncio.gather(expensive(), cheap())
        assert response.status_code == 200, response.text
        assert response.json()["_embedded"]["users"] == []
        assert answered_first >= 3, answered_first


async def test_a_cheap_list_needs_no_worker_thread(crowd: Crowd, monkeypatch) -> None:
    """A filtered list is run inline first, within a few milliseconds' worth of steps: an
    index-driven one (most lists) ends there, with no thread hop, pool checkout or GIL
    hand-over (on the bench it tripled the memberOfGroups list's throughput); one that goes
    past it is run again in a worker thread and still answers."""
    config = Config(database_url=crowd.database_url)
    async with own_deployment(config) as own, await own.admin_client() as admin:
        path = f"/v1/environments/{crowd.environment_id}/users"
        assert (await admin.get(path, params={"limit": "1"})).status_code == 200  # token
        handed_over = record_calls(monkeypatch, asyncio, "to_thread")
        cheap = await admin.get(path, params={"filter": f'id eq "{crowd.user_id}"'})
        assert cheap.status_code == 200, cheap.text
        assert handed_over == []
        costly = await admin.get(path, params={"filter": "enabled eq false"})
        assert costly.status_code == 200, costly.text
        assert costly.json()["_embedded"]["users"] == []
        assert len(handed_over) == 1


# -- 5. the token endpoint ---------------------------------------------------------------------


class _FrozenClock:
    """Stands in for the time module in populace.http.limits: one moment, mid-minute, so a
    test's requests all fall in one window whenever the test runs."""

    def __init__(self) -> None:
        self.now = time.time() // 60 * 60 + 30.0

    def time(self) -> float:
        return self.now


async def test_failed_client_authentications_throttle_the_address(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding: the token endpoint allowed unlimited guessing of client secrets. Now, past
    token_failure_limit failed client authentications a minute from one address, every token
    request from it (even with the right secret) is 429 REQUEST_LIMITED with Retry-After;
    other addresses are unaffected."""
    monkeypatch.setattr(limits, "time", _FrozenClock())
    config = Config(database_url=empty_database, token_failure_limit=5)
    async with own_deployment(config) as own:
        bootstrap = own.admin
        assert bootstrap.client_secret is not None
        path = f"/{bootstrap.environment_id}/as/token"
        async with own.client(address="10.0.0.1") as guesser:
            for _ in range(5):
                wrong = await guesser.post(path, data=GRANT, auth=(bootstrap.client_id, "guess"))
                assert wrong.status_code == 401, wrong.text
                assert wrong.json()["error"] == "invalid_client"
            limited = await guesser.post(
                path, data=GRANT, auth=(bootstrap.client_id, bootstrap.client_secret)
            )
            assert_error(limited, 429, "REQUEST_LIMITED", "LIMIT_EXCEEDED")
            assert int(limited.headers["Retry-After"]) >= 1, limited.headers
        async with own.client(address="10.0.0.2") as neighbour:
            granted = await neighbour.post(
                path, data=GRANT, auth=(bootstrap.client_id, bootstrap.client_secret)
            )
            assert granted.status_code == 200, granted.text
            assert_no_store(granted)


async def test_unknown_client_ids_neither_spend_allowances_nor_leave_rows(
    empty_database: str,
) -> None:
    """Finding: the per-client rate limit counted token requests before authenticating them,
    so anyone naming a client id spent that client's allowance, and every unknown client id
    left a row in rate_windows. Now only authenticated clients are counted."""
    config = Config(database_url=empty_database, rate_limit=2, token_failure_limit=0)
    async with own_deployment(config) as own:
        bootstrap = own.admin
        assert bootstrap.client_secret is not None
        path = f"/{bootstrap.environment_id}/as/token"
        strangers = [str(uuid.uuid4()) for _ in range(10)]
        async with own.client(address="10.0.0.9") as stranger:
            for client_id in strangers:
                refused = await stranger.post(path, data=GRANT, auth=(client_id, "guess"))
                assert refused.status_code == 401, refused.text
            for _ in range(10):
                refused = await stranger.post(path, data=GRANT, auth=(bootstrap.client_id, "x"))
                assert refused.status_code == 401, refused.text
        async with own.client() as owner:
            granted = await owner.post(
                path, data=GRANT, auth=(bootstrap.client_id, bootstrap.client_secret)
            )
            assert granted.status_code == 200, granted.text
        async with own.services.db.read() as conn:
            counted = await conn.scalar(
                select(func.count())
                .select_from(rate_windows)
                .where(rate_windows.c.client_id.in_(strangers))
            )
        assert counted == 0


async def test_unknown_and_known_client_ids_do_the_same_secret_work(
    client: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    environment: Json,
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding: an unknown client id was refused without any secret comparison, so the token
    endpoint's timing told which client ids exist. Now one constant-time comparison is done
    whether the client is known (wrong secret) or not."""
    environment_id = environment["id"]
    application_id = await new_worker(admin, environment_id)
    secret = await read_secret(admin, environment_id, application_id)
    compared = record_calls(monkeypatch, deployment.services.box, "_compare")
    path = f"/{environment_id}/as/token"
    cases = {
        "known client, wrong secret": (application_id, "wrong-secret", 401),
        "unknown client": (str(uuid.uuid4()), "wrong-secret", 401),
        "unknown client, not a UUID": ("nobody", "wrong-secret", 401),
        "known client, right secret": (application_id, secret, 200),
    }
    for case, (client_id, presented, status) in cases.items():
        compared.clear()
        response = await client.post(path, data=GRANT, auth=(client_id, presented))
        assert response.status_code == status, (case, response.text)
        assert [candidate for _, candidate in compared] == [presented], case


# -- 6. input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "collection",
    [
        "/v1/environments/{envID}/populations",
        "/v1/environments/{envID}/users",
        "/v1/environments/{envID}/applications",
        "/v1/environments",
        "/v1/roles",
    ],
)
async def test_a_limit_of_thousands_of_digits_is_clamped(
    admin: httpx.AsyncClient, environment: Json, collection: str
) -> None:
    """Finding: a `limit` of thousands of digits must never reach int(), which is slow and,
    past Python's 4,300-digit bound, raises (a 500). It is reduced to the list's maximum."""
    path = collection.format(envID=environment["id"])
    response = await admin.get(path, params={"limit": "9" * 5000})
    assert response.status_code == 200, response.text
    assert response.json()["size"] <= 5000


@pytest.mark.parametrize(
    "language",
    [
        "en-abcdefgh-abcdefgh-abcdefgh-abcdef",  # 36 characters, well formed otherwise
        "en\n",
    ],
)
async def test_preferred_language_is_a_bounded_whole_tag(
    admin: httpx.AsyncClient, environment: Json, language: str
) -> None:
    """Finding: preferredLanguage was matched with ^...$ (a trailing newline passed) and had no
    length bound (over the column's 35 characters: a 500 on PostgreSQL). Now both are 400
    INVALID_DATA / INVALID_VALUE target preferredLanguage; 35 characters are accepted."""
    path = f"/v1/environments/{environment['id']}/populations"
    response = await admin.post(path, json={"name": unique("lang"), "preferredLanguage": language})
    assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "preferredLanguage")
    longest = "en-abcdefgh-abcdefgh-abcdefgh-abcde"
    assert len(longest) == 35
    accepted = await admin.post(path, json={"name": unique("lang"), "preferredLanguage": longest})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["preferredLanguage"] == longest


@pytest.mark.parametrize(
    ("first", "lookalike"),
    [
        ("Paypal", "\uff30\uff41\uff59\uff50\uff41\uff4c"),  # fullwidth
        ("Paypal", "Pay\u200bpal"),  # zero-width space
        ("Paypal", "Pay\u00adpal"),  # soft hyphen
        ("Paypal", "\u202ePaypal"),  # right-to-left override
        ("Caf\u00e9", "Cafe\u0301"),  # composed, then decomposed
    ],
    ids=["fullwidth", "zero-width-space", "soft-hyphen", "rtl-override", "decomposed"],
)
async def test_lookalike_population_names_are_duplicates(
    admin: httpx.AsyncClient, environment: Json, first: str, lookalike: str
) -> None:
    """Finding: names were compared casefolded only, so names that look the same (fullwidth
    forms, invisible format characters, decomposed accents) were distinct. Now they are the
    same name: 400 INVALID_DATA / UNIQUENESS_VIOLATION target name."""
    path = f"/v1/environments/{environment['id']}/populations"
    created = await admin.post(path, json={"name": first})
    assert created.status_code == 201, created.text
    duplicate = await admin.post(path, json={"name": lookalike})
    assert_error(duplicate, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", "name")


async def test_a_fullwidth_filter_finds_the_plain_name(
    admin: httpx.AsyncClient, environment: Json
) -> None:
    """Finding (normalized name keys): filters compared casefolded text only. Now `name eq`
    compares keys as uniqueness does: the fullwidth spelling finds "Paypal"."""
    path = f"/v1/environments/{environment['id']}/populations"
    created = await admin.post(path, json={"name": "Paypal"})
    assert created.status_code == 201, created.text
    for spelling in ("\uff30\uff41\uff59\uff50\uff41\uff4c", "pay\u200bpal"):
        listed = await admin.get(path, params={"filter": f'name eq "{spelling}"'})
        assert listed.status_code == 200, listed.text
        found = [p["id"] for p in listed.json()["_embedded"]["populations"]]
        assert found == [created.json()["id"]], (spelling, listed.json())


async def test_usernames_are_trimmed_and_compared_by_key(
    admin: httpx.AsyncClient, environment: Json
) -> None:
    """Finding: usernames were stored untrimmed and compared casefolded only, so "alice " was
    another user beside "alice". Now the username is trimmed and compared by the normalized
    key: 400 INVALID_DATA / UNIQUENESS_VIOLATION target username."""
    path = f"/v1/environments/{environment['id']}/users"
    name = unique("alice")
    created = await admin.post(path, json={"username": name, "email": "a@example.com"})
    assert created.status_code == 201, created.text
    for spelling in (f"{name} ", f" {name.upper()}"):
        duplicate = await admin.post(path, json={"username": spelling, "email": "a@example.com"})
        assert_error(duplicate, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", "username")

    other = unique("bob")
    padded = await admin.post(path, json={"username": f"  {other}  ", "email": "b@example.com"})
    assert padded.status_code == 201, padded.text
    assert padded.json()["username"] == other
    read = await admin.get(f"{path}/{padded.json()['id']}")
    assert read.json()["username"] == other


async def test_a_username_with_an_unassigned_code_point_is_refused(
    admin: httpx.AsyncClient, environment: Json
) -> None:
    """Finding: usernames took any character but controls. Now they follow PingOne's pattern
    (letters, marks, numbers, punctuation, symbols, spaces): an unassigned code point (U+20FD)
    is 400 INVALID_DATA / INVALID_VALUE target username."""
    path = f"/v1/environments/{environment['id']}/users"
    response = await admin.post(
        path, json={"username": f"user\u20fd{uuid.uuid4().hex[:6]}", "email": "u@example.com"}
    )
    assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "username")


async def imported_usernames(
    admin: httpx.AsyncClient, environment_id: str, usernames: list[str]
) -> list[str]:
    present = []
    for username in usernames:
        listed = await admin.get(
            f"/v1/environments/{environment_id}/users",
            params={"filter": f'username eq "{username}"'},
        )
        assert listed.status_code == 200, listed.text
        present += [u["username"] for u in listed.json()["_embedded"]["users"]]
    return present


async def test_csv_import_rejects_a_line_with_a_huge_field_and_keeps_the_rest(
    admin: httpx.AsyncClient, environment: Json, deployment: Deployment, tmp_path: Path
) -> None:
    """Finding: a CSV field over the csv module's 128 KiB limit raised out of the importer and
    ended the whole import. Now that line alone is rejected, with its line number, and every
    other row is imported."""
    environment_id = environment["id"]
    names = [unique("csv") for _ in range(5)]
    rows = [f"{name},{name}@example.com,Given" for name in names]
    rows[2] = f"{names[2]},{names[2]}@example.com,{'g' * (200 * 1024)}"
    path = tmp_path / "users.csv"
    path.write_text("username,email,name.given\n" + "".join(f"{r}\n" for r in rows), "utf-8")

    report = await import_users(deployment.services.db, environment_id, path)
    assert report.imported == 4, report
    assert [r.line for r in report.rejected] == [4], report  # the header is line 1
    kept = [n for i, n in enumerate(names) if i != 2]
    assert await imported_usernames(admin, environment_id, names) == kept


async def test_json_lines_import_rejects_a_line_over_a_mebibyte_and_keeps_the_rest(
    admin: httpx.AsyncClient, environment: Json, deployment: Deployment, tmp_path: Path
) -> None:
    """Finding: the JSON-lines importer read each line whole, however long, into memory. Now a
    line over 1 MiB is rejected unread (even one that is a valid user padded out), reported
    with its line number, and every other line is imported."""
    environment_id = environment["id"]
    names = [unique("jsonl") for _ in range(5)]
    lines = [json.dumps({"username": n, "email": f"{n}@example.com"}) for n in names]
    lines[2] += " " * (1024 * 1024 + 1)
    path = tmp_path / "users.jsonl"
    path.write_text("".join(f"{line}\n" for line in lines), "utf-8")

    report = await import_users(deployment.services.db, environment_id, path)
    assert report.imported == 4, report
    assert [r.line for r in report.rejected] == [3], report
    kept = [n for i, n in enumerate(names) if i != 2]
    assert await imported_usernames(admin, environment_id, names) == kept


# -- 7. hygiene ------------------------------------------------------------------------------


async def test_database_errors_do_not_carry_sql_parameters(deployment: Deployment) -> None:
    """Finding: database errors included the statement's parameters (user data, encrypted
    secrets), and errors are logged. Now the engines hide them."""
    canary = f"canary-{uuid.uuid4().hex}"
    with pytest.raises(DBAPIError) as caught:
        async with deployment.services.db.write() as conn:
            await conn.execute(insert(settings).values(key="admin_application", value=canary))
    assert canary not in str(caught.value)
    assert canary not in repr(caught.value)


def _response(raw: bytes) -> tuple[int, Json]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def _read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response (its head and Content-Length bytes of body), waiting up to the
    deadline; fails if the server sends nothing in that time."""
    sock.settimeout(DEADLINE_SECONDS)
    received = b""
    while True:
        head, sep, body = received.partition(b"\r\n\r\n")
        if sep:
            match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if match and len(body) >= int(match.group(1)):
                return received
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"no whole response within {DEADLINE_SECONDS}s: {received!r}")
        if not chunk:
            return received
        received += chunk


def _closed(sock: socket.socket) -> bool:
    """Does the server close the connection (within the deadline)?"""
    sock.settimeout(DEADLINE_SECONDS)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_slow_clients_get_408(empty_database: str, tmp_path: Path) -> None:
    """Finding: a client could hold a connection open indefinitely by sending its request
    slowly. Now a head not complete within the read timeout is answered 408 in PingOne's
    envelope and the connection closed; a body not complete within it is 408 too."""
    server = ServerProcess(empty_database, env={"POPULACE_READ_TIMEOUT_SECONDS": "1"})
    try:
        server.start(tmp_path, timeout=DEADLINE_SECONDS)
        with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE_SECONDS) as s:
            s.sendall(b"GET /v1/environments HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: ")
            status, body = _response(_read_response(s))
            assert status == 408, body
            assert body["code"] == "INVALID_REQUEST" and isinstance(body["id"], str), body
            assert _closed(s)

        with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE_SECONDS) as s:
            s.sendall(
                f"POST /{uuid.uuid4()}/as/token HTTP/1.1\r\n"
                "Host: 127.0.0.1\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                "Content-Length: 100\r\n\r\n"
                "grant_type".encode()
            )
            status, body = _response(_read_response(s))
            assert status == 408, body
            assert body["code"] == "INVALID_REQUEST" and isinstance(body["id"], str), body
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()


PUBLIC_URL = "https://id.example.com"


async def test_a_public_url_pins_links_issuer_and_tokens(empty_database: str) -> None:
    """Finding: links, the discovery document and tokens were built from the Host header the
    client sent, so a forged Host put an attacker's origin in them. With a public URL
    configured, they use it whatever Host is sent."""
    config = Config(database_url=empty_database, public_url=PUBLIC_URL)
    async with own_deployment(config) as own:
        bootstrap = own.admin
        assert bootstrap.client_secret is not None
        environment_id = bootstrap.environment_id
        async with own.client(Host="evil.example:8443") as forged:
            issued = await forged.post(
                f"/{environment_id}/as/token",
                data=GRANT,
                auth=(bootstrap.client_id, bootstrap.client_secret),
            )
            assert issued.status_code == 200, issued.text
            token = issued.json()["access_token"]
            claims = jwt.decode(token, options={"verify_signature": False})
            assert claims["iss"] == f"{PUBLIC_URL}/{environment_id}/as", claims

            discovery = await forged.get(f"/{environment_id}/as/.well-known/openid-configuration")
            assert discovery.status_code == 200, discovery.text
            assert discovery.json()["issuer"] == f"{PUBLIC_URL}/{environment_id}/as"
            assert discovery.json()["token_endpoint"].startswith(f"{PUBLIC_URL}/")
            assert discovery.json()["jwks_uri"].startswith(f"{PUBLIC_URL}/")

            forged.headers.update(bearer(token))
            read = await forged.get(f"/v1/environments/{environment_id}")
            assert read.status_code == 200, read.text
            expected = f"{PUBLIC_URL}/v1/environments/{environment_id}"
            assert read.json()["_links"]["self"]["href"] == expected
            for link in read.json()["_links"].values():
                assert link["href"].startswith(f"{PUBLIC_URL}/"), read.json()["_links"]

            created = await forged.post(
                f"/v1/environments/{environment_id}/populations", json={"name": unique("pop")}
            )
            assert created.status_code == 201, created.text
            assert created.headers["location"].startswith(f"{PUBLIC_URL}/"), created.headers
            assert created.json()["_links"]["self"]["href"].startswith(f"{PUBLIC_URL}/")


async def test_a_public_url_pins_list_links(empty_database: str) -> None:
    """Finding (public URL): a list's own links (`_links.self`, `next`, `prev`) must use the
    public URL as every other link does, whatever Host the client sends."""
    config = Config(database_url=empty_database, public_url=PUBLIC_URL)
    async with own_deployment(config) as own, await own.admin_client() as admin:
        environment_id = own.admin.environment_id
        for _ in range(2):
            created = await admin.post(
                f"/v1/environments/{environment_id}/populations", json={"name": unique("pop")}
            )
            assert created.status_code == 201, created.text
        listed = await admin.get(
            f"/v1/environments/{environment_id}/populations",
            params={"limit": "1"},
            headers={"Host": "evil.example:8443"},
        )
        assert listed.status_code == 200, listed.text
        links = listed.json()["_links"]
        assert "next" in links, links
        for rel, link in links.items():
            assert link["href"].startswith(f"{PUBLIC_URL}/"), (rel, links)


@pytest.mark.parametrize("host", ["evil.com/path", "a b", "evil.com:80@x", "evil.com\\x"])
async def test_a_malformed_host_header_is_refused(
    admin: httpx.AsyncClient, deployment: Deployment, host: str
) -> None:
    """Finding: without a public URL, any Host header went into links verbatim. Now a Host
    that is not host[:port] is 400 INVALID_REQUEST."""
    response = await admin.get(
        f"/v1/environments/{deployment.admin.environment_id}", headers={"Host": host}
    )
    assert_error(response, 400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": "99999999999"},
        {"iat": "NOW"},
        {"nbf": "NOW.5"},
        {"exp": "LATER.0"},
        {"iat": True},
    ],
    ids=["exp-string", "iat-string", "nbf-float-string", "exp-float-string", "iat-boolean"],
)
async def test_token_times_of_the_wrong_type_are_401(
    client: httpx.AsyncClient, deployment: Deployment, claims: dict[str, Any]
) -> None:
    """Finding: PyJWT took times written as strings as numbers ("exp": "99999999999" made a
    token that never expires) and other types reached comparisons (a 500). Now exp, iat and
    nbf must be whole numbers: anything else is 401."""
    now = int(time.time())
    creds = deployment.admin
    payload: dict[str, Any] = {
        "client_id": creds.client_id,
        "iss": f"{BASE_URL}/{creds.environment_id}/as",
        "aud": [BASE_URL],
        "scope": "",
        "iat": now,
        "exp": now + 600,
        "env": creds.environment_id,
        "org": creds.organization_id,
    }
    for name, value in claims.items():
        if isinstance(value, str):
            value = value.replace("NOW", str(now - 10)).replace("LATER", str(now + 600))
        payload[name] = value
    key = deployment.services.keys.current
    token = jwt.encode(payload, key.private_key, algorithm="RS256", headers={"kid": key.kid})
    path = f"/v1/environments/{creds.environment_id}"
    response = await client.get(path, headers=bearer(token))
    assert_error(response, 401, "ACCESS_FAILED")
    # The same token with whole-number times is accepted: only the types are wrong.
    control = {**payload, "iat": now, "exp": now + 600}
    control.pop("nbf", None)
    fine = jwt.encode(control, key.private_key, algorithm="RS256", headers={"kid": key.kid})
    assert (await client.get(path, headers=bearer(fine))).status_code == 200


# -- 8. migration 0004 -----------------------------------------------------------------------


async def _migrate(db: Database, revision: str) -> None:
    # As `populace serve` and `populace migrate` do (on SQLite, with foreign keys off).
    await upgrade(db, revision)


async def test_migration_0004_rekeys_names_and_keeps_colliding_rows(empty_database: str) -> None:
    """Finding (normalized name keys): keys stored before 0004 are casefolded only. Migration
    0004 recomputes every key with names.text_key; where two rows would now share a unique
    key, the one that already holds it (or the earlier one) gets it and the other keeps its
    old key: no error, no row lost."""
    db = Database(empty_database)
    try:
        await _migrate(db, "0003")
        organization_id, license_id = str(uuid.uuid4()), str(uuid.uuid4())
        env = {name: str(uuid.uuid4()) for name in ("plain", "fullwidth", "shop")}
        pop = {name: str(uuid.uuid4()) for name in ("zw", "team", "w1", "w2", "other")}
        usr = {name: str(uuid.uuid4()) for name in ("alice", "wide", "bob")}

        def environment(key: str, name: str, at: int) -> Json:
            return {
                "id": env[key], "organization_id": organization_id, "name": name,
                "name_key": name.casefold(), "type": "SANDBOX", "region": "NA",
                "license_id": license_id, "created_at": at, "updated_at": at,
            }  # fmt: skip

        def population(key: str, environment_id: str, name: str, at: int) -> Json:
            return {
                "environment_id": environment_id, "id": pop[key], "name": name,
                "name_key": name.casefold(), "is_default": False, "user_count": 0,
                "created_at": at, "updated_at": at,
            }  # fmt: skip

        def user(key: str, username: str, email: str, given: str | None, at: int) -> Json:
            return {
                "environment_id": env["plain"], "id": usr[key], "population_id": pop["team"],
                "username": username, "username_key": username.casefold(),
                "email": email, "email_key": email.casefold(),
                "name_given": given, "name_given_key": given and given.casefold(),
                "name_family": None, "name_family_key": None,
                "enabled": True, "created_at": at, "updated_at": at,
            }  # fmt: skip

        fullwidth_paypal = "\uff30\uff41\uff59\uff50\uff41\uff4c"
        async with db.write() as conn:
            await insert_organization(conn, organization_id, license_id)
            await conn.execute(
                insert(environments),
                [
                    environment("plain", "Paypal", 1),
                    environment("fullwidth", fullwidth_paypal, 2),
                    environment("shop", "\uff33\uff48\uff4f\uff50", 3),
                ],
            )
            await conn.execute(
                insert(populations),
                [
                    # Earlier, but "team" is already TEAM's key: it keeps its own.
                    population("zw", env["plain"], "Team\u200b", 1),
                    population("team", env["plain"], "TEAM", 2),
                    # Both change to "team2": the earlier takes it, the later keeps its own.
                    population("w1", env["plain"], "\uff34\uff45\uff41\uff4d\uff12", 3),
                    population("w2", env["plain"], "Team2\u00ad", 4),
                    # Another environment: "team" is free there.
                    population("other", env["fullwidth"], "\uff34\uff45\uff41\uff4d", 5),
                ],
            )
            await conn.execute(
                insert(users),
                [
                    user("alice", "alice", "alice@example.com", None, 1),
                    user("wide", "\uff41\uff4c\uff49\uff43\uff45", "wide@example.com", None, 2),
                    user("bob", "Bob ", "\uff22\uff4f\uff42@Example.com", "\uff22\uff4f\uff42", 3),
                ],
            )

        async def snapshot() -> dict[str, Any]:
            async with db.read() as conn:
                return {
                    "environments": {
                        r.id: r.name_key
                        for r in await conn.execute(
                            select(environments.c.id, environments.c.name_key)
                        )
                    },
                    "populations": {
                        r.id: r.name_key
                        for r in await conn.execute(
                            select(populations.c.id, populations.c.name_key)
                        )
                    },
                    "users": {
                        r.id: (r.username_key, r.email_key, r.name_given_key)
                        for r in await conn.execute(
                            select(
                                users.c.id,
                                users.c.username_key,
                                users.c.email_key,
                                users.c.name_given_key,
                            )
                        )
                    },
                }

        before = await snapshot()
        await _migrate(db, "head")
        after = await snapshot()

        for table in ("environments", "populations", "users"):
            assert after[table].keys() == before[table].keys(), table
        assert after["environments"] == {
            env["plain"]: "paypal",
            env["fullwidth"]: fullwidth_paypal.casefold(),  # "paypal" was taken: kept
            env["shop"]: text_key("\uff33\uff48\uff4f\uff50"),
        }
        assert text_key("\uff33\uff48\uff4f\uff50") == "shop"
        assert after["populations"] == {
            pop["zw"]: "team\u200b",
            pop["team"]: "team",
            pop["w1"]: "team2",
            pop["w2"]: "team2\u00ad",
            pop["other"]: "team",
        }
        assert after["users"] == {
            usr["alice"]: ("alice", "alice@example.com", None),
            usr["wide"]: ("\uff41\uff4c\uff49\uff43\uff45", "wide@example.com", None),
            usr["bob"]: ("bob", "bob@example.com", "bob"),
        }
    finally:
        await db.dispose()
