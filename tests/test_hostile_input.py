"""Hostile input: every attack gets a PingOne-style 4xx envelope and changes nothing.

Each attack goes through the in-process ``admin`` client (Organization Admin, so no 403 hides a
parser or database failure) at an environment holding one population and one user. Before and
after each attack the environment's populations and users are listed; the lists must be equal.
Each test runs its whole family of attacks and reports every one that misbehaved, not only the
first.

The last tests attack credentials: the token endpoint must not tell an existing client id from
an unknown one, secrets and signing keys must not be stored in plaintext, and tokens that claim
to be issued (``iat``) or valid (``nbf``) in the future are refused.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from sqlalchemy import select

from populace.storage.schema import applications, signing_keys
from tests.support import bearer, unique

ATTACKS = {"tried": 0}


@pytest.fixture(scope="module", autouse=True)
def report_attacks(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\n[hostile input] {ATTACKS['tried']} attacks tried")


async def raw_asgi(
    app: Any, method: str, path: str, query: bytes, headers: dict[str, str]
) -> httpx.Response:
    """One request straight into the ASGI app: httpx refuses to build URLs over 64 KiB, the
    application itself has no such limit."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"host", b"populace.test")],
        "server": ("populace.test", 80),
        "client": ("127.0.0.1", 1234),
    }
    sent: dict[str, Any] = {"status": 0, "headers": [], "body": b""}
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
            sent["headers"] = message.get("headers", [])
        elif message["type"] == "http.response.body":
            sent["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return httpx.Response(sent["status"], headers=sent["headers"], content=sent["body"])


@dataclass
class Target:
    """An environment with one extra population and one user, and the paths to attack."""

    admin: httpx.AsyncClient
    app: Any
    environment_id: str
    population_id: str
    user_id: str

    @property
    def populations(self) -> str:
        return f"/v1/environments/{self.environment_id}/populations"

    @property
    def population(self) -> str:
        return f"{self.populations}/{self.population_id}"

    @property
    def users(self) -> str:
        return f"/v1/environments/{self.environment_id}/users"

    @property
    def user(self) -> str:
        return f"{self.users}/{self.user_id}"

    async def snapshot(self) -> Any:
        populations = await self.admin.get(self.populations, params={"limit": "1000"})
        users = await self.admin.get(self.users, params={"limit": "1000"})
        assert populations.status_code == 200, populations.text
        assert users.status_code == 200, users.text
        return populations.json()["_embedded"], users.json()["_embedded"]

    async def attack(
        self,
        name: str,
        method: str,
        path: str,
        *,
        status: int | set[int] | None = None,
        code: str | None = None,
        detail: str | None = None,
        target: str | None = None,
        raw_query: bytes | None = None,
        **kwargs: Any,
    ) -> str | None:
        """Send one attack; return what went wrong, or None. ``raw_query`` sends the request
        straight to the ASGI app with that query string."""
        ATTACKS["tried"] += 1
        before = await self.snapshot()
        try:
            if raw_query is None:
                response = await self.admin.request(method, path, **kwargs)
            else:
                headers = {"authorization": self.admin.headers["authorization"]}
                response = await raw_asgi(self.app, method, path, raw_query, headers)
        except Exception as exc:  # a transport-level failure is a finding too
            return f"{name}: request raised {exc!r}"
        after = await self.snapshot()
        problems = []
        allowed = {status} if isinstance(status, int) else status
        if not 400 <= response.status_code < 500:
            problems.append(f"status {response.status_code}, not 4xx")
        elif allowed is not None and response.status_code not in allowed:
            problems.append(f"status {response.status_code}, expected {sorted(allowed)}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not (
            isinstance(body, dict)
            and all(isinstance(body.get(k), str) for k in ("id", "code", "message"))
        ):
            problems.append("not PingOne's {id, code, message} envelope")
        elif response.status_code < 500:
            if code is not None and body["code"] != code:
                problems.append(f"code {body['code']}, expected {code}")
            details = body.get("details") or []
            if detail is not None and not any(d.get("code") == detail for d in details):
                problems.append(f"no detail {detail}")
            if (
                target is not None
                and body["code"] == "INVALID_DATA"
                and not any(str(d.get("target", "")).startswith(target) for d in details)
            ):
                problems.append(f"no detail targets {target!r}")
        if before != after:
            problems.append("the environment changed")
        if problems:
            return f"{name}: {'; '.join(problems)} -- {response.status_code} {response.text[:300]}"
        return None


@pytest.fixture
async def target(
    admin: httpx.AsyncClient, deployment: Any, environment: dict[str, Any]
) -> AsyncIterator[Target]:
    environment_id = environment["id"]
    population = await admin.post(
        f"/v1/environments/{environment_id}/populations",
        json={"name": "victim", "description": "kept as it is"},
    )
    assert population.status_code == 201, population.text
    user = await admin.post(
        f"/v1/environments/{environment_id}/users",
        json={
            "username": "victim-user",
            "email": "victim@example.com",
            "population": {"id": population.json()["id"]},
        },
    )
    assert user.status_code == 201, user.text
    yield Target(admin, deployment.app, environment_id, population.json()["id"], user.json()["id"])


def report(findings: list[str | None]) -> None:
    found = [f for f in findings if f]
    assert not found, f"{len(found)} attacks misbehaved:\n" + "\n".join(found)


JSON = {"content-type": "application/json"}


def writes(t: Target) -> list[tuple[str, str, str]]:
    """Every endpoint that takes a JSON body: (name, method, path)."""
    return [
        ("create population", "POST", t.populations),
        ("replace population", "PUT", t.population),
        ("create user", "POST", t.users),
        ("replace user", "PUT", t.user),
        ("move user", "PUT", f"{t.user}/population"),
    ]


# -- bodies that are not valid JSON text ---------------------------------------------------------

BAD_UNICODE = {
    "invalid UTF-8 in a value": b'{"name": "bad \xff\xfe name", "username": "u\xff", "id": "\xff"}',
    "invalid UTF-8 in a key": b'{"na\xffme": "x", "name": "ok"}',
    "overlong encoding of /": b'{"name": "\xc0\xaf", "username": "\xc0\xaf", "id": "\xc0\xaf"}',
    "UTF-8-encoded surrogate": b'{"name": "\xed\xa0\x80", "username": "\xed\xa0\x80"}',
    "truncated sequence": b'{"name": "\xe2\x82"}',
    "UTF-16 body": '{"name": "x"}'.encode("utf-16"),
    "lone surrogate escape": (
        b'{"name": "a\\ud800b", "username": "a\\ud800b", "email": "a\\udc00@example.com",'
        b' "id": "\\ud800"}'
    ),
    "lone surrogate escape in description": b'{"name": "fine", "description": "x\\udfff"}',
}


async def test_invalid_unicode_bodies_are_refused(target: Target) -> None:
    findings = [
        await target.attack(
            f"{endpoint} / {case}", method, path, status=400, content=body, headers=JSON
        )
        for endpoint, method, path in writes(target)
        for case, body in BAD_UNICODE.items()
    ]
    report(findings)


def nested(depth: int, open_: str, close: str) -> str:
    return open_ * depth + close * depth


DEEP = 10_000
DEEP_ARRAY = nested(DEEP, "[", "]")
DEEP_OBJECT = nested(DEEP, '{"a":', "}").replace('{"a":}', '{"a":1}')
DEEP_REF = nested(DEEP, '{"id":', "}").replace('{"id":}', '{"id":1}')
DEEP_BODIES = {
    "deep array as a value": f'{{"name": "deep", "description": {DEEP_ARRAY}}}',
    "deep array as an unknown field": f'{{"name": "deep", "x": {DEEP_ARRAY}}}',
    "deep object as an unknown field": f'{{"name": "deep", "x": {DEEP_OBJECT}}}',
    "deep object as a known field": f'{{"name": "deep", "theme": {DEEP_REF}}}',
    "deep array as the body": DEEP_ARRAY,
    "unclosed deep array": "[" * DEEP,
}


async def test_deeply_nested_json_is_refused(target: Target) -> None:
    findings = []
    for endpoint, method, path in writes(target):
        for case, text in DEEP_BODIES.items():
            body = text
            # The user endpoints need their own required fields to be reachable past them.
            if "user" in endpoint and "unknown field" in case:
                body = text.replace('"name": "deep"', '"username": "deep", "email": "d@e.com"')
            findings.append(
                await target.attack(
                    f"{endpoint} / {case}",
                    method,
                    path,
                    status=400,
                    content=body.encode(),
                    headers=JSON,
                )
            )
    report(findings)


async def test_five_mebibyte_bodies_are_413(target: Target) -> None:
    huge = b'{"name": "x", "description": "' + b"a" * (5 * 1024 * 1024) + b'"}'

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 64 * 1024):
            yield huge[start : start + 64 * 1024]

    findings = []
    for endpoint, method, path in writes(target):
        findings.append(
            await target.attack(
                f"{endpoint} / 5 MiB", method, path, status=413, content=huge, headers=JSON
            )
        )
        findings.append(
            await target.attack(
                f"{endpoint} / 5 MiB chunked, no Content-Length",
                method,
                path,
                status=413,
                content=chunked(),
                headers=JSON,
            )
        )
        findings.append(
            await target.attack(
                f"{endpoint} / 5 MiB, Content-Length lies (says 10)",
                method,
                path,
                status={400, 413},
                content=chunked(),
                headers={**JSON, "content-length": "10"},
            )
        )
    report(findings)


