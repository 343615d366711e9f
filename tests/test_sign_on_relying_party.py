"""A standard OpenID Connect relying party (Authlib) signs a user on at a live populace.

The relying party does only what such a library does: it reads the discovery document, makes
the authorization URL (PKCE S256, state, nonce), exchanges the code its callback received, checks
the ID token against the JWKS, reads userinfo and refreshes its tokens. The browser in between
is played by an httpx client keeping cookies: it follows the redirect to the hosted sign-on page,
posts its form and follows the redirects back, stopping where a browser would reach the callback.

``populace serve`` runs in a process of its own, on a database of the session's kind
(``POPULACE_TEST_DATABASE_URL``: SQLite unless it names PostgreSQL). The helpers for it are
in ``tests/live.py``.
"""

from __future__ import annotations

import base64
import hashlib
import warnings
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning

from tests.live import CALLBACK, PASSWORD, TIMEOUT, App, Live, live_populace, verified_id_token

with warnings.catch_warnings():
    # Authlib 1.9 prefers the httpx2 package and warns on import when it falls back to httpx,
    # which it still supports: that fallback is the one this project uses.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

# The relying party's redirect URI (tests.live.CALLBACK). Nothing listens there: the "browser"
# stops at the redirect to it and hands its URL to the relying party, as a callback handler
# would get it.


def at_hash(access_token: str) -> str:
    """OIDC's at_hash: the left half of the access token's SHA-256, base64url."""
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


# --- the browser's part, played with httpx ----------------------------------------------------


