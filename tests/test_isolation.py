"""Tenant isolation, stateful: random operations by several actors across several environments,
checked step by step against a model of who may do what.

Each hypothesis example makes three fresh environments E0, E1, E2 and gives four actors their
roles there:

* ``admin``: the bootstrap Worker app, Organization Admin (everything, everywhere);
* ``envAdmin``: Environment Admin of E0 (populations of E0, reads its groups; no user or
  membership rights anywhere);
* ``idaEnv``: Identity Data Admin scoped to the ENVIRONMENT E1 (reads E1's populations, manages
  its users, groups and memberships);
* ``idaPop``: Identity Data Admin scoped to one POPULATION P of E2 (reads P, manages P's users,
  P's groups and their memberships; the environment's and other populations' groups are not
  found for it).

Every rule picks an actor, an environment (one of the three or one that does not exist), and a
population, user or group from anywhere (live ones of every environment, deleted ones, made-up
ids), so most requests aim outside the actor's rights. After each step:

* a request within the actor's rights got exactly what the model predicts (status, error code
  and detail, body fields);
* a request outside them got 403 or 404, never 2xx, and never a 5xx;
* a list holds exactly the objects the model says the actor may see, with a matching ``count``;
* (invariant, seen by the Organization Admin) every environment's populations, users and groups
  equal the model, at most one population is the default, every population's ``userCount``
  equals the number of users a ``population.id eq`` filter lists for it, every group's
  ``directMemberCounts`` is its number of direct members, and a ``memberOfGroups[id eq ...]``
  filter lists exactly those members.

The deployment lives on the session's event loop, so the state machine runs in a worker thread
and hands each request to that loop.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.support import unique

T = TypeVar("T")

ADMIN, ENV_ADMIN, IDA_ENV, IDA_POP = "admin", "envAdmin", "idaEnv", "idaPop"
ACTORS = [ADMIN, ENV_ADMIN, IDA_ENV, IDA_POP]

# Few names, in several casings and paddings, so uniqueness collisions happen often.
POPULATION_NAMES = ["Default", "alpha", "Alpha ", " ALPHA", "beta", "Straße", "STRASSE", "Ωmega"]
DESCRIPTIONS = [None, "", "some text", "Ünïcödé"]
USERNAMES = ["ann", "Ann", "bob", "BOB", "carol", "dave", "Ærin"]
GROUP_NAMES = ["team", "Team ", " TEAM", "crew", "Straße", "STRASSE", "Ωmega"]


def key(text: str) -> str:
    return text.strip().casefold()


@dataclass
class Population:
    environment_id: str
    name: str
    default: bool
    description: str | None


@dataclass
class User:
    environment_id: str
    population_id: str
    username: str
    email: str


@dataclass
class Group:
    environment_id: str
    population_id: str | None  # None: an environment group
    name: str


@dataclass
class Stats:
    operations: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    checks: int = 0
    examples: int = 0


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    clients: dict[str, httpx.AsyncClient]
    application_ids: dict[str, str]
    admin_environment_id: str
    license_id: str
    role_ids: dict[str, str]
    stats: Stats

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def request(
        self,
        actor: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        response = self.run(self.clients[actor].request(method, path, json=body, params=params))
        assert response.status_code < 500, f"{actor} {method} {path}: {response.text}"
        if response.status_code >= 400:
            envelope = response.json()
            assert isinstance(envelope.get("id"), str), envelope
            assert isinstance(envelope.get("code"), str), envelope
            assert isinstance(envelope.get("message"), str), envelope
        return response


def populations_path(environment_id: str) -> str:
    return f"/v1/environments/{environment_id}/populations"


def users_path(environment_id: str) -> str:
    return f"/v1/environments/{environment_id}/users"


def groups_path(environment_id: str) -> str:
    return f"/v1/environments/{environment_id}/groups"


class Isolation(RuleBasedStateMachine):
    harness: ClassVar[Harness]

    def __init__(self) -> None:
        super().__init__()
        h = self.harness
        h.stats.examples += 1
        self.environments: list[str] = []
        for _ in range(3):
            created = h.request(
                ADMIN,
                "POST",
                "/v1/environments",
                {
                    "name": unique("iso"),
                    "type": "SANDBOX",
                    "region": "NA",
                    "license": {"id": h.license_id},
                },
            )
            assert created.status_code == 201, created.text
            self.environments.append(created.json()["id"])
        self.ghost_environment = str(uuid.uuid4())
        self.touched = self.environments[2]
        self.populations: dict[str, Population] = {}
        self.users: dict[str, User] = {}
        self.gone_populations: list[str] = [str(uuid.uuid4())]
        self.gone_users: list[str] = [str(uuid.uuid4())]
        self.groups: dict[str, Group] = {}
        self.gone_groups: list[str] = [str(uuid.uuid4())]
        self.memberships: set[tuple[str, str]] = set()  # (user id, group id), direct
        for environment_id in self.environments:
            listed = h.request(ADMIN, "GET", populations_path(environment_id)).json()
            (default,) = listed["_embedded"]["populations"]
            self.populations[default["id"]] = Population(
                environment_id, default["name"], True, default.get("description")
            )
        e0, e1, e2 = self.environments
        scoped = h.request(ADMIN, "POST", populations_path(e2), {"name": "scoped"})
        assert scoped.status_code == 201, scoped.text
        self.scoped_population = scoped.json()["id"]
        self.populations[self.scoped_population] = Population(e2, "scoped", False, None)
        # The populations the population-scoped admin holds its role on (empty once deleted).
        self.population_scope = {self.scoped_population}
        self.grant(ENV_ADMIN, "Environment Admin", "ENVIRONMENT", e0)
        self.grant(IDA_ENV, "Identity Data Admin", "ENVIRONMENT", e1)
        self.grant(IDA_POP, "Identity Data Admin", "POPULATION", self.scoped_population)

    def grant(self, actor: str, role: str, scope_type: str, scope_id: str) -> None:
        h = self.harness
        path = (
            f"/v1/environments/{h.admin_environment_id}/applications/"
            f"{h.application_ids[actor]}/roleAssignments"
        )
        body = {"role": {"id": h.role_ids[role]}, "scope": {"type": scope_type, "id": scope_id}}
        response = h.request(ADMIN, "POST", path, body)
        assert response.status_code == 201, response.text

    def teardown(self) -> None:
        # Deleting an environment removes its populations, users and the grants scoped to it.
        for environment_id in self.environments:
            self.harness.request(ADMIN, "DELETE", f"/v1/environments/{environment_id}")

    # -- what the model says -------------------------------------------------------------------

    def population_right(
        self, actor: str, operation: str, environment_id: str, population_id: str | None = None
    ) -> bool:
        """May ``actor`` do ``operation`` (create/read/update/delete/list) on populations here?"""
        e0, e1, e2 = self.environments
        if actor == ADMIN:
            return True
        if actor == ENV_ADMIN:
            return environment_id == e0
        if operation not in ("read", "list"):
            return False
        if actor == IDA_ENV:
            return environment_id == e1
        if environment_id != e2:
            return False
        if operation == "list":
            return bool(self.population_scope)
        return population_id in self.population_scope

    def user_scope(self, actor: str, environment_id: str) -> set[str] | bool | None:
        """The populations whose users ``actor`` manages here: None for all, False for none."""
        _, e1, e2 = self.environments
        if actor == ADMIN or (actor == IDA_ENV and environment_id == e1):
            return None
        if actor == IDA_POP and environment_id == e2 and self.population_scope:
            return set(self.population_scope)
        return False

    def live_population(self, environment_id: str, population_id: str) -> Population | None:
        population = self.populations.get(population_id)
        return population if population and population.environment_id == environment_id else None

    def live_user(self, environment_id: str, user_id: str) -> User | None:
        user = self.users.get(user_id)
        return user if user and user.environment_id == environment_id else None

    def in_environment(self, environment_id: str) -> dict[str, Population]:
        return {i: p for i, p in self.populations.items() if p.environment_id == environment_id}

    def user_count(self, population_id: str) -> int:
        return sum(1 for u in self.users.values() if u.population_id == population_id)

    def name_taken(self, environment_id: str, name: str, except_id: str | None = None) -> bool:
        return any(
            key(p.name) == key(name) and i != except_id
            for i, p in self.in_environment(environment_id).items()
        )

    def username_taken(self, environment_id: str, username: str, except_id: str | None) -> bool:
        return any(
            u.environment_id == environment_id
            and u.username.casefold() == username.casefold()
            and i != except_id
            for i, u in self.users.items()
        )

    def take_default(self, environment_id: str, population_id: str) -> None:
        for i, p in self.in_environment(environment_id).items():
            p.default = i == population_id

    def default_of(self, environment_id: str) -> str | None:
        defaults = [i for i, p in self.in_environment(environment_id).items() if p.default]
        return defaults[0] if defaults else None

    # -- drawing targets -------------------------------------------------------------------------

    def draw_actor(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(ACTORS), label="actor")

    def aim(self, data: st.DataObject) -> bool:
        """Half the draws aim inside the actor's reach, so permitted paths are explored too."""
        return data.draw(st.booleans(), label="aim")

    def draw_environment(self, data: st.DataObject, actor: str) -> str:
        e0, e1, e2 = self.environments
        home = {ENV_ADMIN: [e0], IDA_ENV: [e1], IDA_POP: [e2]}.get(actor, self.environments)
        choices = home if self.aim(data) else [*self.environments, self.ghost_environment]
        return data.draw(st.sampled_from(choices), label="environment")

    def draw_population(self, data: st.DataObject, env: str) -> str:
        """Any population id: live ones of every environment, deleted ones, a made-up one; or,
        aiming, one of ``env`` (of the population-scoped actor's, in its environment)."""
        if self.aim(data):
            scoped = [i for i in self.in_environment(env) if i in self.population_scope]
            near = scoped if scoped and data.draw(st.booleans()) else list(self.in_environment(env))
            if near:
                return data.draw(st.sampled_from(near), label="population")
        return data.draw(
            st.sampled_from([*self.populations, *self.gone_populations]), label="population"
        )

    def draw_user(self, data: st.DataObject, env: str) -> str:
        if self.aim(data):
            near = [i for i, u in self.users.items() if u.environment_id == env]
            if near:
                return data.draw(st.sampled_from(near), label="user")
        return data.draw(st.sampled_from([*self.users, *self.gone_users]), label="user")

    # -- checking answers --------------------------------------------------------------------------

    def count(self, operation: str, response: httpx.Response) -> None:
        self.touched = response.request.url.path.split("/")[3]
        self.harness.stats.operations[operation] += 1
        self.harness.stats.outcomes[str(response.status_code)] += 1

    @staticmethod
    def refused(response: httpx.Response, what: str) -> None:
        """Outside the actor's rights: 403 or 404, nothing else."""
        assert response.status_code in (403, 404), f"{what}: outside rights, got {response.text}"
        body = response.json()
        expected = "ACCESS_FAILED" if response.status_code == 403 else "NOT_FOUND"
        assert body["code"] == expected, body

    @staticmethod
    def expect(
        response: httpx.Response, status: int, detail: str | None = None, what: str = ""
    ) -> dict[str, Any]:
        assert response.status_code == status, f"{what}: expected {status}, got {response.text}"
        if status == 204:
            return {}
        body: dict[str, Any] = response.json()
        if status == 404:
            assert body["code"] == "NOT_FOUND", body
        elif status == 403:
            assert body["code"] == "ACCESS_FAILED", body
        elif status == 400:
            assert body["code"] == "INVALID_DATA", body
            assert [d["code"] for d in body["details"]] == [detail], body
        return body

    def check_population(self, body: dict[str, Any], population_id: str) -> None:
        model = self.populations[population_id]
        assert body["id"] == population_id, body
        assert body["environment"]["id"] == model.environment_id, body
        assert body["name"] == model.name, body
        assert body["default"] == model.default, body
        assert body.get("description") == model.description, body
        assert body["userCount"] == self.user_count(population_id), body

    def check_user(self, body: dict[str, Any], user_id: str) -> None:
        model = self.users[user_id]
        assert body["id"] == user_id, body
        assert body["environment"]["id"] == model.environment_id, body
        assert body["population"]["id"] == model.population_id, body
        assert (body["username"], body["email"]) == (model.username, model.email), body

    # -- populations ---------------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        """Nothing to do: the environments are made in __init__ (initialize keeps the report
        readable)."""

    @rule(
        data=st.data(),
        name=st.sampled_from(POPULATION_NAMES),
        default=st.booleans(),
        description=st.sampled_from(DESCRIPTIONS),
    )
    def create_population(
        self, data: st.DataObject, name: str, default: bool, description: str | None
    ) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        body: dict[str, Any] = {"name": name, "default": default}
        if description is not None:
            body["description"] = description
        response = self.harness.request(actor, "POST", populations_path(env), body)
        self.count("create population", response)
        what = f"{actor} creates population {name!r} in {env}"
        if not self.population_right(actor, "create", env):
            self.refused(response, what)
        elif env == self.ghost_environment:
            self.expect(response, 404, what=what)
        elif self.name_taken(env, name):
            self.expect(response, 400, "UNIQUENESS_VIOLATION", what)
        else:
            created = self.expect(response, 201, what=what)
            population_id = created["id"]
            self.populations[population_id] = Population(env, name.strip(), False, description)
            if default:
                self.take_default(env, population_id)
            self.check_population(created, population_id)

    @rule(data=st.data())
    def read_population(self, data: st.DataObject) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        population_id = self.draw_population(data, env)
        response = self.harness.request(actor, "GET", f"{populations_path(env)}/{population_id}")
        self.count("read population", response)
        what = f"{actor} reads population {population_id} in {env}"
        if not self.population_right(actor, "read", env, population_id):
            self.refused(response, what)
        elif self.live_population(env, population_id) is None:
            self.expect(response, 404, what=what)
        else:
            self.check_population(self.expect(response, 200, what=what), population_id)

    @rule(
        data=st.data(),
        name=st.sampled_from(POPULATION_NAMES),
        default=st.booleans(),
        description=st.sampled_from(DESCRIPTIONS),
    )
    def replace_population(
        self, data: st.DataObject, name: str, default: bool, description: str | None
    ) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        population_id = self.draw_population(data, env)
        body: dict[str, Any] = {"name": name, "default": default}
        if description is not None:
            body["description"] = description
        response = self.harness.request(
            actor, "PUT", f"{populations_path(env)}/{population_id}", body
        )
        self.count("replace population", response)
        what = f"{actor} replaces population {population_id} in {env} with {body}"
        if not self.population_right(actor, "update", env, population_id):
            self.refused(response, what)
        elif self.live_population(env, population_id) is None:
            self.expect(response, 404, what=what)
        elif self.name_taken(env, name, except_id=population_id):
            self.expect(response, 400, "UNIQUENESS_VIOLATION", what)
        else:
            replaced = self.expect(response, 200, what=what)
            model = self.populations[population_id]
            model.name, model.description, model.default = name.strip(), description, default
            if default:
                self.take_default(env, population_id)
            self.check_population(replaced, population_id)

    @rule(data=st.data())
    def delete_population(self, data: st.DataObject) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        population_id = self.draw_population(data, env)
        response = self.harness.request(actor, "DELETE", f"{populations_path(env)}/{population_id}")
        self.count("delete population", response)
        what = f"{actor} deletes population {population_id} in {env}"
        population = self.live_population(env, population_id)
        if not self.population_right(actor, "delete", env, population_id):
            self.refused(response, what)
        elif population is None:
            self.expect(response, 404, what=what)
        elif (
            len(self.in_environment(env)) == 1
            or population.default
            or self.user_count(population_id) > 0
            or any(g.population_id == population_id for g in self.groups.values())
        ):
            self.expect(response, 400, "CONSTRAINT_VIOLATION", what)
        else:
            self.expect(response, 204, what=what)
            del self.populations[population_id]
            self.gone_populations.append(population_id)
            # A role scoped to a deleted population goes with it.
            self.population_scope.discard(population_id)

    @rule(data=st.data())
    def list_populations(self, data: st.DataObject) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        filters: list[tuple[str | None, Any]] = [(None, lambda i, p: True)]
        name = data.draw(st.sampled_from(POPULATION_NAMES), label="filter name")
        prefix = key(name)[:2]
        some_id = self.draw_population(data, env)
        filters += [
            (f'name eq "{name.strip()}"', lambda i, p: key(p.name) == key(name)),
            (f'name sw "{prefix}"', lambda i, p: key(p.name).startswith(prefix)),
            (f'id eq "{some_id}"', lambda i, p: i == some_id),
            (
                f'name sw "{prefix}" or id eq "{some_id}"',
                lambda i, p: key(p.name).startswith(prefix) or i == some_id,
            ),
        ]
        text, predicate = data.draw(st.sampled_from(filters), label="filter")
        params = {"limit": "1000", **({"filter": text} if text else {})}
        response = self.harness.request(actor, "GET", populations_path(env), params=params)
        self.count("list populations", response)
        what = f"{actor} lists populations of {env} filtered by {text!r}"
        if not self.population_right(actor, "list", env):
            self.refused(response, what)
            return
        if env == self.ghost_environment:
            self.expect(response, 404, what=what)
            return
        body = self.expect(response, 200, what=what)
        listed = body["_embedded"]["populations"]
        visible = {
            i
            for i, p in self.in_environment(env).items()
            if self.population_right(actor, "read", env, i) and predicate(i, p)
        }
        listed_ids = [p["id"] for p in listed]
        outside = [i for i in listed_ids if not self.population_right(actor, "read", env, i)]
        assert not outside, f"{what}: listed populations outside the actor's rights: {outside}"
        assert set(listed_ids) == visible and len(listed_ids) == len(visible), (what, listed)
        assert body["count"] == len(visible) and body["size"] == len(visible), (what, body)
        for item in listed:
            self.check_population(item, item["id"])

    # -- users ---------------------------------------------------------------------------------

    @rule(data=st.data(), username=st.sampled_from(USERNAMES), named=st.booleans())
    def create_user(self, data: st.DataObject, username: str, named: bool) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        population_id = self.draw_population(data, env) if named else None
        body: dict[str, Any] = {"username": username, "email": f"{username}@example.com"}
        if population_id is not None:
            body["population"] = {"id": population_id}
        response = self.harness.request(actor, "POST", users_path(env), body)
        self.count("create user", response)
        what = f"{actor} creates user {username!r} in {env}, population {population_id}"
        scope = self.user_scope(actor, env)
        if scope is False:
            self.refused(response, what)
            return
        if env == self.ghost_environment:
            self.expect(response, 404, what=what)
            return
        assert isinstance(scope, set | type(None))
        target = population_id if population_id is not None else self.default_of(env)
        if target is None:
            # No default population: a REQUIRED_VALUE error, or (for a population-scoped
            # actor, who may not learn about the environment's populations) 403.
            if scope is not None and response.status_code == 403:
                self.refused(response, what)
            else:
                self.expect(response, 400, "REQUIRED_VALUE", what)
        elif scope is not None and target not in scope:
            # A population outside the actor's populations, existing or not.
            self.refused(response, what)
        elif self.live_population(env, target) is None:
            self.expect(response, 400, "INVALID_VALUE", what)
        elif self.username_taken(env, username, None):
            self.expect(response, 400, "UNIQUENESS_VIOLATION", what)
        else:
            created = self.expect(response, 201, what=what)
            self.users[created["id"]] = User(env, target, username, body["email"])
            self.check_user(created, created["id"])

    def visible_user(self, actor: str, env: str, user_id: str) -> tuple[bool, User | None]:
        """(within rights to try, the user if the actor may see it)."""
        scope = self.user_scope(actor, env)
        if scope is False:
            return False, None
        user = self.live_user(env, user_id)
        if user is None or (isinstance(scope, set) and user.population_id not in scope):
            return True, None
        return True, user

    @rule(data=st.data(), population_link=st.booleans())
    def read_user(self, data: st.DataObject, population_link: bool) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        user_id = self.draw_user(data, env)
        path = f"{users_path(env)}/{user_id}" + ("/population" if population_link else "")
        response = self.harness.request(actor, "GET", path)
        self.count("read user", response)
        what = f"{actor} reads {path}"
        allowed, user = self.visible_user(actor, env, user_id)
        if not allowed:
            self.refused(response, what)
        elif user is None:
            # A user that does not exist, or outside a population-scoped actor's populations.
            self.expect(response, 404, what=what)
        elif population_link:
            assert self.expect(response, 200, what=what)["id"] == user.population_id
        else:
            self.check_user(self.expect(response, 200, what=what), user_id)

    @rule(data=st.data(), username=st.sampled_from(USERNAMES))
    def replace_user(self, data: st.DataObject, username: str) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        user_id = self.draw_user(data, env)
        body = {"username": username, "email": f"{username.lower()}@example.org"}
        response = self.harness.request(actor, "PUT", f"{users_path(env)}/{user_id}", body)
        self.count("replace user", response)
        what = f"{actor} replaces user {user_id} in {env} with {body}"
        allowed, user = self.visible_user(actor, env, user_id)
        if not allowed:
            self.refused(response, what)
        elif user is None:
            self.expect(response, 404, what=what)
        elif self.username_taken(env, username, user_id):
            self.expect(response, 400, "UNIQUENESS_VIOLATION", what)
        else:
            replaced = self.expect(response, 200, what=what)
            user.username, user.email = username, body["email"]
            self.check_user(replaced, user_id)

    @rule(data=st.data())
    def delete_user(self, data: st.DataObject) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        user_id = self.draw_user(data, env)
        response = self.harness.request(actor, "DELETE", f"{users_path(env)}/{user_id}")
        self.count("delete user", response)
        what = f"{actor} deletes user {user_id} in {env}"
        allowed, user = self.visible_user(actor, env, user_id)
        if not allowed:
            self.refused(response, what)
        elif user is None:
            self.expect(response, 404, what=what)
        else:
            self.expect(response, 204, what=what)
            del self.users[user_id]
            self.memberships = {(u, g) for u, g in self.memberships if u != user_id}
            self.gone_users.append(user_id)

    @rule(data=st.data())
    def move_user(self, data: st.DataObject) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        user_id = self.draw_user(data, env)
        target = self.draw_population(data, env)
        response = self.harness.request(
            actor, "PUT", f"{users_path(env)}/{user_id}/population", {"id": target}
        )
        self.count("move user", response)
        what = f"{actor} moves user {user_id} of {env} to population {target}"
        allowed, user = self.visible_user(actor, env, user_id)
        scope = self.user_scope(actor, env)
        if not allowed:
            self.refused(response, what)
        elif user is None:
            self.expect(response, 404, what=what)
        elif isinstance(scope, set) and target not in scope:
            # The target lies outside a population-scoped actor's populations, existing or not.
            self.refused(response, what)
        elif self.live_population(env, target) is None:
            self.expect(response, 400, "INVALID_VALUE", what)
        else:
            assert self.expect(response, 200, what=what)["id"] == target
            if user.population_id != target:
                # As in PingOne, a user leaves the groups of the population it leaves.
                source = user.population_id
                self.memberships = {
                    (u, g)
                    for u, g in self.memberships
                    if u != user_id or self.groups[g].population_id != source
                }
            user.population_id = target

    @rule(data=st.data())
    def list_users(self, data: st.DataObject) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        some_population = self.draw_population(data, env)
        username = data.draw(st.sampled_from(USERNAMES), label="filter username")
        filters: list[tuple[str | None, Any]] = [
            (None, lambda u: True),
            (f'population.id eq "{some_population}"', lambda u: u.population_id == some_population),
            (f'username eq "{username}"', lambda u: u.username.casefold() == username.casefold()),
            (
                f'username sw "{username[:1]}"',
                lambda u: u.username.casefold().startswith(username[:1].casefold()),
            ),
        ]
        text, predicate = data.draw(st.sampled_from(filters), label="filter")
        params = {"limit": "1000", **({"filter": text} if text else {})}
        response = self.harness.request(actor, "GET", users_path(env), params=params)
        self.count("list users", response)
        what = f"{actor} lists users of {env} filtered by {text!r}"
        scope = self.user_scope(actor, env)
        if scope is False:
            self.refused(response, what)
            return
        if env == self.ghost_environment:
            self.expect(response, 404, what=what)
            return
        body = self.expect(response, 200, what=what)
        listed = body["_embedded"]["users"]
        allowed = {
            i
            for i, u in self.users.items()
            if u.environment_id == env and (scope is None or u.population_id in scope)
        }
        outside = [u["id"] for u in listed if u["id"] not in allowed]
        assert not outside, f"{what}: listed users outside the actor's rights: {outside}"
        expected = {i for i in allowed if predicate(self.users[i])}
        assert sorted(u["id"] for u in listed) == sorted(expected), (what, listed)
        assert body["size"] == len(expected), body
        for item in listed:
            self.check_user(item, item["id"])

    # -- groups and memberships ---------------------------------------------------------------

    def group_scope(self, actor: str, environment_id: str, manage: bool) -> set[str] | bool | None:
        """The populations whose groups ``actor`` may read (or, ``manage``, change) here: None
        for every group (environment groups too), False for none."""
        e0, e1, e2 = self.environments
        if actor == ADMIN or (actor == IDA_ENV and environment_id == e1):
            return None
        if actor == ENV_ADMIN and environment_id == e0 and not manage:
            return None
        if actor == IDA_POP and environment_id == e2 and self.population_scope:
            return set(self.population_scope)
        return False

    def membership_scope(self, actor: str, environment_id: str) -> set[str] | bool | None:
        """Who may read and change memberships: the Identity Data Admins, in their scope (the
        Environment Admin reads groups, not memberships)."""
        return False if actor == ENV_ADMIN else self.group_scope(actor, environment_id, True)

    def visible_group(
        self, scope: set[str] | bool | None, environment_id: str, group_id: str
    ) -> Group | None:
        group = self.groups.get(group_id)
        if group is None or group.environment_id != environment_id or scope is False:
            return None
        if isinstance(scope, set) and group.population_id not in scope:
            return None
        return group

    def group_name_taken(self, environment_id: str, name: str, population_id: str | None) -> bool:
        """An environment group's name clashes with every group of the environment; a
        population group's with the environment's groups and its own population's."""
        return any(
            g.environment_id == environment_id
            and key(g.name) == key(name)
            and (population_id is None or g.population_id in (None, population_id))
            for g in self.groups.values()
        )

    def direct_members(self, group_id: str) -> set[str]:
        return {u for u, g in self.memberships if g == group_id}

    def draw_group(self, data: st.DataObject, env: str) -> str:
        """Any group id: live ones of every environment, deleted ones, a made-up one; or,
        aiming, one of ``env`` (of the population-scoped actor's populations, often)."""
        if self.aim(data):
            near = [i for i, g in self.groups.items() if g.environment_id == env]
            scoped = [i for i in near if self.groups[i].population_id in self.population_scope]
            pick = scoped if scoped and data.draw(st.booleans()) else near
            if pick:
                return data.draw(st.sampled_from(pick), label="group")
        return data.draw(st.sampled_from([*self.groups, *self.gone_groups]), label="group")

    def check_group(self, body: dict[str, Any], group_id: str) -> None:
        model = self.groups[group_id]
        assert body["id"] == group_id, body
        assert body["environment"]["id"] == model.environment_id, body
        assert body["name"] == body["displayName"] == model.name, body
        assert body.get("population", {}).get("id") == model.population_id, body
        direct = len(self.direct_members(group_id))
        assert body["directMemberCounts"] == {"users": direct}, (body, direct)
        if "totalMemberCounts" in body:  # no nesting, no userFilter here: direct members only
            assert body["totalMemberCounts"] == {"users": direct}, (body, direct)

    @rule(data=st.data(), name=st.sampled_from(GROUP_NAMES), in_population=st.booleans())
    def create_group(self, data: st.DataObject, name: str, in_population: bool) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        population_id = self.draw_population(data, env) if in_population else None
        body: dict[str, Any] = {"name": name}
        if population_id is not None:
            body["population"] = {"id": population_id}
        response = self.harness.request(actor, "POST", groups_path(env), body)
        self.count("create group", response)
        what = f"{actor} creates group {name!r} in {env}, population {population_id}"
        scope = self.group_scope(actor, env, manage=True)
        if scope is False:
            self.refused(response, what)
        elif env == self.ghost_environment:
            self.expect(response, 404, what=what)
        elif isinstance(scope, set) and population_id not in scope:
            # An environment group, or another population's: outside its populations.
            self.refused(response, what)
        elif population_id is not None and self.live_population(env, population_id) is None:
            self.expect(response, 400, "INVALID_VALUE", what)
        elif self.group_name_taken(env, name, population_id):
            self.expect(response, 400, "UNIQUENESS_VIOLATION", what)
        else:
            created = self.expect(response, 201, what=what)
            self.groups[created["id"]] = Group(env, population_id, name.strip())
            self.check_group(created, created["id"])

    @rule(data=st.data(), total=st.booleans())
    def read_group(self, data: st.DataObject, total: bool) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        group_id = self.draw_group(data, env)
        params = {"include": "totalMemberCounts"} if total else None
        response = self.harness.request(
            actor, "GET", f"{groups_path(env)}/{group_id}", None, params
        )
        self.count("read group", response)
        what = f"{actor} reads group {group_id} in {env}"
        scope = self.group_scope(actor, env, manage=False)
        if scope is False:
            self.refused(response, what)
        elif self.visible_group(scope, env, group_id) is None:
            # Missing, or outside a population-scoped actor's populations: not found alike.
            self.expect(response, 404, what=what)
        else:
            body = self.expect(response, 200, what=what)
            assert ("totalMemberCounts" in body) == total, body
            self.check_group(body, group_id)

    @rule(data=st.data())
    def list_groups(self, data: st.DataObject) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        name = data.draw(st.sampled_from(GROUP_NAMES), label="filter name")
        prefix = key(name)[:2]
        some_population = self.draw_population(data, env)
        some_group = self.draw_group(data, env)
        filters: list[tuple[str | None, Any]] = [
            (None, lambda i, g: True),
            (f'name eq "{name.strip()}"', lambda i, g: key(g.name) == key(name)),
            (f'name sw "{prefix}"', lambda i, g: key(g.name).startswith(prefix)),
            (
                f'population.id eq "{some_population}"',
                lambda i, g: g.population_id == some_population,
            ),
            (f'id eq "{some_group}"', lambda i, g: i == some_group),
        ]
        text, predicate = data.draw(st.sampled_from(filters), label="filter")
        params = {"limit": "1000", **({"filter": text} if text else {})}
        response = self.harness.request(actor, "GET", groups_path(env), params=params)
        self.count("list groups", response)
        what = f"{actor} lists groups of {env} filtered by {text!r}"
        scope = self.group_scope(actor, env, manage=False)
        if scope is False:
            self.refused(response, what)
            return
        if env == self.ghost_environment:
            self.expect(response, 404, what=what)
            return
        body = self.expect(response, 200, what=what)
        listed = [g["id"] for g in body["_embedded"]["groups"]]
        outside = [i for i in listed if self.visible_group(scope, env, i) is None]
        assert not outside, f"{what}: listed groups outside the actor's rights: {outside}"
        expected = {
            i
            for i, g in self.groups.items()
            if self.visible_group(scope, env, i) is not None and predicate(i, g)
        }
        assert sorted(listed) == sorted(expected), (what, listed, expected)
        assert body["count"] == body["size"] == len(expected), (what, body)
        for item in body["_embedded"]["groups"]:
            assert "totalMemberCounts" not in item, item
            self.check_group(item, item["id"])

    @rule(data=st.data())
    def delete_group(self, data: st.DataObject) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        group_id = self.draw_group(data, env)
        response = self.harness.request(actor, "DELETE", f"{groups_path(env)}/{group_id}")
        self.count("delete group", response)
        what = f"{actor} deletes group {group_id} in {env}"
        scope = self.group_scope(actor, env, manage=True)
        if scope is False:
            self.refused(response, what)
        elif self.visible_group(scope, env, group_id) is None:
            self.expect(response, 404, what=what)
        else:
            self.expect(response, 204, what=what)
            del self.groups[group_id]
            self.gone_groups.append(group_id)
            self.memberships = {(u, g) for u, g in self.memberships if g != group_id}

    def member_user(self, scope: set[str] | bool | None, env: str, user_id: str) -> User | None:
        """The user if the membership actor may see it (scope not False)."""
        user = self.live_user(env, user_id)
        if user is None or (isinstance(scope, set) and user.population_id not in scope):
            return None
        return user

    @rule(data=st.data())
    def add_membership(self, data: st.DataObject) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        user_id = self.draw_user(data, env)
        group_id = self.draw_group(data, env)
        path = f"{users_path(env)}/{user_id}/memberOfGroups"
        response = self.harness.request(actor, "POST", path, {"id": group_id})
        self.count("add membership", response)
        what = f"{actor} adds user {user_id} of {env} to group {group_id}"
        scope = self.membership_scope(actor, env)
        user = None if scope is False else self.member_user(scope, env, user_id)
        group = self.visible_group(scope, env, group_id)
        if scope is False:
            self.refused(response, what)
        elif user is None:
            self.expect(response, 404, what=what)
        elif group is None:
            # A group it cannot see is named like one that does not exist.
            self.expect(response, 400, "INVALID_VALUE", what)
        elif group.population_id not in (None, user.population_id):
            self.expect(response, 400, "INVALID_VALUE", what)
        elif (user_id, group_id) in self.memberships:
            self.expect(response, 400, "UNIQUENESS_VIOLATION", what)
        else:
            body = self.expect(response, 201, what=what)
            assert (body["id"], body["name"], body["type"]) == (group_id, group.name, "DIRECT")
            self.memberships.add((user_id, group_id))

    @rule(data=st.data())
    def remove_membership(self, data: st.DataObject) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        user_id = self.draw_user(data, env)
        near = sorted(g for u, g in self.memberships if u == user_id)
        if near and self.aim(data):
            group_id = data.draw(st.sampled_from(near), label="group")
        else:
            group_id = self.draw_group(data, env)
        path = f"{users_path(env)}/{user_id}/memberOfGroups/{group_id}"
        response = self.harness.request(actor, "DELETE", path)
        self.count("remove membership", response)
        what = f"{actor} removes user {user_id} of {env} from group {group_id}"
        scope = self.membership_scope(actor, env)
        if scope is False:
            self.refused(response, what)
        elif (
            self.member_user(scope, env, user_id) is None
            or self.visible_group(scope, env, group_id) is None
            or (user_id, group_id) not in self.memberships
        ):
            self.expect(response, 404, what=what)
        else:
            self.expect(response, 204, what=what)
            self.memberships.discard((user_id, group_id))

    @rule(data=st.data())
    def list_memberships(self, data: st.DataObject) -> None:
        actor = self.draw_actor(data)
        env = self.draw_environment(data, actor)
        user_id = self.draw_user(data, env)
        path = f"{users_path(env)}/{user_id}/memberOfGroups"
        response = self.harness.request(actor, "GET", path, params={"limit": "1000"})
        self.count("list memberships", response)
        what = f"{actor} lists the groups of user {user_id} of {env}"
        scope = self.membership_scope(actor, env)
        if scope is False:
            self.refused(response, what)
        elif self.member_user(scope, env, user_id) is None:
            # Missing, or outside a population-scoped actor's populations: not found alike.
            self.expect(response, 404, what=what)
        else:
            body = self.expect(response, 200, what=what)
            listed = [g["id"] for g in body["_embedded"]["groupMemberships"]]
            expected = {
                g
                for u, g in self.memberships
                if u == user_id and self.visible_group(scope, env, g) is not None
            }
            assert sorted(listed) == sorted(expected), (what, listed, expected)
            assert body["count"] == len(expected), body
            for item in body["_embedded"]["groupMemberships"]:
                assert (item["name"], item["type"]) == (self.groups[item["id"]].name, "DIRECT")

    # -- invariants, as the Organization Admin sees them ------------------------------------------

    @invariant()
    def every_environment_matches_the_model(self) -> None:
        h = self.harness
        for env in self.environments:
            populations = h.request(ADMIN, "GET", populations_path(env), params={"limit": "1000"})
            users = h.request(ADMIN, "GET", users_path(env), params={"limit": "1000"})
            h.stats.checks += 2
            assert populations.status_code == 200 and users.status_code == 200
            listed = populations.json()["_embedded"]["populations"]
            assert sum(p["default"] for p in listed) <= 1, listed
            assert {p["id"] for p in listed} == set(self.in_environment(env)), listed
            for item in listed:
                self.check_population(item, item["id"])
            listed_users = users.json()["_embedded"]["users"]
            expected_users = {i for i, u in self.users.items() if u.environment_id == env}
            assert {u["id"] for u in listed_users} == expected_users, listed_users
            for item in listed_users:
                self.check_user(item, item["id"])
            real = Counter(u["population"]["id"] for u in listed_users)
            for item in listed:
                assert item["userCount"] == real[item["id"]], (item, real)
            groups = h.request(ADMIN, "GET", groups_path(env), params={"limit": "1000"})
            h.stats.checks += 1
            assert groups.status_code == 200, groups.text
            listed_groups = groups.json()["_embedded"]["groups"]
            expected_groups = {i for i, g in self.groups.items() if g.environment_id == env}
            assert {g["id"] for g in listed_groups} == expected_groups, listed_groups
            for item in listed_groups:
                self.check_group(item, item["id"])

    @invariant()
    def user_counts_equal_filtered_lists(self) -> None:
        """``userCount`` against the Organization Admin's ``population.id eq`` user list, in
        the environment the last step aimed at (the other invariant covers them all)."""
        h = self.harness
        for population_id, population in self.in_environment(self.touched).items():
            response = h.request(
                ADMIN,
                "GET",
                users_path(population.environment_id),
                params={"limit": "1000", "filter": f'population.id eq "{population_id}"'},
            )
            read = h.request(
                ADMIN, "GET", f"{populations_path(population.environment_id)}/{population_id}"
            )
            h.stats.checks += 2
            assert response.status_code == 200 and read.status_code == 200
            members = response.json()["_embedded"]["users"]
            assert all(u["population"]["id"] == population_id for u in members), members
            assert read.json()["userCount"] == len(members), (read.json(), members)

    @invariant()
    def member_filters_list_direct_members(self) -> None:
        """``memberOfGroups[id eq ...]`` against the model, for the groups of the environment
        the last step aimed at."""
        h = self.harness
        for group_id, group in self.groups.items():
            if group.environment_id != self.touched:
                continue
            response = h.request(
                ADMIN,
                "GET",
                users_path(group.environment_id),
                params={"limit": "1000", "filter": f'memberOfGroups[id eq "{group_id}"]'},
            )
            h.stats.checks += 1
            assert response.status_code == 200, response.text
            listed = sorted(u["id"] for u in response.json()["_embedded"]["users"])
            assert listed == sorted(self.direct_members(group_id)), (group_id, listed)


