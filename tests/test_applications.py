"""Worker applications: create, list, read, delete, and their client secret."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.support import assert_error, bearer, fetch_token, unique

BASE_URL = "http://populace.test"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def apps_path(environment_id: str) -> str:
    return f"/v1/environments/{environment_id}/applications"


def worker(**fields: Any) -> dict[str, Any]:
    body = {
        "name": unique("worker"),
        "enabled": True,
        "type": "WORKER",
        "protocol": "OPENID_CONNECT",
        "grantTypes": ["CLIENT_CREDENTIALS"],
        "tokenEndpointAuthMethod": "CLIENT_SECRET_BASIC",
    }
    return {**body, **fields}


async def create(admin: httpx.AsyncClient, environment_id: str, **fields: Any) -> dict[str, Any]:
    response = await admin.post(apps_path(environment_id), json=worker(**fields))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def secret_of(admin: httpx.AsyncClient, environment_id: str, app_id: str) -> str:
    response = await admin.get(f"{apps_path(environment_id)}/{app_id}/secret")
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"secret"}
    return str(response.json()["secret"])


async def test_create_worker_application(admin, environment):
    environment_id = environment["id"]
    body = worker(description="Runs the nightly sync")
    response = await admin.post(apps_path(environment_id), json=body)
    assert response.status_code == 201, response.text
    app = response.json()
    assert uuid.UUID(app["id"]).version == 4
    for field in ("name", "description", "enabled", "type", "protocol", "grantTypes"):
        assert app[field] == body[field], field
    assert app["tokenEndpointAuthMethod"] == "CLIENT_SECRET_BASIC"
    assert app["environment"] == {"id": environment_id}
    assert ISO_MS.match(app["createdAt"]) and ISO_MS.match(app["updatedAt"])
    self_href = f"{BASE_URL}{apps_path(environment_id)}/{app['id']}"
    assert app["_links"]["self"]["href"] == self_href
    assert app["_links"]["secret"]["href"] == f"{self_href}/secret"
    assert "secret" not in app and "clientSecret" not in app


async def test_defaults_of_optional_fields(admin, environment):
    response = await admin.post(
        apps_path(environment["id"]),
        json={"name": unique("w"), "enabled": True, "type": "WORKER", "protocol": "OPENID_CONNECT"},
    )
    assert response.status_code == 201, response.text
    app = response.json()
    assert app["grantTypes"] == ["CLIENT_CREDENTIALS"]
    assert app["tokenEndpointAuthMethod"] == "CLIENT_SECRET_BASIC"


async def test_list_read_and_delete(admin, environment):
    environment_id = environment["id"]
    first, second = await create(admin, environment_id), await create(admin, environment_id)
    page = (await admin.get(apps_path(environment_id))).json()
    listed = {a["id"]: a for a in page["_embedded"]["applications"]}
    assert listed[first["id"]] == first and listed[second["id"]] == second
    assert page["size"] == len(page["_embedded"]["applications"])

    one = f"{apps_path(environment_id)}/{first['id']}"
    read = await admin.get(one)
    assert read.status_code == 200 and read.json() == first

    deleted = await admin.delete(one)
    assert deleted.status_code == 204, deleted.text
    assert_error(await admin.get(one), 404, "NOT_FOUND")
    assert_error(await admin.get(f"{one}/secret"), 404, "NOT_FOUND")
    assert_error(await admin.delete(one), 404, "NOT_FOUND")
    remaining = (await admin.get(apps_path(environment_id))).json()["_embedded"]["applications"]
    assert [a["id"] for a in remaining] == [second["id"]]


async def test_application_of_another_environment_is_404(admin, make_environment):
    home, elsewhere = await make_environment(), await make_environment()
    app = await create(admin, home["id"])
    assert_error(await admin.get(f"{apps_path(elsewhere['id'])}/{app['id']}"), 404, "NOT_FOUND")
    assert_error(await admin.delete(f"{apps_path(elsewhere['id'])}/{app['id']}"), 404, "NOT_FOUND")


async def test_secret_works_at_the_token_endpoint(admin, client, environment):
    environment_id = environment["id"]
    app = await create(admin, environment_id)
    secret = await secret_of(admin, environment_id, app["id"])
    assert len(secret) >= 32
    assert secret == await secret_of(admin, environment_id, app["id"])
    token = await fetch_token(client, environment_id, app["id"], secret)
    response = await client.get("/v1/roles", headers=bearer(token))
    assert response.status_code == 200, response.text


async def test_application_of_any_environment_acts_through_its_roles(
    admin, client, environment, role_ids
):
    environment_id = environment["id"]
    app = await create(admin, environment_id)
    granted = await admin.post(
        f"{apps_path(environment_id)}/{app['id']}/roleAssignments",
        json={
            "role": {"id": role_ids["Environment Admin"]},
            "scope": {"type": "ENVIRONMENT", "id": environment_id},
        },
    )
    assert granted.status_code == 201, granted.text
    secret = await secret_of(admin, environment_id, app["id"])
    token = await fetch_token(client, environment_id, app["id"], secret)
    response = await client.get(
        f"/v1/environments/{environment_id}/populations", headers=bearer(token)
    )
    assert response.status_code == 200, response.text


async def test_deleting_the_environment_revokes_its_applications(admin, client, make_environment):
    environment_id = (await make_environment())["id"]
    app = await create(admin, environment_id)
    secret = await secret_of(admin, environment_id, app["id"])
    token = await fetch_token(client, environment_id, app["id"], secret)
    assert (await admin.delete(f"/v1/environments/{environment_id}")).status_code == 204
    response = await client.get("/v1/roles", headers=bearer(token))
    assert_error(response, 401, "ACCESS_FAILED", "INVALID_TOKEN")


async def test_every_application_gets_its_own_secret(admin, environment):
    environment_id = environment["id"]
    apps = [await create(admin, environment_id) for _ in range(3)]
    secrets = {await secret_of(admin, environment_id, app["id"]) for app in apps}
    assert len(secrets) == 3


async def test_secret_needs_the_right_to_read_it(admin, environment, make_actor):
    app = await create(admin, environment["id"])
    reader = await make_actor(("Identity Data Admin", "ENVIRONMENT", environment["id"]))
    response = await reader.client.get(f"{apps_path(environment['id'])}/{app['id']}/secret")
    assert_error(response, 403, "ACCESS_FAILED", "INSUFFICIENT_PERMISSIONS")


async def test_deleting_an_application_revokes_its_token(admin, client, environment):
    environment_id = environment["id"]
    app = await create(admin, environment_id)
    secret = await secret_of(admin, environment_id, app["id"])
    token = await fetch_token(client, environment_id, app["id"], secret)
    assert (await client.get("/v1/roles", headers=bearer(token))).status_code == 200

    assert (await admin.delete(f"{apps_path(environment_id)}/{app['id']}")).status_code == 204
    response = await client.get("/v1/roles", headers=bearer(token))
    assert_error(response, 401, "ACCESS_FAILED", "INVALID_TOKEN")
    refused = await client.post(
        f"/{environment_id}/as/token",
        data={"grant_type": "client_credentials"},
        auth=(app["id"], secret),
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("fields", "target"),
    [
        ({"type": "SERVICE"}, "type"),
        ({"type": "SINGLE_PAGE_APP"}, "tokenEndpointAuthMethod"),
        ({"type": "worker"}, "type"),
        ({"protocol": "SAML"}, "protocol"),
        ({"grantTypes": ["IMPLICIT"]}, "grantTypes"),
        ({"grantTypes": ["AUTHORIZATION_CODE"]}, "redirectUris"),
        ({"grantTypes": ["REFRESH_TOKEN"]}, "grantTypes"),
        ({"tokenEndpointAuthMethod": "PRIVATE_KEY_JWT"}, "tokenEndpointAuthMethod"),
        ({"tokenEndpointAuthMethod": "NONE"}, "grantTypes"),
        (
            {"grantTypes": ["AUTHORIZATION_CODE"], "redirectUris": ["http://evil.test/cb"]},
            "redirectUris",
        ),
        (
            {"grantTypes": ["AUTHORIZATION_CODE"], "redirectUris": ["javascript:alert(1)"]},
            "redirectUris",
        ),
        (
            {"grantTypes": ["AUTHORIZATION_CODE"], "redirectUris": ["https://a.test/cb#x"]},
            "redirectUris",
        ),
        ({"enabled": "yes"}, "enabled"),
        ({"name": 7}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 257}, "name"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
async def test_invalid_fields_are_400(admin, environment, fields, target):
    response = await admin.post(apps_path(environment["id"]), json=worker(**fields))
    body = assert_error(response, 400, "INVALID_DATA")
    assert [d.get("target") for d in body["details"]] == [target], body


@pytest.mark.parametrize("field", ["name", "enabled", "type", "protocol"])
async def test_missing_required_field_is_400(admin, environment, field):
    body = worker()
    del body[field]
    response = await admin.post(apps_path(environment["id"]), json=body)
    assert_error(response, 400, "INVALID_DATA", "REQUIRED_VALUE", target=field)


async def test_invalid_application_is_not_created(admin, environment):
    before = (await admin.get(apps_path(environment["id"]))).json()["_embedded"]["applications"]
    refused = await admin.post(
        apps_path(environment["id"]),
        json=worker(type="NATIVE_APP", grantTypes=["AUTHORIZATION_CODE"]),
    )
    assert_error(refused, 400, "INVALID_DATA")
    after = (await admin.get(apps_path(environment["id"]))).json()["_embedded"]["applications"]
    assert after == before
