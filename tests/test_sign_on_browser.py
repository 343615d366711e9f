"""A real browser signs on at the hosted sign-on page of a live populace.

Headless Chromium (Debian's ``chromium``, driven by Playwright; ``make chromium`` installs it,
nothing here downloads a browser) goes from an application's authorize URL to the sign-on page,
fills the form as a person would (finding each field by its label) and is redirected to the
application's callback: a small HTTP server on 127.0.0.1 that records what reached it. The code
it received is then exchanged for tokens as the application would.

``populace serve`` runs in a process of its own (a browser cannot reach an in-process app), on a
database of the session's kind; see ``test_sign_on_relying_party.py`` for the helpers.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Request

from populace.passwords.wire import CHECK
from tests.live import (
    PASSWORD,
    TIMEOUT,
    App,
    Live,
    live_populace,
    verified_id_token,
)

NEW_PASSWORD = "An0ther-Passw0rd!"


# --- the application's side: its callback, its authorize URL, its token request ---------------


class _Callback(BaseHTTPRequestHandler):
    def __init__(self, visits: list[str], *args: Any) -> None:
        self.visits = visits  # before the base class's __init__, which handles the request
        super().__init__(*args)

    def do_GET(self) -> None:
        self.visits.append(self.path)
        body = b'<!doctype html><html lang="en"><title>Callback</title><h1>Signed on</h1></html>'
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the test reads the visits instead


@dataclass
class Callback:
    """The application's redirect URI, served on 127.0.0.1: what reached it, in order."""

    url: str
    visits: list[str]


@pytest.fixture(scope="module")
def callback() -> Iterator[Callback]:
    visits: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Callback, visits))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Callback(f"http://127.0.0.1:{server.server_address[1]}/callback", visits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=TIMEOUT)


@dataclass
class Authorization:
    """One authorize request of the application, and the secrets it keeps for the callback."""

    url: str
    state: str
    nonce: str
    verifier: str


def authorization(live: Live, app: App, callback: Callback) -> Authorization:
    """An authorize URL as a Web app makes it: code flow, state, nonce and PKCE S256."""
    verifier, state, nonce = (secrets.token_urlsafe(n) for n in (48, 16, 16))
    challenge = hashlib.sha256(verifier.encode()).digest()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": app.id,
            "redirect_uri": callback.url,
            "scope": "openid profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": base64.urlsafe_b64encode(challenge).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
    )
    return Authorization(f"{live.issuer}/authorize?{query}", state, nonce, verifier)


def tokens_for(
    live: Live, app: App, callback: Callback, asked: Authorization, code: str
) -> dict[str, Any]:
    """The application's token request for a code, its ID token checked."""
    response = httpx.post(
        f"{live.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": callback.url,
            "code_verifier": asked.verifier,
        },
        auth=(app.id, app.secret),
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    tokens["claims"] = verified_id_token(
        f"{live.issuer}/jwks", tokens["id_token"], live.issuer, app.id, asked.nonce
    )
    return tokens


# --- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_populace(tmp_path_factory.mktemp("populace")) as server:
        yield server


@pytest.fixture(scope="module")
def app(live: Live, callback: Callback) -> App:
    return live.web_app(redirect_uri=callback.url, pkceEnforcement="S256_REQUIRED")


def open_sign_on_page(page: Page, asked: Authorization) -> None:
    page.goto(asked.url)
    page.get_by_role("heading", name="Sign on", level=1).wait_for()
    assert urlsplit(page.url).path.endswith("/signon/"), page.url


