"""populace's control API (``/_populace``): health, reset and snapshots, each on a deployment
of its own (a reset or a restore replaces everything the session's deployment holds)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update

from populace.app import build_app, start
from populace.bootstrap import AdminCredentials
from populace.config import Config
from populace.control import rules, state
from populace.passwords.wire import CHECK
from populace.services import Services
from populace.storage.database import Database
from populace.storage.migrate import upgrade
from populace.storage.schema import snapshots, state_undo
from tests.conftest import BASE_URL
from tests.support import assert_error, bearer, fetch_token, unique
from tests.test_operations import application_body
from tests.test_passwords import new_user, operate

SNAPSHOTS = "/_populace/snapshots"
PASSWORD = "2FederateM0re!"


@dataclass
class Emulator:
    client: httpx.AsyncClient  # carries the bootstrap application's token
    admin: AdminCredentials
    services: Services
    app: Any

    def anonymous(self) -> httpx.AsyncClient:
        return _client(self.app)


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


async def _emulator(database_url: str, **settings: Any) -> AsyncIterator[Emulator]:
    config = Config(database_url=database_url, password_hash_cost="cheap", **settings)
    services, admin = await start(config)
    app = build_app(services)
    async with _client(app) as client:
        assert admin.client_secret is not None
        secret = admin.client_secret
        token = await fetch_token(client, admin.environment_id, admin.client_id, secret)
        client.headers.update(bearer(token))
        yield Emulator(client, admin, services, app)
    await services.db.dispose()


@pytest_asyncio.fixture
async def emulator(empty_database: str) -> AsyncIterator[Emulator]:
    async for made in _emulator(empty_database):
        yield made


async def created(response: Any) -> dict[str, Any]:
    answered = await response
    assert answered.status_code == 201, answered.text
    return dict(answered.json())


async def populate(client: httpx.AsyncClient) -> dict[str, str]:
    """An environment with a population, a user with a password in a group, and a policy."""
    license_id = (await client.get("/v1/organizations")).json()["_embedded"]["organizations"]
    organization_id = license_id[0]["id"]
    licenses = await client.get(f"/v1/organizations/{organization_id}/licenses")
    environment = await created(
        client.post(
            "/v1/environments",
            json={
                "name": unique("env"),
                "type": "SANDBOX",
                "region": "NA",
                "license": {"id": licenses.json()["_embedded"]["licenses"][0]["id"]},
            },
        )
    )
    base = f"/v1/environments/{environment['id']}"
    population = await created(client.post(f"{base}/populations", json={"name": "Kept"}))
    user_id = await new_user(
        client,
        environment["id"],
        population={"id": population["id"]},
        password={"value": PASSWORD},
    )
    group = await created(client.post(f"{base}/groups", json={"name": unique("group")}))
    await created(client.post(f"{base}/users/{user_id}/memberOfGroups", json={"id": group["id"]}))
    return {"environment": environment["id"], "user": user_id, "group": group["id"]}


async def set_password(client: httpx.AsyncClient, user: str, value: str) -> None:
    changed = await client.put(
        f"{user}/password",
        json={"value": value},
        headers={"Content-Type": "application/vnd.pingidentity.password.set+json"},
    )
    assert changed.status_code == 200, changed.text


async def observed(client: httpx.AsyncClient) -> dict[str, Any]:
    """Everything an administrator reads of the directory, as the API answers it."""
    seen: dict[str, Any] = {}
    environments = (await client.get("/v1/environments")).json()["_embedded"]["environments"]
    seen["environments"] = environments
    for environment in environments:
        base = f"/v1/environments/{environment['id']}"
        for kind in ("populations", "users", "groups", "applications", "passwordPolicies"):
            listed = await client.get(f"{base}/{kind}")
            assert listed.status_code == 200, listed.text
            seen[f"{base}/{kind}"] = listed.json()["_embedded"][kind]
        for user in seen[f"{base}/users"]:
            for part in ("memberOfGroups", "password"):
                path = f"{base}/users/{user['id']}/{part}"
                seen[path] = (await client.get(path)).json()
    return seen


async def test_health_and_ready_need_no_token(emulator: Emulator) -> None:
    async with emulator.anonymous() as anonymous:
        health = await anonymous.get("/_populace/health")
        ready = await anonymous.get("/_populace/ready")
        refused = await anonymous.get(SNAPSHOTS)
    assert (health.status_code, health.json()["status"]) == (200, "UP"), health.text
    assert (ready.status_code, ready.json()["status"]) == (200, "READY"), ready.text
    assert_error(refused, 401, "ACCESS_FAILED")


async def test_ready_is_503_when_the_database_cannot_be_reached(tmp_path: Any) -> None:
    started, _ = await start(Config(database_url=str(tmp_path / "populace.db")))
    await started.db.dispose()
    # The same process, its database gone away (nothing listens on port 1).
    services = dataclasses.replace(started, db=Database("postgresql://postgres@127.0.0.1:1/x"))
    try:
        async with _client(build_app(services)) as client:
            health = await client.get("/_populace/health")
            ready = await client.get("/_populace/ready")
    finally:
        await services.db.dispose()
    assert health.status_code == 200, health.text
    assert_error(ready, 503, "SERVICE_UNAVAILABLE")


async def test_reset_returns_to_the_bootstrap_state_with_the_same_credentials(
    emulator: Emulator,
) -> None:
    client, admin = emulator.client, emulator.admin
    bootstrapped = await observed(client)
    made = await populate(client)
    assert len(await observed(client)) > len(bootstrapped)

    reset = await client.post("/_populace/reset")
    assert reset.status_code == 204, reset.text

    after = await observed(client)  # the token taken before the reset still works
    assert [e["id"] for e in after["environments"]] == [admin.environment_id]
    assert made["environment"] not in str(after)
    base = f"/v1/environments/{admin.environment_id}"
    for kind in ("populations", "passwordPolicies", "applications"):
        names = sorted(item["name"] for item in after[f"{base}/{kind}"])
        assert names == sorted(item["name"] for item in bootstrapped[f"{base}/{kind}"]), kind
    assert [a["id"] for a in after[f"{base}/applications"]] == [admin.client_id]
    assert admin.client_secret is not None
    await fetch_token(client, admin.environment_id, admin.client_id, admin.client_secret)


async def test_restore_brings_back_exactly_the_state_taken(emulator: Emulator) -> None:
    client = emulator.client
    made = await populate(client)
    before = await observed(client)
    taken = await created(client.post(SNAPSHOTS, json={"name": "base"}))
    assert (taken["name"], taken["size"] > 0) == ("base", True), taken
    assert taken["_links"]["self"]["href"].endswith("/_populace/snapshots/base")

    base = f"/v1/environments/{made['environment']}"
    await populate(client)  # a second environment, made after the snapshot
    await set_password(client, f"{base}/users/{made['user']}", "An0ther-Secret!")
    gone = await client.delete(f"{base}/groups/{made['group']}")
    assert gone.status_code == 204, gone.text

    restored = await client.post(f"{SNAPSHOTS}/base/restore")
    assert restored.status_code == 204, restored.text
    assert await observed(client) == before
    checked = await operate(
        client, "POST", made["environment"], made["user"], CHECK, {"password": PASSWORD}
    )
    assert checked.status_code == 200, checked.text
    again = await client.post(f"{SNAPSHOTS}/base/restore")  # a snapshot restores many times
    assert again.status_code == 204, again.text
    assert await observed(client) == before


def _whole_restores_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """A restore that replaces every row fails the test: only the changed rows may go back."""

    def replace(*_: Any) -> None:
        raise AssertionError("the whole snapshot was restored")

    monkeypatch.setattr(state, "replace", replace)


async def exported_rows(client: httpx.AsyncClient) -> dict[str, Any]:
    """Every table's columns and rows, in an order of their own (a row put back may come
    out of a table in another place)."""
    tables = (await export(client))["tables"]
    return {
        name: (table["columns"], sorted(table["rows"], key=repr)) for name, table in tables.items()
    }


async def journaled(emulator: Emulator) -> int:
    """How many rows the undo journal holds (the rows changed since the base)."""
    async with emulator.services.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(state_undo)))


async def test_restoring_the_last_snapshot_puts_back_only_the_rows_that_changed(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows made, changed, deleted and deleted by a cascade since the snapshot all go back,
    every column as it was, without replacing the rest of the directory."""
    client = emulator.client
    made, other = await populate(client), await populate(client)
    await created(client.post(SNAPSHOTS, json={"name": "base"}))
    document = await exported_rows(client)
    assert await journaled(emulator) == 0

    base = f"/v1/environments/{made['environment']}"
    await populate(client)  # a third environment: every kind of row, made since
    renamed = await client.patch(f"{base}/users/{made['user']}", json={"nickname": "Renamed"})
    assert renamed.status_code == 200, renamed.text
    await set_password(client, f"{base}/users/{made['user']}", "An0ther-Secret!")
    gone = await client.delete(f"{base}/groups/{made['group']}")  # and its memberships
    assert gone.status_code == 204, gone.text
    deleted = await client.delete(f"/v1/environments/{other['environment']}")  # a cascade
    assert deleted.status_code == 204, deleted.text
    assert await journaled(emulator) > 0

    _whole_restores_forbidden(monkeypatch)
    restored = await client.post(f"{SNAPSHOTS}/base/restore")
    assert restored.status_code == 204, restored.text
    assert await exported_rows(client) == document
    assert await journaled(emulator) == 0
    checked = await operate(
        client, "POST", made["environment"], made["user"], CHECK, {"password": PASSWORD}
    )
    assert checked.status_code == 200, checked.text
    again = await client.post(f"{SNAPSHOTS}/base/restore")  # the check's changes go back too
    assert again.status_code == 204, again.text
    assert await exported_rows(client) == document


