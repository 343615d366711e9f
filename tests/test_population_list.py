"""Listing populations: the envelope, limit and cursor paging (stable while others write),
filters, and the query strings real clients send."""

from __future__ import annotations

import asyncio
import base64
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.support import assert_error, bearer

Json = dict[str, Any]
BASE_URL = "http://populace.test"


def populations(environment_id: str) -> str:
    return f"/v1/environments/{environment_id}/populations"


async def create_many(admin: httpx.AsyncClient, environment_id: str, names: list[str]) -> list[str]:
    """Create populations concurrently, a batch at a time; their ids in the order of ``names``."""
    ids: list[str] = []
    for start in range(0, len(names), 50):
        responses = await asyncio.gather(
            *(
                admin.post(populations(environment_id), json={"name": name})
                for name in names[start : start + 50]
            )
        )
        for response in responses:
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    return ids


async def get_page(client: httpx.AsyncClient, url: str) -> Json:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return dict(response.json())


def ids_of(page: Json) -> list[str]:
    return [p["id"] for p in page["_embedded"]["populations"]]


def names_of(page: Json) -> set[str]:
    return {p["name"] for p in page["_embedded"]["populations"]}


async def all_pages(client: httpx.AsyncClient, url: str) -> list[Json]:
    """Follow ``_links.next.href`` verbatim until it is gone."""
    pages = [await get_page(client, url)]
    while "next" in pages[-1]["_links"]:
        pages.append(await get_page(client, pages[-1]["_links"]["next"]["href"]))
        assert len(pages) < 10_000
    return pages


# -- a crowded environment, shared by the tests that need more than 1,000 populations ----------

ORIGINALS = 1000
DECOYS = 150


@pytest_asyncio.fixture(scope="module")
async def crowded(deployment, admin_token, license_id) -> AsyncIterator[Json]:
    """An environment holding ``ORIGINALS`` populations plus the bootstrap ``Default`` (kept), and
    ``DECOYS`` more spread among them (the paging test deletes those)."""
    transport = httpx.ASGITransport(app=deployment.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, headers=bearer(admin_token)
    ) as admin:
        response = await admin.post(
            "/v1/environments",
            json={
                "name": f"crowded-{uuid.uuid4().hex[:10]}",
                "type": "SANDBOX",
                "region": "NA",
                "license": {"id": license_id},
            },
        )
        assert response.status_code == 201, response.text
        env_id = response.json()["id"]
        bootstrap = ids_of(await get_page(admin, populations(env_id)))  # just "Default"
        roles = ["original"] * ORIGINALS + ["decoy"] * DECOYS
        random.Random(3).shuffle(roles)
        ids = await create_many(admin, env_id, [f"{r}-{i:04d}" for i, r in enumerate(roles)])
        made = list(zip(ids, roles, strict=True))
        yield {
            "id": env_id,
            "originals": {i for i, role in made if role == "original"} | set(bootstrap),
            "decoys": [i for i, role in made if role == "decoy"],
        }
        await admin.delete(f"/v1/environments/{env_id}")


async def test_paging_sees_every_original_exactly_once_while_others_change(admin, crowded):
    env_id = crowded["id"]
    rng = random.Random(7)
    decoys = list(crowded["decoys"])
    rng.shuffle(decoys)
    inserted: list[str] = []

    async def churn() -> None:
        """Between two pages: insert one population, delete a decoy, sometimes delete a
        population inserted earlier."""
        response = await admin.post(populations(env_id), json={"name": f"new-{uuid.uuid4().hex}"})
        assert response.status_code == 201, response.text
        inserted.append(response.json()["id"])
        doomed = [decoys.pop()] if decoys else []
        if len(inserted) > 1 and rng.random() < 0.3:
            doomed.append(inserted[rng.randrange(len(inserted) - 1)])
        for population_id in doomed:
            deleted = await admin.delete(f"{populations(env_id)}/{population_id}")
            assert deleted.status_code in (204, 404), deleted.text

    page = await get_page(admin, f"{populations(env_id)}?limit=7")
    assert "prev" not in page["_links"]
    seen = ids_of(page)
    while "next" in page["_links"]:
        await churn()
        page = await get_page(admin, page["_links"]["next"]["href"])
        assert 1 <= page["size"] <= 7
        assert "prev" in page["_links"]
        seen.extend(ids_of(page))

    assert len(crowded["decoys"]) - len(decoys) >= 100, "too few pages to churn between"
    assert len(seen) == len(set(seen)), "a population was listed twice"
    originals = crowded["originals"]
    assert originals <= set(seen), f"{len(originals - set(seen))} originals were skipped"
    assert set(seen) <= originals | set(crowded["decoys"]) | set(inserted)


async def test_limit_defaults_to_250_and_is_capped_at_1000(admin, crowded):
    env_id = crowded["id"]
    page = await get_page(admin, populations(env_id))
    assert page["size"] == len(page["_embedded"]["populations"]) == 250
    assert page["count"] > 1000
    assert "next" in page["_links"]

    page = await get_page(admin, f"{populations(env_id)}?limit=5000")
    assert 1 <= page["size"] <= 1000
    assert page["size"] == len(page["_embedded"]["populations"])
    assert "next" in page["_links"]

    page = await get_page(admin, f"{populations(env_id)}?limit=1000")
    assert page["size"] == 1000


