"""A path PingOne defines that populace does not serve answers 501 in PingOne's envelope,
naming the operation; an unknown path stays 404; a served path with a method PingOne does not
define there stays 405 with ``Allow``."""

from __future__ import annotations

import httpx

from populace.app import ROUTERS
from populace.http.fallback import pingone_operations
from tests.support import assert_error


async def test_an_operation_pingone_defines_but_populace_does_not_serve_is_501(
    admin: httpx.AsyncClient, environment: dict[str, str]
) -> None:
    base = f"/v1/environments/{environment['id']}"
    for method, path, name in (
        ("GET", f"{base}/agreements", "readAllAgreements"),
        ("POST", f"{base}/signOnPolicies", "createSignOnPolicy"),
        ("DELETE", f"{base}/users/x/linkedAccounts/y", "linkedAccounts/{linkedAccountID}"),
    ):
        response = await admin.request(method, path, json={})
        body = assert_error(response, 501, "NOT_IMPLEMENTED")
        assert name in body["message"], body


async def test_a_method_pingone_defines_on_a_served_path_is_501_not_405(
    admin: httpx.AsyncClient, environment: dict[str, str]
) -> None:
    # POST on a user is PingOne's account lock/unlock, which populace does not do.
    user = await admin.post(
        f"/v1/environments/{environment['id']}/users",
        json={"username": "locked-out", "email": "l@example.com"},
    )
    assert user.status_code == 201, user.text
    response = await admin.post(f"/v1/environments/{environment['id']}/users/{user.json()['id']}")
    assert_error(response, 501, "NOT_IMPLEMENTED")


async def test_unknown_paths_stay_404_and_undefined_methods_405(
    admin: httpx.AsyncClient, client: httpx.AsyncClient, environment: dict[str, str]
) -> None:
    for c in (admin, client):
        assert_error(await c.get("/v1/environments/x/no-such-thing"), 404, "NOT_FOUND")
    response = await admin.patch(f"/v1/environments/{environment['id']}/populations", json={})
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["allow"].split(",")}


def test_every_served_operation_is_one_pingone_defines_or_a_documented_extra() -> None:
    """The list of PingOne's operations is the one served paths are checked against: an
    operation populace serves at a path PingOne does not define is a deliberate extra."""
    defined = {(op.method, op.pattern) for op in pingone_operations()}
    extras = {
        ("GET", "/v1/environments/{envID}/users/{userID}/mfaEnabled"),
        ("PUT", "/v1/environments/{envID}/users/{userID}/mfaEnabled"),
    }
    for router in ROUTERS:
        if router.prefix != "/v1":
            continue
        for op in router.operations:
            sample = "/".join("x" if p.startswith("{") else p for p in op.path.split("/"))
            path = sample.removeprefix("/v1")
            known = any(m == op.method and pattern.fullmatch(path) for m, pattern in defined)
            assert known or (op.method, op.path) in extras, (op.method, op.path)
