"""The admin console in a real headless Chromium, against a live ``populace serve``: an
administrator signs in with a Worker application's credentials and works as a person would,
finding every control by its label or role; what the page shows is checked against the API.

``populace serve`` runs in a process of its own on a database of the session's kind
(``tests/live.py``); the browser is Debian's ``chromium`` (``make chromium``)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page

from tests.live import PASSWORD, App, Live, create_environment, live_populace
from tests.support import browser_page, unique, wait_until


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_populace(tmp_path_factory.mktemp("populace")) as server:
        yield server


def sign_in(page: Page, live: Live, app: App | None = None, environment_id: str = "") -> None:
    """Sign in as a person would, by keyboard: each field found by its label, Enter submits."""
    app = app or live.admin_app
    page.goto(f"{live.url}/console/")
    page.get_by_role("heading", name="Sign in to populace").wait_for()
    form = page.get_by_role("form", name="Sign in", exact=True)
    form.get_by_label("Environment ID").fill(environment_id or live.admin_environment_id)
    form.get_by_label("Client ID").fill(app.id)
    form.get_by_label("Client secret").fill(app.secret)
    form.get_by_label("Client secret").press("Enter")
    page.get_by_role("heading", name="Populations", level=1).wait_for()


def go(page: Page, live: Live, route: str, heading: str) -> None:
    """Open a page and wait until it is drawn: the page it replaces may have had the same
    heading (the Populations page of another environment)."""
    page.goto(f"{live.url}/console/#{route}")
    page.locator(f'#main[data-route="#{route}"]').wait_for(state="attached")
    page.get_by_role("heading", name=heading, level=1).wait_for()


def row(page: Page, text: str) -> Locator:
    """The table row that holds ``text`` (an exact cell)."""
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=text, exact=True))


def user_count(page: Page, population: str) -> str:
    return row(page, population).get_by_role("cell").nth(1).inner_text()


def assert_labelled(page: Page) -> None:
    """Every form control of the page has a label a screen reader announces."""
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter((control) => control.type !== 'hidden' && control.labels.length === 0)
            .map((control) => control.outerHTML)"""
    )
    assert unlabelled == []


def test_populations_and_users_as_an_administrator_manages_them(page: Page, live: Live) -> None:
    """Create a population and see it listed; make it the default; try to delete it and see
    PingOne's refusal; create a user in it and move it, and see both userCounts change."""
    sign_in(page, live)
    env = live.environment_id
    go(page, live, f"/environments/{env}/populations", "Populations")
    assert_labelled(page)
    first, second = unique("pop"), unique("pop")
    for name in (first, second):
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_role("button", name="Create population").click()
        row(page, name).wait_for()
    assert user_count(page, first) == "0"

    row(page, first).get_by_role("button", name=f"Make {first} the default").click()
    row(page, first).get_by_text("Default", exact=True).wait_for()
    populations = live.admin.get(f"/v1/environments/{env}/populations").json()
    defaults = [p["name"] for p in populations["_embedded"]["populations"] if p["default"]]
    assert defaults == [first]

    page.once("dialog", lambda dialog: dialog.accept())
    row(page, first).get_by_role("button", name=f"Delete {first}").click()
    refusal = page.get_by_role("alert")
    refusal.wait_for()
    assert "The default population cannot be deleted" in refusal.inner_text()
    assert row(page, first).count() == 1  # still there

    go(page, live, f"/environments/{env}/users", "Users")
    assert_labelled(page)
    username = unique("ada")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Given name").fill("Ada")
    page.get_by_label("Population").select_option(label=first)
    page.get_by_role("button", name="Create user").click()
    page.get_by_role("heading", name=username, level=1).wait_for()
    go(page, live, f"/environments/{env}/populations", "Populations")
    row(page, first).wait_for()
    assert (user_count(page, first), user_count(page, second)) == ("1", "0")

    go(page, live, f"/environments/{env}/users", "Users")
    page.get_by_role("link", name=username).click()
    page.get_by_role("heading", name=username, level=1).wait_for()
    assert_labelled(page)
    move = page.get_by_role("form", name="Move to another population")
    move.get_by_label("Population").select_option(label=second)
    move.get_by_role("button", name="Move").click()
    page.get_by_role("status").filter(has_text="Moved.").wait_for()
    go(page, live, f"/environments/{env}/populations", "Populations")
    row(page, first).wait_for()
    assert (user_count(page, first), user_count(page, second)) == ("0", "1")
    users = live.admin.get(
        f"/v1/environments/{env}/users", params={"filter": f'username eq "{username}"'}
    )
    user = users.json()["_embedded"]["users"][0]
    ids = {p["name"]: p["id"] for p in populations["_embedded"]["populations"]}
    assert user["population"]["id"] == ids[second] and user["name"]["given"] == "Ada"


