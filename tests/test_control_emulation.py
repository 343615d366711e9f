"""The control API's test aids: the clock (expiry without sleeping), fault rules (errors and
delays PingOne's SDKs retry on) and seeded ids. Each test has a deployment of its own: the
clock and the rules change how the whole deployment behaves."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest_asyncio

from populace.emulation import OWN_CHANGE_SECONDS, Emulation, FaultRule
from tests.support import assert_error, bearer, unique
from tests.test_control import Emulator, _emulator, populate
from tests.test_sign_on import Signer, check, code_for, exchange, new_user, start_flow
from tests.test_sign_on import web_app as make_web_app

CLOCK = "/_populace/clock"
FAULTS = "/_populace/faults"


@pytest_asyncio.fixture
async def emulator(empty_database: str) -> AsyncIterator[Emulator]:
    async for made in _emulator(empty_database, token_failure_limit=0):
        yield made


async def advance(client: httpx.AsyncClient, seconds: int) -> dict[str, object]:
    moved = await client.post(CLOCK, json={"advanceSeconds": seconds})
    assert moved.status_code == 200, moved.text
    return dict(moved.json())


async def signer(e: Emulator) -> Signer:
    environment_id = (await populate(e.client))["environment"]
    user = await new_user(e.client, environment_id)
    return Signer(environment_id, user, await make_web_app(e.client, environment_id))


# --- the clock --------------------------------------------------------------------------------


async def test_the_clock_expires_tokens_without_sleeping(emulator: Emulator) -> None:
    e = emulator
    before = await e.client.get(CLOCK)
    assert before.json()["offsetSeconds"] == 0
    moved = await advance(e.client, 3700)
    assert moved["offsetSeconds"] == 3700
    # The admin's token was issued over an hour ago on the deployment's clock (past the five
    # seconds of skew tolerated).
    expired = await e.client.get("/v1/environments")
    assert_error(expired, 401, "ACCESS_FAILED")
    async with e.anonymous() as anonymous:
        # A control call needs a token too: take a fresh one (issued on the moved clock).
        admin = e.admin
        assert admin.client_secret is not None
        token = await anonymous.post(
            f"/{admin.environment_id}/as/token",
            data={"grant_type": "client_credentials"},
            auth=(admin.client_id, admin.client_secret),
        )
        fresh = bearer(token.json()["access_token"])
        assert (await anonymous.get("/v1/environments", headers=fresh)).status_code == 200
        assert (await anonymous.delete(CLOCK, headers=fresh)).status_code == 204
    # Back on the real time the first token is valid again.
    assert (await e.client.get("/v1/environments")).status_code == 200


async def test_the_clock_ends_codes_and_flows(emulator: Emulator) -> None:
    e = emulator
    async with e.anonymous() as client:
        s = await signer(e)
        code = await code_for(client, s)
        flow = await start_flow(client, s)
        await advance(e.client, 11 * 60)  # codes live ten minutes
        late = await exchange(client, s, code)
        assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
        await advance(e.client, 5 * 60)  # a flow ends 15 minutes after its last step
        assert_error(await check(client, s, flow["id"]), 404, "NOT_FOUND")


async def test_the_clock_unlocks_a_locked_password(emulator: Emulator) -> None:
    e = emulator
    async with e.anonymous() as client:
        s = await signer(e)
        flow = await start_flow(client, s)
        for _ in range(5):
            await check(client, s, flow["id"], password="guess")
        locked = await check(client, s, flow["id"])
        assert_error(locked, 400, "INVALID_DATA", "PASSWORD_LOCKED_OUT")
        await advance(e.client, 901)  # the Standard policy locks for 900 seconds
        flow = await start_flow(client, s)
        unlocked = await check(client, s, flow["id"])
        assert unlocked.status_code == 200, unlocked.text


async def test_the_clock_is_bounded(emulator: Emulator) -> None:
    far = await emulator.client.post(CLOCK, json={"advanceSeconds": 11 * 366 * 86_400})
    assert_error(far, 400, "INVALID_DATA", "INVALID_VALUE", target="advanceSeconds")
    assert (await emulator.client.get(CLOCK)).json()["offsetSeconds"] == 0


# --- fault rules ------------------------------------------------------------------------------


async def add_fault(client: httpx.AsyncClient, **rule: object) -> dict[str, object]:
    added = await client.post(FAULTS, json=rule)
    assert added.status_code == 201, added.text
    return dict(added.json())


async def test_a_counted_fault_answers_its_status_then_stops(emulator: Emulator) -> None:
    e = emulator
    rule = await add_fault(e.client, method="GET", path="/v1/environments", status=503, count=2)
    assert rule["remaining"] == 2
    for _ in range(2):
        failed = await e.client.get("/v1/environments")
        assert_error(failed, 503, "SERVICE_UNAVAILABLE")
        assert failed.headers["Retry-After"]
    assert (await e.client.get("/v1/environments")).status_code == 200
    assert (await e.client.get(f"{FAULTS}/{rule['id']}")).json()["remaining"] == 0
    # Other methods and paths were never touched.
    assert (await e.client.get("/v1/organizations")).status_code == 200


async def test_fault_paths_are_patterns_and_the_control_api_is_spared(emulator: Emulator):
    e = emulator
    await add_fault(e.client, path="/v1/*", status=429)
    limited = await e.client.get("/v1/environments")
    assert_error(limited, 429, "REQUEST_LIMITED")
    assert limited.headers["Retry-After"] == "1"
    listed = await e.client.get(FAULTS)
    assert listed.status_code == 200 and len(listed.json()["_embedded"]["faults"]) == 1
    assert (await e.client.delete(FAULTS)).status_code == 204
    assert (await e.client.get("/v1/environments")).status_code == 200
    refused = await e.client.post(FAULTS, json={"path": "/_populace/*", "status": 500})
    assert_error(refused, 400, "INVALID_DATA", "INVALID_VALUE", target="path")


async def test_latency_delays_and_still_answers(emulator: Emulator) -> None:
    e = emulator
    rule = await add_fault(e.client, path="/v1/organizations", latencyMs=300, probability=1)
    started = time.monotonic()
    answered = await e.client.get("/v1/organizations")
    assert answered.status_code == 200
    assert time.monotonic() - started >= 0.3  # at least the delay (never an upper bound)
    assert (await e.client.delete(f"{FAULTS}/{rule['id']}")).status_code == 204
    assert_error(await e.client.get(f"{FAULTS}/{rule['id']}"), 404, "NOT_FOUND")


async def test_bad_fault_rules_are_400(emulator: Emulator) -> None:
    for rule, target in [
        ({"path": "/v1/x"}, "status"),
        ({"path": "/v1/x", "status": 404}, "status"),
        ({"path": "/v1/x", "status": 500, "latencyMs": 5}, "status"),
        ({"path": "v1/x", "status": 500}, "path"),
        ({"path": "/v1/x", "status": 500, "method": "BREW"}, "method"),
        ({"path": "/v1/x", "status": 500, "probability": 0}, "probability"),
        ({"path": "/v1/x", "status": 500, "count": 0}, "count"),
        ({"path": "/v1/x", "status": 500, "count": 1, "probability": 0.5}, "count"),
    ]:
        refused = await emulator.client.post(FAULTS, json=rule)
        assert_error(refused, 400, "INVALID_DATA", target=target)
    assert (await emulator.client.get(FAULTS)).json()["_embedded"]["faults"] == []


async def test_reset_clears_faults_and_the_clock(emulator: Emulator) -> None:
    e = emulator
    await add_fault(e.client, path="/v1/environments", status=500, method="POST")
    await advance(e.client, 60)
    assert (await e.client.post("/_populace/reset")).status_code == 204
    assert (await e.client.get(FAULTS)).json()["_embedded"]["faults"] == []
    assert (await e.client.get(CLOCK)).json()["offsetSeconds"] == 0


# --- ids --------------------------------------------------------------------------------------


async def test_seeded_ids_repeat(emulator: Emulator) -> None:
    e = emulator
    environments = [(await populate(e.client))["environment"] for _ in range(2)]
    made = []
    for environment_id in environments:
        assert (await e.client.put("/_populace/ids", json={"seed": 7})).json() == {"seed": 7}
        created = await e.client.post(
            f"/v1/environments/{environment_id}/populations", json={"name": unique("p")}
        )
        assert created.status_code == 201, created.text
        made.append(created.json()["id"])
    assert made[0] == made[1] and uuid.UUID(made[0]).version == 4
    assert (await e.client.delete("/_populace/ids")).status_code == 204
    other = await e.client.post(
        f"/v1/environments/{environments[0]}/populations", json={"name": unique("p")}
    )
    assert other.json()["id"] != made[0]


async def test_only_an_organization_admin_controls_them(emulator: Emulator) -> None:
    e = emulator
    async with e.anonymous() as anonymous:
        for method, path in [("GET", CLOCK), ("POST", FAULTS), ("PUT", "/_populace/ids")]:
            assert (await anonymous.request(method, path, json={})).status_code == 401


async def test_a_sign_on_runs_with_the_moved_clock(emulator: Emulator) -> None:
    """Tokens issued on a moved clock carry its times."""
    e = emulator
    async with e.anonymous() as client:
        s = await signer(e)
        await advance(e.client, 86_400)
        tokens = (await exchange(client, s, await code_for(client, s))).json()
        claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
        assert claims["iat"] >= time.time() + 86_000
        info = await client.get(
            f"/{s.environment_id}/as/userinfo", headers=bearer(tokens["access_token"])
        )
        assert info.status_code == 200, info.text


def test_a_refresh_never_undoes_a_change_of_this_process() -> None:
    """A process changes its copy before its transaction commits: a refresh that may have read
    the database before that commit leaves the change alone; a later one applies the database."""
    emulation = Emulation()
    rule = FaultRule("r", "*", "/v1/*", 500, None, None, None)
    emulation.own_change(faults=(rule,), clock_offset_ms=60_000)
    emulation.refreshed(time.monotonic(), 0, ())  # read around the change: stale
    assert emulation.faults == (rule,) and emulation.clock_offset_ms == 60_000
    later = time.monotonic() + OWN_CHANGE_SECONDS + 0.1  # a refresh begun after it settled
    emulation.refreshed(later, 0, ())
    assert emulation.faults == () and emulation.clock_offset_ms == 0
