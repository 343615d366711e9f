"""Groups over HTTP: create, read, replace, delete, name scopes, list filters, member counts,
dynamic groups (``userFilter``), nesting (``/groups/{id}/memberOfGroups``), user memberships
(``/users/{id}/memberOfGroups``), ``include=memberOfGroupIDs|memberOfGroupNames``, the
``memberOfGroups[...]`` user filter, who may do what, and nesting graphs (cycles, long chains)
that the recursive SQL must answer without looping."""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx
import pytest

from tests.support import assert_error, unique
from tests.test_users import (
    create_population,
    create_user,
    list_users,
    move,
    population_path,
    users_path,
)

Json = dict[str, Any]
T = TypeVar("T")
BASE = "http://populace.test"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# How long one request on a nesting graph may take before the test calls it a hang. Generous:
# the point is that it ends at all (a loaded CI machine may be slow); no duration is asserted.
GRAPH_SECONDS = 600.0


# -- helpers ----------------------------------------------------------------------------------


def wide(text: str) -> str:
    """``text`` in fullwidth forms (a look-alike that names compare as the plain text)."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def groups_path(environment_id: str, group_id: str | None = None) -> str:
    path = f"/v1/environments/{environment_id}/groups"
    return path if group_id is None else f"{path}/{group_id}"


def nestings_path(environment_id: str, group_id: str, parent_id: str | None = None) -> str:
    path = f"{groups_path(environment_id, group_id)}/memberOfGroups"
    return path if parent_id is None else f"{path}/{parent_id}"


def memberships_path(environment_id: str, user_id: str, group_id: str | None = None) -> str:
    path = f"{users_path(environment_id, user_id)}/memberOfGroups"
    return path if group_id is None else f"{path}/{group_id}"


async def create_group(
    client: httpx.AsyncClient,
    environment_id: str,
    population_id: str | None = None,
    **fields: Any,
) -> Json:
    body: Json = {"name": unique("group"), **fields}
    if population_id is not None:
        body["population"] = {"id": population_id}
    response = await client.post(groups_path(environment_id), json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def read_group(
    client: httpx.AsyncClient, environment_id: str, group_id: str, **params: str
) -> Json:
    response = await client.get(groups_path(environment_id, group_id), params=params or None)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def counts(client: httpx.AsyncClient, environment_id: str, group_id: str) -> tuple[int, int]:
    """(directMemberCounts.users, totalMemberCounts.users) of a group."""
    group = await read_group(client, environment_id, group_id, include="totalMemberCounts")
    return group["directMemberCounts"]["users"], group["totalMemberCounts"]["users"]


async def nest(
    client: httpx.AsyncClient, environment_id: str, group_id: str, parent_id: str
) -> httpx.Response:
    """Make ``group_id`` a member of ``parent_id``."""
    return await client.post(nestings_path(environment_id, group_id), json={"id": parent_id})


async def nested(
    client: httpx.AsyncClient, environment_id: str, group_id: str, parent_id: str
) -> Json:
    response = await nest(client, environment_id, group_id, parent_id)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def join(
    client: httpx.AsyncClient, environment_id: str, user_id: str, group_id: str
) -> httpx.Response:
    """Add a user to a group, directly."""
    return await client.post(memberships_path(environment_id, user_id), json={"id": group_id})


async def joined(
    client: httpx.AsyncClient, environment_id: str, user_id: str, group_id: str
) -> Json:
    response = await join(client, environment_id, user_id, group_id)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def walk_list(client: httpx.AsyncClient, path: str, key: str, **params: Any) -> list[Json]:
    """Every item of a list, following ``_links.next``."""
    response = await client.get(path, params={"limit": 1000, **params})
    found: list[Json] = []
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        found.extend(body["_embedded"][key])
        assert body["size"] == len(body["_embedded"][key])
        if "next" not in body["_links"]:
            return found
        response = await client.get(body["_links"]["next"]["href"].removeprefix(BASE))


async def list_groups(
    client: httpx.AsyncClient, environment_id: str, filter: str | None = None
) -> list[Json]:
    params = {} if filter is None else {"filter": filter}
    return await walk_list(client, groups_path(environment_id), "groups", **params)


async def parents_of(client: httpx.AsyncClient, environment_id: str, group_id: str) -> list[Json]:
    return await walk_list(client, nestings_path(environment_id, group_id), "groupMemberships")


async def direct_groups(client: httpx.AsyncClient, environment_id: str, user_id: str) -> list[Json]:
    return await walk_list(client, memberships_path(environment_id, user_id), "groupMemberships")


async def members(client: httpx.AsyncClient, environment_id: str, group_id: str) -> list[str]:
    """The users ``memberOfGroups[id eq "G"]`` lists, as a sorted list (duplicates kept)."""
    found = await list_users(client, environment_id, f'memberOfGroups[id eq "{group_id}"]')
    return sorted(u["id"] for u in found)


async def group_ids(client: httpx.AsyncClient, environment_id: str, user_id: str) -> list[str]:
    """What ``include=memberOfGroupIDs`` lists for a user, sorted (duplicates kept)."""
    response = await client.get(
        users_path(environment_id, user_id), params={"include": "memberOfGroupIDs"}
    )
    assert response.status_code == 200, response.text
    return sorted(response.json()["memberOfGroupIDs"])


def brief(response: httpx.Response) -> str:
    return f"{response.status_code} {response.text[:300]}"


async def bounded(awaitable: Awaitable[T]) -> T:
    """Await one request on a nesting graph; a hang fails the test instead of stalling it."""
    return await asyncio.wait_for(awaitable, GRAPH_SECONDS)


# -- create and read --------------------------------------------------------------------------


async def test_create_environment_group(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    custom = {"cost": 12.5, "tags": ["a", "b"], "owner": {"name": "Ada", "ids": [1, None, True]}}
    body = {
        "name": "  Engineering  ",
        "description": "Builds things",
        "userFilter": None,
        "externalId": "ext-17",
        "customData": custom,
    }
    response = await admin.post(groups_path(env_id), json=body)
    assert response.status_code == 201, response.text
    group = response.json()
    uuid.UUID(group["id"])
    env_url = f"{BASE}/v1/environments/{env_id}"
    group_url = f"{env_url}/groups/{group['id']}"
    assert response.headers["location"] == group_url
    assert group["_links"] == {
        "self": {"href": group_url},
        "environment": {"href": env_url},
        "memberOfGroups": {"href": f"{group_url}/memberOfGroups"},
    }
    assert group["environment"] == {"id": env_id}
    assert group["name"] == group["displayName"] == "Engineering"
    assert group["description"] == "Builds things"
    assert group["externalId"] == "ext-17"
    assert group["customData"] == custom
    assert group["directMemberCounts"] == {"users": 0}
    assert "totalMemberCounts" not in group
    assert "population" not in group and "userFilter" not in group
    assert ISO_MS.match(group["createdAt"]) and group["createdAt"] == group["updatedAt"]
    assert await read_group(admin, env_id, group["id"]) == group
    with_total = await read_group(admin, env_id, group["id"], include="totalMemberCounts")
    assert with_total == {**group, "totalMemberCounts": {"users": 0}}


async def test_create_population_group(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    pop_id = await create_population(admin, env_id)
    group = await create_group(admin, env_id, pop_id, name="Crew")
    assert group["population"] == {"id": pop_id}
    assert group["name"] == group["displayName"] == "Crew"
    assert "description" not in group and "externalId" not in group and "customData" not in group
    assert await read_group(admin, env_id, group["id"]) == group


async def test_group_name_is_required_and_checked(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    for body, detail in (
        ({}, "REQUIRED_VALUE"),
        ({"name": ""}, "EMPTY_VALUE"),
        ({"name": " \t "}, "EMPTY_VALUE"),
        ({"name": "x" * 257}, "SIZE_LIMIT_EXCEEDED"),
        ({"name": "tab\tinside"}, "INVALID_VALUE"),
        ({"name": 5}, None),
        ({"name": None}, None),
    ):
        response = await admin.post(groups_path(env_id), json=body)
        assert_error(response, 400, "INVALID_DATA", detail, target="name")
        assert [d.get("target") for d in response.json()["details"]] == ["name"], body
    assert (await create_group(admin, env_id, name="y" * 256))["name"] == "y" * 256
    assert len(await list_groups(admin, env_id)) == 1


@pytest.mark.parametrize("field", ["description", "externalId"])
async def test_group_text_limits(
    admin: httpx.AsyncClient, environment: dict[str, Any], field: str
) -> None:
    env_id = environment["id"]
    kept = await create_group(admin, env_id, **{field: "d" * 1024})
    assert kept[field] == "d" * 1024
    response = await admin.post(groups_path(env_id), json={"name": "g", field: "d" * 1025})
    assert_error(response, 400, "INVALID_DATA", "SIZE_LIMIT_EXCEEDED", field)
    response = await admin.put(
        groups_path(env_id, kept["id"]), json={"name": kept["name"], field: "d" * 1025}
    )
    assert_error(response, 400, "INVALID_DATA", "SIZE_LIMIT_EXCEEDED", field)
    assert await read_group(admin, env_id, kept["id"]) == kept
    assert [g["id"] for g in await list_groups(admin, env_id)] == [kept["id"]]


@pytest.mark.parametrize(
    ("fields", "target"),
    [
        ({"customData": [1, 2]}, "customData"),
        ({"customData": "text"}, "customData"),
        ({"description": 5}, "description"),
        ({"externalId": {"a": 1}}, "externalId"),
        ({"userFilter": True}, "userFilter"),
        ({"population": "pop"}, "population"),
        ({"population": {"id": 7}}, "population.id"),
    ],
)
async def test_group_wrong_json_types(
    admin: httpx.AsyncClient, environment: dict[str, Any], fields: Json, target: str
) -> None:
    env_id = environment["id"]
    response = await admin.post(groups_path(env_id), json={"name": "g", **fields})
    body = assert_error(response, 400, "INVALID_DATA")
    assert [d.get("target") for d in body["details"]] == [target], body
    assert await list_groups(admin, env_id) == []


async def test_custom_data_round_trips_any_object(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    custom = {
        "deep": {"deeper": {"deepest": [[], {}, [1, [2, [3]]]]}},
        "unicode": "δ 日本 🙂",
        "numbers": [0, -1, 2**53, 1.5, -0.25],
        "flags": [True, False, None],
        "": "empty key",
    }
    group = await create_group(admin, env_id, customData=custom)
    assert group["customData"] == custom
    assert (await read_group(admin, env_id, group["id"]))["customData"] == custom
    empty = await create_group(admin, env_id, customData={})
    assert (await read_group(admin, env_id, empty["id"])).get("customData") in ({}, None)


async def test_unknown_population_on_create(
    admin: httpx.AsyncClient, make_environment: Any
) -> None:
    env_id = (await make_environment())["id"]
    foreign = await create_population(admin, (await make_environment())["id"])
    for pop_id in (str(uuid.uuid4()), foreign, "not-a-uuid", ""):
        response = await admin.post(
            groups_path(env_id), json={"name": "g", "population": {"id": pop_id}}
        )
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "population.id")
    assert await list_groups(admin, env_id) == []


async def test_missing_group_is_404(admin: httpx.AsyncClient, make_environment: Any) -> None:
    env_id, other_env = (await make_environment())["id"], (await make_environment())["id"]
    elsewhere = await create_group(admin, other_env)
    target = await create_group(admin, env_id)
    for group_id in (str(uuid.uuid4()), elsewhere["id"]):
        path = groups_path(env_id, group_id)
        for response in (
            await admin.get(path),
            await admin.get(path, params={"include": "totalMemberCounts"}),
            await admin.put(path, json={"name": "x"}),
            await admin.delete(path),
            await admin.get(f"{path}/memberOfGroups"),
            await admin.post(f"{path}/memberOfGroups", json={"id": target["id"]}),
            await admin.get(f"{path}/memberOfGroups/{target['id']}"),
            await admin.delete(f"{path}/memberOfGroups/{target['id']}"),
        ):
            assert_error(response, 404, "NOT_FOUND")
    assert (await read_group(admin, other_env, elsewhere["id"])) == elsewhere


# -- replace, PATCH, delete -------------------------------------------------------------------


async def test_put_replaces_group(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    env_id = environment["id"]
    pop_id = await create_population(admin, env_id)
    group = await create_group(
        admin,
        env_id,
        pop_id,
        description="before",
        externalId="e1",
        customData={"a": 1},
        userFilter='title eq "x"',
    )
    await asyncio.sleep(0.005)
    response = await admin.put(groups_path(env_id, group["id"]), json={"name": " Renamed "})
    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["name"] == replaced["displayName"] == "Renamed"
    for cleared in ("description", "externalId", "customData", "userFilter"):
        assert cleared not in replaced, replaced
    assert replaced["population"] == {"id": pop_id}  # omitted: kept (it never changes)
    assert replaced["id"] == group["id"] and replaced["createdAt"] == group["createdAt"]
    assert replaced["updatedAt"] > group["updatedAt"]
    assert await read_group(admin, env_id, group["id"]) == replaced

    # The same population is accepted; everything set again is stored again.
    body = {
        "name": "Renamed",
        "population": {"id": pop_id},
        "description": "after",
        "externalId": "e2",
        "customData": {"b": [2]},
        "userFilter": "enabled eq false",
    }
    again = await admin.put(groups_path(env_id, group["id"]), json=body)
    assert again.status_code == 200, again.text
    for field in ("description", "externalId", "customData", "userFilter", "population"):
        assert again.json()[field] == body[field]


async def test_put_cannot_change_population(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    pop_a, pop_b = await create_population(admin, env_id), await create_population(admin, env_id)
    in_a = await create_group(admin, env_id, pop_a)
    in_env = await create_group(admin, env_id)
    for group, pop_id in (
        (in_a, pop_b),
        (in_a, str(uuid.uuid4())),
        (in_env, pop_a),
    ):
        response = await admin.put(
            groups_path(env_id, group["id"]),
            json={"name": group["name"], "population": {"id": pop_id}},
        )
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "population.id")
        assert await read_group(admin, env_id, group["id"]) == group


async def test_patch_group_is_405(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    env_id = environment["id"]
    group = await create_group(admin, env_id)
    response = await admin.patch(groups_path(env_id, group["id"]), json={"name": "x"})
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert await read_group(admin, env_id, group["id"]) == group


async def test_delete_group_removes_its_memberships_and_nestings(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    child, doomed, parent = [await create_group(admin, env_id) for _ in range(3)]
    user = await create_user(admin, env_id)
    other = await create_user(admin, env_id)
    await joined(admin, env_id, user["id"], doomed["id"])
    await joined(admin, env_id, user["id"], parent["id"])
    await joined(admin, env_id, other["id"], child["id"])
    await nested(admin, env_id, child["id"], doomed["id"])
    await nested(admin, env_id, doomed["id"], parent["id"])
    assert await counts(admin, env_id, parent["id"]) == (1, 2)

    response = await admin.delete(groups_path(env_id, doomed["id"]))
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_error(await admin.get(groups_path(env_id, doomed["id"])), 404, "NOT_FOUND")
    assert_error(await admin.delete(groups_path(env_id, doomed["id"])), 404, "NOT_FOUND")
    assert [g["id"] for g in await direct_groups(admin, env_id, user["id"])] == [parent["id"]]
    assert await parents_of(admin, env_id, child["id"]) == []
    assert await counts(admin, env_id, parent["id"]) == (1, 1)
    assert await members(admin, env_id, parent["id"]) == [user["id"]]
    assert await group_ids(admin, env_id, other["id"]) == [child["id"]]
    assert_error(
        await admin.get(memberships_path(env_id, user["id"], doomed["id"])), 404, "NOT_FOUND"
    )
    assert {g["id"] for g in await list_groups(admin, env_id)} == {child["id"], parent["id"]}
    # The name is free again.
    await create_group(admin, env_id, name=doomed["name"])


async def test_population_with_groups_cannot_be_deleted(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    pop_id = await create_population(admin, env_id)
    group = await create_group(admin, env_id, pop_id)
    response = await admin.delete(population_path(env_id, pop_id))
    body = assert_error(response, 400, "INVALID_DATA", "CONSTRAINT_VIOLATION")
    assert body["details"][0]["message"].startswith("The request could not be completed")
    assert (await admin.get(population_path(env_id, pop_id))).status_code == 200
    assert await read_group(admin, env_id, group["id"]) == group
    assert (await admin.delete(groups_path(env_id, group["id"]))).status_code == 204
    response = await admin.delete(population_path(env_id, pop_id))
    assert response.status_code == 204, response.text


async def test_deleting_environment_deletes_its_groups(
    admin: httpx.AsyncClient, make_environment: Any
) -> None:
    env_id = (await make_environment())["id"]
    pop_id = await create_population(admin, env_id)
    user = await create_user(admin, env_id, pop_id, title="Boss")
    in_pop = await create_group(admin, env_id, pop_id)
    in_env = await create_group(admin, env_id, userFilter='title eq "Boss"')
    await joined(admin, env_id, user["id"], in_pop["id"])
    await nested(admin, env_id, in_pop["id"], in_env["id"])
    response = await admin.delete(f"/v1/environments/{env_id}")
    assert response.status_code == 204, response.text
    for group in (in_pop, in_env):
        assert_error(await admin.get(groups_path(env_id, group["id"])), 404, "NOT_FOUND")
    assert_error(await admin.get(groups_path(env_id)), 404, "NOT_FOUND")


# -- names ------------------------------------------------------------------------------------


async def test_group_name_scopes(admin: httpx.AsyncClient, make_environment: Any) -> None:
    """An environment group's name clashes with every group of the environment; a population
    group's with the environment's groups and its own population's, not another's. Names
    compare without case, width or invisible characters."""
    env_id = (await make_environment())["id"]
    pop_a, pop_b = await create_population(admin, env_id), await create_population(admin, env_id)
    await create_group(admin, env_id, name="Team")
    crew_a = await create_group(admin, env_id, pop_a, name="Crew")

    async def refused(name: str, population_id: str | None = None) -> None:
        body: Json = {"name": name}
        if population_id is not None:
            body["population"] = {"id": population_id}
        response = await admin.post(groups_path(env_id), json=body)
        assert_error(response, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", "name")

    for pop_id in (None, pop_a, pop_b):
        await refused("team", pop_id)  # an environment group's name is taken everywhere
        await refused(" TEAM ", pop_id)
    await refused(wide("crew"), pop_a)  # fullwidth
    await refused("Cr\u200bew", pop_a)  # a zero-width space
    await refused("CREW", None)  # an environment group clashes with every population's
    crew_b = await create_group(admin, env_id, pop_b, name="crew")  # another population: fine
    assert crew_b["name"] == "crew"
    before = {g["id"]: g for g in await list_groups(admin, env_id)}
    assert len(before) == 3

    # Renames obey the same scopes.
    team = next(g for g in before.values() if g["name"] == "Team")
    for group, name in ((crew_a, "TEAM"), (crew_b, "Team"), (team, "Crew")):
        response = await admin.put(groups_path(env_id, group["id"]), json={"name": name})
        assert_error(response, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", "name")
    assert {g["id"]: g for g in await list_groups(admin, env_id)} == before
    # A group keeps its own name in another spelling.
    response = await admin.put(groups_path(env_id, crew_a["id"]), json={"name": " crew "})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "crew"

    # Unique per environment only.
    other_env = (await make_environment())["id"]
    await create_group(admin, other_env, name="Team")
    await create_group(admin, other_env, name="crew")


# -- lists and filters ------------------------------------------------------------------------


async def test_list_groups_envelope_paging_and_count(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    created = [await create_group(admin, env_id) for _ in range(5)]
    created.sort(key=lambda group: (group["createdAt"], group["id"]))
    response = await admin.get(groups_path(env_id), params={"limit": 2})
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["size"] == 2 and page["count"] == 5
    assert page["_embedded"]["groups"] == created[:2]
    assert "next" in page["_links"]
    listed = await walk_list(admin, groups_path(env_id), "groups", limit=2)
    assert [g["id"] for g in listed] == [g["id"] for g in created]
    # totalMemberCounts is for a single read only, never in a list.
    response = await admin.get(groups_path(env_id), params={"include": "totalMemberCounts"})
    assert response.status_code == 200, response.text
    assert all("totalMemberCounts" not in g for g in response.json()["_embedded"]["groups"])
    assert all(
        g["directMemberCounts"] == {"users": 0} for g in response.json()["_embedded"]["groups"]
    )


GROUP_FILTER_CASES = [
    ('name eq "engineering"', {"Engineering"}),
    ('name eq "ENGINEERING"', {"Engineering"}),
    (f'name eq "{wide("engineering")}"', {"Engineering"}),
    ('name eq "eng"', set()),
    ('name sw "ENG"', {"Engineering", "English"}),
    (f'name sw "{wide("en")}"', {"Engineering", "English"}),
    ('name SW "s"', {"Sales", "Support"}),
    ('displayName eq "sales"', {"Sales"}),
    ('displayName sw "En"', {"Engineering", "English"}),
    ('population.id eq "{a}"', {"Sales", "English"}),
    ('population.id eq "{b}"', {"Support"}),
    ('population.id eq "{missing}"', set()),
    ('externalId eq "X-1"', {"Sales"}),
    ('externalId eq "x-1"', set()),
    ('id eq "{sales}"', {"Sales"}),
    ('id eq "{missing}"', set()),
    ('name sw "s" and population.id eq "{a}"', {"Sales"}),
    ('name eq "support" or externalId eq "X-1"', {"Support", "Sales"}),
    ('(name sw "e" OR name sw "s") AND population.id eq "{a}"', {"Sales", "English"}),
]


@pytest.mark.parametrize(("expression", "expected"), GROUP_FILTER_CASES)
async def test_filter_groups(
    admin: httpx.AsyncClient, environment: dict[str, Any], expression: str, expected: set[str]
) -> None:
    env_id = environment["id"]
    ids = {"a": await create_population(admin, env_id), "b": await create_population(admin, env_id)}
    ids["missing"] = str(uuid.uuid4())
    await create_group(admin, env_id, name="Engineering", externalId="X-2")
    sales = await create_group(admin, env_id, ids["a"], name="Sales", externalId="X-1")
    ids["sales"] = sales["id"]
    await create_group(admin, env_id, ids["a"], name="English")
    await create_group(admin, env_id, ids["b"], name="Support")
    listed = await list_groups(admin, env_id, expression.format(**ids))
    assert {g["name"] for g in listed} == expected
    response = await admin.get(
        groups_path(env_id), params={"filter": expression.format(**ids), "limit": 1}
    )
    assert response.json()["count"] == len(expected)


@pytest.mark.parametrize(
    "expression",
    [
        'name co "a"',
        'description eq "a"',
        'userFilter eq "a"',
        'population.id sw "a"',
        'externalId sw "a"',
        'id sw "a"',
        "name eq true",
        'memberOfGroups[id eq "a"]',
        'name eq "a" and',
    ],
)
async def test_bad_group_filter(
    admin: httpx.AsyncClient, environment: dict[str, Any], expression: str
) -> None:
    response = await admin.get(groups_path(environment["id"]), params={"filter": expression})
    assert_error(response, 400, "INVALID_DATA", "INVALID_FILTER", "filter")


# -- memberships --------------------------------------------------------------------------------


async def test_add_read_and_remove_membership(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    group = await create_group(admin, env_id, description="About")
    user = await create_user(admin, env_id)
    response = await join(admin, env_id, user["id"], group["id"])
    assert response.status_code == 201, response.text
    membership = response.json()
    env_url = f"{BASE}/v1/environments/{env_id}"
    self_url = f"{env_url}/users/{user['id']}/memberOfGroups/{group['id']}"
    assert response.headers["location"] == self_url
    assert membership["id"] == group["id"]
    assert membership["name"] == group["name"]
    assert membership["type"] == "DIRECT"
    assert membership["environment"] == {"id": env_id}
    assert membership["_links"]["self"] == {"href": self_url}
    assert membership["_links"]["group"] == {"href": f"{env_url}/groups/{group['id']}"}

    read = await admin.get(memberships_path(env_id, user["id"], group["id"]))
    assert read.status_code == 200, read.text
    assert read.json() == membership
    assert await direct_groups(admin, env_id, user["id"]) == [membership]
    page = (await admin.get(memberships_path(env_id, user["id"]))).json()
    assert page["count"] == page["size"] == 1
    assert await counts(admin, env_id, group["id"]) == (1, 1)
    assert (await read_group(admin, env_id, group["id"]))["directMemberCounts"] == {"users": 1}

    again = await join(admin, env_id, user["id"], group["id"])
    assert_error(again, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", "id")
    assert await counts(admin, env_id, group["id"]) == (1, 1)

    removed = await admin.delete(memberships_path(env_id, user["id"], group["id"]))
    assert removed.status_code == 204, removed.text
    assert removed.content == b""
    for response in (
        await admin.get(memberships_path(env_id, user["id"], group["id"])),
        await admin.delete(memberships_path(env_id, user["id"], group["id"])),
    ):
        assert_error(response, 404, "NOT_FOUND")
    assert await direct_groups(admin, env_id, user["id"]) == []
    assert await counts(admin, env_id, group["id"]) == (0, 0)


async def test_membership_refusals(admin: httpx.AsyncClient, make_environment: Any) -> None:
    env_id, other_env = (await make_environment())["id"], (await make_environment())["id"]
    user = await create_user(admin, env_id)
    foreign = await create_group(admin, other_env)
    for group_id in (str(uuid.uuid4()), foreign["id"], "not-a-uuid", ""):
        response = await join(admin, env_id, user["id"], group_id)
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "id")
    for body in ({}, {"id": 5}, {"id": None}):
        response = await admin.post(memberships_path(env_id, user["id"]), json=body)
        assert_error(response, 400, "INVALID_DATA", target="id")
    group = await create_group(admin, env_id)
    missing_user = str(uuid.uuid4())
    for response in (
        await join(admin, env_id, missing_user, group["id"]),
        await admin.get(memberships_path(env_id, missing_user)),
        await admin.get(memberships_path(env_id, missing_user, group["id"])),
        await admin.delete(memberships_path(env_id, missing_user, group["id"])),
        await join(admin, other_env, user["id"], foreign["id"]),  # the user is in env_id
    ):
        assert_error(response, 404, "NOT_FOUND")
    assert await direct_groups(admin, env_id, user["id"]) == []
    assert await counts(admin, env_id, group["id"]) == (0, 0)
    assert await counts(admin, other_env, foreign["id"]) == (0, 0)


async def test_population_group_takes_only_its_population(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    pop_a, pop_b = await create_population(admin, env_id), await create_population(admin, env_id)
    group = await create_group(admin, env_id, pop_a)
    outsider = await create_user(admin, env_id, pop_b)
    in_default = await create_user(admin, env_id)
    for user in (outsider, in_default):
        response = await join(admin, env_id, user["id"], group["id"])
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "id")
        assert await direct_groups(admin, env_id, user["id"]) == []
    insider = await create_user(admin, env_id, pop_a)
    await joined(admin, env_id, insider["id"], group["id"])
    # An environment group takes users of any population.
    mixed = await create_group(admin, env_id)
    for user in (outsider, in_default, insider):
        await joined(admin, env_id, user["id"], mixed["id"])
    assert await counts(admin, env_id, group["id"]) == (1, 1)
    assert await counts(admin, env_id, mixed["id"]) == (3, 3)


async def test_deleting_users_keeps_direct_counts_exact(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    groups = [await create_group(admin, env_id) for _ in range(3)]
    users = [await create_user(admin, env_id) for _ in range(4)]
    for user, group in itertools.product(users, groups):
        await joined(admin, env_id, user["id"], group["id"])
    assert [await counts(admin, env_id, g["id"]) for g in groups] == [(4, 4)] * 3
    for user in users[:3]:
        assert (await admin.delete(users_path(env_id, user["id"]))).status_code == 204
        assert_error(await admin.get(memberships_path(env_id, user["id"])), 404, "NOT_FOUND")
    assert [await counts(admin, env_id, g["id"]) for g in groups] == [(1, 1)] * 3
    for group in groups:
        assert await members(admin, env_id, group["id"]) == [users[3]["id"]]
    # A new user with a deleted user's name starts with no groups.
    reborn = await create_user(admin, env_id, username=users[0]["username"])
    assert await direct_groups(admin, env_id, reborn["id"]) == []
    assert await group_ids(admin, env_id, reborn["id"]) == []


async def test_moving_a_user_leaves_its_old_population_groups(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    source, target = await create_population(admin, env_id), await create_population(admin, env_id)
    in_source = await create_group(admin, env_id, source)
    in_target = await create_group(admin, env_id, target)
    everywhere = await create_group(admin, env_id)
    user = await create_user(admin, env_id, source)
    stays = await create_user(admin, env_id, source)
    for group in (in_source, everywhere):
        await joined(admin, env_id, user["id"], group["id"])
    await joined(admin, env_id, stays["id"], in_source["id"])
    assert (await move(admin, env_id, user["id"], target)).status_code == 200
    assert [g["id"] for g in await direct_groups(admin, env_id, user["id"])] == [everywhere["id"]]
    assert await counts(admin, env_id, in_source["id"]) == (1, 1)
    assert await counts(admin, env_id, everywhere["id"]) == (1, 1)
    assert await members(admin, env_id, in_source["id"]) == [stays["id"]]
    assert await group_ids(admin, env_id, user["id"]) == [everywhere["id"]]
    # In its new population it may join that population's groups.
    await joined(admin, env_id, user["id"], in_target["id"])
    response = await join(admin, env_id, user["id"], in_source["id"])
    assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "id")


async def test_member_of_group_ids_and_names(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """Every group the user belongs to: direct, dynamic, and every group those are nested into
    (transitively); single reads only."""
    env_id = environment["id"]
    user = await create_user(admin, env_id, title="Pilot")
    direct = await create_group(admin, env_id, name="Direct")
    dynamic = await create_group(admin, env_id, name="Dynamic", userFilter="title eq 'Pilot'")
    parent = await create_group(admin, env_id, name="Parent")
    grandparent = await create_group(admin, env_id, name="Grandparent")
    via_dynamic = await create_group(admin, env_id, name="ViaDynamic")
    await create_group(admin, env_id, name="Unrelated")
    await joined(admin, env_id, user["id"], direct["id"])
    await nested(admin, env_id, direct["id"], parent["id"])
    await nested(admin, env_id, parent["id"], grandparent["id"])
    await nested(admin, env_id, dynamic["id"], via_dynamic["id"])
    expected = {g["id"]: g["name"] for g in (direct, dynamic, parent, grandparent, via_dynamic)}
    path = users_path(env_id, user["id"])
    for params in (
        {"include": "memberOfGroupIDs,memberOfGroupNames"},
        {"include": " memberOfGroupNames , memberOfGroupIDs "},
        [("include", "memberOfGroupIDs"), ("include", "memberOfGroupNames")],
    ):
        response = await admin.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert sorted(body["memberOfGroupIDs"]) == sorted(expected), body
        assert sorted(body["memberOfGroupNames"]) == sorted(expected.values()), body
        # The two lists describe the same groups, in the same order.
        pairs = dict(zip(body["memberOfGroupIDs"], body["memberOfGroupNames"], strict=True))
        assert pairs == expected
    only_ids = (await admin.get(path, params={"include": "memberOfGroupIDs"})).json()
    assert "memberOfGroupNames" not in only_ids and len(only_ids["memberOfGroupIDs"]) == 5
    only_names = (await admin.get(path, params={"include": "memberOfGroupNames"})).json()
    assert "memberOfGroupIDs" not in only_names and len(only_names["memberOfGroupNames"]) == 5
    plain = (await admin.get(path)).json()
    assert "memberOfGroupIDs" not in plain and "memberOfGroupNames" not in plain
    listed = await admin.get(
        users_path(env_id), params={"include": "memberOfGroupIDs,memberOfGroupNames"}
    )
    assert listed.status_code == 200, listed.text
    for item in listed.json()["_embedded"]["users"]:
        assert "memberOfGroupIDs" not in item and "memberOfGroupNames" not in item
    loner = await create_user(admin, env_id)
    empty = await admin.get(
        users_path(env_id, loner["id"]), params={"include": "memberOfGroupIDs,memberOfGroupNames"}
    )
    assert empty.json()["memberOfGroupIDs"] == [] and empty.json()["memberOfGroupNames"] == []


# -- nesting ----------------------------------------------------------------------------------


async def test_nest_read_and_unnest(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    env_id = environment["id"]
    child = await create_group(admin, env_id, name="Child")
    parent = await create_group(admin, env_id, name="Parent", description="Up")
    in_child = [await create_user(admin, env_id) for _ in range(2)]
    in_parent = await create_user(admin, env_id)
    for user in in_child:
        await joined(admin, env_id, user["id"], child["id"])
    await joined(admin, env_id, in_parent["id"], parent["id"])

    response = await nest(admin, env_id, child["id"], parent["id"])
    assert response.status_code == 201, response.text
    nesting = response.json()
    env_url = f"{BASE}/v1/environments/{env_id}"
    self_url = f"{env_url}/groups/{child['id']}/memberOfGroups/{parent['id']}"
    assert response.headers["location"] == self_url
    assert nesting["id"] == parent["id"]
    assert nesting["name"] == "Parent"
    assert nesting["type"] == "DIRECT"
    assert nesting["environment"] == {"id": env_id}
    assert nesting["_links"]["self"] == {"href": self_url}
    assert nesting["_links"]["group"] == {"href": f"{env_url}/groups/{parent['id']}"}
    read = await admin.get(nestings_path(env_id, child["id"], parent["id"]))
    assert read.status_code == 200, read.text
    assert read.json() == nesting
    assert await parents_of(admin, env_id, child["id"]) == [nesting]
    page = (await admin.get(nestings_path(env_id, child["id"]))).json()
    assert page["count"] == page["size"] == 1
    assert await parents_of(admin, env_id, parent["id"]) == []  # the direction matters
    assert_error(
        await admin.get(nestings_path(env_id, parent["id"], child["id"])), 404, "NOT_FOUND"
    )

    # The child's members are the parent's; not the other way round. Direct counts stay.
    everyone = sorted([in_parent["id"], *(u["id"] for u in in_child)])
    assert await counts(admin, env_id, parent["id"]) == (1, 3)
    assert await counts(admin, env_id, child["id"]) == (2, 2)
    assert await members(admin, env_id, parent["id"]) == everyone
    assert await members(admin, env_id, child["id"]) == sorted(u["id"] for u in in_child)
    assert await group_ids(admin, env_id, in_child[0]["id"]) == sorted([child["id"], parent["id"]])
    assert await group_ids(admin, env_id, in_parent["id"]) == [parent["id"]]
    # Only direct memberships are listed under the user.
    assert [g["id"] for g in await direct_groups(admin, env_id, in_child[0]["id"])] == [child["id"]]
    # A nested member is not a direct member: there is nothing to remove.
    response = await admin.delete(memberships_path(env_id, in_child[0]["id"], parent["id"]))
    assert_error(response, 404, "NOT_FOUND")

    removed = await admin.delete(nestings_path(env_id, child["id"], parent["id"]))
    assert removed.status_code == 204, removed.text
    assert removed.content == b""
    for response in (
        await admin.get(nestings_path(env_id, child["id"], parent["id"])),
        await admin.delete(nestings_path(env_id, child["id"], parent["id"])),
    ):
        assert_error(response, 404, "NOT_FOUND")
    assert await parents_of(admin, env_id, child["id"]) == []
    assert await counts(admin, env_id, parent["id"]) == (1, 1)
    assert await members(admin, env_id, parent["id"]) == [in_parent["id"]]


async def test_nesting_refusals(admin: httpx.AsyncClient, make_environment: Any) -> None:
    env_id, other_env = (await make_environment())["id"], (await make_environment())["id"]
    pop_id = await create_population(admin, env_id)
    env_group = await create_group(admin, env_id)
    env_parent = await create_group(admin, env_id)
    pop_group = await create_group(admin, env_id, pop_id)
    foreign = await create_group(admin, other_env)

    def refused(response: httpx.Response, detail: str = "INVALID_VALUE") -> None:
        assert_error(response, 400, "INVALID_DATA", detail, "id")

    refused(await nest(admin, env_id, env_group["id"], env_group["id"]))  # itself
    refused(await nest(admin, env_id, pop_group["id"], pop_group["id"]))
    # An environment group cannot go inside a population group, nor another population's
    # group (its members would be users of another population).
    refused(await nest(admin, env_id, env_group["id"], pop_group["id"]))
    other_pop_group = await create_group(admin, env_id, await create_population(admin, env_id))
    refused(await nest(admin, env_id, other_pop_group["id"], pop_group["id"]))
    assert await parents_of(admin, env_id, other_pop_group["id"]) == []
    for parent_id in (str(uuid.uuid4()), foreign["id"], "not-a-uuid", ""):
        refused(await nest(admin, env_id, env_group["id"], parent_id))
    for body in ({}, {"id": 5}, {"id": None}):
        response = await admin.post(nestings_path(env_id, env_group["id"]), json=body)
        assert_error(response, 400, "INVALID_DATA", target="id")
    for group in (env_group, pop_group, env_parent):
        assert await parents_of(admin, env_id, group["id"]) == []

    # Allowed: environment into environment, population into environment or its population.
    await nested(admin, env_id, env_group["id"], env_parent["id"])
    await nested(admin, env_id, pop_group["id"], env_parent["id"])
    same_pop = await create_group(admin, env_id, pop_id)
    await nested(admin, env_id, pop_group["id"], same_pop["id"])
    refused(await nest(admin, env_id, env_group["id"], env_parent["id"]), "UNIQUENESS_VIOLATION")
    refused(await nest(admin, env_id, pop_group["id"], same_pop["id"]), "UNIQUENESS_VIOLATION")
    assert len(await parents_of(admin, env_id, env_group["id"])) == 1
    assert len(await parents_of(admin, env_id, pop_group["id"])) == 2


async def test_two_group_cycle_counts_each_user_once(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    a, b = await create_group(admin, env_id), await create_group(admin, env_id)
    only_a, only_b, both = [await create_user(admin, env_id) for _ in range(3)]
    await joined(admin, env_id, only_a["id"], a["id"])
    await joined(admin, env_id, only_b["id"], b["id"])
    await joined(admin, env_id, both["id"], a["id"])
    await joined(admin, env_id, both["id"], b["id"])
    await nested(admin, env_id, a["id"], b["id"])
    await nested(admin, env_id, b["id"], a["id"])
    everyone = sorted(u["id"] for u in (only_a, only_b, both))
    for group in (a, b):
        assert await counts(admin, env_id, group["id"]) == (2, 3)
        assert await members(admin, env_id, group["id"]) == everyone
    for user in (only_a, only_b, both):
        assert await group_ids(admin, env_id, user["id"]) == sorted([a["id"], b["id"]])
    either = f'memberOfGroups[id eq "{a["id"]}"] or memberOfGroups[id eq "{b["id"]}"]'
    assert sorted(u["id"] for u in await list_users(admin, env_id, either)) == everyone


async def test_transitive_nesting_and_dynamic_members(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """C in B in A: A's members are its own, B's and C's, dynamic ones included."""
    env_id = environment["id"]
    a, b = await create_group(admin, env_id), await create_group(admin, env_id)
    c = await create_group(admin, env_id, userFilter='title eq "Diver"')
    diver = await create_user(admin, env_id, title="diver")
    in_b = await create_user(admin, env_id)
    await joined(admin, env_id, in_b["id"], b["id"])
    await nested(admin, env_id, c["id"], b["id"])
    await nested(admin, env_id, b["id"], a["id"])
    assert await counts(admin, env_id, c["id"]) == (0, 1)
    assert await counts(admin, env_id, b["id"]) == (1, 2)
    assert await counts(admin, env_id, a["id"]) == (0, 2)
    assert await members(admin, env_id, a["id"]) == sorted([diver["id"], in_b["id"]])
    assert await group_ids(admin, env_id, diver["id"]) == sorted([a["id"], b["id"], c["id"]])
    # Unnesting the middle cuts both.
    assert (await admin.delete(nestings_path(env_id, b["id"], a["id"]))).status_code == 204
    assert await counts(admin, env_id, a["id"]) == (0, 0)
    assert await group_ids(admin, env_id, diver["id"]) == sorted([b["id"], c["id"]])


