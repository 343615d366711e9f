"""A live ``populace serve`` for tests a browser or a relying party drives over a socket: a
process on 127.0.0.1 and a free port, on a database of the session's kind
(``POPULACE_TEST_DATABASE_URL``: SQLite unless it names PostgreSQL), with an admin client and
an environment to work in."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from populace.passwords.wire import SET
from populace.testing import ClientCredentials
from tests.conftest import _create_database, _drop_database
from tests.support import ServerProcess, unique

T = TypeVar("T")

# Every request has a timeout, generous: a loaded CI machine is slow, not wedged.
TIMEOUT = 60.0
PASSWORD = "2FederateM0re!"
# The relying party's redirect URI by default.
CALLBACK = "http://localhost:3000/callback"


@dataclass
class App:
    id: str
    secret: str


@dataclass
class Live:
    """A ``populace serve`` process, an admin client on it and an environment to work in."""

    url: str
    admin: httpx.Client
    environment_id: str
    # The bootstrap Worker application (Organization Admin) and its environment.
    admin_app: App
    admin_environment_id: str

    @property
    def issuer(self) -> str:
        return f"{self.url}/{self.environment_id}/as"

    def web_app(self, redirect_uri: str = CALLBACK, **fields: Any) -> App:
        """A Web app signing users on with the code flow (client_secret_basic unless told)."""
        path = f"/v1/environments/{self.environment_id}/applications"
        created = self.admin.post(
            path,
            json={
                "enabled": True,
                "name": unique("web"),
                "type": "WEB_APP",
                "protocol": "OPENID_CONNECT",
                "grantTypes": ["AUTHORIZATION_CODE"],
                "redirectUris": [redirect_uri],
                "responseTypes": ["CODE"],
                "tokenEndpointAuthMethod": "CLIENT_SECRET_BASIC",
                **fields,
            },
        )
        assert created.status_code == 201, created.text
        app_id = created.json()["id"]
        secret = self.admin.get(f"{path}/{app_id}/secret")
        assert secret.status_code == 200, secret.text
        return App(app_id, secret.json()["secret"])

    def user(self, *, force_change: bool = False) -> dict[str, Any]:
        """A new user whose password is PASSWORD (to be changed at sign-on, if told)."""
        username = unique("user")
        path = f"/v1/environments/{self.environment_id}/users"
        created = self.admin.post(
            path,
            json={
                "username": username,
                "email": f"{username}@example.com",
                "name": {"given": "Ada", "family": "Lovelace"},
            },
        )
        assert created.status_code == 201, created.text
        user: dict[str, Any] = created.json()
        password = self.admin.put(
            f"{path}/{user['id']}/password",
            json={"value": PASSWORD, "forceChange": force_change},
            headers={"Content-Type": SET},
        )
        assert password.status_code == 200, password.text
        return user


def _in_a_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a loop of its own: pytest-asyncio's loop belongs to this thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=TIMEOUT)


@contextmanager
def own_database(folder: Path) -> Iterator[str]:
    """A new database of the session's kind, as conftest.py makes them: a throw-away
    PostgreSQL database next to POPULACE_TEST_DATABASE_URL (dropped after), else SQLite."""
    configured = os.environ.get("POPULACE_TEST_DATABASE_URL", "")
    if not configured.startswith("postgres"):
        yield str(folder / "populace.db")
        return
    url = _in_a_thread(_create_database(configured))
    try:
        yield url
    finally:
        _in_a_thread(_drop_database(url))


def create_environment(admin: httpx.Client) -> str:
    """A new sandbox environment of the organization; its id."""
    organizations = admin.get("/v1/organizations")
    assert organizations.status_code == 200, organizations.text
    organization_id = organizations.json()["_embedded"]["organizations"][0]["id"]
    licenses = admin.get(f"/v1/organizations/{organization_id}/licenses").json()
    created = admin.post(
        "/v1/environments",
        json={
            "name": unique("env"),
            "type": "SANDBOX",
            "region": "NA",
            "license": {"id": licenses["_embedded"]["licenses"][0]["id"]},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@contextmanager
def live_populace(folder: Path) -> Iterator[Live]:
    """``populace serve`` on 127.0.0.1 and a free port, on its own database, with known admin
    credentials and cheap password hashes; stopped (and its database dropped) on leaving."""
    environment_id, client_id = str(uuid.uuid4()), str(uuid.uuid4())
    secret = uuid.uuid4().hex + uuid.uuid4().hex
    admin_settings = {
        "POPULACE_ADMIN_ENVIRONMENT_ID": environment_id,
        "POPULACE_ADMIN_CLIENT_ID": client_id,
        "POPULACE_ADMIN_CLIENT_SECRET": secret,
        "POPULACE_PASSWORD_HASH_COST": "cheap",
    }
    with own_database(folder) as database:
        server = ServerProcess(database, env=admin_settings, arguments=["--host", "127.0.0.1"])
        try:
            # The process inherits os.environ: the caller's own POPULACE_* settings (a public
            # URL, rate limits, Redis) would change what these tests see, so they stay out.
            with pytest.MonkeyPatch.context() as patch:
                for name in [name for name in os.environ if name.startswith("POPULACE_")]:
                    patch.delenv(name)
                server.start(folder)
            auth = ClientCredentials(server.url, environment_id, client_id, secret)
            with httpx.Client(base_url=server.url, auth=auth, timeout=TIMEOUT) as admin:
                yield Live(
                    server.url,
                    admin,
                    create_environment(admin),
                    App(client_id, secret),
                    environment_id,
                )
        finally:
            server.stop()


def verified_id_token(
    jwks_uri: str, id_token: str, issuer: str, client_id: str, nonce: str | None
) -> dict[str, Any]:
    """The ID token's claims, once checked as a relying party must (OIDC Core 3.1.3.7): its
    signature against the provider's published keys, iss, aud, exp, iat, sub and the nonce
    (when one was sent: a refreshed ID token may leave it out, OIDC Core errata 2)."""
    keys = KeySet.import_key_set(httpx.get(jwks_uri, timeout=TIMEOUT).json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    assert token.header["alg"] == "RS256" and token.header["kid"], token.header
    expected: dict[str, Any] = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client_id},
        "exp": {"essential": True},
        "iat": {"essential": True},
        "sub": {"essential": True},
    }
    if nonce is not None:
        expected["nonce"] = {"essential": True, "value": nonce}
    jwt.JWTClaimsRegistry(**expected).validate(token.claims)
    return dict(token.claims)