# -- the envelope and small pages ---------------------------------------------------------------


@pytest_asyncio.fixture
async def four(admin, environment) -> tuple[str, list[str]]:
    """An environment with Default plus three populations; their ids in list order (by creation
    time, ties broken by id)."""
    env_id = environment["id"]
    made = await create_many(admin, env_id, ["p-1", "p-2", "p-3"])
    ids = ids_of(await get_page(admin, f"{populations(env_id)}?limit=1000"))
    assert len(ids) == 4 and set(made) <= set(ids)
    return env_id, ids


async def test_list_envelope(admin, four):
    env_id, ids = four
    response = await admin.get(populations(env_id))
    assert response.status_code == 200
    page = response.json()
    assert ids_of(page) == ids
    assert page["count"] == 4
    assert page["size"] == 4
    assert page["_links"]["self"]["href"] == f"{BASE_URL}{populations(env_id)}"
    assert "next" not in page["_links"]
    assert "prev" not in page["_links"]
    for item in page["_embedded"]["populations"]:
        assert item["_links"]["self"]["href"] == f"{BASE_URL}{populations(env_id)}/{item['id']}"
        assert item["environment"] == {"id": env_id}
        assert item["userCount"] == 0


async def test_next_and_prev_links(admin, four):
    env_id, ids = four
    url = f"{populations(env_id)}?limit=3"
    first = await get_page(admin, url)
    assert first["_links"]["self"]["href"] == f"{BASE_URL}{url}"
    assert ids_of(first) == ids[:3]
    assert (first["size"], first["count"]) == (3, 4)
    assert "prev" not in first["_links"]

    second = await get_page(admin, first["_links"]["next"]["href"])
    assert ids_of(second) == ids[3:]
    assert second["size"] == 1
    assert "next" not in second["_links"]
    assert "limit=3" in second["_links"]["self"]["href"]

    back = await get_page(admin, second["_links"]["prev"]["href"])
    assert ids_of(back) == ids[:3]
    assert "prev" not in back["_links"]
    assert "next" in back["_links"]


async def test_pages_of_one_visit_each_population_once(admin, four):
    env_id, ids = four
    pages = await all_pages(admin, f"{populations(env_id)}?limit=1")
    assert [i for page in pages for i in ids_of(page)] == ids
    assert all(page["size"] == 1 for page in pages)


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "1e3", " "])
async def test_invalid_limit_is_rejected(admin, environment, limit):
    response = await admin.get(populations(environment["id"]), params={"limit": limit})
    assert_error(response, 400, "INVALID_DATA")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        "abc",
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b'[0, "x", 1]').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
async def test_bad_cursor_is_rejected(admin, environment, cursor):
    response = await admin.get(populations(environment["id"]), params={"cursor": cursor})
    assert_error(response, 400, "INVALID_DATA")


# -- filters ------------------------------------------------------------------------------------

NAMES = ["a-1", "a-2", "A-10", "b-1", "Alpha", "a-z", "k+v=1", "Straße"]


@pytest_asyncio.fixture
async def named(admin, environment) -> tuple[str, dict[str, str]]:
    env_id = environment["id"]
    ids = await create_many(admin, env_id, NAMES)
    return env_id, dict(zip(NAMES, ids, strict=True))


async def filtered(admin: httpx.AsyncClient, environment_id: str, text: str) -> Json:
    query = httpx.QueryParams({"filter": text})
    return await get_page(admin, f"{populations(environment_id)}?{query}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name eq "a-1"', {"a-1"}),
        ('name eq "A-1"', {"a-1"}),
        ('name EQ "alpha"', {"Alpha"}),
        ('name eq "default"', {"Default"}),
        ('name eq "STRASSE"', {"Straße"}),
        ('name sw "a-"', {"a-1", "a-2", "A-10", "a-z"}),
        ('name sw "A"', {"a-1", "a-2", "A-10", "a-z", "Alpha"}),
        ('name sw "a-1"', {"a-1", "A-10"}),
        ('name sw "strass"', {"Straße"}),
        ('name eq "a-1" or name eq "b-1"', {"a-1", "b-1"}),
        ('name eq "a-1" OR name eq "b-1"', {"a-1", "b-1"}),
        ('name sw "a" and name sw "a-1"', {"a-1", "A-10"}),
        ('name sw "a" AND name sw "a-1"', {"a-1", "A-10"}),
        ('name sw "a" aNd name eq "alpha" Or name eq "b-1"', {"Alpha", "b-1"}),
        ('name sw "a-" and (name eq "a-2" or name eq "a-z")', {"a-2", "a-z"}),
        ('((name eq "a-1")) OR ((name eq "a-2"))', {"a-1", "a-2"}),
        ('(((name sw "b")))', {"b-1"}),
        ('name eq "nobody"', set()),
        ('name sw "zzz"', set()),
        ('name eq "a-1" and name eq "a-2"', set()),
        ('name eq "k+v=1"', {"k+v=1"}),
    ],
)
async def test_filters(admin, named, text, expected):
    env_id, _ = named
    page = await filtered(admin, env_id, text)
    assert names_of(page) == expected
    assert page["count"] == page["size"] == len(expected)


