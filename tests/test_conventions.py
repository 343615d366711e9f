"""Conventions every endpoint shares: the error envelope, media types, size limits,
Correlation-Id, links, ids and the OpenAPI document."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from populace.http import access
from tests.support import assert_error, bearer, unique

OTHER_BASE = "http://example.org:8443"


def populations(environment_id: str) -> str:
    return f"/v1/environments/{environment_id}/populations"


async def default_population_id(admin: httpx.AsyncClient, environment_id: str) -> str:
    page = (await admin.get(populations(environment_id))).json()
    return str(page["_embedded"]["populations"][0]["id"])


async def test_unknown_route_is_404_envelope(admin, client):
    for c in (admin, client):
        body = assert_error(await c.get("/v1/nothing-here"), 404, "NOT_FOUND")
        assert set(body) <= {"id", "code", "message", "details"}
        assert uuid.UUID(body["id"])
    assert_error(await client.get("/definitely/not/a/route"), 404, "NOT_FOUND")


async def test_patch_population_is_405_envelope(admin, environment):
    population_id = await default_population_id(admin, environment["id"])
    response = await admin.patch(
        f"{populations(environment['id'])}/{population_id}", json={"name": "patched"}
    )
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    allowed = {m.strip() for m in response.headers.get("allow", "").split(",")}
    assert {"GET", "PUT", "DELETE"} <= allowed, response.headers.get("allow")
    assert "PATCH" not in allowed
    read = await admin.get(f"{populations(environment['id'])}/{population_id}")
    assert read.json()["name"] == "Default"


async def test_non_json_content_type_is_415(admin, environment):
    response = await admin.post(
        populations(environment["id"]),
        content=b'{"name": "plain"}',
        headers={"Content-Type": "text/plain"},
    )
    assert_error(response, 415, "INVALID_REQUEST")


async def test_malformed_json_is_400(admin, environment):
    deep = b'{"name": "x", "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for raw in (b'{"name": "x"', b"not json", b'{"name": "x",}', b"", b'{"name": "\xff"}', deep):
        response = await admin.post(
            populations(environment["id"]),
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert_error(response, 400, "INVALID_REQUEST")


async def test_json_that_is_not_an_object_is_400(admin, environment):
    for raw in (b"[]", b'"name"', b"5", b"null"):
        response = await admin.post(
            populations(environment["id"]),
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, (raw, response.text)
        assert response.json()["code"] in {"INVALID_REQUEST", "INVALID_DATA"}


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    yield b'{"name": "big", "description": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_body_over_one_mebibyte_is_413(admin, environment, streamed):
    size = 1024 * 1024 + 1
    if streamed:
        content: Any = _chunks(size)
    else:
        content = b'{"name": "big", "description": "' + b"x" * size + b'"}'
    response = await admin.post(
        populations(environment["id"]),
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert set(response.json()) >= {"id", "code", "message"}
    assert (await admin.get(populations(environment["id"]))).json()["count"] == 1


async def test_wrong_json_type_names_the_field(admin, environment):
    response = await admin.post(populations(environment["id"]), json={"name": 5})
    assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", target="name")
    nested = await admin.post(
        populations(environment["id"]), json={"name": "ok", "passwordPolicy": {"id": 5}}
    )
    assert_error(nested, 400, "INVALID_DATA", target="passwordPolicy.id")


async def test_every_response_has_a_correlation_id(admin, client, environment, deployment):
    environment_id = environment["id"]
    creds = deployment.admin
    responses = [
        await admin.get(populations(environment_id)),
        await admin.get("/v1/nothing-here"),
        await client.get(populations(environment_id)),
        await client.get(populations(environment_id), headers=bearer("garbage")),
        await admin.patch(populations(environment_id), json={}),
        await admin.post(
            populations(environment_id), content=b"x", headers={"Content-Type": "text/plain"}
        ),
        await admin.post(populations(environment_id), json={"name": 5}),
        await client.post(f"/{creds.environment_id}/as/token", data={"grant_type": "password"}),
        await client.post(
            f"/{creds.environment_id}/as/token",
            data={"grant_type": "client_credentials"},
            auth=(creds.client_id, creds.client_secret),
        ),
        await client.get(f"/{environment_id}/as/jwks"),
        await client.get("/openapi.json"),
    ]
    ids = []
    for response in responses:
        value = response.headers.get("correlation-id")
        assert value, (response.request.method, response.request.url, response.status_code)
        ids.append(value)
    assert len(set(ids)) == len(ids), "each response has its own Correlation-Id"


async def test_links_follow_the_host_the_client_used(deployment, admin_token, environment):
    transport = httpx.ASGITransport(app=deployment.app)
    async with httpx.AsyncClient(
        transport=transport, base_url=OTHER_BASE, headers=bearer(admin_token)
    ) as other:
        path = populations(environment["id"])
        created = await other.post(path, json={"name": unique("pop")})
        assert created.status_code == 201, created.text
        population = created.json()
        assert population["_links"]["self"]["href"] == f"{OTHER_BASE}{path}/{population['id']}"
        for link in population["_links"].values():
            assert link["href"].startswith(f"{OTHER_BASE}/v1/"), link

        page = (await other.get(path)).json()
        assert page["_links"]["self"]["href"] == f"{OTHER_BASE}{path}"
        for item in page["_embedded"]["populations"]:
            assert item["_links"]["self"]["href"].startswith(f"{OTHER_BASE}/v1/")

        environment_path = f"/v1/environments/{environment['id']}"
        read = (await other.get(environment_path)).json()
        assert read["_links"]["self"]["href"] == f"{OTHER_BASE}{environment_path}"

        discovery = await other.get(f"/{environment['id']}/as/.well-known/openid-configuration")
        assert discovery.json()["issuer"] == f"{OTHER_BASE}/{environment['id']}/as"

        body = {
            "name": unique("env"),
            "type": "SANDBOX",
            "region": "NA",
            "license": read["license"],
        }
        made = await other.post("/v1/environments", json=body)
        assert made.status_code == 201, made.text
        await other.delete(f"/v1/environments/{made.json()['id']}")
        assert made.headers["location"] == f"{OTHER_BASE}/v1/environments/{made.json()['id']}"


async def test_ids_are_uuid_v4(admin, environment):
    environment_id = environment["id"]
    created = await admin.post(populations(environment_id), json={"name": unique("pop")})
    error = await admin.get("/v1/nothing-here")
    ids = [
        environment_id,
        environment["organization"]["id"],
        environment["license"]["id"],
        created.json()["id"],
        await default_population_id(admin, environment_id),
        error.json()["id"],
    ]
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and str(parsed) == value, value


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_openapi_document(client):
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"] and document["info"]["version"]
    paths = document["paths"]
    expected = {
        "/v1/environments": {"get", "post"},
        "/v1/environments/{envID}": {"get", "put", "delete"},
        "/v1/environments/{envID}/populations": {"get", "post"},
        "/v1/environments/{envID}/populations/{popID}": {"get", "put", "delete"},
        "/v1/environments/{envID}/applications": {"get", "post"},
        "/v1/environments/{envID}/applications/{appID}": {"get", "delete"},
        "/{envID}/as/token": {"post"},
        "/{envID}/as/jwks": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths.get(path, {})), path
    assert "patch" not in paths["/v1/environments/{envID}/populations/{popID}"]

    operation_ids = []
    for path, operations in paths.items():
        for method, operation in operations.items():
            operation_ids.append(operation["operationId"])
            assert operation["responses"], (path, method)
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}
    assert len(operation_ids) == len(set(operation_ids)), "operationIds are unique"

    schemas = document["components"]["schemas"]
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    token = paths["/{envID}/as/token"]["post"]
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]


async def test_browsable_docs_render_the_openapi_document_with_nothing_from_elsewhere(client):
    """/docs is one page populace serves whole: it loads /openapi.json (relative to itself)
    and no script, style or font from another host."""
    response = await client.get("/docs")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert 'fetch("openapi.json")' in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page), page
    assert not re.search(r"@import|<link\b", page), page
    resolved = httpx.URL("http://populace.test/docs").join("openapi.json")
    assert resolved.path == "/openapi.json"


def test_an_access_line_keeps_a_decoded_newline_of_the_path_on_its_line(caplog):
    """A path with %0A decodes to a newline: the text line escapes it (no forged lines)."""
    scope = {"method": "GET", "path": "/x\n2026-01-01 INFO populace.access: GET /forged"}
    with caplog.at_level(logging.INFO, logger="populace.access"):
        access.record(scope, 404, 0.0, "id")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "populace.access"]
    assert "\n" not in line and "\\n" in line, line
    assert " 404 0.00ms id -" in line, line  # a zero duration is a duration, not "-"