class SignOnForm(HTMLParser):
    """The first form of a page: where it posts and the values of its inputs."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = named.get("action") or ""
        elif tag == "input" and named.get("name"):
            self.fields[str(named["name"])] = named.get("value") or ""


def sign_on_as_a_browser(authorization_url: str, username: str, password: str) -> str:
    """Authorize, the hosted page, its form, resume: the callback URL the browser reaches."""
    with httpx.Client(timeout=TIMEOUT) as browser:  # keeps the PF and ST cookies it is given
        started = browser.get(authorization_url)
        assert started.status_code == 302, started.text
        page_url = started.headers["location"]
        assert urlsplit(page_url).path.endswith("/signon/"), page_url
        page = browser.get(page_url)
        assert page.status_code == 200, page.text
        form = SignOnForm(page.text)
        assert {"flowId", "csrf", "username", "password"} <= form.fields.keys(), form.fields
        submitted = browser.post(
            urljoin(page_url, form.action),
            data={**form.fields, "username": username, "password": password},
        )
        assert submitted.status_code == 303, submitted.text
        resumed = browser.get(urljoin(page_url, submitted.headers["location"]))
        assert resumed.status_code == 302, resumed.text
        return resumed.headers["location"]


# --- the tests --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_populace(tmp_path_factory.mktemp("populace")) as server:
        yield server


@pytest.fixture(scope="module")
def discovery(live: Live) -> dict[str, Any]:
    """What the relying party is configured with: the issuer's discovery document."""
    response = httpx.get(f"{live.issuer}/.well-known/openid-configuration", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    assert document["issuer"] == live.issuer
    assert "S256" in document["code_challenge_methods_supported"]
    return document


def relying_party(app: App, auth_method: str) -> OAuth2Client:
    return OAuth2Client(
        client_id=app.id,
        client_secret=app.secret,
        token_endpoint_auth_method=auth_method,
        scope="openid profile email",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        timeout=TIMEOUT,
    )


def code_flow(
    rp: OAuth2Client, discovery: dict[str, Any], user: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """The authorization code flow with PKCE, as the relying party runs it: its tokens and
    the nonce it sent."""
    verifier, nonce = generate_token(64), generate_token(24)
    url, state = rp.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    callback = sign_on_as_a_browser(url, user["username"], PASSWORD)
    assert callback.startswith(f"{CALLBACK}?"), callback
    # Authlib checks the state the callback carries, then posts the code and the verifier.
    token = rp.fetch_token(
        discovery["token_endpoint"],
        authorization_response=callback,
        state=state,
        code_verifier=verifier,
    )
    return dict(token), nonce


def test_code_flow_with_pkce_and_a_verified_id_token(live: Live, discovery: dict[str, Any]):
    user = live.user()
    app = live.web_app(pkceEnforcement="S256_REQUIRED")
    with relying_party(app, "client_secret_basic") as rp:
        token, nonce = code_flow(rp, discovery, user)
        assert token["token_type"] == "Bearer" and token["expires_in"] > 0
        claims = verified_id_token(
            discovery["jwks_uri"], token["id_token"], discovery["issuer"], app.id, nonce
        )
        assert claims["sub"] == user["id"]
        assert claims["at_hash"] == at_hash(token["access_token"])
        assert claims["preferred_username"] == user["username"]  # the profile scope
        # Authlib sends its token as a bearer token.
        info = rp.get(discovery["userinfo_endpoint"])
        assert info.status_code == 200, info.text
        assert info.json()["sub"] == user["id"] == claims["sub"]
        assert info.json()["email"] == user["email"]


def test_client_secret_post_and_refresh_token_rotation(live: Live, discovery: dict[str, Any]):
    user = live.user()
    app = live.web_app(
        tokenEndpointAuthMethod="CLIENT_SECRET_POST",
        grantTypes=["AUTHORIZATION_CODE", "REFRESH_TOKEN"],
    )
    with relying_party(app, "client_secret_post") as rp:
        first, nonce = code_flow(rp, discovery, user)
        original = verified_id_token(
            discovery["jwks_uri"], first["id_token"], discovery["issuer"], app.id, nonce
        )
        assert first["refresh_token"]

        refreshed = dict(rp.refresh_token(discovery["token_endpoint"]))
        assert refreshed["access_token"] != first["access_token"]
        assert refreshed["refresh_token"] and refreshed["refresh_token"] != first["refresh_token"]
        # OIDC Core 12.2: a refreshed ID token speaks of the same user and sign-on.
        renewed = verified_id_token(
            discovery["jwks_uri"], refreshed["id_token"], discovery["issuer"], app.id, None
        )
        assert renewed["sub"] == original["sub"] == user["id"]
        assert renewed["auth_time"] == original["auth_time"]
        assert renewed.get("nonce") in (None, nonce)
        assert renewed["at_hash"] == at_hash(refreshed["access_token"])

        # The client now holds the new tokens: userinfo takes the new access token...
        info = rp.get(discovery["userinfo_endpoint"])
        assert info.status_code == 200, info.text
        assert info.json()["sub"] == user["id"]
        # ...and the rotated-out refresh token is no longer active; the new one is.
        endpoint = discovery["introspection_endpoint"]
        old = rp.introspect_token(endpoint, token=first["refresh_token"])
        assert old.status_code == 200 and old.json() == {"active": False}, old.text
        new = rp.introspect_token(endpoint, token=refreshed["refresh_token"])
        assert new.status_code == 200 and new.json()["active"] is True, new.text


def test_a_public_client_with_pkce_alone(live: Live, discovery: dict[str, Any]):
    """A single-page app holds no secret (tokenEndpointAuthMethod NONE): the PKCE verifier is
    what binds the code to the client that asked for it."""
    user = live.user()
    app = live.web_app(
        type="SINGLE_PAGE_APP", tokenEndpointAuthMethod="NONE", pkceEnforcement="S256_REQUIRED"
    )
    with relying_party(App(app.id, ""), "none") as rp:
        token, nonce = code_flow(rp, discovery, user)
        claims = verified_id_token(
            discovery["jwks_uri"], token["id_token"], discovery["issuer"], app.id, nonce
        )
        assert claims["sub"] == user["id"]
        info = rp.get(discovery["userinfo_endpoint"])
        assert info.status_code == 200 and info.json()["sub"] == user["id"], info.text