# -- well-formed JSON with the wrong types ---------------------------------------------------------

REF_WRONG = ["id", 1, True, [], {"id": 1}, {"id": None}, {"id": []}, {}]
POPULATION_WRONG_TYPES: dict[str, list[Any]] = {
    "name": [1, 1.5, True, None, [], {}, ["a"], {"name": "a"}],
    "description": [1, True, [], {}, ["a"]],
    "default": ["true", "false", 1, 0, [], {}],
    "passwordPolicy": REF_WRONG,
    "theme": REF_WRONG,
    "preferredLanguage": [1, True, [], {}, ["en"]],
    "alternativeIdentifiers": ["a", 1, True, {}, [1], [None], [[]], [{}]],
}
USER_WRONG_TYPES: dict[str, list[Any]] = {
    "username": [1, True, None, [], {}, ["a"]],
    "email": [1, True, None, [], {}],
    "name": ["x", 1, True, [], {"given": 1}, {"family": []}, {"middle": {}}, {"formatted": True}],
    "enabled": ["true", "false", 1, 0, [], {}],
    "population": ["x", 1, True, [], {"id": 1}, {"id": None}, {}],
}
NOT_AN_OBJECT: list[Any] = [[], ["name"], "name", 1, True, None]


async def test_wrong_json_types_in_every_population_field(target: Target) -> None:
    findings = []
    for field, values in POPULATION_WRONG_TYPES.items():
        for value in values:
            body = {"name": unique("typed"), field: value}
            for method, path in (("POST", target.populations), ("PUT", target.population)):
                findings.append(
                    await target.attack(
                        f"{method} population {field}={value!r}",
                        method,
                        path,
                        status=400,
                        target=field,
                        json=body,
                    )
                )
    for value in NOT_AN_OBJECT:
        for method, path in (("POST", target.populations), ("PUT", target.population)):
            findings.append(
                await target.attack(f"{method} population body {value!r}", method, path, json=value)
            )
    report(findings)


