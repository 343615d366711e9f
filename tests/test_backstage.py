"""A real PingOne client in CI: Backstage's PingOne entity provider, the npm package
``@backstage-community/plugin-catalog-backend-module-pingidentity``, run unmodified by Node
against a live ``populace serve`` holding 120 users in two populations, three groups (one
nested in another) and memberships. It must emit every user and group with the right member
and parent relations.

The package is installed from the npm registry by this test (into a cache directory, never
into the repository); ``make test`` installs Node and npm from Debian when they are missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ServerProcess, bearer, unique

PACKAGE = "@backstage-community/plugin-catalog-backend-module-pingidentity@0.15.0"
PROVIDER = (
    "@backstage-community/plugin-catalog-backend-module-pingidentity/dist/providers/"
    "PingIdentityEntityProvider.cjs.js"
)
TIMEOUT = 120.0
ADMIN = {
    "POPULACE_ADMIN_ENVIRONMENT_ID": str(uuid.uuid4()),
    "POPULACE_ADMIN_CLIENT_ID": str(uuid.uuid4()),
    "POPULACE_ADMIN_CLIENT_SECRET": "backstage-" + uuid.uuid4().hex,
}

# Runs the provider once, as Backstage's catalog would, and prints the entities it emits.
SCRIPT = f"""
const {{ PingIdentityEntityProvider }} = require({json.dumps(PROVIDER)});
const {{ ConfigReader }} = require("@backstage/config");
const settings = JSON.parse(process.argv[2]);
const config = new ConfigReader({{
  catalog: {{ providers: {{ pingIdentityOrg: {{ default: settings }} }} }},
}});
const logger = {{
  info() {{}}, warn() {{}}, debug() {{}},
  error(message, meta) {{ console.error(message, JSON.stringify(meta)); }},
  child() {{ return logger; }},
}};
(async () => {{
  const options = {{ logger, schedule: "manual" }};
  const [provider] = PingIdentityEntityProvider.fromConfig(config, options);
  let mutation;
  const connection = {{
    applyMutation: async (m) => {{ mutation = m; }},
    refresh: async () => {{}},
  }};
  await provider.connect(connection);
  await provider.read();
  console.log(JSON.stringify(mutation.entities.map((e) => e.entity)));
}})().catch((error) => {{ console.error(error); process.exit(1); }});
"""


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package and what it needs, installed once per version in a cache directory."""
    npm = shutil.which("npm")
    assert npm and shutil.which("node"), "Node and npm are needed: `make test` installs them"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    home = cache / "populace-tests" / PACKAGE.replace("/", "_").replace("@", "")
    if not (home / "node_modules" / PROVIDER).exists():
        home.mkdir(parents=True, exist_ok=True)
        (home / "package.json").write_text('{"name": "populace-backstage-test", "private": true}')
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", PACKAGE, "@backstage/config@^1.3.8"],
            cwd=home,
            check=True,
            timeout=900,
        )
    return home / "node_modules"


