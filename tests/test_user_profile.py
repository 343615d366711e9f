"""The complete PingOne user over HTTP: the attributes every user carries, the profile
attributes and their checks, PUT (replaces everything) against PATCH (changes what it names),
the ``enabled`` and ``mfaEnabled`` endpoints, ``count`` and the filters on the new attributes."""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import httpx
import pytest

from tests.support import assert_error, unique
from tests.test_users import (
    create_population,
    create_user,
    list_users,
    user_body,
    users_path,
)

Json = dict[str, Any]
BASE = "http://populace.test"

# Every optional attribute a user may carry (a fresh copy per use: tests change it).
PROFILE: Json = {
    "externalId": "ext-0001",
    "name": {
        "given": "Ada",
        "family": "Lovelace",
        "middle": "King",
        "formatted": "Ada King Lovelace",
        "honorificPrefix": "Lady",
        "honorificSuffix": "FRS",
    },
    "address": {
        "streetAddress": "12 St James's Square",
        "locality": "London",
        "region": "Westminster",
        "postalCode": "SW1Y 4JH",
        "countryCode": "GB",
    },
    "locale": "en-GB",
    "nickname": "Ada",
    "title": "Analyst",
    "type": "Employee",
    "preferredLanguage": "en-GB",
    "timezone": "Europe/London",
    "mobilePhone": "+44 20 7946 0000",
    "primaryPhone": "+44 20 7946 0001",
    "photo": {"href": "https://example.com/ada.png"},
}
PROFILE_KEYS = set(PROFILE) - {"name"}
DEFAULTS: Json = {
    "account": {"canAuthenticate": True, "status": "OK"},
    "emailVerified": False,
    "enabled": True,
    "identityProvider": {"type": "PING_ONE"},
    "lifecycle": {"status": "ACCOUNT_OK"},
    "mfaEnabled": False,
    "verifyStatus": "NOT_INITIATED",
}


def profile(**changes: Any) -> Json:
    return {**copy.deepcopy(PROFILE), **changes}


def set_at(body: Json, target: str, value: Any) -> Json:
    """A copy of ``body`` with ``value`` at a dotted ``target`` (``address.countryCode``)."""
    result = copy.deepcopy(body)
    node = result
    *parents, leaf = target.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return result


async def read_user(client: httpx.AsyncClient, env_id: str, user_id: str) -> Json:
    response = await client.get(users_path(env_id, user_id))
    assert response.status_code == 200, response.text
    return dict(response.json())


def flag_path(env_id: str, user_id: str, flag: str) -> str:
    return f"{users_path(env_id, user_id)}/{flag}"


# -- what every user carries --------------------------------------------------------------------


