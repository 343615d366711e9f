"""The authorization server (``/{envID}/as/...``) and bearer-token checks on ``/v1``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support import assert_error, bearer, unique

BASE_URL = "http://populace.test"


async def new_worker(
    admin: httpx.AsyncClient, environment_id: str, **fields: Any
) -> tuple[str, str]:
    """A Worker app in ``environment_id``: its (client id, secret)."""
    apps = f"/v1/environments/{environment_id}/applications"
    body = {
        "name": unique("worker"),
        "enabled": True,
        "type": "WORKER",
        "protocol": "OPENID_CONNECT",
        "grantTypes": ["CLIENT_CREDENTIALS"],
        **fields,
    }
    created = await admin.post(apps, json=body)
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    secret = (await admin.get(f"{apps}/{app_id}/secret")).json()["secret"]
    return app_id, secret


async def request_token(
    client: httpx.AsyncClient, environment_id: str, **kwargs: Any
) -> httpx.Response:
    return await client.post(f"/{environment_id}/as/token", **kwargs)


def grant(**extra: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", **extra}


async def jwks_key(client: httpx.AsyncClient, environment_id: str, kid: str) -> Any:
    response = await client.get(f"/{environment_id}/as/jwks")
    assert response.status_code == 200, response.text
    matching = [k for k in response.json()["keys"] if k["kid"] == kid]
    assert len(matching) == 1, response.json()
    return jwt.PyJWK(matching[0]).key


# --- the token endpoint ---------------------------------------------------------------------


async def test_client_secret_basic_issues_bearer_token(client, admin, environment) -> None:
    app_id, secret = await new_worker(admin, environment["id"])
    response = await request_token(client, environment["id"], data=grant(), auth=(app_id, secret))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    assert "no-store" in response.headers["cache-control"]
    usable = await client.get(
        f"/v1/environments/{environment['id']}", headers=bearer(body["access_token"])
    )
    # A fresh app holds no roles: authenticated (403), not unauthenticated (401).
    assert_error(usable, 403, "ACCESS_FAILED", "INSUFFICIENT_PERMISSIONS")


async def test_client_secret_post_issues_bearer_token(client, admin, environment) -> None:
    app_id, secret = await new_worker(
        admin, environment["id"], tokenEndpointAuthMethod="CLIENT_SECRET_POST"
    )
    response = await request_token(
        client, environment["id"], data=grant(client_id=app_id, client_secret=secret)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert (
        jwt.decode(body["access_token"], options={"verify_signature": False})["client_id"] == app_id
    )


async def test_token_claims(client, deployment) -> None:
    creds = deployment.admin
    before = int(time.time())
    response = await request_token(
        client, creds.environment_id, data=grant(), auth=(creds.client_id, creds.client_secret)
    )
    token = response.json()["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["kid"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["client_id"] == creds.client_id
    assert claims["iss"] == f"{BASE_URL}/{creds.environment_id}/as"
    assert claims["env"] == creds.environment_id
    assert claims["org"] == creds.organization_id
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    assert audience and all(isinstance(a, str) and a for a in audience)
    assert isinstance(claims["scope"], str)
    assert before - 1 <= claims["iat"] <= time.time() + 1
    assert claims["exp"] - claims["iat"] == 3600


async def test_token_verifies_against_jwks(client, deployment, admin_token) -> None:
    environment_id = deployment.admin.environment_id
    kid = jwt.get_unverified_header(admin_token)["kid"]
    jwks = (await client.get(f"/{environment_id}/as/jwks")).json()
    for key in jwks["keys"]:
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys(), "private key material"
    claims = jwt.decode(
        admin_token,
        await jwks_key(client, environment_id, kid),
        algorithms=["RS256"],
        audience=jwt.decode(admin_token, options={"verify_signature": False})["aud"],
        issuer=f"{BASE_URL}/{environment_id}/as",
    )
    assert claims["client_id"] == deployment.admin.client_id
    with pytest.raises(jwt.InvalidSignatureError):
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        jwt.decode(admin_token, other, algorithms=["RS256"], options={"verify_aud": False})


async def test_openid_configuration(client, environment) -> None:
    environment_id = environment["id"]
    response = await client.get(f"/{environment_id}/as/.well-known/openid-configuration")
    assert response.status_code == 200, response.text
    config = response.json()
    issuer = f"{BASE_URL}/{environment_id}/as"
    assert config["issuer"] == issuer
    assert config["token_endpoint"] == f"{issuer}/token"
    assert config["jwks_uri"] == f"{issuer}/jwks"
    # Every sign-on endpoint populace serves is listed, each where it answers.
    listed = {
        "authorization_endpoint": "authorize",
        "userinfo_endpoint": "userinfo",
        "introspection_endpoint": "introspect",
        "revocation_endpoint": "revoke",
        "end_session_endpoint": "signoff",
    }
    for key, path in listed.items():
        assert config[key] == f"{issuer}/{path}"
        answered = await client.get(config[key].removeprefix(BASE_URL))
        assert answered.status_code != 404, (key, answered.text)
    assert {"authorization_code", "client_credentials", "refresh_token"} <= set(
        config["grant_types_supported"]
    )
    assert "S256" in config["code_challenge_methods_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(
        config["token_endpoint_auth_methods_supported"]
    )
    jwks = await client.get(config["jwks_uri"].removeprefix(BASE_URL))
    assert jwks.status_code == 200 and jwks.json()["keys"]


async def test_discovery_of_unknown_environment_is_404(client) -> None:
    unknown = str(uuid.uuid4())
    for path in ("jwks", ".well-known/openid-configuration"):
        assert_error(await client.get(f"/{unknown}/as/{path}"), 404, "NOT_FOUND")


# --- token endpoint errors (RFC 6749 section 5.2) --------------------------------------------


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert "no-store" in response.headers.get("cache-control", "")
    return dict(body)


async def test_bad_client_credentials_all_look_the_same(client, admin, environment) -> None:
    environment_id = environment["id"]
    app_id, secret = await new_worker(admin, environment_id)
    attempts: dict[str, dict[str, Any]] = {
        "wrong secret": {"auth": (app_id, secret + "x")},
        "empty secret": {"auth": (app_id, "")},
        "unknown client": {"auth": (str(uuid.uuid4()), secret)},
        "wrong secret, posted": {"data": grant(client_id=app_id, client_secret="nope")},
        "unknown client, posted": {
            "data": grant(client_id=str(uuid.uuid4()), client_secret=secret)
        },
    }
    bodies = {}
    for name, kwargs in attempts.items():
        kwargs.setdefault("data", grant())
        response = await request_token(client, environment_id, **kwargs)
        bodies[name] = assert_oauth_error(response, 401, "invalid_client")
        if "auth" in kwargs:
            assert response.headers.get("www-authenticate", "").lower().startswith("basic"), name
    assert len({json.dumps(b, sort_keys=True) for b in bodies.values()}) == 1, bodies


async def test_token_endpoint_of_another_environment_refuses_the_client(
    client, admin, make_environment
) -> None:
    home, elsewhere = await make_environment(), await make_environment()
    app_id, secret = await new_worker(admin, home["id"])
    response = await request_token(client, elsewhere["id"], data=grant(), auth=(app_id, secret))
    assert_oauth_error(response, 401, "invalid_client")


async def test_disabled_application_gets_no_token(client, admin, environment) -> None:
    app_id, secret = await new_worker(admin, environment["id"], enabled=False)
    response = await request_token(client, environment["id"], data=grant(), auth=(app_id, secret))
    assert_oauth_error(response, 401, "invalid_client")


async def test_missing_grant_type_is_invalid_request(client, deployment) -> None:
    creds = deployment.admin
    response = await request_token(
        client, creds.environment_id, data={}, auth=(creds.client_id, creds.client_secret)
    )
    assert_oauth_error(response, 400, "invalid_request")


async def test_password_grant_is_unsupported(client, deployment) -> None:
    creds = deployment.admin
    response = await request_token(
        client,
        creds.environment_id,
        data={"grant_type": "password", "username": "u", "password": "p"},
        auth=(creds.client_id, creds.client_secret),
    )
    assert_oauth_error(response, 400, "unsupported_grant_type")


@pytest.mark.parametrize(
    "content",
    [
        {"json": {"grant_type": "client_credentials"}},
        {"content": b"grant_type=client_credentials", "headers": {"Content-Type": "text/plain"}},
    ],
    ids=["json", "text"],
)
async def test_non_form_body_is_invalid_request(client, deployment, content) -> None:
    creds = deployment.admin
    response = await request_token(
        client, creds.environment_id, auth=(creds.client_id, creds.client_secret), **content
    )
    assert_oauth_error(response, 400, "invalid_request")


# --- bearer tokens on /v1 -------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def admin_claims(deployment, **changes: Any) -> dict[str, Any]:
    """Claims of a token the bootstrap admin could hold: accepted if the signature were."""
    now = int(time.time())
    creds = deployment.admin
    claims = {
        "client_id": creds.client_id,
        "iss": f"{BASE_URL}/{creds.environment_id}/as",
        "aud": [BASE_URL],
        "scope": "",
        "iat": now,
        "exp": now + 600,
        "env": creds.environment_id,
        "org": creds.organization_id,
        **changes,
    }
    return {k: v for k, v in claims.items() if v is not None}


def sign_rs256(claims: dict[str, Any], key: Any, kid: str | None) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def deployment_token(deployment, **changes: Any) -> str:
    current = deployment.services.keys.current
    return sign_rs256(admin_claims(deployment, **changes), current.private_key, current.kid)


def hs256_with_public_pem(deployment) -> str:
    """The classic algorithm-confusion attack: HMAC keyed with the RSA public key's PEM."""
    current = deployment.services.keys.current
    pem = current.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": current.kid}).encode())
    payload = b64url(json.dumps(admin_claims(deployment)).encode())
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def unsigned(deployment) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": deployment.services.keys.current.kid}
    payload = admin_claims(deployment)
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}."


