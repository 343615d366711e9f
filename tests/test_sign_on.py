"""Sign-on: OIDC applications, authorize, the flows API, resume, the token endpoint's user
grants, userinfo, introspection, revocation and sign-off, with PingOne's requests."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from sqlalchemy import select, update

from populace.storage.schema import (
    sign_on_flows,
    sign_on_grants,
    sign_on_sessions,
    sign_on_tokens,
)
from tests.support import assert_error, bearer, unique
from tests.test_control import Emulator, _emulator, populate

CALLBACK = "http://localhost:3000/callback"
PASSWORD = "2FederateM0re!"
CHECK = "application/vnd.pingidentity.usernamePassword.check+json"
RESET = "application/vnd.pingidentity.password.reset+json"
SET_PASSWORD = "application/vnd.pingidentity.password.set+json"


@dataclass
class App:
    id: str
    secret: str
    body: dict[str, Any]


@dataclass
class Signer:
    """An environment with a user and a Web app: what Task 3 of the guide starts from."""

    environment_id: str
    user: dict[str, Any]
    app: App


async def web_app(admin: httpx.AsyncClient, environment_id: str, **fields: Any) -> App:
    body = {
        "enabled": True,
        "name": unique("web"),
        "type": "WEB_APP",
        "protocol": "OPENID_CONNECT",
        "grantTypes": ["AUTHORIZATION_CODE"],
        "redirectUris": [CALLBACK],
        "responseTypes": ["CODE"],
        "tokenEndpointAuthMethod": "CLIENT_SECRET_BASIC",
        **fields,
    }
    created = await admin.post(f"/v1/environments/{environment_id}/applications", json=body)
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    secret = await admin.get(f"/v1/environments/{environment_id}/applications/{app_id}/secret")
    assert secret.status_code == 200, secret.text
    return App(app_id, secret.json()["secret"], created.json())


async def new_user(
    admin: httpx.AsyncClient, environment_id: str, *, force_change: bool = False, **fields: Any
) -> dict[str, Any]:
    username = unique("user")
    body = {
        "username": username,
        "email": f"{username}@example.com",
        "name": {"given": "Ada", "family": "Lovelace"},
        **fields,
    }
    created = await admin.post(f"/v1/environments/{environment_id}/users", json=body)
    assert created.status_code == 201, created.text
    user = dict(created.json())
    password = await admin.put(
        f"/v1/environments/{environment_id}/users/{user['id']}/password",
        json={"value": PASSWORD, "forceChange": force_change},
        headers={"Content-Type": SET_PASSWORD},
    )
    assert password.status_code == 200, password.text
    return user


@pytest.fixture
async def signer(admin: httpx.AsyncClient, environment: dict[str, Any]) -> Signer:
    environment_id = environment["id"]
    user = await new_user(admin, environment_id)
    return Signer(environment_id, user, await web_app(admin, environment_id))


def authorize_params(app_id: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": app_id,
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "response_mode": "pi.flow",
        **extra,
    }


async def start_flow(client: httpx.AsyncClient, s: Signer, **extra: str) -> dict[str, Any]:
    """A new flow, with no session (the client keeps cookies: its last ST would stand for
    the new flow)."""
    client.cookies.clear()
    response = await client.get(
        f"/{s.environment_id}/as/authorize", params=authorize_params(s.app.id, **extra)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def check(
    client: httpx.AsyncClient, s: Signer, flow_id: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(
        f"/{s.environment_id}/flows/{flow_id}",
        json={"username": s.user["username"], "password": password},
        headers={"Content-Type": CHECK},
    )


async def code_for(client: httpx.AsyncClient, s: Signer, **extra: str) -> str:
    flow = await start_flow(client, s, **extra)
    checked = await check(client, s, flow["id"])
    assert checked.status_code == 200, checked.text
    resumed = await client.get(
        f"/{s.environment_id}/as/resume",
        params={"flowId": flow["id"]},
        headers={"Cookie": f"ST={checked.cookies['ST']}"},
    )
    assert resumed.status_code == 200, resumed.text
    return str(resumed.json()["authorizeResponse"]["code"])


@dataclass
class SignedOn:
    """A user signed on in a browser (its ST cookie) and the code resume gave."""

    signer: Signer
    session: str
    code: str


async def signed_on(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, environment_id: str, **app: Any
) -> SignedOn:
    """A new user signed on through a new Web app (``app``: its fields)."""
    user = await new_user(admin, environment_id)
    s = Signer(environment_id, user, await web_app(admin, environment_id, **app))
    flow = await start_flow(client, s)
    session = (await check(client, s, flow["id"])).cookies["ST"]
    resumed = await client.get(
        f"/{environment_id}/as/resume",
        params={"flowId": flow["id"]},
        headers={"Cookie": f"ST={session}"},
    )
    assert resumed.status_code == 200, resumed.text
    return SignedOn(s, session, resumed.json()["authorizeResponse"]["code"])


async def exchange(client: httpx.AsyncClient, s: Signer, code: str, **extra: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, **extra}
    return await client.post(
        f"/{s.environment_id}/as/token", data=data, auth=(s.app.id, s.app.secret)
    )


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


# --- the guide's Task 3, verbatim -----------------------------------------------------------


async def test_getting_started_task_3(client, admin, environment) -> None:
    """Steps 2-7 of Task 3 with the guide's requests (step 1 is the admin token)."""
    environment_id = environment["id"]
    user = await new_user(admin, environment_id)
    # Step 2: create a Web application.
    created = await admin.post(
        f"/v1/environments/{environment_id}/applications",
        json={
            "enabled": True,
            "name": "Getting Started Web App",
            "type": "WEB_APP",
            "protocol": "OPENID_CONNECT",
            "grantTypes": ["AUTHORIZATION_CODE"],
            "redirectUris": [CALLBACK],
            "responseTypes": ["CODE"],
            "tokenEndpointAuthMethod": "CLIENT_SECRET_BASIC",
        },
    )
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    # Step 3: read its secret.
    secret = (
        await admin.get(f"/v1/environments/{environment_id}/applications/{app_id}/secret")
    ).json()["secret"]
    # Step 4: authorize with response_mode=pi.flow: the flow as JSON.
    flow = await client.get(
        f"/{environment_id}/as/authorize?response_type=code&client_id={app_id}"
        f"&redirect_uri={CALLBACK}&scope=openid&response_mode=pi.flow"
    )
    assert flow.status_code == 200, flow.text
    assert flow.json()["status"] == "USERNAME_PASSWORD_REQUIRED"
    flow_id = flow.json()["id"]
    assert flow.json()["_links"]["usernamePassword.check"]["href"].endswith(f"/flows/{flow_id}")
    # Step 5: submit the credentials.
    checked = await client.post(
        f"/{environment_id}/flows/{flow_id}",
        content=f'{{"username": "{user["username"]}", "password": "{PASSWORD}"}}',
        headers={"Content-Type": CHECK},
    )
    assert checked.status_code == 200, checked.text
    assert checked.json()["status"] == "COMPLETED"
    cookie = checked.headers["set-cookie"]
    assert cookie.startswith("ST=") and f"Path=/{environment_id}" in cookie
    assert "HttpOnly" in cookie and "Max-Age=2592000" in cookie
    # Step 6: resume with the session cookie: the code.
    resumed = await client.get(
        f"/{environment_id}/as/resume?flowId={flow_id}",
        headers={"Cookie": f"ST={checked.cookies['ST']}"},
    )
    assert resumed.status_code == 200, resumed.text
    code = resumed.json()["authorizeResponse"]["code"]
    # Step 7: the tokens.
    tokens = await client.post(
        f"/{environment_id}/as/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=(app_id, secret),
    )
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "openid"
    identity = claims_of(body["id_token"])
    assert identity["sub"] == user["id"] and identity["aud"] == app_id
    assert identity["iss"] == f"http://populace.test/{environment_id}/as"
    assert identity["acr"] == "Single_Factor" and identity["amr"] == ["pwd"]
    assert identity["env"] == environment_id
    access = claims_of(body["access_token"])
    assert access["sub"] == user["id"] and access["client_id"] == app_id
    assert access["sid"] == identity["sid"]


