"""Every declared operation, checked from its declaration alone.

The cases are parametrized over ``populace.app.ROUTERS``: a resource that registers its
operations is covered here the moment it does, with nothing to add but, for a new list, a way
to create one of its items (``ITEM_FACTORIES``, by operation id where two lists share an
``_embedded`` key), for a new request body a valid one
(``VALID_BODIES``), and for a new path parameter a way to fill it (``PARAMETERS``). Each of
those tables fails the test that needs it, by name, when it lacks an entry.

What is checked:

- lists: ``limit`` bounds, cursors that stay correct while other clients insert and delete,
  ``_links.prev``, garbage cursors, filters refused or honoured as declared, the envelope;
- request bodies: wrong JSON types name their field, NUL and oversized strings are refused,
  unknown fields are ignored, read-only fields are never applied; a refused request changes
  nothing;
- access: no token or a bad token is 401, an actor from another environment is refused and
  changes nothing;
- the OpenAPI document: schemathesis, with the admin token, finds no 5xx and no response the
  document does not describe.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import json
import typing
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import jwt
import msgspec
import pytest
import pytest_asyncio
import schemathesis
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from populace.app import ROUTERS
from populace.applications.wire import ApplicationBody
from populace.assignments.wire import RoleAssignmentBody
from populace.configuration.wire import PasswordPolicyBody
from populace.control.api import router as control_router
from populace.environments.wire import EnvironmentBody
from populace.filters import PathField
from populace.groups.wire import GroupBody
from populace.http.router import Operation
from populace.passwords.wire import (
    SEND_RECOVERY_CODE,
    PasswordCheck,
    PasswordRecover,
    PasswordReset,
    PasswordSet,
)
from populace.passwords.wire import SET as PASSWORD_SET
from populace.populations.wire import PopulationBody
from populace.users.wire import (
    Enabled,
    MfaEnabled,
    NewUserBody,
    UserBody,
    UserImportBody,
    UserPatch,
    VerifyStatus,
)
from tests.conftest import BASE_URL, Deployment, EnvironmentFactory
from tests.support import assert_error, unique
from tests.test_password_policies import FULL as FULL_POLICY
from tests.test_user_profile import PROFILE

# The control router's reset and restore replace the whole deployment, every other test's
# objects included: tests/test_control.py tests them, each on a deployment of its own.
OPERATIONS: list[Operation] = [
    op for router in ROUTERS if router is not control_router for op in router.operations
]
LISTS = [op for op in OPERATIONS if op.listing is not None]
DISPATCHED = [op for op in OPERATIONS if op.raw is None]
WITH_BODY = [op for op in DISPATCHED if op.body is not None]
READS = [op for op in DISPATCHED if op.method == "GET"]


def name_of(op: Operation) -> str:
    named = f"{op.method} {op.path}"
    return f"{named} ({op.media_type})" if op.media_type else named


def by_operation(ops: list[Operation]) -> Any:
    return pytest.mark.parametrize("op", ops, ids=[name_of(op) for op in ops])


# --- The objects a test works on ------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """One fresh environment and one object of each kind in it, for one test."""

    environment_id: str
    population_id: str  # a non-default population; ``user_id`` lives in it
    user_id: str
    group_id: str  # a group of ``population_id``; ``user_id`` is a direct member of it
    parent_group_id: str  # an environment group ``group_id`` is nested into
    application_id: str
    # A role assignment of each kind of subject (applications, users, groups): of
    # ``application_id``, ``user_id`` and ``group_id``.
    assignment_ids: dict[str, str]
    policy_id: str
    theme_id: str
    organization_id: str
    license_id: str
    role_id: str
    roles: dict[str, str]  # role name to id
    foreign_environment_id: str  # the administrators' environment: not the test's
    message_id: str  # a recovery code sent to another user, in populace's outbox
    flow_id: str  # a sign-on flow (``response_mode=pi.flow``) through a Web app, waiting


def subject_assignment(world: World, path: str) -> str:
    """The role assignment of the subject the path names (``.../{kind}/{id}/roleAssignments``)."""
    before = path.split("/roleAssignments")[0].split("/")
    return world.assignment_ids[before[-2]]


# How each path parameter is filled, from the test's objects and the path. A new parameter
# needs a line here.
PARAMETERS: dict[str, Callable[[World, str], str]] = {
    "assignmentID": subject_assignment,
    "envID": lambda w, _: w.environment_id,
    "popID": lambda w, _: w.population_id,
    "userID": lambda w, _: w.user_id,
    "groupID": lambda w, _: w.group_id,
    "parentID": lambda w, _: w.parent_group_id,
    "appID": lambda w, _: w.application_id,
    "policyID": lambda w, _: w.policy_id,
    "themeID": lambda w, _: w.theme_id,
    "orgID": lambda w, _: w.organization_id,
    "licenseID": lambda w, _: w.license_id,
    "roleID": lambda w, _: w.role_id,
    "messageID": lambda w, _: w.message_id,
    "flowID": lambda w, _: w.flow_id,
}


def path_parameters(path: str, world: World) -> dict[str, str]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    unknown = [name for name in names if name not in PARAMETERS]
    if unknown:
        pytest.fail(
            f"{path}: no way to fill the path parameter(s) {unknown}; add each to PARAMETERS "
            "in tests/test_operations.py (and to World if it names a new kind of object)"
        )
    return {name: PARAMETERS[name](world, path) for name in names}


def fill(path: str, world: World) -> str:
    for name, value in path_parameters(path, world).items():
        path = path.replace("{" + name + "}", value)
    return path


async def created_id(response: Awaitable[httpx.Response]) -> str:
    answered = await response
    assert answered.status_code == 201, answered.text
    return str(answered.json()["id"])


def user_body(population_id: str) -> dict[str, Any]:
    username = unique("user")
    return {
        "username": username,
        "email": f"{username}@example.com",
        "name": {"given": "Ada", "family": "Lovelace", "middle": "King", "formatted": "Ada L."},
        "enabled": True,
        "population": {"id": population_id},
    }


def profile() -> dict[str, Any]:
    """Every optional attribute of the complete user, each valid (a fresh externalId)."""
    return {**copy.deepcopy(PROFILE), "externalId": unique("ext")}


def full_user_body(population_id: str) -> dict[str, Any]:
    return {**user_body(population_id), **profile(), "mfaEnabled": False}


def group_body(population_id: str, user_filter: str | None = None) -> dict[str, Any]:
    """A population group with every optional field set (a ``userFilter`` makes it dynamic:
    a group holding roles stays static)."""
    body = {
        "name": unique("group"),
        "description": "A group",
        "population": {"id": population_id},
        "externalId": unique("ext"),
        "customData": {"cost center": 42, "tags": ["a", "b"], "nested": {"ok": True}},
    }
    return body if user_filter is None else {**body, "userFilter": user_filter}


def application_body() -> dict[str, Any]:
    return {
        "name": unique("app"),
        "description": "An application",
        "enabled": True,
        "type": "WORKER",
        "protocol": "OPENID_CONNECT",
        "grantTypes": ["CLIENT_CREDENTIALS"],
        "tokenEndpointAuthMethod": "CLIENT_SECRET_BASIC",
    }


@pytest_asyncio.fixture
async def world(
    admin: httpx.AsyncClient,
    make_environment: EnvironmentFactory,
    deployment: Deployment,
    license_id: str,
    role_ids: dict[str, str],
) -> World:
    environment_id = (await make_environment())["id"]
    base = f"/v1/environments/{environment_id}"
    population_id = await created_id(admin.post(f"{base}/populations", json={"name": "Pop"}))
    user_id = await created_id(admin.post(f"{base}/users", json=user_body(population_id)))
    password = await admin.put(
        f"{base}/users/{user_id}/password",
        json={"value": "2FederateM0re!"},
        headers={"Content-Type": PASSWORD_SET},
    )
    assert password.status_code == 200, password.text
    group_id = await created_id(admin.post(f"{base}/groups", json=group_body(population_id)))
    parent_group_id = await created_id(admin.post(f"{base}/groups", json={"name": unique("env")}))
    await created_id(admin.post(f"{base}/users/{user_id}/memberOfGroups", json={"id": group_id}))
    await created_id(
        admin.post(f"{base}/groups/{group_id}/memberOfGroups", json={"id": parent_group_id})
    )
    application_id = await created_id(admin.post(f"{base}/applications", json=application_body()))
    assignment = {
        "role": {"id": role_ids["Identity Data Admin"]},
        "scope": {"type": "ENVIRONMENT", "id": environment_id},
    }
    assignment_ids = {
        kind: await created_id(
            admin.post(f"{base}/{kind}/{subject}/roleAssignments", json=assignment)
        )
        for kind, subject in (
            ("applications", application_id),
            ("users", user_id),
            ("groups", group_id),
        )
    }
    # The world's message is another user's code: a new code for ``user_id`` (each recover
    # test sends one) discards that user's earlier codes, and must not change the world.
    recipient = {**user_body(population_id), "password": {"value": "2FederateM0re!"}}
    recipient_id = await created_id(admin.post(f"{base}/users", json=recipient))
    sent = await admin.post(
        f"{base}/users/{recipient_id}/password", headers={"Content-Type": SEND_RECOVERY_CODE}
    )
    assert sent.status_code == 200, sent.text
    messages = (await admin.get(f"/_populace/environments/{environment_id}/messages")).json()
    web_app = {
        **application_body(),
        "type": "WEB_APP",
        "grantTypes": ["AUTHORIZATION_CODE"],
        "redirectUris": ["https://app.example.com/callback"],
    }
    web_app_id = await created_id(admin.post(f"{base}/applications", json=web_app))
    flow = await admin.get(
        f"/{environment_id}/as/authorize",
        params={
            "response_type": "code",
            "client_id": web_app_id,
            "scope": "openid",
            "response_mode": "pi.flow",
        },
    )
    assert flow.status_code == 200, flow.text
    policies = (await admin.get(f"{base}/passwordPolicies")).json()
    themes = (await admin.get(f"{base}/themes")).json()
    return World(
        environment_id=environment_id,
        population_id=population_id,
        user_id=user_id,
        group_id=group_id,
        parent_group_id=parent_group_id,
        application_id=application_id,
        assignment_ids=assignment_ids,
        policy_id=policies["_embedded"]["passwordPolicies"][0]["id"],
        theme_id=themes["_embedded"]["themes"][0]["id"],
        organization_id=deployment.admin.organization_id,
        license_id=license_id,
        role_id=role_ids["Identity Data Read Only"],
        roles=role_ids,
        foreign_environment_id=deployment.admin.environment_id,
        message_id=messages["_embedded"]["messages"][0]["id"],
        flow_id=flow.json()["id"],
    )


@pytest_asyncio.fixture
async def leftovers(admin: httpx.AsyncClient) -> Any:
    """Objects a test made by accident (a request that should have been refused was not):
    deleted by their ``Location`` when the test ends."""
    made: list[str] = []
    yield made
    for location in reversed(made):
        await admin.delete(location)


@dataclass(frozen=True)
class Context:
    admin: httpx.AsyncClient
    world: World
    make_environment: EnvironmentFactory


@pytest.fixture
def context(
    admin: httpx.AsyncClient, world: World, make_environment: EnvironmentFactory
) -> Context:
    return Context(admin, world, make_environment)


# --- Reading lists and state ----------------------------------------------------------------


def items(page: dict[str, Any], key: str) -> list[dict[str, Any]]:
    embedded = page["_embedded"][key]
    assert isinstance(embedded, list), page
    return embedded


def ids_of(page: dict[str, Any], key: str) -> list[str]:
    return [item["id"] for item in items(page, key)]


async def get_page(admin: httpx.AsyncClient, url: str, **params: Any) -> dict[str, Any]:
    response = await admin.get(url, params=params or None)
    assert response.status_code == 200, (url, params, response.text)
    page: dict[str, Any] = response.json()
    return page


async def walk(admin: httpx.AsyncClient, url: str, rel: str = "next") -> list[dict[str, Any]]:
    """Every page from ``url`` on, following ``_links.<rel>``."""
    pages = []
    next_url: str | None = url
    while next_url is not None:
        page = await get_page(admin, next_url)
        pages.append(page)
        link = page["_links"].get(rel)
        next_url = link["href"] if link else None
        assert len(pages) < 10_000, "the pages never end"
    return pages


async def listed_ids(admin: httpx.AsyncClient, path: str, key: str) -> list[str]:
    return [i for page in await walk(admin, path) for i in ids_of(page, key)]


async def read_state(admin: httpx.AsyncClient, op: Operation, world: World) -> Any:
    """What one declared read answers now: a list's every item, or an object."""
    path = fill(op.path, world)
    if op.listing is not None:
        key = op.listing.key
        return [item for page in await walk(admin, path) for item in items(page, key)]
    response = await admin.get(path)
    return (response.status_code, response.json())


