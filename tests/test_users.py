"""Users over HTTP: create, read, replace, delete, moves between populations, the live
``userCount``, listing and filtering, and population-scoped admins (issue 4,
docs/compatibility.md)."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import pytest

from tests.support import assert_error, unique

Json = dict[str, Any]
BASE = "http://populace.test"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# -- helpers (test_user_counts_concurrent.py and test_import.py use them too) -----------------


def users_path(environment_id: str, user_id: str | None = None) -> str:
    path = f"/v1/environments/{environment_id}/users"
    return path if user_id is None else f"{path}/{user_id}"


def population_path(environment_id: str, population_id: str | None = None) -> str:
    path = f"/v1/environments/{environment_id}/populations"
    return path if population_id is None else f"{path}/{population_id}"


def user_body(population_id: str | None = None, **fields: Any) -> Json:
    """A valid POST body; ``fields`` override or add to it."""
    username = fields.pop("username", None) or unique("user")
    body: Json = {"username": username, "email": f"{username}@example.com", **fields}
    if population_id is not None:
        body["population"] = {"id": population_id}
    return body


async def create_user(
    client: httpx.AsyncClient, environment_id: str, population_id: str | None = None, **fields: Any
) -> Json:
    response = await client.post(
        users_path(environment_id), json=user_body(population_id, **fields)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def create_population(client: httpx.AsyncClient, environment_id: str) -> str:
    response = await client.post(population_path(environment_id), json={"name": unique("pop")})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def read_population(client: httpx.AsyncClient, environment_id: str, pop_id: str) -> Json:
    response = await client.get(population_path(environment_id, pop_id))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def user_count(client: httpx.AsyncClient, environment_id: str, pop_id: str) -> int:
    return int((await read_population(client, environment_id, pop_id))["userCount"])


async def default_population_id(client: httpx.AsyncClient, environment_id: str) -> str:
    response = await client.get(population_path(environment_id))
    assert response.status_code == 200, response.text
    (found,) = [p for p in response.json()["_embedded"]["populations"] if p["default"]]
    return str(found["id"])


async def list_users(
    client: httpx.AsyncClient, environment_id: str, filter: str | None = None, limit: int = 1000
) -> list[Json]:
    """Every user the client sees (following ``_links.next``), optionally filtered."""
    params: dict[str, Any] = {"limit": limit}
    if filter is not None:
        params["filter"] = filter
    response = await client.get(users_path(environment_id), params=params)
    found: list[Json] = []
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        found.extend(body["_embedded"]["users"])
        assert body["size"] == len(body["_embedded"]["users"])
        if "next" not in body["_links"]:
            return found
        response = await client.get(body["_links"]["next"]["href"].removeprefix(BASE))


async def members(client: httpx.AsyncClient, environment_id: str, pop_id: str) -> list[Json]:
    return await list_users(client, environment_id, f'population.id eq "{pop_id}"')


async def assert_counts_real(
    client: httpx.AsyncClient, environment_id: str, expected: dict[str, int] | None = None
) -> None:
    """Every population's userCount equals the number of users a filter lists in it (and
    ``expected``, when given)."""
    response = await client.get(population_path(environment_id), params={"limit": 1000})
    assert response.status_code == 200, response.text
    counts = {p["id"]: p["userCount"] for p in response.json()["_embedded"]["populations"]}
    real = {pop_id: len(await members(client, environment_id, pop_id)) for pop_id in counts}
    assert counts == real
    assert sum(real.values()) == len(await list_users(client, environment_id))
    if expected is not None:
        assert {p: counts[p] for p in expected} == expected


async def move(
    client: httpx.AsyncClient, environment_id: str, user_id: str, pop_id: str
) -> httpx.Response:
    return await client.put(
        f"{users_path(environment_id, user_id)}/population", json={"id": pop_id}
    )


# -- create and read --------------------------------------------------------------------------


async def test_create_user_in_population(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    pop_id = await create_population(admin, env_id)
    name = {"given": "Ada", "family": "Lovelace", "middle": "King", "formatted": "Ada Lovelace"}
    body = user_body(pop_id, name=name)
    response = await admin.post(users_path(env_id), json=body)
    assert response.status_code == 201, response.text
    user = response.json()
    assert user.keys() >= {
        "_links", "id", "environment", "population", "username", "email", "name", "enabled",
        "createdAt", "updatedAt",
    }  # fmt: skip
    uuid.UUID(user["id"])
    assert user["environment"] == {"id": env_id}
    assert user["population"] == {"id": pop_id}
    assert user["username"] == body["username"]
    assert user["email"] == body["email"]
    assert user["name"] == name
    assert user["enabled"] is True
    assert ISO_MS.match(user["createdAt"]) and user["createdAt"] == user["updatedAt"]
    env_url = f"{BASE}/v1/environments/{env_id}"
    user_url = f"{env_url}/users/{user['id']}"
    assert user["_links"] == {
        "self": {"href": user_url},
        "environment": {"href": env_url},
        "population": {"href": f"{env_url}/populations/{pop_id}"},
        "memberOfGroups": {"href": f"{user_url}/memberOfGroups"},
        "enabled": {"href": f"{user_url}/enabled"},
        "mfaEnabled": {"href": f"{user_url}/mfaEnabled"},
    }
    read = await admin.get(users_path(env_id, user["id"]))
    assert read.status_code == 200, read.text
    assert read.json() == user
    assert await user_count(admin, env_id, pop_id) == 1


async def test_create_user_disabled_and_read_only_fields_ignored(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    pop_id = await create_population(admin, env_id)
    forged = {"id": str(uuid.uuid4()), "createdAt": "2001-01-01T00:00:00.000Z"}
    user = await create_user(admin, env_id, pop_id, enabled=False, **forged)
    assert user["enabled"] is False
    assert user["id"] != forged["id"] and user["createdAt"] != forged["createdAt"]
    assert "name" not in user or not any(user["name"].values())


async def test_create_without_population_joins_default(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    default_id = await default_population_id(admin, env_id)
    await create_population(admin, env_id)
    user = await create_user(admin, env_id)
    assert user["population"] == {"id": default_id}
    assert user["_links"]["population"]["href"].endswith(f"/populations/{default_id}")
    assert await user_count(admin, env_id, default_id) == 1


async def test_no_default_population_makes_population_required(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    default = await read_population(admin, env_id, await default_population_id(admin, env_id))
    cleared = await admin.put(
        population_path(env_id, default["id"]), json={"name": default["name"], "default": False}
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["default"] is False
    response = await admin.post(users_path(env_id), json=user_body())
    assert_error(response, 400, "INVALID_DATA", "REQUIRED_VALUE", "population.id")
    assert await list_users(admin, env_id) == []
    assert await user_count(admin, env_id, default["id"]) == 0
    # Naming the population still works.
    user = await create_user(admin, env_id, default["id"])
    assert user["population"] == {"id": default["id"]}


async def test_unknown_population_on_create(
    admin: httpx.AsyncClient, make_environment: Any
) -> None:
    env_id = (await make_environment())["id"]
    other_env_pop = await create_population(admin, (await make_environment())["id"])
    for pop_id in (str(uuid.uuid4()), other_env_pop, "not-a-uuid"):
        response = await admin.post(users_path(env_id), json=user_body(pop_id))
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "population.id")
    assert await list_users(admin, env_id) == []


async def test_username_length(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    env_id = environment["id"]
    for username in ("x", "é" * 128, "user " + "y" * 123):
        user = await create_user(admin, env_id, username=username, email="a@example.com")
        assert user["username"] == username
    for username, detail in (("", "EMPTY_VALUE"), ("z" * 129, "SIZE_LIMIT_EXCEEDED")):
        response = await admin.post(
            users_path(env_id), json={"username": username, "email": "a@example.com"}
        )
        assert_error(response, 400, "INVALID_DATA", detail, "username")
    response = await admin.post(users_path(env_id), json={"email": "a@example.com"})
    assert_error(response, 400, "INVALID_DATA", "REQUIRED_VALUE", "username")
    assert len(await list_users(admin, env_id)) == 3


async def test_username_unique_ignoring_case(
    admin: httpx.AsyncClient, make_environment: Any
) -> None:
    env_id = (await make_environment())["id"]
    other_pop = await create_population(admin, env_id)
    await create_user(admin, env_id, username="Grace.Hopper")
    for pop_id in (None, other_pop):
        response = await admin.post(
            users_path(env_id), json=user_body(pop_id, username="gRACE.hOPPER")
        )
        assert_error(response, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", "username")
    assert await user_count(admin, env_id, other_pop) == 0
    assert len(await list_users(admin, env_id)) == 1
    # Unique per environment only.
    other_env = (await make_environment())["id"]
    await create_user(admin, other_env, username="grace.hopper")


@pytest.mark.parametrize(
    "email", ["", "plain", "no-domain@", "@example.com", "a@localhost", "a b@example.com", "a@@b.c"]
)
async def test_invalid_email(
    admin: httpx.AsyncClient, environment: dict[str, Any], email: str
) -> None:
    env_id = environment["id"]
    response = await admin.post(users_path(env_id), json={"username": unique(), "email": email})
    assert_error(response, 400, "INVALID_DATA", target="email")
    assert response.json()["details"][0]["target"] == "email"
    assert await list_users(admin, env_id) == []


async def test_email_required(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    response = await admin.post(users_path(environment["id"]), json={"username": unique()})
    assert_error(response, 400, "INVALID_DATA", "REQUIRED_VALUE", "email")


@pytest.mark.parametrize(
    ("fields", "target"),
    [
        ({"username": 5}, "username"),
        ({"email": ["a@example.com"]}, "email"),
        ({"enabled": "yes"}, "enabled"),
        ({"name": "Ada Lovelace"}, "name"),
        ({"name": {"given": 3}}, "name.given"),
        ({"population": "pop"}, "population"),
        ({"population": {"id": 5}}, "population.id"),
    ],
)
async def test_wrong_json_types(
    admin: httpx.AsyncClient, environment: dict[str, Any], fields: Json, target: str
) -> None:
    env_id = environment["id"]
    body = {"username": unique(), "email": "a@example.com", **fields}
    response = await admin.post(users_path(env_id), json=body)
    body = assert_error(response, 400, "INVALID_DATA")
    assert [d.get("target") for d in body["details"]] == [target], body
    assert await list_users(admin, env_id) == []


async def test_missing_user_is_404(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    env_id = environment["id"]
    missing = users_path(env_id, str(uuid.uuid4()))
    for response in (
        await admin.get(missing),
        await admin.get(f"{missing}/population"),
        await admin.put(missing, json=user_body()),
        await admin.put(f"{missing}/population", json={"id": str(uuid.uuid4())}),
        await admin.delete(missing),
    ):
        assert_error(response, 404, "NOT_FOUND")


# -- replace and delete -----------------------------------------------------------------------


async def test_put_replaces_user(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    env_id = environment["id"]
    pop_id = await create_population(admin, env_id)
    user = await create_user(admin, env_id, pop_id, name={"given": "Ada", "family": "Byron"})
    await asyncio.sleep(0.005)
    username = unique("renamed")
    # As in PingOne, `enabled` changes only through .../enabled: PUT leaves it as it is.
    body = {"username": username, "email": "new@example.org", "enabled": False}
    response = await admin.put(users_path(env_id, user["id"]), json=body)
    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["username"] == username
    assert replaced["email"] == "new@example.org"
    assert replaced["enabled"] is True
    assert "name" not in replaced or not any(replaced["name"].values()), replaced
    assert replaced["population"] == {"id": pop_id}
    assert replaced["id"] == user["id"] and replaced["createdAt"] == user["createdAt"]
    assert replaced["updatedAt"] > user["updatedAt"]
    assert (await admin.get(users_path(env_id, user["id"]))).json() == replaced
    # The same population.id is accepted.
    again = await admin.put(
        users_path(env_id, user["id"]),
        json={
            "username": username.upper(),
            "email": "x@example.org",
            "population": {"id": pop_id},
        },
    )
    assert again.status_code == 200, again.text
    assert again.json()["enabled"] is True
    assert again.json()["username"] == username.upper()
    assert await user_count(admin, env_id, pop_id) == 1


async def test_put_cannot_change_population(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    source, target = await create_population(admin, env_id), await create_population(admin, env_id)
    user = await create_user(admin, env_id, source)
    response = await admin.put(
        users_path(env_id, user["id"]), json=user_body(target, username=user["username"])
    )
    assert_error(response, 400, "INVALID_DATA", target="population.id")
    assert (await admin.get(users_path(env_id, user["id"]))).json() == user
    assert (await user_count(admin, env_id, source), await user_count(admin, env_id, target)) == (
        1,
        0,
    )


async def test_put_username_taken(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    env_id = environment["id"]
    taken = await create_user(admin, env_id, username="Taken.Name")
    user = await create_user(admin, env_id)
    response = await admin.put(
        users_path(env_id, user["id"]), json={"username": "taken.NAME", "email": "a@example.com"}
    )
    assert_error(response, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", "username")
    assert (await admin.get(users_path(env_id, user["id"]))).json() == user
    assert (await admin.get(users_path(env_id, taken["id"]))).json() == taken


async def test_put_validates_like_post(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    user = await create_user(admin, env_id)
    path = users_path(env_id, user["id"])
    for body, target in (
        ({"username": user["username"], "email": "nope"}, "email"),
        ({"username": "", "email": "a@example.com"}, "username"),
        ({"username": user["username"]}, "email"),
        ({"username": user["username"], "email": "a@example.com", "enabled": 1}, "enabled"),
    ):
        assert_error(await admin.put(path, json=body), 400, "INVALID_DATA", target=target)
    assert (await admin.get(path)).json() == user


async def test_delete_user(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    env_id = environment["id"]
    pop_id = await create_population(admin, env_id)
    user = await create_user(admin, env_id, pop_id)
    kept = await create_user(admin, env_id, pop_id)
    response = await admin.delete(users_path(env_id, user["id"]))
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_error(await admin.get(users_path(env_id, user["id"])), 404, "NOT_FOUND")
    assert_error(await admin.delete(users_path(env_id, user["id"])), 404, "NOT_FOUND")
    assert [u["id"] for u in await list_users(admin, env_id)] == [kept["id"]]
    assert await user_count(admin, env_id, pop_id) == 1
    # The username is free again.
    await create_user(admin, env_id, pop_id, username=user["username"])


async def test_user_of_other_environment_is_404(
    admin: httpx.AsyncClient, make_environment: Any
) -> None:
    env_a, env_b = (await make_environment())["id"], (await make_environment())["id"]
    user = await create_user(admin, env_a)
    assert_error(await admin.get(users_path(env_b, user["id"])), 404, "NOT_FOUND")
    assert_error(await admin.delete(users_path(env_b, user["id"])), 404, "NOT_FOUND")
    assert (await admin.get(users_path(env_a, user["id"]))).status_code == 200


# -- moves and userCount ----------------------------------------------------------------------


async def test_move_user(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    env_id = environment["id"]
    source, target = await create_population(admin, env_id), await create_population(admin, env_id)
    user = await create_user(admin, env_id, source)
    path = f"{users_path(env_id, user['id'])}/population"
    env_url = f"{BASE}/v1/environments/{env_id}"

    read = await admin.get(path)
    assert read.status_code == 200, read.text
    assert read.json()["id"] == source
    assert read.json()["_links"]["self"]["href"] == f"{env_url}/populations/{source}"

    moved = await move(admin, env_id, user["id"], target)
    assert moved.status_code == 200, moved.text
    assert moved.json()["id"] == target
    assert moved.json()["_links"]["self"]["href"] == f"{env_url}/populations/{target}"
    assert (await admin.get(path)).json()["id"] == target
    after = (await admin.get(users_path(env_id, user["id"]))).json()
    assert after["population"] == {"id": target}
    assert after["_links"]["population"]["href"] == f"{env_url}/populations/{target}"
    assert (await user_count(admin, env_id, source), await user_count(admin, env_id, target)) == (
        0,
        1,
    )
    assert [u["id"] for u in await members(admin, env_id, target)] == [user["id"]]
    assert await members(admin, env_id, source) == []

    # Moving to the population it is in changes nothing.
    same = await move(admin, env_id, user["id"], target)
    assert same.status_code == 200, same.text
    assert (await user_count(admin, env_id, source), await user_count(admin, env_id, target)) == (
        0,
        1,
    )


async def test_move_to_unknown_population_changes_nothing(
    admin: httpx.AsyncClient, make_environment: Any
) -> None:
    env_id, other_env = (await make_environment())["id"], (await make_environment())["id"]
    source = await create_population(admin, env_id)
    foreign = await create_population(admin, other_env)
    user = await create_user(admin, env_id, source)
    for pop_id in (str(uuid.uuid4()), foreign, ""):
        response = await move(admin, env_id, user["id"], pop_id)
        assert_error(response, 400, "INVALID_DATA")
        assert (await admin.get(users_path(env_id, user["id"]))).json() == user
        assert await user_count(admin, env_id, source) == 1
        assert await user_count(admin, other_env, foreign) == 0
    assert_error(
        await admin.put(f"{users_path(env_id, user['id'])}/population", json={"id": 5}),
        400,
        "INVALID_DATA",
        target="id",
    )


async def test_population_with_users_refuses_deletion_until_emptied(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    full, other = await create_population(admin, env_id), await create_population(admin, env_id)
    leaving = await create_user(admin, env_id, full)
    staying = await create_user(admin, env_id, full)

    async def refused() -> None:
        response = await admin.delete(population_path(env_id, full))
        body = assert_error(response, 400, "INVALID_DATA", "CONSTRAINT_VIOLATION")
        assert body["details"][0]["message"].startswith("The request could not be completed")
        await read_population(admin, env_id, full)

    await refused()
    assert (await move(admin, env_id, leaving["id"], other)).status_code == 200
    await refused()
    assert (await admin.delete(users_path(env_id, staying["id"]))).status_code == 204
    assert await user_count(admin, env_id, full) == 0
    response = await admin.delete(population_path(env_id, full))
    assert response.status_code == 204, response.text
    assert_error(await admin.get(population_path(env_id, full)), 404, "NOT_FOUND")
    assert (await admin.get(users_path(env_id, leaving["id"]))).json()["population"]["id"] == other


async def test_deleting_environment_deletes_its_users(
    admin: httpx.AsyncClient, make_environment: Any
) -> None:
    env_id = (await make_environment())["id"]
    pop_id = await create_population(admin, env_id)
    created = [await create_user(admin, env_id, pop_id), await create_user(admin, env_id)]
    response = await admin.delete(f"/v1/environments/{env_id}")
    assert response.status_code == 204, response.text
    for user in created:
        assert_error(await admin.get(users_path(env_id, user["id"])), 404, "NOT_FOUND")
    assert_error(await admin.get(users_path(env_id)), 404, "NOT_FOUND")


async def test_user_count_after_creates_moves_and_deletes(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    default = await default_population_id(admin, env_id)
    a, b = await create_population(admin, env_id), await create_population(admin, env_id)
    in_a = [await create_user(admin, env_id, a) for _ in range(4)]
    in_b = [await create_user(admin, env_id, b) for _ in range(3)]
    in_default = [await create_user(admin, env_id) for _ in range(2)]
    await assert_counts_real(admin, env_id, {default: 2, a: 4, b: 3})

    for user in in_a[:2]:
        assert (await move(admin, env_id, user["id"], b)).status_code == 200
    assert (await move(admin, env_id, in_b[0]["id"], default)).status_code == 200
    assert (await move(admin, env_id, in_default[0]["id"], a)).status_code == 200
    await assert_counts_real(admin, env_id, {default: 2, a: 3, b: 4})

    for user in (in_a[0], in_a[2], in_default[1]):
        assert (await admin.delete(users_path(env_id, user["id"]))).status_code == 204
    await create_user(admin, env_id, a)
    assert (await move(admin, env_id, in_b[1]["id"], a)).status_code == 200
    await assert_counts_real(admin, env_id, {default: 1, a: 4, b: 2})


# -- listing, paging and filters --------------------------------------------------------------


async def create_many(admin: httpx.AsyncClient, environment_id: str, count: int) -> set[str]:
    ids: set[str] = set()
    for start in range(0, count, 50):
        batch = await asyncio.gather(
            *(create_user(admin, environment_id) for _ in range(min(50, count - start)))
        )
        ids.update(user["id"] for user in batch)
    return ids


async def test_list_users_envelope_and_paging(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    created = [await create_user(admin, env_id) for _ in range(5)]
    # Oldest first; users created in the same millisecond come in id order.
    created.sort(key=lambda user: (user["createdAt"], user["id"]))
    response = await admin.get(users_path(env_id), params={"limit": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["size"] == 2
    assert body["_embedded"]["users"] == created[:2]
    assert body["_links"]["self"]["href"].startswith(f"{BASE}{users_path(env_id)}")
    assert "limit=2" in body["_links"]["next"]["href"]
    seen = [u["id"] for u in await list_users(admin, env_id, limit=2)]
    assert seen == [u["id"] for u in created]
    for limit in ("0", "-1", "ten"):
        response = await admin.get(users_path(env_id), params={"limit": limit})
        assert_error(response, 400, "INVALID_DATA", target="limit")
    response = await admin.get(users_path(env_id), params={"cursor": "garbage!"})
    assert_error(response, 400, "INVALID_DATA", target="cursor")


async def test_list_users_default_and_maximum_limit(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    created = await create_many(admin, env_id, 1001)

    async def page(**params: Any) -> Json:
        response = await admin.get(users_path(env_id), params=params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    first = await page()
    assert first["size"] == 100 and "next" in first["_links"]
    for asked in (1000, 5000):
        capped = await page(limit=asked)
        assert capped["size"] == 1000 and "next" in capped["_links"]
    rest = await admin.get(capped["_links"]["next"]["href"].removeprefix(BASE))
    assert rest.json()["size"] == 1 and "next" not in rest.json()["_links"]
    listed = [u["id"] for u in await list_users(admin, env_id, limit=100)]
    assert len(listed) == len(set(listed)) == 1001
    assert set(listed) == created


async def test_filtered_paging_keeps_filter(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    pop_id = await create_population(admin, env_id)
    wanted = set()
    for i in range(7):
        user = await create_user(admin, env_id, pop_id if i % 2 else None)
        if i % 2:
            wanted.add(user["id"])
    listed = await list_users(admin, env_id, f'population.id eq "{pop_id}"', limit=1)
    assert [u["population"]["id"] for u in listed] == [pop_id] * 3
    assert {u["id"] for u in listed} == wanted


FILTER_CASES = [
    ('username eq "alice"', {"alice"}),
    ('username eq "ALICE"', {"alice"}),
    ('username eq "al"', set()),
    ('username sw "AL"', {"alice", "ALBERT"}),
    ('username sw "albert"', {"ALBERT"}),
    ('email eq "Alice@Example.com"', {"alice"}),
    ('email sw "bob@"', {"bob"}),
    ('email sw "ALB"', {"ALBERT"}),
    ('name.given eq "bob"', {"bob"}),
    ('name.given sw "al"', {"alice", "ALBERT"}),
    ('name.family eq "SMITH"', {"alice"}),
    ('name.family sw "smith"', {"alice", "bob"}),
    ("enabled eq true", {"alice", "bob", "carol"}),
    ("enabled eq false", {"ALBERT"}),
    ('population.id eq "{a}"', {"alice"}),
    ('population.id eq "{b}"', {"ALBERT", "bob"}),
    ('population.id eq "{missing}"', set()),
    ('username sw "a" and enabled eq true', {"alice"}),
    ('username eq "bob" or name.family eq "jones"', {"bob", "ALBERT"}),
    ('(username sw "a" or username sw "b") and population.id eq "{b}"', {"ALBERT", "bob"}),
    ('username sw "a" AND (enabled eq false OR name.family sw "SMI")', {"alice", "ALBERT"}),
    ('population.id eq "{a}" or population.id eq "{default}"', {"alice", "carol"}),
]


@pytest.mark.parametrize(("expression", "expected"), FILTER_CASES)
async def test_filter_users(
    admin: httpx.AsyncClient, environment: dict[str, Any], expression: str, expected: set[str]
) -> None:
    env_id = environment["id"]
    pops = {
        "a": await create_population(admin, env_id),
        "b": await create_population(admin, env_id),
    }
    pops |= {"default": await default_population_id(admin, env_id), "missing": str(uuid.uuid4())}
    for username, email, given, family, pop, enabled in (
        ("alice", "Alice@example.com", "Alice", "Smith", "a", True),
        ("ALBERT", "albert@example.org", "Albert", "Jones", "b", False),
        ("bob", "bob@example.net", "Bob", "Smithers", "b", True),
        ("carol", "carol@example.com", "Carol", "Doe", "default", True),
    ):
        name = {"given": given, "family": family}
        await create_user(
            admin, env_id, pops[pop], username=username, email=email, name=name, enabled=enabled
        )
    listed = await list_users(admin, env_id, expression.format(**pops))
    assert {u["username"] for u in listed} == expected


@pytest.mark.parametrize(
    "expression",
    [
        'username co "a"',
        'shoeSize eq "a"',
        "username eq",
        '(username eq "a"',
        'username eq "a" and',
        'username eq "a" username eq "b"',
        'enabled eq "true"',
        "username eq true",
        'population.id sw "a"',
        'email gt "a"',
        "enabled eq maybe",
    ],
)
async def test_bad_filter(
    admin: httpx.AsyncClient, environment: dict[str, Any], expression: str
) -> None:
    response = await admin.get(users_path(environment["id"]), params={"filter": expression})
    assert_error(response, 400, "INVALID_DATA", "INVALID_FILTER", "filter")


# -- who may do what --------------------------------------------------------------------------


async def test_population_scoped_identity_data_admin(
    admin: httpx.AsyncClient, environment: dict[str, Any], make_actor: Any
) -> None:
    env_id = environment["id"]
    mine, theirs = await create_population(admin, env_id), await create_population(admin, env_id)
    own = await create_user(admin, env_id, mine)
    other = await create_user(admin, env_id, theirs)
    in_default = await create_user(admin, env_id)
    ida = (await make_actor(("Identity Data Admin", "POPULATION", mine))).client

    # Lists only its population, whatever the filter asks for.
    assert [u["id"] for u in await list_users(ida, env_id)] == [own["id"]]
    assert await list_users(ida, env_id, f'population.id eq "{theirs}"') == []
    assert [u["id"] for u in await list_users(ida, env_id, 'username sw "user"')] == [own["id"]]

    # A user of another population is not found, exactly like a missing one.
    assert (await ida.get(users_path(env_id, own["id"]))).json() == own
    missing = await ida.get(users_path(env_id, str(uuid.uuid4())))
    for path in (users_path(env_id, other["id"]), f"{users_path(env_id, other['id'])}/population"):
        hidden = await ida.get(path)
        assert_error(hidden, 404, "NOT_FOUND")
        assert hidden.json()["message"] == missing.json()["message"]
    assert_error(await ida.put(users_path(env_id, other["id"]), json=user_body()), 404, "NOT_FOUND")
    assert_error(await ida.delete(users_path(env_id, other["id"])), 404, "NOT_FOUND")
    assert (await admin.get(users_path(env_id, other["id"]))).json() == other

    # Creates only in its population.
    for pop_id in (theirs, None):
        response = await ida.post(users_path(env_id), json=user_body(pop_id))
        assert_error(response, 403, "ACCESS_FAILED")
    created = await create_user(ida, env_id, mine)
    assert created["population"] == {"id": mine}

    # Moves neither out of its population nor in from another.
    assert_error(await move(ida, env_id, own["id"], theirs), 403, "ACCESS_FAILED")
    assert_error(await move(ida, env_id, other["id"], mine), 404, "NOT_FOUND")
    assert_error(await move(ida, env_id, in_default["id"], mine), 404, "NOT_FOUND")
    assert (await admin.get(users_path(env_id, own["id"]))).json() == own
    assert (await admin.get(users_path(env_id, other["id"]))).json() == other
    default = await default_population_id(admin, env_id)
    await assert_counts_real(admin, env_id, {mine: 2, theirs: 1, default: 1})

    # Within its population it manages users as usual.
    assert (await ida.delete(users_path(env_id, created["id"]))).status_code == 204
    assert await user_count(admin, env_id, mine) == 1


async def test_population_scope_does_not_reach_other_environments(
    admin: httpx.AsyncClient, make_environment: Any, make_actor: Any
) -> None:
    env_a, env_b = (await make_environment())["id"], (await make_environment())["id"]
    pop_a = await create_population(admin, env_a)
    user_b = await create_user(admin, env_b)
    ida = (await make_actor(("Identity Data Admin", "POPULATION", pop_a))).client
    assert_error(await ida.get(users_path(env_b)), 403, "ACCESS_FAILED")
    assert (await ida.get(users_path(env_b, user_b["id"]))).status_code in (403, 404)
    assert_error(await ida.post(users_path(env_b), json=user_body()), 403, "ACCESS_FAILED")
    assert await list_users(admin, env_b) == [user_b]


async def test_environment_scoped_identity_data_admin_moves(
    admin: httpx.AsyncClient, environment: dict[str, Any], make_actor: Any
) -> None:
    env_id = environment["id"]
    source, target = await create_population(admin, env_id), await create_population(admin, env_id)
    ida = (await make_actor(("Identity Data Admin", "ENVIRONMENT", env_id))).client
    user = await create_user(ida, env_id, source)
    moved = await move(ida, env_id, user["id"], target)
    assert moved.status_code == 200, moved.text
    assert (await ida.get(users_path(env_id, user["id"]))).json()["population"] == {"id": target}
    await assert_counts_real(admin, env_id, {source: 0, target: 1})


async def test_environment_admin_cannot_manage_users(
    admin: httpx.AsyncClient, environment: dict[str, Any], make_actor: Any
) -> None:
    env_id = environment["id"]
    pop_id = await create_population(admin, env_id)
    user = await create_user(admin, env_id, pop_id)
    env_admin = (await make_actor(("Environment Admin", "ENVIRONMENT", env_id))).client
    for pop in (pop_id, None):
        assert_error(
            await env_admin.post(users_path(env_id), json=user_body(pop)), 403, "ACCESS_FAILED"
        )
    assert_error(await move(env_admin, env_id, user["id"], pop_id), 403, "ACCESS_FAILED")
    assert_error(await env_admin.delete(users_path(env_id, user["id"])), 403, "ACCESS_FAILED")
    assert [u["id"] for u in await list_users(admin, env_id)] == [user["id"]]
    assert await user_count(admin, env_id, pop_id) == 1