async def test_every_row_deleted_comes_back_column_for_column(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each directory table's triggers keep every column: the whole directory deleted row by
    row (the bootstrap application too) is put back exactly from the journal alone."""
    client = emulator.client
    await populate(client)
    await created(client.post(SNAPSHOTS, json={"name": "base"}))
    document = await exported_rows(client)
    async with emulator.services.db.write() as conn:
        await conn.run_sync(state.clear)
    _whole_restores_forbidden(monkeypatch)
    async with emulator.services.db.write() as conn:  # no token works now: below HTTP
        await rules.restore(conn, "base")
    assert await exported_rows(client) == document


async def test_the_journal_is_installed_again_after_migrations(empty_database: str) -> None:
    """A migration may rebuild a table (SQLite drops its triggers then): after migrating to
    the newest revision, changes are journaled again."""
    db = Database(empty_database)
    await upgrade(db, "0013")
    await upgrade(db)
    await db.dispose()
    async for emulator in _emulator(empty_database):
        await created(emulator.client.post(SNAPSHOTS, json={"name": "base"}))
        await populate(emulator.client)
        assert await journaled(emulator) > 0


async def test_rows_that_swapped_unique_names_are_restored_whole(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Putting rows back one at a time cannot undo a swap of unique names: the whole snapshot
    is restored instead, and the result is the same."""
    client = emulator.client
    replaced: list[bool] = []
    replace = state.replace
    monkeypatch.setattr(state, "replace", lambda *a: replaced.append(True) or replace(*a))
    populations = f"/v1/environments/{emulator.admin.environment_id}/populations"
    first = await created(client.post(populations, json={"name": "First"}))
    second = await created(client.post(populations, json={"name": "Second"}))
    await created(client.post(SNAPSHOTS, json={"name": "base"}))
    document = await exported_rows(client)
    for population, name in ((first, "Moving"), (second, "First"), (first, "Second")):
        moved = await client.put(f"{populations}/{population['id']}", json={"name": name})
        assert moved.status_code == 200, moved.text

    restored = await client.post(f"{SNAPSHOTS}/base/restore")
    assert restored.status_code == 204, restored.text
    assert replaced == [True]
    assert await exported_rows(client) == document
    assert await journaled(emulator) == 0


async def test_only_the_last_snapshot_is_journaled(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot taken later becomes the base; restoring an earlier one replaces everything
    and makes it the base; a reset, an import or deleting the base stops the journal."""
    client = emulator.client
    await created(client.post(SNAPSHOTS, json={"name": "early"}))
    early = await exported_rows(client)
    await populate(client)
    await created(client.post(SNAPSHOTS, json={"name": "late"}))
    await populate(client)
    assert await journaled(emulator) > 0

    restored = await client.post(f"{SNAPSHOTS}/early/restore")  # not the base: whole
    assert restored.status_code == 204, restored.text
    assert await exported_rows(client) == early
    await populate(client)
    with monkeypatch.context() as patched:
        _whole_restores_forbidden(patched)
        restored = await client.post(f"{SNAPSHOTS}/early/restore")  # the base now
        assert restored.status_code == 204, restored.text
    assert await exported_rows(client) == early

    assert (await client.delete(f"{SNAPSHOTS}/early")).status_code == 204
    await populate(client)
    assert await journaled(emulator) == 0
    await created(client.post(SNAPSHOTS, json={"name": "again"}))
    reset = await client.post("/_populace/reset")
    assert reset.status_code == 204, reset.text
    await populate(client)
    assert await journaled(emulator) == 0


async def test_snapshots_are_listed_read_and_deleted_by_name(emulator: Emulator) -> None:
    client = emulator.client
    for name in ("first", "second.v2", "third_3"):
        await created(client.post(SNAPSHOTS, json={"name": name}))
    listed = (await client.get(SNAPSHOTS, params={"limit": 2})).json()
    assert [s["name"] for s in listed["_embedded"]["snapshots"]] == ["first", "second.v2"]
    following = (await client.get(listed["_links"]["next"]["href"])).json()
    assert [s["name"] for s in following["_embedded"]["snapshots"]] == ["third_3"]
    read = await client.get(f"{SNAPSHOTS}/second.v2")
    assert read.status_code == 200 and read.json()["name"] == "second.v2", read.text

    deleted = await client.delete(f"{SNAPSHOTS}/first")
    assert deleted.status_code == 204, deleted.text
    assert_error(await client.get(f"{SNAPSHOTS}/first"), 404, "NOT_FOUND")
    assert_error(await client.post(f"{SNAPSHOTS}/first/restore"), 404, "NOT_FOUND")
    assert_error(await client.delete(f"{SNAPSHOTS}/first"), 404, "NOT_FOUND")


@pytest.mark.parametrize("name", ["", "-leading", "with space", "a/b", "x" * 129, "ünï"])
async def test_a_bad_snapshot_name_is_refused(emulator: Emulator, name: str) -> None:
    refused = await emulator.client.post(SNAPSHOTS, json={"name": name})
    assert_error(refused, 400, "INVALID_DATA", "INVALID_VALUE", "name")
    assert (await emulator.client.get(SNAPSHOTS)).json()["count"] == 0


async def test_a_snapshot_name_in_use_is_refused_and_keeps_the_first(emulator: Emulator) -> None:
    client = emulator.client
    first = await created(client.post(SNAPSHOTS, json={"name": "base"}))
    await populate(client)
    refused = await client.post(SNAPSHOTS, json={"name": "base"})
    assert_error(refused, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", "name")
    assert (await client.get(f"{SNAPSHOTS}/base")).json() == first


async def test_a_snapshot_of_another_schema_revision_is_not_restored(emulator: Emulator) -> None:
    client = emulator.client
    await created(client.post(SNAPSHOTS, json={"name": "old"}))
    async with emulator.services.db.write() as conn:
        await conn.execute(update(snapshots).values(revision="0001"))
    before = await observed(client)
    refused = await client.post(f"{SNAPSHOTS}/old/restore")
    assert_error(refused, 400, "INVALID_REQUEST")
    assert "0001" in refused.json()["message"]
    assert await observed(client) == before


async def test_only_an_organization_admin_controls_the_emulator(emulator: Emulator) -> None:
    """An Environment Admin of the Administrators environment itself is refused every call
    but the health checks, and nothing changes."""
    client, admin = emulator.client, emulator.admin
    await created(client.post(SNAPSHOTS, json={"name": "kept"}))
    roles = (await client.get("/v1/roles")).json()["_embedded"]["roles"]
    role_id = next(r["id"] for r in roles if r["name"] == "Environment Admin")
    applications = f"/v1/environments/{admin.environment_id}/applications"
    worker = await created(client.post(applications, json=application_body()))
    app_path = f"/v1/environments/{admin.environment_id}/applications/{worker['id']}"
    await created(
        client.post(
            f"{app_path}/roleAssignments",
            json={
                "role": {"id": role_id},
                "scope": {"type": "ENVIRONMENT", "id": admin.environment_id},
            },
        )
    )
    secret = (await client.get(f"{app_path}/secret")).json()["secret"]
    before = await observed(client)
    async with emulator.anonymous() as other:
        token = await fetch_token(other, admin.environment_id, worker["id"], secret)
        other.headers.update(bearer(token))
        for method, path, body in [
            ("POST", "/_populace/reset", None),
            ("GET", SNAPSHOTS, None),
            ("POST", SNAPSHOTS, {"name": "mine"}),
            ("GET", f"{SNAPSHOTS}/kept", None),
            ("POST", f"{SNAPSHOTS}/kept/restore", None),
            ("DELETE", f"{SNAPSHOTS}/kept", None),
            ("GET", "/_populace/export", None),
            ("POST", "/_populace/import", {"revision": "x", "tables": {}}),
            ("POST", "/_populace/seed", {"environments": [{"name": "Mine"}]}),
            ("GET", "/_populace/clock", None),
            ("POST", "/_populace/clock", {"advanceSeconds": 60}),
            ("DELETE", "/_populace/clock", None),
            ("GET", "/_populace/faults", None),
            ("POST", "/_populace/faults", {"path": "/v1/*", "status": 500}),
            ("DELETE", "/_populace/faults", None),
            ("PUT", "/_populace/ids", {"seed": 1}),
            ("DELETE", "/_populace/ids", None),
        ]:
            refused = await other.request(method, path, json=body)
            assert_error(refused, 403, "ACCESS_FAILED")
    assert await observed(client) == before
    assert [s["name"] for s in (await client.get(SNAPSHOTS)).json()["_embedded"]["snapshots"]] == [
        "kept"
    ]


async def test_the_control_api_can_be_turned_off(empty_database: str) -> None:
    """Off, every path under /_populace is unknown (404) but the health checks; /v1 is
    served."""
    async for off in _emulator(empty_database, control_api=False):
        assert (await off.client.get("/_populace/health")).status_code == 200
        assert (await off.client.get("/_populace/ready")).status_code == 200
        for method, path in [
            ("POST", "/_populace/reset"),
            ("GET", "/_populace/export"),
            ("GET", SNAPSHOTS),
            ("GET", f"/_populace/environments/{off.admin.environment_id}/messages"),
        ]:
            assert_error(await off.client.request(method, path), 404, "NOT_FOUND")
        assert (await off.client.get("/v1/environments")).status_code == 200


async def export(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    exported = await client.get("/_populace/export", params=params)
    assert exported.status_code == 200, exported.text
    assert exported.headers["cache-control"] == "no-store"
    return dict(exported.json())


async def test_export_then_import_brings_back_exactly_the_state(emulator: Emulator) -> None:
    client = emulator.client
    made = await populate(client)
    before = await observed(client)
    document = await export(client)
    assert document["revision"] and document["populace"]
    assert {"environments", "users", "user_passwords"} <= document["tables"].keys()
    assert PASSWORD not in str(document)  # hashes only

    await populate(client)
    deleted = await client.delete(f"/v1/environments/{made['environment']}")
    assert deleted.status_code == 204, deleted.text
    imported = await client.post("/_populace/import", json=document)
    assert imported.status_code == 204, imported.text
    assert await observed(client) == before
    assert await export(client) | {"exportedAt": ""} == document | {"exportedAt": ""}


async def test_an_export_without_secrets_imports_keeping_the_secrets_here(
    emulator: Emulator,
) -> None:
    client, admin = emulator.client, emulator.admin
    document = await export(client, secrets="omit")
    applications = document["tables"]["applications"]
    position = applications["columns"].index("client_secret")
    assert {row[position] for row in applications["rows"]} == {None}
    imported = await client.post("/_populace/import", json=document)
    assert imported.status_code == 204, imported.text
    assert admin.client_secret is not None
    await fetch_token(client, admin.environment_id, admin.client_id, admin.client_secret)


def _broken(document: dict[str, Any], how: str) -> dict[str, Any]:
    tables = document["tables"]
    if how == "revision":
        return {**document, "revision": "0001"}
    if how == "table":
        return {**document, "tables": {**tables, "mailboxes": {"columns": [], "rows": []}}}
    if how == "foreign-secret":  # sealed with another deployment's key
        applications = tables["applications"]
        position = applications["columns"].index("client_secret")
        other = Fernet(Fernet.generate_key()).encrypt(b"elsewhere").decode()
        rows = [[*row[:position], other, *row[position + 1 :]] for row in applications["rows"]]
        return {**document, "tables": {**tables, "applications": {**applications, "rows": rows}}}
    if how == "type":  # SQLite would store it, and every later read would fail
        environments = tables["environments"]
        position = environments["columns"].index("created_at")
        rows = [
            [*row[:position], "yesterday", *row[position + 1 :]] for row in environments["rows"]
        ]
        return {**document, "tables": {**tables, "environments": {**environments, "rows": rows}}}
    if how == "empty":  # would leave no organization and no administrator
        return {**document, "tables": {}}
    if how == "missing":
        return {**document, "tables": {k: v for k, v in tables.items() if k != "users"}}
    if how == "organization":
        organizations = tables["organizations"]
        rows = [[str(uuid.uuid4()), *row[1:]] for row in organizations["rows"]]
        return {**document, "tables": {**tables, "organizations": {**organizations, "rows": rows}}}
    users = tables["users"]
    if how == "columns":
        return {**document, "tables": {**tables, "users": {**users, "columns": ["id"]}}}
    if how == "width":
        rows = [row[:-1] for row in users["rows"]]
        return {**document, "tables": {**tables, "users": {**users, "rows": rows}}}
    # a user whose population is not in the document
    populations = tables["populations"]
    return {**document, "tables": {**tables, "populations": {**populations, "rows": []}}}


@pytest.mark.parametrize(
    "how",
    [
        "revision",
        "table",
        "empty",
        "missing",
        "organization",
        "columns",
        "width",
        "dangling",
        "foreign-secret",
        "type",
    ],
)
async def test_a_document_that_does_not_fit_is_refused_and_changes_nothing(
    emulator: Emulator, how: str
) -> None:
    client = emulator.client
    await populate(client)
    before = await observed(client)
    refused = await client.post("/_populace/import", json=_broken(await export(client), how))
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] in ("INVALID_DATA", "INVALID_REQUEST"), refused.text
    assert await observed(client) == before


SEED = """\
environments:
  - name: Seeded
    description: From a seed file
    populations:
      - name: Staff
      - name: Contractors
    groups:
      - name: Admins
        population: Staff
      - name: Everyone
    users:
      - username: ada
        email: ada@example.com
        population: Staff
        password: 2FederateM0re!
        groups: [Admins, Everyone]
        name: {given: Ada, family: Lovelace}
      - username: bob
        email: bob@example.com
        population: Contractors
    applications:
      - name: ci-worker
        roleAssignments:
          - role: Identity Data Admin
            scope: environment
          - role: Identity Data Read Only
            scope: {population: Staff}
"""


async def seeded(client: httpx.AsyncClient, text: str) -> httpx.Response:
    return await client.post(
        "/_populace/seed", content=text.encode(), headers={"Content-Type": "application/yaml"}
    )


async def test_a_seed_file_makes_what_it_declares_and_a_second_apply_changes_nothing(
    emulator: Emulator,
) -> None:
    client = emulator.client
    first = await seeded(client, SEED)
    assert first.status_code == 200, first.text
    # 1 environment, 2 populations, 2 groups, 2 users, 2 memberships, 1 app, 2 assignments
    assert first.json() == {"created": 12, "unchanged": 0}
    after = await observed(client)
    environment = next(e for e in after["environments"] if e["name"] == "Seeded")
    assert environment["description"] == "From a seed file"
    base = f"/v1/environments/{environment['id']}"
    users = {u["username"]: u for u in after[f"{base}/users"]}
    pops = {p["id"]: p["name"] for p in after[f"{base}/populations"]}
    assert pops[users["ada"]["population"]["id"]] == "Staff"
    assert users["ada"]["name"]["family"] == "Lovelace"
    groups = {g["id"]: g["name"] for g in after[f"{base}/groups"]}
    memberships = after[f"{base}/users/{users['ada']['id']}/memberOfGroups"]
    assert sorted(groups[m["id"]] for m in memberships["_embedded"]["groupMemberships"]) == [
        "Admins",
        "Everyone",
    ]
    checked = await operate(
        client, "POST", environment["id"], users["ada"]["id"], CHECK, {"password": PASSWORD}
    )
    assert checked.status_code == 200, checked.text
    (app,) = [a for a in after[f"{base}/applications"] if a["name"] == "ci-worker"]
    assigned = await client.get(f"{base}/applications/{app['id']}/roleAssignments")
    scopes = sorted(a["scope"]["type"] for a in assigned.json()["_embedded"]["roleAssignments"])
    assert scopes == ["ENVIRONMENT", "POPULATION"]

    second = await seeded(client, SEED)
    assert second.status_code == 200, second.text
    assert second.json() == {"created": 0, "unchanged": 10}
    assert await observed(client) == after


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("environments:\n  - name: E\n    users:\n      - username: x\n"
         "        population: Nowhere\n", 4, "population 'Nowhere'"),
        ("environments:\n  - name: E\n    users:\n\n      - username: x\n"
         "        email: not an address\n", 5, "email"),
        ("environments:\n  - name: [unclosed\n", 3, "not YAML"),
        ("environments:\n  - name: E\n    applications:\n      - name: w\n"
         "        roleAssignments:\n          - role: Emperor\n", 6, "no role 'Emperor'"),
        ("users: []\n", 0, "list of `environments`"),
    ],
)  # fmt: skip
async def test_a_seed_error_names_its_line(
    emulator: Emulator, text: str, line: int, words: str
) -> None:
    refused = await seeded(emulator.client, text)
    body = assert_error(refused, 400, "INVALID_DATA", "INVALID_VALUE", "seed")
    message = body["details"][0]["message"]
    assert words in message, message
    if line:
        assert message.startswith(f"line {line}:"), message
