"""Users on the wire: the whole PingOne user. The import command decodes its JSON lines with
:class:`UserBody` too, so this module imports nothing of HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import Set
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from populace.users.rules import UserInput
from populace.wire import UNSET, Link, Links, Ref, Resource, UnsetType, Urls, iso_ms


class Name(msgspec.Struct, omit_defaults=True, rename="camel"):
    given: str | None = None
    family: str | None = None
    middle: str | None = None
    formatted: str | None = None
    honorific_prefix: str | None = None
    honorific_suffix: str | None = None


class Address(msgspec.Struct, omit_defaults=True, rename="camel"):
    street_address: str | None = None
    locality: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country_code: str | None = None


class Photo(msgspec.Struct):
    href: str


class Profile(msgspec.Struct, kw_only=True, omit_defaults=True, rename="camel"):
    """The attributes of a user that PingOne stores and returns as they were sent."""

    external_id: str | None = None
    address: Address | None = None
    locale: str | None = None
    nickname: str | None = None
    title: str | None = None
    type: str | None = None
    preferred_language: str | None = None
    timezone: str | None = None
    mobile_phone: str | None = None
    primary_phone: str | None = None
    photo: Photo | None = None


# Profile attributes kept in the ``profile`` column (externalId has a column of its own).
_IN_PROFILE = [f.encode_name for f in msgspec.structs.fields(Profile) if f.name != "external_id"]


class UserBody(Profile, kw_only=True):
    """POST, PUT (and PATCH, once merged) body. Read-only and unknown fields are not here:
    ignored, never applied. ``enabled`` and ``mfaEnabled`` count on create only."""

    username: str
    email: str
    name: Name | None = None
    enabled: bool | None = None
    mfa_enabled: bool | None = None
    population: Ref | None = None

    def to_input(self) -> UserInput:
        name = self.name or Name()
        profile = {
            key: value
            for key, value in msgspec.to_builtins(self).items()
            if key in _IN_PROFILE and value is not None
        }
        honorifics = {
            key: value
            for key, value in msgspec.to_builtins(name).items()
            if key.startswith("honorific")
        }
        if honorifics:
            profile["name"] = honorifics
        return UserInput(
            username=self.username,
            email=self.email,
            given=name.given,
            family=name.family,
            middle=name.middle,
            formatted=name.formatted,
            enabled=True if self.enabled is None else self.enabled,
            mfa_enabled=bool(self.mfa_enabled),
            population_id=self.population.id if self.population else None,
            external_id=self.external_id,
            profile=profile,
        )


class NewUserPassword(msgspec.Struct, kw_only=True, rename="camel"):
    value: str
    force_change: bool = False


class NewUserBody(UserBody, kw_only=True):
    """POST: a user may come with its password (cleartext, checked against the policy, or
    pre-encoded, as for ``password.set``)."""

    password: NewUserPassword | None = None


# ``POST .../users`` with this Content-Type imports a user: a plain create that may also set
# what only an import sets (the lifecycle status, ``emailVerified``).
USER_IMPORT = "application/vnd.pingidentity.user.import+json"


class ImportedLifecycle(msgspec.Struct, kw_only=True, rename="camel"):
    status: Literal["ACCOUNT_OK", "VERIFICATION_REQUIRED"] = "ACCOUNT_OK"
    # PingOne e-mails a verification code unless told not to; populace sends no e-mail.
    suppress_verification_code: bool = False


class UserImportBody(NewUserBody, kw_only=True):
    lifecycle: ImportedLifecycle | None = None
    email_verified: bool | None = None

    def to_input(self) -> UserInput:
        return dataclasses.replace(
            super().to_input(),
            lifecycle_status=(self.lifecycle or ImportedLifecycle()).status,
            email_verified=bool(self.email_verified),
        )


class UserPatch(msgspec.Struct, kw_only=True, rename="camel"):
    """PATCH: what is sent replaces (``null`` clears); what is absent stays. Objects (name,
    address, photo) are replaced whole."""

    username: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    name: Name | UnsetType | None = UNSET
    external_id: str | UnsetType | None = UNSET
    address: Address | UnsetType | None = UNSET
    locale: str | UnsetType | None = UNSET
    nickname: str | UnsetType | None = UNSET
    title: str | UnsetType | None = UNSET
    type: str | UnsetType | None = UNSET
    preferred_language: str | UnsetType | None = UNSET
    timezone: str | UnsetType | None = UNSET
    mobile_phone: str | UnsetType | None = UNSET
    primary_phone: str | UnsetType | None = UNSET
    photo: Photo | UnsetType | None = UNSET

    def applied_to(self, current: User) -> UserBody:
        """The whole body that results from this patch over the user as it is."""
        merged = {
            key: value for key, value in msgspec.to_builtins(current).items() if key in _BODY_FIELDS
        }
        merged.update(msgspec.to_builtins(self))  # UNSET fields are left out
        return msgspec.convert(merged, UserBody)


_BODY_FIELDS = {f.encode_name for f in msgspec.structs.fields(UserBody)}


class Account(msgspec.Struct, rename="camel"):
    can_authenticate: bool
    status: str = "OK"


class IdentityProvider(msgspec.Struct, omit_defaults=True):
    type: str
    id: str | None = None


class Lifecycle(msgspec.Struct):
    status: str


class User(Profile, kw_only=True):
    links: Links = msgspec.field(name="_links")
    id: str
    environment: Ref
    population: Ref
    account: Account
    username: str
    email: str
    email_verified: bool
    enabled: bool
    identity_provider: IdentityProvider
    lifecycle: Lifecycle
    mfa_enabled: bool
    verify_status: str
    name: Name | UnsetType = UNSET
    # Only with ?include=memberOfGroupIDs / memberOfGroupNames, on a single read.
    member_of_group_ids: list[str] | UnsetType = msgspec.field(
        default=UNSET, name="memberOfGroupIDs"
    )
    member_of_group_names: list[str] | UnsetType = msgspec.field(
        default=UNSET, name="memberOfGroupNames"
    )
    created_at: str
    updated_at: str


class UserPopulation(Resource, kw_only=True):
    """A user's population: its links and id."""


