"""The guard: may this actor do this, here? Asked once per request, by the dispatcher.

Each operation declares one permission. For an operation inside an environment the guard asks
:meth:`Actor.population_scope`; for an organization-wide one, :meth:`Actor.can` (or, for a
list, :meth:`Actor.environments_with`). What it grants is an :class:`Access`, the only way a
rule learns where it may act: rules take an ``Access``, never a bare actor, so a rule cannot
be reached without the guard having been asked.

An actor without a right in an environment gets 403 whether or not the environment exists (no
existence oracle). An actor with an organization-wide role learns that it does not: 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from populace.auth.roles import Actor, Permission
from populace.environments import store as environment_store
from populace.errors import forbidden, not_found
from populace.storage.database import Connection


@dataclass(frozen=True, slots=True)
class Access:
    """What the guard granted: the actor, the environment it acts in (None for the
    organization), and, when its rights cover only part of that scope, the parts it may touch:
    populations inside an environment, environments across the organization."""

    actor: Actor
    environment_id: str | None
    limit: frozenset[str] | None = None
    # A user acting on their own account (the flows API), not an administrator on someone's.
    self_service: bool = False

    @property
    def environment(self) -> str:
        """The environment of an operation inside one (a programming error otherwise)."""
        assert self.environment_id is not None, "an organization-wide operation"
        return self.environment_id

    @property
    def organization_id(self) -> str:
        return self.actor.organization_id

    def covers(self, part_id: str) -> bool:
        return self.limit is None or part_id in self.limit

    def require(self, part_id: str) -> None:
        """403 unless the actor's rights reach ``part_id`` (a population or environment)."""
        if not self.covers(part_id):
            raise forbidden()


def end_user_access(organization_id: str, environment_id: str, application_id: str) -> Access:
    """A user's own sign-on through an application (the flows API): no role is asked for, as
    the user proves who they are with a password; the sign-on rules reach only that user."""
    actor = Actor(application_id, environment_id, organization_id, ())
    return Access(actor, environment_id, self_service=True)


async def environment_access(
    conn: Connection,
    actor: Actor,
    permission: Permission,
    environment_id: str,
    *,
    partial: bool,
    check_environment: bool,
    writes: bool,
) -> Access:
    """Access to act in one environment.

    ``partial`` lets an actor whose grants name some populations through, limited to those
    (the rule then checks each object's population). ``check_environment`` makes an
    organization-wide actor learn that a missing environment is missing (404); reads that
    look up an object of the environment next skip that query, as a missing object is 404
    either way. A write (``writes``) always holds the environment for its transaction
    (``environments.store.hold``): 404 if it is gone, and it cannot go while the write runs.
    """
    populations = actor.population_scope(permission, environment_id)
    if populations is not None and (not populations or not partial):
        raise forbidden()
    if writes:
        present = await environment_store.hold(conn, actor.organization_id, environment_id)
    elif check_environment and populations is None and actor.has_organization_scope():
        present = await environment_store.exists(conn, actor.organization_id, environment_id)
    else:
        present = True
    if not present:
        raise not_found()
    return Access(actor, environment_id, None if populations is None else frozenset(populations))


def organization_access(actor: Actor, permission: Permission, *, partial: bool) -> Access:
    """Access across the organization; ``partial`` (lists) limits it to the environments
    where the actor holds ``permission`` instead of refusing."""
    if partial:
        environments = actor.environments_with(permission)
        return Access(actor, None, None if environments is None else frozenset(environments))
    if not actor.can(permission, None):
        raise forbidden()
    return Access(actor, None)
