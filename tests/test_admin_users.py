"""Administrators who are users: a Worker application's user-based grant (authorization code)
yields a token that acts in the management API with the user's role assignments, direct and
through groups, never the application's; revoking the token, disabling the user or removing a
role takes effect on the next request."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import assert_error, bearer, unique
from tests.test_sign_on import (
    PASSWORD,
    RESET,
    Signer,
    check,
    code_for,
    exchange,
    new_user,
    start_flow,
    web_app,
)

Client = httpx.AsyncClient


async def _worker(admin: Client, environment_id: str) -> Any:
    """A Worker app set up for the code flow (as PingOne's CLI documents it)."""
    return await web_app(admin, environment_id, type="WORKER")


async def _token(client: Client, s: Signer) -> str:
    tokens = await exchange(client, s, await code_for(client, s))
    assert tokens.status_code == 200, tokens.text
    return str(tokens.json()["access_token"])


async def _assign(
    admin: Client, path: str, role_id: str, scope_type: str, scope_id: str
) -> dict[str, Any]:
    assigned = await admin.post(
        f"{path}/roleAssignments",
        json={"role": {"id": role_id}, "scope": {"type": scope_type, "id": scope_id}},
    )
    assert assigned.status_code == 201, assigned.text
    return dict(assigned.json())


async def _make_environment_admin(
    admin: Client, environment_id: str, role_ids: dict[str, str], holder: str
) -> None:
    """``holder`` (``users/{id}`` or ``groups/{id}``) gets Environment Admin of its environment."""
    path = f"/v1/environments/{environment_id}/{holder}"
    await _assign(admin, path, role_ids["Environment Admin"], "ENVIRONMENT", environment_id)


async def _join(admin: Client, environment_id: str, user_id: str, group_id: str) -> None:
    joined = await admin.post(
        f"/v1/environments/{environment_id}/users/{user_id}/memberOfGroups", json={"id": group_id}
    )
    assert joined.status_code == 201, joined.text


async def _environment_admin(
    admin: Client, environment_id: str, role_ids: dict[str, str], **fields: Any
) -> dict[str, Any]:
    """A new user holding Environment Admin of its own environment."""
    user = await new_user(admin, environment_id, **fields)
    await _make_environment_admin(admin, environment_id, role_ids, f"users/{user['id']}")
    return user


async def _population(admin: Client, environment_id: str, name: str) -> str:
    created = await admin.post(
        f"/v1/environments/{environment_id}/populations", json={"name": name}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_a_population_scoped_admin_user_sees_only_its_population(
    client, admin, environment, role_ids
) -> None:
    environment_id = environment["id"]
    env = f"/v1/environments/{environment_id}"
    mine, other = (
        await _population(admin, environment_id, "Mine"),
        await _population(admin, environment_id, "Other"),
    )
    officer = await new_user(admin, environment_id)
    inside = await new_user(admin, environment_id, population={"id": mine})
    outside = await new_user(admin, environment_id, population={"id": other})
    worker = await _worker(admin, environment_id)
    # The application's own roles count for nothing in a user's token.
    await _assign(
        admin,
        f"{env}/applications/{worker.id}",
        role_ids["Environment Admin"],
        "ENVIRONMENT",
        environment_id,
    )
    granted = await _assign(
        admin,
        f"{env}/users/{officer['id']}",
        role_ids["Identity Data Admin"],
        "POPULATION",
        mine,
    )
    as_officer = bearer(await _token(client, Signer(environment_id, officer, worker)))

    listed = await client.get(f"{env}/users", headers=as_officer)
    assert listed.status_code == 200, listed.text
    assert [u["id"] for u in listed.json()["_embedded"]["users"]] == [inside["id"]]
    assert (await client.get(f"{env}/users/{outside['id']}", headers=as_officer)).status_code in (
        403,
        404,
    )
    refused = await client.post(f"{env}/populations", json={"name": "No"}, headers=as_officer)
    assert_error(refused, 403, "ACCESS_FAILED")

    removed = await admin.delete(f"{env}/users/{officer['id']}/roleAssignments/{granted['id']}")
    assert removed.status_code == 204, removed.text
    after = await client.get(f"{env}/users/{inside['id']}", headers=as_officer)
    assert after.status_code in (403, 404)


async def test_roles_held_through_a_group_count_until_the_membership_ends(
    client, admin, environment, role_ids
) -> None:
    environment_id = environment["id"]
    env = f"/v1/environments/{environment_id}"
    user = await new_user(admin, environment_id)
    group = await admin.post(f"{env}/groups", json={"name": "Directory admins"})
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    await _make_environment_admin(admin, environment_id, role_ids, f"groups/{group_id}")
    await _join(admin, environment_id, user["id"], group_id)
    as_user = bearer(
        await _token(client, Signer(environment_id, user, await _worker(admin, environment_id)))
    )

    created = await client.post(f"{env}/populations", json={"name": "Made"}, headers=as_user)
    assert created.status_code == 201, created.text

    left = await admin.delete(f"{env}/users/{user['id']}/memberOfGroups/{group_id}")
    assert left.status_code == 204, left.text
    refused = await client.get(f"{env}/populations", headers=as_user)
    assert_error(refused, 403, "ACCESS_FAILED")


async def test_a_revoked_token_or_a_disabled_user_acts_no_more(
    client, admin, environment, role_ids
) -> None:
    environment_id = environment["id"]
    env = f"/v1/environments/{environment_id}"
    user = await _environment_admin(admin, environment_id, role_ids)
    s = Signer(environment_id, user, await _worker(admin, environment_id))
    revoked, kept = await _token(client, s), await _token(client, s)

    async def populations(token: str) -> httpx.Response:
        return await client.get(f"{env}/populations", headers=bearer(token))

    assert (await populations(revoked)).status_code == 200

    gone = await client.post(
        f"/{environment_id}/as/revoke", data={"token": revoked}, auth=(s.app.id, s.app.secret)
    )
    assert gone.status_code == 200, gone.text
    assert_error(await populations(revoked), 401, "ACCESS_FAILED", "INVALID_TOKEN")
    assert (await populations(kept)).status_code == 200

    disabled = await admin.put(f"{env}/users/{user['id']}/enabled", json={"enabled": False})
    assert disabled.status_code == 200, disabled.text
    assert_error(await populations(kept), 401, "ACCESS_FAILED", "INVALID_TOKEN")


async def test_an_environment_created_by_a_user_is_administered_by_that_user(
    client, admin, environment, role_ids, license_id
) -> None:
    environment_id = environment["id"]
    env = f"/v1/environments/{environment_id}"
    user = await new_user(admin, environment_id)
    organization = (await admin.get("/v1/organizations")).json()["_embedded"]["organizations"][0]
    await _assign(
        admin, f"{env}/users/{user['id']}", role_ids["Organization Admin"], "ORGANIZATION",
        organization["id"],
    )  # fmt: skip
    s = Signer(environment_id, user, await _worker(admin, environment_id))
    as_user = bearer(await _token(client, s))

    created = await client.post(
        "/v1/environments",
        json={
            "name": "Users own",
            "type": "SANDBOX",
            "region": "NA",
            "license": {"id": license_id},
        },
        headers=as_user,
    )
    assert created.status_code == 201, created.text
    made = created.json()["id"]
    try:
        held = (await admin.get(f"{env}/users/{user['id']}/roleAssignments")).json()
        scopes = {(a["role"]["id"], a["scope"]["id"]) for a in held["_embedded"]["roleAssignments"]}
        assert (role_ids["Environment Admin"], made) in scopes
        assert (role_ids["Identity Data Admin"], made) in scopes
        apps = (await admin.get(f"{env}/applications/{s.app.id}/roleAssignments")).json()
        assert apps["_embedded"]["roleAssignments"] == []
    finally:
        assert (await admin.delete(f"/v1/environments/{made}")).status_code == 204


SET = "application/vnd.pingidentity.password.set+json"


async def test_an_administrator_cannot_change_a_user_who_holds_more(
    client, admin, environment, role_ids, make_actor
) -> None:
    """Whoever sets a user's password can sign on as that user: a population's Identity Data
    Admin may not change (password, profile, enabled, population, delete) a user holding a
    role it could not grant, held directly or through a nested group. Nothing changes."""
    environment_id = environment["id"]
    env = f"/v1/environments/{environment_id}"
    population = await _population(admin, environment_id, "Staff")
    elsewhere = await _population(admin, environment_id, "Elsewhere")
    plain = await new_user(admin, environment_id, population={"id": population})
    direct = await _environment_admin(
        admin, environment_id, role_ids, population={"id": population}
    )
    nested = await new_user(admin, environment_id, population={"id": population})
    inner, outer = [
        (await admin.post(f"{env}/groups", json={"name": name})).json()["id"]
        for name in ("Inner", "Outer")
    ]
    nesting = await admin.post(f"{env}/groups/{inner}/memberOfGroups", json={"id": outer})
    assert nesting.status_code == 201, nesting.text
    await _make_environment_admin(admin, environment_id, role_ids, f"groups/{outer}")
    await _join(admin, environment_id, nested["id"], inner)
    officer = await make_actor(
        ("Identity Data Admin", "POPULATION", population),
        ("Identity Data Admin", "POPULATION", elsewhere),
    )
    password = {"value": "N3w-Passw0rd-For-Them!", "forceChange": False}

    async def attempts(c: Client, user_id: str) -> list[httpx.Response]:
        path = f"{env}/users/{user_id}"
        return [
            await c.put(f"{path}/password", json=password, headers={"Content-Type": SET}),
            await c.put(path, json={"username": unique("renamed"), "email": "x@example.com"}),
            await c.put(f"{path}/enabled", json={"enabled": False}),
            await c.put(f"{path}/population", json={"id": elsewhere}),
            await c.delete(path),
        ]

    for target in (direct, nested):
        before = (await admin.get(f"{env}/users/{target['id']}")).json()
        for refused in await attempts(officer.client, target["id"]):
            assert_error(refused, 403, "ACCESS_FAILED")
        assert (await admin.get(f"{env}/users/{target['id']}")).json() == before
        signs_on = Signer(environment_id, target, await _worker(admin, environment_id))
        assert await _token(client, signs_on)  # the old password still works
    for allowed in await attempts(officer.client, plain["id"]):
        assert allowed.status_code in (200, 204), allowed.text


async def test_a_user_holding_roles_still_changes_their_own_password(
    client, admin, environment, role_ids
) -> None:
    environment_id = environment["id"]
    env = f"/v1/environments/{environment_id}"
    user = await new_user(admin, environment_id, force_change=True)
    await _assign(
        admin, f"{env}/users/{user['id']}", role_ids["Organization Admin"], "ORGANIZATION",
        environment["organization"]["id"],
    )  # fmt: skip
    s = Signer(environment_id, user, await _worker(admin, environment_id))
    flow = await start_flow(client, s)
    checked = await check(client, s, flow["id"])
    assert checked.json()["status"] == "MUST_CHANGE_PASSWORD", checked.text
    changed = await client.post(
        f"/{environment_id}/flows/{flow['id']}",
        json={"currentPassword": PASSWORD, "newPassword": "An0ther-Passw0rd!"},
        headers={"Content-Type": RESET},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "COMPLETED"


class _Allowances:
    """A rate limiter that lets everything through and says whose allowance was spent."""

    def __init__(self) -> None:
        self.spent: list[str] = []

    async def check(self, key: str) -> None:
        self.spent.append(key)


async def test_a_user_spends_its_own_allowance_not_its_applications(
    client, admin, environment, deployment, monkeypatch
) -> None:
    """Any user of an application can call /v1 with its token (even a revoked one, refused
    after the limit is counted): it must not exhaust the application's own allowance, which
    its code exchanges and client-credentials tokens spend."""
    environment_id = environment["id"]
    user = await new_user(admin, environment_id)
    s = Signer(environment_id, user, await _worker(admin, environment_id))
    token = await _token(client, s)
    allowances = _Allowances()
    monkeypatch.setattr(deployment.services, "limiter", allowances)
    await client.get(f"/v1/environments/{environment_id}/populations", headers=bearer(token))
    await admin.get(f"/v1/environments/{environment_id}/populations")
    admin_client = deployment.admin.client_id
    assert allowances.spent[0] == f"{s.app.id}/{user['id']}"
    assert allowances.spent[1] == admin_client
