"""Two ``populace serve`` processes on one database racing on the same objects: a write that
loses a race answers what the winner left behind (404), never a 500.

Each round starts the racing requests together (``asyncio.gather`` over two processes); which
one wins differs from round to round, and every outcome is checked.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.support import ServerProcess, bearer, fetch_token, unique

ROUNDS = 20
TIMEOUT = 60.0
ADMIN = {
    "POPULACE_ADMIN_ENVIRONMENT_ID": str(uuid.uuid4()),
    "POPULACE_ADMIN_CLIENT_ID": str(uuid.uuid4()),
    "POPULACE_ADMIN_CLIENT_SECRET": "race-secret-" + uuid.uuid4().hex,
}


@pytest.fixture
def servers(empty_database: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    try:
        for _ in range(2):
            server = ServerProcess(empty_database, env=ADMIN)
            started.append(server)
            server.start(tmp_path, timeout=120)
        yield started
    finally:
        for server in started:
            server.stop()
    for server in started:
        assert "Traceback" not in server.log(), server.log()


@pytest_asyncio.fixture
async def clients(servers: list[ServerProcess]) -> AsyncIterator[list[httpx.AsyncClient]]:
    made = [httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) for server in servers]
    token = await fetch_token(
        made[0],
        ADMIN["POPULACE_ADMIN_ENVIRONMENT_ID"],
        ADMIN["POPULACE_ADMIN_CLIENT_ID"],
        ADMIN["POPULACE_ADMIN_CLIENT_SECRET"],
    )
    for client in made:
        client.headers.update(bearer(token))
    yield made
    for client in made:
        await client.aclose()


async def _new_environment(client: httpx.AsyncClient) -> str:
    organization = (await client.get("/v1/organizations")).json()["_embedded"]["organizations"][0]
    licenses = await client.get(f"/v1/organizations/{organization['id']}/licenses")
    license_id = licenses.json()["_embedded"]["licenses"][0]["id"]
    created = await client.post(
        "/v1/environments",
        json={
            "name": unique("race"),
            "type": "SANDBOX",
            "region": "NA",
            "license": {"id": license_id},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_put_of_a_population_deleted_at_the_same_moment_is_404(
    clients: list[httpx.AsyncClient],
) -> None:
    first, second = clients
    environment_id = await _new_environment(first)
    populations = f"/v1/environments/{environment_id}/populations"
    outcomes: set[tuple[int, int]] = set()
    for _ in range(ROUNDS):
        created = await first.post(populations, json={"name": unique("pop")})
        assert created.status_code == 201, created.text
        path = f"{populations}/{created.json()['id']}"
        put, deleted = await asyncio.gather(
            first.put(path, json={"name": unique("renamed")}), second.delete(path)
        )
        assert put.status_code in (200, 404), put.text
        assert deleted.status_code == 204, deleted.text
        assert (await first.get(path)).status_code == 404
        outcomes.add((put.status_code, deleted.status_code))
    print(f"\n[races] PUT vs DELETE population outcomes: {sorted(outcomes)}")


async def test_environment_deleted_while_objects_are_created_in_it(
    clients: list[httpx.AsyncClient],
) -> None:
    first, second = clients
    statuses: dict[int, int] = {}
    for round_number in range(ROUNDS):
        environment_id = await _new_environment(first)
        base = f"/v1/environments/{environment_id}"
        creates = [
            (first, "populations", {"name": unique("pop")}),
            (second, "populations", {"name": unique("pop")}),
            (first, "users", {"username": unique("user"), "email": "u@example.com"}),
            (second, "users", {"username": unique("user"), "email": "u@example.com"}),
            (
                first,
                "applications",
                {"name": unique("app"), "enabled": True, "type": "WORKER",
                 "protocol": "OPENID_CONNECT"},
            ),
        ]  # fmt: skip
        requests = [client.post(f"{base}/{kind}", json=body) for client, kind, body in creates]
        # The delete goes first, last or in the middle, round after round.
        requests.insert(round_number % (len(requests) + 1), second.delete(base))
        responses = await asyncio.gather(*requests)
        for response in responses:
            assert response.status_code in (201, 204, 404), (
                response.request.method,
                response.request.url,
                response.text,
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert sum(r.status_code == 204 for r in responses) == 1
        assert (await first.get(base)).status_code == 404
        assert (await first.get(f"{base}/populations")).status_code == 404
    print(f"\n[races] environment deleted during creates: statuses {statuses}")
