"""Password policies and themes on the wire."""

from __future__ import annotations

from typing import Any

import msgspec

from populace.wire import InEnvironment, Links, Ref, Urls, iso_ms


class Length(msgspec.Struct, omit_defaults=True):
    min: int | None = None
    max: int | None = None


class History(msgspec.Struct, rename="camel"):
    count: int
    retention_days: int


class Lockout(msgspec.Struct, rename="camel"):
    failure_count: int
    duration_seconds: int


class SequenceRule(msgspec.Struct, rename="camel"):
    max_length: int


class PolicySettings(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """A password policy's rules, as PingOne spells them; stored as they are encoded, and an
    absent rule is not enforced."""

    excludes_commonly_used: bool
    excludes_profile_data: bool
    not_similar_to_current: bool
    length: Length | None = None
    min_characters: dict[str, int] | None = None
    max_repeated_characters: int | None = None
    min_unique_characters: int | None = None
    min_complexity: int | None = None
    history: History | None = None
    lockout: Lockout | None = None
    max_age_days: int | None = None
    min_age_days: int | None = None
    alphabet_sequence_rule: SequenceRule | None = None
    number_sequence_rule: SequenceRule | None = None
    qwerty_sequence_rule: SequenceRule | None = None
    shifted_number_row_sequence_rule: SequenceRule | None = None


class PasswordPolicyBody(PolicySettings, kw_only=True):
    """POST and PUT (PUT replaces it all). Read-only and unknown fields are ignored."""

    name: str
    description: str | None = None
    default: bool = False

    def settings(self) -> dict[str, Any]:
        """The rules alone, as they are stored."""
        encoded = msgspec.to_builtins(self)
        for key in ("name", "description", "default"):
            encoded.pop(key, None)
        return encoded


class PasswordPolicy(PolicySettings, kw_only=True):
    links: Links = msgspec.field(name="_links")
    id: str
    environment: Ref
    name: str
    description: str | None = None
    default: bool
    population_count: int | None = None  # absent while no population names the policy
    created_at: str
    updated_at: str


class Theme(InEnvironment, kw_only=True):
    template: str
    default: bool
    configuration: dict[str, Any]
    created_at: str
    updated_at: str


def password_policy_json(urls: Urls, row: Any) -> PasswordPolicy:
    """``row``: a ``password_policies`` row with its ``population_count``."""
    return msgspec.convert(
        {
            **row.settings,
            "_links": {"self": urls.environment(row.environment_id, f"/passwordPolicies/{row.id}")},
            "id": row.id,
            "environment": {"id": row.environment_id},
            "name": row.name,
            "description": row.description,
            "default": row.is_default,
            "populationCount": row.population_count or None,
            "createdAt": iso_ms(row.created_at),
            "updatedAt": iso_ms(row.updated_at),
        },
        PasswordPolicy,
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