async def test_older_edition_redirects_to_the_sign_on_page(client, signer) -> None:
    """Without pi.flow, authorize redirects to the hosted page; the flow reads as JSON and
    resume redirects to the callback with the code and state."""
    s = signer
    params = authorize_params(s.app.id, state="xyz")
    del params["response_mode"]
    started = await client.get(f"/{s.environment_id}/as/authorize", params=params)
    assert started.status_code == 302, started.text
    location = urlsplit(started.headers["location"])
    assert location.path == f"/{s.environment_id}/signon/"
    flow_id = parse_qs(location.query)["flowId"][0]
    read = await client.get(f"/{s.environment_id}/flows/{flow_id}")
    assert read.status_code == 200 and read.json()["status"] == "USERNAME_PASSWORD_REQUIRED"
    checked = await check(client, s, flow_id)
    assert checked.json()["status"] == "COMPLETED"
    resumed = await client.get(
        f"/{s.environment_id}/as/resume",
        params={"flowId": flow_id},
        headers={"Cookie": f"ST={checked.cookies['ST']}"},
    )
    assert resumed.status_code == 302
    answer = urlsplit(resumed.headers["location"])
    assert f"{answer.scheme}://{answer.netloc}{answer.path}" == CALLBACK
    query = parse_qs(answer.query)
    assert query["state"] == ["xyz"] and query["code"]
    assert (await exchange(client, s, query["code"][0])).status_code == 200