async def test_wrong_json_types_in_every_user_field(target: Target) -> None:
    findings = []
    for field, values in USER_WRONG_TYPES.items():
        for value in values:
            body = {"username": unique("typed"), "email": "typed@example.com", field: value}
            for method, path in (("POST", target.users), ("PUT", target.user)):
                findings.append(
                    await target.attack(
                        f"{method} user {field}={value!r}",
                        method,
                        path,
                        status=400,
                        target=field,
                        json=body,
                    )
                )
    move = f"{target.user}/population"
    for value in [*NOT_AN_OBJECT, {}, {"id": 1}, {"id": None}, {"id": []}, {"id": {}}]:
        findings.append(await target.attack(f"move user body {value!r}", "PUT", move, json=value))
    for value in NOT_AN_OBJECT:
        for method, path in (("POST", target.users), ("PUT", target.user)):
            findings.append(
                await target.attack(f"{method} user body {value!r}", method, path, json=value)
            )
    report(findings)


# -- NUL bytes and other characters no name should hold --------------------------------------------

NUL_POPULATIONS: list[dict[str, Any]] = [
    {"name": "nul\x00name"},
    {"name": "\x00"},
    {"name": "trailing\x00"},
    {"name": "ok", "description": "nul\x00description"},
    {"name": "ok", "preferredLanguage": "en\x00"},
    {"name": "ok", "alternativeIdentifiers": ["nul\x00id"]},
    {"name": "ok", "theme": {"id": "\x00"}},
    {"name": "ok", "passwordPolicy": {"id": "\x00"}},
]
NUL_USERS: list[dict[str, Any]] = [
    {"username": "nul\x00user", "email": "n@example.com"},
    {"username": "\x00", "email": "n@example.com"},
    {"username": "ok-nul", "email": "n\x00@example.com"},
    {"username": "ok-nul", "email": "n@example.com", "name": {"given": "a\x00"}},
    {"username": "ok-nul", "email": "n@example.com", "name": {"family": "\x00"}},
    {"username": "ok-nul", "email": "n@example.com", "name": {"formatted": "x\x00y"}},
    {"username": "ok-nul", "email": "n@example.com", "population": {"id": "\x00"}},
]