class UserEnabled(Resource, kw_only=True):
    enabled: bool


class UserMfaEnabled(Resource, kw_only=True):
    mfa_enabled: bool


class UserVerifyStatus(Resource, kw_only=True):
    verify_status: str


class Enabled(msgspec.Struct):
    enabled: bool


class VerifyStatus(msgspec.Struct, rename="camel"):
    verify_status: Literal["NOT_INITIATED", "ENABLED", "DISABLED"]


class MfaEnabled(msgspec.Struct, rename="camel"):
    mfa_enabled: bool


def _user_path(row: Any) -> str:
    return f"/users/{row.id}"


MEMBER_OF_GROUPS = frozenset({"memberOfGroupIDs", "memberOfGroupNames"})


def user_json(
    urls: Urls, row: Any, groups: list[Any] | None = None, include: Set[str] = frozenset()
) -> User:
    """The whole user; with ``groups`` (id, name rows), what ``include`` asks of them."""
    ids = groups is not None and "memberOfGroupIDs" in include
    names = groups is not None and "memberOfGroupNames" in include
    environment_id = row.environment_id
    profile = dict(row.profile or {})
    honorifics = profile.pop("name", {})
    given, family, middle, formatted = (
        row.name_given, row.name_family, row.name_middle, row.name_formatted
    )  # fmt: skip
    named = bool(honorifics) or any(part is not None for part in (given, family, middle, formatted))
    # A list renders a hundred users: each link is built from the user's own prefix.
    environment = urls.environment(environment_id).href
    user = f"{environment}/users/{row.id}"
    return User(
        links={
            "self": Link(user),
            "environment": Link(environment),
            "population": Link(f"{environment}/populations/{row.population_id}"),
            "memberOfGroups": Link(f"{user}/memberOfGroups"),
            "enabled": Link(f"{user}/enabled"),
            "mfaEnabled": Link(f"{user}/mfaEnabled"),
        },
        id=row.id,
        environment=Ref(environment_id),
        population=Ref(row.population_id),
        account=Account(can_authenticate=row.enabled),
        username=row.username,
        email=row.email,
        email_verified=row.email_verified,
        enabled=row.enabled,
        identity_provider=IdentityProvider(row.identity_provider_type, row.identity_provider_id),
        lifecycle=Lifecycle(row.lifecycle_status),
        mfa_enabled=row.mfa_enabled,
        verify_status=row.verify_status,
        name=Name(given, family, middle, formatted, **_snake(honorifics)) if named else UNSET,
        external_id=row.external_id,
        member_of_group_ids=[group.id for group in groups or ()] if ids else UNSET,
        member_of_group_names=[group.name for group in groups or ()] if names else UNSET,
        created_at=iso_ms(row.created_at),
        updated_at=iso_ms(row.updated_at),
        **_profile_fields(profile),
    )


# Read once: msgspec.structs.fields() evaluates annotations on every call (0.5 ms each).
_NAME_FIELDS = [(f.name, f.encode_name) for f in msgspec.structs.fields(Name)]
_PROFILE_FIELDS = [f.name for f in msgspec.structs.fields(Profile) if f.name != "external_id"]


def _snake(attributes: dict[str, Any]) -> dict[str, Any]:
    return {name: attributes[wire] for name, wire in _NAME_FIELDS if wire in attributes}


def _profile_fields(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile column (PingOne's spelling) as the struct's attributes."""
    if not profile:
        return {}
    decoded = msgspec.convert(profile, Profile)
    return {name: getattr(decoded, name) for name in _PROFILE_FIELDS}


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


@dataclass(frozen=True, slots=True)
class OwnAttribute:
    """A user attribute that changes only through its own sub-resource,
    ``.../users/{id}/<path>`` (GET and PUT), as in PingOne."""

    path: str  # the sub-resource and the attribute's name on the wire
    column: str  # the attribute's column, and its name in ``body`` and ``response``
    body: type[msgspec.Struct]
    response: type[Resource]

    def render(self, urls: Urls, row: Any) -> Resource:
        path = _user_path(row)
        links = {
            "self": urls.environment(row.environment_id, f"{path}/{self.path}"),
            "user": urls.environment(row.environment_id, path),
        }
        return self.response(links=links, id=row.id, **{self.column: getattr(row, self.column)})


OWN_ATTRIBUTES = (
    OwnAttribute("enabled", "enabled", Enabled, UserEnabled),
    OwnAttribute("mfaEnabled", "mfa_enabled", MfaEnabled, UserMfaEnabled),
    OwnAttribute("verifyStatus", "verify_status", VerifyStatus, UserVerifyStatus),
)