async def snapshot(
    admin: httpx.AsyncClient, world: World, ops: list[Operation] | None = None
) -> dict[str, Any]:
    """What the admin can read of the test's objects (and of the organization): every declared
    read, every page of every list. A refused request must leave all of it as it was."""
    chosen = READS if ops is None else ops
    states = await asyncio.gather(*(read_state(admin, op, world) for op in chosen))
    return {fill(op.path, world): state for op, state in zip(chosen, states, strict=True)}


def reads_of(op: Operation) -> list[Operation]:
    """The declared read of what ``op`` writes: the list it adds to, the object it changes."""
    return [read for read in READS if read.path == op.path]


def assert_unchanged(before: dict[str, Any], after: dict[str, Any], what: str) -> None:
    changed = sorted(path for path in before if before[path] != after.get(path))
    assert not changed, f"{what} changed what these read: {changed}"


# --- 1. Lists -------------------------------------------------------------------------------

ItemFactory = Callable[[Context], Awaitable[str]]


@dataclass(frozen=True)
class FixedSize:
    """A collection the API cannot add to: only what applies to a fixed set is checked."""

    why: str


async def new_population(ctx: Context) -> str:
    path = fill("/v1/environments/{envID}/populations", ctx.world)
    return await created_id(ctx.admin.post(path, json={"name": unique("pop")}))


