"""Real ``populace`` processes: bootstrap, restart, two servers on one database, ``migrate``.

Every test here starts ``python -m populace ...`` as a user would, on a database of the
session's kind (``POPULACE_TEST_DATABASE_URL``: SQLite unless it names PostgreSQL), and talks
to it over HTTP on 127.0.0.1. Servers are stopped when the test ends, whatever happens.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection as SyncConnection
from sqlalchemy import func, inspect, select

from populace.cli import is_loopback
from populace.passwords.wire import CHECK, UNLOCK
from populace.storage.database import Database
from populace.storage.migrate import alembic_config
from populace.storage.schema import organizations
from tests.support import (
    START_SECONDS,
    ServerProcess,
    bearer,
    free_port,
    printed,
    unique,
    wait_until,
)

T = TypeVar("T")

# Every request gets a timeout: a wedged server fails the test instead of hanging it. Generous,
# so a loaded machine is not taken for a wedged server.
TIMEOUT = 60.0
# How long a server may take to finish after SIGTERM before it counts as ignoring the signal.
STOP_SECONDS = 60.0
CLI_SECONDS = 120.0

_POPULACE_VARIABLES = (
    "POPULACE_ADMIN_ENVIRONMENT_ID",
    "POPULACE_ADMIN_CLIENT_ID",
    "POPULACE_ADMIN_CLIENT_SECRET",
    "POPULACE_DATABASE_URL",
    "POPULACE_PASSWORD_HASH_COST",
    "POPULACE_RATE_LIMIT",
    "POPULACE_REDIS_URL",
    "POPULACE_TOKEN_LIFETIME_SECONDS",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Child processes inherit os.environ: keep the caller's POPULACE_* settings out."""
    for name in _POPULACE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


# --- helpers -------------------------------------------------------------------------------

# What serve and credentials print: the variables of PingOne's Postman collection.
PRINTED_NAMES = {"apiPath", "authPath", "adminEnvID", "adminAppID", "adminAppSecret", "orgID"}


class Server(ServerProcess):
    """``ServerProcess`` with uvicorn's info log (so the log shows a graceful shutdown) and a
    log file per start (a restart on the same port keeps the first start's log)."""

    def start(self, log_dir: Path, timeout: float = START_SECONDS) -> Server:
        self.log_path = log_dir / f"serve-{self.port}-{uuid.uuid4().hex[:6]}.log"
        command = [
            sys.executable, "-m", "populace", "serve",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--database", self.database_url,
            "--workers", str(self.workers),
            "--log-level", "info",
            *self.arguments,
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
            )
        self.wait_ready(timeout)
        return self


ServerFactory = Callable[..., Server]


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start ``populace serve`` processes; every one is stopped when the test ends."""
    started: list[Server] = []

    def start(
        database_url: str,
        env: dict[str, str] | None = None,
        port: int | None = None,
        arguments: tuple[str, ...] = (),
    ) -> Server:
        server = Server(database_url, env=dict(env or {}), arguments=list(arguments))
        if port is not None:
            server.port = port
        started.append(server)  # before start(): a server that never got ready is stopped too
        return server.start(tmp_path)

    yield start
    for server in started:
        server.stop()


def stop_gracefully(server: Server, sig: int = signal.SIGTERM) -> int:
    """Send ``sig``; the server must shut down gracefully (still running after STOP_SECONDS, it
    counts as ignoring the signal). Its exit code."""
    assert server.process is not None and server.process.poll() is None
    server.process.send_signal(sig)
    try:
        code = server.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        pytest.fail(f"populace serve ignored {sig!r} for {STOP_SECONDS}s:\n{server.log()}")
    log = server.log()
    # uvicorn ends with the signal itself (after a complete shutdown) or exits 0.
    assert code in (0, -sig), f"exit code {code} after {sig!r}:\n{log}"
    assert "Application shutdown complete" in log, f"no graceful shutdown:\n{log}"
    assert "Traceback" not in log, log
    return code


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "populace", *arguments],
        capture_output=True,
        text=True,
        timeout=CLI_SECONDS,
    )


def on_database(database_url: str, fn: Callable[[SyncConnection], T]) -> T:
    """Run ``fn`` on a connection to the database, from a thread of its own (the test's thread
    may own pytest-asyncio's event loop)."""

    async def run() -> T:
        db = Database(database_url)
        try:
            async with db.read() as conn:
                return await conn.run_sync(fn)
        finally:
            await db.dispose()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result(timeout=CLI_SECONDS)


def count_organizations(database_url: str) -> int:
    return int(
        on_database(
            database_url,
            lambda c: c.execute(select(func.count()).select_from(organizations)).scalar_one(),
        )
    )


def fetch_token(base_url: str, environment_id: str, client_id: str, secret: str) -> str:
    """What ``curl -u id:secret -d grant_type=client_credentials .../{env}/as/token`` does."""
    response = httpx.post(
        f"{base_url}/{environment_id}/as/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer", body
    return str(body["access_token"])


def verify_token(base_url: str, environment_id: str, token: str) -> dict[str, Any]:
    """Verify ``token`` against the server's JWKS, as a resource server would."""
    jwks = httpx.get(f"{base_url}/{environment_id}/as/jwks", timeout=TIMEOUT)
    assert jwks.status_code == 200, jwks.text
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks.json())[kid]
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], options={"verify_aud": False}
    )
    return claims


