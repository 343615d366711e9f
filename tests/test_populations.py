"""Populations over HTTP: create, read, replace, delete, the default flag, validation, the
delete constraints and who may do what (issue 3, docs/compatibility.md)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from populace.storage.schema import themes
from populace.wire import now_ms
from tests.support import assert_error, unique

Json = dict[str, Any]


def populations(environment_id: str) -> str:
    return f"/v1/environments/{environment_id}/populations"


def population(environment_id: str, population_id: str) -> str:
    return f"{populations(environment_id)}/{population_id}"


async def listed(client: httpx.AsyncClient, environment_id: str) -> list[Json]:
    response = await client.get(populations(environment_id), params={"limit": 1000})
    assert response.status_code == 200, response.text
    return list(response.json()["_embedded"]["populations"])


async def snapshot(admin: httpx.AsyncClient, environment_id: str) -> dict[str, Json]:
    """Every population of the environment by id, to show a failed request changed nothing."""
    return {p["id"]: p for p in await listed(admin, environment_id)}


async def create(admin: httpx.AsyncClient, environment_id: str, **body: Any) -> Json:
    body.setdefault("name", unique("pop"))
    response = await admin.post(populations(environment_id), json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def default_population(admin: httpx.AsyncClient, environment_id: str) -> Json:
    (found,) = [p for p in await listed(admin, environment_id) if p["default"]]
    return found


async def first_id(admin: httpx.AsyncClient, environment_id: str, collection: str) -> str:
    response = await admin.get(f"/v1/environments/{environment_id}/{collection}")
    assert response.status_code == 200, response.text
    return str(response.json()["_embedded"][collection][0]["id"])


async def add_theme(deployment: Any, environment_id: str) -> str:
    """A second, non-default theme. The API has no way to create themes, so go to the table."""
    theme_id, at = str(uuid.uuid4()), now_ms()
    async with deployment.services.db.write() as conn:
        await conn.execute(
            insert(themes).values(
                environment_id=environment_id,
                id=theme_id,
                template="default",
                is_default=False,
                configuration={},
                created_at=at,
                updated_at=at,
            )
        )
    return theme_id


async def assert_rejected(
    admin: httpx.AsyncClient,
    environment_id: str,
    request: Any,
    detail: str | None = None,
    target: str | None = None,
) -> Json:
    """Run ``request`` (a coroutine factory): 400 INVALID_DATA, and nothing in the environment
    changed."""
    before = await snapshot(admin, environment_id)
    body = assert_error(await request(), 400, "INVALID_DATA", detail, target)
    assert await snapshot(admin, environment_id) == before
    return body


def assert_forbidden(response: httpx.Response) -> None:
    assert_error(response, 403, "ACCESS_FAILED", "INSUFFICIENT_PERMISSIONS")


# -- create, read, replace, delete -------------------------------------------------------------


async def test_create_answers_the_full_resource(admin, environment):
    env_id = environment["id"]
    response = await admin.post(populations(env_id), json={"name": "Engineering"})
    assert response.status_code == 201, response.text
    body = response.json()
    theme_id = await first_id(admin, env_id, "themes")
    base = f"http://populace.test/v1/environments/{env_id}"
    assert body["_links"] == {
        "self": {"href": f"{base}/populations/{body['id']}"},
        "environment": {"href": base},
        "theme": {"href": f"{base}/themes/{theme_id}"},
    }
    uuid.UUID(body["id"])
    assert body["environment"] == {"id": env_id}
    assert body["name"] == "Engineering"
    assert body["userCount"] == 0
    assert body["createdAt"] == body["updatedAt"]
    assert body["preferredLanguage"] == "en"
    assert body["theme"] == {"id": theme_id}
    assert body["default"] is False
    assert "passwordPolicy" not in body
    assert "alternativeIdentifiers" not in body


async def test_create_with_every_field_and_read_it_back(admin, environment):
    env_id = environment["id"]
    policy_id = await first_id(admin, env_id, "passwordPolicies")
    theme_id = await first_id(admin, env_id, "themes")
    created = await create(
        admin,
        env_id,
        name="Sales",
        description="Sales team",
        default=True,
        passwordPolicy={"id": policy_id},
        theme={"id": theme_id},
        preferredLanguage="fr-CA",
        alternativeIdentifiers=["Vendors", "Closers"],
    )
    assert created["description"] == "Sales team"
    assert created["default"] is True
    assert created["passwordPolicy"] == {"id": policy_id}
    assert created["theme"] == {"id": theme_id}
    assert created["preferredLanguage"] == "fr-CA"
    assert created["alternativeIdentifiers"] == ["Vendors", "Closers"]
    assert created["_links"]["passwordPolicy"]["href"].endswith(f"/passwordPolicies/{policy_id}")

    read = await admin.get(population(env_id, created["id"]))
    assert read.status_code == 200
    assert read.json() == created
    # ... and the list shows the same object.
    assert [p for p in await listed(admin, env_id) if p["id"] == created["id"]] == [created]


async def test_put_replaces_the_whole_population(admin, environment, deployment):
    env_id = environment["id"]
    policy_id = await first_id(admin, env_id, "passwordPolicies")
    default_theme = await first_id(admin, env_id, "themes")
    other_theme = await add_theme(deployment, env_id)
    created = await create(
        admin,
        env_id,
        name="Before",
        description="old",
        default=True,
        passwordPolicy={"id": policy_id},
        theme={"id": other_theme},
        preferredLanguage="fr-CA",
        alternativeIdentifiers=["x"],
    )
    assert created["theme"] == {"id": other_theme}
    await asyncio.sleep(0.01)

    response = await admin.put(population(env_id, created["id"]), json={"name": "After"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == created["id"]
    assert body["name"] == "After"
    assert not body.get("description")
    assert body["default"] is False
    assert "passwordPolicy" not in body
    assert "passwordPolicy" not in body["_links"]
    assert body["theme"] == {"id": default_theme}
    assert body["preferredLanguage"] == "en"
    assert "alternativeIdentifiers" not in body
    assert body["createdAt"] == created["createdAt"]
    assert body["updatedAt"] > created["updatedAt"]
    assert (await admin.get(population(env_id, created["id"]))).json() == body


async def test_put_can_set_every_field(admin, environment, deployment):
    env_id = environment["id"]
    policy_id = await first_id(admin, env_id, "passwordPolicies")
    other_theme = await add_theme(deployment, env_id)
    created = await create(admin, env_id)
    fields = {
        "name": "Renamed",
        "description": "now described",
        "passwordPolicy": {"id": policy_id},
        "theme": {"id": other_theme},
        "preferredLanguage": "pt",
        "alternativeIdentifiers": ["a", "b"],
    }
    response = await admin.put(population(env_id, created["id"]), json=fields)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {key: body[key] for key in fields} == fields
    assert (await admin.get(population(env_id, created["id"]))).json() == body


async def test_delete_then_read_is_not_found(admin, environment):
    env_id = environment["id"]
    created = await create(admin, env_id)
    response = await admin.delete(population(env_id, created["id"]))
    assert response.status_code == 204
    assert response.content == b""
    assert_error(await admin.get(population(env_id, created["id"])), 404, "NOT_FOUND")
    assert created["id"] not in await snapshot(admin, env_id)
    assert_error(await admin.delete(population(env_id, created["id"])), 404, "NOT_FOUND")
    assert_error(
        await admin.put(population(env_id, created["id"]), json={"name": "gone"}), 404, "NOT_FOUND"
    )


async def test_unknown_population_is_not_found(admin, environment):
    missing = population(environment["id"], str(uuid.uuid4()))
    assert_error(await admin.get(missing), 404, "NOT_FOUND")
    assert_error(await admin.put(missing, json={"name": "x"}), 404, "NOT_FOUND")
    assert_error(await admin.delete(missing), 404, "NOT_FOUND")


async def test_population_of_another_environment_is_not_found(admin, make_environment):
    mine, other = await make_environment(), await make_environment()
    theirs = await create(admin, other["id"])
    elsewhere = population(mine["id"], theirs["id"])
    assert_error(await admin.get(elsewhere), 404, "NOT_FOUND")
    assert_error(await admin.put(elsewhere, json={"name": "stolen"}), 404, "NOT_FOUND")
    assert_error(await admin.delete(elsewhere), 404, "NOT_FOUND")
    assert (await admin.get(population(other["id"], theirs["id"]))).json() == theirs


async def test_patch_is_not_allowed(admin, environment):
    created = await create(admin, environment["id"])
    response = await admin.patch(population(environment["id"], created["id"]), json={"name": "p"})
    assert response.status_code == 405
    assert (await admin.get(population(environment["id"], created["id"]))).json() == created


# -- the default flag ---------------------------------------------------------------------------


def defaults(items: list[Json]) -> list[str]:
    return [p["id"] for p in items if p["default"]]


async def test_new_environment_has_one_default_population(admin, environment):
    (only,) = await listed(admin, environment["id"])
    assert only["name"] == "Default"
    assert only["default"] is True


async def test_post_default_true_takes_the_flag(admin, environment):
    env_id = environment["id"]
    previous = await default_population(admin, env_id)
    created = await create(admin, env_id, default=True)
    assert created["default"] is True
    assert defaults(await listed(admin, env_id)) == [created["id"]]
    assert (await admin.get(population(env_id, previous["id"]))).json()["default"] is False


async def test_put_default_true_takes_the_flag(admin, environment):
    env_id = environment["id"]
    previous = await default_population(admin, env_id)
    created = await create(admin, env_id)
    response = await admin.put(
        population(env_id, created["id"]), json={"name": created["name"], "default": True}
    )
    assert response.status_code == 200, response.text
    assert response.json()["default"] is True
    assert defaults(await listed(admin, env_id)) == [created["id"]]
    assert (await admin.get(population(env_id, previous["id"]))).json()["default"] is False


async def test_put_default_false_on_the_only_default_leaves_none(admin, environment):
    env_id = environment["id"]
    current = await default_population(admin, env_id)
    response = await admin.put(
        population(env_id, current["id"]), json={"name": current["name"], "default": False}
    )
    assert response.status_code == 200, response.text
    assert response.json()["default"] is False
    assert defaults(await listed(admin, env_id)) == []


async def test_default_flip_touches_only_its_environment(admin, make_environment):
    mine, other = await make_environment(), await make_environment()
    other_default = await default_population(admin, other["id"])
    await create(admin, mine["id"], default=True)
    assert defaults(await listed(admin, other["id"])) == [other_default["id"]]


# -- validation ---------------------------------------------------------------------------------


async def test_name_is_required(admin, environment):
    env_id = environment["id"]
    await assert_rejected(
        admin,
        env_id,
        lambda: admin.post(populations(env_id), json={"description": "nameless"}),
        "REQUIRED_VALUE",
        "name",
    )
    created = await create(admin, env_id)
    await assert_rejected(
        admin,
        env_id,
        lambda: admin.put(population(env_id, created["id"]), json={"default": True}),
        "REQUIRED_VALUE",
        "name",
    )


async def test_name_is_trimmed(admin, environment):
    created = await create(admin, environment["id"], name="  Padded Name \t")
    assert created["name"] == "Padded Name"
    response = await admin.put(
        population(environment["id"], created["id"]), json={"name": "\n Re-padded  "}
    )
    assert response.json()["name"] == "Re-padded"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "\t\n",
        "x" * 257,
        "a\x01b",
        "tab\tinside",
        "line\nbreak",
        "del\x7f",
        "c1\x85inside",
    ],
    ids=["empty", "spaces", "whitespace", "257", "ctrl", "tab", "newline", "del", "c1"],
)
async def test_bad_names_are_rejected(admin, environment, name):
    env_id = environment["id"]
    body = await assert_rejected(
        admin, env_id, lambda: admin.post(populations(env_id), json={"name": name})
    )
    assert "name" in {d.get("target") for d in body["details"]}
    existing = await default_population(admin, env_id)
    await assert_rejected(
        admin,
        env_id,
        lambda: admin.put(population(env_id, existing["id"]), json={"name": name}),
    )


async def test_name_of_256_characters_is_accepted(admin, environment):
    name = "n" * 256
    assert (await create(admin, environment["id"], name=f"  {name}  "))["name"] == name


@pytest.mark.parametrize("variant", ["Team Rocket", "team rocket", " TEAM ROCKET ", "tEaM RoCkEt"])
async def test_names_are_unique_ignoring_case_and_spaces(admin, environment, variant):
    env_id = environment["id"]
    await create(admin, env_id, name="Team Rocket")
    await assert_rejected(
        admin,
        env_id,
        lambda: admin.post(populations(env_id), json={"name": variant}),
        "UNIQUENESS_VIOLATION",
        "name",
    )
    other = await create(admin, env_id)
    await assert_rejected(
        admin,
        env_id,
        lambda: admin.put(population(env_id, other["id"]), json={"name": variant}),
        "UNIQUENESS_VIOLATION",
        "name",
    )


async def test_name_uniqueness_uses_casefolding(admin, environment):
    env_id = environment["id"]
    await create(admin, env_id, name="Straße")
    await assert_rejected(
        admin,
        env_id,
        lambda: admin.post(populations(env_id), json={"name": "STRASSE"}),
        "UNIQUENESS_VIOLATION",
        "name",
    )


async def test_a_population_may_keep_or_recase_its_own_name(admin, environment):
    created = await create(admin, environment["id"], name="Keep Me")
    path = population(environment["id"], created["id"])
    assert (await admin.put(path, json={"name": "Keep Me"})).status_code == 200
    response = await admin.put(path, json={"name": "KEEP me"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "KEEP me"


async def test_the_same_name_in_another_environment_is_fine(admin, make_environment):
    first, second = await make_environment(), await make_environment()
    await create(admin, first["id"], name="Shared Name")
    assert (await create(admin, second["id"], name="shared name"))["name"] == "shared name"
    # a deleted population's name is free again
    third = await create(admin, first["id"], name="Reusable")
    assert (await admin.delete(population(first["id"], third["id"]))).status_code == 204
    await create(admin, first["id"], name="REUSABLE")


@pytest.mark.parametrize("field", ["passwordPolicy", "theme"])
async def test_references_must_name_objects_of_the_environment(admin, make_environment, field):
    mine, other = await make_environment(), await make_environment()
    collection = {"passwordPolicy": "passwordPolicies", "theme": "themes"}[field]
    foreign = await first_id(admin, other["id"], collection)
    env_id = mine["id"]
    existing = await default_population(admin, env_id)
    for reference in (foreign, str(uuid.uuid4()), "not-a-uuid"):
        body = {"name": unique("ref"), "default": True, field: {"id": reference}}
        await assert_rejected(
            admin,
            env_id,
            lambda body=body: admin.post(populations(env_id), json=body),
            "INVALID_VALUE",
            f"{field}.id",
        )
        await assert_rejected(
            admin,
            env_id,
            lambda body=body: admin.put(population(env_id, existing["id"]), json=body),
            "INVALID_VALUE",
            f"{field}.id",
        )


@pytest.mark.parametrize("language", ["fr-CA", "en", "es", "zh-Hant-TW"])
async def test_preferred_language_accepts_language_tags(admin, environment, language):
    created = await create(admin, environment["id"], preferredLanguage=language)
    assert created["preferredLanguage"] == language


@pytest.mark.parametrize("language", ["not a tag!", "", "e", "en_US", "fr-", "1234"])
async def test_preferred_language_rejects_other_text(admin, environment, language):
    env_id = environment["id"]
    await assert_rejected(
        admin,
        env_id,
        lambda: admin.post(
            populations(env_id), json={"name": unique("lang"), "preferredLanguage": language}
        ),
        target="preferredLanguage",
    )


async def test_alternative_identifiers_are_bounded(admin, environment):
    env_id = environment["id"]
    hundred = [f"id-{i}" for i in range(100)]
    assert (await create(admin, env_id, alternativeIdentifiers=hundred))[
        "alternativeIdentifiers"
    ] == hundred
    for identifiers in ([*hundred, "one-more"], ["ok", ""], ["ok", "x" * 257]):
        await assert_rejected(
            admin,
            env_id,
            lambda identifiers=identifiers: admin.post(
                populations(env_id),
                json={"name": unique("alt"), "alternativeIdentifiers": identifiers},
            ),
            target="alternativeIdentifiers",
        )


async def test_alternative_identifiers_collapse_case_insensitive_duplicates(admin, environment):
    created = await create(
        admin, environment["id"], alternativeIdentifiers=["Austin", "AUSTIN", "Bob", "austin"]
    )
    identifiers = created["alternativeIdentifiers"]
    assert len(identifiers) == 2
    assert {i.casefold() for i in identifiers} == {"austin", "bob"}


WRONG_TYPES = [
    ({"name": 5}, "name"),
    ({"name": None}, "name"),
    ({"name": ["x"]}, "name"),
    ({"description": 5}, "description"),
    ({"default": "yes"}, "default"),
    ({"default": 1}, "default"),
    ({"passwordPolicy": "x"}, "passwordPolicy"),
    ({"passwordPolicy": {"id": 5}}, "passwordPolicy.id"),
    ({"theme": "x"}, "theme"),
    ({"theme": {}}, "theme.id"),
    ({"preferredLanguage": 5}, "preferredLanguage"),
    ({"alternativeIdentifiers": "x"}, "alternativeIdentifiers"),
    ({"alternativeIdentifiers": [1]}, "alternativeIdentifiers"),
    ({"alternativeIdentifiers": {"a": "b"}}, "alternativeIdentifiers"),
]


@pytest.mark.parametrize(
    ("fields", "target"),
    WRONG_TYPES,
    ids=[f"{t}={next(iter(f.values()))!r}" for f, t in WRONG_TYPES],
)
async def test_wrong_json_types_name_the_field(admin, environment, fields, target):
    env_id = environment["id"]
    body = {"name": unique("typed"), "default": True, **fields}
    existing = await default_population(admin, env_id)
    for request in (
        lambda: admin.post(populations(env_id), json=body),
        lambda: admin.put(population(env_id, existing["id"]), json=body),
    ):
        error = await assert_rejected(admin, env_id, request)
        assert target in {d.get("target") for d in error["details"]}, error


async def test_read_only_and_unknown_fields_are_ignored(admin, make_environment):
    mine, other = await make_environment(), await make_environment()
    env_id = mine["id"]
    forced_id = str(uuid.uuid4())
    junk = {
        "id": forced_id,
        "userCount": 42,
        "createdAt": "2001-01-01T00:00:00.000Z",
        "updatedAt": "2001-01-01T00:00:00.000Z",
        "environment": {"id": other["id"]},
        "_links": {"self": {"href": "https://evil.example/"}},
        "foo": "bar",
    }
    created = await create(admin, env_id, name="Ignores Junk", **junk)
    assert created["id"] != forced_id
    assert created["userCount"] == 0
    assert created["environment"] == {"id": env_id}
    assert not created["createdAt"].startswith("2001")
    assert created["_links"]["self"]["href"].endswith(f"/populations/{created['id']}")
    assert "foo" not in created
    assert_error(await admin.get(population(env_id, forced_id)), 404, "NOT_FOUND")
    assert created["id"] not in await snapshot(admin, other["id"])

    response = await admin.put(
        population(env_id, created["id"]), json={**junk, "id": str(uuid.uuid4()), "name": "Again"}
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["id"] == created["id"]
    assert updated["userCount"] == 0
    assert updated["environment"] == {"id": env_id}
    assert updated["createdAt"] == created["createdAt"]
    assert not updated["updatedAt"].startswith("2001")
    assert "foo" not in updated
    assert {p["name"] for p in await listed(admin, env_id)} == {"Default", "Again"}


async def test_bodies_that_are_not_json_objects_change_nothing(admin, environment):
    env_id = environment["id"]
    before = await snapshot(admin, env_id)
    for content in (b"[]", b'"name"', b"{not json", b"null"):
        response = await admin.post(
            populations(env_id), content=content, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (content, response.text)
    assert await snapshot(admin, env_id) == before


# -- delete rules -------------------------------------------------------------------------------


async def test_the_default_population_cannot_be_deleted(admin, environment):
    env_id = environment["id"]
    await create(admin, env_id)
    current = await default_population(admin, env_id)
    body = await assert_rejected(
        admin,
        env_id,
        lambda: admin.delete(population(env_id, current["id"])),
        "CONSTRAINT_VIOLATION",
    )
    assert body["message"].startswith("The request could not be completed")


async def test_the_last_population_cannot_be_deleted(admin, environment):
    env_id = environment["id"]
    current = await default_population(admin, env_id)
    made_plain = await admin.put(
        population(env_id, current["id"]), json={"name": current["name"], "default": False}
    )
    assert made_plain.status_code == 200
    body = await assert_rejected(
        admin,
        env_id,
        lambda: admin.delete(population(env_id, current["id"])),
        "CONSTRAINT_VIOLATION",
    )
    assert body["message"].startswith("The request could not be completed")
    messages = [body["message"], *(d["message"] for d in body["details"])]
    assert any("must contain at least one population" in m for m in messages), body


async def test_a_non_default_population_can_be_deleted_once_another_is_default(admin, environment):
    env_id = environment["id"]
    first = await default_population(admin, env_id)
    second = await create(admin, env_id, default=True)
    assert (await admin.delete(population(env_id, first["id"]))).status_code == 204
    assert [p["id"] for p in await listed(admin, env_id)] == [second["id"]]


# -- who may do what ----------------------------------------------------------------------------


async def test_environment_admin_manages_populations_of_its_environment(
    admin, environment, make_actor
):
    env_id = environment["id"]
    actor = (await make_actor(("Environment Admin", "ENVIRONMENT", env_id))).client
    created = await create(actor, env_id, name="By Env Admin")
    assert (await actor.get(population(env_id, created["id"]))).status_code == 200
    assert created["id"] in {p["id"] for p in await listed(actor, env_id)}
    replaced = await actor.put(population(env_id, created["id"]), json={"name": "Renamed"})
    assert replaced.status_code == 200
    assert (await actor.delete(population(env_id, created["id"]))).status_code == 204
    assert created["id"] not in await snapshot(admin, env_id)


async def test_identity_data_admin_reads_but_cannot_manage(admin, environment, make_actor):
    env_id = environment["id"]
    existing = await create(admin, env_id)
    actor = (await make_actor(("Identity Data Admin", "ENVIRONMENT", env_id))).client
    assert (await actor.get(population(env_id, existing["id"]))).json() == existing
    assert existing["id"] in {p["id"] for p in await listed(actor, env_id)}

    before = await snapshot(admin, env_id)
    assert_forbidden(await actor.post(populations(env_id), json={"name": unique("ida")}))
    assert_forbidden(
        await actor.put(population(env_id, existing["id"]), json={"name": "x", "default": True})
    )
    assert_forbidden(await actor.delete(population(env_id, existing["id"])))
    assert await snapshot(admin, env_id) == before


async def test_environment_admin_of_another_environment_is_forbidden(
    admin, make_environment, make_actor
):
    mine, theirs = await make_environment(), await make_environment()
    target = await create(admin, theirs["id"])
    actor = (await make_actor(("Environment Admin", "ENVIRONMENT", mine["id"]))).client
    before = await snapshot(admin, theirs["id"])
    path = population(theirs["id"], target["id"])
    assert_forbidden(await actor.get(populations(theirs["id"])))
    assert_forbidden(await actor.get(path))
    assert_forbidden(await actor.post(populations(theirs["id"]), json={"name": unique("x")}))
    assert_forbidden(await actor.put(path, json={"name": "taken over"}))
    assert_forbidden(await actor.delete(path))
    assert await snapshot(admin, theirs["id"]) == before


async def test_population_scoped_reader_sees_only_its_population(admin, environment, make_actor):
    env_id = environment["id"]
    visible, hidden = await create(admin, env_id), await create(admin, env_id)
    actor = (await make_actor(("Identity Data Admin", "POPULATION", visible["id"]))).client
    page = await actor.get(populations(env_id))
    assert page.status_code == 200, page.text
    assert [p["id"] for p in page.json()["_embedded"]["populations"]] == [visible["id"]]
    assert page.json()["count"] == 1
    assert (await actor.get(population(env_id, visible["id"]))).status_code == 200
    assert_forbidden(await actor.get(population(env_id, hidden["id"])))
    assert_forbidden(await actor.put(population(env_id, visible["id"]), json={"name": "mine"}))
    assert_forbidden(await actor.delete(population(env_id, visible["id"])))


async def test_requests_without_a_token_are_refused(client, environment):
    response = await client.get(populations(environment["id"]))
    assert_error(response, 401, "ACCESS_FAILED")
    response = await client.post(populations(environment["id"]), json={"name": "anon"})
    assert_error(response, 401, "ACCESS_FAILED")
