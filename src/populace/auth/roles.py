"""Roles, permissions and the one place that decides whether an actor may do something.

PingOne grants a Worker application its API rights through role assignments, each a role plus a
scope (the organization, one environment or one population). An :class:`Actor` is the caller
with its assignments; :meth:`Actor.can` is the single rule every resource asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    ORGANIZATION_READ = "orgmgt:read:organization"
    LICENSE_READ = "licensing:read:license"
    ENVIRONMENT_CREATE = "orgmgt:create:environment"
    ENVIRONMENT_READ = "orgmgt:read:environment"
    ENVIRONMENT_UPDATE = "orgmgt:update:environment"
    ENVIRONMENT_DELETE = "orgmgt:delete:environment"
    POPULATION_CREATE = "dir:create:population"
    POPULATION_READ = "dir:read:population"
    POPULATION_UPDATE = "dir:update:population"
    POPULATION_DELETE = "dir:delete:population"
    USER_CREATE = "dir:create:user"
    USER_READ = "dir:read:user"
    USER_UPDATE = "dir:update:user"
    PASSWORD_SET = "dir:update:userPassword"
    PASSWORD_CHECK = "dir:validate:userPassword"
    USER_DELETE = "dir:delete:user"
    APPLICATION_CREATE = "mgmt:create:application"
    APPLICATION_READ = "mgmt:read:application"
    APPLICATION_UPDATE = "mgmt:update:application"
    APPLICATION_DELETE = "mgmt:delete:application"
    APPLICATION_SECRET_READ = "mgmt:read:applicationSecret"
    APPLICATION_SECRET_UPDATE = "mgmt:update:applicationSecret"
    ROLE_ASSIGNMENT_MANAGE = "mgmt:update:roleAssignment"
    CONFIGURATION_READ = "mgmt:read:configuration"  # password policies, themes
    CONFIGURATION_UPDATE = "mgmt:update:configuration"  # create, replace, delete policies
    GROUP_CREATE = "dir:create:group"
    GROUP_READ = "dir:read:group"
    GROUP_UPDATE = "dir:update:group"
    GROUP_DELETE = "dir:delete:group"
    MEMBERSHIP_READ = "dir:read:groupMembership"
    MEMBERSHIP_UPDATE = "dir:update:groupMembership"
    # populace's own control API (``/_populace``): Organization Admins only.
    EMULATOR_CONTROL = "populace:control:emulator"

    @property
    def pingone(self) -> bool:
        """A permission PingOne has (populace's own are not shown among a role's)."""
        return not self.value.startswith("populace:")


class ScopeType(StrEnum):
    ORGANIZATION = "ORGANIZATION"
    ENVIRONMENT = "ENVIRONMENT"
    POPULATION = "POPULATION"


@dataclass(frozen=True, slots=True)
class Role:
    id: str
    name: str
    description: str
    scopes: frozenset[ScopeType]
    permissions: frozenset[Permission]
    # The catalog is part of every deployment from its start: listed like a table's rows.
    created_at: int = 0


P = Permission
_POPULATION_ADMIN = {
    P.POPULATION_CREATE,
    P.POPULATION_READ,
    P.POPULATION_UPDATE,
    P.POPULATION_DELETE,
}
_USER_ADMIN = {
    P.USER_CREATE,
    P.USER_READ,
    P.USER_UPDATE,
    P.USER_DELETE,
    P.PASSWORD_SET,
    P.PASSWORD_CHECK,
}
_GROUP_ADMIN = {
    P.GROUP_CREATE,
    P.GROUP_READ,
    P.GROUP_UPDATE,
    P.GROUP_DELETE,
    P.MEMBERSHIP_READ,
    P.MEMBERSHIP_UPDATE,
}
_APPLICATION_ADMIN = {
    P.APPLICATION_CREATE,
    P.APPLICATION_READ,
    P.APPLICATION_UPDATE,
    P.APPLICATION_DELETE,
    P.APPLICATION_SECRET_READ,
    P.APPLICATION_SECRET_UPDATE,
}

ORGANIZATION_ADMIN = Role(
    "8d0a2f0b-4e3c-4a8b-9b1e-3f2d6c9e1a01",
    "Organization Admin",
    "Manages the organization, its environments and everything in them.",
    frozenset({ScopeType.ORGANIZATION}),
    frozenset(Permission),
)
ENVIRONMENT_ADMIN = Role(
    "8d0a2f0b-4e3c-4a8b-9b1e-3f2d6c9e1a02",
    "Environment Admin",
    "Manages environments: their populations, applications, roles and configuration.",
    frozenset({ScopeType.ORGANIZATION, ScopeType.ENVIRONMENT}),
    frozenset(
        {
            P.ORGANIZATION_READ,
            P.LICENSE_READ,
            P.ENVIRONMENT_CREATE,
            P.ENVIRONMENT_READ,
            P.ENVIRONMENT_UPDATE,
            P.ENVIRONMENT_DELETE,
            P.ROLE_ASSIGNMENT_MANAGE,
            P.CONFIGURATION_READ,
            P.CONFIGURATION_UPDATE,
            P.GROUP_READ,
            *_POPULATION_ADMIN,
            *_APPLICATION_ADMIN,
        }
    ),
)
IDENTITY_DATA_ADMIN = Role(
    "8d0a2f0b-4e3c-4a8b-9b1e-3f2d6c9e1a03",
    "Identity Data Admin",
    "Manages users and groups; scoped to an environment or to one population.",
    frozenset({ScopeType.ENVIRONMENT, ScopeType.POPULATION}),
    frozenset(
        {P.ENVIRONMENT_READ, P.POPULATION_READ, P.CONFIGURATION_READ, *_USER_ADMIN, *_GROUP_ADMIN}
    ),
)
IDENTITY_DATA_READ_ONLY = Role(
    "8d0a2f0b-4e3c-4a8b-9b1e-3f2d6c9e1a04",
    "Identity Data Read Only",
    "Reads users, groups and populations; scoped to an environment or to one population.",
    frozenset({ScopeType.ENVIRONMENT, ScopeType.POPULATION}),
    frozenset(
        {P.ENVIRONMENT_READ, P.POPULATION_READ, P.USER_READ, P.GROUP_READ, P.MEMBERSHIP_READ}
    ),
)
CLIENT_APPLICATION_DEVELOPER = Role(
    "8d0a2f0b-4e3c-4a8b-9b1e-3f2d6c9e1a05",
    "Client Application Developer",
    "Manages the applications of an environment.",
    frozenset({ScopeType.ENVIRONMENT}),
    frozenset({P.ENVIRONMENT_READ, P.GROUP_READ, *_APPLICATION_ADMIN}),
)

ROLES: dict[str, Role] = {
    role.id: role
    for role in (
        ORGANIZATION_ADMIN,
        ENVIRONMENT_ADMIN,
        IDENTITY_DATA_ADMIN,
        IDENTITY_DATA_READ_ONLY,
        CLIENT_APPLICATION_DEVELOPER,
    )
}


@dataclass(frozen=True, slots=True)
class Grant:
    """One role assignment as the access check sees it."""

    role: Role
    scope_type: ScopeType
    scope_id: str
    # the environment of an ENVIRONMENT or POPULATION scope; None for ORGANIZATION
    scope_environment_id: str | None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is behind a request, with the role assignments it acts with: a Worker application
    (client credentials: the application's assignments), or a user signed on through a Worker
    application (a user-based grant: the user's assignments, its groups' included)."""

    application_id: str
    environment_id: str
    organization_id: str
    grants: tuple[Grant, ...]
    user_id: str | None = None

    def holder(self) -> tuple[str, str]:
        """(kind, id) of whoever holds the actor's roles: the user, else the application."""
        if self.user_id is not None:
            return "user", self.user_id
        return "application", self.application_id

    def can(
        self, permission: Permission, environment_id: str | None, population_id: str | None = None
    ) -> bool:
        """May the actor do ``permission`` here?

        ``environment_id=None`` asks for an organization-wide right (e.g. creating an
        environment). ``population_id=None`` asks for the whole environment, which a
        population-scoped grant does not give.
        """
        return any(
            permission in grant.role.permissions and _covers(grant, environment_id, population_id)
            for grant in self.grants
        )

    def has_organization_scope(self) -> bool:
        return any(grant.scope_type is ScopeType.ORGANIZATION for grant in self.grants)

    def environments_with(self, permission: Permission) -> set[str] | None:
        """The environments where the actor holds ``permission``: None means every one."""
        if self.can(permission, None):
            return None
        scoped = {g.scope_environment_id for g in self.grants if g.scope_environment_id}
        return {environment_id for environment_id in scoped if self.can(permission, environment_id)}

    def population_scope(self, permission: Permission, environment_id: str) -> set[str] | None:
        """The populations this actor may use ``permission`` on: None means all of them."""
        if self.can(permission, environment_id):
            return None
        return {
            grant.scope_id
            for grant in self.grants
            if grant.scope_type is ScopeType.POPULATION
            and grant.scope_environment_id == environment_id
            and permission in grant.role.permissions
        }


def _covers(grant: Grant, environment_id: str | None, population_id: str | None) -> bool:
    if grant.scope_type is ScopeType.ORGANIZATION:
        return True
    if environment_id is None or grant.scope_environment_id != environment_id:
        return False
    if grant.scope_type is ScopeType.ENVIRONMENT:
        return True
    return population_id is not None and grant.scope_id == population_id