def _done(page: Page, message: str) -> None:
    page.get_by_role("status").filter(has_text=message).wait_for()


def test_the_rest_of_the_directory_environments_edits_search_groups_and_passwords(
    page: Page, live: Live
) -> None:
    """What the first test leaves out, each checked against the API: an environment created and
    deleted (with confirmation), a population renamed, a user found by the API's filter,
    edited, disabled and enabled again, given a password, added to a group and removed."""
    sign_in(page, live)
    go(page, live, "/environments", "Environments")
    name = unique("env")
    created = page.get_by_role("form", name="Create an environment")
    created.get_by_label("Name").fill(name)
    created.get_by_role("button", name="Create environment").click()
    _done(page, f"Created {name}.")
    listed = live.admin.get("/v1/environments", params={"filter": f'name eq "{name}"'}).json()
    (environment,) = listed["_embedded"]["environments"]
    go(page, live, "/environments", "Environments")
    page.get_by_role("link", name=name).wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete environment {name}").click()
    page.get_by_role("link", name=name).wait_for(state="detached")
    gone = live.admin.get(f"/v1/environments/{environment['id']}")
    assert gone.status_code == 404, gone.text

    env = live.environment_id
    population = live.admin.post(
        f"/v1/environments/{env}/populations", json={"name": unique("pop")}
    ).json()
    go(page, live, f"/environments/{env}/populations/{population['id']}", population["name"])
    renamed = unique("renamed")
    edit = page.get_by_role("form", name="Edit")
    edit.get_by_label("Name").fill(renamed)
    edit.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name=renamed, level=1).wait_for()
    read = live.admin.get(f"/v1/environments/{env}/populations/{population['id']}").json()
    assert read["name"] == renamed

    user = live.user()
    group = live.admin.post(f"/v1/environments/{env}/groups", json={"name": unique("grp")})
    assert group.status_code == 201, group.text
    go(page, live, f"/environments/{env}/users", "Users")
    search = page.get_by_role("search")
    search.get_by_label("Filter (as the API's filter parameter)").fill(
        f'username eq "{user["username"]}"'
    )
    search.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=user["username"]).click()
    page.get_by_role("heading", name=user["username"], level=1).wait_for()
    path = f"/v1/environments/{env}/users/{user['id']}"

    edit = page.get_by_role("form", name="Edit")
    edit.get_by_label("Given name").fill("Grace")
    edit.get_by_role("button", name="Save").click()
    # The population's "Saved." may still be showing: wait for the user's own change.
    wait_until(
        lambda: live.admin.get(path).json()["name"]["given"] == "Grace", "the new given name"
    )

    page.get_by_role("button", name="Disable").click()
    _done(page, "Disabled.")
    assert live.admin.get(path).json()["enabled"] is False
    page.get_by_role("button", name="Enable").click()
    _done(page, "Enabled.")
    assert live.admin.get(path).json()["enabled"] is True

    password = page.get_by_role("form", name="Set the password")
    password.get_by_label("New password").fill("N3w-Console-Passw0rd!")
    password.get_by_label("Must change it at next sign-on").check()
    password.get_by_role("button", name="Set password").click()
    _done(page, "Password set.")
    state = live.admin.get(f"{path}/password").json()
    assert state["status"] == "MUST_CHANGE_PASSWORD", state

    join = page.get_by_role("form", name="Add to a group")
    join.get_by_label("Group").select_option(label=group.json()["name"])
    join.get_by_role("button", name="Add to group").click()
    _done(page, "Added to the group.")
    groups = live.admin.get(f"{path}/memberOfGroups").json()["_embedded"]["groupMemberships"]
    assert [g["id"] for g in groups] == [group.json()["id"]]
    page.get_by_role("button", name=f"Remove from {group.json()['name']}").click()
    _done(page, "Removed from the group.")
    groups = live.admin.get(f"{path}/memberOfGroups").json()["_embedded"]["groupMemberships"]
    assert groups == []


