"""The ``groups``, ``group_memberships`` and ``group_nestings`` tables: only this module writes
them. A group's ``direct_member_count`` changes in the same transaction as its direct
memberships. Every statement names the environment together with the ids.

Nesting: a row ``(group_id=A, parent_id=B)`` makes A a member of B, so A's members are B's
members too. The groups whose members count as B's are B and every group nested into it,
transitively: a recursive query that stops by itself on cycles (``UNION``, not ``UNION ALL``,
keeps each group once).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)

from populace.filters import FilterScope, PathField, exact_field, text_field
from populace.names import text_key
from populace.storage.database import Connection, name_lock
from populace.storage.paging import TableRows
from populace.storage.prepared import ByKey, Prepared
from populace.storage.schema import group_memberships, group_nestings, groups, users

g = groups.c
m = group_memberships.c
n = group_nestings.c

DIRECT, DYNAMIC = "DIRECT", "DYNAMIC"

FILTERS = {
    "id": exact_field(g.id),
    "name": text_field(g.name_key),
    "displayname": text_field(g.name_key),  # a PingOne group's displayName is its name
    "population.id": exact_field(g.population_id),
    "externalid": exact_field(g.external_id),
}
LIST = TableRows(
    groups, keys={"envID": g.environment_id}, filters=FILTERS, limited_by=g.population_id
)

_GROUP = Prepared(
    select(g.population_id.label("limited_by")).where(
        g.environment_id == bindparam("envID"), g.id == bindparam("groupID")
    )
)
# The groups a group is nested into (its "memberOfGroups"), each with the child's id.
PARENTS = TableRows(
    groups,
    keys={"envID": g.environment_id, "groupID": n.group_id},
    through=(group_nestings, and_(n.environment_id == g.environment_id, n.parent_id == g.id)),
    extra=(n.group_id.label("child_id"),),
    limited_by=g.population_id,
    parent=_GROUP,
)
_USER = Prepared(
    select(users.c.population_id.label("limited_by")).where(
        users.c.environment_id == bindparam("envID"), users.c.id == bindparam("userID")
    )
)
# The groups a user is a direct member of, each with the user's id.
MEMBERSHIPS = TableRows(
    groups,
    keys={"envID": g.environment_id, "userID": m.user_id},
    through=(group_memberships, and_(m.environment_id == g.environment_id, m.group_id == g.id)),
    extra=(m.user_id.label("user_id"),),
    always=(m.kind == DIRECT,),
    limited_by=g.population_id,
    parent=_USER,
)

_BY_KEY = ByKey(groups)
get = _BY_KEY.get


async def name_taken(
    conn: Connection,
    environment_id: str,
    name: str,
    population_id: str | None,
    except_id: str | None = None,
) -> bool:
    """Is ``name`` used where a group of ``population_id`` (None: the environment) would clash?
    An environment group clashes with every group of the environment; a population group with
    the environment's groups and its own population's."""
    scopes = [""] if population_id is None else ["", population_id]
    query = select(g.id).where(g.environment_id == environment_id, g.name_key == text_key(name))
    if population_id is not None:
        query = query.where(g.scope_key.in_(scopes))
    if except_id is not None:
        query = query.where(g.id != except_id)
    return await conn.scalar(query.limit(1)) is not None


def _keyed(values: dict[str, Any]) -> dict[str, Any]:
    return {
        **values,
        "name_key": text_key(values["name"]),
        "scope_key": values.get("population_id") or "",
    }


async def insert_group(conn: Connection, values: dict[str, Any]) -> Row[Any]:
    statement = insert(groups).values(_keyed(values)).returning(*groups.c)
    return (await conn.execute(statement)).one()


async def update_group(
    conn: Connection, environment_id: str, group_id: str, values: dict[str, Any]
) -> Row[Any] | None:
    return await _BY_KEY.update(conn, environment_id, group_id, _keyed(values))


async def delete_group(conn: Connection, environment_id: str, group_id: str) -> bool:
    """Delete a group; its memberships and nestings go with it (foreign keys cascade)."""
    result = await conn.execute(
        delete(groups).where(g.environment_id == environment_id, g.id == group_id)
    )
    return result.rowcount > 0


async def in_population(conn: Connection, environment_id: str, population_id: str) -> bool:
    query = select(g.id).where(g.environment_id == environment_id, g.population_id == population_id)
    return await conn.scalar(query.limit(1)) is not None


# -- nesting ----------------------------------------------------------------------------------


def _member_groups(environment_id: str, anchor: Select[Any]) -> Any:
    """The groups whose members are members of the ``anchor`` groups: those, and every group
    nested into them, transitively (a recursive query; ``UNION`` ends it on cycles)."""
    tree = anchor.cte(recursive=True)
    return tree.union(
        select(n.group_id).where(n.environment_id == environment_id, n.parent_id == tree.c.id)
    )


async def nested_into(conn: Connection, environment_id: str, group_id: str) -> list[Row[Any]]:
    """The group and every group nested into it, at any depth (their members are its
    members): id and userFilter of each."""
    anchor = select(g.id.label("id")).where(g.environment_id == environment_id, g.id == group_id)
    tree = _member_groups(environment_id, anchor)
    query = select(g.id, g.user_filter).where(
        g.environment_id == environment_id, g.id.in_(select(tree.c.id))
    )
    return list((await conn.execute(query)).all())


async def containing(conn: Connection, environment_id: str, group_id: str) -> list[str]:
    """The group and every group it is nested into, at any depth (its members are theirs)."""
    anchor = select(g.id.label("id")).where(g.environment_id == environment_id, g.id == group_id)
    tree = anchor.cte(recursive=True)
    tree = tree.union(
        select(n.parent_id).where(n.environment_id == environment_id, n.group_id == tree.c.id)
    )
    return list((await conn.scalars(select(tree.c.id))).all())


def _members(environment_id: str, group_condition: ColumnElement[bool]) -> Select[Any]:
    """The users that belong to a group matching ``group_condition``, directly, dynamically or
    through a nested group."""
    anchor = select(g.id.label("id")).where(g.environment_id == environment_id, group_condition)
    tree = _member_groups(environment_id, anchor)
    return select(m.user_id).where(
        m.environment_id == environment_id, m.group_id.in_(select(tree.c.id))
    )


async def total_members(conn: Connection, environment_id: str, group_id: str) -> int:
    members = _members(environment_id, g.id == group_id).distinct().subquery()
    return int(await conn.scalar(select(func.count()).select_from(members)) or 0)


def member_condition(group_condition: ColumnElement[bool], scope: FilterScope) -> Any:
    """The user filter ``memberOfGroups[...]``, in the request's environment, over the groups
    the actor may see (a partial actor: its populations' groups)."""
    if scope.limit_to is not None:
        group_condition = group_condition & g.population_id.in_(scope.limit_to)
    return users.c.id.in_(_members(scope.ids["envID"], group_condition))


MEMBER_OF = PathField({"id": exact_field(g.id)}, member_condition)


async def get_nesting(
    conn: Connection, environment_id: str, group_id: str, parent_id: str
) -> Row[Any] | None:
    """The group ``parent_id`` as a parent of ``group_id`` (with ``child_id``)."""
    return await PARENTS.find(conn, {"envID": environment_id, "groupID": group_id}, parent_id)


async def insert_nesting(
    conn: Connection, environment_id: str, group_id: str, parent_id: str, at: int
) -> None:
    await conn.execute(
        insert(group_nestings).values(
            environment_id=environment_id, group_id=group_id, parent_id=parent_id, created_at=at
        )
    )


async def delete_nesting(
    conn: Connection, environment_id: str, group_id: str, parent_id: str
) -> bool:
    result = await conn.execute(
        delete(group_nestings).where(
            n.environment_id == environment_id, n.group_id == group_id, n.parent_id == parent_id
        )
    )
    return result.rowcount > 0


# -- memberships ------------------------------------------------------------------------------


async def get_membership(
    conn: Connection, environment_id: str, user_id: str, group_id: str
) -> Row[Any] | None:
    """The group ``group_id`` as one the user belongs to directly (with ``user_id``)."""
    return await MEMBERSHIPS.find(conn, {"envID": environment_id, "userID": user_id}, group_id)


async def _add_to_count(
    conn: Connection, environment_id: str, group_ids: Iterable[str], delta: int
) -> None:
    ids = list(group_ids)
    if ids:
        await conn.execute(
            update(groups)
            .where(g.environment_id == environment_id, g.id.in_(ids))
            .values(direct_member_count=g.direct_member_count + delta)
        )


async def add_member(
    conn: Connection, environment_id: str, group_id: str, user_id: str, at: int
) -> None:
    await _add_to_count(conn, environment_id, [group_id], +1)
    await conn.execute(
        insert(group_memberships).values(
            environment_id=environment_id,
            group_id=group_id,
            user_id=user_id,
            kind=DIRECT,
            created_at=at,
        )
    )


async def remove_member(conn: Connection, environment_id: str, group_id: str, user_id: str) -> bool:
    result = await conn.execute(
        delete(group_memberships).where(
            m.environment_id == environment_id,
            m.group_id == group_id,
            m.user_id == user_id,
            m.kind == DIRECT,
        )
    )
    if result.rowcount == 0:
        return False
    await _add_to_count(conn, environment_id, [group_id], -1)
    return True


async def direct_group_count(conn: Connection, environment_id: str, user_id: str) -> int:
    query = select(func.count()).where(
        m.environment_id == environment_id, m.user_id == user_id, m.kind == DIRECT
    )
    return int(await conn.scalar(query) or 0)


async def leave_groups(
    conn: Connection, environment_id: str, user_id: str, population_id: str | None = None
) -> None:
    """Remove a user's memberships (only those in ``population_id``'s groups, when given),
    keeping the groups' direct counts exact: before the user is deleted or moves."""
    chosen = select(g.id).where(g.environment_id == environment_id)
    if population_id is not None:
        chosen = chosen.where(g.population_id == population_id)
    mine = and_(m.environment_id == environment_id, m.user_id == user_id, m.group_id.in_(chosen))
    direct = (await conn.scalars(select(m.group_id).where(mine, m.kind == DIRECT))).all()
    await _add_to_count(conn, environment_id, direct, -1)
    await conn.execute(delete(group_memberships).where(mine))


def groups_of_user(environment_id: str, user_id: str) -> Select[Any]:
    """The ids of every group a user belongs to, directly, dynamically or through nesting."""
    anchor = select(m.group_id.label("id")).where(
        m.environment_id == environment_id, m.user_id == user_id
    )
    tree = anchor.cte("user_groups", recursive=True)
    tree = tree.union(
        select(n.parent_id).where(n.environment_id == environment_id, n.group_id == tree.c.id)
    )
    return select(tree.c.id)


async def member_group_ids(
    conn: Connection, environment_id: str, user_id: str, limit_to: frozenset[str] | None
) -> list[Row[Any]]:
    """Every group a user belongs to, directly, dynamically or through nesting, that the actor
    may see (``limit_to``: a partial actor's populations): id and name, ordered by name."""
    query = select(g.id, g.name).where(
        g.environment_id == environment_id, g.id.in_(groups_of_user(environment_id, user_id))
    )
    if limit_to is not None:
        query = query.where(g.population_id.in_(limit_to))
    query = query.order_by(g.name_key, g.id)
    return list((await conn.execute(query)).all())


# -- dynamic groups ---------------------------------------------------------------------------


async def lock_groups(conn: Connection, environment_id: str) -> None:
    """Before a group is created or replaced: group writers of the environment run one at a
    time (a name is unique across scopes, which no one index can say), and never beside a
    user write that recomputes dynamic memberships (:func:`lock_dynamic_memberships`):
    under READ COMMITTED a new dynamic group and a user written meanwhile would each miss
    the other."""
    await name_lock(conn, f"groups:{environment_id}")


async def lock_dynamic_memberships(conn: Connection, environment_id: str) -> None:
    """Before a user's dynamic memberships are recomputed: user writes run together, but not
    beside a group writer (:func:`lock_groups`)."""
    await name_lock(conn, f"groups:{environment_id}", shared=True)


async def dynamic_groups(conn: Connection, environment_id: str) -> list[Row[Any]]:
    query = select(g.id, g.user_filter, g.population_id).where(
        g.environment_id == environment_id, g.user_filter.is_not(None)
    )
    return list((await conn.execute(query)).all())


async def refill_group(
    conn: Connection,
    environment_id: str,
    group_id: str,
    matches: ColumnElement[bool] | None,
    at: int,
) -> None:
    """Replace a group's dynamic members with the users ``matches`` selects."""
    await conn.execute(
        delete(group_memberships).where(
            m.environment_id == environment_id, m.group_id == group_id, m.kind == DYNAMIC
        )
    )
    if matches is not None:
        await _insert_matching(conn, environment_id, group_id, matches, at)


async def refill_users(
    conn: Connection,
    environment_id: str,
    user_ids: list[str],
    conditions: list[tuple[str, ColumnElement[bool]]],
    at: int,
) -> None:
    """Replace some users' dynamic memberships: each joins the groups whose condition it meets
    (one statement per dynamic group, whatever the number of users). With no dynamic group in
    the environment there is nothing to do: only dynamic groups have dynamic members."""
    if not conditions:
        return
    await conn.execute(
        delete(group_memberships).where(
            m.environment_id == environment_id, m.user_id.in_(user_ids), m.kind == DYNAMIC
        )
    )
    for group_id, condition in conditions:
        await _insert_matching(
            conn, environment_id, group_id, users.c.id.in_(user_ids) & condition, at
        )


async def _insert_matching(
    conn: Connection, environment_id: str, group_id: str, matches: ColumnElement[bool], at: int
) -> None:
    chosen = select(
        users.c.environment_id, literal(group_id), users.c.id, literal(DYNAMIC), literal(at)
    ).where(users.c.environment_id == environment_id, matches)
    columns = ["environment_id", "group_id", "user_id", "kind", "created_at"]
    await conn.execute(insert(group_memberships).from_select(columns, chosen))
