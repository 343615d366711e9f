"""PingOne's Getting Started guide, Tasks 1-3, replayed against two ``populace serve`` processes.

Every request is the guide's (``../shared/reference/getting-started.md``): same method, path,
headers, body and content type, with ``{{apiPath}}`` and ``{{authPath}}`` the URL of the process
that takes the step. Both processes run on one database, and step n goes to process n % 2, so
every piece of state one step leaves for the next (the admin token, the environment, the user,
the application, and then the sign-on's flow, session and code) is shown shared between them.

Task 1 happens in PingOne's console: here it is the bootstrap Worker app that ``populace serve``
creates, with the credentials it prints for Postman (``adminEnvID``, ``adminAppID``,
``adminAppSecret``, ``orgID``), read from the first process's output as a user copies them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from tests.support import ServerProcess, printed, unique

# Every request gets a timeout (a wedged server fails the test instead of hanging it), generous
# so that a loaded machine is not taken for a wedged server.
TIMEOUT = 60.0

CALLBACK = "http://localhost:3000/callback"
PASSWORD = "2FederateM0re!"  # {{userPassword}}: passes the default ("Standard") policy
SET_PASSWORD = "application/vnd.pingidentity.password.set+json"
CHECK = "application/vnd.pingidentity.usernamePassword.check+json"

# The caller's POPULACE_* settings must not reach the servers (ServerProcess merges os.environ).
_POPULACE_VARIABLES = (
    "POPULACE_ADMIN_ENVIRONMENT_ID",
    "POPULACE_ADMIN_CLIENT_ID",
    "POPULACE_ADMIN_CLIENT_SECRET",
    "POPULACE_DATABASE_URL",
    "POPULACE_PASSWORD_HASH_COST",
    "POPULACE_PUBLIC_URL",
    "POPULACE_RATE_LIMIT",
    "POPULACE_REDIS_URL",
    "POPULACE_TOKEN_LIFETIME_SECONDS",
)


@dataclass
class Guide:
    """Two processes on one database and the Postman variables Task 1 gives."""

    servers: list[ServerProcess]
    admin_env_id: str  # {{adminEnvID}}
    admin_app_id: str  # {{adminAppID}}
    admin_app_secret: str  # {{adminAppSecret}}
    org_id: str  # {{orgID}}

    def at(self, step: int) -> str:
        """``{{apiPath}}`` = ``{{authPath}}`` for step ``step``: process ``step % 2``."""
        return self.servers[step % 2].url


@pytest.fixture
def guide(empty_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Guide]:
    """Task 1: ``populace serve`` makes the admin Worker app (Organization Admin, Environment
    Admin over the organization) and prints its credentials; a second process joins the same
    database. Both are stopped when the test ends."""
    for name in _POPULACE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    servers: list[ServerProcess] = []
    try:
        for _ in range(2):
            server = ServerProcess(empty_database)
            servers.append(server)  # before start(): one that never got ready is stopped too
            server.start(tmp_path)
        # Task 1, step 4: copy Client ID, Client Secret and Environment ID (the first start
        # shows the secret; later starts on the same database do not).
        shown = printed(servers[0].log())
        assert {"adminEnvID", "adminAppID", "adminAppSecret", "orgID"} <= shown.keys(), shown
        joined = printed(servers[1].log())
        assert joined["adminEnvID"] == shown["adminEnvID"], servers[1].log()
        assert joined["adminAppID"] == shown["adminAppID"], servers[1].log()
        assert all(printed(s.log())["apiPath"] == s.url for s in servers)
        yield Guide(
            servers, shown["adminEnvID"], shown["adminAppID"], shown["adminAppSecret"],
            shown["orgID"],
        )  # fmt: skip
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        assert "Traceback" not in server.log(), server.log()


def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request as Postman sends it: no cookie jar, redirects not followed."""
    return httpx.request(method, url, timeout=TIMEOUT, follow_redirects=False, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- Task 2, and the first steps of Task 3 (the same in both editions) -----------------------


def get_access_token(g: Guide, step: int) -> str:
    """Task 2 step 1 / Task 3 step 1: ``POST {{authPath}}/{{adminEnvID}}/as/token``, Basic
    auth with the Worker app, ``grant_type=client_credentials``."""
    response = call(
        "POST",
        f"{g.at(step)}/{g.admin_env_id}/as/token",
        auth=(g.admin_app_id, g.admin_app_secret),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        content="grant_type=client_credentials",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600, body
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["org"] == g.org_id
    return str(body["access_token"])


def read_all_licenses(g: Guide, step: int, token: str) -> str:
    """Task 2 step 2: ``GET {{apiPath}}/v1/organizations/{{orgID}}/licenses``; an active
    license is ``{{licenseID}}``."""
    response = call(
        "GET", f"{g.at(step)}/v1/organizations/{g.org_id}/licenses", headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    licenses = response.json()["_embedded"]["licenses"]
    active = [license for license in licenses if license.get("status", "ACTIVE") == "ACTIVE"]
    assert active, licenses
    return str(active[0]["id"])


def create_environment(g: Guide, step: int, token: str, license_id: str) -> str:
    """Task 2 step 3: ``POST {{apiPath}}/v1/environments``; its ``id`` is ``{{envID}}``."""
    name = unique("Getting Started")
    response = call(
        "POST",
        f"{g.at(step)}/v1/environments",
        headers={**bearer(token), "Content-Type": "application/json"},
        content=json.dumps(
            {
                "name": name,
                "description": "The getting started guide's test environment",
                "type": "SANDBOX",
                "region": "NA",
                "billOfMaterials": {
                    "products": [
                        {
                            "type": "PING_ONE_BASE",
                            "description": "PingOne Base",
                            "console": {"href": "https://console.pingone.com"},
                        }
                    ]
                },
                "license": {"id": license_id},
            }
        ),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == name and body["type"] == "SANDBOX" and body["region"] == "NA", body
    assert body["license"]["id"] == license_id and body["organization"]["id"] == g.org_id, body
    return str(body["id"])


def create_population(g: Guide, step: int, token: str, env_id: str) -> str:
    """Task 2 step 4: ``POST {{apiPath}}/v1/environments/{{envID}}/populations``; its ``id``
    is ``{{sharedPopID}}``."""
    response = call(
        "POST",
        f"{g.at(step)}/v1/environments/{env_id}/populations",
        headers={**bearer(token), "Content-Type": "application/json"},
        content=json.dumps({"name": "Getting Started", "description": "The guide's users"}),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "Getting Started" and body["userCount"] == 0, body
    return str(body["id"])


def create_user(g: Guide, step: int, token: str, env_id: str, pop_id: str | None) -> dict[str, Any]:
    """Task 2 step 5: ``POST {{apiPath}}/v1/environments/{{envID}}/users``; its ``id`` is
    ``{{sharedUserID}}``, its ``username`` ``{{sharedUsername}}``."""
    username = unique("shared-user")
    body: dict[str, Any] = {
        "email": f"{username}@example.com",
        "name": {"given": "Shared", "family": "User"},
        "username": username,
    }
    if pop_id is not None:
        body["population"] = {"id": pop_id}
    response = call(
        "POST",
        f"{g.at(step)}/v1/environments/{env_id}/users",
        headers={**bearer(token), "Content-Type": "application/json"},
        content=json.dumps(body),
    )
    assert response.status_code == 201, response.text
    user = dict(response.json())
    assert user["username"] == username, user
    if pop_id is not None:
        assert user["population"]["id"] == pop_id, user
    return user


def set_user_password(g: Guide, step: int, token: str, env_id: str, user_id: str) -> None:
    """Task 2 step 6: ``PUT .../users/{{sharedUserID}}/password`` with
    ``application/vnd.pingidentity.password.set+json``."""
    response = call(
        "PUT",
        f"{g.at(step)}/v1/environments/{env_id}/users/{user_id}/password",
        headers={**bearer(token), "Content-Type": SET_PASSWORD},
        content=json.dumps({"value": PASSWORD, "forceChange": False}),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "OK", response.json()


def enable_user_mfa(g: Guide, step: int, token: str, env_id: str, user_id: str) -> None:
    """Task 2 step 7 (the seven-step edition): ``PUT .../users/{{sharedUserID}}/mfaEnabled``."""
    response = call(
        "PUT",
        f"{g.at(step)}/v1/environments/{env_id}/users/{user_id}/mfaEnabled",
        headers={**bearer(token), "Content-Type": "application/json"},
        content=json.dumps({"mfaEnabled": True}),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mfaEnabled"] is True and {"self", "user"} <= body["_links"].keys(), body


def create_web_application(g: Guide, step: int, token: str, env_id: str) -> str:
    """Task 3 step 2: ``POST {{apiPath}}/v1/environments/{{envID}}/applications``, a Web app;
    its ``id`` is ``{{sharedWebAppID}}``."""
    response = call(
        "POST",
        f"{g.at(step)}/v1/environments/{env_id}/applications",
        headers={**bearer(token), "Content-Type": "application/json"},
        content=json.dumps(
            {
                "enabled": True,
                "name": "Getting Started Web App",
                "type": "WEB_APP",
                "protocol": "OPENID_CONNECT",
                "grantTypes": ["AUTHORIZATION_CODE"],
                "redirectUris": [CALLBACK],
                "responseTypes": ["CODE"],
                "tokenEndpointAuthMethod": "CLIENT_SECRET_BASIC",
            }
        ),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["type"] == "WEB_APP" and body["redirectUris"] == [CALLBACK], body
    return str(body["id"])


def get_application_secret(g: Guide, step: int, token: str, env_id: str, app_id: str) -> str:
    """Task 3 step 3: ``GET .../applications/{{sharedWebAppID}}/secret``."""
    response = call(
        "GET",
        f"{g.at(step)}/v1/environments/{env_id}/applications/{app_id}/secret",
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["secret"])


def get_tokens(g: Guide, step: int, env_id: str, app_id: str, secret: str, code: str) -> Any:
    """Task 3 step 7 (older edition: step 8): ``POST {{authPath}}/{{envID}}/as/token``,
    ``grant_type=authorization_code``, Basic auth with the Web app."""
    response = call(
        "POST",
        f"{g.at(step)}/{env_id}/as/token",
        auth=(app_id, secret),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600, body
    assert body["scope"] == "openid", body
    return body


def verified_id_token(g: Guide, env_id: str, id_token: str, app_id: str) -> dict[str, Any]:
    """The ID token's claims, its signature checked against each process's
    ``/{{envID}}/as/jwks`` (one key ring: the same keys on both)."""
    sets = []
    for server in g.servers:
        jwks = call("GET", f"{server.url}/{env_id}/as/jwks")
        assert jwks.status_code == 200, jwks.text
        sets.append(jwks.json())
    assert sets[0] == sets[1]
    header = jwt.get_unverified_header(id_token)
    assert header["alg"] == "RS256", header
    key = jwt.PyJWKSet.from_dict(sets[0])[header["kid"]]
    claims: dict[str, Any] = jwt.decode(
        id_token, key.key, algorithms=["RS256"], audience=app_id, options={"require": ["exp"]}
    )
    return claims


# --- the current edition: Tasks 1-3, response_mode=pi.flow ------------------------------------


@pytest.mark.slow
def test_getting_started_tasks_1_to_3_across_two_processes(guide: Guide) -> None:
    g = guide

    # Task 2: create a test environment.
    token = get_access_token(g, 1)
    license_id = read_all_licenses(g, 2, token)
    env_id = create_environment(g, 3, token, license_id)
    pop_id = create_population(g, 4, token, env_id)
    user = create_user(g, 5, token, env_id, pop_id)
    set_user_password(g, 6, token, env_id, user["id"])
    enable_user_mfa(g, 7, token, env_id, user["id"])

    # Task 3: a simple SSO workflow.
    token = get_access_token(g, 8)
    app_id = create_web_application(g, 9, token, env_id)
    secret = get_application_secret(g, 10, token, env_id, app_id)

    # Step 4: the authorize request with response_mode=pi.flow: the flow, as JSON (process 1).
    authorized = call(
        "GET",
        f"{g.at(11)}/{env_id}/as/authorize?response_type=code&client_id={app_id}"
        f"&redirect_uri={CALLBACK}&scope=openid&response_mode=pi.flow",
    )
    assert authorized.status_code == 200, authorized.text
    flow = authorized.json()
    assert flow["status"] == "USERNAME_PASSWORD_REQUIRED", flow
    flow_id = flow["id"]
    assert uuid.UUID(flow_id)
    check_link = flow["_links"]["usernamePassword.check"]["href"]
    assert check_link == f"{g.at(11)}/{env_id}/flows/{flow_id}", flow

    # Step 5: the credentials, to the other process: the flow is in the database.
    checked = call(
        "POST",
        f"{g.at(12)}/{env_id}/flows/{flow_id}",
        headers={"Content-Type": CHECK},
        content=json.dumps({"username": user["username"], "password": PASSWORD}),
    )
    assert checked.status_code == 200, checked.text
    assert checked.json()["status"] == "COMPLETED", checked.json()
    assert checked.json()["id"] == flow_id
    assert checked.json()["resumeUrl"] == f"{g.at(12)}/{env_id}/as/resume?flowId={flow_id}"
    cookie = checked.headers["set-cookie"]
    assert cookie.startswith("ST=") and f"Path=/{env_id}" in cookie, cookie
    assert "HttpOnly" in cookie and "Max-Age=2592000" in cookie, cookie
    session_token = checked.cookies["ST"]  # {{set-cookieID}}

    # Step 6: resume with the ST cookie, at process 1: the session is in the database too.
    resumed = call(
        "GET",
        f"{g.at(13)}/{env_id}/as/resume?flowId={flow_id}",
        headers={"Cookie": f"ST={session_token}"},
    )
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "COMPLETED", resumed.json()
    code = resumed.json()["authorizeResponse"]["code"]  # {{authCode}}
    assert code

    # Step 7: the code, made by process 1, traded for tokens at process 0.
    tokens = get_tokens(g, 14, env_id, app_id, secret, code)

    identity = verified_id_token(g, env_id, tokens["id_token"], app_id)
    assert identity["sub"] == user["id"], identity
    assert identity["aud"] == app_id, identity
    assert identity["iss"] == f"{g.at(14)}/{env_id}/as", identity
    assert identity["env"] == env_id, identity
    access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert access["sub"] == user["id"] and access["client_id"] == app_id, access
    assert access["sid"] == identity["sid"], (access, identity)

    # The code was spent for both processes: the other one refuses it.
    replayed = call(
        "POST",
        f"{g.at(15)}/{env_id}/as/token",
        auth=(app_id, secret),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
    )
    assert replayed.status_code == 400, replayed.text
    assert replayed.json()["error"] == "invalid_grant", replayed.json()


# --- the older edition: a 302 to the sign-on page, GET the flow, resume by redirect -----------


@pytest.mark.slow
def test_older_edition_sign_on_by_redirect_across_two_processes(guide: Guide) -> None:
    g = guide

    # Task 2 (six steps), then Task 3's first three steps.
    token = get_access_token(g, 1)
    license_id = read_all_licenses(g, 2, token)
    env_id = create_environment(g, 3, token, license_id)
    pop_id = create_population(g, 4, token, env_id)
    user = create_user(g, 5, token, env_id, pop_id)
    set_user_password(g, 6, token, env_id, user["id"])
    token = get_access_token(g, 7)
    app_id = create_web_application(g, 8, token, env_id)
    secret = get_application_secret(g, 9, token, env_id, app_id)

    # Step 4: authorize without pi.flow: a 302 to the hosted sign-on page, flowId in Location.
    authorized = call(
        "GET",
        f"{g.at(10)}/{env_id}/as/authorize?response_type=code&client_id={app_id}"
        f"&redirect_uri={CALLBACK}&scope=openid&state=xyz",
    )
    assert authorized.status_code == 302, authorized.text
    location = urlsplit(authorized.headers["location"])
    assert location.path == f"/{env_id}/signon/", location
    flow_id = parse_qs(location.query)["flowId"][0]

    # Step 5: get the flow, from the other process.
    read = call("GET", f"{g.at(11)}/{env_id}/flows/{flow_id}")
    assert read.status_code == 200, read.text
    assert read.json()["status"] == "USERNAME_PASSWORD_REQUIRED", read.json()
    assert "usernamePassword.check" in read.json()["_links"], read.json()

    # Step 6: submit the credentials.
    checked = call(
        "POST",
        f"{g.at(12)}/{env_id}/flows/{flow_id}",
        headers={"Content-Type": CHECK},
        content=json.dumps({"username": user["username"], "password": PASSWORD}),
    )
    assert checked.status_code == 200, checked.text
    assert checked.json()["status"] == "COMPLETED", checked.json()

    # Step 7: resume: a 302 to the redirect URI with the code (and the state).
    resumed = call(
        "GET",
        f"{g.at(13)}/{env_id}/as/resume?flowId={flow_id}",
        headers={"Cookie": f"ST={checked.cookies['ST']}"},
    )
    assert resumed.status_code == 302, resumed.text
    answer = urlsplit(resumed.headers["location"])
    assert f"{answer.scheme}://{answer.netloc}{answer.path}" == CALLBACK, answer
    query = parse_qs(answer.query)
    assert query["state"] == ["xyz"], query

    # Step 8: the tokens.
    tokens = get_tokens(g, 14, env_id, app_id, secret, query["code"][0])
    identity = verified_id_token(g, env_id, tokens["id_token"], app_id)
    assert identity["sub"] == user["id"] and identity["aud"] == app_id, identity
