"""The per-client rate limit is shared by all processes of a deployment (database or Redis)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from populace.app import build_app, start
from populace.config import Config
from tests.support import WAIT_SECONDS, assert_error, bearer, fetch_token

LIMIT = 3
# More requests than one window lets through on both processes together if each counted alone.
BURST = 2 * LIMIT + 2


async def _apps(database: str, redis_url: str | None) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Two independent app instances on one database: two processes, as far as state goes."""
    config = Config(database_url=database, rate_limit=LIMIT, redis_url=redis_url)
    started = [await start(config) for _ in range(2)]
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(services), raise_app_exceptions=False),
            base_url="http://populace.test",
        )
        for services, _ in started
    ]
    admin = started[0][1]
    token = await fetch_token(
        clients[0], admin.environment_id, admin.client_id, admin.client_secret
    )
    for client in clients:
        client.headers.update(bearer(token))
    yield clients
    for client in clients:
        await client.aclose()
    for services, _ in started:
        await services.db.dispose()


@pytest_asyncio.fixture(params=["database", "redis"])
async def limited(
    request: pytest.FixtureRequest, empty_database: str
) -> AsyncIterator[list[httpx.AsyncClient]]:
    redis_url = "redis://127.0.0.1:6379/0" if request.param == "redis" else None
    async for clients in _apps(empty_database, redis_url):
        yield clients


async def test_limit_is_shared_between_processes(limited: list[httpx.AsyncClient]) -> None:
    # BURST requests alternate between the two "processes". The limit counts requests in
    # one-second windows of the clock (time.time()), the clock of this process, where both app
    # instances run: a burst that begins and ends within one second of it fell in one window,
    # and with the count shared exactly LIMIT of it pass (each process counting alone would let
    # 2 * LIMIT pass). A burst that straddles a second boundary (a slow machine) is checked for
    # what it proves, and the next one starts at the next boundary, until one fits in a second.
    deadline = time.monotonic() + WAIT_SECONDS
    straddled: list[list[int]] = []
    while True:
        await asyncio.sleep(1.001 - time.time() % 1)  # the start of a fresh window
        began = time.time()
        responses = [await limited[i % 2].get("/v1/environments") for i in range(BURST)]
        ended = time.time()
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 429}, statuses
        windows = int(ended) - int(began) + 1
        assert statuses.count(200) <= LIMIT * windows, (statuses, windows)
        for refused in (r for r in responses if r.status_code == 429):
            body = assert_error(refused, 429, "REQUEST_LIMITED", "LIMIT_EXCEEDED")
            assert int(refused.headers["Retry-After"]) >= 1
            assert body["details"][0]["innerError"]["quotaLimit"] == LIMIT
        if windows == 1:
            break
        straddled.append(statuses)
        assert time.monotonic() < deadline, f"no burst fit in one second: {straddled}"
    assert statuses == [200] * LIMIT + [429] * (BURST - LIMIT), statuses


async def test_requests_without_a_valid_token_still_get_401(
    limited: list[httpx.AsyncClient],
) -> None:
    response = await limited[0].get("/v1/environments", headers={"Authorization": "Bearer nope"})
    assert_error(response, 401, "ACCESS_FAILED", "INVALID_TOKEN")