async def test_new_user_defaults(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    env_id = environment["id"]
    user = await create_user(admin, env_id)
    assert {key: user[key] for key in DEFAULTS} == DEFAULTS
    assert not PROFILE_KEYS & set(user), user
    assert "name" not in user
    assert await read_user(admin, env_id, user["id"]) == user
    (listed,) = await list_users(admin, env_id)
    assert listed == user


async def test_create_complete_user(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    env_id = environment["id"]
    body = user_body(**profile(), mfaEnabled=True)
    response = await admin.post(users_path(env_id), json=body)
    assert response.status_code == 201, response.text
    user = response.json()
    for key, value in PROFILE.items():
        assert user[key] == value, key
    assert user["mfaEnabled"] is True
    assert {k: v for k, v in user.items() if k in DEFAULTS and k != "mfaEnabled"} == {
        k: v for k, v in DEFAULTS.items() if k != "mfaEnabled"
    }
    assert await read_user(admin, env_id, user["id"]) == user
    (listed,) = await list_users(admin, env_id)
    assert listed == user


async def test_created_disabled_user_cannot_authenticate(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    user = await create_user(admin, env_id, enabled=False, mfaEnabled=False)
    assert user["enabled"] is False
    assert user["account"] == {"canAuthenticate": False, "status": "OK"}
    assert user["mfaEnabled"] is False


async def test_read_only_attributes_are_never_set(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    forged = {
        "account": {"canAuthenticate": False, "status": "LOCKED"},
        "emailVerified": True,
        "identityProvider": {"type": "SAML", "id": str(uuid.uuid4())},
        "lifecycle": {"status": "VERIFICATION_REQUIRED"},
        "verifyStatus": "ENABLED",
        "memberOfGroupIDs": [str(uuid.uuid4())],
        "memberOfGroupNames": ["Admins"],
    }
    user = await create_user(admin, env_id, **forged)
    assert {key: user[key] for key in DEFAULTS} == DEFAULTS
    assert "memberOfGroupIDs" not in user and "memberOfGroupNames" not in user
    path = users_path(env_id, user["id"])
    for method in ("PUT", "PATCH"):
        body = {"username": user["username"], "email": user["email"], **forged}
        response = await admin.request(method, path, json=body)
        assert response.status_code == 200, response.text
        assert {key: response.json()[key] for key in DEFAULTS} == DEFAULTS


# -- profile checks -----------------------------------------------------------------------------


def text_of(length: int, target: str) -> str:
    """A value of ``length`` characters that is well formed for ``target``."""
    if target == "preferredLanguage":  # subtags of at most 8 characters
        return {
            35: "abcdefgh-12345678-12345678-12345678",
            36: "abcdefgh-12345678-1234567-1234567-12",
        }[length]
    if target == "timezone":
        return "Zone/" + "a" * (length - 5)
    if target == "photo.href":
        return "https://example.com/" + "p" * (length - 20)
    if target == "address.countryCode":
        return "GB"[:length] if length <= 2 else "G" * length
    return "x" * length


LIMITS = [
    ("externalId", 1024),
    ("locale", 256),
    ("nickname", 256),
    ("title", 256),
    ("type", 256),
    ("preferredLanguage", 35),
    ("timezone", 64),
    ("mobilePhone", 32),
    ("primaryPhone", 32),
    ("name.honorificPrefix", 256),
    ("name.honorificSuffix", 256),
    ("address.streetAddress", 256),
    ("address.locality", 256),
    ("address.region", 256),
    ("address.postalCode", 40),
    ("address.countryCode", 2),
    ("photo.href", 2048),
]


@pytest.mark.parametrize(("target", "limit"), LIMITS)
async def test_profile_attribute_lengths(
    admin: httpx.AsyncClient, environment: dict[str, Any], target: str, limit: int
) -> None:
    env_id = environment["id"]
    longest = text_of(limit, target)
    assert len(longest) == limit
    user = await create_user(admin, env_id, **set_at({}, target, longest))
    shown: Any = user
    for part in target.split("."):
        shown = shown[part]
    assert shown == longest
    too_long = text_of(limit + 1, target)
    assert len(too_long) == limit + 1
    response = await admin.post(users_path(env_id), json=set_at(user_body(), target, too_long))
    assert_error(response, 400, "INVALID_DATA", "SIZE_LIMIT_EXCEEDED", target)
    for method in ("PUT", "PATCH"):
        body = set_at({"username": user["username"], "email": user["email"]}, target, too_long)
        response = await admin.request(method, users_path(env_id, user["id"]), json=body)
        assert_error(response, 400, "INVALID_DATA", "SIZE_LIMIT_EXCEEDED", target)
    assert await read_user(admin, env_id, user["id"]) == user
    assert len(await list_users(admin, env_id)) == 1


MALFORMED = [
    ("preferredLanguage", "en_US"),
    ("preferredLanguage", "-en"),
    ("preferredLanguage", "en-"),
    ("preferredLanguage", "english language"),
    ("preferredLanguage", "abcdefghi"),
    ("timezone", "America Chicago"),
    ("timezone", "America//Chicago"),
    ("timezone", "/UTC"),
    ("timezone", "Europe/London/"),
    ("timezone", "Europe/Zürich"),
    ("address.countryCode", "gb"),
    ("address.countryCode", "G1"),
    ("address.countryCode", "G"),
    ("photo.href", "ftp://example.com/a.png"),
    ("photo.href", "example.com/a.png"),
    ("photo.href", "https://"),
    ("photo.href", "https://example.com/a b.png"),
    ("photo.href", "javascript:alert(1)"),
    ("nickname", "bell\x07"),
    ("title", "del\x7f"),
    ("address.locality", "line\nbreak"),
    ("name.honorificPrefix", "c1\x85"),
    ("externalId", "tab\there"),
]


@pytest.mark.parametrize(("target", "value"), MALFORMED)
async def test_profile_attribute_patterns(
    admin: httpx.AsyncClient, environment: dict[str, Any], target: str, value: str
) -> None:
    env_id = environment["id"]
    response = await admin.post(users_path(env_id), json=set_at(user_body(), target, value))
    assert_error(response, 400, "INVALID_DATA", target=target)
    assert [d.get("target") for d in response.json()["details"]] == [target]
    user = await create_user(admin, env_id)
    for method in ("PUT", "PATCH"):
        body = set_at({"username": user["username"], "email": user["email"]}, target, value)
        response = await admin.request(method, users_path(env_id, user["id"]), json=body)
        assert_error(response, 400, "INVALID_DATA", target=target)
    assert await list_users(admin, env_id) == [user]


@pytest.mark.parametrize(
    ("target", "value"),
    [
        ("preferredLanguage", "en"),
        ("preferredLanguage", "zh-Hant-TW"),
        ("preferredLanguage", "de-CH-1901"),
        ("timezone", "UTC"),
        ("timezone", "America/Argentina/Buenos_Aires"),
        ("timezone", "Etc/GMT+5"),
        ("timezone", "Etc/GMT-14"),
        ("photo.href", "http://example.com/p.jpg"),
        ("photo.href", "https://cdn.example.com/a/b?c=d&e=f#g"),
        ("address.countryCode", "US"),
        ("mobilePhone", "+1 (555) 010-0000"),
        ("nickname", "Ωmega 🙂"),
        ("address.streetAddress", "Straße 1"),
    ],
)
async def test_well_formed_profile_values(
    admin: httpx.AsyncClient, environment: dict[str, Any], target: str, value: str
) -> None:
    user = await create_user(admin, environment["id"], **set_at({}, target, value))
    shown: Any = await read_user(admin, environment["id"], user["id"])
    for part in target.split("."):
        shown = shown[part]
    assert shown == value


@pytest.mark.parametrize(
    "target",
    [
        "externalId",
        "locale",
        "nickname",
        "title",
        "type",
        "primaryPhone",
        "name.honorificPrefix",
        "name.honorificSuffix",
        "address.streetAddress",
        "address.locality",
        "address.region",
        "address.postalCode",
    ],
)
async def test_empty_profile_values_are_refused(
    admin: httpx.AsyncClient, environment: dict[str, Any], target: str
) -> None:
    """PingOne's attributes are 1 to N characters: an empty one is refused, naming it."""
    env_id = environment["id"]
    response = await admin.post(users_path(env_id), json=set_at(user_body(), target, ""))
    assert_error(response, 400, "INVALID_DATA", target=target)
    assert await list_users(admin, env_id) == []


@pytest.mark.parametrize(
    ("fields", "target"),
    [
        ({"address": "Main St"}, "address"),
        ({"address": {"countryCode": 44}}, "address.countryCode"),
        ({"address": {"locality": ["London"]}}, "address.locality"),
        ({"photo": "https://example.com/a.png"}, "photo"),
        ({"photo": {}}, "photo.href"),
        ({"photo": {"href": 5}}, "photo.href"),
        ({"title": 5}, "title"),
        ({"externalId": 5}, "externalId"),
        ({"mfaEnabled": "yes"}, "mfaEnabled"),
        ({"name": {"honorificPrefix": True}}, "name.honorificPrefix"),
        ({"timezone": {"zone": "UTC"}}, "timezone"),
    ],
)
async def test_profile_wrong_json_types(
    admin: httpx.AsyncClient, environment: dict[str, Any], fields: Json, target: str
) -> None:
    env_id = environment["id"]
    response = await admin.post(users_path(env_id), json=user_body(**fields))
    body = assert_error(response, 400, "INVALID_DATA")
    assert [d.get("target") for d in body["details"]] == [target], body
    assert await list_users(admin, env_id) == []


# -- PUT and PATCH ------------------------------------------------------------------------------


async def test_put_replaces_every_attribute(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    user = await create_user(admin, env_id, **profile(), mfaEnabled=True)
    path = users_path(env_id, user["id"])
    await asyncio.sleep(0.005)
    # Omitted attributes are cleared; enabled and mfaEnabled are not PUT's to change.
    body = {"username": user["username"], "email": "new@example.com"}
    response = await admin.put(path, json={**body, "enabled": False, "mfaEnabled": False})
    assert response.status_code == 200, response.text
    replaced = response.json()
    assert not PROFILE_KEYS & set(replaced), replaced
    assert "name" not in replaced
    assert replaced["email"] == "new@example.com"
    assert replaced["enabled"] is True and replaced["mfaEnabled"] is True
    assert replaced["account"] == {"canAuthenticate": True, "status": "OK"}
    assert replaced["updatedAt"] > user["updatedAt"]
    assert await read_user(admin, env_id, user["id"]) == replaced

    # Everything sent again is stored again; null clears as omission does.
    changed = profile(title="Director", address={"locality": "Paris", "countryCode": "FR"})
    response = await admin.put(path, json={**body, **changed})
    assert response.status_code == 200, response.text
    for key, value in changed.items():
        assert response.json()[key] == value, key
    nulls = dict.fromkeys(PROFILE_KEYS, None) | {"name": None}
    response = await admin.put(path, json={**body, **nulls})
    assert response.status_code == 200, response.text
    assert not PROFILE_KEYS & set(response.json()) and "name" not in response.json()


async def test_patch_changes_only_what_it_names(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    user = await create_user(admin, env_id, **profile(), mfaEnabled=True)
    path = users_path(env_id, user["id"])
    expected = dict(user)

    async def patch(body: Json) -> None:
        nonlocal expected
        await asyncio.sleep(0.002)
        response = await admin.patch(path, json=body)
        assert response.status_code == 200, (body, response.text)
        patched = response.json()
        assert patched["updatedAt"] > expected["updatedAt"], patched
        for key, value in body.items():
            if value is None:
                expected.pop(key, None)
            else:
                expected[key] = value
        expected["updatedAt"] = patched["updatedAt"]
        assert patched == expected, body
        assert await read_user(admin, env_id, user["id"]) == patched

    await patch({"nickname": "Countess"})
    await patch({"title": None})
    await patch({"address": {"locality": "Paris"}})  # an object is replaced whole
    await patch({"name": {"given": "Augusta"}})
    await patch({"photo": None, "externalId": "ext-2", "timezone": "Europe/Paris"})
    await patch({"username": unique("renamed"), "email": "ada@example.org"})
    await patch({"name": {"honorificPrefix": "Countess"}, "locale": None, "type": "Contractor"})
    await patch({})
    # What PATCH may not change is left as it is (and unknown attributes are ignored).
    other_pop = await create_population(admin, env_id)
    response = await admin.patch(
        path,
        json={
            "enabled": False,
            "mfaEnabled": False,
            "population": {"id": other_pop},
            "id": str(uuid.uuid4()),
            "createdAt": "2001-01-01T00:00:00.000Z",
            "shoeSize": 42,
        },
    )
    assert response.status_code == 200, response.text
    kept = response.json()
    assert (kept["enabled"], kept["mfaEnabled"]) == (True, True)
    assert kept["population"] == user["population"]
    assert (kept["id"], kept["createdAt"]) == (user["id"], user["createdAt"])
    assert "shoeSize" not in kept


@pytest.mark.parametrize(
    ("body", "detail", "target"),
    [
        ({"username": None}, None, "username"),
        ({"username": ""}, "EMPTY_VALUE", "username"),
        ({"username": 5}, None, "username"),
        ({"email": None}, None, "email"),
        ({"email": "nope"}, "INVALID_VALUE", "email"),
        ({"address": {"countryCode": "gb"}}, "INVALID_VALUE", "address.countryCode"),
        ({"timezone": "x y"}, "INVALID_VALUE", "timezone"),
        ({"title": 5}, None, "title"),
        ({"name": "Ada"}, None, "name"),
        ({"photo": {"href": "mailto:a@b.co"}}, "INVALID_VALUE", "photo.href"),
        ({"nickname": "n" * 257}, "SIZE_LIMIT_EXCEEDED", "nickname"),
    ],
)
async def test_patch_validates(
    admin: httpx.AsyncClient,
    environment: dict[str, Any],
    body: Json,
    detail: str | None,
    target: str,
) -> None:
    env_id = environment["id"]
    user = await create_user(admin, env_id, **profile())
    response = await admin.patch(users_path(env_id, user["id"]), json=body)
    assert_error(response, 400, "INVALID_DATA", detail, target)
    assert [d.get("target") for d in response.json()["details"]] == [target]
    assert await read_user(admin, env_id, user["id"]) == user


async def test_patch_username_taken_and_missing_user(
    admin: httpx.AsyncClient, make_environment: Any
) -> None:
    env_id, other_env = (await make_environment())["id"], (await make_environment())["id"]
    taken = await create_user(admin, env_id, username="Taken.Name")
    user = await create_user(admin, env_id)
    response = await admin.patch(users_path(env_id, user["id"]), json={"username": "taken.NAME"})
    assert_error(response, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", "username")
    assert await read_user(admin, env_id, user["id"]) == user
    assert await read_user(admin, env_id, taken["id"]) == taken
    for path in (users_path(env_id, str(uuid.uuid4())), users_path(other_env, user["id"])):
        assert_error(await admin.patch(path, json={"title": "x"}), 404, "NOT_FOUND")


# -- enabled and mfaEnabled -----------------------------------------------------------------------


@pytest.mark.parametrize(("flag", "initial"), [("enabled", True), ("mfaEnabled", False)])
async def test_flag_endpoints(
    admin: httpx.AsyncClient, environment: dict[str, Any], flag: str, initial: bool
) -> None:
    env_id = environment["id"]
    user = await create_user(admin, env_id)
    other = await create_user(admin, env_id)
    path = flag_path(env_id, user["id"], flag)
    user_url = f"{BASE}{users_path(env_id, user['id'])}"
    links = {"self": {"href": f"{BASE}{path}"}, "user": {"href": user_url}}

    read = await admin.get(path)
    assert read.status_code == 200, read.text
    assert read.json() == {"_links": links, "id": user["id"], flag: initial}
    assert user["_links"][flag] == {"href": f"{BASE}{path}"}

    await asyncio.sleep(0.005)
    response = await admin.put(path, json={flag: not initial})
    assert response.status_code == 200, response.text
    assert response.json() == {"_links": links, "id": user["id"], flag: not initial}
    assert (await admin.get(path)).json()[flag] is (not initial)
    after = await read_user(admin, env_id, user["id"])
    assert after[flag] is (not initial)
    assert after["updatedAt"] > user["updatedAt"]
    enabled = after["enabled"]
    assert after["account"] == {"canAuthenticate": enabled, "status": "OK"}
    unchanged = {k: v for k, v in after.items() if k not in (flag, "account", "updatedAt")}
    assert unchanged == {k: v for k, v in user.items() if k not in (flag, "account", "updatedAt")}
    # Setting it to what it is changes nothing but stays 200; the other user is untouched.
    again = await admin.put(path, json={flag: not initial})
    assert again.status_code == 200 and again.json()[flag] is (not initial)
    assert await read_user(admin, env_id, other["id"]) == other
    back = await admin.put(path, json={flag: initial})
    assert back.status_code == 200 and back.json()[flag] is initial
    restored = await read_user(admin, env_id, user["id"])
    assert restored["account"] == {"canAuthenticate": True, "status": "OK"}

    for body in ({}, {flag: None}, {flag: "false"}, {flag: 0}, {flag: [True]}):
        assert_error(await admin.put(path, json=body), 400, "INVALID_DATA", target=flag)
    assert (await admin.get(path)).json()[flag] is initial
    missing = flag_path(env_id, str(uuid.uuid4()), flag)
    assert_error(await admin.get(missing), 404, "NOT_FOUND")
    assert_error(await admin.put(missing, json={flag: True}), 404, "NOT_FOUND")


async def test_disabling_a_user_stops_authentication_flag(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    user = await create_user(admin, env_id, mfaEnabled=True)
    response = await admin.put(flag_path(env_id, user["id"], "enabled"), json={"enabled": False})
    assert response.status_code == 200, response.text
    disabled = await read_user(admin, env_id, user["id"])
    assert disabled["enabled"] is False
    assert disabled["account"] == {"canAuthenticate": False, "status": "OK"}
    assert disabled["mfaEnabled"] is True
    # A PUT or PATCH of the user leaves it disabled.
    body = {"username": user["username"], "email": user["email"], "enabled": True}
    for method in ("PUT", "PATCH"):
        response = await admin.request(method, users_path(env_id, user["id"]), json=body)
        assert response.status_code == 200, response.text
        assert response.json()["enabled"] is False
        assert response.json()["account"]["canAuthenticate"] is False


async def test_who_may_set_the_flags(
    admin: httpx.AsyncClient, environment: dict[str, Any], make_actor: Any
) -> None:
    env_id = environment["id"]
    mine, theirs = await create_population(admin, env_id), await create_population(admin, env_id)
    own = await create_user(admin, env_id, mine)
    other = await create_user(admin, env_id, theirs)
    ida = (await make_actor(("Identity Data Admin", "POPULATION", mine))).client
    reader = (await make_actor(("Identity Data Read Only", "ENVIRONMENT", env_id))).client
    env_admin = (await make_actor(("Environment Admin", "ENVIRONMENT", env_id))).client
    for flag, value in (("enabled", False), ("mfaEnabled", True)):
        response = await ida.put(flag_path(env_id, own["id"], flag), json={flag: value})
        assert response.status_code == 200, response.text
        for response in (
            await ida.get(flag_path(env_id, other["id"], flag)),
            await ida.put(flag_path(env_id, other["id"], flag), json={flag: value}),
        ):
            assert_error(response, 404, "NOT_FOUND")
        assert (await reader.get(flag_path(env_id, other["id"], flag))).status_code == 200
        response = await reader.put(flag_path(env_id, other["id"], flag), json={flag: value})
        assert_error(response, 403, "ACCESS_FAILED")
        for response in (
            await env_admin.get(flag_path(env_id, other["id"], flag)),
            await env_admin.put(flag_path(env_id, other["id"], flag), json={flag: value}),
        ):
            assert_error(response, 403, "ACCESS_FAILED")
    response = await ida.patch(users_path(env_id, other["id"]), json={"title": "x"})
    assert_error(response, 404, "NOT_FOUND")
    response = await reader.patch(users_path(env_id, own["id"]), json={"title": "x"})
    assert_error(response, 403, "ACCESS_FAILED")
    assert await read_user(admin, env_id, other["id"]) == other
    changed = await read_user(admin, env_id, own["id"])
    assert (changed["enabled"], changed["mfaEnabled"]) == (False, True)
    assert "title" not in changed


# -- lists: count and filters ---------------------------------------------------------------------


async def test_user_list_count(admin: httpx.AsyncClient, environment: dict[str, Any]) -> None:
    env_id = environment["id"]
    for i in range(5):
        await create_user(admin, env_id, title="Even" if i % 2 == 0 else "Odd")
    for params, count, size in (
        ({}, 5, 5),
        ({"limit": 2}, 5, 2),
        ({"filter": 'title eq "even"'}, 3, 3),
        ({"filter": 'title eq "even"', "limit": 1}, 3, 1),
        ({"filter": 'title eq "nobody"'}, 0, 0),
    ):
        response = await admin.get(users_path(env_id), params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert (page["count"], page["size"]) == (count, size), params
        if "next" in page["_links"]:
            following = await admin.get(page["_links"]["next"]["href"].removeprefix(BASE))
            assert following.json()["count"] == count


PEOPLE: dict[str, Json] = {
    "ann": {
        "externalId": "E-1",
        "title": "Manager",
        "locale": "en-US",
        "nickname": "Annie",
        "type": "Employee",
        "preferredLanguage": "en-US",
        "timezone": "America/Chicago",
        "mobilePhone": "+1 555 0100",
        "primaryPhone": "+1 555 0101",
        "photo": {"href": "https://example.com/ann.png"},
        "address": {
            "streetAddress": "1 Main St",
            "locality": "Springfield",
            "region": "IL",
            "postalCode": "62701",
            "countryCode": "US",
        },
        "mfaEnabled": True,
    },
    "bob": {
        "externalId": "e-1",
        "title": "MANAGER of sales",
        "locale": "fr-CA",
        "type": "Contractor",
        "timezone": "America/Toronto",
        "address": {"locality": "Montréal", "countryCode": "CA"},
    },
    "cat": {"title": "Engineer", "address": {"countryCode": "US", "locality": "Springfield"}},
    "dan": {},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('externalId eq "E-1"', {"ann"}),
        ('externalId eq "e-1"', {"bob"}),
        ('externalId eq "E-2"', set()),
        ('lifecycle.status eq "ACCOUNT_OK"', {"ann", "bob", "cat", "dan"}),
        ('lifecycle.status eq "VERIFICATION_REQUIRED"', set()),
        ("mfaEnabled eq true", {"ann"}),
        ("mfaEnabled eq false", {"bob", "cat", "dan"}),
        ('title eq "manager"', {"ann"}),
        ('title sw "MANAGER"', {"ann", "bob"}),
        ('title sw "eng"', {"cat"}),
        ('locale eq "EN-us"', {"ann"}),
        ('nickname eq "annie"', {"ann"}),
        ('type eq "contractor"', {"bob"}),
        ('preferredLanguage eq "en-us"', {"ann"}),
        ('timezone sw "america/"', {"ann", "bob"}),
        ('mobilePhone eq "+1 555 0100"', {"ann"}),
        ('primaryPhone sw "+1 555"', {"ann"}),
        ('photo.href eq "https://example.com/ANN.png"', {"ann"}),
        ('address.countryCode eq "us"', {"ann", "cat"}),
        ('address.countryCode eq "CA"', {"bob"}),
        ('address.locality eq "SPRINGFIELD"', {"ann", "cat"}),
        ('address.region eq "il"', {"ann"}),
        ('address.postalCode sw "627"', {"ann"}),
        ('address.streetAddress eq "1 main st"', {"ann"}),
        ('ADDRESS.COUNTRYCODE eq "US"', {"ann", "cat"}),
        ('address.countryCode eq "US" and mfaEnabled eq false', {"cat"}),
        ('title sw "man" or address.countryCode eq "CA"', {"ann", "bob"}),
        (
            '(title eq "engineer" or externalId eq "E-1") and address.locality eq "springfield"',
            {"ann", "cat"},
        ),
    ],
)
async def test_filter_users_on_profile_attributes(
    admin: httpx.AsyncClient, environment: dict[str, Any], expression: str, expected: set[str]
) -> None:
    env_id = environment["id"]
    for username, fields in PEOPLE.items():
        await create_user(admin, env_id, username=username, **copy.deepcopy(fields))
    listed = await list_users(admin, env_id, expression)
    assert {u["username"] for u in listed} == expected
    response = await admin.get(users_path(env_id), params={"filter": expression, "limit": 1})
    assert response.json()["count"] == len(expected)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('title eq "ÄRZTIN"', {"ärztin"}),
        ('title eq "ärztin"', {"ärztin"}),
        ('title sw "Är"', {"ärztin"}),
        ('address.locality eq "münchen"', {"ärztin"}),
        ('address.locality eq "MÜNCHEN"', {"ärztin"}),
        ('nickname eq "ΣΟΦΊΑ"', {"ärztin"}),
        ('title eq "arztin"', set()),
    ],
)
async def test_profile_filters_ignore_case_beyond_ascii(
    admin: httpx.AsyncClient, environment: dict[str, Any], expression: str, expected: set[str]
) -> None:
    """Profile attributes compare without case, for every script (not only A-Z)."""
    env_id = environment["id"]
    await create_user(
        admin,
        env_id,
        username="ärztin",
        title="Ärztin",
        nickname="Σοφία",
        address={"locality": "München"},
    )
    await create_user(admin, env_id, username="other", title="Arzt")
    assert {u["username"] for u in await list_users(admin, env_id, expression)} == expected


@pytest.mark.parametrize(
    "expression",
    [
        'title co "a"',
        "title eq true",
        'mfaEnabled eq "true"',
        'address eq "x"',
        'photo eq "x"',
        'name eq "x"',
        'lifecycle.status sw "A"',
        'externalId sw "a"',
        'account.status eq "OK"',
        "emailVerified eq false",
        'verifyStatus eq "NOT_INITIATED"',
        'address.country eq "US"',
    ],
)
async def test_bad_profile_filter(
    admin: httpx.AsyncClient, environment: dict[str, Any], expression: str
) -> None:
    response = await admin.get(users_path(environment["id"]), params={"filter": expression})
    assert_error(response, 400, "INVALID_DATA", "INVALID_FILTER", "filter")


async def test_concurrent_patches_keep_each_others_changes(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """PATCHes of different attributes at the same moment: each one's change survives (the
    user is locked from the read to the write, so none writes back a stale copy)."""
    env_id = environment["id"]
    user = await create_user(admin, env_id)
    changes = {"title": "Boss", "nickname": "Bo", "locale": "fr-FR", "type": "Staff",
               "timezone": "Europe/Paris", "primaryPhone": "+33 1 23 45 67 89"}  # fmt: skip
    answers = await asyncio.gather(
        *(
            admin.patch(f"{users_path(env_id)}/{user['id']}", json={key: value})
            for key, value in changes.items()
        )
    )
    assert [a.status_code for a in answers] == [200] * len(changes), [a.text for a in answers]
    stored = (await admin.get(f"{users_path(env_id)}/{user['id']}")).json()
    assert {key: stored.get(key) for key in changes} == changes


@pytest.mark.parametrize(
    ("expression", "expected"),
    [('nickname sw "e"', {"plain"}), ('nickname sw "é"', {"accented"})],
)
async def test_profile_starts_with_compares_characters_not_collation(
    admin: httpx.AsyncClient, environment: dict[str, Any], expression: str, expected: set[str]
) -> None:
    """``sw "e"`` does not match "Éva" (a different letter), on either database, whatever
    PostgreSQL's default collation would say."""
    env_id = environment["id"]
    await create_user(admin, env_id, username="plain", nickname="Eve")
    await create_user(admin, env_id, username="accented", nickname="Ézé")
    assert {u["username"] for u in await list_users(admin, env_id, expression)} == expected
