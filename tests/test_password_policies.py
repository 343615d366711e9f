"""Password policies: create, read, replace and delete as PingOne (and its Terraform provider)
does them; one default per environment; references from populations kept valid; and the
rules a new policy adds (complexity, sequences) enforced on the passwords of its users."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from populace.passwords.policy import haystack_days
from populace.passwords.wire import SET
from populace.storage.database import Database
from populace.storage.migrate import upgrade
from populace.storage.schema import environments, password_policies
from tests.conftest import ActorFactory
from tests.support import assert_error, insert_organization, unique
from tests.test_passwords import new_user, operate

MINIMAL = {
    "excludesCommonlyUsed": False,
    "excludesProfileData": False,
    "notSimilarToCurrent": False,
}
# The Terraform provider's "full" test configuration, as it sends it.
FULL = {
    "description": "Test description",
    "default": False,
    "excludesCommonlyUsed": True,
    "excludesProfileData": True,
    "notSimilarToCurrent": True,
    "history": {"count": 10, "retentionDays": 150},
    "length": {"min": 12, "max": 255},
    "lockout": {"durationSeconds": 30, "failureCount": 5},
    "minCharacters": {
        "abcdefghijklmnopqrstuvwxyz": 1,
        "0123456789": 1,
        "~!@#$%^&*()-_=+[]{}|;:,.<>/?": 1,
    },
    "alphabetSequenceRule": {"maxLength": 3},
    "numberSequenceRule": {"maxLength": 3},
    "maxAgeDays": 35,
    "minAgeDays": 2,
    "maxRepeatedCharacters": 2,
    "minComplexity": 7,
    "minUniqueCharacters": 5,
}
READ_ONLY = {"_links", "id", "environment", "createdAt", "updatedAt"}


def policies_path(environment_id: str) -> str:
    return f"/v1/environments/{environment_id}/passwordPolicies"


async def policies(admin: httpx.AsyncClient, environment_id: str) -> list[dict[str, Any]]:
    response = await admin.get(policies_path(environment_id))
    assert response.status_code == 200, response.text
    return list(response.json()["_embedded"]["passwordPolicies"])


async def create(admin: httpx.AsyncClient, environment_id: str, **body: Any) -> dict[str, Any]:
    response = await admin.post(
        policies_path(environment_id), json={"name": unique("policy"), **MINIMAL, **body}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def settings_of(policy: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in policy.items() if key not in READ_ONLY}


async def test_minimal_policy_holds_only_what_was_sent(admin, environment):
    env_id = environment["id"]
    name = unique("Minimal")
    response = await admin.post(policies_path(env_id), json={"name": name, **MINIMAL})
    assert response.status_code == 201, response.text
    created = response.json()
    # No rule the body left out, and no populationCount while no population uses it.
    assert settings_of(created) == {"name": name, "default": False, **MINIMAL}
    assert created["environment"] == {"id": env_id}
    read = await admin.get(f"{policies_path(env_id)}/{created['id']}")
    assert read.status_code == 200 and read.json() == created


async def test_full_policy_round_trips_and_put_replaces_it_whole(admin, environment):
    env_id = environment["id"]
    created = await create(admin, env_id, **FULL)
    assert settings_of(created) == {"name": created["name"], **FULL}
    path = f"{policies_path(env_id)}/{created['id']}"
    replaced = await admin.put(path, json={"name": "Renamed", **MINIMAL})
    assert replaced.status_code == 200, replaced.text
    assert settings_of(replaced.json()) == {"name": "Renamed", "default": False, **MINIMAL}
    assert replaced.json()["createdAt"] == created["createdAt"]
    assert (await admin.get(path)).json() == replaced.json()


async def test_names_are_unique_without_case(admin, environment):
    env_id = environment["id"]
    taken = await create(admin, env_id)
    before = await policies(admin, env_id)
    duplicate = await admin.post(
        policies_path(env_id), json={"name": taken["name"].upper(), **MINIMAL}
    )
    assert_error(duplicate, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", "name")
    renamed = await admin.put(
        f"{policies_path(env_id)}/{before[0]['id']}",
        json={"name": f"  {taken['name']} ", **MINIMAL, "default": True},
    )
    assert_error(renamed, 400, "INVALID_DATA", "UNIQUENESS_VIOLATION", "name")
    assert await policies(admin, env_id) == before


@pytest.mark.parametrize(
    ("change", "target"),
    [
        ({"length": {"min": 7}}, "length.min"),
        ({"length": {"min": 33}}, "length.min"),
        ({"length": {"min": 12, "max": 11}}, "length.max"),
        ({"minCharacters": {"ABC": 1}}, "minCharacters"),
        ({"minCharacters": {"0123456789": 0}}, "minCharacters.0123456789"),
        ({"history": {"count": 0, "retentionDays": 1}}, "history.count"),
        ({"history": {"count": 25, "retentionDays": 1}}, "history.count"),
        ({"lockout": {"failureCount": 1, "durationSeconds": 0}}, "lockout.durationSeconds"),
        ({"minAgeDays": 2, "maxAgeDays": 23}, "maxAgeDays"),
        ({"minAgeDays": 0}, "minAgeDays"),
        ({"alphabetSequenceRule": {"maxLength": 4}}, "alphabetSequenceRule.maxLength"),
        ({"qwertySequenceRule": {"maxLength": 2}}, "qwertySequenceRule.maxLength"),
        ({"minComplexity": 0}, "minComplexity"),
    ],
)
async def test_rules_out_of_bounds_are_refused_and_change_nothing(
    admin, environment, change, target
):
    env_id = environment["id"]
    before = await policies(admin, env_id)
    response = await admin.post(
        policies_path(env_id), json={"name": unique("policy"), **MINIMAL, **change}
    )
    assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", target)
    assert await policies(admin, env_id) == before


async def test_a_required_rule_missing_is_refused(admin, environment):
    response = await admin.post(
        policies_path(environment["id"]),
        json={"name": unique("policy"), "excludesCommonlyUsed": True},
    )
    assert_error(response, 400, "INVALID_DATA")


async def test_one_default_policy_per_environment(admin, environment):
    env_id = environment["id"]
    standard = (await policies(admin, env_id))[0]
    assert standard["name"] == "Standard" and standard["default"] is True
    replacing = await create(admin, env_id, default=True)
    assert [p["id"] for p in await policies(admin, env_id) if p["default"]] == [replacing["id"]]
    # The default policy is the one a population without its own policy uses.
    user_id = await new_user(admin, env_id)
    state = await admin.get(f"/v1/environments/{env_id}/users/{user_id}/password")
    assert state.json()["passwordPolicy"] == {"id": replacing["id"]}
    # The default is changed by making another one the default, never by unsetting it.
    path = f"{policies_path(env_id)}/{replacing['id']}"
    unset = await admin.put(path, json={"name": replacing["name"], **MINIMAL, "default": False})
    assert_error(unset, 400, "INVALID_DATA", "INVALID_VALUE", "default")
    assert (await admin.get(path)).json()["default"] is True


async def test_concurrent_defaults_leave_exactly_one(admin, environment):
    env_id = environment["id"]
    made = [await create(admin, env_id) for _ in range(4)]
    results = await asyncio.gather(
        *(
            admin.put(
                f"{policies_path(env_id)}/{p['id']}",
                json={"name": p["name"], **MINIMAL, "default": True},
            )
            for p in made
        )
    )
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert len([p for p in await policies(admin, env_id) if p["default"]]) == 1


async def test_default_policy_cannot_be_deleted(admin, environment):
    env_id = environment["id"]
    standard = (await policies(admin, env_id))[0]
    response = await admin.delete(f"{policies_path(env_id)}/{standard['id']}")
    body = assert_error(response, 400, "INVALID_DATA", "CONSTRAINT_VIOLATION")
    assert "Default Password Policy can not be deleted" in body["details"][0]["message"]
    assert (await admin.get(f"{policies_path(env_id)}/{standard['id']}")).status_code == 200


async def test_a_policy_in_use_is_counted_and_cannot_be_deleted(admin, environment):
    env_id = environment["id"]
    policy = await create(admin, env_id)
    path = f"{policies_path(env_id)}/{policy['id']}"
    population = await admin.post(
        f"/v1/environments/{env_id}/populations",
        json={"name": unique("pop"), "passwordPolicy": {"id": policy["id"]}},
    )
    assert population.status_code == 201, population.text
    assert (await admin.get(path)).json()["populationCount"] == 1
    assert_error(await admin.delete(path), 400, "INVALID_DATA", "CONSTRAINT_VIOLATION")
    unassigned = await admin.put(
        f"/v1/environments/{env_id}/populations/{population.json()['id']}",
        json={"name": population.json()["name"]},
    )
    assert unassigned.status_code == 200, unassigned.text
    assert "populationCount" not in (await admin.get(path)).json()
    assert (await admin.delete(path)).status_code == 204
    assert_error(await admin.get(path), 404, "NOT_FOUND")
    # A population may no longer name it.
    refused = await admin.post(
        f"/v1/environments/{env_id}/populations",
        json={"name": unique("pop"), "passwordPolicy": {"id": policy["id"]}},
    )
    assert_error(refused, 400, "INVALID_DATA", "INVALID_VALUE", "passwordPolicy.id")


async def test_deleting_a_policy_while_populations_take_it_leaves_no_dangling_reference(
    admin, environment
):
    """Each race ends either with the policy deleted and no population naming it, or with
    the delete refused; never with a population pointing at nothing, never a 500."""
    env_id = environment["id"]
    for _ in range(5):
        policy = await create(admin, env_id)
        deleted, *assigned = await asyncio.gather(
            admin.delete(f"{policies_path(env_id)}/{policy['id']}"),
            *(
                admin.post(
                    f"/v1/environments/{env_id}/populations",
                    json={"name": unique("pop"), "passwordPolicy": {"id": policy["id"]}},
                )
                for _ in range(3)
            ),
        )
        assert deleted.status_code in (204, 400), deleted.text
        assert all(r.status_code in (201, 400) for r in assigned), [r.text for r in assigned]
        took = sum(r.status_code == 201 for r in assigned)
        assert (deleted.status_code == 204) == (took == 0)


async def test_a_populations_policy_is_enforced_rules_and_all(admin, environment):
    env_id = environment["id"]
    policy = await create(
        admin,
        env_id,
        minComplexity=7,
        alphabetSequenceRule={"maxLength": 2},
        numberSequenceRule={"maxLength": 2},
    )
    population = await admin.post(
        f"/v1/environments/{env_id}/populations",
        json={"name": unique("pop"), "passwordPolicy": {"id": policy["id"]}},
    )
    user_id = await new_user(admin, env_id, population={"id": population.json()["id"]})
    weak = "Abc1234!"
    assert haystack_days(weak) < 7
    refused = await operate(admin, "PUT", env_id, user_id, SET, {"value": weak})
    body = assert_error(refused, 400, "INVALID_DATA", "INVALID_VALUE", "value")
    assert set(body["details"][0]["innerError"]["unsatisfiedRequirements"]) == {
        "minComplexity",
        "alphabetSequenceRule",
        "numberSequenceRule",
    }
    strong = "Correct horse, battery staple!"
    assert haystack_days(strong) >= 7
    accepted = await operate(admin, "PUT", env_id, user_id, SET, {"value": strong})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["passwordPolicy"] == {"id": policy["id"]}


async def test_writing_policies_needs_more_than_reading_them(
    admin, environment, make_actor: ActorFactory
):
    env_id = environment["id"]
    reader = (await make_actor(("Identity Data Admin", "ENVIRONMENT", env_id))).client
    assert (await reader.get(policies_path(env_id))).status_code == 200
    refused = await reader.post(policies_path(env_id), json={"name": unique("p"), **MINIMAL})
    assert_error(refused, 403, "ACCESS_FAILED")
    writer = (await make_actor(("Environment Admin", "ENVIRONMENT", env_id))).client
    created = await writer.post(policies_path(env_id), json={"name": unique("p"), **MINIMAL})
    assert created.status_code == 201, created.text


async def test_history_keeps_what_the_policy_asks_and_no_more(admin, environment, deployment):
    """``history.count`` 3: the current password and the two before it cannot come back, and
    only those two are stored; one set before ``retentionDays`` is forgotten."""
    from sqlalchemy import func, select, update

    from populace.storage.schema import password_history

    env_id = environment["id"]
    policy = await create(admin, env_id, history={"count": 3, "retentionDays": 30})
    population = await admin.post(
        f"/v1/environments/{env_id}/populations",
        json={"name": unique("pop"), "passwordPolicy": {"id": policy["id"]}},
    )
    user_id = await new_user(admin, env_id, population={"id": population.json()["id"]})

    async def set_password(value: str) -> httpx.Response:
        return await operate(admin, "PUT", env_id, user_id, SET, {"value": value})

    async def stored_history() -> int:
        async with deployment.services.db.read() as conn:
            query = select(func.count()).where(password_history.c.user_id == user_id)
            return int(await conn.scalar(query) or 0)

    for value in ("first-1", "second-2", "third-3"):
        assert (await set_password(value)).status_code == 200
    refused = await set_password("first-1")
    assert_error(refused, 400, "INVALID_DATA", "INVALID_VALUE", "value")
    assert refused.json()["details"][0]["innerError"]["unsatisfiedRequirements"] == ["history"]
    assert (await set_password("fourth-4")).status_code == 200
    assert await stored_history() == 2
    assert (await set_password("first-1")).status_code == 200  # three changes ago: allowed
    # A password set longer ago than retentionDays is forgotten, however recent its turn.
    async with deployment.services.db.write() as conn:
        await conn.execute(
            update(password_history)
            .where(password_history.c.user_id == user_id)
            .values(changed_at=password_history.c.changed_at - 31 * 86_400_000)
        )
    assert (await set_password("third-3")).status_code == 200
    assert await stored_history() == 1  # only "first-1" (set just now) remains


async def test_a_lowered_failure_count_never_leaves_a_password_unusable(
    admin, environment, deployment
):
    """Seven failures under a lockout of ten, then the policy lowers it to five: once no
    attempt is in flight, the next check is checked (not refused forever as "in flight"),
    and a wrong one locks."""
    from sqlalchemy import update

    from populace.passwords.store import STALE_ATTEMPTS_MS
    from populace.passwords.wire import CHECK
    from populace.storage.schema import user_passwords

    env_id = environment["id"]
    lockout = {"failureCount": 10, "durationSeconds": 900}
    policy = await create(admin, env_id, lockout=lockout)
    population = await admin.post(
        f"/v1/environments/{env_id}/populations",
        json={"name": unique("pop"), "passwordPolicy": {"id": policy["id"]}},
    )
    user_id = await new_user(admin, env_id, population={"id": population.json()["id"]})
    assert (
        await operate(admin, "PUT", env_id, user_id, SET, {"value": "Right-0ne!"})
    ).status_code == 200
    for attempt in range(7):
        wrong = await operate(admin, "POST", env_id, user_id, CHECK, {"password": f"no-{attempt}"})
        assert_error(wrong, 400, "INVALID_DATA", "INVALID_VALUE", "password")
    lowered = await admin.put(
        f"{policies_path(env_id)}/{policy['id']}",
        json={"name": policy["name"], **MINIMAL, "lockout": {**lockout, "failureCount": 5}},
    )
    assert lowered.status_code == 200, lowered.text
    async with deployment.services.db.write() as conn:  # time passes: nothing in flight
        await conn.execute(
            update(user_passwords)
            .where(user_passwords.c.user_id == user_id)
            .values(last_attempt_at=user_passwords.c.last_attempt_at - STALE_ATTEMPTS_MS - 1)
        )
    right = await operate(admin, "POST", env_id, user_id, CHECK, {"password": "Right-0ne!"})
    assert right.status_code == 200, right.text
    for attempt in range(5):
        await operate(admin, "POST", env_id, user_id, CHECK, {"password": f"again-{attempt}"})
    assert (await operate(admin, "GET", env_id, user_id, "")).json()["status"] == (
        "PASSWORD_LOCKED_OUT"
    )


async def test_replacing_the_default_while_another_becomes_default(admin, environment):
    """A PUT of the default policy racing creates with ``default: true``: no deadlock (the
    environment is locked first by both), every request answers, one default remains."""
    env_id = environment["id"]
    for _ in range(3):
        current = next(p for p in await policies(admin, env_id) if p["default"])
        path = f"{policies_path(env_id)}/{current['id']}"
        body = {"name": current["name"], **MINIMAL, "default": True}
        answers = await asyncio.gather(
            admin.put(path, json=body),
            *(
                admin.post(
                    policies_path(env_id),
                    json={"name": unique("p"), **MINIMAL, "default": True},
                )
                for _ in range(3)
            ),
        )
        assert [a.status_code for a in answers] == [200, 201, 201, 201], [a.text for a in answers]
        assert len([p for p in await policies(admin, env_id) if p["default"]]) == 1


async def test_migration_0008_keys_names_trims_settings_and_adds_the_predefined_policies(
    empty_database: str,
) -> None:
    """An environment of revision 0007 has only its "Standard" policy, whose stored settings
    carry ``populationCount`` and ``minComplexity``. After 0008 the policy has its name key and
    neither setting, stays the default, and "Basic" and "Passphrase" stand beside it."""
    organization_id, license_id, environment_id = (str(uuid.uuid4()) for _ in range(3))
    standard_id = str(uuid.uuid4())
    stored = sa.table(  # the table as revision 0007 has it
        "password_policies",
        *[sa.column(name) for name in ("environment_id", "id", "name", "description")],
        sa.column("is_default", sa.Boolean()),
        sa.column("settings", sa.JSON()),
        sa.column("created_at", sa.BigInteger()),
        sa.column("updated_at", sa.BigInteger()),
    )
    db = Database(empty_database)
    try:
        await upgrade(db, "0007")
        async with db.write() as conn:
            await insert_organization(conn, organization_id, license_id)
            await conn.execute(
                sa.insert(environments).values(
                    id=environment_id,
                    organization_id=organization_id,
                    name="Old",
                    name_key="old",
                    type="SANDBOX",
                    region="NA",
                    license_id=license_id,
                    created_at=1,
                    updated_at=1,
                )
            )
            await conn.execute(
                sa.insert(stored).values(
                    environment_id=environment_id,
                    id=standard_id,
                    name="Standard",
                    description="A standard policy",
                    is_default=True,
                    settings={"length": {"min": 8}, "populationCount": 0, "minComplexity": 7},
                    created_at=1,
                    updated_at=1,
                )
            )
        await upgrade(db, "head")
        async with db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(password_policies).where(
                        password_policies.c.environment_id == environment_id
                    )
                )
            ).all()
    finally:
        await db.dispose()
    by_name = {row.name: row for row in rows}
    assert set(by_name) == {"Standard", "Basic", "Passphrase"}
    standard = by_name["Standard"]
    assert (standard.id, standard.is_default, standard.name_key) == (standard_id, True, "standard")
    assert standard.settings == {"length": {"min": 8}}
    assert [by_name[name].is_default for name in ("Basic", "Passphrase")] == [False, False]
    assert by_name["Passphrase"].name_key == "passphrase"
