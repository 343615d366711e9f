"""Seed files: a declarative YAML (or JSON) document of environments and what they hold,
applied idempotently (``populace serve --seed FILE``, ``POST /_populace/seed``)::

    environments:
      - name: Dev                      # found by name, else created (type SANDBOX, region NA)
        populations:
          - name: Staff                # found by name, else created; any population field
        groups:
          - name: Admins
            population: Staff          # a population of this file, by name
        users:
          - username: ada              # found by username, else created
            email: ada@example.com
            population: Staff
            password: 2FederateM0re!   # set when the user is created
            groups: [Admins]           # memberships added where missing
        applications:
          - name: ci-worker            # a Worker application, client credentials
            roleAssignments:
              - role: Identity Data Admin
                scope: environment     # or organization, or {population: Staff}

Each object is applied through populace's own API, in-process, with the caller's token: the
same rules, permissions and errors as a request, and an error names the file's line. What is
already there is left as it is, so applying a file twice changes nothing the second time. A
file is not applied atomically: what came before an error stays, and a corrected file applied
again completes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import yaml
from starlette.types import ASGIApp

from populace.http import inprocess

Json = Any


class Located(dict[str, Any]):
    """A mapping of the file, with the line it starts on."""

    line: int = 0


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    located = Located(loader.construct_pairs(node, deep=True))
    located.line = node.start_mark.line + 1
    return located


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


class SeedError(Exception):
    """A seed that cannot be applied, at a line of its file (0: the file as a whole)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


def parse(text: str | bytes) -> Located:
    """The document (YAML, of which JSON is a part), each mapping with its line."""
    try:
        document = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        raise SeedError(mark.line + 1 if mark else 0, f"not YAML: {error.problem}") from None
    except yaml.YAMLError as error:
        raise SeedError(0, f"not YAML: {error}") from None
    if (
        not isinstance(document, Located)
        or set(document) - {"environments"}
        or not isinstance(document.get("environments", []), list)
    ):
        raise SeedError(0, "a seed file is a mapping with a list of `environments`, only")
    return document


@dataclass
class Report:
    created: int = 0
    unchanged: int = 0
    lines: list[str] = field(default_factory=list)  # what was created, by line


class _Api:
    """populace's own API, called in-process (no socket), with the caller's token."""

    def __init__(self, app: ASGIApp, authorization: str) -> None:
        self.app, self.authorization = app, authorization

    async def call(
        self, method: str, path: str, body: Json = None, query: dict[str, str] | None = None
    ) -> tuple[int, Json]:
        answer = await inprocess.call(
            self.app,
            method,
            path,
            host="populace.seed",
            headers=[
                (b"authorization", self.authorization.encode()),
                (b"content-type", b"application/json"),
            ],
            body=b"" if body is None else json.dumps(body).encode(),
            query=urlencode(query or {}).encode(),
        )
        return answer.status, json.loads(answer.body) if answer.body else None

    async def expect(
        self, line: int, status: int, method: str, path: str, body: Json = None
    ) -> Json:
        got, answer = await self.call(method, path, body)
        if got != status:
            raise SeedError(line, _explain(method, path, got, answer))
        return answer

    async def all(self, line: int, path: str, key: str, filter_: str | None = None) -> list[Json]:
        """Every item of a list, page after page."""
        query = {"limit": "1000", **({"filter": filter_} if filter_ else {})}
        items: list[Json] = []
        while True:
            got, answer = await self.call("GET", path, query=query)
            if got != 200:
                raise SeedError(line, _explain("GET", path, got, answer))
            items += answer.get("_embedded", {}).get(key, [])
            following = answer.get("_links", {}).get("next")
            if following is None:
                return items
            query = dict(parse_qsl(urlsplit(following["href"]).query))


def _explain(method: str, path: str, status: int, answer: Json) -> str:
    if isinstance(answer, dict) and "message" in answer:
        details = "; ".join(
            f"{d.get('target', '')}: {d.get('message', '')}".strip(": ")
            for d in answer.get("details") or []
        )
        return f"{method} {path}: {status} {answer.get('code')}: {answer['message']}" + (
            f" ({details})" if details else ""
        )
    return f"{method} {path}: {status}"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _items(mapping: Located, key: str) -> list[Located]:
    items = mapping.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, Located) for i in items):
        raise SeedError(mapping.line, f"`{key}` is a list of mappings")
    return items


def _matching(attribute: str, value: str) -> Callable[[Json], bool]:
    """Is a listed object the one the file names (names compare without case, as populace
    keeps them unique)."""
    return lambda listed: str(listed.get(attribute, "")).casefold() == value.casefold()


def _named(item: Located, key: str = "name") -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SeedError(item.line, f"`{key}` is required (text)")
    return value