def submit_credentials(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign on").click()


def code_at_callback(page: Page, callback: Callback, asked: Authorization) -> str:
    """Wait for the browser to land on the callback; the code it brought, state checked."""
    page.wait_for_url(lambda url: url.startswith(f"{callback.url}?"))
    page.get_by_role("heading", name="Signed on").wait_for()
    reached = urlsplit(page.url)
    query = parse_qs(reached.query)
    assert query["state"] == [asked.state], page.url
    assert f"{reached.path}?{reached.query}" in callback.visits  # it reached the application
    return query["code"][0]


def redirect_chain(last: Request) -> list[str]:
    """The paths a navigation went through, first to last."""
    paths: list[str] = []
    request: Request | None = last
    while request is not None:
        paths.insert(0, urlsplit(request.url).path)
        request = request.redirected_from
    return paths


def assert_accessible(page: Page) -> None:
    """The basics a screen reader needs: a language, a title, one h1, a label for every field
    (linked by for=id) and a named submit button."""
    assert page.locator("html").get_attribute("lang"), "the page has no lang"
    assert page.title().strip(), "the page has no title"
    assert page.locator("h1").count() == 1
    fields = page.locator("input:not([type=hidden])")
    assert fields.count() > 0
    for field in fields.all():
        field_id = field.get_attribute("id")
        assert field_id, f"a field without an id: {field.evaluate('e => e.outerHTML')}"
        assert page.locator(f'label[for="{field_id}"]').count() == 1, f"no label for {field_id}"
    button = page.locator("button[type=submit]")
    assert button.count() == 1 and button.inner_text().strip()


# --- the tests ----------------------------------------------------------------------------------


def test_authorize_to_callback_and_tokens(live: Live, app: App, callback: Callback, page: Page):
    user = live.user()
    asked = authorization(live, app, callback)
    open_sign_on_page(page, asked)
    submit_credentials(page, user["username"], PASSWORD)
    code = code_at_callback(page, callback, asked)
    tokens = tokens_for(live, app, callback, asked, code)
    assert tokens["claims"]["sub"] == user["id"]
    assert tokens["claims"]["nonce"] == asked.nonce
    assert tokens["claims"]["preferred_username"] == user["username"]


def test_a_wrong_password_is_shown_then_the_right_one_signs_on(
    live: Live, app: App, callback: Callback, page: Page
):
    user = live.user()
    asked = authorization(live, app, callback)
    open_sign_on_page(page, asked)
    submit_credentials(page, user["username"], "not-the-password")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text().strip(), "the alert says nothing"
    # Still on the sign-on page, and nothing went to the application.
    assert urlsplit(page.url).path.endswith("/signon/"), page.url
    assert not [visit for visit in callback.visits if asked.state in visit]
    submit_credentials(page, user["username"], PASSWORD)
    code = code_at_callback(page, callback, asked)
    assert tokens_for(live, app, callback, asked, code)["claims"]["sub"] == user["id"]


def test_a_password_that_must_change_is_changed_on_the_page(
    live: Live, app: App, callback: Callback, page: Page
):
    user = live.user(force_change=True)
    asked = authorization(live, app, callback)
    open_sign_on_page(page, asked)
    submit_credentials(page, user["username"], PASSWORD)
    page.get_by_role("heading", name="Change your password", level=1).wait_for()
    assert_accessible(page)
    page.get_by_label("Current password", exact=True).fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    code = code_at_callback(page, callback, asked)
    assert tokens_for(live, app, callback, asked, code)["claims"]["sub"] == user["id"]
    # The new password is the one that works now.
    check = live.admin.post(
        f"/v1/environments/{live.environment_id}/users/{user['id']}/password",
        json={"password": NEW_PASSWORD},
        headers={"Content-Type": CHECK},
    )
    assert check.status_code == 200, check.text


def test_the_session_signs_on_again_without_the_form(
    live: Live, app: App, callback: Callback, page: Page
):
    user = live.user()
    first = authorization(live, app, callback)
    open_sign_on_page(page, first)
    submit_credentials(page, user["username"], PASSWORD)
    signed_on = tokens_for(live, app, callback, first, code_at_callback(page, callback, first))

    # The same browser, a new authorize request: its ST cookie stands for it.
    second = authorization(live, app, callback)
    landed = page.goto(second.url)
    assert landed is not None
    # Straight through: authorize redirected to resume, resume to the callback; no form.
    assert redirect_chain(landed.request) == [
        f"/{live.environment_id}/as/authorize",
        f"/{live.environment_id}/as/resume",
        urlsplit(callback.url).path,
    ]
    again = tokens_for(live, app, callback, second, code_at_callback(page, callback, second))
    assert again["claims"]["sub"] == user["id"]
    assert again["claims"]["nonce"] == second.nonce
    assert again["claims"]["sid"] == signed_on["claims"]["sid"]  # the same session


def test_the_sign_on_page_is_accessible(live: Live, app: App, callback: Callback, page: Page):
    user = live.user()
    asked = authorization(live, app, callback)
    open_sign_on_page(page, asked)
    assert_accessible(page)
    # The page with an error too; its message is announced (role=alert).
    submit_credentials(page, user["username"], "not-the-password")
    page.get_by_role("alert").wait_for()
    assert_accessible(page)
