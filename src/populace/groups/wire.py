"""Groups, nestings and memberships on the wire."""

from __future__ import annotations

from typing import Any

import msgspec

from populace.groups.rules import GroupInput
from populace.wire import UNSET, NamedInEnvironment, Ref, UnsetType, Urls, iso_ms


class GroupBody(msgspec.Struct, kw_only=True, rename="camel"):
    """POST and PUT body. ``population`` counts on create only."""

    name: str
    description: str | None = None
    population: Ref | None = None
    user_filter: str | None = None
    external_id: str | None = None
    custom_data: dict[str, Any] | None = None

    def to_input(self) -> GroupInput:
        return GroupInput(
            name=self.name,
            description=self.description,
            population_id=self.population.id if self.population else None,
            user_filter=self.user_filter,
            external_id=self.external_id,
            custom_data=self.custom_data,
        )


class MemberCounts(msgspec.Struct):
    users: int


class Group(NamedInEnvironment, kw_only=True):
    display_name: str
    population: Ref | UnsetType = UNSET
    user_filter: str | UnsetType = UNSET
    external_id: str | UnsetType = UNSET
    custom_data: dict[str, Any] | UnsetType = UNSET
    direct_member_counts: MemberCounts
    # Only with ?include=totalMemberCounts, on a single read.
    total_member_counts: MemberCounts | UnsetType = UNSET
    created_at: str
    updated_at: str


class GroupMembership(NamedInEnvironment, kw_only=True):
    """A group the user (or group) in the path belongs to."""

    type: str = "DIRECT"


def _unset(value: Any) -> Any:
    return UNSET if value is None else value


def group_json(urls: Urls, row: Any, total_members: int | None = None) -> Group:
    path = f"/groups/{row.id}"
    return Group(
        links={
            "self": urls.environment(row.environment_id, path),
            "environment": urls.environment(row.environment_id),
            "memberOfGroups": urls.environment(row.environment_id, f"{path}/memberOfGroups"),
        },
        id=row.id,
        environment=Ref(row.environment_id),
        name=row.name,
        description=_unset(row.description),
        display_name=row.name,
        population=UNSET if row.population_id is None else Ref(row.population_id),
        user_filter=_unset(row.user_filter),
        external_id=_unset(row.external_id),
        custom_data=_unset(row.custom_data),
        direct_member_counts=MemberCounts(row.direct_member_count),
        total_member_counts=UNSET if total_members is None else MemberCounts(total_members),
        created_at=iso_ms(row.created_at),
        updated_at=iso_ms(row.updated_at),
    )


def _membership(urls: Urls, row: Any, holder: str) -> GroupMembership:
    return GroupMembership(
        links={
            "self": urls.environment(row.environment_id, f"{holder}/memberOfGroups/{row.id}"),
            "group": urls.environment(row.environment_id, f"/groups/{row.id}"),
        },
        id=row.id,
        environment=Ref(row.environment_id),
        name=row.name,
        description=_unset(row.description),
    )


def nesting_json(urls: Urls, row: Any) -> GroupMembership:
    """A group the path's group is nested into (row: that group, with ``child_id``)."""
    return _membership(urls, row, f"/groups/{row.child_id}")


def membership_json(urls: Urls, row: Any) -> GroupMembership:
    """A group the path's user belongs to directly (row: that group, with ``user_id``)."""
    return _membership(urls, row, f"/users/{row.user_id}")