async def new_user(ctx: Context) -> str:
    """A user with every attribute set, so every declared filter attribute can be tried."""
    path = fill("/v1/environments/{envID}/users", ctx.world)
    return await created_id(ctx.admin.post(path, json=full_user_body(ctx.world.population_id)))


async def new_group(ctx: Context) -> str:
    path = fill("/v1/environments/{envID}/groups", ctx.world)
    body = group_body(ctx.world.population_id, user_filter='title eq "Nobody at all"')
    return await created_id(ctx.admin.post(path, json=body))


async def new_environment_group(ctx: Context) -> str:
    path = fill("/v1/environments/{envID}/groups", ctx.world)
    return await created_id(ctx.admin.post(path, json={"name": unique("env-group")}))


async def new_nesting(ctx: Context) -> str:
    """The test's group nested into a new environment group; the listed item is that group."""
    parent_id = await new_environment_group(ctx)
    path = fill("/v1/environments/{envID}/groups/{groupID}/memberOfGroups", ctx.world)
    return await created_id(ctx.admin.post(path, json={"id": parent_id}))


async def new_membership(ctx: Context) -> str:
    """The test's user added to a new environment group; the listed item is that group."""
    group_id = await new_environment_group(ctx)
    path = fill("/v1/environments/{envID}/users/{userID}/memberOfGroups", ctx.world)
    return await created_id(ctx.admin.post(path, json={"id": group_id}))


async def new_application(ctx: Context) -> str:
    path = fill("/v1/environments/{envID}/applications", ctx.world)
    return await created_id(ctx.admin.post(path, json=application_body()))


def new_role_assignment(subject: str) -> ItemFactory:
    """Makes a role assignment of the test's application, user or group (``subject``: the
    path to it), scoped to a population of its own (a subject holds each role once per
    scope)."""

    async def make(ctx: Context) -> str:
        path = fill(f"/v1/environments/{{envID}}/{subject}/roleAssignments", ctx.world)
        return await created_id(ctx.admin.post(path, json=await role_assignment_body(ctx)))

    return make


async def new_environment(ctx: Context) -> str:
    return str((await ctx.make_environment())["id"])


async def new_message(ctx: Context) -> str:
    """A recovery code sent to a new user with a password; the listed item is the message."""
    users = fill("/v1/environments/{envID}/users", ctx.world)
    body = {**full_user_body(ctx.world.population_id), "password": {"value": "2FederateM0re!"}}
    user_id = await created_id(ctx.admin.post(users, json=body))
    sent = await ctx.admin.post(
        f"{users}/{user_id}/password",
        headers={"Content-Type": SEND_RECOVERY_CODE},
    )
    assert sent.status_code == 200, sent.text
    listed = await ctx.admin.get(
        fill("/_populace/environments/{envID}/messages", ctx.world),
        params={"filter": f'user.id eq "{user_id}"'},
    )
    return str(listed.json()["_embedded"]["messages"][0]["id"])


# One entry per list: by operation id where two lists share an ``_embedded`` key (the two
# ``groupMemberships`` lists), else by that key. A new list without one fails its tests.
ITEM_FACTORIES: dict[str, ItemFactory | FixedSize] = {
    "list_group_nestings": new_nesting,
    "list_user_group_memberships": new_membership,
    "populations": new_population,
    "users": new_user,
    "groups": new_group,
    "applications": new_application,
    "list_application_role_assignments": new_role_assignment("applications/{appID}"),
    "list_user_role_assignments": new_role_assignment("users/{userID}"),
    "list_group_role_assignments": new_role_assignment("groups/{groupID}"),
    "environments": new_environment,
    "passwordPolicies": FixedSize("each environment is provisioned with its own"),
    "themes": FixedSize("each environment is provisioned with its own"),
    "licenses": FixedSize("made at bootstrap"),
    "organizations": FixedSize("made at bootstrap"),
    "roles": FixedSize("a catalog in the code"),
    "messages": new_message,
}


def factory_for(op: Operation) -> ItemFactory | FixedSize:
    assert op.listing is not None
    key = op.listing.key
    if op.operation_id in ITEM_FACTORIES:
        return ITEM_FACTORIES[op.operation_id]
    shared = [o for o in LISTS if o.listing is not None and o.listing.key == key and o != op]
    if key not in ITEM_FACTORIES or shared:
        pytest.fail(
            f"{name_of(op)}: the list {key!r} has no entry in ITEM_FACTORIES "
            "(tests/test_operations.py): give it a function that creates one item through "
            "the API, or FixedSize(...) if the API cannot create them (keyed by the operation "
            f"id {op.operation_id!r} when another list shares the key {key!r})"
        )
    return ITEM_FACTORIES[key]


async def with_items(ctx: Context, op: Operation, count: int) -> list[str]:
    """Create ``count`` items in the list (none for a fixed-size one); their ids."""
    factory = factory_for(op)
    if isinstance(factory, FixedSize):
        return []
    return [await factory(ctx) for _ in range(count)]


def huge_limit() -> str:
    return "1" + "0" * 5000  # 10**5000


@by_operation(LISTS)
def test_every_list_has_an_item_factory(op: Operation) -> None:
    factory = factory_for(op)
    assert isinstance(factory, FixedSize) or callable(factory)


@by_operation(LISTS)
async def test_list_limit_bounds(op: Operation, context: Context) -> None:
    assert op.listing is not None
    key, path = op.listing.key, fill(op.path, context.world)
    admin = context.admin
    await with_items(context, op, 2)
    total = len(await listed_ids(admin, path, key))
    assert total >= 1, f"{path} lists nothing to page through"

    for bad in ("0", "-1", "abc", "1.5", "00", "1e3", "+5", "٣"):
        response = await admin.get(path, params={"limit": bad})
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", target="limit")

    huge = await get_page(admin, path, limit=huge_limit())
    assert huge["size"] == len(items(huge, key)) <= op.listing.max_limit
    assert huge["size"] == min(total, op.listing.max_limit)

    one = await get_page(admin, path, limit="1")
    assert one["size"] == len(items(one, key)) == 1, one
    assert ("next" in one["_links"]) == (total > 1), one["_links"]

    over = await get_page(admin, path, limit=str(op.listing.max_limit + 1))
    assert over["size"] == len(items(over, key)) == min(total, op.listing.max_limit)


