"""HTTP: /v1/environments/{envID}/groups and their nesting."""

from __future__ import annotations

from populace.auth.roles import Permission as P
from populace.groups import rules, store
from populace.groups.wire import (
    Group,
    GroupBody,
    GroupMembership,
    group_json,
    nesting_json,
)
from populace.http.dispatch import Call
from populace.http.lists import Listing
from populace.http.router import ApiRouter
from populace.wire import Ref

router = ApiRouter("Groups")

GROUPS = "/environments/{envID}/groups"
GROUP = GROUPS + "/{groupID}"
NESTINGS = GROUP + "/memberOfGroups"
NESTING = NESTINGS + "/{parentID}"

router.listing(GROUPS, Listing("groups", group_json, store.LIST), P.GROUP_READ, partial=True)
router.listing(
    NESTINGS,
    Listing("groupMemberships", nesting_json, store.PARENTS),
    P.GROUP_READ,
    partial=True,
    name="list_group_nestings",
)


@router.post(GROUPS, P.GROUP_CREATE, partial=True)
async def create_group(call: Call[GroupBody]) -> Group:
    """Create a group."""
    return group_json(
        call.urls, await rules.create_group(call.conn, call.access, call.body.to_input())
    )


@router.get(GROUP, P.GROUP_READ, partial=True)
async def read_group(call: Call[None]) -> Group:
    """Read a group (``include=totalMemberCounts`` adds its members, nested ones too)."""
    group_id = call.param("groupID")
    row = await rules.read_group(call.conn, call.access, group_id)
    total = None
    if "totalMemberCounts" in call.includes():
        total = await rules.total_members(call.conn, call.access, group_id)
    return group_json(call.urls, row, total)


@router.put(GROUP, P.GROUP_UPDATE, partial=True)
async def replace_group(call: Call[GroupBody]) -> Group:
    """Replace a group."""
    group_id, body = call.param("groupID"), call.body.to_input()
    return group_json(call.urls, await rules.replace_group(call.conn, call.access, group_id, body))


@router.delete(GROUP, P.GROUP_DELETE, partial=True)
async def delete_group(call: Call[None]) -> None:
    """Delete a group."""
    await rules.delete_group(call.conn, call.access, call.param("groupID"))


@router.post(NESTINGS, P.GROUP_UPDATE, partial=True)
async def nest_group(call: Call[Ref]) -> GroupMembership:
    """Make the group a member of another group."""
    row = await rules.nest(call.conn, call.access, call.param("groupID"), call.body.id)
    return nesting_json(call.urls, row)


@router.get(NESTING, P.GROUP_READ, partial=True)
async def read_nesting(call: Call[None]) -> GroupMembership:
    """Read a group's membership of another group."""
    group_id, parent_id = call.param("groupID"), call.param("parentID")
    return nesting_json(
        call.urls, await rules.read_nesting(call.conn, call.access, group_id, parent_id)
    )


@router.delete(NESTING, P.GROUP_UPDATE, partial=True)
async def unnest_group(call: Call[None]) -> None:
    """Take the group out of another group."""
    await rules.unnest(call.conn, call.access, call.param("groupID"), call.param("parentID"))
