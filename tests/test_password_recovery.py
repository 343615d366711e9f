"""Password recovery: ``sendRecoveryCode`` puts a code in populace's outbox (PingOne e-mails
it), ``recover`` sets a new password with it; five wrong codes end it, as do five minutes."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from populace.passwords.wire import CHECK, RECOVER, SEND_RECOVERY_CODE, SET
from populace.storage.schema import user_passwords
from tests.conftest import ActorFactory, Deployment
from tests.support import assert_error, unique
from tests.test_passwords import GOOD, OTHER, new_user, operate, state


async def messages(
    admin: httpx.AsyncClient, environment_id: str, user_id: str
) -> list[dict[str, Any]]:
    response = await admin.get(
        f"/_populace/environments/{environment_id}/messages",
        params={"filter": f'user.id eq "{user_id}"'},
    )
    assert response.status_code == 200, response.text
    return list(response.json()["_embedded"]["messages"])


async def user_with_password(admin: httpx.AsyncClient, environment_id: str) -> str:
    user_id = await new_user(admin, environment_id)
    response = await operate(admin, "PUT", environment_id, user_id, SET, {"value": GOOD})
    assert response.status_code == 200, response.text
    return user_id


async def send_code(admin: httpx.AsyncClient, environment_id: str, user_id: str) -> str:
    sent = await operate(admin, "POST", environment_id, user_id, SEND_RECOVERY_CODE)
    assert sent.status_code == 200, sent.text
    return str((await messages(admin, environment_id, user_id))[-1]["content"]["recoveryCode"])


async def recover(
    admin: httpx.AsyncClient, environment_id: str, user_id: str, code: str, new: str = OTHER
) -> httpx.Response:
    body = {"recoveryCode": code, "newPassword": new}
    return await operate(admin, "POST", environment_id, user_id, RECOVER, body)


async def test_a_code_from_the_outbox_sets_a_new_password_once(admin, environment):
    env_id = environment["id"]
    user_id = await user_with_password(admin, env_id)
    user = (await admin.get(f"/v1/environments/{env_id}/users/{user_id}")).json()
    code = await send_code(admin, env_id, user_id)
    (message,) = await messages(admin, env_id, user_id)
    assert message["type"] == "PASSWORD_RECOVERY" and message["recipient"] == user["email"]
    assert len(code) == 8 and message["expiresAt"] > message["createdAt"]
    recovered = await recover(admin, env_id, user_id, code)
    assert recovered.status_code == 200, recovered.text
    assert recovered.json()["status"] == "OK"
    checked = await operate(admin, "POST", env_id, user_id, CHECK, {"password": OTHER})
    assert checked.status_code == 200, checked.text
    again = await recover(admin, env_id, user_id, code, "An0ther-Secret!")
    assert_error(again, 400, "INVALID_DATA", "INVALID_VALUE", "recoveryCode")


async def test_five_wrong_codes_end_the_code(admin, environment):
    env_id = environment["id"]
    user_id = await user_with_password(admin, env_id)
    code = await send_code(admin, env_id, user_id)
    for _ in range(5):
        wrong = await recover(admin, env_id, user_id, "WRONG123")
        assert_error(wrong, 400, "INVALID_DATA", "INVALID_VALUE", "recoveryCode")
    ended = await recover(admin, env_id, user_id, code)
    body = assert_error(ended, 400, "INVALID_DATA", "INVALID_VALUE", "recoveryCode")
    assert "maximum password recovery failures exceeded" in body["details"][0]["message"]
    checked = await operate(admin, "POST", env_id, user_id, CHECK, {"password": GOOD})
    assert checked.status_code == 200, checked.text  # the password did not change


async def test_an_expired_code_sets_nothing(admin, environment, deployment: Deployment):
    env_id = environment["id"]
    user_id = await user_with_password(admin, env_id)
    code = await send_code(admin, env_id, user_id)
    async with deployment.services.db.write() as conn:  # five minutes pass
        await conn.execute(
            update(user_passwords)
            .where(user_passwords.c.user_id == user_id)
            .values(recovery_expires_at=user_passwords.c.recovery_expires_at - 300_001)
        )
    expired = await recover(admin, env_id, user_id, code)
    assert_error(expired, 400, "INVALID_DATA", "INVALID_VALUE", "recoveryCode")


async def test_only_the_last_code_holds_and_a_new_password_ends_it(admin, environment):
    env_id = environment["id"]
    user_id = await user_with_password(admin, env_id)
    first = await send_code(admin, env_id, user_id)
    second = await send_code(admin, env_id, user_id)
    assert first != second  # 32**8 codes: equal only by a broken generator
    # The outbox keeps only a code that still works.
    assert [m["content"]["recoveryCode"] for m in await messages(admin, env_id, user_id)] == [
        second
    ]
    stale = await recover(admin, env_id, user_id, first)
    assert_error(stale, 400, "INVALID_DATA", "INVALID_VALUE", "recoveryCode")
    reset = await operate(admin, "PUT", env_id, user_id, SET, {"value": "Fr3sh-Start!x"})
    assert reset.status_code == 200, reset.text
    ended = await recover(admin, env_id, user_id, second)
    assert_error(ended, 400, "INVALID_DATA", "INVALID_VALUE", "recoveryCode")
    assert await messages(admin, env_id, user_id) == []


async def test_the_new_password_meets_the_policy_without_using_up_the_code(admin, environment):
    """A refused new password is not a wrong code: five of them leave the code working."""
    env_id = environment["id"]
    user_id = await user_with_password(admin, env_id)
    code = await send_code(admin, env_id, user_id)
    for _ in range(5):
        weak = await recover(admin, env_id, user_id, code, "weak")
        body = assert_error(weak, 400, "INVALID_DATA", "INVALID_VALUE", "newPassword")
        assert "length" in body["details"][0]["innerError"]["unsatisfiedRequirements"]
    assert (await state(admin, env_id, user_id))["status"] == "OK"
    recovered = await recover(admin, env_id, user_id, code)
    assert recovered.status_code == 200, recovered.text
    assert await messages(admin, env_id, user_id) == []  # a used code is not kept


async def test_no_code_for_a_user_without_a_password_or_disabled(admin, environment):
    env_id = environment["id"]
    without = await new_user(admin, env_id)
    disabled = await user_with_password(admin, env_id)
    flag = await admin.put(
        f"/v1/environments/{env_id}/users/{disabled}/enabled", json={"enabled": False}
    )
    assert flag.status_code == 200, flag.text
    for user_id in (without, disabled):
        sent = await operate(admin, "POST", env_id, user_id, SEND_RECOVERY_CODE)
        assert sent.status_code == 200, sent.text
        assert await messages(admin, env_id, user_id) == []


async def test_the_outbox_is_for_organization_admins_only(
    admin, environment, make_actor: ActorFactory, client: httpx.AsyncClient
):
    env_id = environment["id"]
    path = f"/_populace/environments/{env_id}/messages"
    environment_admin = (await make_actor(("Environment Admin", "ENVIRONMENT", env_id))).client
    assert_error(await environment_admin.get(path), 403, "ACCESS_FAILED")
    assert (await client.get(path)).status_code == 401
    assert (await admin.get(path)).status_code == 200
    assert_error(await admin.get(f"/_populace/{unique('nothing')}"), 404, "NOT_FOUND")
