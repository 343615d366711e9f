"""Populations on the wire: the request body, the response, and the renderer."""

from __future__ import annotations

from typing import Any

import msgspec

from populace.populations.rules import PopulationInput
from populace.wire import UNSET, NamedInEnvironment, Ref, UnsetType, Urls, iso_ms

DEFAULT_LANGUAGE = "en"


class PopulationBody(msgspec.Struct, rename="camel"):
    """The request body of POST and PUT. Read-only and unknown fields are not here, so they are
    ignored, never applied."""

    name: str
    description: str | None = None
    default: bool | None = None
    password_policy: Ref | None = None
    theme: Ref | None = None
    preferred_language: str | None = None
    alternative_identifiers: list[str] | None = None

    def to_input(self) -> PopulationInput:
        return PopulationInput(
            name=self.name,
            description=self.description,
            default=bool(self.default),
            password_policy_id=self.password_policy.id if self.password_policy else None,
            theme_id=self.theme.id if self.theme else None,
            preferred_language=self.preferred_language,
            alternative_identifiers=self.alternative_identifiers,
        )


class Population(NamedInEnvironment, kw_only=True):
    user_count: int
    created_at: str
    updated_at: str
    preferred_language: str
    theme: Ref | UnsetType = UNSET
    password_policy: Ref | UnsetType = UNSET
    alternative_identifiers: list[str] | UnsetType = UNSET
    default: bool


def population_json(urls: Urls, row: Any) -> Population:
    environment_id = row.environment_id
    links = {
        "self": urls.environment(environment_id, f"/populations/{row.id}"),
        "environment": urls.environment(environment_id),
    }
    if row.theme_id is not None:
        links["theme"] = urls.environment(environment_id, f"/themes/{row.theme_id}")
    if row.password_policy_id is not None:
        links["passwordPolicy"] = urls.environment(
            environment_id, f"/passwordPolicies/{row.password_policy_id}"
        )
    return Population(
        links=links,
        id=row.id,
        environment=Ref(environment_id),
        name=row.name,
        description=UNSET if row.description is None else row.description,
        user_count=row.user_count,
        created_at=iso_ms(row.created_at),
        updated_at=iso_ms(row.updated_at),
        preferred_language=row.preferred_language or DEFAULT_LANGUAGE,
        theme=UNSET if row.theme_id is None else Ref(row.theme_id),
        password_policy=UNSET if row.password_policy_id is None else Ref(row.password_policy_id),
        alternative_identifiers=(
            UNSET if row.alternative_identifiers is None else list(row.alternative_identifiers)
        ),
        default=row.is_default,
    )