class Api:
    """A bearer-token client for one server; every request has a timeout."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.headers = bearer(token)

    def request(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return httpx.request(
            method, self.base_url + path, json=json, headers=self.headers, timeout=TIMEOUT
        )

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post(self, path: str, json: Any) -> httpx.Response:
        return self.request("POST", path, json)

    def put(self, path: str, json: Any) -> httpx.Response:
        return self.request("PUT", path, json)

    def delete(self, path: str) -> httpx.Response:
        return self.request("DELETE", path)

    def organization_id(self) -> str:
        response = self.get("/v1/organizations")
        assert response.status_code == 200, response.text
        assert response.json()["count"] == 1, response.json()
        return str(response.json()["_embedded"]["organizations"][0]["id"])

    def license_id(self) -> str:
        response = self.get(f"/v1/organizations/{self.organization_id()}/licenses")
        assert response.status_code == 200, response.text
        return str(response.json()["_embedded"]["licenses"][0]["id"])

    def create_environment(self) -> dict[str, Any]:
        response = self.post(
            "/v1/environments",
            {
                "name": unique("env"),
                "type": "SANDBOX",
                "region": "NA",
                "license": {"id": self.license_id()},
            },
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def populations(self, environment_id: str) -> list[dict[str, Any]]:
        response = self.get(f"/v1/environments/{environment_id}/populations?limit=1000")
        assert response.status_code == 200, response.text
        body = response.json()
        items: list[dict[str, Any]] = body["_embedded"]["populations"]
        assert body["count"] == len(items), body
        assert "next" not in body["_links"], body
        return items


def concurrently(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run every call at once (one thread each, released together); their responses."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait(timeout=TIMEOUT)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result(timeout=2 * TIMEOUT) for future in futures]


def statuses(responses: list[httpx.Response]) -> list[int]:
    return sorted(r.status_code for r in responses)


def defaults(populations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in populations if p["default"] is True]


def error_detail(response: httpx.Response) -> tuple[int, str, list[str]]:
    body = response.json()
    return response.status_code, body.get("code"), [d["code"] for d in body.get("details", [])]


# --- 1. bootstrap with fixed credentials ----------------------------------------------------


@pytest.mark.slow
def test_bootstrap_with_fixed_credentials(empty_database: str, launch: ServerFactory) -> None:
    environment_id, client_id = str(uuid.uuid4()), str(uuid.uuid4())
    secret = f"ci-secret-{uuid.uuid4().hex}"
    server = launch(
        empty_database,
        env={
            "POPULACE_ADMIN_ENVIRONMENT_ID": environment_id,
            "POPULACE_ADMIN_CLIENT_ID": client_id,
            "POPULACE_ADMIN_CLIENT_SECRET": secret,
        },
    )

    # What the serve output offers for pasting into Postman.
    shown = printed(server.log())
    organization_id = shown.pop("orgID")
    assert shown == {
        "apiPath": server.url,
        "authPath": server.url,
        "adminEnvID": environment_id,
        "adminAppID": client_id,
        "adminAppSecret": secret,
    }, server.log()

    token = fetch_token(server.url, environment_id, client_id, secret)
    claims = verify_token(server.url, environment_id, token)
    assert claims["client_id"] == client_id
    assert claims["env"] == environment_id
    assert claims["org"] == organization_id
    assert claims["iss"] == f"{server.url}/{environment_id}/as"
    assert claims["exp"] - claims["iat"] == 3600
    assert {"aud", "scope", "org"} <= claims.keys()

    # The discovery document names the same JWKS.
    discovery = httpx.get(
        f"{server.url}/{environment_id}/as/.well-known/openid-configuration", timeout=TIMEOUT
    )
    assert discovery.status_code == 200, discovery.text
    assert discovery.json()["jwks_uri"] == f"{server.url}/{environment_id}/as/jwks"

    api = Api(server.url, token)
    assert api.organization_id() == claims["org"]
    administrators = api.get(f"/v1/environments/{environment_id}")
    assert administrators.status_code == 200, administrators.text
    assert administrators.json()["name"] == "Administrators"

    environment = api.create_environment()
    populations = api.populations(environment["id"])
    assert len(populations) == 1, populations
    assert populations[0]["name"] == "Default"
    assert populations[0]["default"] is True
    assert "Traceback" not in server.log(), server.log()


# --- 2. restart -------------------------------------------------------------------------------


@pytest.mark.slow
def test_restart_keeps_keys_and_bootstrap(empty_database: str, launch: ServerFactory) -> None:
    first = launch(empty_database)
    shown = printed(first.log())
    assert set(shown) == PRINTED_NAMES, first.log()
    environment_id, client_id, secret = (
        shown["adminEnvID"],
        shown["adminAppID"],
        shown["adminAppSecret"],
    )
    assert uuid.UUID(environment_id) and uuid.UUID(client_id)
    assert not secret.startswith("("), first.log()  # the first start shows the secret

    token = fetch_token(first.url, environment_id, client_id, secret)
    claims = verify_token(first.url, environment_id, token)
    api = Api(first.url, token)
    environment = api.create_environment()
    jwks_before = httpx.get(f"{first.url}/{environment_id}/as/jwks", timeout=TIMEOUT).json()

    stop_gracefully(first)

    # Same database, same port: a restart.
    second = launch(empty_database, port=first.port)
    log = second.log()
    shown_again = printed(log)
    assert shown_again["adminEnvID"] == environment_id, log
    assert shown_again["adminAppID"] == client_id, log
    assert secret not in log, "the secret is printed only on the bootstrapping start"
    assert "populace credentials" in shown_again["adminAppSecret"], log

    # The token issued before the restart still verifies and still works: keys persisted.
    jwks_after = httpx.get(f"{second.url}/{environment_id}/as/jwks", timeout=TIMEOUT).json()
    assert jwks_after == jwks_before
    assert verify_token(second.url, environment_id, token) == claims
    api = Api(second.url, token)
    assert api.organization_id() == claims["org"]
    kept = api.get(f"/v1/environments/{environment['id']}")
    assert kept.status_code == 200, kept.text
    # The old secret still gets tokens (the restart did not rotate it); as in PingOne, a
    # worker application cannot read its own secret through the API.
    fetch_token(second.url, environment_id, client_id, secret)
    own = api.get(f"/v1/environments/{environment_id}/applications/{client_id}/secret")
    assert own.status_code == 403, own.text

    # No second bootstrap: one organization in the database, one Administrators environment.
    assert count_organizations(empty_database) == 1
    listed = api.get("/v1/environments?limit=1000").json()["_embedded"]["environments"]
    assert [e["name"] for e in listed].count("Administrators") == 1, listed

    # `populace credentials` shows the secret again (while the server runs).
    credentials = run_cli("credentials", "--database", empty_database)
    assert credentials.returncode == 0, credentials.stdout + credentials.stderr
    again = printed(credentials.stdout)
    assert again["adminEnvID"] == environment_id, credentials.stdout
    assert again["adminAppID"] == client_id, credentials.stdout
    assert again["adminAppSecret"] == secret, credentials.stdout

    stop_gracefully(second)

    # With POPULACE_ADMIN_CLIENT_SECRET set, every start prints it.
    third = launch(empty_database, env={"POPULACE_ADMIN_CLIENT_SECRET": secret})
    assert printed(third.log())["adminAppSecret"] == secret, third.log()
    fetch_token(third.url, environment_id, client_id, secret)
    assert count_organizations(empty_database) == 1
    stop_gracefully(third, signal.SIGINT)


# --- 3. two processes on one database ---------------------------------------------------------


@pytest.fixture
def pair(empty_database: str, launch: ServerFactory) -> tuple[Api, Api, Server, Server]:
    """Two ``populace serve`` processes on one database, started one after the other; a client
    of each carrying the same token (issued by the first)."""
    a = launch(empty_database)
    b = launch(empty_database)
    shown = printed(a.log())
    token = fetch_token(a.url, shown["adminEnvID"], shown["adminAppID"], shown["adminAppSecret"])
    return Api(a.url, token), Api(b.url, token), a, b


@pytest.mark.slow
def test_two_processes_share_tokens_and_data(pair: tuple[Api, Api, Server, Server]) -> None:
    a, b, server_a, server_b = pair
    shown_a, shown_b = printed(server_a.log()), printed(server_b.log())
    assert (
        shown_a["adminEnvID"] == shown_b["adminEnvID"]
        and shown_a["adminAppID"] == shown_b["adminAppID"]
    )
    admin_environment = shown_a["adminEnvID"]

    # One key ring: both publish it, and a token of A verifies against B's JWKS and works on B.
    jwks_a = httpx.get(f"{a.base_url}/{admin_environment}/as/jwks", timeout=TIMEOUT).json()
    jwks_b = httpx.get(f"{b.base_url}/{admin_environment}/as/jwks", timeout=TIMEOUT).json()
    assert jwks_a == jwks_b
    token = a.headers["Authorization"].removeprefix("Bearer ")
    verify_token(b.base_url, admin_environment, token)
    assert b.organization_id() == a.organization_id()

    # What A writes, B reads at once.
    environment = a.create_environment()
    seen = b.get(f"/v1/environments/{environment['id']}")
    assert seen.status_code == 200, seen.text
    assert seen.json()["name"] == environment["name"]
    assert [(p["name"], p["default"]) for p in b.populations(environment["id"])] == [
        ("Default", True)
    ]

    # A token B issues works on A.
    token_b = fetch_token(
        b.base_url, admin_environment, shown_a["adminAppID"], shown_a["adminAppSecret"]
    )
    assert Api(a.base_url, token_b).get(f"/v1/environments/{environment['id']}").status_code == 200


@pytest.mark.slow
def test_concurrent_default_flips_across_processes(pair: tuple[Api, Api, Server, Server]) -> None:
    a, b, server_a, server_b = pair
    environment_id = a.create_environment()["id"]
    path = f"/v1/environments/{environment_id}/populations"

    # 40 creates with default: true, half on each process, all at once.
    names = [unique("flip") for _ in range(40)]
    responses = concurrently(
        [
            partial((a, b)[i % 2].post, path, {"name": name, "default": True})
            for i, name in enumerate(names)
        ]
    )
    assert statuses(responses) == [201] * 40, [r.text for r in responses if r.status_code != 201]
    for api in (a, b):
        populations = api.populations(environment_id)
        assert len(populations) == 41
        assert len(defaults(populations)) == 1, defaults(populations)
    winner = defaults(a.populations(environment_id))[0]
    assert winner["name"] in names

    # 20 PUTs that each make a different population the default, across both processes.
    created = [r.json() for r in responses[:20]]
    responses = concurrently(
        [
            partial((a, b)[i % 2].put, f"{path}/{p['id']}", {"name": p["name"], "default": True})
            for i, p in enumerate(created)
        ]
    )
    assert statuses(responses) == [200] * 20, [r.text for r in responses if r.status_code != 200]
    for api in (a, b):
        flipped = defaults(api.populations(environment_id))
        assert len(flipped) == 1, flipped
        assert flipped[0]["id"] in {p["id"] for p in created}
    assert "Traceback" not in server_a.log() + server_b.log(), server_a.log() + server_b.log()


@pytest.mark.slow
def test_concurrent_creates_of_one_name_across_processes(
    pair: tuple[Api, Api, Server, Server],
) -> None:
    a, b, server_a, server_b = pair
    environment_id = a.create_environment()["id"]
    path = f"/v1/environments/{environment_id}/populations"
    name = unique("same")

    responses = concurrently([partial((a, b)[i % 2].post, path, {"name": name}) for i in range(20)])
    created = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert len(created) == 1, [r.text for r in responses]
    for response in refused:
        assert error_detail(response) == (400, "INVALID_DATA", ["UNIQUENESS_VIOLATION"]), (
            response.text
        )
    for api in (a, b):
        names = [p["name"] for p in api.populations(environment_id)]
        assert names.count(name) == 1, names
        assert sorted(names) == sorted(["Default", name])
    assert "Traceback" not in server_a.log() + server_b.log(), server_a.log() + server_b.log()


@pytest.mark.slow
def test_concurrent_deletes_keep_the_last_population(
    pair: tuple[Api, Api, Server, Server],
) -> None:
    a, b, server_a, server_b = pair
    for _ in range(5):
        environment_id = a.create_environment()["id"]
        path = f"/v1/environments/{environment_id}/populations"
        [default] = a.populations(environment_id)
        other = a.post(path, {"name": unique("other")})
        assert other.status_code == 201, other.text
        # Neither population is the default any more: only the last-population rule is left.
        undefaulted = b.put(f"{path}/{default['id']}", {"name": default["name"], "default": False})
        assert undefaulted.status_code == 200, undefaulted.text
        assert defaults(a.populations(environment_id)) == []

        ids = [default["id"], other.json()["id"]]
        responses = concurrently(
            [
                partial(api.delete, f"{path}/{population_id}")
                for population_id in ids
                for api in (a, b)
            ]
        )
        deleted = [r for r in responses if r.status_code == 204]
        assert len(deleted) == 1, [(r.status_code, r.text) for r in responses]
        for response in responses:
            if response.status_code == 204:
                continue
            assert error_detail(response) in (
                (400, "INVALID_DATA", ["CONSTRAINT_VIOLATION"]),
                (404, "NOT_FOUND", []),
            ), response.text
        for api in (a, b):
            remaining = api.populations(environment_id)
            assert len(remaining) == 1, remaining
            assert remaining[0]["id"] in ids
    assert "Traceback" not in server_a.log() + server_b.log(), server_a.log() + server_b.log()


def password_operation(api: Api, path: str, media_type: str, body: Any = None) -> httpx.Response:
    content = b"" if body is None else httpx.Request("POST", "/", json=body).content
    return httpx.post(
        api.base_url + path,
        content=content,
        headers={**api.headers, "Content-Type": media_type},
        timeout=TIMEOUT,
    )


@pytest.mark.slow
def test_password_lockout_is_shared_across_processes(
    empty_database: str, launch: ServerFactory
) -> None:
    """Failed checks on either process count toward one lockout (the Standard policy's five);
    a lock set by one holds on the other, and an unlock on either lifts it for both."""
    cheap = {"POPULACE_PASSWORD_HASH_COST": "cheap"}
    server_a, server_b = launch(empty_database, cheap), launch(empty_database, cheap)
    shown = printed(server_a.log())
    token = fetch_token(
        server_a.url, shown["adminEnvID"], shown["adminAppID"], shown["adminAppSecret"]
    )
    a, b = Api(server_a.url, token), Api(server_b.url, token)
    environment_id = a.create_environment()["id"]
    name = unique("locked")
    user = a.post(
        f"/v1/environments/{environment_id}/users",
        {"username": name, "email": f"{name}@example.com", "password": {"value": "2FederateM0re!"}},
    )
    assert user.status_code == 201, user.text
    path = f"/v1/environments/{environment_id}/users/{user.json()['id']}/password"

    def check(api: Api, password: str) -> httpx.Response:
        return password_operation(api, path, CHECK, {"password": password})

    for attempt in range(5):  # alternately on each process
        wrong = check((a, b)[attempt % 2], f"Wrong-{attempt}!")
        assert error_detail(wrong) == (400, "INVALID_DATA", ["INVALID_VALUE"]), wrong.text
    for api in (a, b):
        assert api.get(path).json()["status"] == "PASSWORD_LOCKED_OUT"
        refused = check(api, "2FederateM0re!")
        assert error_detail(refused) == (400, "INVALID_DATA", ["PASSWORD_LOCKED_OUT"]), refused.text
    unlocked = password_operation(b, path, UNLOCK)
    assert unlocked.status_code == 200, unlocked.text
    assert check(a, "2FederateM0re!").status_code == 200

    # Twenty wrong guesses at once, half on each process: at most five are checked.
    responses = concurrently([partial(check, (a, b)[i % 2], f"Guess-{i}!") for i in range(20)])
    checked = [r for r in responses if error_detail(r)[2] == ["INVALID_VALUE"]]
    assert len(checked) <= 5, [r.text for r in responses]
    for response in responses:
        assert response.status_code == 429 or error_detail(response)[2] in (
            ["INVALID_VALUE"],
            ["PASSWORD_LOCKED_OUT"],
        ), response.text
    assert "Traceback" not in server_a.log() + server_b.log(), server_a.log() + server_b.log()


@pytest.mark.slow
def test_two_servers_started_at_once_bootstrap_once(
    empty_database: str, launch: ServerFactory
) -> None:
    """Two processes starting together on an empty database migrate and bootstrap it once."""
    with ThreadPoolExecutor(2) as pool:
        servers = list(pool.map(lambda _: launch(empty_database), range(2)))
    shown = [printed(server.log()) for server in servers]
    assert shown[0]["adminEnvID"] == shown[1]["adminEnvID"], [s.log() for s in servers]
    assert shown[0]["adminAppID"] == shown[1]["adminAppID"], [s.log() for s in servers]
    secrets = {s["adminAppSecret"] for s in shown if not s["adminAppSecret"].startswith("(")}
    assert len(secrets) == 1, [s.log() for s in servers]
    [secret] = secrets
    assert count_organizations(empty_database) == 1
    for server in servers:
        token = fetch_token(server.url, shown[0]["adminEnvID"], shown[0]["adminAppID"], secret)
        for other in servers:
            assert Api(other.url, token).organization_id()


# --- 4. migrate ---------------------------------------------------------------------------------


def _schema(sync: SyncConnection) -> tuple[set[str], str | None]:
    tables = set(inspect(sync).get_table_names())
    version = None
    if "alembic_version" in tables:
        version = sync.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    return tables, version


def test_migrate_creates_the_schema_and_is_idempotent(empty_database: str) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    tables_before, version_before = on_database(empty_database, _schema)
    assert tables_before == set() and version_before is None

    first = run_cli("migrate", "--database", empty_database)
    assert first.returncode == 0, first.stdout + first.stderr
    tables, version = on_database(empty_database, _schema)
    assert version == head
    assert {"organizations", "environments", "populations", "applications"} <= tables, tables
    # migrate builds the schema only; the bootstrap is serve's job.
    assert count_organizations(empty_database) == 0

    second = run_cli("migrate", "--database", empty_database)
    assert second.returncode == 0, second.stdout + second.stderr
    assert on_database(empty_database, _schema) == (tables, head)


def environment_ids(api: Api) -> set[str]:
    response = api.get("/v1/environments")
    assert response.status_code == 200, response.text
    return {e["id"] for e in response.json()["_embedded"]["environments"]}


@pytest.mark.slow
def test_a_snapshot_taken_on_one_process_is_restored_for_both(
    empty_database: str, launch: ServerFactory
) -> None:
    """A snapshot is the database's, not a process's: taken through one server, restored
    through the other, and both see the restored state at once; a reset likewise."""
    server_a, server_b = launch(empty_database), launch(empty_database)
    shown = printed(server_a.log())
    token = fetch_token(
        server_a.url, shown["adminEnvID"], shown["adminAppID"], shown["adminAppSecret"]
    )
    a, b = Api(server_a.url, token), Api(server_b.url, token)
    kept = a.create_environment()["id"]
    taken = a.post("/_populace/snapshots", {"name": "kept"})
    assert taken.status_code == 201, taken.text
    before = environment_ids(a)

    later = b.create_environment()["id"]
    assert b.delete(f"/v1/environments/{kept}").status_code == 204
    assert environment_ids(a) == before - {kept} | {later}

    restored = b.post("/_populace/snapshots/kept/restore", None)
    assert restored.status_code == 204, restored.text
    assert environment_ids(a) == environment_ids(b) == before
    users = a.get(f"/v1/environments/{kept}/populations")
    assert users.status_code == 200, users.text

    reset = a.post("/_populace/reset", None)
    assert reset.status_code == 204, reset.text
    assert environment_ids(b) == {shown["adminEnvID"]}
    listed = b.get("/_populace/snapshots").json()["_embedded"]["snapshots"]
    assert [s["name"] for s in listed] == ["kept"]  # a reset keeps the snapshots
    assert "Traceback" not in server_a.log() + server_b.log(), server_a.log() + server_b.log()


def test_serve_without_the_control_api_answers_404_under_it(
    empty_database: str, launch: ServerFactory
) -> None:
    """``--no-control`` (the default when listening beyond loopback): /_populace is unknown,
    but for its health checks."""
    server = launch(empty_database, arguments=("--no-control",))
    shown = printed(server.log())
    token = fetch_token(
        server.url, shown["adminEnvID"], shown["adminAppID"], shown["adminAppSecret"]
    )
    api = Api(server.url, token)
    assert api.get("/_populace/health").status_code == 200  # probes still answer
    for path in ("/_populace/export", "/_populace/snapshots"):
        response = api.get(path)
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "NOT_FOUND", response.text
    assert api.post("/_populace/reset", None).status_code == 404
    assert api.get("/v1/environments").status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.53", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("id.example.com", False),
    ],
)
def test_the_control_api_is_on_by_default_only_on_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def assert_failed_in_one_line(ran: subprocess.CompletedProcess[str], *words: str) -> None:
    """A start that cannot work: exit status not 0, nothing on stdout, one ``Error:`` line."""
    assert ran.returncode != 0, ran.stdout + ran.stderr
    assert ran.stdout == "", ran.stdout
    assert "Traceback" not in ran.stderr, ran.stderr
    errors = [line for line in ran.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, ran.stderr
    for word in words:
        assert word in errors[0], ran.stderr


@pytest.mark.parametrize(
    ("arguments", "variables", "words"),
    [
        (("--database", "postgresql://postgres@127.0.0.1:1/none"), {}, ("cannot reach",)),
        (("--database", "mysql://root@127.0.0.1/test"), {}, ("unsupported database URL",)),
        (("--port", "99999"), {}, ("--port", "99999")),
        (("--log-level", "loud"), {}, ("--log-level", "loud")),
        ((), {"POPULACE_RATE_LIMIT": "lots"}, ("POPULACE_RATE_LIMIT", "whole number")),
        ((), {"POPULACE_READ_TIMEOUT_SECONDS": "soon"}, ("POPULACE_READ_TIMEOUT_SECONDS",)),
    ],
)
def test_a_bad_start_is_one_line_and_a_failure(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    arguments: tuple[str, ...],
    variables: dict[str, str],
    words: tuple[str, ...],
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    database = ("--database", str(tmp_path / "populace.db"))
    ran = run_cli("serve", "--port", str(free_port()), *database, *arguments)
    assert_failed_in_one_line(ran, *words)


def test_a_busy_port_fails_before_anything_is_printed_or_made(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = run_cli("serve", "--port", str(port), "--database", str(tmp_path / "busy.db"))
    assert_failed_in_one_line(ran, f"127.0.0.1:{port}")
    assert not (tmp_path / "busy.db").exists()


def test_other_bootstrap_ids_on_an_existing_database_are_refused(
    empty_database: str, launch: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed POPULACE_ADMIN_* id is refused loudly, never ignored; the secret is applied
    (test_bootstrap_with_fixed_credentials)."""
    first = launch(empty_database)
    shown = printed(first.log())
    first.stop()
    other = str(uuid.uuid4())
    monkeypatch.setenv("POPULACE_ADMIN_CLIENT_ID", other)
    ran = run_cli("serve", "--port", str(free_port()), "--database", empty_database)
    assert_failed_in_one_line(ran, "POPULACE_ADMIN_CLIENT_ID", other, shown["adminAppID"])


def test_credentials_never_creates_a_database(tmp_path: Path, empty_database: str) -> None:
    """Run where there is no deployment, it says where it looked; it makes no file, and on
    PostgreSQL no tables."""
    missing = tmp_path / "elsewhere" / "populace.db"
    for database in (str(missing), f"sqlite:///{missing}", empty_database):
        ran = run_cli("credentials", "--database", database)
        assert ran.returncode == 1, ran.stdout + ran.stderr
        assert "no populace deployment in" in ran.stderr, ran.stderr
        assert "Traceback" not in ran.stderr, ran.stderr
    assert not missing.exists() and not missing.parent.exists()
    if "://" in empty_database:
        tables = on_database(empty_database, lambda sync: inspect(sync).get_table_names())
        assert tables == [], tables


def test_credentials_in_every_format(empty_database: str, launch: ServerFactory) -> None:
    """Postman's names of PingOne's guide, as text, shell assignments, JSON and a Postman
    environment file; each carries what works at the token endpoint."""
    server = launch(empty_database)
    shown = printed(server.log())
    assert set(shown) == PRINTED_NAMES

    def credentials(form: str) -> str:
        port = str(server.port)  # credentials cannot know where serve listens: it is told
        ran = run_cli("credentials", "--database", empty_database, "--port", port, "--format", form)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        return ran.stdout

    assert printed(credentials("text")) == shown
    assigned = dict(line.split("=", 1) for line in credentials("env").splitlines())
    assert {name: shlex.split(value)[0] for name, value in assigned.items()} == shown
    assert json.loads(credentials("json")) == shown
    environment = json.loads(credentials("postman"))
    assert environment["_postman_variable_scope"] == "environment"
    values = {v["key"]: v["value"] for v in environment["values"]}
    assert values == shown
    kinds = {v["key"]: v["type"] for v in environment["values"]}
    assert kinds["adminAppSecret"] == "secret"
    token = fetch_token(
        values["authPath"], values["adminEnvID"], values["adminAppID"], values["adminAppSecret"]
    )
    assert verify_token(server.url, values["adminEnvID"], token)["org"] == values["orgID"]


def test_access_log_lines_in_json_name_the_caller_and_nothing_secret(
    empty_database: str, launch: ServerFactory
) -> None:
    """One JSON line per request: method, path without its query, status, duration,
    the response's Correlation-Id, the client id once the caller proved it; no token, secret
    or query text anywhere in the log."""
    server = launch(empty_database, arguments=("--log-format", "json"))
    shown = printed(server.log())
    token = fetch_token(
        server.url, shown["adminEnvID"], shown["adminAppID"], shown["adminAppSecret"]
    )
    listed = Api(server.url, token).get('/v1/environments?filter=name eq "private-marker"')
    assert listed.status_code == 200, listed.text
    refused = httpx.get(f"{server.url}/v1/environments", timeout=TIMEOUT)
    assert refused.status_code == 401

    def access_lines() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("logger") == "populace.access"]

    wanted = [
        ("POST", f"/{shown['adminEnvID']}/as/token", 200),
        ("GET", "/v1/environments", 200),
        ("GET", "/v1/environments", 401),
    ]

    def by_request() -> dict[tuple[str, str, int], dict[str, Any]]:
        return {(line["method"], line["path"], line["status"]): line for line in access_lines()}

    # The lines are written as the responses finish: wait for each (the log has the
    # readiness probes' lines too).
    wait_until(lambda: all(key in by_request() for key in wanted), lambda: server.log())
    token_line, listed_line, refused_line = (by_request()[key] for key in wanted)
    assert token_line["client_id"] == listed_line["client_id"] == shown["adminAppID"]
    assert refused_line["client_id"] is None
    assert listed_line["correlation_id"] == listed.headers["correlation-id"]
    assert isinstance(listed_line["duration_ms"], float | int)
    # The first start's banner shows the secret (on stdout, in the same file): only there.
    log = [line for line in server.log().splitlines() if not line.startswith("  adminAppSecret")]
    for secret in (token, shown["adminAppSecret"], "private-marker"):
        assert not [line for line in log if secret in line], secret