async def test_nul_bytes_in_names_are_refused(target: Target) -> None:
    findings = []
    for body in NUL_POPULATIONS:
        for method, path in (("POST", target.populations), ("PUT", target.population)):
            findings.append(
                await target.attack(f"{method} population {body!r}", method, path, json=body)
            )
    for body in NUL_USERS:
        for method, path in (("POST", target.users), ("PUT", target.user)):
            findings.append(await target.attack(f"{method} user {body!r}", method, path, json=body))
    findings.append(
        await target.attack(
            "move user to population id NUL",
            "PUT",
            f"{target.user}/population",
            json={"id": "\x00"},
        )
    )
    report(findings)


async def test_nul_bytes_in_paths_and_filters_are_harmless(target: Target) -> None:
    """A NUL in an id is just an id that names nothing; in a filter value, a value that matches
    nothing. Neither may reach the database as an error (PostgreSQL refuses NUL in text)."""
    t = target
    findings = [
        await t.attack("read population %00", "GET", f"{t.populations}/%00", status=404),
        await t.attack("read user %00", "GET", f"{t.users}/a%00b", status=404),
        await t.attack("delete population %00", "DELETE", f"{t.populations}/%00", status=404),
        await t.attack(
            "replace population %00", "PUT", f"{t.populations}/%00", status=404, json={"name": "x"}
        ),
        await t.attack("environment %00", "GET", "/v1/environments/%00/populations", status=404),
    ]
    for path, text in (
        (t.populations, 'name eq "\x00"'),
        (t.populations, 'name sw "a\x00"'),
        (t.populations, 'id eq "\x00"'),
        (t.users, 'username eq "\x00"'),
        (t.users, 'population.id eq "\x00"'),
        (t.users, 'email sw "\x00"'),
    ):
        ATTACKS["tried"] += 1
        response = await t.admin.get(path, params={"filter": text})
        if response.status_code == 200:
            listed = next(iter(response.json()["_embedded"].values()))
            if listed:
                findings.append(f"filter {text!r}: matched {listed}")
        elif not (400 <= response.status_code < 500):
            findings.append(f"filter {text!r}: {response.status_code} {response.text[:300]}")
    report(findings)


async def test_nul_bytes_at_the_token_endpoint_and_discovery(client, admin, deployment) -> None:
    """The authorization server looks ids up too: a NUL there is an unknown client or
    environment, never a database error."""
    creds = deployment.admin
    grant = {"grant_type": "client_credentials"}
    findings = []
    for case, path, kwargs in (
        ("Basic client id NUL", f"/{creds.environment_id}/as/token", {"auth": ("\x00", "x")}),
        (
            "posted client id NUL",
            f"/{creds.environment_id}/as/token",
            {"data": {**grant, "client_id": "a\x00", "client_secret": "x"}},
        ),
        (
            "environment %00",
            "/%00/as/token",
            {"auth": (creds.client_id, creds.client_secret)},
        ),
    ):
        ATTACKS["tried"] += 1
        kwargs.setdefault("data", grant)
        response = await client.post(path, **kwargs)
        # A NUL in the path is refused before routing, like every such path: 404 envelope.
        refused = (
            response.status_code == 404 and response.json().get("code") == "NOT_FOUND"
            if "%00" in path
            else response.status_code == 401 and response.json().get("error") == "invalid_client"
        )
        if not refused:
            findings.append(f"token, {case}: {response.status_code} {response.text[:300]}")
    for path in (
        "/%00/as/jwks",
        "/%00/as/.well-known/openid-configuration",
        "/v1/environments/%00",
        "/v1/environments/%00/applications",
    ):
        ATTACKS["tried"] += 1
        response = await admin.get(path)
        if response.status_code != 404 or response.json().get("code") != "NOT_FOUND":
            findings.append(f"GET {path}: {response.status_code} {response.text[:300]}")
    report(findings)


