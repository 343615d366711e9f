"""Crashes lose nothing acknowledged: SIGKILL a SQLite-backed ``populace serve`` mid-write.

Round after round, several clients create populations as fast as they can while the server is
killed with SIGKILL at a random moment, after the round's first write was acknowledged (so each
round kills it mid-write, however slow the machine). Every population answered with 201 is
remembered; after the restart on the same file each must be there with its name, no row may
be half-written (all columns set, ``userCount`` 0, the environment still has exactly one
default), and at the end ``PRAGMA integrity_check`` must say ``ok``.

This tests SQLite's durability (WAL, ``synchronous=NORMAL``: a commit is in the WAL before the
response is sent), so it always runs on a SQLite file, whichever database the session uses.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import WAIT_SECONDS, ServerProcess, wait_until

pytestmark = pytest.mark.slow

ROUNDS = 12
CLIENTS = 6
# Every request's timeout: generous, so a loaded machine is not taken for a wedged server.
HTTP_TIMEOUT = 60.0
ADMIN_ENVIRONMENT_ID = str(uuid.uuid4())
ADMIN_CLIENT_ID = str(uuid.uuid4())
ADMIN_SECRET = "crash-test-" + uuid.uuid4().hex


@dataclass
class Round:
    acknowledged: dict[str, str] = field(default_factory=dict)  # id -> name
    refused: list[str] = field(default_factory=list)  # non-201 answers
    lock: threading.Lock = field(default_factory=threading.Lock)


def token(base: str) -> str:
    response = httpx.post(
        f"{base}/{ADMIN_ENVIRONMENT_ID}/as/token",
        data={"grant_type": "client_credentials"},
        auth=(ADMIN_CLIENT_ID, ADMIN_SECRET),
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def create_environment(base: str, headers: dict[str, str]) -> str:
    admin_env = httpx.get(
        f"{base}/v1/environments/{ADMIN_ENVIRONMENT_ID}", headers=headers, timeout=HTTP_TIMEOUT
    ).json()
    organization_id = admin_env["organization"]["id"]
    licenses = httpx.get(
        f"{base}/v1/organizations/{organization_id}/licenses",
        headers=headers,
        timeout=HTTP_TIMEOUT,
    ).json()["_embedded"]["licenses"]
    created = httpx.post(
        f"{base}/v1/environments",
        headers=headers,
        json={
            "name": "crash",
            "type": "SANDBOX",
            "region": "NA",
            "license": {"id": licenses[0]["id"]},
        },
        timeout=HTTP_TIMEOUT,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def writer(
    base: str, headers: dict[str, str], environment_id: str, number: int, state: Round
) -> None:
    """Create populations until the server goes away."""
    path = f"{base}/v1/environments/{environment_id}/populations"
    with httpx.Client(headers=headers, timeout=HTTP_TIMEOUT) as client:
        sequence = 0
        while True:
            sequence += 1
            name = f"c{number}-{uuid.uuid4().hex[:12]}"
            try:
                response = client.post(path, json={"name": name, "description": name})
            except httpx.HTTPError:
                return  # the server was killed: this request was never acknowledged
            with state.lock:
                if response.status_code == 201:
                    body = response.json()
                    assert body["name"] == name, body
                    state.acknowledged[body["id"]] = name
                else:
                    state.refused.append(f"{response.status_code} {response.text[:200]}")


def listed_populations(base: str, headers: dict[str, str], environment_id: str) -> list[Any]:
    items: list[Any] = []
    url: str | None = f"{base}/v1/environments/{environment_id}/populations?limit=1000"
    while url is not None:
        response = httpx.get(url, headers=headers, timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["_embedded"]["populations"]
        url = body["_links"].get("next", {}).get("href")
    return items


def check_after_restart(
    base: str, headers: dict[str, str], environment_id: str, acknowledged: dict[str, str]
) -> None:
    with httpx.Client(headers=headers, timeout=HTTP_TIMEOUT) as client:
        for population_id, name in acknowledged.items():
            response = client.get(
                f"{base}/v1/environments/{environment_id}/populations/{population_id}"
            )
            assert response.status_code == 200, f"acknowledged {population_id} lost: {response}"
            assert response.json()["name"] == name, response.json()
    listed = listed_populations(base, headers, environment_id)
    for population in listed:
        for key in ("id", "name", "createdAt", "updatedAt", "userCount", "default"):
            assert population.get(key) is not None, population
        assert population["environment"]["id"] == environment_id, population
        assert population["userCount"] == 0, population
        if population["name"] != "Default":
            assert population.get("description") == population["name"], population
    assert sum(p["default"] for p in listed) == 1, [p for p in listed if p["default"]]
    assert set(acknowledged) <= {p["id"] for p in listed}


def check_file(path: Path, environment_id: str, acknowledged: dict[str, str]) -> None:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        rows = conn.execute(
            "SELECT id, name, name_key, description, is_default, user_count, created_at,"
            " updated_at, theme_id FROM populations WHERE environment_id = ?",
            (environment_id,),
        ).fetchall()
    by_id = {row[0]: row for row in rows}
    for population_id, name in acknowledged.items():
        assert by_id[population_id][1] == name
    for row in rows:
        _, name, name_key, description, _, user_count, created_at, updated_at, theme_id = row
        assert name_key == name.casefold(), row
        assert user_count == 0 and created_at and updated_at and theme_id, row
        assert name == "Default" or description == name, row
    assert sum(row[4] for row in rows) == 1


def test_sigkill_loses_no_acknowledged_population(tmp_path: Path, capsys) -> None:
    seed = int(os.environ.get("POPULACE_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    database = tmp_path / "crash.db"
    env = {
        "POPULACE_ADMIN_ENVIRONMENT_ID": ADMIN_ENVIRONMENT_ID,
        "POPULACE_ADMIN_CLIENT_ID": ADMIN_CLIENT_ID,
        "POPULACE_ADMIN_CLIENT_SECRET": ADMIN_SECRET,
        # the caller's settings must not leak into the child (ServerProcess merges os.environ)
        "POPULACE_RATE_LIMIT": "0",
        "POPULACE_REDIS_URL": "",
        "POPULACE_TOKEN_LIFETIME_SECONDS": "3600",
        "POPULACE_SQLITE_SYNCHRONOUS": "NORMAL",
    }
    server = ServerProcess(str(database), env=env).start(tmp_path)
    acknowledged: dict[str, str] = {}
    survived = 0
    refused: list[str] = []
    try:
        headers = {"Authorization": f"Bearer {token(server.url)}"}
        environment_id = create_environment(server.url, headers)
        for round_number in range(ROUNDS):
            state = Round()
            threads = [
                threading.Thread(
                    target=writer, args=(server.url, headers, environment_id, n, state)
                )
                for n in range(CLIENTS)
            ]
            for thread in threads:
                thread.start()
            # Writes are under way before the kill: wait for the first acknowledgement.
            wait_until(
                lambda state=state: bool(state.acknowledged),
                lambda state=state, server=server: (
                    f"a write acknowledged; refused: {state.refused[:5]}\n"
                    f"--- server log ---\n{server.log()[-3000:]}"
                ),
            )
            time.sleep(rng.uniform(0.05, 0.5))
            server.stop(signal.SIGKILL)
            for thread in threads:
                thread.join(timeout=HTTP_TIMEOUT + WAIT_SECONDS)
                assert not thread.is_alive(), "a client hung after the kill"
            assert server.process is not None and server.process.returncode == -signal.SIGKILL
            acknowledged.update(state.acknowledged)
            refused += state.refused

            server = ServerProcess(str(database), env=env).start(tmp_path)
            headers = {"Authorization": f"Bearer {token(server.url)}"}
            check_after_restart(server.url, headers, environment_id, acknowledged)
            survived += 1
            print(f"round {round_number}: {len(state.acknowledged)} acknowledged")
        assert not [r for r in refused if r.startswith("5")], refused
    finally:
        server.stop()
        with capsys.disabled():
            print(
                f"\n[crash] seed {seed}: {survived}/{ROUNDS} SIGKILL rounds survived, "
                f"{len(acknowledged)} acknowledged writes checked, "
                f"{len(refused)} non-201 answers"
            )
    check_file(database, environment_id, acknowledged)
