"""Passwords: the getting-started guide's Task 2 verbatim, and every operation PingOne picks by
Content-Type on ``.../users/{userID}/password``, under the environment's password policy."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from typing import Any

import bcrypt
import httpx
import pytest

from populace.passwords.wire import CHECK, FORCE_CHANGE, RESET, SET, UNLOCK
from populace.users.wire import USER_IMPORT
from tests.conftest import Deployment
from tests.support import assert_error, bearer, fetch_token, record_calls, unique

GOOD = "2FederateM0re!"  # meets PingOne's Standard policy
OTHER = "Sk1es-Are-Blue?"


def password_path(environment_id: str, user_id: str) -> str:
    return f"/v1/environments/{environment_id}/users/{user_id}/password"


async def operate(
    client: httpx.AsyncClient,
    method: str,
    environment_id: str,
    user_id: str,
    media_type: str,
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    content = b"" if body is None else httpx.Request("POST", "/", json=body).content
    return await client.request(
        method,
        password_path(environment_id, user_id),
        content=content,
        headers={"Content-Type": media_type},
    )


async def new_user(admin: httpx.AsyncClient, environment_id: str, **fields: Any) -> str:
    username = unique("user")
    response = await admin.post(
        f"/v1/environments/{environment_id}/users",
        json={"username": username, "email": f"{username}@example.com", **fields},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def state(admin: httpx.AsyncClient, environment_id: str, user_id: str) -> dict[str, Any]:
    response = await admin.get(password_path(environment_id, user_id))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_task_2_of_the_getting_started_guide_verbatim(
    client: httpx.AsyncClient, deployment: Deployment
) -> None:
    """Steps 1-6 of "Create a test environment", with the guide's requests as written."""
    admin = deployment.admin
    token = await fetch_token(client, admin.environment_id, admin.client_id, admin.client_secret)
    headers = bearer(token)
    licenses = await client.get(
        f"/v1/organizations/{admin.organization_id}/licenses", headers=headers
    )
    assert licenses.status_code == 200, licenses.text
    license_id = licenses.json()["_embedded"]["licenses"][0]["id"]
    environment = await client.post(
        "/v1/environments",
        headers=headers,
        json={
            "name": unique("guide"),
            "description": "New environment",
            "type": "SANDBOX",
            "region": "NA",
            "license": {"id": license_id},
        },
    )
    assert environment.status_code == 201, environment.text
    env_id = environment.json()["id"]
    try:
        population = await client.post(
            f"/v1/environments/{env_id}/populations",
            headers=headers,
            json={"name": "Sample Population", "description": "Sample users"},
        )
        assert population.status_code == 201, population.text
        user = await client.post(
            f"/v1/environments/{env_id}/users",
            headers=headers,
            json={
                "email": "lindajones@example.com",
                "name": {"given": "Linda", "family": "Jones"},
                "population": {"id": population.json()["id"]},
                "username": "lindajones",
            },
        )
        assert user.status_code == 201, user.text
        user_id = user.json()["id"]
        client.headers.update(headers)
        assert (await state(client, env_id, user_id))["status"] == "NO_PASSWORD"
        response = await client.put(
            password_path(env_id, user_id),
            headers={**headers, "Content-Type": SET},
            content=b'{"value": "2FederateM0re!", "forceChange": false}',
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "OK"
        assert body["user"] == {"id": user_id}
        assert "value" not in body and GOOD not in response.text
    finally:
        await client.delete(f"/v1/environments/{env_id}", headers=headers)


async def test_set_force_change_and_check(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    response = await operate(
        admin, "PUT", env_id, user_id, SET, {"value": GOOD, "forceChange": True}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "MUST_CHANGE_PASSWORD"
    checked = await operate(admin, "POST", env_id, user_id, CHECK, {"password": GOOD})
    assert checked.status_code == 200, checked.text
    wrong = await operate(admin, "POST", env_id, user_id, CHECK, {"password": OTHER})
    assert_error(wrong, 400, "INVALID_DATA", "INVALID_VALUE", "password")
    forced = await operate(admin, "POST", env_id, user_id, FORCE_CHANGE)
    assert forced.json()["status"] == "MUST_CHANGE_PASSWORD"


async def test_policy_violations_name_every_unsatisfied_requirement(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    response = await operate(admin, "PUT", env_id, user_id, SET, {"value": "password"})
    body = assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "value")
    inner = body["details"][0]["innerError"]
    assert set(inner["unsatisfiedRequirements"]) >= {"minCharacters", "excludesCommonlyUsed"}
    assert (await state(admin, env_id, user_id))["status"] == "NO_PASSWORD"
    bypassed = await operate(
        admin, "PUT", env_id, user_id, SET, {"value": "password", "bypassPolicy": True}
    )
    assert bypassed.status_code == 200, bypassed.text


async def test_lockout_after_failed_checks_and_unlock(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """The Standard policy locks after 5 failures; the lock holds even for the right
    password, and an unlock lifts it."""
    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    assert (await operate(admin, "PUT", env_id, user_id, SET, {"value": GOOD})).status_code == 200
    for _ in range(5):
        wrong = await operate(admin, "POST", env_id, user_id, CHECK, {"password": OTHER})
        assert wrong.status_code == 400, wrong.text
    locked = await state(admin, env_id, user_id)
    assert locked["status"] == "PASSWORD_LOCKED_OUT"
    assert 0 < locked["secondsUntilUnlock"] <= 900
    right = await operate(admin, "POST", env_id, user_id, CHECK, {"password": GOOD})
    assert_error(right, 400, "INVALID_DATA", "PASSWORD_LOCKED_OUT", "password")
    unlocked = await operate(admin, "POST", env_id, user_id, UNLOCK)
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["status"] == "OK"
    assert (
        await operate(admin, "POST", env_id, user_id, CHECK, {"password": GOOD})
    ).status_code == 200


async def test_self_change_needs_the_current_password_and_a_new_one(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    await operate(admin, "PUT", env_id, user_id, SET, {"value": GOOD, "bypassPolicy": True})
    wrong = await operate(
        admin, "PUT", env_id, user_id, RESET, {"currentPassword": OTHER, "newPassword": OTHER}
    )
    assert_error(wrong, 400, "INVALID_DATA", "INVALID_VALUE", "currentPassword")
    # An administrator's reset (no current password): the user must change it.
    reset = await operate(admin, "PUT", env_id, user_id, RESET, {"newPassword": OTHER})
    assert reset.status_code == 200, reset.text
    assert reset.json()["status"] == "MUST_CHANGE_PASSWORD"


@pytest.mark.parametrize("scheme", ["SSHA", "SSHA256", "SSHA512", "BCRYPT"])
async def test_imported_hashes_check_and_become_argon2id(
    admin: httpx.AsyncClient, environment: dict[str, Any], deployment: Deployment, scheme: str
) -> None:
    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    if scheme == "BCRYPT":
        encoded = "{BCRYPT}" + bcrypt.hashpw(b"old secret", bcrypt.gensalt(4)).decode()
    else:
        algorithm = {"SSHA": "sha1", "SSHA256": "sha256", "SSHA512": "sha512"}[scheme]
        salt = os.urandom(8)
        digest = hashlib.new(algorithm, b"old secret" + salt).digest()
        encoded = f"{{{scheme}}}" + base64.b64encode(digest + salt).decode()
    response = await operate(admin, "PUT", env_id, user_id, SET, {"value": encoded})
    assert response.status_code == 200, response.text
    assert (
        await operate(admin, "POST", env_id, user_id, CHECK, {"password": "nope"})
    ).status_code == 400
    assert (
        await operate(admin, "POST", env_id, user_id, CHECK, {"password": "old secret"})
    ).status_code == 200
    async with deployment.services.db.read() as conn:
        from populace.passwords import store

        row = await store.get(conn, env_id, user_id)
    assert row is not None and row.hash.startswith("$argon2id$")


async def test_unknown_hash_formats_are_refused(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    for value in ("{MD5}X03MO1qnZdYdgyfeuILPmQ==", "{SSHA}not base64!", "{BCRYPT}$1$short"):
        response = await operate(admin, "PUT", env_id, user_id, SET, {"value": value})
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "value")
    assert (await state(admin, env_id, user_id))["status"] == "NO_PASSWORD"


async def test_media_type_picks_the_operation(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    for media in ("application/json", "", "application/vnd.pingidentity.password.nope+json"):
        response = await operate(admin, "PUT", env_id, user_id, media, {"value": GOOD})
        assert_error(response, 415, "INVALID_REQUEST")
    assert (await state(admin, env_id, user_id))["status"] == "NO_PASSWORD"


async def test_huge_and_nul_passwords_are_refused_before_hashing(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    for value, target in (("A1!a" * 300, "value"), ("Abc1!\x00defg", None)):
        response = await operate(
            admin, "PUT", env_id, user_id, SET, {"value": value, "bypassPolicy": True}
        )
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", target)
    assert (await state(admin, env_id, user_id))["status"] == "NO_PASSWORD"


def _checked(answers: list[httpx.Response]) -> list[httpx.Response]:
    """The answers whose password was checked: a match (200) or a mismatch; every other
    answer was refused unchecked, locked or past the room the lockout leaves (429)."""
    codes = [a.json().get("details", [{}])[0].get("code") for a in answers]
    assert all(
        a.status_code == 429 or code in ("PASSWORD_LOCKED_OUT", "INVALID_VALUE", None)
        for a, code in zip(answers, codes, strict=True)
    ), [a.text for a in answers]
    return [a for a, code in zip(answers, codes, strict=True) if code in ("INVALID_VALUE", None)]


# How a password is stored decides how it is checked: a hash of the cheap cost the tests run
# with is checked inside the transaction that admits the check; an imported one on a thread,
# between two transactions. The lockout holds either way.
STORED_AS = {"argon2id": lambda: GOOD, "imported": lambda: ssha512(GOOD.encode())}


@pytest.mark.parametrize("stored_as", STORED_AS)
async def test_parallel_guesses_cannot_outrun_the_lockout(
    admin: httpx.AsyncClient, environment: dict[str, Any], stored_as: str
) -> None:
    """Twenty wrong guesses at once: every check is admitted before its hash is checked, and
    failures and checks in flight together never pass the count, so exactly five are checked
    and their failures lock the password."""
    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    await operate(admin, "PUT", env_id, user_id, SET, {"value": STORED_AS[stored_as]()})
    answers = await asyncio.gather(
        *(
            operate(admin, "POST", env_id, user_id, CHECK, {"password": f"Wrong-{i}-Guess!"})
            for i in range(20)
        )
    )
    assert len(_checked(answers)) == 5, [a.text for a in answers]
    assert (await state(admin, env_id, user_id))["status"] == "PASSWORD_LOCKED_OUT"


@pytest.mark.parametrize("stored_as", STORED_AS)
async def test_a_match_among_parallel_guesses_frees_no_room_for_more(
    admin: httpx.AsyncClient, environment: dict[str, Any], stored_as: str
) -> None:
    """The right password among nineteen wrong ones at once: its match forgets the failures
    before it (as PingOne does), but the guesses still in flight keep their place, so at most
    four wrong ones are checked before the match and five after it (the fifth locks)."""
    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    await operate(admin, "PUT", env_id, user_id, SET, {"value": STORED_AS[stored_as]()})
    guesses = [f"Wrong-{i}-Guess!" for i in range(19)] + [GOOD]
    answers = await asyncio.gather(
        *(operate(admin, "POST", env_id, user_id, CHECK, {"password": g}) for g in guesses)
    )
    checked = _checked(answers)
    matched = answers[-1].status_code == 200
    assert len(checked) <= (4 + 1 + 5 if matched else 5), [a.text for a in checked]
    assert (await state(admin, env_id, user_id))["status"] in ("PASSWORD_LOCKED_OUT", "OK")


async def test_checks_in_flight_keep_their_place_across_a_match(
    deployment: Deployment, admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """The counting itself, step by step: five checks admitted fill the room; a match frees
    only its own place; the failures that follow lock at the fifth."""
    from populace.passwords import store

    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    await operate(admin, "PUT", env_id, user_id, SET, {"value": GOOD})
    db, now = deployment.services.db, 1_000

    async def admit() -> Any:
        async with db.write() as conn:
            return await store.admit_check(conn, env_id, user_id, now, 5)

    admitted = [await admit() for _ in range(5)]
    assert all(admitted) and await admit() is None
    async with db.write() as conn:
        assert await store.clear_attempts(conn, env_id, user_id, now, admitted[0].hash, None)
    assert await admit() is not None and await admit() is None
    for _ in range(5):
        async with db.write() as conn:
            await store.fail_check(conn, env_id, user_id, now, 5, now + 900_000)
    async with db.read() as conn:
        row = await store.get(conn, env_id, user_id)
    assert row.locked_until == now + 900_000 and row.checks_in_flight == 0


async def test_parallel_checks_of_the_right_password_never_lock_it(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """More right answers at once than the lockout's failureCount: each is checked (200) or
    asked to retry (429); none counts as a failure, so the password stays usable."""
    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    await operate(admin, "PUT", env_id, user_id, SET, {"value": GOOD})
    answers = await asyncio.gather(
        *(operate(admin, "POST", env_id, user_id, CHECK, {"password": GOOD}) for _ in range(20))
    )
    assert {a.status_code for a in answers} <= {200, 429}, [a.text for a in answers]
    assert any(a.status_code == 200 for a in answers)
    assert (await state(admin, env_id, user_id))["status"] == "OK"
    again = await operate(admin, "POST", env_id, user_id, CHECK, {"password": GOOD})
    assert again.status_code == 200, again.text


async def test_imported_hash_costs_are_bounded_and_bcrypt_limits_hold(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    for value in (
        "{BCRYPT}$2b$31$" + "a" * 53,
        "{BCRYPT}$2b$04$" + "!" * 53,
        "{ARGON2}$argon2id$v=19$m=8,t=4294967295,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
    ):
        response = await operate(admin, "PUT", env_id, user_id, SET, {"value": value})
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "value")
    long_secret = "é" * 40  # 80 bytes: more than bcrypt reads
    encoded = "{BCRYPT}" + bcrypt.hashpw(long_secret.encode()[:72], bcrypt.gensalt(4)).decode()
    assert (
        await operate(admin, "PUT", env_id, user_id, SET, {"value": encoded})
    ).status_code == 200
    response = await operate(admin, "POST", env_id, user_id, CHECK, {"password": long_secret})
    assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "password")


async def test_a_refused_password_does_not_tell_whether_it_is_the_current_one(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """History is judged only for a password every other rule accepts: a weak guess is refused
    the same way whether or not it is the current password."""
    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    await operate(admin, "PUT", env_id, user_id, SET, {"value": "summer1", "bypassPolicy": True})
    answers = [
        await operate(admin, "PUT", env_id, user_id, SET, {"value": guess})
        for guess in ("summer1", "summer2")
    ]
    inner = [a.json()["details"][0]["innerError"]["unsatisfiedRequirements"] for a in answers]
    assert inner[0] == inner[1] and "history" not in inner[0], inner


async def test_a_new_user_comes_with_its_password(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """``password`` in a new user's body: checked against the policy (a weak one refuses the
    whole user), stored hashed, never echoed."""
    env_id = environment["id"]
    username = unique("user")
    body = {"username": username, "email": f"{username}@example.com"}
    weak = await admin.post(
        f"/v1/environments/{env_id}/users", json={**body, "password": {"value": "password"}}
    )
    assert_error(weak, 400, "INVALID_DATA", "INVALID_VALUE", "password.value")
    listed = await admin.get(f"/v1/environments/{env_id}/users")
    assert listed.json()["_embedded"]["users"] == []
    created = await admin.post(
        f"/v1/environments/{env_id}/users",
        json={**body, "password": {"value": GOOD, "forceChange": True}},
    )
    assert created.status_code == 201, created.text
    assert GOOD not in created.text and "password" not in created.json()
    user_id = created.json()["id"]
    assert (await state(admin, env_id, user_id))["status"] == "MUST_CHANGE_PASSWORD"
    checked = await operate(admin, "POST", env_id, user_id, CHECK, {"password": GOOD})
    assert checked.status_code == 200, checked.text


def ssha512(secret: bytes) -> str:
    salt = os.urandom(8)
    return "{SSHA512}" + base64.b64encode(hashlib.sha512(secret + salt).digest() + salt).decode()


async def import_user(
    admin: httpx.AsyncClient, environment_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await admin.post(
        f"/v1/environments/{environment_id}/users",
        content=httpx.Request("POST", "/", json=body).content,
        headers={"Content-Type": USER_IMPORT},
    )


async def test_import_brings_the_lifecycle_and_a_password_hashed_elsewhere(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    username = unique("imported")
    response = await import_user(
        admin,
        env_id,
        {
            "username": username,
            "email": f"{username}@example.com",
            "lifecycle": {"status": "VERIFICATION_REQUIRED", "suppressVerificationCode": True},
            "emailVerified": True,
            "mfaEnabled": True,
            "password": {"value": ssha512(b"from the old directory"), "forceChange": True},
        },
    )
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["lifecycle"] == {"status": "VERIFICATION_REQUIRED"}
    assert user["emailVerified"] is True and user["mfaEnabled"] is True
    assert (await admin.get(f"/v1/environments/{env_id}/users/{user['id']}")).json() == user
    assert (await state(admin, env_id, user["id"]))["status"] == "MUST_CHANGE_PASSWORD"
    checked = await operate(
        admin, "POST", env_id, user["id"], CHECK, {"password": "from the old directory"}
    )
    assert checked.status_code == 200, checked.text


async def test_only_an_import_sets_the_lifecycle(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    username = unique("plain")
    response = await admin.post(
        f"/v1/environments/{env_id}/users",
        json={
            "username": username,
            "email": f"{username}@example.com",
            "lifecycle": {"status": "VERIFICATION_REQUIRED"},
            "emailVerified": True,
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["lifecycle"] == {"status": "ACCOUNT_OK"}
    assert response.json()["emailVerified"] is False


@pytest.mark.parametrize(
    ("value", "said"),
    [
        # Formats populace does not verify: the answer lists the ones it does.
        ("{MD5}X03MO1qnZdYdgyfeuILPmQ==", "SSHA512"),
        ("{PBKDF2}AAAAAA==", "SSHA512"),
        # A format confusion: bcrypt's string under the SSHA prefix, and SSHA under bcrypt's.
        ("{SSHA512}" + bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode(), "{SSHA512}"),
        ("{BCRYPT}" + base64.b64encode(hashlib.sha512(b"secret").digest()).decode(), "{BCRYPT}"),
    ],
)
async def test_an_import_with_a_hash_populace_cannot_verify_creates_nothing(
    admin: httpx.AsyncClient, environment: dict[str, Any], value: str, said: str
) -> None:
    env_id = environment["id"]
    username = unique("refused")
    response = await import_user(
        admin,
        env_id,
        {"username": username, "email": f"{username}@example.com", "password": {"value": value}},
    )
    body = assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "password.value")
    assert said in body["details"][0]["message"]
    listed = await admin.get(
        f"/v1/environments/{env_id}/users", params={"filter": f'username eq "{username}"'}
    )
    assert listed.json()["_embedded"]["users"] == []


async def test_an_import_with_a_cleartext_password_meets_the_policy(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    username = unique("weak")
    response = await import_user(
        admin,
        env_id,
        {"username": username, "email": f"{username}@example.com", "password": {"value": "abc"}},
    )
    assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "password.value")


async def test_a_user_without_a_password_costs_a_check_as_a_wrong_password_does(
    admin: httpx.AsyncClient,
    environment: dict[str, Any],
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not timed (the machine's speed must not matter): the hashes verified are counted. A
    user with no password has a dummy hash checked, so the answer takes as long."""
    env_id = environment["id"]
    with_password, without = await new_user(admin, env_id), await new_user(admin, env_id)
    await operate(admin, "PUT", env_id, with_password, SET, {"value": GOOD})
    verified = record_calls(monkeypatch, deployment.services.hasher, "_argon2_matches")
    for user_id in (with_password, without):
        response = await operate(admin, "POST", env_id, user_id, CHECK, {"password": OTHER})
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "password")
    assert len(verified) == 2 and all(stored.startswith("$argon2id$") for stored, _ in verified)


@pytest.mark.parametrize(
    ("media_type", "content"),
    [
        (SET, b'{"value": "Bad-\xff\xfe-Passw0rd!"}'),
        (SET, b'{"value": "Lone-\\ud800-Passw0rd!"}'),
        (CHECK, b'{"password": "\xed\xa0\x80"}'),
        (RESET, b'{"newPassword": "Trunc-\xe2\x82", "currentPassword": "x"}'),
    ],
)
async def test_passwords_that_are_not_text_are_refused(
    admin: httpx.AsyncClient, environment: dict[str, Any], media_type: str, content: bytes
) -> None:
    """Invalid UTF-8 and lone surrogates never reach the hasher: 400, and nothing changes."""
    env_id = environment["id"]
    user_id = await new_user(admin, env_id)
    await operate(admin, "PUT", env_id, user_id, SET, {"value": GOOD})
    before = await state(admin, env_id, user_id)
    method = "PUT" if media_type in (SET, RESET) else "POST"
    response = await admin.request(
        method,
        password_path(env_id, user_id),
        content=content,
        headers={"Content-Type": media_type},
    )
    assert_error(response, 400, "INVALID_REQUEST")  # not JSON text: refused as it is read
    assert await state(admin, env_id, user_id) == before


async def test_a_wrong_password_against_an_imported_hash_costs_an_argon2_check(
    admin: httpx.AsyncClient,
    environment: dict[str, Any],
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A salted SHA compares in microseconds: without an argon2id check beside it, a wrong
    guess would answer faster for users with imported hashes than for the rest (the sign-on
    flow's INVALID_CREDENTIALS would tell them apart). Counted, never timed."""
    env_id = environment["id"]
    imported = await new_user(admin, env_id)
    await operate(admin, "PUT", env_id, imported, SET, {"value": ssha512(GOOD.encode())})
    verified = record_calls(monkeypatch, deployment.services.hasher, "_argon2_matches")
    response = await operate(admin, "POST", env_id, imported, CHECK, {"password": OTHER})
    assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", "password")
    assert len(verified) == 1


async def test_only_hashes_of_the_cheap_cost_are_checked_without_a_thread() -> None:
    """At the cheap cost, its own hashes (and a missing password's dummy) are checked in place,
    quicker than a thread hop; anything that may take longer (an imported hash, a hash of the
    standard cost, any check at the standard cost) goes to a thread."""
    from populace.passwords.hashing import Hasher

    cheap, standard = Hasher("cheap"), Hasher("standard")
    cheap_hash, standard_hash = await cheap.hash(GOOD), await standard.hash(GOOD)
    assert cheap.is_quick(cheap_hash) and cheap.is_quick(None)
    for slow in (standard_hash, ssha512(GOOD.encode()), "{ARGON2}" + cheap_hash):
        assert not cheap.is_quick(slow)
    assert not any(standard.is_quick(h) for h in (cheap_hash, standard_hash, None))
    checked = await cheap.check(cheap_hash, GOOD)
    assert checked.matches and checked.upgraded is None
    assert not (await cheap.check(cheap_hash, OTHER)).matches
    # A standard-cost hash checked at the cheap cost matches, and is replaced by a cheap one.
    upgraded = (await cheap.check(standard_hash, GOOD)).upgraded
    assert upgraded is not None and cheap.is_quick(upgraded)
