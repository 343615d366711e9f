"""Who may do what: roles, their scopes, and the rules for granting them."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.support import assert_error, unique


def populations(environment_id: str) -> str:
    return f"/v1/environments/{environment_id}/populations"


def assignments(environment_id: str, application_id: str) -> str:
    return f"/v1/environments/{environment_id}/applications/{application_id}/roleAssignments"


def assignment_body(role_id: str, scope_type: str, scope_id: str) -> dict[str, Any]:
    return {"role": {"id": role_id}, "scope": {"type": scope_type, "id": scope_id}}


def assert_forbidden(response: httpx.Response) -> None:
    assert_error(response, 403, "ACCESS_FAILED", "INSUFFICIENT_PERMISSIONS")


async def default_population(admin: httpx.AsyncClient, environment_id: str) -> dict[str, Any]:
    listed = (await admin.get(populations(environment_id))).json()["_embedded"]["populations"]
    return dict(next(p for p in listed if p["default"]))


async def new_application(client: httpx.AsyncClient, environment_id: str) -> str:
    response = await client.post(
        f"/v1/environments/{environment_id}/applications",
        json={
            "name": unique("app"),
            "enabled": True,
            "type": "WORKER",
            "protocol": "OPENID_CONNECT",
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_environment_admin_is_confined_to_its_environment(make_environment, make_actor):
    mine, other = await make_environment(), await make_environment()
    actor = await make_actor(("Environment Admin", "ENVIRONMENT", mine["id"]))
    assert (await actor.client.get(populations(mine["id"]))).status_code == 200
    assert (await actor.client.get(f"/v1/environments/{mine['id']}")).status_code == 200

    assert_forbidden(await actor.client.get(populations(other["id"])))
    assert_forbidden(await actor.client.post(populations(other["id"]), json={"name": unique("p")}))
    assert_forbidden(await actor.client.get(f"/v1/environments/{other['id']}"))
    listed = (await actor.client.get("/v1/environments")).json()["_embedded"]["environments"]
    assert [e["id"] for e in listed] == [mine["id"]]


async def test_actor_without_roles_is_refused_everywhere(environment, make_actor, license_id):
    actor = await make_actor()
    environment_id = environment["id"]
    for path in (
        f"/v1/environments/{environment_id}",
        populations(environment_id),
        f"/v1/environments/{environment_id}/applications",
        f"/v1/environments/{environment_id}/passwordPolicies",
        f"/v1/environments/{actor.environment_id}",
        f"/v1/environments/{actor.environment_id}/applications/{actor.application_id}",
    ):
        assert_forbidden(await actor.client.get(path))
    assert_forbidden(await actor.client.post(populations(environment_id), json={"name": "x"}))
    created = await actor.client.post(
        "/v1/environments",
        json={
            "name": unique("env"),
            "type": "SANDBOX",
            "region": "NA",
            "license": {"id": license_id},
        },
    )
    assert_forbidden(created)
    listed = await actor.client.get("/v1/environments")
    assert listed.status_code == 200 and listed.json()["_embedded"]["environments"] == []


async def test_unknown_environment_is_404_only_for_organization_wide_actors(
    admin, environment, make_actor
):
    unknown = str(uuid.uuid4())
    scoped = await make_actor(("Environment Admin", "ENVIRONMENT", environment["id"]))
    for path in (f"/v1/environments/{unknown}", populations(unknown)):
        assert_error(await admin.get(path), 404, "NOT_FOUND")
        assert_forbidden(await scoped.client.get(path))


async def test_identity_data_admin_reads_populations_but_cannot_change_them(
    admin, environment, make_actor
):
    environment_id = environment["id"]
    default = await default_population(admin, environment_id)
    actor = await make_actor(("Identity Data Admin", "ENVIRONMENT", environment_id))
    one = f"{populations(environment_id)}/{default['id']}"

    assert (await actor.client.get(populations(environment_id))).status_code == 200
    read = await actor.client.get(one)
    assert read.status_code == 200 and read.json()["id"] == default["id"]

    assert_forbidden(await actor.client.post(populations(environment_id), json={"name": "New"}))
    assert_forbidden(await actor.client.put(one, json={"name": "Renamed", "default": True}))
    assert_forbidden(await actor.client.delete(one))
    after = (await admin.get(populations(environment_id))).json()
    assert after["count"] == 1
    assert after["_embedded"]["populations"][0]["name"] == "Default"


async def test_new_application_holds_no_roles(admin, deployment):
    environment_id = deployment.admin.environment_id
    application_id = await new_application(admin, environment_id)
    try:
        listed = await admin.get(assignments(environment_id, application_id))
        assert listed.status_code == 200, listed.text
        assert listed.json()["_embedded"]["roleAssignments"] == []
    finally:
        await admin.delete(f"/v1/environments/{environment_id}/applications/{application_id}")


async def test_assignment_is_listed_and_readable(admin, environment, make_actor, role_ids):
    actor = await make_actor(("Environment Admin", "ENVIRONMENT", environment["id"]))
    path = assignments(actor.environment_id, actor.application_id)
    listed = (await admin.get(path)).json()["_embedded"]["roleAssignments"]
    assert len(listed) == 1
    assignment = listed[0]
    assert assignment["role"] == {"id": role_ids["Environment Admin"]}
    assert assignment["scope"] == {"type": "ENVIRONMENT", "id": environment["id"]}
    read = await admin.get(f"{path}/{assignment['id']}")
    assert read.status_code == 200 and read.json() == assignment


async def test_duplicate_assignment_is_a_uniqueness_violation(
    admin, environment, make_actor, role_ids
):
    actor = await make_actor(("Environment Admin", "ENVIRONMENT", environment["id"]))
    again = await admin.post(
        assignments(actor.environment_id, actor.application_id),
        json=assignment_body(role_ids["Environment Admin"], "ENVIRONMENT", environment["id"]),
    )
    assert_error(again, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION")


async def test_concurrent_duplicate_assignments_make_one(admin, environment, make_actor, role_ids):
    actor = await make_actor()
    path = assignments(actor.environment_id, actor.application_id)
    body = assignment_body(role_ids["Environment Admin"], "ENVIRONMENT", environment["id"])
    responses = await asyncio.gather(*(admin.post(path, json=body) for _ in range(4)))
    assert sorted(r.status_code for r in responses) == [201, 400, 400, 400]
    for response in responses:
        if response.status_code == 400:
            assert_error(response, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION")
    assert len((await admin.get(path)).json()["_embedded"]["roleAssignments"]) == 1


async def test_unknown_role_is_refused(admin, environment, make_actor):
    actor = await make_actor()
    response = await admin.post(
        assignments(actor.environment_id, actor.application_id),
        json=assignment_body(str(uuid.uuid4()), "ENVIRONMENT", environment["id"]),
    )
    assert_error(response, 400, "INVALID_DATA")


async def test_scope_type_must_suit_the_role(admin, deployment, environment, make_actor, role_ids):
    actor = await make_actor()
    path = assignments(actor.environment_id, actor.application_id)
    organization_id = deployment.admin.organization_id
    for role, scope_type, scope_id in (
        ("Organization Admin", "ENVIRONMENT", environment["id"]),
        ("Identity Data Admin", "ORGANIZATION", organization_id),
        ("Client Application Developer", "ORGANIZATION", organization_id),
    ):
        response = await admin.post(
            path, json=assignment_body(role_ids[role], scope_type, scope_id)
        )
        assert_error(response, 400, "INVALID_DATA")
    assert (await admin.get(path)).json()["_embedded"]["roleAssignments"] == []


async def test_scope_must_name_something_that_exists(admin, make_actor, role_ids):
    actor = await make_actor()
    response = await admin.post(
        assignments(actor.environment_id, actor.application_id),
        json=assignment_body(role_ids["Environment Admin"], "ENVIRONMENT", str(uuid.uuid4())),
    )
    assert_error(response, 400, "INVALID_DATA")


async def test_environment_admin_cannot_grant_beyond_its_reach(
    admin, deployment, make_environment, make_actor, role_ids
):
    mine, other = await make_environment(), await make_environment()
    actor = await make_actor(("Environment Admin", "ENVIRONMENT", mine["id"]))
    env_admin = role_ids["Environment Admin"]

    # Not to itself on another environment.
    to_self = await actor.client.post(
        assignments(actor.environment_id, actor.application_id),
        json=assignment_body(env_admin, "ENVIRONMENT", other["id"]),
    )
    assert_forbidden(to_self)

    # To an application of its own environment: its own environment, yes ...
    app_id = await new_application(actor.client, mine["id"])
    path = assignments(mine["id"], app_id)
    ok = await actor.client.post(path, json=assignment_body(env_admin, "ENVIRONMENT", mine["id"]))
    assert ok.status_code == 201, ok.text
    # ... another environment or the organization, no.
    to_other = await actor.client.post(
        path, json=assignment_body(env_admin, "ENVIRONMENT", other["id"])
    )
    assert_forbidden(to_other)
    organization_wide = await actor.client.post(
        path,
        json=assignment_body(env_admin, "ORGANIZATION", deployment.admin.organization_id),
    )
    assert_forbidden(organization_wide)
    org_admin = await actor.client.post(
        path,
        json=assignment_body(
            role_ids["Organization Admin"], "ORGANIZATION", deployment.admin.organization_id
        ),
    )
    assert_forbidden(org_admin)
    other_population = (await default_population(admin, other["id"]))["id"]
    to_population = await actor.client.post(
        path,
        json=assignment_body(role_ids["Identity Data Read Only"], "POPULATION", other_population),
    )
    assert_forbidden(to_population)
    listed = (await actor.client.get(path)).json()["_embedded"]["roleAssignments"]
    assert [a["scope"]["id"] for a in listed] == [mine["id"]]


async def test_identity_data_admin_cannot_grant_environment_admin(
    make_environment, make_actor, role_ids
):
    environment = await make_environment()
    actor = await make_actor(
        ("Identity Data Admin", "ENVIRONMENT", environment["id"]),
        ("Client Application Developer", "ENVIRONMENT", environment["id"]),
    )
    app_id = await new_application(actor.client, environment["id"])
    response = await actor.client.post(
        assignments(environment["id"], app_id),
        json=assignment_body(role_ids["Environment Admin"], "ENVIRONMENT", environment["id"]),
    )
    assert_forbidden(response)


async def test_removed_role_takes_effect_on_the_next_request(admin, environment, make_actor):
    actor = await make_actor(("Environment Admin", "ENVIRONMENT", environment["id"]))
    assert (await actor.client.get(populations(environment["id"]))).status_code == 200
    path = assignments(actor.environment_id, actor.application_id)
    (assignment,) = (await admin.get(path)).json()["_embedded"]["roleAssignments"]
    removed = await admin.delete(f"{path}/{assignment['id']}")
    assert removed.status_code == 204, removed.text
    assert_forbidden(await actor.client.get(populations(environment["id"])))
    assert_error(await admin.get(f"{path}/{assignment['id']}"), 404, "NOT_FOUND")


async def test_added_role_takes_effect_on_the_next_request(
    admin, environment, make_actor, role_ids
):
    actor = await make_actor()
    assert_forbidden(await actor.client.get(populations(environment["id"])))
    granted = await admin.post(
        assignments(actor.environment_id, actor.application_id),
        json=assignment_body(role_ids["Identity Data Read Only"], "ENVIRONMENT", environment["id"]),
    )
    assert granted.status_code == 201, granted.text
    assert (await actor.client.get(populations(environment["id"]))).status_code == 200