class _Seeding:
    def __init__(self, api: _Api, organization_id: str, report: Report) -> None:
        self.api, self.organization_id, self.report = api, organization_id, report

    async def found_or_created(
        self,
        item: Located,
        path: str,
        key: str,
        match: Callable[[Json], bool],
        filter_: str | None,
        body: Json,
    ) -> Json:
        existing = [x for x in await self.api.all(item.line, path, key, filter_) if match(x)]
        if existing:
            self.report.unchanged += 1
            return existing[0]
        made = await self.api.expect(item.line, 201, "POST", path, body)
        self.report.created += 1
        self.report.lines.append(f"line {item.line}: created {key[:-1]} {made.get('id')}")
        return made

    async def environment(self, item: Located, license_id: str) -> None:
        name = _named(item)
        body = {k: v for k, v in item.items() if not isinstance(v, list)}
        body = {"type": "SANDBOX", "region": "NA", **body, "license": {"id": license_id}}
        environment = await self.found_or_created(
            item, "/v1/environments", "environments", _matching("name", name),
            f"name eq {_quoted(name)}", body,
        )  # fmt: skip
        base = f"/v1/environments/{environment['id']}"
        populations: dict[str, str] = {}
        for population in _items(item, "populations"):
            pop_name = _named(population)
            made = await self.found_or_created(
                population, f"{base}/populations", "populations",
                _matching("name", pop_name),
                f"name eq {_quoted(pop_name)}", dict(population),
            )  # fmt: skip
            populations[pop_name] = made["id"]
        groups: dict[str, str] = {}
        for group in _items(item, "groups"):
            group_name = _named(group)
            body = self.with_population(group, populations)
            made = await self.found_or_created(
                group, f"{base}/groups", "groups",
                _matching("name", group_name),
                f"name eq {_quoted(group_name)}", body,
            )  # fmt: skip
            groups[group_name] = made["id"]
        for user in _items(item, "users"):
            await self.user(base, user, populations, groups)
        for application in _items(item, "applications"):
            await self.application(base, environment["id"], application, populations)

    def with_population(self, item: Located, populations: dict[str, str]) -> Json:
        body = {k: v for k, v in item.items() if k not in ("population", "groups", "password")}
        name = item.get("population")
        if name is not None:
            if name not in populations:
                raise SeedError(item.line, f"population {name!r} is not in this environment's list")
            body["population"] = {"id": populations[name]}
        return body

    async def user(
        self, base: str, item: Located, populations: dict[str, str], groups: dict[str, str]
    ) -> None:
        username = _named(item, "username")
        body = self.with_population(item, populations)
        if item.get("password") is not None:
            body["password"] = {"value": str(item["password"])}
        user = await self.found_or_created(
            item, f"{base}/users", "users",
            _matching("username", username),
            f"username eq {_quoted(username)}", body,
        )  # fmt: skip
        wanted = item.get("groups") or []
        if not isinstance(wanted, list):
            raise SeedError(item.line, "`groups` is a list of group names")
        memberships = f"{base}/users/{user['id']}/memberOfGroups"
        held = {m["id"] for m in await self.api.all(item.line, memberships, "groupMemberships")}
        for name in wanted:
            if name not in groups:
                raise SeedError(item.line, f"group {name!r} is not in this environment's list")
            if groups[name] not in held:
                await self.api.expect(item.line, 201, "POST", memberships, {"id": groups[name]})
                self.report.created += 1

    async def application(
        self, base: str, environment_id: str, item: Located, populations: dict[str, str]
    ) -> None:
        name = _named(item)
        body = {k: v for k, v in item.items() if k != "roleAssignments"}
        body = {
            "enabled": True, "type": "WORKER", "protocol": "OPENID_CONNECT",
            "grantTypes": ["CLIENT_CREDENTIALS"], "tokenEndpointAuthMethod": "CLIENT_SECRET_BASIC",
            **body,
        }  # fmt: skip
        app = await self.found_or_created(
            item, f"{base}/applications", "applications", _matching("name", name), None, body
        )
        path = f"{base}/applications/{app['id']}/roleAssignments"
        roles = {r["name"]: r["id"] for r in await self.api.all(item.line, "/v1/roles", "roles")}
        held = {
            (a["role"]["id"], a["scope"]["type"], a["scope"]["id"])
            for a in await self.api.all(item.line, path, "roleAssignments")
        }
        for assignment in _items(item, "roleAssignments"):
            role = _named(assignment, "role")
            if role not in roles:
                raise SeedError(assignment.line, f"no role {role!r}; roles: {', '.join(roles)}")
            scope = self.scope(assignment, environment_id, populations)
            if (roles[role], scope["type"], scope["id"]) in held:
                self.report.unchanged += 1
                continue
            body = {"role": {"id": roles[role]}, "scope": scope}
            await self.api.expect(assignment.line, 201, "POST", path, body)
            self.report.created += 1

    def scope(self, assignment: Located, environment_id: str, populations: dict[str, str]) -> Json:
        scope = assignment.get("scope", "environment")
        if scope == "environment":
            return {"type": "ENVIRONMENT", "id": environment_id}
        if scope == "organization":
            return {"type": "ORGANIZATION", "id": self.organization_id}
        if isinstance(scope, dict) and scope.get("population") in populations:
            return {"type": "POPULATION", "id": populations[scope["population"]]}
        raise SeedError(
            assignment.line,
            "`scope` is environment, organization, or {population: <a population of the list>}",
        )


async def apply(app: ASGIApp, authorization: str, document: Located) -> Report:
    """Apply a parsed seed document through ``app`` with the caller's ``Authorization``."""
    api = _Api(app, authorization)
    organizations = await api.all(document.line, "/v1/organizations", "organizations")
    organization_id = organizations[0]["id"]
    licenses = await api.all(
        document.line, f"/v1/organizations/{organization_id}/licenses", "licenses"
    )
    report = Report()
    seeding = _Seeding(api, organization_id, report)
    for environment in _items(document, "environments"):
        await seeding.environment(environment, licenses[0]["id"])
    return report