def tampered(deployment) -> str:
    """A genuine token whose payload is swapped for one that lives longer."""
    header, _, signature = deployment_token(deployment).split(".")
    forged = admin_claims(deployment, exp=int(time.time()) + 86400)
    return f"{header}.{b64url(json.dumps(forged).encode())}.{signature}"


def foreign_key_token(deployment, *, same_kid: bool) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = deployment.services.keys.current.kid if same_kid else str(uuid.uuid4())
    return sign_rs256(admin_claims(deployment), other, kid)


BAD_TOKENS = {
    "malformed": lambda d: "not-a-jwt",
    "three garbage parts": lambda d: "a.b.c",
    "expired": lambda d: deployment_token(
        d, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600
    ),
    "without exp": lambda d: deployment_token(d, exp=None),
    "issued in the future": lambda d: deployment_token(
        d, iat=int(time.time()) + 3600, exp=int(time.time()) + 7200
    ),
    "alg none": unsigned,
    "HS256 keyed with the public key": hs256_with_public_pem,
    "unknown kid": lambda d: sign_rs256(
        admin_claims(d), d.services.keys.current.private_key, str(uuid.uuid4())
    ),
    "tampered payload": tampered,
    "other deployment's key": lambda d: foreign_key_token(d, same_kid=False),
    "other key with our kid": lambda d: foreign_key_token(d, same_kid=True),
}


