"""The console's server side, in-process: its page and assets, signing in and out, and its
calls of the API (``console/api.py``). The pages themselves are driven in a real Chromium in
``test_console_browser.py``."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from tests.conftest import ActorFactory, Deployment
from tests.support import assert_error, unique

CONSOLE = {"X-Populace-Console": "1"}


def _credentials(deployment: Deployment) -> dict[str, str]:
    admin = deployment.admin
    assert admin.client_secret is not None
    return {
        "environmentId": admin.environment_id,
        "clientId": admin.client_id,
        "clientSecret": admin.client_secret,
    }


async def _signed_in(client: httpx.AsyncClient, deployment: Deployment) -> httpx.Response:
    response = await client.post("/console/session", json=_credentials(deployment), headers=CONSOLE)
    assert response.status_code == 200, response.text
    return response


async def test_the_page_and_its_assets_come_from_the_package_with_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    moved = await client.get("/console")
    assert moved.status_code == 308 and moved.headers["location"] == "/console/"
    page = await client.get("/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert 'src="assets/console.js"' in page.text
    for name, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
        asset = await client.get(f"/console/assets/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
    assert_error(await client.get("/console/assets/../api.py"), 404, "NOT_FOUND")
    assert_error(await client.get("/console/assets/index.html"), 404, "NOT_FOUND")


async def test_sign_in_keeps_the_token_in_an_http_only_strict_cookie(
    client: httpx.AsyncClient, deployment: Deployment
) -> None:
    response = await _signed_in(client, deployment)
    session = response.json()
    assert session["clientId"] == deployment.admin.client_id
    assert session["environmentId"] == deployment.admin.environment_id
    assert session["organizationId"] == deployment.admin.organization_id
    assert session["controlApi"] is True
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "access_token" not in response.text  # the token is in the cookie only
    again = await client.get("/console/session", headers=CONSOLE)
    assert again.status_code == 200 and again.json() == session


async def test_a_wrong_secret_is_refused_as_the_token_endpoint_refuses_it(
    client: httpx.AsyncClient, deployment: Deployment
) -> None:
    wrong = {**_credentials(deployment), "clientSecret": "not-the-secret"}
    response = await client.post("/console/session", json=wrong, headers=CONSOLE)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert "set-cookie" not in response.headers
    missing = await client.post("/console/session", json={"clientId": "x"}, headers=CONSOLE)
    assert_error(missing, 400, "INVALID_DATA", "INVALID_VALUE")


async def test_calls_act_with_the_signed_in_token_and_only_on_the_apis(
    client: httpx.AsyncClient, deployment: Deployment
) -> None:
    assert_error(
        await client.get("/console/api/v1/environments", headers=CONSOLE), 401, "ACCESS_FAILED"
    )
    await _signed_in(client, deployment)
    listed = await client.get("/console/api/v1/environments?limit=1", headers=CONSOLE)
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["_embedded"]["environments"]) == 1
    # The API's own errors come back as the API wrote them.
    missing = await client.get(f"/console/api/v1/environments/{unique()}", headers=CONSOLE)
    assert_error(missing, 404, "NOT_FOUND")
    # Only the management and control APIs: not the token endpoint, not the console itself.
    environment_id = deployment.admin.environment_id
    for path in (f"/{environment_id}/as/token", "/console/session", "/openapi.json"):
        assert_error(await client.post(f"/console/api{path}", headers=CONSOLE), 404, "NOT_FOUND")


async def test_no_other_site_can_act_with_the_cookie(
    client: httpx.AsyncClient, deployment: Deployment
) -> None:
    """The console's header is required, and a browser's word that the request came from
    another site refuses it; signing in, out and every call alike. Nothing is changed."""
    await _signed_in(client, deployment)
    before = (await client.get("/console/api/v1/environments", headers=CONSOLE)).json()["count"]
    body = {"name": unique("env"), "type": "SANDBOX", "region": "NA"}
    for headers in ({}, {**CONSOLE, "Sec-Fetch-Site": "cross-site"}):
        refused = await client.post("/console/api/v1/environments", json=body, headers=headers)
        assert_error(refused, 403, "ACCESS_FAILED")
        assert_error(await client.delete("/console/session", headers=headers), 403, "ACCESS_FAILED")
        assert_error(
            await client.post("/console/session", json=_credentials(deployment), headers=headers),
            403,
            "ACCESS_FAILED",
        )
    after = (await client.get("/console/api/v1/environments", headers=CONSOLE)).json()["count"]
    assert after == before


async def test_sign_out_forgets_the_cookie(
    client: httpx.AsyncClient, deployment: Deployment
) -> None:
    await _signed_in(client, deployment)
    out = await client.delete("/console/session", headers=CONSOLE)
    assert out.status_code == 204
    assert (
        'populace_console=""' in out.headers["set-cookie"]
        or "Max-Age=0" in out.headers["set-cookie"]
    )
    assert_error(await client.get("/console/session", headers=CONSOLE), 401, "ACCESS_FAILED")
    assert_error(
        await client.get("/console/api/v1/environments", headers=CONSOLE), 401, "ACCESS_FAILED"
    )


async def test_a_population_scoped_admin_sees_only_its_population(
    client: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    environment: dict[str, Any],
    make_actor: ActorFactory,
) -> None:
    """The console adds no power and hides none: its calls answer as the API answers the
    signed-in application."""
    env_id = environment["id"]
    path = f"/v1/environments/{env_id}/populations"
    mine, other = [(await admin.post(path, json={"name": unique("pop")})).json() for _ in range(2)]
    actor = await make_actor(("Identity Data Admin", "POPULATION", mine["id"]))
    signed = await client.post(
        "/console/session",
        json={
            "environmentId": actor.environment_id,
            "clientId": actor.application_id,
            "clientSecret": actor.secret,
        },
        headers=CONSOLE,
    )
    assert signed.status_code == 200, signed.text
    listed = await client.get(f"/console/api{path}", headers=CONSOLE)
    assert listed.status_code == 200, listed.text
    assert [p["id"] for p in listed.json()["_embedded"]["populations"]] == [mine["id"]]
    hidden = await client.get(f"/console/api{path}/{other['id']}", headers=CONSOLE)
    assert hidden.status_code in (403, 404), hidden.text


async def test_recent_requests_show_what_was_served_without_queries_or_the_consoles_own(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, deployment: Deployment
) -> None:
    marker = unique("missing")
    answered = await admin.get(f"/v1/environments/{marker}?secret=hush")
    await _signed_in(client, deployment)
    through_console = await client.get(f"/console/api/v1/environments/{marker}-c", headers=CONSOLE)
    recent = await admin.get("/_populace/requests")
    assert recent.status_code == 200, recent.text
    served = recent.json()["requests"]
    assert recent.json()["count"] == len(served) <= 200
    direct = next(r for r in served if r["path"] == f"/v1/environments/{marker}")
    assert direct["method"] == "GET" and direct["status"] == 404
    assert direct["correlationId"] == answered.headers["correlation-id"]
    console = next(r for r in served if r["path"] == f"/v1/environments/{marker}-c")
    assert console["correlationId"] == through_console.headers["correlation-id"]
    assert "hush" not in recent.text  # never a query
    assert not any(r["path"].startswith(("/console", "/_populace/requests")) for r in served)
    # Newest first.
    assert served.index(console) < served.index(direct)


async def _start_admin_sign_on(client: httpx.AsyncClient, environment_id: str) -> dict[str, str]:
    client_id = str(uuid.uuid4())
    started = await client.post(
        "/console/session/authorize",
        json={"environmentId": environment_id, "clientId": client_id},
        headers=CONSOLE,
    )
    assert started.status_code == 200, started.text
    url = urlsplit(started.json()["authorizeUrl"])
    assert url.path == f"/{environment_id}/as/authorize" and not url.netloc
    params = dict(parse_qsl(url.query))
    assert params["client_id"] == client_id and params["response_type"] == "code"
    return params


async def test_an_admin_sign_on_starts_at_authorize_with_pkce_a_state_and_prompt_login(
    client: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    params = await _start_admin_sign_on(client, environment["id"])
    assert params["redirect_uri"] == "http://populace.test/console/callback"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["prompt"] == "login" and len(params["state"]) >= 40
    waiting = client.cookies.get("populace_console_signon", path="/console")
    assert waiting is not None and params["state"] in waiting
    assert params["code_challenge"] not in waiting  # the verifier is kept, not the challenge
    body = {"environmentId": "not-an-id", "clientId": str(uuid.uuid4())}
    bad = await client.post("/console/session/authorize", json=body, headers=CONSOLE)
    assert_error(bad, 400, "INVALID_DATA", "INVALID_VALUE", "environmentId")
    assert_error(await client.post("/console/session/authorize", json=body), 403, "ACCESS_FAILED")


async def test_a_callback_signs_nobody_in_without_its_state_and_a_good_code(
    client: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """Another browser's state, the authorize endpoint's error, a code the token endpoint
    refuses: each goes back to the sign-in page saying why, and no session cookie is set."""
    params = await _start_admin_sign_on(client, environment["id"])
    state, waiting = params["state"], client.cookies.get("populace_console_signon")
    client.cookies.clear()
    cases = [
        ({"code": "x", "state": "another browser's"}, "could not be matched"),
        ({"state": state, "error": "access_denied", "error_description": "No."}, "No."),
        ({"code": "not-a-code", "state": state}, "Client authentication failed"),
    ]
    for query, reason in cases:
        answer = await client.get(
            "/console/callback",
            params=query,
            headers={"Cookie": f"populace_console_signon={waiting}"},
        )
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"].startswith("/console/#/signin?failed=")
        assert quote(reason) in answer.headers["location"]
        assert "populace_console=" not in answer.headers.get("set-cookie", "")
