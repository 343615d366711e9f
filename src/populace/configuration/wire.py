"""Password policies and themes on the wire."""

from __future__ import annotations

from typing import Any

import msgspec

from populace.wire import UNSET, InEnvironment, NamedInEnvironment, Ref, Urls, iso_ms


class PasswordPolicy(NamedInEnvironment, kw_only=True):
    default: bool
    excludes_profile_data: bool
    not_similar_to_current: bool
    excludes_commonly_used: bool
    min_complexity: int
    max_age_days: int
    min_age_days: int
    history: dict[str, int]
    lockout: dict[str, int]
    length: dict[str, int]
    min_characters: dict[str, int]
    max_repeated_characters: int
    min_unique_characters: int
    population_count: int
    created_at: str
    updated_at: str


class Theme(InEnvironment, kw_only=True):
    template: str
    default: bool
    configuration: dict[str, Any]
    created_at: str
    updated_at: str


_POLICY_SETTINGS = {
    field.encode_name: field.name for field in msgspec.structs.fields(PasswordPolicy)
}


def password_policy_json(urls: Urls, row: Any) -> PasswordPolicy:
    # The settings are stored as PingOne spells them (camelCase); the struct's names are ours.
    settings = {_POLICY_SETTINGS[key]: value for key, value in row.settings.items()}
    return PasswordPolicy(
        links={"self": urls.environment(row.environment_id, f"/passwordPolicies/{row.id}")},
        id=row.id,
        environment=Ref(row.environment_id),
        name=row.name,
        description=UNSET if row.description is None else row.description,
        default=row.is_default,
        created_at=iso_ms(row.created_at),
        updated_at=iso_ms(row.updated_at),
        **settings,
    )


def theme_json(urls: Urls, row: Any) -> Theme:
    return Theme(
        links={"self": urls.environment(row.environment_id, f"/themes/{row.id}")},
        id=row.id,
        environment=Ref(row.environment_id),
        template=row.template,
        default=row.is_default,
        configuration=row.configuration,
        created_at=iso_ms(row.created_at),
        updated_at=iso_ms(row.updated_at),
    )
