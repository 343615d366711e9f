"""The two seed documents' requests, pasted as written, give 201 and answers shaped like the
seeds' example responses."""

from __future__ import annotations

import re
from typing import Any

import httpx

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# Keys of the example responses in shared/seeds/ (getting-started step 4 and Create Population).
GETTING_STARTED_KEYS = {
    "_links", "id", "environment", "name", "description", "userCount", "createdAt",
    "updatedAt", "preferredLanguage", "theme", "default",
}  # fmt: skip
CREATE_POPULATION_KEYS = {
    "_links", "id", "environment", "name", "description", "userCount", "createdAt",
    "updatedAt", "passwordPolicy", "default", "theme",
}  # fmt: skip


async def _first_id(admin: httpx.AsyncClient, environment_id: str, collection: str) -> str:
    response = await admin.get(f"/v1/environments/{environment_id}/{collection}")
    assert response.status_code == 200, response.text
    return str(response.json()["_embedded"][collection][0]["id"])


async def test_getting_started_step_4(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    response = await admin.post(
        f"/v1/environments/{env_id}/populations",
        content=b"""{
    "name": "Shared-Test-User-Population",
    "description": "Population for PingOne test users"
}""",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body.keys() >= GETTING_STARTED_KEYS
    assert body["name"] == "Shared-Test-User-Population"
    assert body["description"] == "Population for PingOne test users"
    assert body["userCount"] == 0
    assert body["default"] is False
    assert body["preferredLanguage"] == "en"
    assert body["environment"] == {"id": env_id}
    assert body["createdAt"] == body["updatedAt"]
    assert ISO_MS.match(body["createdAt"])
    theme_id = await _first_id(admin, env_id, "themes")
    assert body["theme"] == {"id": theme_id}
    base = f"http://populace.test/v1/environments/{env_id}"
    assert body["_links"] == {
        "self": {"href": f"{base}/populations/{body['id']}"},
        "environment": {"href": base},
        "theme": {"href": f"{base}/themes/{theme_id}"},
    }


async def test_create_population_reference_body(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    policy_id = await _first_id(admin, env_id, "passwordPolicies")
    theme_id = await _first_id(admin, env_id, "themes")
    seed = """{
  "name" : "NA Eng Austin",
  "description" : "NA Engineering",
  "default" : false,
  "passwordPolicy": {
       "id": "{{passwordPolicyID}}"
   },
   "theme": {
    "id": "{{themeID}}"
   },
   "alternativeIdentifiers": [
    "Bob's crew",
    "Austin"
   ]
}"""
    body_text = seed.replace("{{passwordPolicyID}}", policy_id).replace("{{themeID}}", theme_id)
    response = await admin.post(
        f"/v1/environments/{env_id}/populations",
        content=body_text.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body.keys() >= CREATE_POPULATION_KEYS
    assert body["passwordPolicy"] == {"id": policy_id}
    assert body["theme"] == {"id": theme_id}
    assert body["alternativeIdentifiers"] == ["Bob's crew", "Austin"]
    assert body["default"] is False
    assert body["_links"]["passwordPolicy"]["href"].endswith(f"/passwordPolicies/{policy_id}")
    read = await admin.get(body["_links"]["self"]["href"].removeprefix("http://populace.test"))
    assert read.status_code == 200
    assert read.json() == body