def test_serve_applies_a_seed_file_once(
    empty_database: str, launch: ServerFactory, tmp_path: Path
) -> None:
    """``serve --seed`` makes what the file declares before serving; a second start with the
    same file finds it all there."""
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "environments:\n  - name: Seeded\n    populations:\n      - name: Staff\n"
        "    users:\n      - username: ada\n        email: ada@example.com\n"
        "        population: Staff\n"
    )
    first = launch(empty_database, arguments=("--seed", str(seed)))
    assert "3 created, 0 already there" in first.log(), first.log()
    shown = printed(first.log())
    first.stop()
    second = launch(empty_database, arguments=("--seed", str(seed)))
    assert "0 created, 3 already there" in second.log(), second.log()
    api = Api(second.url, fetch_token(second.url, *credentials_of(shown)))
    names = [e["name"] for e in api.get("/v1/environments").json()["_embedded"]["environments"]]
    assert names.count("Seeded") == 1, names


def test_a_bad_seed_file_fails_the_start_naming_its_line(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("environments:\n  - name: E\n    groups:\n      - description: no name\n")
    database = tmp_path / "populace.db"
    ran = run_cli(
        "serve", "--port", str(free_port()), "--database", str(database), "--seed", str(seed)
    )
    assert_failed_in_one_line(ran, str(seed), "line 4", "`name` is required")


def credentials_of(shown: dict[str, str]) -> tuple[str, str, str]:
    return shown["adminEnvID"], shown["adminAppID"], shown["adminAppSecret"]


def test_the_clock_and_fault_rules_reach_every_process(
    pair: tuple[Api, Api, Server, Server],
) -> None:
    """Set through one server, applied by the other (within its refresh), and cleared
    through the other for both; a counted rule's count is shared."""
    a, b, server_a, server_b = pair
    moved = a.post("/_populace/clock", {"advanceSeconds": 600})
    assert moved.status_code == 200, moved.text
    wait_until(
        lambda: b.get("/_populace/clock").json()["offsetSeconds"] == 600,
        "the second process never took the moved clock",
    )
    rule = a.post("/_populace/faults", {"path": "/v1/organizations", "status": 500, "count": 3})
    assert rule.status_code == 201, rule.text
    wait_until(
        lambda: b.get("/v1/organizations").status_code == 500,
        "the second process never applied the fault rule",
    )
    statuses = [api.get("/v1/organizations").status_code for api in (a, b, a, b)]
    # Three faults in all, across both processes (one was spent by the wait above).
    assert statuses.count(500) == 2 and statuses.count(200) == 2, statuses
    assert b.delete("/_populace/clock").status_code == 204
    wait_until(
        lambda: a.get("/_populace/clock").json()["offsetSeconds"] == 0,
        "the first process never went back to the real time",
    )
    assert "Traceback" not in server_a.log() + server_b.log(), server_a.log() + server_b.log()