@by_operation(LISTS)
async def test_list_cursor_round_trip(op: Operation, context: Context) -> None:
    """Page with limit=2 while other items come and go: everything that was there before
    paging began and was not deleted is seen exactly once; ``prev`` walks back to the start."""
    assert op.listing is not None
    key, path = op.listing.key, fill(op.path, context.world)
    admin = context.admin
    factory = factory_for(op)
    limit = 2
    kept: list[str] = []
    victims: list[str] = []
    if isinstance(factory, FixedSize):
        limit = 1  # paged one by one across the fixed set, which nothing can change
    else:
        for _ in range(5):  # interleaved, so deletions fall before and after the cursor
            kept.append(await factory(context))
            victims.append(await factory(context))
        kept.append(await factory(context))
    before = await listed_ids(admin, path, key)
    assert set(kept) | set(victims) <= set(before)

    seen: list[str] = []
    deleted: set[str] = set()
    inserted: list[str] = []
    pages = []
    url: str | None = f"{path}?limit={limit}"
    while url is not None:
        page = await get_page(admin, url)
        pages.append(page)
        page_ids = ids_of(page, key)
        assert page["size"] == len(page_ids) and 1 <= len(page_ids) <= limit, page
        seen += page_ids
        link = page["_links"].get("next")
        url = link["href"] if link else None
        assert len(pages) <= len(before) + len(victims) + 1, "paging does not end"
        if url is None or isinstance(factory, FixedSize) or len(inserted) == len(victims):
            continue
        # Other clients at work between two pages: one deletion, one insertion.
        unseen = [v for v in victims if v not in seen and v not in deleted]
        seen_victims = [v for v in victims if v in seen and v not in deleted]
        pick = (unseen if len(pages) % 2 else seen_victims) or unseen or seen_victims
        if pick:
            victim = pick[0]
            response = await admin.delete(f"{path}/{victim}")
            assert response.status_code == 204, response.text
            deleted.add(victim)
        inserted.append(await factory(context))

    repeated = sorted({i for i in seen if seen.count(i) > 1})
    assert not repeated, f"seen more than once: {repeated}"
    missing = [i for i in before if i not in deleted and i not in seen]
    assert not missing, f"existed before paging, never deleted, never seen: {missing}"
    assert deleted or isinstance(factory, FixedSize) or len(pages) == 1, "no churn happened"

    # Back from the last page: every item before it, in order, to the first page.
    now = await listed_ids(admin, path, key)
    last = ids_of(pages[-1], key)
    back: list[str] = []
    prev = pages[-1]["_links"].get("prev")
    assert (prev is not None) == (len(pages) > 1), pages[-1]["_links"]
    for page in (await walk(admin, prev["href"], rel="prev")) if prev else []:
        page_ids = ids_of(page, key)
        assert page["size"] == len(page_ids) and 1 <= len(page_ids) <= limit, page
        assert "next" in page["_links"], page["_links"]
        back = page_ids + back
    assert back + last == now