def _population_admin(live: Live, population_id: str) -> App:
    """A Worker app holding Identity Data Admin of one population only."""
    path = f"/v1/environments/{live.admin_environment_id}/applications"
    created = live.admin.post(
        path,
        json={
            "name": unique("scoped"),
            "enabled": True,
            "type": "WORKER",
            "protocol": "OPENID_CONNECT",
        },
    )
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    roles = live.admin.get("/v1/roles").json()["_embedded"]["roles"]
    role = next(r["id"] for r in roles if r["name"] == "Identity Data Admin")
    assigned = live.admin.post(
        f"{path}/{app_id}/roleAssignments",
        json={"role": {"id": role}, "scope": {"type": "POPULATION", "id": population_id}},
    )
    assert assigned.status_code == 201, assigned.text
    return App(app_id, live.admin.get(f"{path}/{app_id}/secret").json()["secret"])


def test_a_population_scoped_admin_cannot_see_other_populations(
    browser: Browser, live: Live
) -> None:
    env = live.environment_id
    mine, other = unique("mine"), unique("other")
    made: dict[str, Any] = {}
    for name in (mine, other):
        created = live.admin.post(f"/v1/environments/{env}/populations", json={"name": name})
        assert created.status_code == 201, created.text
        made[name] = created.json()
    app = _population_admin(live, made[mine]["id"])
    with browser_page(browser) as page:
        sign_in(page, live, app)
        go(page, live, f"/environments/{env}/populations", "Populations")
        row(page, mine).wait_for()
        names = page.get_by_role("row").all_inner_texts()
        assert not any(other in text for text in names), names
        page.goto(f"{live.url}/console/#/environments/{env}/populations/{made[other]['id']}")
        page.get_by_role("alert").wait_for()  # refused as the API refuses it


