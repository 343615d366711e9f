"""The ``role_assignments`` table: only this module writes it. An assignment is held by one
subject (an application, a user or a group, each of one environment) and found by that
environment, the subject and the assignment's id together."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Row, bindparam, delete, insert, select

from populace.groups.store import groups_of_user
from populace.storage.database import Connection
from populace.storage.paging import TableRows
from populace.storage.prepared import Prepared
from populace.storage.schema import applications, groups, role_assignments, users
from populace.wire import new_id

r = role_assignments.c


class Subject(NamedTuple):
    """Who holds a role: ``kind`` is "application", "user" or "group"."""

    kind: str
    id: str


_COLUMNS: dict[str, Any] = {
    "application": r.application_id,
    "user": r.user_id,
    "group": r.group_id,
}
# Each kind of subject: its table, and the path parameter that names it.
_HOLDERS: dict[str, tuple[Any, str]] = {
    "application": (applications, "appID"),
    "user": (users, "userID"),
    "group": (groups, "groupID"),
}


def listing(kind: str) -> TableRows:
    """The assignments of one subject, listed under it (404 when the subject is not there)."""
    table, parameter = _HOLDERS[kind]
    holder = Prepared(
        select(table.c.id).where(
            table.c.environment_id == bindparam("envID"), table.c.id == bindparam(parameter)
        )
    )
    return TableRows(
        role_assignments,
        keys={"envID": r.environment_id, parameter: _COLUMNS[kind]},
        parent=holder,
    )


def _of(environment_id: str, subject: Subject) -> ColumnElement[bool]:
    return (r.environment_id == environment_id) & (_COLUMNS[subject.kind] == subject.id)


async def assignments_of(conn: Connection, environment_id: str, subject: Subject) -> list[Row[Any]]:
    query = select(role_assignments).where(_of(environment_id, subject))
    return list((await conn.execute(query)).all())


async def assignments_of_groups(
    conn: Connection, environment_id: str, group_ids: list[str]
) -> list[Row[Any]]:
    query = select(role_assignments).where(
        r.environment_id == environment_id, r.group_id.in_(group_ids)
    )
    return list((await conn.execute(query)).all())


async def assignments_held_by_user(
    conn: Connection, environment_id: str, user_id: str
) -> list[Row[Any]]:
    """The user's own role assignments and those of every group it belongs to."""
    query = select(role_assignments).where(
        r.environment_id == environment_id,
        (r.user_id == user_id) | r.group_id.in_(groups_of_user(environment_id, user_id)),
    )
    return list((await conn.execute(query)).all())


async def get(
    conn: Connection, environment_id: str, subject: Subject, assignment_id: str
) -> Row[Any] | None:
    query = select(role_assignments).where(_of(environment_id, subject), r.id == assignment_id)
    return (await conn.execute(query)).first()


async def insert_assignment(
    conn: Connection, environment_id: str, subject: Subject, values: dict[str, Any]
) -> Row[Any]:
    """Grant a role to a subject (``values``: role, scope, created_at)."""
    row = {
        **values,
        "environment_id": environment_id,
        "id": new_id(),
        _COLUMNS[subject.kind].key: subject.id,
    }
    statement = insert(role_assignments).values(row).returning(*role_assignments.c)
    return (await conn.execute(statement)).one()


async def delete_assignment(
    conn: Connection, environment_id: str, subject: Subject, assignment_id: str
) -> bool:
    statement = delete(role_assignments).where(_of(environment_id, subject), r.id == assignment_id)
    return (await conn.execute(statement)).rowcount > 0


async def lock_application_holders(conn: Connection, role_id: str) -> list[Row[Any]]:
    """Every assignment of ``role_id`` held by an enabled application, locked until the
    transaction ends: two transactions that each remove one of the last two wait for each
    other, and the second sees the first's removal."""
    a = applications.c
    query = (
        select(role_assignments)
        .join(applications, (a.environment_id == r.environment_id) & (a.id == r.application_id))
        .where(r.role_id == role_id, a.enabled)
        .with_for_update(of=role_assignments)
    )
    return list((await conn.execute(query)).all())


async def delete_population_assignments(
    conn: Connection, environment_id: str, population_id: str
) -> None:
    """Grants scoped to a population go with it."""
    await conn.execute(
        delete(role_assignments).where(
            r.scope_environment_id == environment_id, r.scope_id == population_id
        )
    )
