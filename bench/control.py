"""The control API's costs (bench/README.md, "Control API"): snapshot, restore and reset of a
state of 10 environments, 1,000 populations and N users, on SQLite and PostgreSQL; and the
per-test overhead of the ``populace`` pytest fixture. Every figure is a median, reported with
its ratio to a GET population measured in the same run the same way.

    .venv/bin/python bench/control.py [--users 100000] [--reps 5] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from run import pg_database

from populace.app import build_app, start
from populace.config import Config
from populace.testing import start_server
from populace.users.importer import import_users

ENVIRONMENTS, POPULATIONS = 10, 1000


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def timed(request: Awaitable[httpx.Response], status: int) -> float:
    started = time.perf_counter()
    response = await request
    elapsed = time.perf_counter() - started
    assert response.status_code == status, response.text
    return elapsed


async def a_tests_writes(c: httpx.AsyncClient, environment_id: str, population: str) -> None:
    """What a test typically does: a user into the big population (its count changes), a
    population made, renamed and deleted, a user's name changed."""
    users = f"/v1/environments/{environment_id}/users"
    body = {"username": "bench-writer", "email": "w@example.com"}
    user = await c.post(users, json=body | {"population": {"id": population.rsplit("/", 1)[1]}})
    assert user.status_code == 201, user.text
    renamed = await c.patch(f"{users}/{user.json()['id']}", json={"nickname": "Writer"})
    assert renamed.status_code == 200, renamed.text
    made = await c.post(f"/v1/environments/{environment_id}/populations", json={"name": "new"})
    assert made.status_code == 201, made.text
    own = made.json()["_links"]["self"]["href"]
    assert (await c.put(own, json={"name": "renamed"})).status_code == 200
    assert (await c.delete(own)).status_code == 204


async def state_costs(url: str, users: int, reps: int, folder: Path) -> dict[str, float]:
    """In-process (no sockets): what the database work costs, against a GET population."""
    services, admin = await start(Config(database_url=url, password_hash_cost="cheap"))
    transport = httpx.ASGITransport(app=build_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://b", timeout=600) as c:
        token = await c.post(
            f"/{admin.environment_id}/as/token",
            data={"grant_type": "client_credentials"},
            auth=(admin.client_id, str(admin.client_secret)),
        )
        c.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        organization = (await c.get("/v1/organizations")).json()["_embedded"]["organizations"]
        licenses = await c.get(f"/v1/organizations/{organization[0]['id']}/licenses")
        license_id = licenses.json()["_embedded"]["licenses"][0]["id"]
        environments = []
        for i in range(ENVIRONMENTS):
            body = {
                "name": f"e{i}",
                "type": "SANDBOX",
                "region": "NA",
                "license": {"id": license_id},
            }
            environments.append((await c.post("/v1/environments", json=body)).json()["id"])
        populations = []
        for i in range(POPULATIONS):
            path = f"/v1/environments/{environments[i % ENVIRONMENTS]}/populations"
            made = await c.post(path, json={"name": f"p{i}"})
            populations.append(f"{path}/{made.json()['id']}")
        csv = folder / "users.csv"
        csv.write_text(
            "username,email\n" + "".join(f"u{i},u{i}@example.com\n" for i in range(users))
        )
        await import_users(services.db, environments[0], csv, populations[0].rsplit("/", 1)[1])

        costs: dict[str, list[float]] = {
            "get": [],
            "snapshot": [],
            "restore after a test's writes": [],
            "reset": [],
            "restore, whole": [],
        }
        for rep in range(reps):
            for _ in range(20):
                costs["get"].append(await timed(c.get(populations[0]), 200))
            name = f"state-{rep}"
            costs["snapshot"].append(
                await timed(c.post("/_populace/snapshots", json={"name": name}), 201)
            )
            await a_tests_writes(c, environments[0], populations[0])
            restore = f"/_populace/snapshots/{name}/restore"
            costs["restore after a test's writes"].append(await timed(c.post(restore), 204))
            costs["reset"].append(await timed(c.post("/_populace/reset"), 204))
            # After a reset no snapshot is the base: every row is written again.
            costs["restore, whole"].append(await timed(c.post(restore), 204))
    await services.db.dispose()
    return {what: median_ms(samples) for what, samples in costs.items()}


def fixture_overhead(reps: int, folder: Path) -> dict[str, float]:
    """What the ``populace`` fixture adds to each test (a restore of the first start's state,
    a new client, its token), against an authenticated GET population, both over HTTP."""
    server = start_server(folder)
    try:
        with server.client() as warm:
            populations = warm.get(f"/v1/environments/{server.environment_id}/populations")
            population = populations.json()["_embedded"]["populations"][0]["_links"]["self"]["href"]
            get: list[float] = []
            for _ in range(reps):
                started = time.perf_counter()
                assert warm.get(population).status_code == 200
                get.append(time.perf_counter() - started)
        overhead: list[float] = []
        for _ in range(reps):
            started = time.perf_counter()
            server.restore()
            with server.client() as client:  # its token comes with its first call
                assert client.get(population).status_code == 200
            overhead.append(time.perf_counter() - started)
        # The test's own first GET is in the overhead once: take one GET's median out.
        return {"get": median_ms(get), "fixture": median_ms(overhead) - median_ms(get)}
    finally:
        server.stop()


def report(title: str, costs: dict[str, float]) -> None:
    base = costs["get"]
    print(f"\n{title}")
    print(f"| measurement | median | ratio to GET population ({base:.2f} ms) |")
    print("|---|---:|---:|")
    for what, value in costs.items():
        if what != "get":
            print(f"| {what} | {value:.1f} ms | {value / base:.0f}x |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--fixture-reps", type=int, default=50)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    shape = f"{ENVIRONMENTS} environments, {POPULATIONS:,} populations, {args.users:,} users"
    with tempfile.TemporaryDirectory(prefix="populace-bench-") as folder:
        work = Path(folder)
        report(
            f"SQLite, {shape}",
            asyncio.run(state_costs(str(work / "state.db"), args.users, args.reps, work)),
        )
        if not args.no_postgres:
            with pg_database(args.pg_url) as url:
                costs = asyncio.run(state_costs(url, args.users, args.reps, work))
            report(f"PostgreSQL, {shape}", costs)
        (work / "fixture").mkdir()
        report(
            "pytest fixture `populace` (SQLite, the first start's state)",
            fixture_overhead(args.fixture_reps, work / "fixture"),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