# -- dynamic groups ---------------------------------------------------------------------------


async def test_dynamic_group_takes_matching_users(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    managers = [
        await create_user(admin, env_id, title="Manager"),
        await create_user(admin, env_id, title="MANAGER"),
    ]
    await create_user(admin, env_id, title="Managers")
    await create_user(admin, env_id)
    group = await create_group(admin, env_id, userFilter="title eq 'Manager'")
    assert group["userFilter"] == "title eq 'Manager'"
    assert group["directMemberCounts"] == {"users": 0}
    assert await counts(admin, env_id, group["id"]) == (0, 2)
    expected = sorted(u["id"] for u in managers)
    assert await members(admin, env_id, group["id"]) == expected
    for user in managers:
        assert await group_ids(admin, env_id, user["id"]) == [group["id"]]
        # Dynamic memberships are not direct ones: not listed, not removable.
        assert await direct_groups(admin, env_id, user["id"]) == []
        response = await admin.delete(memberships_path(env_id, user["id"], group["id"]))
        assert_error(response, 404, "NOT_FOUND")
    # A dynamic member may be added directly as well; it still counts once.
    await joined(admin, env_id, managers[0]["id"], group["id"])
    assert await counts(admin, env_id, group["id"]) == (1, 2)
    assert await members(admin, env_id, group["id"]) == expected
    assert await group_ids(admin, env_id, managers[0]["id"]) == [group["id"]]


@pytest.mark.parametrize(
    ("user_filter", "matching"),
    [
        ('title eq "Manager"', {"ann", "bob"}),
        ("title eq 'manager'", {"ann", "bob"}),
        ("title sw 'MAN'", {"ann", "bob"}),
        (r"nickname eq 'O\'Brien'", {"cat"}),
        (r'nickname eq "O\'Brien"', {"cat"}),
        ("enabled eq false", {"bob"}),
        ('username eq "ann" or nickname sw "o"', {"ann", "cat"}),
        ("title eq 'Manager' and enabled eq true", {"ann"}),
        ('address.countryCode eq "CA"', {"cat"}),
        ('email sw "bob@"', {"bob"}),
        ("mfaEnabled eq true", {"cat"}),
        ('lifecycle.status eq "ACCOUNT_OK"', {"ann", "bob", "cat"}),
    ],
)
async def test_user_filter_language(
    admin: httpx.AsyncClient, environment: dict[str, Any], user_filter: str, matching: set[str]
) -> None:
    env_id = environment["id"]
    names = {}
    for username, fields in (
        ("ann", {"title": "Manager"}),
        ("bob", {"title": "manager", "enabled": False}),
        ("cat", {"nickname": "O'Brien", "address": {"countryCode": "CA"}, "mfaEnabled": True}),
    ):
        user = await create_user(admin, env_id, username=username, **fields)
        names[user["id"]] = username
    group = await create_group(admin, env_id, userFilter=user_filter)
    assert group["userFilter"] == user_filter
    assert {names[i] for i in await members(admin, env_id, group["id"])} == matching
    assert await counts(admin, env_id, group["id"]) == (0, len(matching))


@pytest.mark.parametrize(
    "user_filter",
    [
        'memberOfGroups[id eq "00000000-0000-0000-0000-000000000000"]',
        'title eq "a" or memberOfGroups[id eq "x"]',
        "title eq",
        "title eq 'unclosed",
        'shoeSize eq "42"',
        'title co "a"',
        "enabled eq 'true'",
        "",
        "   ",
        "(" * 40 + 'title eq "a"' + ")" * 40,
    ],
)
async def test_invalid_user_filter(
    admin: httpx.AsyncClient, environment: dict[str, Any], user_filter: str
) -> None:
    env_id = environment["id"]
    response = await admin.post(groups_path(env_id), json={"name": "g", "userFilter": user_filter})
    assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "userFilter")
    assert await list_groups(admin, env_id) == []
    group = await create_group(admin, env_id, userFilter="enabled eq true")
    response = await admin.put(
        groups_path(env_id, group["id"]), json={"name": group["name"], "userFilter": user_filter}
    )
    assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "userFilter")
    assert await read_group(admin, env_id, group["id"]) == group