# -- query strings and paths -----------------------------------------------------------------------


async def test_hundred_kilobyte_filter_is_invalid_filter(target: Target) -> None:
    long_value = 'name eq "' + "a" * 100_000 + '"'
    many_terms = " or ".join(['name eq "a"'] * 10_000)
    deep = "(" * 50_000 + 'name eq "a"' + ")" * 50_000
    findings = []
    for path in (target.populations, target.users):
        for case, text in (("long value", long_value), ("many terms", many_terms), ("deep", deep)):
            findings.append(
                await target.attack(
                    f"GET {path} 100 KB filter ({case})",
                    "GET",
                    path,
                    status=400,
                    code="INVALID_DATA",
                    detail="INVALID_FILTER",
                    raw_query=urlencode({"filter": text}).encode(),
                )
            )
    report(findings)


async def test_very_long_path_segments_are_404(target: Target) -> None:
    long_id = "a" * 10 * 1024
    t = target
    findings = [
        await t.attack("read population", "GET", f"{t.populations}/{long_id}", status=404),
        await t.attack(
            "replace population",
            "PUT",
            f"{t.populations}/{long_id}",
            status=404,
            json={"name": "long"},
        ),
        await t.attack("delete population", "DELETE", f"{t.populations}/{long_id}", status=404),
        await t.attack("read user", "GET", f"{t.users}/{long_id}", status=404),
        await t.attack(
            "replace user",
            "PUT",
            f"{t.users}/{long_id}",
            status=404,
            json={"username": "long", "email": "long@example.com"},
        ),
        await t.attack("delete user", "DELETE", f"{t.users}/{long_id}", status=404),
        await t.attack(
            "move user", "PUT", f"{t.users}/{long_id}/population", status=404, json={"id": "x"}
        ),
        await t.attack("environment", "GET", f"/v1/environments/{long_id}/populations", status=404),
        await t.attack(
            "create in environment",
            "POST",
            f"/v1/environments/{long_id}/populations",
            status=404,
            json={"name": "long"},
        ),
        await t.attack(
            "move user to a long population id",
            "PUT",
            f"{t.user}/population",
            status=400,
            json={"id": long_id},
        ),
        await t.attack(
            "create user in a long population id",
            "POST",
            t.users,
            status=400,
            json={"username": "long", "email": "l@example.com", "population": {"id": long_id}},
        ),
        await t.attack(
            "population with a 10 KB theme id",
            "POST",
            t.populations,
            status=400,
            json={"name": "long", "theme": {"id": long_id}},
        ),
    ]
    report(findings)


BAD_LIMITS = ["1e3", "1.0", "0x10", "-0", "+5", "²", "¹⁰", "1_000", "10 0", "NaN", "\x00", "%"]
BAD_CURSORS = [
    "x",
    "%%%",
    base64.urlsafe_b64encode(b'[0, 99999999999999999999999999, "a"]').decode(),
    base64.urlsafe_b64encode(b'[0, 9223372036854775808, "a"]').decode(),
    base64.urlsafe_b64encode(b'[0, -9223372036854775809, "a"]').decode(),
    base64.urlsafe_b64encode(b'[0, 1, "\\u0000"]').decode(),
    base64.urlsafe_b64encode(b'[0, 1, "\\ud800"]').decode(),
    base64.urlsafe_b64encode(b"[0, 1]").decode(),
    base64.urlsafe_b64encode(b'[0, 1, "' + b"a" * 20000 + b'"]').decode(),
]