@by_operation(LISTS)
async def test_list_refuses_a_garbage_cursor(op: Operation, context: Context) -> None:
    assert op.listing is not None
    path = fill(op.path, context.world)

    def b64(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    garbage = [
        "garbage",
        "!!!!",
        "e30",  # {}
        b64([0, 1, "not-a-uuid"]),
        b64([0, -1, str(uuid.uuid4())]),
        b64([0, 2**70, str(uuid.uuid4())]),
        b64(["x", 1, str(uuid.uuid4())]),
        b64([0, 1]),
        "A" * 5000,
    ]
    for cursor in garbage:
        response = await context.admin.get(path, params={"cursor": cursor})
        assert_error(response, 400, "INVALID_DATA", "INVALID_VALUE", target="cursor")


def value_at(item: dict[str, Any], attribute: str) -> Any:
    """An item's value for a filter attribute (``population.id``); attributes are
    case-insensitive, so keys are matched without case."""
    value: Any = item
    for part in attribute.split("."):
        if not isinstance(value, dict):
            return None
        match = [k for k in value if k.lower() == part.lower()]
        value = value[match[0]] if match else None
    return value


def filter_literal(value: str | bool) -> str:
    """A value in the filter language: true/false, or a quoted string (\\" and \\\\ escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fold(text: str) -> str:
    """Text as names compare: compatibility forms, invisible characters and case ignored."""
    shown = unicodedata.normalize("NFKC", text)
    visible = "".join(ch for ch in shown if unicodedata.category(ch) != "Cf")
    return unicodedata.normalize("NFKC", visible.casefold())


def matches(got: Any, operator: str, value: str | bool) -> bool:
    if isinstance(got, str) and isinstance(value, str):
        return fold(got).startswith(fold(value)) if operator == "sw" else fold(got) == fold(value)
    return bool(got == value)


@by_operation(LISTS)
async def test_list_filters_as_declared(op: Operation, context: Context) -> None:
    assert op.listing is not None
    key, path = op.listing.key, fill(op.path, context.world)
    admin = context.admin
    mine = {*await with_items(context, op, 2), *path_parameters(op.path, context.world).values()}
    mine |= {context.world.environment_id, context.world.population_id, context.world.user_id}
    fields = op.listing.rows.filters
    if fields is None:
        for text in ("nonsense ((", 'id eq "x"', f'id eq "{uuid.uuid4()}"', "name sw true"):
            response = await admin.get(path, params={"filter": text})
            assert_error(response, 400, "INVALID_DATA", "INVALID_FILTER", target="filter")
        return

    for text in ("nonsense ((", 'zzUnknown eq "x"', "id eq", "(", 'id eq "x" and'):
        response = await admin.get(path, params={"filter": text})
        assert_error(response, 400, "INVALID_DATA", "INVALID_FILTER", target="filter")

    # Every declared attribute and operator is honoured: filter by an item's own value (one
    # of this test's items where it can; ``sw`` by the first half of it).
    everything = [item for page in await walk(admin, path) for item in items(page, key)]
    everything.sort(key=lambda item: item["id"] not in mine)
    tried = 0
    for attribute, operators in fields.items():
        if isinstance(operators, PathField):
            # A value path (``memberOfGroups[id eq "..."]``): its meaning is the resource's
            # (tests/test_groups.py); here, it is filtered only as ``attribute[...]``.
            inner = next(iter(operators.inner))
            text = f'{attribute}[{inner} eq "{uuid.uuid4()}"]'
            assert (await admin.get(path, params={"filter": text})).status_code == 200, text
            response = await admin.get(path, params={"filter": f'{attribute} eq "x"'})
            assert_error(response, 400, "INVALID_DATA", "INVALID_FILTER", target="filter")
            tried += 1
            continue
        for operator in operators:
            item = next(
                (i for i in everything if isinstance(value_at(i, attribute), str | bool)), None
            )
            if item is None:
                continue
            value = value_at(item, attribute)
            if operator == "sw":
                if not isinstance(value, str):
                    continue
                value = value[: max(1, len(value) // 2)]
            text = f"{attribute} {operator} {filter_literal(value)}"
            url = f"{path}?{urlencode({'filter': text})}"
            found = [i for page in await walk(admin, url) for i in items(page, key)]
            assert item["id"] in [i["id"] for i in found], (text, found)
            wrong = [i for i in found if not matches(value_at(i, attribute), operator, value)]
            assert not wrong, (text, wrong)
            tried += 1
    assert tried, f"no declared filter attribute of {key} could be tried: {list(fields)}"


@by_operation(LISTS)
async def test_list_envelope(op: Operation, context: Context) -> None:
    assert op.listing is not None
    listing = op.listing
    key, path = listing.key, fill(op.path, context.world)
    admin = context.admin
    await with_items(context, op, 3)
    total = len(await listed_ids(admin, path, key))

    for params in ({}, {"limit": "2"}):
        response = await admin.get(path, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        # ``self`` is the request as made (its host may be the deployment's public URL).
        link = urlsplit(page["_links"]["self"]["href"])
        asked = response.request.url
        assert (link.path, link.query) == (asked.path, asked.query.decode()), page["_links"]
        assert list(page["_embedded"]) == [key], page["_embedded"].keys()
        assert page["size"] == len(items(page, key))
        if listing.count:
            assert isinstance(page["count"], int) and not isinstance(page["count"], bool)
            assert page["count"] == total, (page["count"], total)
        else:
            assert "count" not in page, page
        allowed = {"_links", "_embedded", "size", *(["count"] if listing.count else [])}
        assert set(page) == allowed, set(page)


# --- 2. Request bodies ----------------------------------------------------------------------

BodyFactory = Callable[[Context], Awaitable[dict[str, Any]]]


async def population_body(ctx: Context) -> dict[str, Any]:
    w = ctx.world
    return {
        "name": unique("pop"),
        "description": "A population",
        "default": False,
        "passwordPolicy": {"id": w.policy_id},
        "theme": {"id": w.theme_id},
        "preferredLanguage": "en-US",
        "alternativeIdentifiers": [unique("alt")],
    }


async def valid_user_body(ctx: Context) -> dict[str, Any]:
    return full_user_body(ctx.world.population_id)  # the population PUT keeps it in


async def new_user_body(ctx: Context) -> dict[str, Any]:
    body = full_user_body(ctx.world.population_id)
    return {**body, "password": {"value": "2FederateM0re!", "forceChange": False}}


async def import_user_body(ctx: Context) -> dict[str, Any]:
    body = await new_user_body(ctx)
    return {**body, "lifecycle": {"status": "VERIFICATION_REQUIRED"}, "emailVerified": True}


async def user_patch_body(ctx: Context) -> dict[str, Any]:
    body = full_user_body(ctx.world.population_id)
    for read_only in ("population", "enabled", "mfaEnabled"):  # not in a PATCH body
        del body[read_only]
    return body


async def enabled_body(ctx: Context) -> dict[str, Any]:
    return {"enabled": False}


async def mfa_enabled_body(ctx: Context) -> dict[str, Any]:
    return {"mfaEnabled": True}


async def verify_status_body(ctx: Context) -> dict[str, Any]:
    return {"verifyStatus": "DISABLED"}


async def password_policy_body(ctx: Context) -> dict[str, Any]:
    """Every rule PingOne defines; ``default`` so that it may replace the default policy."""
    sequences = ("qwertySequenceRule", "shiftedNumberRowSequenceRule")
    return {
        "name": unique("policy"),
        **FULL_POLICY,
        "default": True,
        **{rule: {"maxLength": 3} for rule in sequences},
    }


async def valid_group_body(ctx: Context) -> dict[str, Any]:
    return group_body(ctx.world.population_id)  # the test's group is of that population


async def nest_body(ctx: Context) -> dict[str, Any]:
    """A new environment group to nest the test's group into (nesting twice is refused)."""
    return {"id": await new_environment_group(ctx)}


async def membership_body(ctx: Context) -> dict[str, Any]:
    """A new environment group for the test's user (joining twice is refused)."""
    return {"id": await new_environment_group(ctx)}


async def move_body(ctx: Context) -> dict[str, Any]:
    return {"id": ctx.world.population_id}


async def environment_body(ctx: Context) -> dict[str, Any]:
    return {
        "name": unique("env"),
        "description": "An environment",
        "region": "NA",
        "type": "SANDBOX",
        "license": {"id": ctx.world.license_id},
    }


async def valid_application_body(ctx: Context) -> dict[str, Any]:
    return application_body()


async def role_assignment_body(ctx: Context) -> dict[str, Any]:
    return {
        "role": {"id": ctx.world.roles["Identity Data Read Only"]},
        "scope": {"type": "POPULATION", "id": await new_population(ctx)},
    }


async def password_set_body(ctx: Context) -> dict[str, Any]:
    # The policy bypassed: the test's user already has this password (its history says so).
    return {"value": "2FederateM0re!", "forceChange": False, "bypassPolicy": True}


async def password_reset_body(ctx: Context) -> dict[str, Any]:
    return {"newPassword": "2FederateM0re!"}  # an administrator's reset


async def password_check_body(ctx: Context) -> dict[str, Any]:
    return {"password": "2FederateM0re!"}


async def password_recover_body(ctx: Context) -> dict[str, Any]:
    """A code sent to the test's user just now (each is used once), and a new password."""
    sent = await ctx.admin.post(
        fill("/v1/environments/{envID}/users/{userID}/password", ctx.world),
        headers={"Content-Type": SEND_RECOVERY_CODE},
    )
    assert sent.status_code == 200, sent.text
    listed = await ctx.admin.get(
        fill("/_populace/environments/{envID}/messages", ctx.world),
        params={"filter": f'user.id eq "{ctx.world.user_id}"', "limit": 1000},
    )
    code = listed.json()["_embedded"]["messages"][-1]["content"]["recoveryCode"]
    # Separators between the random characters: no run of repeats can break the policy.
    return {"recoveryCode": code, "newPassword": "N3w!" + "-".join(uuid.uuid4().hex[:8])}


# A valid body for the path's objects, by operation id (first) or by body struct; each call
# gives a new one (fresh names), with every optional field set so every field gets checked.
VALID_BODIES: dict[str | type, BodyFactory] = {
    # A bare Ref: what it names depends on the operation.
    "move_user": move_body,
    "nest_group": nest_body,
    "add_to_group": membership_body,
    PopulationBody: population_body,
    UserBody: valid_user_body,
    UserPatch: user_patch_body,
    NewUserBody: new_user_body,
    UserImportBody: import_user_body,
    Enabled: enabled_body,
    MfaEnabled: mfa_enabled_body,
    VerifyStatus: verify_status_body,
    PasswordSet: password_set_body,
    PasswordReset: password_reset_body,
    PasswordCheck: password_check_body,
    PasswordRecover: password_recover_body,
    GroupBody: valid_group_body,
    PasswordPolicyBody: password_policy_body,
    EnvironmentBody: environment_body,
    ApplicationBody: valid_application_body,
    RoleAssignmentBody: role_assignment_body,
}


async def valid_body(op: Operation, ctx: Context) -> dict[str, Any] | None:
    if op.body is None:
        return None
    factory = VALID_BODIES.get(op.operation_id) or VALID_BODIES.get(op.body)
    if factory is None:
        pytest.fail(
            f"{name_of(op)}: no valid {op.body.__name__} in VALID_BODIES "
            "(tests/test_operations.py); add a function that builds one for the path's objects"
        )
    return await factory(ctx)


Path = tuple[str | int, ...]
_ABSENT = (type(None), msgspec.UnsetType)


def members(tp: Any) -> list[Any]:
    """A type's alternatives, ``None`` and ``UNSET`` left out."""
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, type(int | str)) else ()
    return [t for t in (args or (tp,)) if t not in _ABSENT]