async def test_login_hint_fills_the_username_on_the_sign_on_page(client, signer) -> None:
    """``login_hint`` is the username the page starts with, escaped as text; the user may
    still sign on as someone else."""
    s = signer
    for hint, shown in (
        (s.user["username"], s.user["username"]),
        ('"><script>alert(1)</script>', "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
    ):
        params = authorize_params(s.app.id, login_hint=hint)
        del params["response_mode"]
        started = await client.get(f"/{s.environment_id}/as/authorize", params=params)
        assert started.status_code == 302, started.text
        page = await client.get(started.headers["location"])
        assert page.status_code == 200, page.text
        assert f'value="{shown}"' in page.text
        assert "<script>" not in page.text


# --- applications ---------------------------------------------------------------------------


async def test_application_types_and_update(client, admin, environment) -> None:
    environment_id = environment["id"]
    spa = await admin.post(
        f"/v1/environments/{environment_id}/applications",
        json={
            "enabled": True,
            "name": unique("spa"),
            "type": "SINGLE_PAGE_APP",
            "protocol": "OPENID_CONNECT",
            "redirectUris": ["https://app.example.com/cb"],
            "pkceEnforcement": "S256_REQUIRED",
        },
    )
    assert spa.status_code == 201, spa.text
    body = spa.json()
    assert body["tokenEndpointAuthMethod"] == "NONE"
    assert body["grantTypes"] == ["AUTHORIZATION_CODE"] and body["responseTypes"] == ["CODE"]
    native = await web_app(
        admin, environment_id, type="NATIVE_APP", redirectUris=["org.example.app://cb"]
    )
    assert native.body["redirectUris"] == ["org.example.app://cb"]
    path = f"/v1/environments/{environment_id}/applications/{native.id}"
    replaced = await admin.put(
        path, json={**native.body, "redirectUris": ["org.example.app://other"], "enabled": False}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["redirectUris"] == ["org.example.app://other"]
    assert replaced.json()["enabled"] is False
    assert (await admin.get(path)).json()["redirectUris"] == ["org.example.app://other"]
    # A disabled application signs nobody on.
    refused = await client.get(
        f"/{environment_id}/as/authorize",
        params=authorize_params(native.id, redirect_uri="org.example.app://other"),
    )
    assert refused.status_code == 400 and "code" not in refused.headers.get("location", "")
    changed_type = await admin.put(path, json={**native.body, "type": "WEB_APP"})
    assert_error(changed_type, 400, "INVALID_DATA", "INVALID_VALUE", target="type")


async def test_secret_rotation_keeps_the_previous_one_as_asked(client, admin, signer) -> None:
    s = signer
    path = f"/v1/environments/{s.environment_id}/applications/{s.app.id}/secret"
    rotated = await admin.post(path, json={"previous": {"expiresAt": "2999-01-01T00:00:00Z"}})
    assert_error(rotated, 400, "INVALID_DATA", "INVALID_VALUE", target="previous.expiresAt")
    import datetime

    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    rotated = await admin.post(
        path, json={"previous": {"expiresAt": soon.isoformat().replace("+00:00", "Z")}}
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert rotated.json()["previous"]["secret"] == s.app.secret
    assert new_secret != s.app.secret
    assert (await admin.get(path)).json()["previous"]["secret"] == s.app.secret
    for secret in (new_secret, s.app.secret):
        code = await code_for(client, s)
        tokens = await client.post(
            f"/{s.environment_id}/as/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
            auth=(s.app.id, secret),
        )
        assert tokens.status_code == 200, tokens.text
    assert (await admin.delete(path)).status_code == 204
    assert "previous" not in (await admin.get(path)).json()
    refused = await client.post(
        f"/{s.environment_id}/as/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK},
        auth=(s.app.id, s.app.secret),
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    plain = await admin.post(path)
    assert plain.status_code == 200 and "previous" not in plain.json()


async def test_token_endpoint_enforces_the_auth_method(client, admin, signer) -> None:
    s = signer
    code = await code_for(client, s)
    posted = await client.post(
        f"/{s.environment_id}/as/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": s.app.id,
            "client_secret": s.app.secret,
        },
    )
    assert posted.status_code == 401 and posted.json()["error"] == "invalid_client"


# --- refresh, userinfo, introspect, revoke, signoff -------------------------------------------


async def test_refresh_tokens_rotate_and_a_replay_ends_the_grant(client, admin, environment):
    environment_id = environment["id"]
    user = await new_user(admin, environment_id)
    app = await web_app(admin, environment_id, grantTypes=["AUTHORIZATION_CODE", "REFRESH_TOKEN"])
    s = Signer(environment_id, user, app)
    tokens = (await exchange(client, s, await code_for(client, s))).json()
    first = tokens["refresh_token"]
    refreshed = await client.post(
        f"/{environment_id}/as/token",
        data={"grant_type": "refresh_token", "refresh_token": first},
        auth=(app.id, app.secret),
    )
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()["refresh_token"]
    assert second != first and refreshed.json()["id_token"]
    replayed = await client.post(
        f"/{environment_id}/as/token",
        data={"grant_type": "refresh_token", "refresh_token": first},
        auth=(app.id, app.secret),
    )
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"
    # The replay ended the grant: the newer refresh token and the access tokens with it.
    after = await client.post(
        f"/{environment_id}/as/token",
        data={"grant_type": "refresh_token", "refresh_token": second},
        auth=(app.id, app.secret),
    )
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
    info = await client.get(
        f"/{environment_id}/as/userinfo", headers=bearer(refreshed.json()["access_token"])
    )
    assert info.status_code == 401


async def test_userinfo_introspect_revoke(client, signer) -> None:
    s = signer
    tokens = (
        await exchange(client, s, await code_for(client, s, scope="openid profile email"))
    ).json()
    access = tokens["access_token"]
    info = await client.get(f"/{s.environment_id}/as/userinfo", headers=bearer(access))
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == s.user["id"]
    assert info.json()["preferred_username"] == s.user["username"]
    assert info.json()["given_name"] == "Ada" and info.json()["email"] == s.user["email"]
    introspected = await client.post(
        f"/{s.environment_id}/as/introspect", data={"token": access}, auth=(s.app.id, s.app.secret)
    )
    assert introspected.json()["active"] is True
    assert introspected.json()["sub"] == s.user["id"]
    revoked = await client.post(
        f"/{s.environment_id}/as/revoke", data={"token": access}, auth=(s.app.id, s.app.secret)
    )
    assert revoked.status_code == 200
    again = await client.post(
        f"/{s.environment_id}/as/introspect", data={"token": access}, auth=(s.app.id, s.app.secret)
    )
    assert again.json() == {"active": False}
    assert (
        await client.get(f"/{s.environment_id}/as/userinfo", headers=bearer(access))
    ).status_code == 401


async def test_a_web_apps_user_tokens_open_nothing_in_the_management_api(client, signer) -> None:
    """Only a Worker app's user-based grant acts with the user's roles (test_admin_users.py)."""
    s = signer
    tokens = (await exchange(client, s, await code_for(client, s))).json()
    response = await client.get(
        f"/v1/environments/{s.environment_id}/users", headers=bearer(tokens["access_token"])
    )
    assert_error(response, 403, "ACCESS_FAILED")


async def test_signoff_ends_the_session(client, admin, environment) -> None:
    environment_id = environment["id"]
    done = await signed_on(
        client, admin, environment_id, postLogoutRedirectUris=["http://localhost:3000/bye"]
    )
    s, session, app = done.signer, done.session, done.signer.app
    tokens = (await exchange(client, s, done.code)).json()
    # With the session, a new authorize completes at once.
    again = await client.get(
        f"/{environment_id}/as/authorize",
        params=authorize_params(app.id),
        headers={"Cookie": f"ST={session}"},
    )
    assert again.json()["status"] == "COMPLETED"
    unregistered = await client.get(
        f"/{environment_id}/as/signoff",
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://x.test"},
        headers={"Cookie": f"ST={session}"},
    )
    assert unregistered.status_code == 400
    off = await client.get(
        f"/{environment_id}/as/signoff",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "http://localhost:3000/bye",
            "state": "s1",
        },
        headers={"Cookie": f"ST={session}"},
    )
    assert (
        off.status_code == 302 and off.headers["location"] == "http://localhost:3000/bye?state=s1"
    )
    after = await client.get(
        f"/{environment_id}/as/authorize",
        params=authorize_params(app.id),
        headers={"Cookie": f"ST={session}"},
    )
    assert after.json()["status"] == "USERNAME_PASSWORD_REQUIRED"
    info = await client.get(
        f"/{environment_id}/as/userinfo", headers=bearer(tokens["access_token"])
    )
    assert info.status_code == 401


async def test_a_password_that_must_change_is_changed_in_the_flow(client, admin, environment):
    environment_id = environment["id"]
    user = await new_user(admin, environment_id, force_change=True)
    s = Signer(environment_id, user, await web_app(admin, environment_id))
    flow = await start_flow(client, s)
    checked = await check(client, s, flow["id"])
    assert checked.status_code == 200, checked.text
    assert checked.json()["status"] == "MUST_CHANGE_PASSWORD"
    assert "password.reset" in checked.json()["_links"]
    assert "ST" not in checked.cookies
    weak = await client.post(
        f"/{environment_id}/flows/{flow['id']}",
        json={"currentPassword": PASSWORD, "newPassword": "short"},
        headers={"Content-Type": RESET},
    )
    assert_error(weak, 400, "INVALID_DATA")
    changed = await client.post(
        f"/{environment_id}/flows/{flow['id']}",
        json={"currentPassword": PASSWORD, "newPassword": "An0ther-Passw0rd!"},
        headers={"Content-Type": RESET},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "COMPLETED" and changed.cookies["ST"]


# --- hostile cases ------------------------------------------------------------------------


async def test_wrong_password_and_unknown_user_read_the_same(client, signer) -> None:
    s = signer
    flow = await start_flow(client, s)
    wrong = await check(client, s, flow["id"], password="not-it")
    assert_error(wrong, 400, "INVALID_DATA", "INVALID_CREDENTIALS")
    unknown = await client.post(
        f"/{s.environment_id}/flows/{flow['id']}",
        json={"username": "nobody-here", "password": "not-it"},
        headers={"Content-Type": CHECK},
    )
    assert_error(unknown, 400, "INVALID_DATA", "INVALID_CREDENTIALS")
    assert wrong.json()["details"][0]["message"] == unknown.json()["details"][0]["message"]


async def test_brute_force_meets_the_lockout(client, signer) -> None:
    """The Standard policy locks a password after 5 failures; the right one is refused too."""
    s = signer
    flow = await start_flow(client, s)
    for _ in range(5):
        wrong = await check(client, s, flow["id"], password="guess")
        assert_error(wrong, 400, "INVALID_DATA", "INVALID_CREDENTIALS")
    locked = await check(client, s, flow["id"])
    body = assert_error(locked, 400, "INVALID_DATA", "PASSWORD_LOCKED_OUT")
    assert body["details"][0]["innerError"]["secondsUntilUnlock"] > 0


@pytest.mark.parametrize(
    "uri",
    [
        "http://evil.test/callback",
        "http://localhost:3000/callback/../x",
        "http://localhost:3000/callback?x=1",
        "http://LOCALHOST:3000/callback",
    ],
)
async def test_unregistered_redirect_uris_are_never_followed(client, signer, uri) -> None:
    s = signer
    for mode in ({}, {"response_mode": "pi.flow"}):
        params = {**authorize_params(s.app.id, redirect_uri=uri), **mode}
        if not mode:
            del params["response_mode"]
        response = await client.get(f"/{s.environment_id}/as/authorize", params=params)
        assert response.status_code == 400, response.text
        assert "location" not in response.headers


async def test_other_errors_go_back_to_the_client(client, signer) -> None:
    s = signer
    params = authorize_params(s.app.id, scope="openid nonsense", state="st")
    del params["response_mode"]
    response = await client.get(f"/{s.environment_id}/as/authorize", params=params)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["invalid_scope"] and query["state"] == ["st"]
    none = await client.get(
        f"/{s.environment_id}/as/authorize",
        params={
            k: v
            for k, v in authorize_params(s.app.id, prompt="none").items()
            if k != "response_mode"
        },
    )
    assert parse_qs(urlsplit(none.headers["location"]).query)["error"] == ["login_required"]


async def test_a_code_is_single_use_and_a_replay_revokes_its_tokens(client, signer) -> None:
    s = signer
    code = await code_for(client, s)
    first = await exchange(client, s, code)
    assert first.status_code == 200
    replay = await exchange(client, s, code)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    info = await client.get(
        f"/{s.environment_id}/as/userinfo", headers=bearer(first.json()["access_token"])
    )
    assert info.status_code == 401


async def test_a_code_needs_its_client_and_redirect_uri(client, admin, signer) -> None:
    s = signer
    other = await web_app(admin, s.environment_id)
    code = await code_for(client, s)
    stolen = await client.post(
        f"/{s.environment_id}/as/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=(other.id, other.secret),
    )
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    code = await code_for(client, s)
    moved = await exchange(client, s, code, redirect_uri="http://localhost:3000/other")
    assert moved.status_code == 400 and moved.json()["error"] == "invalid_grant"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def test_pkce(client, admin, environment) -> None:
    environment_id = environment["id"]
    user = await new_user(admin, environment_id)
    app = await web_app(admin, environment_id, pkceEnforcement="S256_REQUIRED")
    s = Signer(environment_id, user, app)
    missing = await client.get(f"/{environment_id}/as/authorize", params=authorize_params(app.id))
    assert missing.status_code == 400
    verifier, challenge = pkce_pair()
    code = await code_for(client, s, code_challenge=challenge, code_challenge_method="S256")
    wrong = await exchange(client, s, code, code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code = await code_for(client, s, code_challenge=challenge, code_challenge_method="S256")
    right = await exchange(client, s, code, code_verifier=verifier)
    assert right.status_code == 200, right.text


async def test_public_client_signs_on_with_pkce(client, admin, environment) -> None:
    environment_id = environment["id"]
    user = await new_user(admin, environment_id)
    created = await admin.post(
        f"/v1/environments/{environment_id}/applications",
        json={
            "enabled": True,
            "name": unique("spa"),
            "type": "SINGLE_PAGE_APP",
            "protocol": "OPENID_CONNECT",
            "redirectUris": [CALLBACK],
            "pkceEnforcement": "S256_REQUIRED",
        },
    )
    app = App(created.json()["id"], "", created.json())
    s = Signer(environment_id, user, app)
    verifier, challenge = pkce_pair()
    code = await code_for(client, s, code_challenge=challenge, code_challenge_method="S256")
    tokens = await client.post(
        f"/{environment_id}/as/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": app.id,
            "code_verifier": verifier,
        },
    )
    assert tokens.status_code == 200, tokens.text


async def test_expired_flow_is_404(client, signer, deployment) -> None:
    s = signer
    flow = await start_flow(client, s)
    async with deployment.services.db.write() as conn:
        await conn.execute(
            update(sign_on_flows).where(sign_on_flows.c.id == flow["id"]).values(expires_at=0)
        )
    assert_error(await check(client, s, flow["id"]), 404, "NOT_FOUND")
    assert_error(await client.get(f"/{s.environment_id}/flows/{flow['id']}"), 404, "NOT_FOUND")


async def test_resume_needs_the_flows_session(client, signer) -> None:
    s = signer
    flow = await start_flow(client, s)
    assert (await check(client, s, flow["id"])).status_code == 200
    stranger = await client.get(
        f"/{s.environment_id}/as/resume", params={"flowId": flow["id"]}, headers={"Cookie": "ST=x"}
    )
    assert_error(stranger, 400, "INVALID_DATA")


async def test_hosted_page_refuses_forged_forms(client, signer) -> None:
    """CSRF: a form posted without the browser's flow cookie, or without its token."""
    s = signer
    params = authorize_params(s.app.id)
    del params["response_mode"]
    started = await client.get(f"/{s.environment_id}/as/authorize", params=params)
    flow_id = parse_qs(urlsplit(started.headers["location"]).query)["flowId"][0]
    name = f"PF-{flow_id}"
    cookie = {"Cookie": f"{name}={started.cookies[name]}"}
    form = {"flowId": flow_id, "username": s.user["username"], "password": PASSWORD}
    page = f"/{s.environment_id}/signon/"
    client.cookies.clear()
    no_cookie = await client.post(page, data={**form, "csrf": "x"})
    assert no_cookie.status_code == 403
    no_token = await client.post(page, data=form, headers=cookie)
    assert no_token.status_code == 403
    not_ascii = await client.post(page, data={**form, "csrf": "\u00e9"}, headers=cookie)
    assert not_ascii.status_code == 403
    shown = await client.get(page, params={"flowId": flow_id}, headers=cookie)
    assert shown.status_code == 200 and 'name="csrf"' in shown.text
    csrf = shown.text.split('name="csrf" value="')[1].split('"')[0]
    signed_on = await client.post(page, data={**form, "csrf": csrf}, headers=cookie)
    assert signed_on.status_code == 303, signed_on.text
    assert signed_on.headers["location"].endswith(f"/as/resume?flowId={flow_id}")


async def test_handed_out_secrets_are_stored_only_as_digests(
    client, admin, environment, deployment
):
    """The ST cookie, the code and the refresh token are nowhere in the database as sent."""
    environment_id = environment["id"]
    done = await signed_on(
        client, admin, environment_id, grantTypes=["AUTHORIZATION_CODE", "REFRESH_TOKEN"]
    )
    session, code = done.session, done.code
    refresh_token = (await exchange(client, done.signer, code)).json()["refresh_token"]
    async with deployment.services.db.read() as conn:
        stored = [
            repr(row)
            for table in (sign_on_sessions, sign_on_grants, sign_on_tokens)
            for row in (
                await conn.execute(select(table).where(table.c.environment_id == environment_id))
            ).all()
        ]
    dump = "\n".join(stored)
    for secret in (session, code, refresh_token):
        assert secret not in dump
        assert hashlib.sha256(secret.encode()).hexdigest() in dump


# --- regression tests of the sign-on review ------------------------------------------------


async def test_disabling_a_user_ends_its_sessions_and_tokens(client, admin, environment):
    environment_id = environment["id"]
    done = await signed_on(
        client, admin, environment_id, grantTypes=["AUTHORIZATION_CODE", "REFRESH_TOKEN"]
    )
    s, session, app, user = done.signer, done.session, done.signer.app, done.signer.user
    tokens = (await exchange(client, s, done.code)).json()
    disabled = await admin.put(
        f"/v1/environments/{environment_id}/users/{user['id']}/enabled", json={"enabled": False}
    )
    assert disabled.status_code == 200, disabled.text
    info = await client.get(
        f"/{environment_id}/as/userinfo", headers=bearer(tokens["access_token"])
    )
    assert info.status_code == 401
    refreshed = await client.post(
        f"/{environment_id}/as/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(app.id, app.secret),
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    again = await client.get(
        f"/{environment_id}/as/authorize",
        params=authorize_params(app.id),
        headers={"Cookie": f"ST={session}"},
    )
    assert again.json()["status"] == "USERNAME_PASSWORD_REQUIRED"
    refused = await check(client, s, again.json()["id"])
    assert_error(refused, 400, "INVALID_DATA", "INVALID_CREDENTIALS")


async def test_pkce_values_outside_rfc_7636_are_refused(client, signer) -> None:
    s = signer
    verifier, _ = pkce_pair()
    plain = verifier  # a plain challenge is the verifier itself
    bad = await client.get(
        f"/{s.environment_id}/as/authorize",
        params=authorize_params(s.app.id, code_challenge="\u00e9" * 43),
    )
    assert bad.status_code == 400
    code = await code_for(client, s, code_challenge=plain, code_challenge_method="plain")
    odd = await exchange(client, s, code, code_verifier="\u00e9" * 43)
    assert odd.status_code == 400 and odd.json()["error"] == "invalid_grant"
    # The failed exchange spent the code.
    spent = await exchange(client, s, code, code_verifier=plain)
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"


async def test_authorize_parameters_are_bounded(client, signer) -> None:
    s = signer
    for name, size in (("state", 2049), ("nonce", 2049), ("login_hint", 257)):
        response = await client.get(
            f"/{s.environment_id}/as/authorize",
            params=authorize_params(s.app.id, **{name: "x" * size}),
        )
        assert_error(response, 400, "INVALID_REQUEST")
    flow = await client.get(f"/{s.environment_id}/as/authorize", params=authorize_params(s.app.id))
    assert "no-store" in flow.headers["cache-control"]


async def test_signoff_of_another_users_session_changes_nothing(client, admin, environment):
    environment_id = environment["id"]
    app = await web_app(admin, environment_id)
    victim = Signer(environment_id, await new_user(admin, environment_id), app)
    attacker = Signer(environment_id, await new_user(admin, environment_id), app)
    tokens = (await exchange(client, attacker, await code_for(client, attacker))).json()
    flow = await start_flow(client, victim)
    session = (await check(client, victim, flow["id"])).cookies["ST"]
    client.cookies.clear()
    off = await client.get(
        f"/{environment_id}/as/signoff",
        params={"id_token_hint": tokens["id_token"]},
        headers={"Cookie": f"ST={session}"},
    )
    assert_error(off, 400, "INVALID_DATA")
    assert "set-cookie" not in off.headers
    still = await client.get(
        f"/{environment_id}/as/authorize",
        params=authorize_params(app.id),
        headers={"Cookie": f"ST={session}"},
    )
    assert still.json()["status"] == "COMPLETED"


async def test_deleting_the_application_ends_its_tokens(client, admin, signer) -> None:
    s = signer
    tokens = (await exchange(client, s, await code_for(client, s))).json()
    path = f"/v1/environments/{s.environment_id}/applications/{s.app.id}"
    assert (await admin.delete(path)).status_code == 204
    info = await client.get(
        f"/{s.environment_id}/as/userinfo", headers=bearer(tokens["access_token"])
    )
    assert info.status_code == 401


async def test_a_redirect_uri_removed_meanwhile_gets_no_code(client, admin, signer) -> None:
    s = signer
    flow = await start_flow(client, s)
    session = (await check(client, s, flow["id"])).cookies["ST"]
    path = f"/v1/environments/{s.environment_id}/applications/{s.app.id}"
    moved = await admin.put(path, json={**s.app.body, "redirectUris": ["https://a.test/cb"]})
    assert moved.status_code == 200, moved.text
    resumed = await client.get(
        f"/{s.environment_id}/as/resume",
        params={"flowId": flow["id"]},
        headers={"Cookie": f"ST={session}"},
    )
    assert_error(resumed, 400, "INVALID_DATA", "INVALID_VALUE", target="redirect_uri")


async def test_two_sign_ons_in_one_browser_keep_their_pages(client, signer) -> None:
    s = signer
    params = authorize_params(s.app.id)
    del params["response_mode"]
    client.cookies.clear()
    first = await client.get(f"/{s.environment_id}/as/authorize", params=params)
    second = await client.get(f"/{s.environment_id}/as/authorize", params=params)
    for started in (first, second):
        page = await client.get(started.headers["location"])  # the client keeps both cookies
        assert page.status_code == 200, page.text


@pytest.fixture
async def throttled_deployment(empty_database: str) -> AsyncIterator[Emulator]:
    async for made in _emulator(empty_database, token_failure_limit=3):
        yield made


async def test_guessing_across_users_meets_the_address_throttle(throttled_deployment) -> None:
    """Unknown usernames never reach a lockout; the failures of one address are counted."""
    e = throttled_deployment
    environment_id = (await populate(e.client))["environment"]
    app = await web_app(e.client, environment_id)
    async with e.anonymous() as client:
        s = Signer(environment_id, {"username": "nobody"}, app)
        flow = await start_flow(client, s)
        for _ in range(3):
            guess = await check(client, s, flow["id"], password="guess")
            assert_error(guess, 400, "INVALID_DATA", "INVALID_CREDENTIALS")
        limited = await check(client, s, flow["id"], password="guess")
        assert_error(limited, 429, "REQUEST_LIMITED")
        assert limited.headers["Retry-After"]


async def test_signing_on_as_someone_else_ends_the_first_session(client, admin, environment):
    """prompt=login in a browser signed on as A, completed as B: A's session ends."""
    environment_id = environment["id"]
    app = await web_app(admin, environment_id)
    a = Signer(environment_id, await new_user(admin, environment_id), app)
    b = Signer(environment_id, await new_user(admin, environment_id), app)
    flow = await start_flow(client, a)
    first = (await check(client, a, flow["id"])).cookies["ST"]
    client.cookies.clear()
    relogin = await client.get(
        f"/{environment_id}/as/authorize",
        params=authorize_params(app.id, prompt="login"),
        headers={"Cookie": f"ST={first}"},
    )
    assert relogin.json()["status"] == "USERNAME_PASSWORD_REQUIRED"
    second = await client.post(
        f"/{environment_id}/flows/{relogin.json()['id']}",
        json={"username": b.user["username"], "password": PASSWORD},
        headers={"Content-Type": CHECK, "Cookie": f"ST={first}"},
    )
    assert second.json()["status"] == "COMPLETED"
    client.cookies.clear()
    with_first = await client.get(
        f"/{environment_id}/as/authorize",
        params=authorize_params(app.id),
        headers={"Cookie": f"ST={first}"},
    )
    assert with_first.json()["status"] == "USERNAME_PASSWORD_REQUIRED"
