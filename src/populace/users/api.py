"""HTTP: /v1/environments/{envID}/users, a user's population, flags and group memberships."""

from __future__ import annotations

from typing import Any

from populace.auth.roles import Permission as P
from populace.groups import rules as group_rules
from populace.groups import store as group_store
from populace.groups.wire import GroupMembership, membership_json
from populace.http.dispatch import Call
from populace.http.lists import Listing
from populace.http.router import ApiRouter
from populace.passwords import rules as password_rules
from populace.services import Services
from populace.users import rules, store
from populace.users.wire import (
    MEMBER_OF_GROUPS,
    OWN_ATTRIBUTES,
    USER_IMPORT,
    NewUserBody,
    OwnAttribute,
    User,
    UserBody,
    UserImportBody,
    UserPatch,
    UserPopulation,
    user_json,
    user_population_json,
)
from populace.wire import Ref, Resource

router = ApiRouter("Users")

USERS = "/environments/{envID}/users"
USER = USERS + "/{userID}"
MEMBERSHIPS = USER + "/memberOfGroups"
MEMBERSHIP = MEMBERSHIPS + "/{groupID}"

router.listing(USERS, Listing("users", user_json, store.LIST), P.USER_READ, partial=True)
router.listing(
    MEMBERSHIPS,
    Listing("groupMemberships", membership_json, group_store.MEMBERSHIPS),
    P.MEMBERSHIP_READ,
    partial=True,
    name="list_user_group_memberships",
)


async def _hash_new_password(services: Services, body: NewUserBody) -> str | None:
    if body.password is None:
        return None
    return await password_rules.prepare_new(services.hasher, body.password.value)


async def _create(call: Call[Any]) -> User:
    row = await rules.create_user(call.conn, call.access, call.body.to_input())
    password = call.body.password
    if password is not None:
        await password_rules.give_new_user(
            call.conn, call.access.environment, row, password.value, call.prepared,
            password.force_change,
        )  # fmt: skip
    return user_json(call.urls, row)


@router.post(USERS, P.USER_CREATE, partial=True, prepare=_hash_new_password)
async def create_user(call: Call[NewUserBody]) -> User:
    """Create a user (with its password, when the body has one)."""
    return await _create(call)


@router.post(USERS, P.USER_CREATE, partial=True, prepare=_hash_new_password, media_type=USER_IMPORT)
async def import_user(call: Call[UserImportBody]) -> User:
    """Import a user: a create that may also set the lifecycle status and ``emailVerified``,
    and bring a password hashed elsewhere (``{SSHA512}...``, ``{BCRYPT}...``)."""
    return await _create(call)


@router.get(USER, P.USER_READ, partial=True)
async def read_user(call: Call[None]) -> User:
    """Read a user (``include=memberOfGroupIDs`` or ``memberOfGroupNames`` adds its groups)."""
    row = await rules.read_user(call.conn, call.access, call.param("userID"))
    wanted = call.includes() & MEMBER_OF_GROUPS
    groups = None
    if wanted:
        groups = await group_rules.groups_of_user(call.conn, call.access, row)
    return user_json(call.urls, row, groups, wanted)


@router.put(USER, P.USER_UPDATE, partial=True)
async def replace_user(call: Call[UserBody]) -> User:
    """Replace a user."""
    user_id, body = call.param("userID"), call.body.to_input()
    return user_json(call.urls, await rules.replace_user(call.conn, call.access, user_id, body))


@router.patch(USER, P.USER_UPDATE, partial=True)
async def update_user(call: Call[UserPatch]) -> User:
    """Update a user: what the body names changes, the rest stays."""
    user_id = call.param("userID")
    # Locked until the write: a concurrent PATCH must not write back a stale copy of this one.
    row = await rules.read_user(call.conn, call.access, user_id, for_update=True)
    current = user_json(call.urls, row)
    body = call.body.applied_to(current).to_input()
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


# Each attribute served on its own: (summary of GET, summary of PUT).
_OWN_SUMMARIES = {
    "enabled": ("Read whether a user is enabled.", "Enable or disable a user."),
    "mfaEnabled": (
        "Read whether a user has multi-factor authentication enabled.",
        "Turn a user's multi-factor authentication on or off.",
    ),
    "verifyStatus": (
        "Read a user's identity verification status.",
        "Set a user's identity verification status.",
    ),
}


def _declare_own_attribute(attribute: OwnAttribute) -> None:
    """GET and PUT ``.../users/{userID}/<attribute>``."""

    async def read(call: Call[None]) -> Resource:
        row = await rules.read_user(call.conn, call.access, call.param("userID"))
        return attribute.render(call.urls, row)

    async def write(call: Call[Any]) -> Resource:
        value = getattr(call.body, attribute.column)
        row = await rules.set_flag(
            call.conn, call.access, call.param("userID"), attribute.column, value
        )
        return attribute.render(call.urls, row)

    read_summary, write_summary = _OWN_SUMMARIES[attribute.path]
    for handler, verb, summary, body in (
        (read, "read", read_summary, None),
        (write, "set", write_summary, attribute.body),
    ):
        handler.__name__ = f"{verb}_user_{attribute.column}"
        handler.__doc__ = summary
        # The router reads the body and response types from the annotations.
        handler.__annotations__ = {"call": Call[body], "return": attribute.response}  # type: ignore[valid-type]
    router.get(f"{USER}/{attribute.path}", P.USER_READ, partial=True)(read)
    router.put(f"{USER}/{attribute.path}", P.USER_UPDATE, partial=True)(write)


for _attribute in OWN_ATTRIBUTES:
    _declare_own_attribute(_attribute)


@router.post(MEMBERSHIPS, P.MEMBERSHIP_UPDATE, partial=True)
async def add_to_group(call: Call[Ref]) -> GroupMembership:
    """Add a user to a group."""
    user = await rules.read_user(call.conn, call.access, call.param("userID"), for_update=True)
    row = await group_rules.add_member(call.conn, call.access, user, call.body.id)
    return membership_json(call.urls, row)


@router.get(MEMBERSHIP, P.MEMBERSHIP_READ, partial=True)
async def read_group_membership(call: Call[None]) -> GroupMembership:
    """Read a user's membership of a group."""
    user_id, group_id = call.param("userID"), call.param("groupID")
    await rules.read_user(call.conn, call.access, user_id)
    row = await group_rules.read_membership(call.conn, call.access, user_id, group_id)
    return membership_json(call.urls, row)


@router.delete(MEMBERSHIP, P.MEMBERSHIP_UPDATE, partial=True)
async def remove_from_group(call: Call[None]) -> None:
    """Remove a user from a group."""
    user_id, group_id = call.param("userID"), call.param("groupID")
    await rules.read_user(call.conn, call.access, user_id, for_update=True)
    await group_rules.remove_member(call.conn, call.access, user_id, group_id)