async def test_bad_limits_and_cursors_are_refused(target: Target) -> None:
    findings = []
    for path in (target.populations, target.users):
        for limit in BAD_LIMITS:
            findings.append(
                await target.attack(
                    f"GET {path} limit={limit!r}",
                    "GET",
                    path,
                    status=400,
                    code="INVALID_DATA",
                    params={"limit": limit},
                )
            )
        for cursor in BAD_CURSORS:
            ATTACKS["tried"] += 1
            response = await target.admin.get(path, params={"cursor": cursor})
            # A cursor is opaque but not signed: a forged one that decodes may be honoured.
            if response.status_code not in (200, 400):
                findings.append(
                    f"GET {path} cursor={cursor[:40]!r}: {response.status_code} "
                    f"{response.text[:300]}"
                )
    report(findings)


async def test_huge_limit_is_capped(target: Target) -> None:
    """Not an error: like ``limit=5000``, a 20-digit limit is capped at the maximum page."""
    for path in (target.populations, target.users):
        ATTACKS["tried"] += 1
        response = await target.admin.get(path, params={"limit": "99999999999999999999"})
        assert response.status_code == 200, response.text
        assert response.json()["size"] <= 1000


# -- unicode confusables ---------------------------------------------------------------------------

# (existing name, a name that casefolds to the same key): each pair must collide.
CASEFOLD_CONFUSABLES = [
    ("kilo", "\u212ailo"),  # KELVIN SIGN
    ("fire", "\ufb01re"),  # LATIN SMALL LIGATURE FI
    ("straße", "STRASSE"),
    ("σοφία", "ΣΟΦΊΑ"),
    ("ὀδυσσεύς", "ὈΔΥΣΣΕΎΣ"),
    ("ωmega", "\u2126mega"),  # OHM SIGN
    ("\u01c6", "\u01c5"),  # dž and its titlecase digraph Dž
]


async def test_casefold_confusables_are_duplicates(target: Target) -> None:
    t = target
    findings = []
    for original, confusable in CASEFOLD_CONFUSABLES:
        if original.casefold() != confusable.casefold():
            continue  # not a casefold pair after all
        created = await t.admin.post(t.populations, json={"name": original})
        assert created.status_code == 201, created.text
        findings.append(
            await t.attack(
                f"population {confusable!r} beside {original!r}",
                "POST",
                t.populations,
                status=400,
                detail="UNIQUENESS_VIOLATION",
                json={"name": confusable},
            )
        )
        findings.append(
            await t.attack(
                f"rename victim to {confusable!r} beside {original!r}",
                "PUT",
                t.population,
                status=400,
                detail="UNIQUENESS_VIOLATION",
                json={"name": f"  {confusable} "},
            )
        )
        user = await t.admin.post(t.users, json={"username": original, "email": "c@example.com"})
        assert user.status_code == 201, user.text
        findings.append(
            await t.attack(
                f"user {confusable!r} beside {original!r}",
                "POST",
                t.users,
                status=400,
                detail="UNIQUENESS_VIOLATION",
                json={"username": confusable, "email": "c@example.com"},
            )
        )
        # The filter finds the original by its confusable twin, and only it.
        listed = await t.admin.get(t.populations, params={"filter": f'name eq "{confusable}"'})
        names = [p["name"] for p in listed.json()["_embedded"]["populations"]]
        if names != [original]:
            findings.append(f"filter name eq {confusable!r}: {names}")
    assert sum(1 for o, c in CASEFOLD_CONFUSABLES if o.casefold() == c.casefold()) >= 6
    report(findings)


async def test_lookalikes_that_differ_stay_apart(target: Target) -> None:
    """A Cyrillic lookalike is another name: it neither collides with the Latin name nor
    matches its filter. (Fullwidth forms are the same name: test_hardening.py.)"""
    t = target
    created = await t.admin.post(t.populations, json={"name": "Paypal"})
    assert created.status_code == 201, created.text
    # CYRILLIC CAPITAL LETTER ER for P
    ATTACKS["tried"] += 1
    response = await t.admin.post(t.populations, json={"name": "\u0420aypal"})
    assert response.status_code == 201, response.text
    listed = await t.admin.get(t.populations, params={"filter": 'name eq "paypal"'})
    assert [p["name"] for p in listed.json()["_embedded"]["populations"]] == ["Paypal"]


# -- credentials -----------------------------------------------------------------------------------


