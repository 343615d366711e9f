"""userCount stays exact when creates, moves and deletes race in one environment (issue 4)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.test_users import (
    assert_counts_real,
    create_population,
    create_user,
    default_population_id,
    list_users,
    move,
    population_path,
    user_body,
    users_path,
)

Json = dict[str, Any]
# One operation: a request, and the statuses that are right for it whatever runs beside it.
Operation = tuple[Callable[[], Awaitable[httpx.Response]], set[int]]


@dataclass
class Ops:
    """Builds the operations of one environment."""

    client: httpx.AsyncClient
    env_id: str

    def create(self, pop: str | None, ok: tuple[int, ...] = (201,)) -> Operation:
        return (lambda: self.client.post(users_path(self.env_id), json=user_body(pop)), set(ok))

    def move(self, user: Json, pop: str, ok: tuple[int, ...] = (200,)) -> Operation:
        return (lambda: move(self.client, self.env_id, user["id"], pop), set(ok))

    def delete(self, user: Json, ok: tuple[int, ...] = (204,)) -> Operation:
        return (lambda: self.client.delete(users_path(self.env_id, user["id"])), set(ok))

    def delete_population(self, pop: str) -> Operation:
        return (lambda: self.client.delete(population_path(self.env_id, pop)), {204, 400, 404})


async def run_all(operations: list[Operation]) -> list[httpx.Response]:
    """Start every operation at once; each answer must be one its operation allows."""
    responses = await asyncio.gather(*(request() for request, _ in operations))
    for response, (_, allowed) in zip(responses, operations, strict=True):
        assert response.status_code in allowed, (response.request.method, response.text)
    return responses


def deletes_of(responses: list[httpx.Response], path: str) -> list[int]:
    return sorted(
        r.status_code
        for r in responses
        if r.request.method == "DELETE" and r.request.url.path == path
    )


async def test_concurrent_creates_moves_and_deletes_keep_counts_exact(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    env_id = environment["id"]
    ops = Ops(admin, env_id)
    pops = [await default_population_id(admin, env_id)]
    pops += [await create_population(admin, env_id), await create_population(admin, env_id)]
    seeded = [await create_user(admin, env_id, pops[i % 3]) for i in range(18)]
    await assert_counts_real(admin, env_id, {pop: 6 for pop in pops})

    def elsewhere(user: Json, step: int) -> str:
        return pops[(pops.index(user["population"]["id"]) + step) % 3]

    moved, deleted, deleted_twice = seeded[0:6], seeded[6:9], seeded[9:12]
    contended, delete_and_move = seeded[12:15], seeded[15:18]
    operations = [ops.create(pops[i % 3]) for i in range(9)] + [ops.create(None) for _ in range(3)]
    operations += [ops.move(user, elsewhere(user, 1)) for user in moved]
    operations += [ops.delete(user) for user in deleted]
    # Two deletes of one user at once: exactly one of them deletes it.
    operations += [ops.delete(user, (204, 404)) for user in deleted_twice for _ in range(2)]
    # Three moves of one user at once, to every population in turn.
    operations += [ops.move(user, pop) for user in contended for pop in pops]
    # A delete racing a move of the same user: the move may find it gone.
    for user in delete_and_move:
        operations += [ops.delete(user), ops.move(user, elsewhere(user, 2), (200, 404))]
    assert len(operations) >= 30
    random.Random(4).shuffle(operations)
    responses = await run_all(operations)

    await assert_counts_real(admin, env_id)
    for user in deleted_twice:
        assert deletes_of(responses, users_path(env_id, user["id"])) == [204, 404], user
    listed = {user["id"]: user for user in await list_users(admin, env_id)}
    assert len(listed) == 18 + 12 - 3 * 3
    for user in moved:
        assert listed[user["id"]]["population"]["id"] == elsewhere(user, 1)
    assert not {user["id"] for user in deleted + deleted_twice + delete_and_move} & listed.keys()

    # A second wave: opposite moves between the same populations, racing creates and deletes.
    survivors = list(listed.values())
    wave = [ops.move(user, elsewhere(user, 1 + i % 2)) for i, user in enumerate(survivors[:-4])]
    wave += [ops.delete(user) for user in survivors[-4:]]
    wave += [ops.create(pops[i % 3]) for i in range(6)]
    random.Random(5).shuffle(wave)
    await run_all(wave)
    await assert_counts_real(admin, env_id)
    assert len(await list_users(admin, env_id)) == len(survivors) - 4 + 6


async def test_population_deletes_racing_creates_and_moves_leave_no_orphans(
    admin: httpx.AsyncClient, environment: dict[str, Any]
) -> None:
    """Deleting a population while users are created in or moved into it: either the delete
    wins (and the user request fails) or the user lands (and the delete is refused)."""
    env_id = environment["id"]
    ops = Ops(admin, env_id)
    default = await default_population_id(admin, env_id)
    target_of_creates = await create_population(admin, env_id)
    target_of_moves = await create_population(admin, env_id)
    movers = [await create_user(admin, env_id) for _ in range(10)]
    operations: list[Operation] = []
    for i, user in enumerate(movers):
        operations += [
            ops.create(target_of_creates, (201, 400, 404)),
            ops.move(user, target_of_moves, (200, 400, 404)),
        ]
        if i in (2, 5, 8):
            operations += [
                ops.delete_population(target_of_creates),
                ops.delete_population(target_of_moves),
            ]
    responses = await run_all(operations)

    for pop in (target_of_creates, target_of_moves):
        status = (await admin.get(population_path(env_id, pop))).status_code
        assert status in (200, 404)
        deleted = deletes_of(responses, population_path(env_id, pop)).count(204)
        assert deleted == (1 if status == 404 else 0), (pop, status)
        if status == 404:
            assert await list_users(admin, env_id, f'population.id eq "{pop}"') == []
    for user in await list_users(admin, env_id):
        pop = user["population"]["id"]
        assert pop == default or (await admin.get(population_path(env_id, pop))).status_code == 200
    await assert_counts_real(admin, env_id)