def admin_environment_path(deployment) -> str:
    return f"/v1/environments/{deployment.admin.environment_id}"


def assert_invalid_token(response: httpx.Response) -> None:
    assert_error(response, 401, "ACCESS_FAILED", "INVALID_TOKEN")
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")


async def test_self_signed_token_is_accepted(client, deployment) -> None:
    """The control for the cases below: a token made the same way but signed correctly works."""
    response = await client.get(
        admin_environment_path(deployment), headers=bearer(deployment_token(deployment))
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("case", BAD_TOKENS)
async def test_bad_bearer_token_is_401(client, deployment, case) -> None:
    token = BAD_TOKENS[case](deployment)
    response = await client.get(admin_environment_path(deployment), headers=bearer(token))
    assert_invalid_token(response)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer    ", "Basic dXNlcjpwYXNz", "Token abc"],
    ids=["missing", "empty bearer", "blank bearer", "basic", "other scheme"],
)
async def test_missing_bearer_token_is_401(client, deployment, authorization) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await client.get(admin_environment_path(deployment), headers=headers)
    assert_invalid_token(response)


async def test_token_of_deleted_application_is_401(client, admin, make_actor, environment) -> None:
    actor = await make_actor(("Environment Admin", "ENVIRONMENT", environment["id"]))
    populations = f"/v1/environments/{environment['id']}/populations"
    assert (await actor.client.get(populations)).status_code == 200
    deleted = await admin.delete(
        f"/v1/environments/{actor.environment_id}/applications/{actor.application_id}"
    )
    assert deleted.status_code == 204, deleted.text
    assert_invalid_token(await actor.client.get(populations))
    response = await request_token(
        client, actor.environment_id, data=grant(), auth=(actor.application_id, actor.secret)
    )
    assert_oauth_error(response, 401, "invalid_client")