async def test_filter_by_id(admin, named):
    env_id, ids = named
    page = await filtered(admin, env_id, f'id eq "{ids["b-1"]}"')
    assert ids_of(page) == [ids["b-1"]]
    page = await filtered(admin, env_id, f'id eq "{ids["b-1"]}" or id eq "{ids["a-2"]}"')
    assert set(ids_of(page)) == {ids["b-1"], ids["a-2"]}
    page = await filtered(admin, env_id, f'id eq "{uuid.uuid4()}"')
    assert ids_of(page) == []


async def test_filter_does_not_reach_other_environments(admin, named, make_environment):
    env_id, _ = named
    other = await make_environment()
    await create_many(admin, other["id"], ["a-1-elsewhere"])
    assert names_of(await filtered(admin, env_id, 'name sw "a-1"')) == {"a-1", "A-10"}


async def test_filtered_pages_keep_the_filter(admin, named):
    env_id, _ = named
    query = httpx.QueryParams({"filter": 'name sw "a-"', "limit": 1})
    url = f"{populations(env_id)}?{query}"
    pages = await all_pages(admin, url)
    assert [page["size"] for page in pages] == [1, 1, 1, 1]
    assert {name for page in pages for name in names_of(page)} == {"a-1", "a-2", "A-10", "a-z"}


@pytest.mark.parametrize(
    "text",
    [
        'name co "x"',
        'name ew "x"',
        'name ne "x"',
        'description eq "x"',
        'id sw "x"',
        'userCount eq "0"',
        "name eq",
        "name",
        'eq "x"',
        '(name eq "x"',
        'name eq "x")',
        '((name eq "x")',
        "name eq x",
        'name eq "x',
        'name eq "x" and',
        'and name eq "x"',
        'name eq "x" name eq "y"',
        'name eq "x" xor name eq "y"',
        "name eq true",
        "()",
        'name = "x"',
        "(" * 40 + 'name eq "x"' + ")" * 40,
        'name eq "' + "x" * 5000 + '"',
    ],
)
async def test_bad_filters_are_rejected(admin, environment, text):
    response = await admin.get(populations(environment["id"]), params={"filter": text})
    assert_error(response, 400, "INVALID_DATA", "INVALID_FILTER")


@pytest.mark.parametrize("value", ["\ud7ff", "a\ud7ff", "\uffff", "\U0010ffff", "é", "日本"])
async def test_name_sw_with_values_near_the_ends_of_unicode(admin, environment, value):
    env_id = environment["id"]
    created = await admin.post(populations(env_id), json={"name": f"{value}-tail"})
    assert created.status_code == 201, created.text
    page = await filtered(admin, env_id, f'name sw "{value}"')
    assert names_of(page) == {f"{value}-tail"}


# -- what real clients send ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "filter=name+eq+%22a-1%22",
        "filter=name%20eq%20%22a-1%22",
        "filter=name%20eq%20%22a%2d1%22",
        "filter=name%20EQ%20%22A%2D1%22",
        "filter=%28%28name+eq+%22a-1%22%29%29",
        "&filter=name+eq+%22a-1%22",
        "filter=name+eq+%22a-1%22&",
        "limit=&filter=name+eq+%22a-1%22",
        "filter=&filter=name+eq+%22a-1%22",
    ],
)
async def test_tolerated_query_strings(admin, named, query):
    env_id, ids = named
    page = await get_page(admin, f"{populations(env_id)}?{query}")
    assert ids_of(page) == [ids["a-1"]]


async def test_lower_case_percent_escapes_in_values(admin, named):
    env_id, ids = named
    page = await get_page(admin, f"{populations(env_id)}?filter=name%20eq%20%22k%2bv%3d1%22")
    assert ids_of(page) == [ids["k+v=1"]]
    page = await get_page(admin, f"{populations(env_id)}?filter=name%20eq%20%22stra%c3%9fe%22")
    assert ids_of(page) == [ids["Straße"]]


async def test_empty_and_repeated_parameters(admin, named):
    env_id, _ = named
    everything = len(NAMES) + 1
    page = await get_page(admin, f"{populations(env_id)}?&limit=100")
    assert page["size"] == everything
    page = await get_page(admin, f"{populations(env_id)}?limit=&filter=&cursor=")
    assert page["size"] == everything
    page = await get_page(admin, f"{populations(env_id)}?limit=2&limit=3")
    assert page["size"] in (2, 3)
    assert "next" in page["_links"]
    # following next from such a request still visits everything exactly once
    pages = await all_pages(admin, f"{populations(env_id)}?&limit=2&limit=3")
    seen = [i for p in pages for i in ids_of(p)]
    assert len(seen) == len(set(seen)) == everything