async def test_user_filter_length(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    env_id = environment["id"]

    def of_length(length: int) -> str:
        return 'title eq "' + "a" * (length - len('title eq ""')) + '"'

    assert len(of_length(4096)) == 4096
    group = await create_group(admin, env_id, userFilter=of_length(4096))
    assert group["userFilter"] == of_length(4096)
    response = await admin.post(
        groups_path(env_id), json={"name": "g", "userFilter": of_length(4097)}
    )
    assert_error(response, 400, "INVALID_DATA", "SIZE_LIMIT_EXCEEDED", "userFilter")


async def test_dynamic_members_follow_user_changes(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """Users created, replaced, patched, enabled or disabled, moved or deleted later join or
    leave as they match or stop matching."""
    env_id = environment["id"]
    pop_a, pop_b = await create_population(admin, env_id), await create_population(admin, env_id)
    managers = await create_group(admin, env_id, userFilter="title eq 'Manager'")
    disabled = await create_group(admin, env_id, userFilter="enabled eq false")
    in_b = await create_group(admin, env_id, userFilter=f'population.id eq "{pop_b}"')
    mfa = await create_group(admin, env_id, userFilter="mfaEnabled eq true")

    async def groups_of(user_id: str) -> set[str]:
        return set(await group_ids(admin, env_id, user_id))

    user = await create_user(admin, env_id, pop_a, title="Manager")  # created matching
    path = users_path(env_id, user["id"])
    assert await groups_of(user["id"]) == {managers["id"]}
    response = await admin.put(path, json={"username": user["username"], "email": "a@b.co"})
    assert response.status_code == 200, response.text  # replaced: title cleared
    assert await groups_of(user["id"]) == set()
    response = await admin.patch(path, json={"title": "manager"})  # patched back
    assert response.status_code == 200, response.text
    assert await groups_of(user["id"]) == {managers["id"]}
    response = await admin.patch(path, json={"nickname": "Boss"})  # unrelated: stays
    assert response.status_code == 200, response.text
    assert await groups_of(user["id"]) == {managers["id"]}
    response = await admin.put(f"{path}/enabled", json={"enabled": False})
    assert response.status_code == 200, response.text
    assert await groups_of(user["id"]) == {managers["id"], disabled["id"]}
    response = await admin.put(f"{path}/mfaEnabled", json={"mfaEnabled": True})
    assert response.status_code == 200, response.text
    assert await groups_of(user["id"]) == {managers["id"], disabled["id"], mfa["id"]}
    assert (await move(admin, env_id, user["id"], pop_b)).status_code == 200
    assert await groups_of(user["id"]) == {managers["id"], disabled["id"], mfa["id"], in_b["id"]}
    response = await admin.put(f"{path}/enabled", json={"enabled": True})
    assert response.status_code == 200, response.text
    response = await admin.patch(path, json={"title": None})
    assert response.status_code == 200, response.text
    assert await groups_of(user["id"]) == {mfa["id"], in_b["id"]}
    assert (await move(admin, env_id, user["id"], pop_a)).status_code == 200
    assert await groups_of(user["id"]) == {mfa["id"]}
    assert await counts(admin, env_id, mfa["id"]) == (0, 1)
    assert (await admin.delete(path)).status_code == 204
    for group in (managers, disabled, in_b, mfa):
        assert await counts(admin, env_id, group["id"]) == (0, 0)
        assert await members(admin, env_id, group["id"]) == []


async def test_changing_a_user_filter_recomputes_members(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    pilot = await create_user(admin, env_id, title="Pilot")
    diver = await create_user(admin, env_id, title="Diver")
    direct = await create_user(admin, env_id)
    group = await create_group(admin, env_id, userFilter='title eq "Pilot"')
    await joined(admin, env_id, direct["id"], group["id"])
    assert await members(admin, env_id, group["id"]) == sorted([pilot["id"], direct["id"]])

    async def replace(**fields: Any) -> None:
        response = await admin.put(
            groups_path(env_id, group["id"]), json={"name": group["name"], **fields}
        )
        assert response.status_code == 200, response.text

    await replace(userFilter='title eq "Diver"')
    assert await members(admin, env_id, group["id"]) == sorted([diver["id"], direct["id"]])
    assert await counts(admin, env_id, group["id"]) == (1, 2)
    await replace(userFilter='title eq "Diver"', description="unchanged filter")
    assert await members(admin, env_id, group["id"]) == sorted([diver["id"], direct["id"]])
    await replace()  # no userFilter: a static group again; direct members stay
    assert await members(admin, env_id, group["id"]) == [direct["id"]]
    assert await counts(admin, env_id, group["id"]) == (1, 1)
    assert await group_ids(admin, env_id, diver["id"]) == []
    await replace(userFilter='title sw "p" or title sw "d"')
    expected = sorted(u["id"] for u in (pilot, diver, direct))
    assert await members(admin, env_id, group["id"]) == expected
    assert await counts(admin, env_id, group["id"]) == (1, 3)


async def test_population_dynamic_group_takes_only_its_population(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    pop_a, pop_b = await create_population(admin, env_id), await create_population(admin, env_id)
    in_a = await create_user(admin, env_id, pop_a, title="Chef")
    in_b = await create_user(admin, env_id, pop_b, title="Chef")
    group = await create_group(admin, env_id, pop_a, userFilter="title eq 'Chef'")
    assert await members(admin, env_id, group["id"]) == [in_a["id"]]
    later_b = await create_user(admin, env_id, pop_b, title="Chef")
    later_a = await create_user(admin, env_id, pop_a, title="chef")
    assert await members(admin, env_id, group["id"]) == sorted([in_a["id"], later_a["id"]])
    assert (await move(admin, env_id, in_b["id"], pop_a)).status_code == 200
    assert (await move(admin, env_id, in_a["id"], pop_b)).status_code == 200
    assert await members(admin, env_id, group["id"]) == sorted([in_b["id"], later_a["id"]])
    assert await group_ids(admin, env_id, later_b["id"]) == []
    assert await counts(admin, env_id, group["id"]) == (0, 2)


# -- the memberOfGroups[...] user filter -------------------------------------------------------


MEMBER_FILTER_CASES = [
    ('memberOfGroups[id eq "{red}"]', {"ann", "bob", "cat"}),  # bob direct, ann via blue
    ('memberOfGroups[id eq "{blue}"]', {"ann", "cat"}),  # cat dynamic
    ('memberOfGroups[id eq "{green}"]', {"dan"}),
    ('memberOfGroups[id eq "{empty}"]', set()),
    ('memberOfGroups[id eq "{missing}"]', set()),
    ('memberOfGroups[id eq "{blue}" or id eq "{green}"]', {"ann", "cat", "dan"}),
    ('memberOfGroups[id eq "{red}"] and username sw "b"', {"bob"}),
    ('memberOfGroups[id eq "{red}"] and memberOfGroups[id eq "{green}"]', set()),
    ('memberOfGroups[id eq "{blue}"] or memberOfGroups[id eq "{green}"]', {"ann", "cat", "dan"}),
    ('memberOfGroups[id eq "{green}"] or username eq "ann"', {"ann", "dan"}),
    (
        '(memberOfGroups[id eq "{red}"] or username eq "eve") and enabled eq true',
        {"ann", "cat", "eve"},
    ),
    ('MEMBEROFGROUPS[ID EQ "{green}"]', {"dan"}),
    ('title eq "Diver" and memberOfGroups[id eq "{red}"]', {"cat"}),
]


@pytest.mark.parametrize(("expression", "expected"), MEMBER_FILTER_CASES)
async def test_member_of_groups_filter(
    admin: httpx.AsyncClient, environment: dict[str, Any], expression: str, expected: set[str]
) -> None:
    env_id = environment["id"]
    ids: dict[str, str] = {"missing": str(uuid.uuid4())}
    for name in ("red", "green", "empty"):
        ids[name] = (await create_group(admin, env_id))["id"]
    ids["blue"] = (await create_group(admin, env_id, userFilter="title eq 'Diver'"))["id"]
    users = {}
    for username, fields in (
        ("ann", {}),
        ("bob", {"enabled": False}),
        ("cat", {"title": "Diver"}),
        ("dan", {}),
        ("eve", {}),
    ):
        users[username] = (await create_user(admin, env_id, username=username, **fields))["id"]
    await joined(admin, env_id, users["ann"], ids["blue"])
    await joined(admin, env_id, users["bob"], ids["red"])
    await joined(admin, env_id, users["dan"], ids["green"])
    await nested(admin, env_id, ids["blue"], ids["red"])
    text = expression.format(**ids)
    listed = await list_users(admin, env_id, text)
    assert sorted(u["username"] for u in listed) == sorted(expected)
    # count is the number of matching users, whatever the page size; paging keeps the filter.
    response = await admin.get(users_path(env_id), params={"filter": text, "limit": 1})
    assert response.status_code == 200, response.text
    assert response.json()["count"] == len(expected)
    one_by_one = await list_users(admin, env_id, text, limit=1)
    assert [u["id"] for u in one_by_one] == [u["id"] for u in listed]


@pytest.mark.parametrize(
    "expression",
    [
        'memberOfGroups eq "x"',
        'memberOfGroups[name eq "x"]',
        'memberOfGroups[id sw "x"]',
        'memberOfGroups[id eq "x"',
        'memberOfGroups[id eq "x"]]',
        "memberOfGroups[]",
        'username[id eq "x"]',
        'memberOfGroups[memberOfGroups[id eq "x"]]',
    ],
)
async def test_bad_member_of_groups_filter(
    admin: httpx.AsyncClient, environment: dict[str, Any], expression: str
) -> None:
    response = await admin.get(users_path(environment["id"]), params={"filter": expression})
    assert_error(response, 400, "INVALID_DATA", "INVALID_FILTER", "filter")


# -- who may do what --------------------------------------------------------------------------


async def scoped_world(admin: httpx.AsyncClient, env_id: str) -> Json:
    """Populations P (the scoped one) and Q; groups of the environment, of P and of Q; a user of
    P in all the groups it may join, a user of Q in Q's and the environment's group."""
    p, q = await create_population(admin, env_id), await create_population(admin, env_id)
    world: Json = {"P": p, "Q": q}
    world["env_group"] = await create_group(admin, env_id, name="Everyone")
    world["p_group"] = await create_group(admin, env_id, p, name="P crew")
    world["p_other"] = await create_group(admin, env_id, p, name="P other")
    world["q_group"] = await create_group(admin, env_id, q, name="Q crew")
    world["p_user"] = await create_user(admin, env_id, p)
    world["q_user"] = await create_user(admin, env_id, q)
    for user, group in (
        ("p_user", "env_group"),
        ("p_user", "p_group"),
        ("q_user", "env_group"),
        ("q_user", "q_group"),
    ):
        await joined(admin, env_id, world[user]["id"], world[group]["id"])
    await nested(admin, env_id, world["p_group"]["id"], world["env_group"]["id"])
    await nested(admin, env_id, world["p_group"]["id"], world["p_other"]["id"])
    return world


async def test_population_scoped_admin_manages_only_its_groups(
    admin: httpx.AsyncClient, environment: dict[str, Any], make_actor: Any
) -> None:
    env_id = environment["id"]
    w = await scoped_world(admin, env_id)
    ida = (await make_actor(("Identity Data Admin", "POPULATION", w["P"]))).client
    hidden = [w["env_group"], w["q_group"]]
    before = {g["id"]: g for g in await list_groups(admin, env_id)}

    # Lists and reads: only P's groups, whatever the filter asks for.
    mine = sorted([w["p_group"]["id"], w["p_other"]["id"]])
    assert sorted(g["id"] for g in await list_groups(ida, env_id)) == mine
    assert await list_groups(ida, env_id, f'id eq "{w["env_group"]["id"]}"') == []
    assert await list_groups(ida, env_id, f'population.id eq "{w["Q"]}"') == []
    page = (await ida.get(groups_path(env_id))).json()
    assert page["count"] == 2
    assert await read_group(ida, env_id, w["p_group"]["id"]) == before[w["p_group"]["id"]]
    missing = await ida.get(groups_path(env_id, str(uuid.uuid4())))
    for group in hidden:
        path = groups_path(env_id, group["id"])
        for response in (
            await ida.get(path),
            await ida.get(path, params={"include": "totalMemberCounts"}),
            await ida.put(path, json={"name": "taken over"}),
            await ida.delete(path),
            await ida.post(f"{path}/memberOfGroups", json={"id": w["p_group"]["id"]}),
        ):
            assert_error(response, 404, "NOT_FOUND")
            assert response.json()["message"] == missing.json()["message"]

    # Creates only in P.
    for body in ({"name": "env-level"}, {"name": "in Q", "population": {"id": w["Q"]}}):
        assert_error(await ida.post(groups_path(env_id), json=body), 403, "ACCESS_FAILED")
    made = await create_group(ida, env_id, w["P"], name="made by ida")
    # P's groups are its to replace and nest (into P's groups only) and delete.
    response = await ida.put(
        groups_path(env_id, made["id"]), json={"name": "renamed", "population": {"id": w["P"]}}
    )
    assert response.status_code == 200, response.text
    await nested(ida, env_id, made["id"], w["p_other"]["id"])
    for parent in hidden:
        response = await nest(ida, env_id, made["id"], parent["id"])
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "id")
    assert (await ida.delete(groups_path(env_id, made["id"]))).status_code == 204
    assert {g["id"]: g for g in await list_groups(admin, env_id)} == before


async def test_population_scoped_actors_list_nestings(
    admin: httpx.AsyncClient, environment: dict[str, Any], make_actor: Any
) -> None:
    """A population-scoped reader lists the groups its group is nested into: those it may
    see. Found broken: the list answers 500 (it declares no column to limit by)."""
    env_id = environment["id"]
    w = await scoped_world(admin, env_id)
    for role in ("Identity Data Admin", "Identity Data Read Only"):
        actor = (await make_actor((role, "POPULATION", w["P"]))).client
        response = await actor.get(nestings_path(env_id, w["p_group"]["id"]))
        assert response.status_code == 200, (role, response.text)
        assert [g["id"] for g in response.json()["_embedded"]["groupMemberships"]] == [
            w["p_other"]["id"]
        ]
        for group in (w["env_group"], w["q_group"]):
            response = await actor.get(nestings_path(env_id, group["id"]))
            assert_error(response, 404, "NOT_FOUND")


async def test_population_scoped_admin_cannot_touch_environment_group_nestings(
    admin: httpx.AsyncClient, environment: dict[str, Any], make_actor: Any
) -> None:
    """P's group is nested into an environment group: for the population-scoped admin that
    nesting is of a group it cannot see. Reading it is 404; removing it (which changes the
    environment group's members) is 404 and changes nothing."""
    env_id = environment["id"]
    w = await scoped_world(admin, env_id)
    ida = (await make_actor(("Identity Data Admin", "POPULATION", w["P"]))).client
    path = nestings_path(env_id, w["p_group"]["id"], w["env_group"]["id"])
    problems = [
        f"{response.request.method} {path}: {response.status_code} {response.text}"
        for response in (await ida.get(path), await ida.delete(path))
        if response.status_code != 404
    ]
    if (await admin.get(path)).status_code != 200:
        problems.append("the environment group's nesting was removed")
    assert not problems, "\n".join(problems)
    assert await counts(admin, env_id, w["env_group"]["id"]) == (2, 2)
    # Its own nesting (into a group of P) is its to read and remove.
    own = nestings_path(env_id, w["p_group"]["id"], w["p_other"]["id"])
    assert (await ida.get(own)).status_code == 200
    assert (await ida.delete(own)).status_code == 204


async def test_population_scoped_admin_manages_only_its_users_memberships(
    admin: httpx.AsyncClient, environment: dict[str, Any], make_actor: Any
) -> None:
    env_id = environment["id"]
    w = await scoped_world(admin, env_id)
    ida = (await make_actor(("Identity Data Admin", "POPULATION", w["P"]))).client
    p_user, q_user = w["p_user"]["id"], w["q_user"]["id"]

    # Its user's memberships: only those in P's groups are visible.
    assert [g["id"] for g in await direct_groups(ida, env_id, p_user)] == [w["p_group"]["id"]]
    assert (await ida.get(memberships_path(env_id, p_user, w["p_group"]["id"]))).status_code == 200
    for group in (w["env_group"], w["q_group"]):
        path = memberships_path(env_id, p_user, group["id"])
        assert_error(await ida.get(path), 404, "NOT_FOUND")
        assert_error(await ida.delete(path), 404, "NOT_FOUND")
        response = await join(ida, env_id, p_user, group["id"])
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "id")
    await joined(ida, env_id, p_user, w["p_other"]["id"])
    removed = await ida.delete(memberships_path(env_id, p_user, w["p_other"]["id"]))
    assert removed.status_code == 204, removed.text

    # Another population's user is not found, exactly like a missing one: its memberships too.
    problems = []
    for user_id in (q_user, str(uuid.uuid4())):
        for response in (
            await ida.get(memberships_path(env_id, user_id)),
            await ida.get(memberships_path(env_id, user_id, w["q_group"]["id"])),
            await ida.delete(memberships_path(env_id, user_id, w["env_group"]["id"])),
            await join(ida, env_id, user_id, w["p_group"]["id"]),
        ):
            if response.status_code != 404 or response.json()["code"] != "NOT_FOUND":
                request = response.request
                problems.append(f"{request.method} {request.url.path}: {brief(response)}")
    assert not problems, "\n".join(problems)
    assert {g["id"] for g in await direct_groups(admin, env_id, q_user)} == {
        w["env_group"]["id"],
        w["q_group"]["id"],
    }
    assert await counts(admin, env_id, w["env_group"]["id"]) == (2, 2)


async def test_population_scoped_admin_learns_nothing_of_other_groups_through_users(
    admin: httpx.AsyncClient, environment: dict[str, Any], make_actor: Any
) -> None:
    """Groups outside a population-scoped admin's reach are not found for it; a user's
    ``include=memberOfGroupIDs|memberOfGroupNames`` and ``memberOfGroups[...]`` filter must
    not reveal them either (their ids, names, or who is in them)."""
    env_id = environment["id"]
    w = await scoped_world(admin, env_id)
    ida = (await make_actor(("Identity Data Admin", "POPULATION", w["P"]))).client
    response = await ida.get(
        users_path(env_id, w["p_user"]["id"]),
        params={"include": "memberOfGroupIDs,memberOfGroupNames"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    visible = {w["p_group"]["id"]: "P crew", w["p_other"]["id"]: "P other"}
    problems = []
    if sorted(body["memberOfGroupIDs"]) != sorted(visible):
        problems.append(f"memberOfGroupIDs: {body['memberOfGroupIDs']}, visible: {list(visible)}")
    if sorted(body["memberOfGroupNames"]) != sorted(visible.values()):
        problems.append(f"memberOfGroupNames: {body['memberOfGroupNames']}")
    text = f'memberOfGroups[id eq "{w["env_group"]["id"]}"]'
    assert [u["id"] for u in await list_users(admin, env_id, text)] != []
    found = [u["id"] for u in await list_users(ida, env_id, text)]
    if found:
        problems.append(f"{text} lists {found} for the population-scoped admin")
    assert not problems, "\n".join(problems)


async def test_identity_data_read_only_reads_but_never_changes(
    admin: httpx.AsyncClient, environment: dict[str, Any], make_actor: Any
) -> None:
    env_id = environment["id"]
    w = await scoped_world(admin, env_id)
    reader = (await make_actor(("Identity Data Read Only", "ENVIRONMENT", env_id))).client
    before = {g["id"]: g for g in await list_groups(admin, env_id)}
    assert {g["id"]: g for g in await list_groups(reader, env_id)} == before
    group_id, user_id = w["p_group"]["id"], w["p_user"]["id"]
    assert (await reader.get(groups_path(env_id, group_id))).status_code == 200
    assert (await counts(reader, env_id, group_id)) == (1, 1)
    assert len(await parents_of(reader, env_id, group_id)) == 2
    path = nestings_path(env_id, group_id, w["env_group"]["id"])
    assert (await reader.get(path)).status_code == 200
    assert len(await direct_groups(reader, env_id, user_id)) == 2
    assert (await reader.get(memberships_path(env_id, user_id, group_id))).status_code == 200
    assert len(await group_ids(reader, env_id, user_id)) == 3
    assert await members(reader, env_id, group_id) == [user_id]
    for response in (
        await reader.post(groups_path(env_id), json={"name": "new"}),
        await reader.put(groups_path(env_id, group_id), json={"name": "renamed"}),
        await reader.delete(groups_path(env_id, group_id)),
        await nest(reader, env_id, w["q_group"]["id"], w["env_group"]["id"]),
        await reader.delete(path),
        await join(reader, env_id, user_id, w["p_other"]["id"]),
        await reader.delete(memberships_path(env_id, user_id, group_id)),
    ):
        assert_error(response, 403, "ACCESS_FAILED")
    assert {g["id"]: g for g in await list_groups(admin, env_id)} == before
    assert len(await direct_groups(admin, env_id, user_id)) == 2


@pytest.mark.parametrize("role", ["Environment Admin", "Client Application Developer"])
async def test_environment_roles_read_groups_only(
    admin: httpx.AsyncClient, environment: dict[str, Any], make_actor: Any, role: str
) -> None:
    env_id = environment["id"]
    w = await scoped_world(admin, env_id)
    actor = (await make_actor((role, "ENVIRONMENT", env_id))).client
    before = {g["id"]: g for g in await list_groups(admin, env_id)}
    assert {g["id"]: g for g in await list_groups(actor, env_id)} == before
    group_id, user_id = w["p_group"]["id"], w["p_user"]["id"]
    assert (await actor.get(groups_path(env_id, group_id))).status_code == 200
    assert len(await parents_of(actor, env_id, group_id)) == 2
    for response in (
        await actor.post(groups_path(env_id), json={"name": "new"}),
        await actor.put(groups_path(env_id, group_id), json={"name": "renamed"}),
        await actor.delete(groups_path(env_id, group_id)),
        await nest(actor, env_id, w["q_group"]["id"], w["env_group"]["id"]),
        await actor.get(memberships_path(env_id, user_id)),
        await join(actor, env_id, user_id, w["p_other"]["id"]),
        await actor.delete(memberships_path(env_id, user_id, group_id)),
    ):
        assert_error(response, 403, "ACCESS_FAILED")
    assert {g["id"]: g for g in await list_groups(admin, env_id)} == before


async def test_actor_of_another_environment_reaches_no_groups(
    admin: httpx.AsyncClient, make_environment: Any, make_actor: Any
) -> None:
    env_id, other_env = (await make_environment())["id"], (await make_environment())["id"]
    w = await scoped_world(admin, env_id)
    outsider = (await make_actor(("Identity Data Admin", "ENVIRONMENT", other_env))).client
    foreign_group = await create_group(admin, other_env)
    group_id, user_id = w["p_group"]["id"], w["p_user"]["id"]
    before = {g["id"]: g for g in await list_groups(admin, env_id)}
    for response in (
        await outsider.get(groups_path(env_id)),
        await outsider.get(groups_path(env_id, group_id)),
        await outsider.post(groups_path(env_id), json={"name": "new"}),
        await outsider.put(groups_path(env_id, group_id), json={"name": "renamed"}),
        await outsider.delete(groups_path(env_id, group_id)),
        await outsider.get(nestings_path(env_id, group_id)),
        await nest(outsider, env_id, group_id, w["env_group"]["id"]),
        await outsider.get(memberships_path(env_id, user_id)),
        await join(outsider, env_id, user_id, w["p_other"]["id"]),
        await outsider.delete(memberships_path(env_id, user_id, group_id)),
        # Its own environment's group, named through this environment's user: not found.
        await join(outsider, other_env, user_id, foreign_group["id"]),
    ):
        assert response.status_code in (403, 404), response.text
    assert {g["id"]: g for g in await list_groups(admin, env_id)} == before
    assert len(await direct_groups(admin, env_id, user_id)) == 2


# -- nesting graphs: the recursive SQL always ends ----------------------------------------------


async def build_ring(
    admin: httpx.AsyncClient, env_id: str, size: int
) -> tuple[list[str], list[str]]:
    """``size`` groups, each with one direct user, group i nested into group i+1 (a chain),
    the last one into the first (a cycle) when size > 1. Returns (group ids, user ids)."""
    groups = [(await create_group(admin, env_id, name=f"ring-{i}"))["id"] for i in range(size)]
    users = [(await create_user(admin, env_id))["id"] for _ in range(size)]
    for user_id, group_id in zip(users, groups, strict=True):
        await joined(admin, env_id, user_id, group_id)
    for i in range(size - 1):
        await nested(admin, env_id, groups[i], groups[i + 1])
    if size > 1:
        await nested(admin, env_id, groups[-1], groups[0])
    return groups, users


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
async def test_nesting_cycles_end(
    admin: httpx.AsyncClient, environment: dict[str, Any], size: int
) -> None:
    """A cycle of ``size`` groups (1: a group cannot be nested into itself at all): every group
    holds every user of the cycle, once."""
    env_id = environment["id"]
    groups, users = await build_ring(admin, env_id, size)
    if size == 1:
        response = await bounded(nest(admin, env_id, groups[0], groups[0]))
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "id")
    # One user in every group of the cycle, directly, is still one user.
    extra = await create_user(admin, env_id)
    for group_id in groups:
        await joined(admin, env_id, extra["id"], group_id)
    everyone = sorted([*users, extra["id"]])
    for group_id in groups:
        assert await bounded(counts(admin, env_id, group_id)) == (2, size + 1)
        assert await bounded(members(admin, env_id, group_id)) == everyone
    for user_id in everyone:
        assert await bounded(group_ids(admin, env_id, user_id)) == sorted(groups)
    anywhere = " or ".join(f'memberOfGroups[id eq "{g}"]' for g in groups)
    listed = await bounded(list_users(admin, env_id, anywhere))
    assert sorted(u["id"] for u in listed) == everyone


async def test_chain_of_fifty_nested_groups(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """g0 in g1 in ... in g49, one user in each: g_k holds k+1 users; closing the chain into a
    cycle makes every group hold all fifty."""
    env_id = environment["id"]
    size = 50
    groups = [(await create_group(admin, env_id, name=f"chain-{i:02}"))["id"] for i in range(size)]
    users = [(await create_user(admin, env_id))["id"] for _ in range(size)]
    for user_id, group_id in zip(users, groups, strict=True):
        await joined(admin, env_id, user_id, group_id)
    for i in range(size - 1):
        await nested(admin, env_id, groups[i], groups[i + 1])
    for k in (0, 1, 24, 48, 49):
        assert await bounded(counts(admin, env_id, groups[k])) == (1, k + 1)
        assert await bounded(members(admin, env_id, groups[k])) == sorted(users[: k + 1])
    assert await bounded(group_ids(admin, env_id, users[0])) == sorted(groups)
    assert await bounded(group_ids(admin, env_id, users[49])) == [groups[49]]
    assert await bounded(group_ids(admin, env_id, users[30])) == sorted(groups[30:])
    # A dynamic group at the bottom of the chain reaches the top.
    diver = await create_user(admin, env_id, title="Diver")
    bottom = await create_group(admin, env_id, userFilter="title eq 'Diver'")
    await nested(admin, env_id, bottom["id"], groups[0])
    assert await bounded(counts(admin, env_id, groups[49])) == (1, size + 1)
    assert len(await bounded(group_ids(admin, env_id, diver["id"]))) == size + 1

    await nested(admin, env_id, groups[-1], groups[0])  # the chain becomes a cycle
    everyone = sorted([*users, diver["id"]])
    for k in (0, 25, 49):
        assert await bounded(counts(admin, env_id, groups[k])) == (1, size + 1)
        assert await bounded(members(admin, env_id, groups[k])) == everyone
    assert await bounded(group_ids(admin, env_id, users[49])) == sorted(groups)


async def test_densely_nested_groups(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    """Every group nested into every other (56 nestings among 8 groups: many paths between any
    two): each answer still lists each user once."""
    env_id = environment["id"]
    groups = [(await create_group(admin, env_id))["id"] for _ in range(8)]
    users = [(await create_user(admin, env_id))["id"] for _ in range(8)]
    for user_id, group_id in zip(users, groups, strict=True):
        await joined(admin, env_id, user_id, group_id)
    for child, parent in itertools.permutations(groups, 2):
        await nested(admin, env_id, child, parent)
    for group_id in groups:
        assert await bounded(counts(admin, env_id, group_id)) == (1, 8)
        assert await bounded(members(admin, env_id, group_id)) == sorted(users)
    assert await bounded(group_ids(admin, env_id, users[3])) == sorted(groups)
    both = f'memberOfGroups[id eq "{groups[0]}"] and memberOfGroups[id eq "{groups[7]}"]'
    assert sorted(u["id"] for u in await bounded(list_users(admin, env_id, both))) == sorted(users)


# -- concurrent writes keep the rules ----------------------------------------------------------


async def test_concurrent_identical_nestings(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """The same nesting asked for by several clients at once: one is made, the others are
    told it exists (never a 500)."""
    env_id = environment["id"]
    child = await create_group(admin, env_id)
    for _ in range(3):
        parent = await create_group(admin, env_id)
        answers = await asyncio.gather(
            *(nest(admin, env_id, child["id"], parent["id"]) for _ in range(6))
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [201] + [400] * 5, [brief(r) for r in answers]
        for refused in (r for r in answers if r.status_code == 400):
            assert_error(refused, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", "id")
    assert len(await parents_of(admin, env_id, child["id"])) == 3


async def test_concurrent_names_across_scopes(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """An environment group and a population group of the same name created at once: the
    rule (a population group never shares an environment group's name) still holds."""
    env_id = environment["id"]
    pop_id = await create_population(admin, env_id)
    problems = []
    for i in range(5):
        name = f"race-{i}"
        answers = await asyncio.gather(
            admin.post(groups_path(env_id), json={"name": name}),
            admin.post(groups_path(env_id), json={"name": name, "population": {"id": pop_id}}),
        )
        statuses = [r.status_code for r in answers]
        if sorted(statuses) != [201, 400]:
            problems.append(f"{name}: {[brief(r) for r in answers]}")
    named = [g["name"] for g in await list_groups(admin, env_id)]
    duplicated = sorted(name for name in set(named) if named.count(name) > 1)
    assert not problems and not duplicated, (problems, duplicated)


async def test_users_created_with_a_dynamic_group_join_it(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """A dynamic group and matching users created at the same time: once all are answered,
    every matching user is a member, whichever write committed first (three rounds)."""
    env_id = environment["id"]
    problems = []
    for round_ in range(3):
        title = f"Zed{round_}"
        answers = await asyncio.gather(
            admin.post(
                groups_path(env_id), json={"name": title, "userFilter": f"title eq '{title}'"}
            ),
            *(
                admin.post(
                    users_path(env_id),
                    json={"username": unique(), "email": "z@x.co", "title": title},
                )
                for _ in range(8)
            ),
        )
        assert [r.status_code for r in answers] == [201] * 9, [brief(r) for r in answers]
        group_id = answers[0].json()["id"]
        expected = sorted(r.json()["id"] for r in answers[1:])
        found = await members(admin, env_id, group_id)
        total = (await counts(admin, env_id, group_id))[1]
        if found != expected or total != 8:
            missing = sorted(set(expected) - set(found))
            problems.append(f"round {round_}: totalMemberCounts {total} of 8; missing {missing}")
    assert not problems, "\n".join(problems)


async def test_roles_go_to_static_groups_only(
    admin: httpx.AsyncClient, environment: dict[str, Any], role_ids: dict[str, str]
) -> None:
    """PingOne assigns roles to static groups only: a group with a userFilter gets none, and a
    group holding roles cannot be given a userFilter. Each refusal changes nothing."""
    env_id = environment["id"]
    role = {
        "role": {"id": role_ids["Identity Data Read Only"]},
        "scope": {"type": "ENVIRONMENT", "id": env_id},
    }
    dynamic = await create_group(admin, env_id, userFilter='title eq "Boss"')
    response = await admin.post(f"{groups_path(env_id, dynamic['id'])}/roleAssignments", json=role)
    assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "role.id")
    listed = await admin.get(f"{groups_path(env_id, dynamic['id'])}/roleAssignments")
    assert listed.json()["_embedded"]["roleAssignments"] == []

    static = await create_group(admin, env_id)
    assigned = await admin.post(f"{groups_path(env_id, static['id'])}/roleAssignments", json=role)
    assert assigned.status_code == 201, assigned.text
    response = await admin.put(
        groups_path(env_id, static["id"]),
        json={"name": static["name"], "userFilter": 'title eq "x"'},
    )
    assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "userFilter")
    assert "userFilter" not in await read_group(admin, env_id, static["id"])


async def test_membership_confers_only_roles_the_actor_could_grant(
    admin: httpx.AsyncClient,
    environment: dict[str, Any],
    make_actor: Any,
    role_ids: dict[str, str],
) -> None:
    """A member of a group holds the group's roles (and those of the groups it is nested
    into): adding a user, or nesting a group, into it is granting them. An Identity Data
    Admin may manage memberships, but not make someone an Environment Admin that way."""
    env_id = environment["id"]
    admins = await create_group(admin, env_id, name="Admins")
    inner = await create_group(admin, env_id, name="Inner")
    await nested(admin, env_id, inner["id"], admins["id"])
    role = {
        "role": {"id": role_ids["Environment Admin"]},
        "scope": {"type": "ENVIRONMENT", "id": env_id},
    }
    granted = await admin.post(f"{groups_path(env_id, admins['id'])}/roleAssignments", json=role)
    assert granted.status_code == 201, granted.text
    user = await create_user(admin, env_id)
    plain = await create_group(admin, env_id, name="Plain")
    ida = (await make_actor(("Identity Data Admin", "ENVIRONMENT", env_id))).client
    for group in (admins, inner):  # directly, and through the nesting
        assert_error(await join(ida, env_id, user["id"], group["id"]), 403, "ACCESS_FAILED")
    assert_error(await nest(ida, env_id, plain["id"], admins["id"]), 403, "ACCESS_FAILED")
    assert await direct_groups(admin, env_id, user["id"]) == []
    assert await parents_of(admin, env_id, plain["id"]) == []
    # A group without roles is the Identity Data Admin's to fill; the organization's
    # administrator may fill the role-holding one.
    await joined(ida, env_id, user["id"], plain["id"])
    await joined(admin, env_id, user["id"], admins["id"])


async def test_roles_never_reach_dynamic_members_through_nesting(
    admin: httpx.AsyncClient, environment: dict[str, Any], role_ids: dict[str, str]
) -> None:
    """Roles go to static groups only, nesting included: a dynamic group cannot join a group
    that holds roles, a group with a dynamic group inside gets no roles, and a group nested
    into a role-holding one cannot be given a userFilter."""
    env_id = environment["id"]
    role = {
        "role": {"id": role_ids["Identity Data Read Only"]},
        "scope": {"type": "ENVIRONMENT", "id": env_id},
    }
    holder = await create_group(admin, env_id, name="Holder")
    assigned = await admin.post(f"{groups_path(env_id, holder['id'])}/roleAssignments", json=role)
    assert assigned.status_code == 201, assigned.text
    dynamic = await create_group(admin, env_id, name="Dynamic", userFilter='title eq "x"')
    assert_error(await nest(admin, env_id, dynamic["id"], holder["id"]), 400, "INVALID_DATA",
                 "INVALID_VALUE", "id")  # fmt: skip
    static = await create_group(admin, env_id, name="Static")
    await nested(admin, env_id, static["id"], holder["id"])
    response = await admin.put(
        groups_path(env_id, static["id"]), json={"name": "Static", "userFilter": 'title eq "x"'}
    )
    assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "userFilter")
    wrapper = await create_group(admin, env_id, name="Wrapper")
    await nested(admin, env_id, dynamic["id"], wrapper["id"])
    response = await admin.post(f"{groups_path(env_id, wrapper['id'])}/roleAssignments", json=role)
    assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "role.id")
    assert [g["id"] for g in await parents_of(admin, env_id, dynamic["id"])] == [wrapper["id"]]


async def test_deeply_nested_custom_data_is_refused(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    deep: Any = 1
    for _ in range(900):
        deep = [deep]
    for custom in ({"a": deep}, {"big": "x" * (70 * 1024)}):
        response = await admin.post(groups_path(env_id), json={"name": "x", "customData": custom})
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "customData")
    assert await list_groups(admin, env_id) == []


async def test_role_assignments_of_users_tell_nothing_to_those_who_cannot_read_users(
    environment: dict[str, Any], make_actor: Any, role_ids: dict[str, str], admin: httpx.AsyncClient
) -> None:
    """An Environment Admin may manage role assignments but not read users: a user's
    roleAssignments answer 403 whether or not the user exists."""
    env_id = environment["id"]
    user = await create_user(admin, env_id)
    env_admin = (await make_actor(("Environment Admin", "ENVIRONMENT", env_id))).client
    role = {
        "role": {"id": role_ids["Identity Data Read Only"]},
        "scope": {"type": "ENVIRONMENT", "id": env_id},
    }
    for user_id in (user["id"], str(uuid.uuid4())):
        path = f"{users_path(env_id)}/{user_id}/roleAssignments"
        assert_error(await env_admin.post(path, json=role), 403, "ACCESS_FAILED")