@pytest.fixture
def server(empty_database: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(empty_database, env=ADMIN)
    try:
        process.start(tmp_path, timeout=TIMEOUT)
        yield process
    finally:
        process.stop()


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _seed(api: httpx.Client) -> dict[str, Any]:
    """An environment with 120 users in two populations, three groups (Platform nested in
    Engineering), memberships, and a Worker app of that environment that may read it all."""
    organization = api.get("/v1/organizations").json()["_embedded"]["organizations"][0]["id"]
    licenses = api.get(f"/v1/organizations/{organization}/licenses").json()
    license_id = licenses["_embedded"]["licenses"][0]["id"]
    body = {"name": unique("backstage"), "type": "SANDBOX", "region": "NA"}
    environment = _created(
        api.post("/v1/environments", json={**body, "license": {"id": license_id}})
    )
    base = f"/v1/environments/{environment['id']}"
    populations = [
        _created(api.post(f"{base}/populations", json={"name": name}))["id"]
        for name in ("Staff", "Contractors")
    ]
    users = [
        _created(
            api.post(
                f"{base}/users",
                json={
                    "username": f"user{n:03d}",
                    "email": f"user{n:03d}@example.com",
                    "name": {"given": "User", "family": f"Number{n}"},
                    "population": {"id": populations[n % 2]},
                },
            )
        )
        for n in range(120)
    ]
    groups = {
        name: _created(api.post(f"{base}/groups", json={"name": name, "description": name}))
        for name in ("Engineering", "Platform", "Sales")
    }
    nested = api.post(
        f"{base}/groups/{groups['Platform']['id']}/memberOfGroups",
        json={"id": groups["Engineering"]["id"]},
    )
    _created(nested)
    members = {"Engineering": users[0:30], "Platform": users[30:40], "Sales": users[100:120]}
    for name, group_members in members.items():
        for user in group_members:
            path = f"{base}/users/{user['id']}/memberOfGroups"
            _created(api.post(path, json={"id": groups[name]["id"]}))
    app = _created(
        api.post(
            f"{base}/applications",
            json={
                "name": "backstage",
                "enabled": True,
                "type": "WORKER",
                "protocol": "OPENID_CONNECT",
            },
        )
    )
    for role in ("Identity Data Read Only", "Environment Admin"):
        role_id = next(
            r["id"] for r in api.get("/v1/roles").json()["_embedded"]["roles"] if r["name"] == role
        )
        _created(
            api.post(
                f"{base}/applications/{app['id']}/roleAssignments",
                json={
                    "role": {"id": role_id},
                    "scope": {"type": "ENVIRONMENT", "id": environment["id"]},
                },
            )
        )
    secret = api.get(f"{base}/applications/{app['id']}/secret").json()["secret"]
    return {
        "environment": environment["id"],
        "client": (app["id"], secret),
        "users": users,
        "groups": groups,
        "members": members,
    }


def test_backstage_ingests_every_user_and_group(
    node_modules: Path, server: ServerProcess, tmp_path: Path
) -> None:
    token = httpx.post(
        f"{server.url}/{ADMIN['POPULACE_ADMIN_ENVIRONMENT_ID']}/as/token",
        data={"grant_type": "client_credentials"},
        auth=(ADMIN["POPULACE_ADMIN_CLIENT_ID"], ADMIN["POPULACE_ADMIN_CLIENT_SECRET"]),
        timeout=TIMEOUT,
    ).json()["access_token"]
    with httpx.Client(base_url=server.url, headers=bearer(token), timeout=TIMEOUT) as api:
        world = _seed(api)
    client_id, secret = world["client"]
    settings = {
        "apiPath": f"{server.url}/v1",
        "authPath": server.url,
        "envId": world["environment"],
        "clientId": client_id,
        "clientSecret": secret,
    }
    script = tmp_path / "ingest.cjs"
    script.write_text(SCRIPT)
    ran = subprocess.run(
        ["node", str(script), json.dumps(settings)],
        env={**os.environ, "NODE_PATH": str(node_modules)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stderr + server.log()
    entities = json.loads(ran.stdout)

    groups = {e["metadata"]["name"]: e for e in entities if e["kind"] == "Group"}
    users = {e["metadata"]["name"]: e for e in entities if e["kind"] == "User"}
    assert set(groups) == {"Engineering", "Platform", "Sales"}
    assert groups["Platform"]["spec"]["parent"] == "Engineering"
    assert (
        "parent" not in groups["Engineering"]["spec"] or not groups["Engineering"]["spec"]["parent"]
    )
    assert set(users) == {user["username"] for user in world["users"]}
    for user in world["users"]:
        entity = users[user["username"]]
        assert entity["metadata"]["annotations"]["pingidentity.org/id"] == user["id"]
        assert entity["spec"]["profile"]["email"] == user["email"]
        # A member of Platform is a member of Engineering too (Platform is nested in it).
        expected = {name for name, members in world["members"].items() if user in members}
        if "Platform" in expected:
            expected.add("Engineering")
        assert set(entity["spec"]["memberOf"]) == expected, user["username"]