def _console_sign_on_app(live: Live) -> str:
    """A Worker app an administrator signs on to the console through (public, PKCE)."""
    created = live.admin.post(
        f"/v1/environments/{live.environment_id}/applications",
        json={
            "name": unique("console"),
            "enabled": True,
            "type": "WORKER",
            "protocol": "OPENID_CONNECT",
            "grantTypes": ["AUTHORIZATION_CODE"],
            "responseTypes": ["CODE"],
            "redirectUris": [f"{live.url}/console/callback"],
            "tokenEndpointAuthMethod": "NONE",
            "pkceEnforcement": "S256_REQUIRED",
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_an_admin_user_signs_in_on_the_sign_on_page_and_acts_with_its_roles(
    browser: Browser, live: Live
) -> None:
    """A user holding Identity Data Admin of one population signs in through populace's hosted
    sign-on page: the console shows that population and not the other, says who is signed in,
    and signing out revokes the user's token."""
    env = live.environment_id
    mine, other = unique("mine"), unique("other")
    made = {}
    for name in (mine, other):
        created = live.admin.post(f"/v1/environments/{env}/populations", json={"name": name})
        assert created.status_code == 201, created.text
        made[name] = created.json()["id"]
    officer = live.user()
    roles = live.admin.get("/v1/roles").json()["_embedded"]["roles"]
    role = next(r["id"] for r in roles if r["name"] == "Identity Data Admin")
    assigned = live.admin.post(
        f"/v1/environments/{env}/users/{officer['id']}/roleAssignments",
        json={"role": {"id": role}, "scope": {"type": "POPULATION", "id": made[mine]}},
    )
    assert assigned.status_code == 201, assigned.text
    app_id = _console_sign_on_app(live)
    with browser_page(browser) as page:
        page.goto(f"{live.url}/console/")
        form = page.get_by_role("form", name="Sign in as an administrator")
        form.get_by_label("Environment ID").fill(env)
        form.get_by_label("Client ID of that application").fill(app_id)
        form.get_by_role("button", name="Sign in as an administrator").click()
        page.get_by_role("heading", name="Sign on", level=1).wait_for()
        page.get_by_label("Username", exact=True).fill(officer["username"])
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign on").click()
        page.get_by_role("heading", name="Populations", level=1).wait_for()
        assert page.locator("#who").get_by_text(officer["id"]).is_visible()
        row(page, mine).wait_for()
        names = page.get_by_role("row").all_inner_texts()
        assert not any(other in text for text in names), names
        token = next(c for c in page.context.cookies() if c["name"] == "populace_console")
        headers = {"Authorization": f"Bearer {token['value']}"}
        users = f"{live.url}/v1/environments/{env}/users"
        assert httpx.get(users, headers=headers).status_code == 200
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("heading", name="Sign in to populace").wait_for()
        assert httpx.get(users, headers=headers).status_code == 401


def test_an_admin_sign_in_with_the_wrong_password_stays_out(browser: Browser, live: Live) -> None:
    """The sign-on page refuses a wrong password as it always does; the console is not entered."""
    officer = live.user()
    app_id = _console_sign_on_app(live)
    with browser_page(browser) as page:
        page.goto(f"{live.url}/console/")
        form = page.get_by_role("form", name="Sign in as an administrator")
        form.get_by_label("Environment ID").fill(live.environment_id)
        form.get_by_label("Client ID of that application").fill(app_id)
        form.get_by_role("button", name="Sign in as an administrator").click()
        page.get_by_role("heading", name="Sign on", level=1).wait_for()
        page.get_by_label("Username", exact=True).fill(officer["username"])
        page.get_by_label("Password", exact=True).fill("not-the-password")
        page.get_by_role("button", name="Sign on").click()
        page.get_by_role("alert").wait_for()
        assert not any(c["name"] == "populace_console" for c in page.context.cookies())


def test_past_two_hundred_populations_a_user_moves_by_population_id(page: Page, live: Live) -> None:
    """The move form lists an environment's populations; past the first 200 it asks for the
    population's ID instead (the page never loads thousands), and the move still works."""
    env = create_environment(live.admin)
    path = f"/v1/environments/{env}/populations"
    for n in range(201):
        created = live.admin.post(path, json={"name": f"crowded-{n:03d}"})
        assert created.status_code == 201, created.text
    target = created.json()
    mover = unique("mover")
    user = live.admin.post(
        f"/v1/environments/{env}/users", json={"username": mover, "email": f"{mover}@example.com"}
    )
    assert user.status_code == 201, user.text
    sign_in(page, live)
    go(page, live, f"/environments/{env}/users/{user.json()['id']}", user.json()["username"])
    form = page.get_by_role("form", name="Move to another population")
    form.get_by_label("Population ID").fill(target["id"])
    form.get_by_role("button", name="Move").click()
    page.get_by_text("Moved.").wait_for()
    moved = live.admin.get(f"/v1/environments/{env}/users/{user.json()['id']}").json()
    assert moved["population"]["id"] == target["id"]


def test_task_one_a_worker_app_its_roles_and_what_postman_needs(
    browser: Browser, page: Page, live: Live
) -> None:
    """Task 1 of PingOne's getting-started guide, in the console: create a Worker app, give it
    a role, read its credentials; then those credentials sign in."""
    sign_in(page, live)
    env = live.environment_id
    go(page, live, f"/environments/{env}/applications", "Applications")
    name = unique("worker")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create Worker application").click()
    page.get_by_role("heading", name=name, level=1).wait_for()
    assert_labelled(page)
    assign = page.get_by_role("form", name="Assign a role")
    assign.get_by_label("Role").select_option(label="Environment Admin")
    assign.get_by_label("Scope", exact=True).select_option(label="This environment")
    assign.get_by_role("button", name="Assign role").click()
    row(page, "Environment Admin").wait_for()
    page.get_by_role("button", name="Show secret").click()
    credentials = page.get_by_role("region", name="Credentials")
    client_id = credentials.locator("dd code").first.inner_text()
    page.wait_for_function("() => !document.querySelector('output').textContent.startsWith('(')")
    secret = credentials.locator("output").inner_text()
    apps = f"/v1/environments/{env}/applications/{client_id}"
    assert live.admin.get(f"{apps}/secret").json()["secret"] == secret
    postman = page.get_by_role("region", name="Postman").inner_text()
    assert env in postman and client_id in postman and secret in postman
    assignments = live.admin.get(f"{apps}/roleAssignments").json()["_embedded"]["roleAssignments"]
    assert [a["scope"] for a in assignments] == [{"type": "ENVIRONMENT", "id": env}]
    with browser_page(browser) as fresh:
        sign_in(fresh, live, App(client_id, secret), environment_id=env)


def test_the_token_stays_out_of_reach_and_sign_out_works(page: Page, live: Live) -> None:
    sign_in(page, live)
    reachable = page.evaluate(
        "() => [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage)]"
    )
    assert "populace_console" not in reachable[0] and reachable[1:] == ["{}", "{}"]
    cookies = page.context.cookies()
    console = next(c for c in cookies if c["name"] == "populace_console")
    assert console["httpOnly"] and console["sameSite"] == "Strict" and console["path"] == "/console"
    assert console["value"] not in page.url
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in to populace").wait_for()
    assert not any(c["name"] == "populace_console" for c in page.context.cookies())
    page.goto(f"{live.url}/console/#/environments")
    page.get_by_role("heading", name="Sign in to populace").wait_for()


def test_a_phone_sized_screen_needs_no_sideways_scrolling(browser: Browser, live: Live) -> None:
    with browser_page(browser, viewport={"width": 390, "height": 844}) as page:
        sign_in(page, live)
        for route, heading in (
            (f"/environments/{live.environment_id}/populations", "Populations"),
            (f"/environments/{live.environment_id}/users", "Users"),
            ("/emulator", "Emulator"),
        ):
            go(page, live, route, heading)
            wide = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
            assert wide <= 1, (route, wide)


def test_the_emulator_panel_snapshots_faults_and_recent_requests(page: Page, live: Live) -> None:
    sign_in(page, live)
    go(page, live, "/emulator", "Emulator")
    assert_labelled(page)
    snapshot = unique("snap")
    page.get_by_label("Snapshot name").fill(snapshot)
    page.get_by_role("button", name="Take snapshot").click()
    row(page, snapshot).wait_for()
    path = f"/v1/environments/{unique('nowhere')}/groups"
    rules = page.get_by_role("form", name="Add a fault rule")
    rules.get_by_label("Path (a glob)").fill(path)
    rules.get_by_label("Status to answer").fill("503")
    rules.get_by_role("button", name="Add rule").click()
    row(page, path).wait_for()
    assert live.admin.get(path).status_code == 503
    # The live view shows that request, with the Correlation-Id the client got.
    answered = live.admin.get(path)
    row(page, answered.headers["correlation-id"]).wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    row(page, path).get_by_role("button", name=f"Remove the rule for {path}").click()
    page.get_by_role("status").filter(has_text="Rule removed.").wait_for()
    assert live.admin.get(path).status_code != 503
    assert snapshot in [
        s["name"] for s in live.admin.get("/_populace/snapshots").json()["_embedded"]["snapshots"]
    ]


def test_reset_from_the_console(browser: Browser) -> None:
    """A reset leaves the first start's directory: a server of its own, the others' is kept."""
    with (
        tempfile.TemporaryDirectory() as folder,
        live_populace(Path(folder)) as live,
        browser_page(browser) as page,
    ):
        sign_in(page, live)
        go(page, live, "/emulator", "Emulator")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Reset the emulator").click()
        page.get_by_role("status").filter(has_text="Reset.").wait_for()
        go(page, live, "/environments", "Environments")
        row(page, "Administrators").wait_for()
        assert page.get_by_role("row").count() == 2  # the heading and Administrators
        assert live.environment_id not in page.content()