@pytest.fixture
async def actors(make_actor) -> dict[str, Any]:
    """Worker apps without roles: each example grants them roles in its own environments."""
    return {name: await make_actor() for name in (ENV_ADMIN, IDA_ENV, IDA_POP)}


async def test_actors_never_reach_outside_their_rights(
    admin, actors, deployment, license_id, role_ids, capsys
) -> None:
    stats = Stats()
    harness = Harness(
        loop=asyncio.get_running_loop(),
        clients={ADMIN: admin, **{name: a.client for name, a in actors.items()}},
        application_ids={name: a.application_id for name, a in actors.items()},
        admin_environment_id=deployment.admin.environment_id,
        license_id=license_id,
        role_ids=role_ids,
        stats=stats,
    )
    machine = type("Machine", (Isolation,), {"harness": harness})
    machine_settings = settings(
        max_examples=40,
        stateful_step_count=50,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        # Every step's assertion names the actor, request and answer; shrinking a failure
        # (three environments per replay) would take minutes.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )
    try:
        await asyncio.to_thread(run_state_machine_as_test, machine, settings=machine_settings)
    finally:
        with capsys.disabled():
            total = sum(stats.operations.values())
            print(
                f"\n[isolation] {total} operations driven in {stats.examples} runs "
                f"({stats.checks} invariant requests); by kind: {dict(stats.operations)}; "
                f"statuses: {dict(sorted(stats.outcomes.items()))}"
            )
