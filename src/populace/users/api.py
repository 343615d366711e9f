"""HTTP: /v1/environments/{envID}/users and a user's population."""

from __future__ import annotations

from populace.auth.roles import Permission as P
from populace.http.dispatch import Call
from populace.http.lists import Listing
from populace.http.router import ApiRouter
from populace.users import rules, store
from populace.users.wire import User, UserBody, UserPopulation, user_json, user_population_json
from populace.wire import Ref

router = ApiRouter("Users")

USERS = "/environments/{envID}/users"
USER = USERS + "/{userID}"

# No total count: counting millions of users per page would cost more than the page.
router.listing(
    USERS, Listing("users", user_json, store.LIST, count=False), P.USER_READ, partial=True
)


@router.post(USERS, P.USER_CREATE, partial=True)
async def create_user(call: Call[UserBody]) -> User:
    """Create a user."""
    return user_json(
        call.urls, await rules.create_user(call.conn, call.access, call.body.to_input())
    )


@router.get(USER, P.USER_READ, partial=True)
async def read_user(call: Call[None]) -> User:
    """Read a user."""
    return user_json(call.urls, await rules.read_user(call.conn, call.access, call.param("userID")))


@router.put(USER, P.USER_UPDATE, partial=True)
async def replace_user(call: Call[UserBody]) -> User:
    """Replace a user."""
    user_id, body = call.param("userID"), call.body.to_input()
    return user_json(call.urls, await rules.replace_user(call.conn, call.access, user_id, body))


@router.delete(USER, P.USER_DELETE, partial=True)
async def delete_user(call: Call[None]) -> None:
    """Delete a user."""
    await rules.delete_user(call.conn, call.access, call.param("userID"))


@router.get(USER + "/population", P.USER_READ, partial=True)
async def read_user_population(call: Call[None]) -> UserPopulation:
    """Read a user's population."""
    row = await rules.read_user(call.conn, call.access, call.param("userID"))
    return user_population_json(call.urls, row)


@router.put(USER + "/population", P.USER_UPDATE, partial=True)
async def move_user(call: Call[Ref]) -> UserPopulation:
    """Move a user to another population."""
    row = await rules.move_user(call.conn, call.access, call.param("userID"), call.body.id)
    return user_population_json(call.urls, row)