def struct_in(tp: Any) -> type | None:
    for t in members(tp):
        if isinstance(t, type) and issubclass(t, msgspec.Struct):
            return t
    return None


def item_type(tp: Any) -> Any | None:
    for t in members(tp):
        if typing.get_origin(t) is list:
            return typing.get_args(t)[0]
    return None


def is_text(tp: Any) -> bool:
    for t in members(tp):
        if t is str:
            return True
        if typing.get_origin(t) is typing.Literal and all(
            isinstance(a, str) for a in typing.get_args(t)
        ):
            return True
        if isinstance(t, type) and issubclass(t, Enum) and issubclass(t, str):
            return True
    return False


def body_fields(struct: type, prefix: Path = ()) -> list[tuple[Path, Any]]:
    """Every field of a body, nested ones included, with its type; a list's items appear as
    element ``0`` of the list."""
    found: list[tuple[Path, Any]] = []
    for field in msgspec.structs.fields(struct):
        path = (*prefix, field.encode_name)
        found.append((path, field.type))
        nested = struct_in(field.type)
        if nested is not None:
            found += body_fields(nested, path)
        element = item_type(field.type)
        if element is not None:
            found.append(((*path, 0), element))
            nested = struct_in(element)
            if nested is not None:
                found += body_fields(nested, (*path, 0))
    return found


def target(path: Path) -> str:
    return ".".join(str(p) for p in path if isinstance(p, str))


def wrong_value(tp: Any) -> Any:
    """A JSON value that the type does not accept, as the server decodes it."""
    for candidate in (12345, "wrong-type", True, [1], {"zz": 1}):
        try:
            msgspec.json.decode(msgspec.json.encode(candidate), type=tp)
        except msgspec.ValidationError:
            return candidate
    raise AssertionError(f"{tp} accepts every JSON type; nothing is wrong for it")


def get_in(body: Any, path: Path) -> Any:
    for part in path:
        if isinstance(part, int):
            if not isinstance(body, list) or len(body) <= part:
                return None
        elif not isinstance(body, dict) or part not in body:
            return None
        body = body[part]
    return body


