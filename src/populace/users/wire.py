"""Users on the wire. The import command decodes its JSON lines with :class:`UserBody` too, so
this module imports nothing of HTTP."""

from __future__ import annotations

from typing import Any

import msgspec

from populace.users.rules import UserInput
from populace.wire import UNSET, InEnvironment, Ref, Resource, UnsetType, Urls, iso_ms


class Name(msgspec.Struct, omit_defaults=True):
    given: str | None = None
    family: str | None = None
    middle: str | None = None
    formatted: str | None = None


class UserBody(msgspec.Struct):
    """POST and PUT body. Read-only and unknown fields are not here: ignored, never applied."""

    username: str
    email: str
    name: Name | None = None
    enabled: bool | None = None
    population: Ref | None = None

    def to_input(self) -> UserInput:
        name = self.name or Name()
        return UserInput(
            username=self.username,
            email=self.email,
            given=name.given,
            family=name.family,
            middle=name.middle,
            formatted=name.formatted,
            enabled=True if self.enabled is None else self.enabled,
            population_id=self.population.id if self.population else None,
        )


class User(InEnvironment, kw_only=True):
    population: Ref
    username: str
    email: str
    name: Name | UnsetType = UNSET
    enabled: bool
    created_at: str
    updated_at: str


class UserPopulation(Resource, kw_only=True):
    """A user's population: its links and id."""


def user_json(urls: Urls, row: Any) -> User:
    environment_id = row.environment_id
    name = Name(row.name_given, row.name_family, row.name_middle, row.name_formatted)
    return User(
        links={
            "self": urls.environment(environment_id, f"/users/{row.id}"),
            "environment": urls.environment(environment_id),
            "population": urls.environment(environment_id, f"/populations/{row.population_id}"),
        },
        id=row.id,
        environment=Ref(environment_id),
        population=Ref(row.population_id),
        username=row.username,
        email=row.email,
        name=UNSET if name == Name() else name,
        enabled=row.enabled,
        created_at=iso_ms(row.created_at),
        updated_at=iso_ms(row.updated_at),
    )


def user_population_json(urls: Urls, row: Any) -> UserPopulation:
    # As in PingOne, "self" points at the population resource itself.
    environment_id = row.environment_id
    return UserPopulation(
        links={
            "self": urls.environment(environment_id, f"/populations/{row.population_id}"),
            "environment": urls.environment(environment_id),
        },
        id=row.population_id,
    )