async def new_worker(admin: httpx.AsyncClient, environment_id: str) -> tuple[str, str]:
    apps = f"/v1/environments/{environment_id}/applications"
    created = await admin.post(
        apps,
        json={
            "name": unique("worker"),
            "enabled": True,
            "type": "WORKER",
            "protocol": "OPENID_CONNECT",
            "grantTypes": ["CLIENT_CREDENTIALS"],
        },
    )
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    secret = (await admin.get(f"{apps}/{app_id}/secret")).json()["secret"]
    return app_id, secret


async def test_wrong_secret_looks_the_same_for_known_and_unknown_clients(
    client, admin, environment
) -> None:
    environment_id = environment["id"]
    app_id, secret = await new_worker(admin, environment_id)
    token_path = f"/{environment_id}/as/token"
    grant = {"grant_type": "client_credentials"}
    answers = {}
    for case, auth in {
        "known client, wrong secret": (app_id, secret[:-1] + ("A" if secret[-1] != "A" else "B")),
        "known client, secret prefix": (app_id, secret[:10]),
        "known client, secret with suffix": (app_id, secret + "x"),
        "unknown client": (str(uuid.uuid4()), secret),
        "unknown client, not a uuid": ("nobody", secret),
    }.items():
        ATTACKS["tried"] += 1
        response = await client.post(token_path, data=grant, auth=auth)
        assert response.status_code == 401, (case, response.text)
        assert response.json()["error"] == "invalid_client", (case, response.text)
        answers[case] = (response.json(), response.headers.get("www-authenticate"))
    assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1, answers
    # and the right secret still works
    response = await client.post(token_path, data=grant, auth=(app_id, secret))
    assert response.status_code == 200, response.text


async def test_secrets_and_signing_keys_are_not_stored_in_plaintext(
    deployment, admin, environment
) -> None:
    _, secret = await new_worker(admin, environment["id"])
    async with deployment.services.db.read() as conn:
        stored_secrets = list(await conn.scalars(select(applications.c.client_secret)))
        stored_keys = list(await conn.scalars(select(signing_keys.c.private_key)))
    plaintexts = [secret, deployment.admin.client_secret]
    assert stored_secrets and stored_keys
    for stored in stored_secrets:
        for plaintext in plaintexts:
            assert plaintext not in stored
            assert base64.urlsafe_b64encode(plaintext.encode()).decode() not in stored
    for stored in stored_keys:
        assert "PRIVATE KEY" not in stored and "BEGIN" not in stored
        assert not stored.lstrip().startswith("MII"), "a bare base64 DER key"


def signed(deployment, **claims: Any) -> str:
    now = int(time.time())
    creds = deployment.admin
    payload = {
        "client_id": creds.client_id,
        "iss": f"http://populace.test/{creds.environment_id}/as",
        "aud": ["http://populace.test"],
        "scope": "",
        "iat": now,
        "exp": now + 7200,
        "env": creds.environment_id,
        "org": creds.organization_id,
        **claims,
    }
    key = deployment.services.keys.current
    return jwt.encode(payload, key.private_key, algorithm="RS256", headers={"kid": key.kid})


async def test_tokens_from_the_future_are_401(client, deployment) -> None:
    path = f"/v1/environments/{deployment.admin.environment_id}/populations"
    control = await client.get(path, headers=bearer(signed(deployment)))
    assert control.status_code == 200, control.text
    # Each case's times count from when its token is made, so "in a minute" is still in the
    # future when the request arrives, however slowly the cases before it ran.
    for case, claims_at in {
        "iat in an hour": lambda now: {"iat": now + 3600},
        "iat in a minute": lambda now: {"iat": now + 60},
        "nbf in an hour": lambda now: {"nbf": now + 3600},
        "nbf in a minute": lambda now: {"nbf": now + 60},
        "iat and nbf in a day": lambda now: {
            "iat": now + 86400,
            "nbf": now + 86400,
            "exp": now + 90000,
        },
        "iat as a string in the future": lambda now: {"iat": str(now + 3600)},
        "nbf as a string in the future": lambda now: {"nbf": str(now + 3600)},
    }.items():
        ATTACKS["tried"] += 1
        claims = claims_at(int(time.time()))
        response = await client.get(path, headers=bearer(signed(deployment, **claims)))
        assert response.status_code == 401, (case, response.text)
        body = response.json()
        assert body["code"] == "ACCESS_FAILED" and isinstance(body["id"], str), (case, body)