def set_in(body: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with ``value`` at ``path``, making the objects and lists on the way."""
    result = copy.deepcopy(body)
    node: Any = result
    for part, following in itertools.pairwise(path):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(part, int):
            if len(node) <= part:
                node.append(empty)
            elif not isinstance(node[part], type(empty)):
                node[part] = empty
        elif not isinstance(node.get(part), type(empty)):
            node[part] = empty
        node = node[part]
    last = path[-1]
    if isinstance(last, int):
        if len(node) <= last:
            node.append(value)
        else:
            node[last] = value
    else:
        node[last] = value
    return result


def media_headers(op: Operation) -> dict[str, str]:
    """The Content-Type that selects the operation, where several share a path and method."""
    return {} if op.media_type is None else {"Content-Type": op.media_type}


async def send(
    client: httpx.AsyncClient,
    op: Operation,
    world: World,
    body: Any = None,
    leftovers: list[str] | None = None,
) -> httpx.Response:
    path = fill(op.path, world)
    response = await client.request(op.method, path, json=body, headers=media_headers(op))
    location = response.headers.get("location")
    if response.status_code == 201 and location and leftovers is not None:
        leftovers.append(location)
    return response


def brief(response: httpx.Response) -> str:
    text = response.text
    return f"{response.status_code} {text[:300]}{'...' if len(text) > 300 else ''}"


@dataclass(frozen=True)
class Refusal:
    """A body the operation must refuse with 400, naming ``target`` if given."""

    what: str
    body: dict[str, Any]
    target: str | None = None


async def assert_all_refused(
    ctx: Context, op: Operation, refusals: list[Refusal], leftovers: list[str]
) -> None:
    """Send each body (all built beforehand: building one may create objects); each must be
    refused and change nothing: neither what the operation writes to (read after each), nor
    anything else the admin can read (read after all of them). Every refusal is tried; the
    failures are reported together."""
    assert refusals, f"{name_of(op)}: nothing to check"
    focus = reads_of(op)
    before = await snapshot(ctx.admin, ctx.world)
    failures = []
    for refusal in refusals:
        response = await send(ctx.admin, op, ctx.world, refusal.body, leftovers)
        problem = None
        if response.status_code != 400:
            problem = f"answered {brief(response)}"
        else:
            error = response.json()
            targets = [d.get("target") for d in error.get("details") or []]
            if error.get("code") != "INVALID_DATA":
                problem = f"answered {brief(response)}, not INVALID_DATA"
            elif refusal.target is not None and refusal.target not in targets:
                problem = f"the error names {targets}, not {refusal.target!r}"
        after = await snapshot(ctx.admin, ctx.world, focus)
        changed = sorted(path for path in after if before[path] != after[path])
        if changed:
            problem = f"{problem or 'refused'}, and changed what these read: {changed}"
            before = await snapshot(ctx.admin, ctx.world)  # judge the next one on its own
        if problem:
            failures.append(f"{refusal.what}: {problem}")
    after = await snapshot(ctx.admin, ctx.world)
    changed = sorted(path for path in before if before[path] != after[path])
    if changed:
        failures.append(f"these refusals changed what these read: {changed}")
    assert not failures, f"{name_of(op)}:\n" + "\n".join(failures)


async def fresh_body(op: Operation, ctx: Context) -> dict[str, Any]:
    body = await valid_body(op, ctx)
    assert body is not None
    return body


@by_operation(WITH_BODY)
async def test_body_wrong_types_name_the_field(
    op: Operation, context: Context, leftovers: list[str]
) -> None:
    assert op.body is not None
    refusals = []
    for path, tp in body_fields(op.body):
        wrong = wrong_value(tp)
        body = set_in(await fresh_body(op, context), path, wrong)
        refusals.append(Refusal(f"{target(path)}={wrong!r}", body, target(path)))
    await assert_all_refused(context, op, refusals, leftovers)


# Bodies of a single flag or enumerated value: no free-text field, so a hostile string goes
# where the value does (and must be refused there as well).
FLAG_BODIES = {Enabled, MfaEnabled, VerifyStatus}


def text_fields(op: Operation) -> list[Path]:
    assert op.body is not None
    paths = [path for path, tp in body_fields(op.body) if is_text(tp)]
    if not paths and op.body in FLAG_BODIES:
        return [path for path, _ in body_fields(op.body)]
    assert paths, f"{op.body.__name__} has no string field"
    return paths


@by_operation(WITH_BODY)
async def test_body_nul_in_any_string_is_refused(
    op: Operation, context: Context, leftovers: list[str]
) -> None:
    refusals = []
    for path in text_fields(op):
        body = await fresh_body(op, context)
        current = get_in(body, path)
        text = current if isinstance(current, str) and current else "value"
        hostile = text[:1] + "\u0000" + text[1:]
        refusals.append(Refusal(f"NUL in {target(path)}", set_in(body, path, hostile)))
    await assert_all_refused(context, op, refusals, leftovers)


@by_operation(WITH_BODY)
async def test_body_oversized_string_is_refused(
    op: Operation, context: Context, leftovers: list[str]
) -> None:
    """10,000 characters in any string field: refused, whatever the field. The valid value
    is kept at the end (an email stays an email), so only its length is wrong."""
    refusals = []
    for path in text_fields(op):
        body = await fresh_body(op, context)
        current = get_in(body, path)
        text = current if isinstance(current, str) else ""
        oversized = "x" * (10_000 - len(text)) + text
        what = f"10,000 characters in {target(path)}"
        refusals.append(Refusal(what, set_in(body, path, oversized)))
    await assert_all_refused(context, op, refusals, leftovers)


@by_operation(WITH_BODY)
async def test_body_unknown_fields_are_ignored(
    op: Operation, context: Context, leftovers: list[str]
) -> None:
    body = await valid_body(op, context)
    assert body is not None
    body = {**body, "zzUnknown": 1, "zzNested": {"zzDeeper": [True, None, "x"]}}
    response = await send(context.admin, op, context.world, body, leftovers)
    assert response.status_code == op.status, response.text
    assert "zzUnknown" not in response.text and "zzNested" not in response.text
    read = await context.admin.get(response.json()["_links"]["self"]["href"])
    assert read.status_code == 200, read.text
    assert "zzUnknown" not in read.text and "zzNested" not in read.text, read.text


def hostile_value(name: str, tp: Any, marker: str, foreign_id: str, inside: bool = False) -> Any:
    """A plausible value a client has no right to set, recognisable afterwards: a new id for
    the object itself, ``foreign_id`` (another environment's) for what it points at."""
    if name == "id" or name.endswith("Id"):
        return foreign_id if inside else str(uuid.uuid4())
    if name.endswith("At"):
        return "2001-02-03T04:05:06.789Z"
    for t in members(tp):
        nested = struct_in(t)
        if nested is not None:
            return {
                f.encode_name: hostile_value(f.encode_name, f.type, marker, foreign_id, True)
                for f in msgspec.structs.fields(nested)
            }
        origin = typing.get_origin(t)
        if origin is dict:
            return {"self": {"href": f"https://hostile.example/{marker}"}}
        if origin is list:
            return [hostile_value("", typing.get_args(t)[0], marker, foreign_id, True)]
        if t is bool:
            return True
        if t is int:
            return 987654321
        if is_text(t):
            return f"hostile-{marker}"
    return f"hostile-{marker}"


def read_only_fields(op: Operation) -> list[tuple[str, Any]]:
    """The response's fields a request body does not carry: the server's to set."""
    assert op.body is not None and op.response is not None
    writable = {f.encode_name for f in msgspec.structs.fields(op.body)}
    return [
        (f.encode_name, f.type)
        for f in msgspec.structs.fields(op.response)
        if f.encode_name not in writable
    ]


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


@by_operation(WITH_BODY)
async def test_body_read_only_fields_are_never_applied(
    op: Operation, context: Context, leftovers: list[str]
) -> None:
    admin, world = context.admin, context.world
    fields = read_only_fields(op)
    assert fields, f"{name_of(op)}: its response has no read-only field"
    control_body = await valid_body(op, context)
    control = await send(admin, op, world, control_body, leftovers)
    assert control.status_code == op.status, control.text
    marker = uuid.uuid4().hex
    foreign = world.foreign_environment_id
    hostile = {name: hostile_value(name, tp, marker, foreign) for name, tp in fields}
    wrong = {name: wrong_value(tp) for name, tp in fields}
    for extra in (hostile, wrong):
        body = await valid_body(op, context)
        assert body is not None
        response = await send(admin, op, world, {**body, **extra}, leftovers)
        assert response.status_code == op.status, (extra, response.text)
        answered = response.json()
        read = await admin.get(answered["_links"]["self"]["href"])
        assert read.status_code == 200, read.text
        for shown in (answered, read.json()):
            for name, sent in extra.items():
                if name not in shown:
                    continue
                if isinstance(sent, bool):
                    assert shown[name] == control.json()[name], (name, shown[name])
                else:
                    assert shown[name] != sent, f"read-only {name}={sent!r} was applied"
        for text in strings_in(hostile):
            assert text not in response.text and text not in read.text, text
    sent_id = hostile.get("id")
    if op.method == "POST" and isinstance(sent_id, str):
        probe = await admin.get(f"{fill(op.path, world)}/{sent_id}")
        assert probe.status_code == 404, f"an object was made with the id sent: {probe.text}"


# --- 3. Access ------------------------------------------------------------------------------


async def state_before_write(op: Operation, ctx: Context) -> dict[str, Any] | None:
    """The whole snapshot before a refused write (a refused read has nothing to change)."""
    return None if op.reads else await snapshot(ctx.admin, ctx.world)


async def assert_write_changed_nothing(
    before: dict[str, Any] | None, ctx: Context, what: str
) -> None:
    if before is not None:
        assert_unchanged(before, await snapshot(ctx.admin, ctx.world), what)


@pytest.fixture(scope="module")
def forged_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def bad_tokens(admin_token: str, forged_key: Any) -> dict[str, dict[str, str]]:
    header = jwt.get_unverified_header(admin_token)
    claims = jwt.decode(admin_token, options={"verify_signature": False})
    forged = jwt.encode(claims, forged_key, algorithm="RS256", headers={"kid": header["kid"]})
    unsigned = jwt.encode(claims, "", algorithm="none")
    head, payload, signature = admin_token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    escalated = base64.urlsafe_b64encode(
        json.dumps({**claims, "exp": claims["exp"] + 10**6}).encode()
    ).decode()
    return {
        "none": {},
        "empty bearer": {"Authorization": "Bearer "},
        "garbage": {"Authorization": "Bearer garbage"},
        "basic": {"Authorization": "Basic " + base64.b64encode(b"a:b").decode()},
        "no scheme": {"Authorization": admin_token},
        "alg none": {"Authorization": f"Bearer {unsigned}"},
        "another key": {"Authorization": f"Bearer {forged}"},
        "bad signature": {"Authorization": f"Bearer {head}.{payload}.{flipped}"},
        "edited claims": {"Authorization": f"Bearer {head}.{escalated.rstrip('=')}.{signature}"},
    }


@by_operation(DISPATCHED)
async def test_without_a_valid_token_is_401(
    op: Operation,
    context: Context,
    client: httpx.AsyncClient,
    admin_token: str,
    forged_key: Any,
    leftovers: list[str],
) -> None:
    body = await valid_body(op, context)
    before = await state_before_write(op, context)
    path = fill(op.path, context.world)
    for what, headers in bad_tokens(admin_token, forged_key).items():
        headers = {**headers, **media_headers(op)}
        response = await client.request(op.method, path, json=body, headers=headers)
        if response.status_code == 201 and "location" in response.headers:
            leftovers.append(response.headers["location"])
        assert response.status_code == 401, (what, response.status_code, response.text)
        assert_error(response, 401, "ACCESS_FAILED")
    await assert_write_changed_nothing(before, context, "a call without a valid token")


@by_operation(DISPATCHED)
async def test_actor_of_another_environment_is_refused(
    op: Operation,
    context: Context,
    make_environment: EnvironmentFactory,
    make_actor: Any,
    leftovers: list[str],
) -> None:
    world = context.world
    other = (await make_environment())["id"]
    actor = await make_actor(
        ("Environment Admin", "ENVIRONMENT", other),
        ("Identity Data Admin", "ENVIRONMENT", other),
    )
    body = await valid_body(op, context)
    before = await state_before_write(op, context)
    response = await send(actor.client, op, world, body, leftovers)
    scoped = "envID" in op.parameters
    if scoped or op.method != "GET":
        assert response.status_code in (403, 404), (response.status_code, response.text)
        code = "ACCESS_FAILED" if response.status_code == 403 else "NOT_FOUND"
        assert_error(response, response.status_code, code)
    else:
        # An organization-wide read may answer, with nothing of an environment not its own.
        assert response.status_code in (200, 403, 404), response.text
        assert world.environment_id not in response.text, response.text
    await assert_write_changed_nothing(before, context, "an outsider's call")


# --- 4. The OpenAPI document, fuzzed --------------------------------------------------------

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Small enough to keep the module fast, deterministic (derandomized), and it still reaches
# every documented status of most operations.
EXAMPLES_PER_MODE = 10


@pytest_asyncio.fixture(scope="module")
async def openapi_schema(deployment: Deployment) -> Any:
    transport = httpx.ASGITransport(app=deployment.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        response = await c.get("/openapi.json")
    assert response.status_code == 200, response.text
    return schemathesis.openapi.from_dict(response.json())


async def call_case(
    admin: httpx.AsyncClient, op: Operation, case: Any, leftovers: list[str]
) -> httpx.Response:
    """Send a generated case in-process; the admin's token where the document asks for one,
    no token elsewhere (the token endpoint reads ``Authorization`` as client credentials)."""
    sent = case.as_transport_kwargs(base_url=BASE_URL)
    headers = {k: v for k, v in sent["headers"].items() if k.lower() != "authorization"}
    request: dict[str, Any] = {"headers": headers, "params": sent.get("params") or None}
    if "json" in sent:
        request["json"] = sent["json"]
    elif isinstance(sent.get("data"), dict):
        request["data"] = sent["data"]
    elif sent.get("data") is not None:
        request["content"] = sent["data"]
    built = admin.build_request(sent["method"], sent["url"], **request)
    if not op.authenticated:
        del built.headers["Authorization"]
    response = await admin.send(built)
    if response.status_code == 201 and "location" in response.headers:
        leftovers.append(response.headers["location"])
    return response


def request_of(response: httpx.Response) -> str:
    request = response.request
    body = request.content.decode("utf-8", "replace")
    shown = body[:300] + ("..." if len(body) > 300 else "")
    return f"{request.method} {request.url}" + (f" body={shown}" if shown else "")


@by_operation(OPERATIONS)
async def test_schemathesis_conformance(
    op: Operation, context: Context, openapi_schema: Any, leftovers: list[str]
) -> None:
    """Generated requests, valid and invalid, with the admin token, on the test's own
    objects (so a DELETE can only delete those): no 5xx, and every status and body is one the
    document describes. Every distinct failure is collected, then reported together."""
    operation = openapi_schema[op.path][op.method]
    parameters = path_parameters(op.path, context.world)
    loop = asyncio.get_running_loop()
    strategies = [
        operation.as_strategy(generation_mode=mode, path_parameters=parameters)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]
    failures: dict[tuple[str, str, int], str] = {}

    @settings(
        max_examples=EXAMPLES_PER_MODE * len(strategies),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def conforms(case: Any) -> None:
        sending = call_case(context.admin, op, case, leftovers)
        response = asyncio.run_coroutine_threadsafe(sending, loop).result()
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as error:
            found = error.exceptions if isinstance(error, BaseExceptionGroup) else (error,)
            for failure in found:
                code = str(getattr(failure, "code", type(failure).__name__))
                title = str(getattr(failure, "title", failure))
                key = (code, title, response.status_code)
                failures.setdefault(
                    key, f"{code} {title}: {request_of(response)} -> {brief(response)}"
                )

    # Hypothesis drives the test in a thread; the requests run on this test's event loop,
    # where the deployment's database connections live.
    await asyncio.to_thread(conforms)
    assert not failures, f"{name_of(op)}:\n" + "\n".join(failures.values())
