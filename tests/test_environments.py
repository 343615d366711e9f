"""Environments, the organization and its licenses."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import pytest

from tests.support import assert_error, unique

BASE_URL = "http://populace.test"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def environment_body(license_id: str, **fields: Any) -> dict[str, Any]:
    body = {"name": unique("env"), "type": "SANDBOX", "region": "NA", "license": {"id": license_id}}
    return {**body, **fields}


async def listed(client: httpx.AsyncClient, path: str, key: str) -> dict[str, Any]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["_links"]["self"]["href"] == f"{BASE_URL}{path}"
    assert body["size"] == len(body["_embedded"][key])
    return dict(body)


async def test_create_environment(admin, deployment, license_id):
    body = environment_body(license_id, description="For tests", type="PRODUCTION", region="EU")
    response = await admin.post("/v1/environments", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    try:
        assert uuid.UUID(created["id"]).version == 4
        assert response.headers["location"] == f"{BASE_URL}/v1/environments/{created['id']}"
        assert created["name"] == body["name"]
        assert created["description"] == "For tests"
        assert created["type"] == "PRODUCTION"
        assert created["region"] == "EU"
        assert created["license"] == {"id": license_id}
        assert created["organization"] == {"id": deployment.admin.organization_id}
        assert ISO_MS.match(created["createdAt"]) and ISO_MS.match(created["updatedAt"])
        assert created["_links"]["self"]["href"] == response.headers["location"]
        read = await admin.get(f"/v1/environments/{created['id']}")
        assert read.status_code == 200 and read.json() == created
    finally:
        await admin.delete(f"/v1/environments/{created['id']}")


async def test_new_environment_has_one_default_population(admin, environment):
    page = await listed(admin, f"/v1/environments/{environment['id']}/populations", "populations")
    assert page["count"] == 1
    (population,) = page["_embedded"]["populations"]
    assert population["name"] == "Default"
    assert population["default"] is True
    assert population["description"] == "Automatically created population."
    assert population["userCount"] == 0
    assert population["environment"] == {"id": environment["id"]}


@pytest.mark.parametrize(
    ("collection", "names"),
    [("passwordPolicies", ["Standard", "Basic", "Passphrase"]), ("themes", [None])],
)
async def test_new_environment_has_its_predefined_configuration(
    admin, environment, collection, names
):
    path = f"/v1/environments/{environment['id']}/{collection}"
    page = await listed(admin, path, collection)
    items = page["_embedded"][collection]
    assert page["count"] == page["size"] == len(names)
    assert [item.get("name") for item in items] == names
    item = items[0]
    assert [each["default"] for each in items] == [True] + [False] * (len(names) - 1)
    assert item["environment"] == {"id": environment["id"]}
    assert item["_links"]["self"]["href"] == f"{BASE_URL}{path}/{item['id']}"
    read = await admin.get(f"{path}/{item['id']}")
    assert read.status_code == 200 and read.json() == item
    assert_error(await admin.get(f"{path}/{uuid.uuid4()}"), 404, "NOT_FOUND")


async def test_default_population_uses_the_default_theme(admin, environment):
    base = f"/v1/environments/{environment['id']}"
    theme = (await admin.get(f"{base}/themes")).json()["_embedded"]["themes"][0]
    population = (await admin.get(f"{base}/populations")).json()["_embedded"]["populations"][0]
    assert population["theme"] == {"id": theme["id"]}


async def test_creator_becomes_admin_of_the_new_environment(
    admin, deployment, make_actor, license_id, role_ids
):
    actor = await make_actor(
        ("Organization Admin", "ORGANIZATION", deployment.admin.organization_id)
    )
    response = await actor.client.post("/v1/environments", json=environment_body(license_id))
    assert response.status_code == 201, response.text
    environment_id = response.json()["id"]
    app_path = f"/v1/environments/{actor.environment_id}/applications/{actor.application_id}"
    path = f"{app_path}/roleAssignments"

    async def roles_on_new_environment() -> set[str]:
        granted = (await admin.get(path)).json()["_embedded"]["roleAssignments"]
        scope = {"type": "ENVIRONMENT", "id": environment_id}
        return {a["role"]["id"] for a in granted if a["scope"] == scope}

    try:
        expected = {role_ids["Environment Admin"], role_ids["Identity Data Admin"]}
        assert expected <= await roles_on_new_environment()
        populations = await actor.client.get(f"/v1/environments/{environment_id}/populations")
        assert populations.status_code == 200, populations.text
        # The grants go with the environment.
        assert (await actor.client.delete(f"/v1/environments/{environment_id}")).status_code == 204
        assert await roles_on_new_environment() == set()
    finally:
        await admin.delete(f"/v1/environments/{environment_id}")


async def test_name_is_unique_ignoring_case_and_whitespace(admin, make_environment, license_id):
    first = await make_environment()
    clash = f"  {first['name'].upper()}  "
    created = await admin.post("/v1/environments", json=environment_body(license_id, name=clash))
    assert_error(created, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", target="name")

    second = await make_environment()
    renamed = await admin.put(
        f"/v1/environments/{second['id']}", json=environment_body(license_id, name=clash)
    )
    assert_error(renamed, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", target="name")


async def test_concurrent_creates_with_one_name_make_one_environment(admin, license_id):
    body = environment_body(license_id)
    responses = await asyncio.gather(*(admin.post("/v1/environments", json=body) for _ in range(4)))
    created = [r.json()["id"] for r in responses if r.status_code == 201]
    try:
        assert len(created) == 1, [r.text for r in responses]
        for response in responses:
            if response.status_code != 201:
                assert_error(response, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", target="name")
    finally:
        for environment_id in created:
            await admin.delete(f"/v1/environments/{environment_id}")


async def test_read_only_fields_are_ignored(admin, deployment, make_environment):
    environment = await make_environment(
        id=str(uuid.uuid4()),
        organization={"id": str(uuid.uuid4())},
        createdAt="2001-01-01T00:00:00.000Z",
        status=5,
        _links={"self": {"href": "http://elsewhere"}},
    )
    assert environment["organization"] == {"id": deployment.admin.organization_id}
    assert environment["createdAt"] != "2001-01-01T00:00:00.000Z"
    assert environment["_links"]["self"]["href"].startswith(BASE_URL)
    read = await admin.get(f"/v1/environments/{environment['id']}")
    assert read.status_code == 200 and read.json() == environment


async def test_name_is_stored_trimmed(make_environment):
    name = unique("env")
    assert (await make_environment(name=f"  {name} "))["name"] == name


@pytest.mark.parametrize(
    ("fields", "target"),
    [
        ({"region": "MARS"}, "region"),
        ({"region": "na"}, "region"),
        ({"type": "STAGING"}, "type"),
        ({"type": 1}, "type"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 257}, "name"),
        ({"license": {"id": str(uuid.uuid4())}}, "license.id"),
    ],
    ids=["region", "region case", "type", "type number", "blank name", "long name", "license"],
)
async def test_invalid_fields_are_400(admin, license_id, fields, target):
    response = await admin.post("/v1/environments", json=environment_body(license_id, **fields))
    body = assert_error(response, 400, "INVALID_DATA")
    assert [d.get("target") for d in body["details"]] == [target], body


@pytest.mark.parametrize("field", ["name", "region", "type", "license"])
async def test_missing_required_field_is_400(admin, license_id, field):
    body = environment_body(license_id)
    del body[field]
    response = await admin.post("/v1/environments", json=body)
    assert_error(response, 400, "INVALID_DATA", "REQUIRED_VALUE", target=field)


async def test_list_and_read(admin, make_environment):
    made = [await make_environment(), await make_environment()]
    page = await listed(admin, "/v1/environments", "environments")
    by_id = {e["id"]: e for e in page["_embedded"]["environments"]}
    for environment in made:
        assert by_id[environment["id"]] == environment
        read = await admin.get(f"/v1/environments/{environment['id']}")
        assert read.status_code == 200 and read.json() == environment


async def test_list_filters(admin, make_environment):
    prefix = unique("filtered")
    wanted = [
        await make_environment(name=f"{prefix}-a"),
        await make_environment(name=f"{prefix}-b"),
    ]
    other = await make_environment()

    async def ids(filter_: str) -> list[str]:
        response = await admin.get("/v1/environments", params={"filter": filter_})
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()["_embedded"]["environments"]]

    assert sorted(await ids(f'name sw "{prefix}"')) == sorted(e["id"] for e in wanted)
    assert await ids(f'id eq "{other["id"]}"') == [other["id"]]
    bad = await admin.get("/v1/environments", params={"filter": "colour eq 5"})
    assert_error(bad, 400, "INVALID_DATA", "INVALID_FILTER", target="filter")


async def test_list_pages(admin, make_environment):
    for _ in range(3):
        await make_environment()
    seen: list[str] = []
    path = "/v1/environments?limit=2"
    while path:
        page = (await admin.get(path)).json()
        assert page["size"] <= 2
        seen += [e["id"] for e in page["_embedded"]["environments"]]
        path = page["_links"].get("next", {}).get("href", "").removeprefix(BASE_URL)
    everything = (await admin.get("/v1/environments")).json()["_embedded"]["environments"]
    assert seen == [e["id"] for e in everything]


async def test_put_replaces_the_whole_environment(admin, make_environment, license_id):
    environment = await make_environment(description="to be cleared")
    path = f"/v1/environments/{environment['id']}"
    name = unique("renamed")
    replaced = await admin.put(
        path,
        json={"name": name, "type": "PRODUCTION", "region": "AP", "license": {"id": license_id}},
    )
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert body["name"] == name
    assert body.get("description") is None
    assert (body["type"], body["region"]) == ("PRODUCTION", "AP")
    assert body["id"] == environment["id"]
    assert body["createdAt"] == environment["createdAt"]
    assert body["updatedAt"] >= environment["updatedAt"]
    assert (await admin.get(path)).json() == body


async def test_put_unknown_environment_is_404(admin, license_id):
    response = await admin.put(
        f"/v1/environments/{uuid.uuid4()}", json=environment_body(license_id)
    )
    assert_error(response, 404, "NOT_FOUND")


async def test_delete_environment(admin, make_environment):
    environment = await make_environment()
    path = f"/v1/environments/{environment['id']}"
    deleted = await admin.delete(path)
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    assert_error(await admin.get(path), 404, "NOT_FOUND")
    assert_error(await admin.get(f"{path}/populations"), 404, "NOT_FOUND")
    assert_error(await admin.delete(path), 404, "NOT_FOUND")
    ids = [
        e["id"] for e in (await admin.get("/v1/environments")).json()["_embedded"]["environments"]
    ]
    assert environment["id"] not in ids


async def test_deleted_name_can_be_reused(make_environment, admin):
    environment = await make_environment()
    assert (await admin.delete(f"/v1/environments/{environment['id']}")).status_code == 204
    assert (await make_environment(name=environment["name"]))["name"] == environment["name"]


async def test_organization_and_licenses(admin, deployment, license_id):
    organization_id = deployment.admin.organization_id
    page = await listed(admin, "/v1/organizations", "organizations")
    assert [o["id"] for o in page["_embedded"]["organizations"]] == [organization_id]
    read = await admin.get(f"/v1/organizations/{organization_id}")
    assert read.status_code == 200 and read.json()["id"] == organization_id

    path = f"/v1/organizations/{organization_id}/licenses"
    licenses = (await listed(admin, path, "licenses"))["_embedded"]["licenses"]
    assert license_id in [item["id"] for item in licenses]
    for item in licenses:
        assert item["organization"] == {"id": organization_id}
        assert item["_links"]["self"]["href"] == f"{BASE_URL}{path}/{item['id']}"
