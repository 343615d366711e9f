"""The ``password_policies`` and ``themes`` tables: an environment's predefined policies and
default theme, created with it, and the policies clients create, replace and delete. Lookups are
always by environment and id together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, case, delete, insert, select, update

from populace.names import text_key
from populace.populations.store import count_using_policy
from populace.storage.database import Connection
from populace.storage.paging import TableRows
from populace.storage.prepared import ByKey, Prepared
from populace.storage.schema import password_policies, populations, themes
from populace.wire import new_id

_EVERY_CLASS = {
    "~!@#$%^&*()-_=+[]{}|;:,.<>/?": 1,
    "0123456789": 1,
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ": 1,
    "abcdefghijklmnopqrstuvwxyz": 1,
}
_LOCKOUT = {"failureCount": 5, "durationSeconds": 900}

# PingOne's predefined policies of a new environment, "Standard" its default: (name,
# description, settings as PingOne spells them).
PREDEFINED_POLICIES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "Standard",
        "A standard policy that incorporates industry best practices",
        {
            "excludesProfileData": True,
            "notSimilarToCurrent": True,
            "excludesCommonlyUsed": True,
            "maxAgeDays": 182,
            "minAgeDays": 1,
            "history": {"count": 6, "retentionDays": 365},
            "lockout": _LOCKOUT,
            "length": {"min": 8, "max": 255},
            "minCharacters": _EVERY_CLASS,
            "maxRepeatedCharacters": 2,
            "minUniqueCharacters": 5,
        },
    ),
    (
        "Basic",
        "A basic policy that does not expire passwords",
        {
            "excludesProfileData": False,
            "notSimilarToCurrent": False,
            "excludesCommonlyUsed": True,
            "lockout": _LOCKOUT,
            "length": {"min": 8, "max": 255},
            "minCharacters": _EVERY_CLASS,
        },
    ),
    (
        "Passphrase",
        "A policy that encourages the use of passphrases",
        {
            "excludesProfileData": True,
            "notSimilarToCurrent": True,
            "excludesCommonlyUsed": True,
            "minComplexity": 7,
            "maxAgeDays": 182,
            "minAgeDays": 1,
            "history": {"count": 6, "retentionDays": 365},
            "lockout": _LOCKOUT,
        },
    ),
]

DEFAULT_THEME_CONFIGURATION: dict[str, Any] = {
    "logoType": "NONE",
    "backgroundType": "DEFAULT",
    "bodyTextColor": "#263956",
    "buttonColor": "#2996cc",
    "buttonTextColor": "#ffffff",
    "cardColor": "#fcfcfc",
    "headingTextColor": "#686f77",
    "linkTextColor": "#2996cc",
    "name": "Ping Default",
}

pp = password_policies.c
_POPULATION_COUNT = count_using_policy(password_policies).label("population_count")

POLICIES = TableRows(
    password_policies, keys={"envID": pp.environment_id}, extra=(_POPULATION_COUNT,)
)
THEMES = TableRows(themes, keys={"envID": themes.c.environment_id})

_POLICY = Prepared(
    select(password_policies, _POPULATION_COUNT).where(
        pp.environment_id == bindparam("environment_id"), pp.id == bindparam("row_id")
    )
)
_policy_row = ByKey(password_policies).get
get_theme = ByKey(themes).get
_DEFAULT_POLICY = Prepared(
    select(password_policies).where(pp.environment_id == bindparam("environment_id"), pp.is_default)
)
_DEFAULT_THEME = Prepared(
    select(themes.c.id).where(
        themes.c.environment_id == bindparam("environment_id"), themes.c.is_default
    )
)


async def get_policy(conn: Connection, environment_id: str, policy_id: str) -> Any:
    """A policy as a client reads it, with its ``population_count``."""
    return await _POLICY.first(conn, environment_id=environment_id, row_id=policy_id)


_POPULATION_POLICY_ID = (
    select(populations.c.password_policy_id)
    .where(
        populations.c.environment_id == bindparam("environment_id"),
        populations.c.id == bindparam("population_id"),
    )
    .scalar_subquery()
)
# The population's policy when it names one, else the environment's default: one statement.
_POLICY_OF_POPULATION = Prepared(
    select(password_policies)
    .where(
        pp.environment_id == bindparam("environment_id"),
        (pp.id == _POPULATION_POLICY_ID) | pp.is_default,
    )
    .order_by(case((pp.id == _POPULATION_POLICY_ID, 0), else_=1))
    .limit(1)
)


async def policy_of_population(conn: Connection, environment_id: str, population_id: str) -> Any:
    """The password policy in force for a population's users (see :func:`policy_in_force`)."""
    return await _POLICY_OF_POPULATION.first(
        conn, environment_id=environment_id, population_id=population_id
    )


async def policy_in_force(conn: Connection, environment_id: str, policy_id: str | None) -> Any:
    """The password policy a population names, else the environment's default one."""
    if policy_id is not None:
        policy = await _policy_row(conn, environment_id, policy_id)
        if policy is not None:
            return policy
    return await _DEFAULT_POLICY.first(conn, environment_id=environment_id)


async def default_policy_id(conn: Connection, environment_id: str) -> str | None:
    row = await _DEFAULT_POLICY.first(conn, environment_id=environment_id)
    return None if row is None else str(row.id)


_ONE_POLICY = select(password_policies).where(
    pp.environment_id == bindparam("environment_id"), pp.id == bindparam("row_id")
)
_POLICY_TO_DELETE = Prepared(_ONE_POLICY.with_for_update())
_POLICY_TO_CHANGE = Prepared(_ONE_POLICY.with_for_update(key_share=True))
_HELD_POLICY = Prepared(_ONE_POLICY.with_for_update(read=True, key_share=True))


async def lock_policy(
    conn: Connection, environment_id: str, policy_id: str, *, to_delete: bool
) -> Any:
    """The policy's row, locked until the transaction ends, to delete it (``FOR UPDATE``:
    it waits for populations about to name it) or to change it (``FOR NO KEY UPDATE``: they
    need not wait for that). None when there is no such policy."""
    query = _POLICY_TO_DELETE if to_delete else _POLICY_TO_CHANGE
    return await query.first(conn, environment_id=environment_id, row_id=policy_id)


async def hold_policy(conn: Connection, environment_id: str, policy_id: str) -> bool:
    """Whether the policy exists; if so it cannot be deleted until the transaction ends (a
    population about to name it). ``FOR KEY SHARE``, like the foreign key's own check: it
    waits for a deletion, not for the default flag moving between policies."""
    return (
        await _HELD_POLICY.first(conn, environment_id=environment_id, row_id=policy_id) is not None
    )


async def policy_name_taken(
    conn: Connection, environment_id: str, name: str, except_id: str | None
) -> bool:
    query = select(pp.id).where(
        pp.environment_id == environment_id,
        pp.name_key == text_key(name),
        pp.id != (except_id or ""),
    )
    return (await conn.scalar(query)) is not None


async def insert_policy(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(
        insert(password_policies).values(**values, name_key=text_key(values["name"]))
    )


async def update_policy(
    conn: Connection, environment_id: str, policy_id: str, values: dict[str, Any]
) -> bool:
    """Write new values; False when the policy is gone."""
    result = await conn.execute(
        update(password_policies)
        .where(pp.environment_id == environment_id, pp.id == policy_id)
        .values(**values, name_key=text_key(values["name"]))
    )
    return result.rowcount == 1


async def clear_default_policy(conn: Connection, environment_id: str, except_id: str) -> None:
    await conn.execute(
        update(password_policies)
        .where(pp.environment_id == environment_id, pp.is_default, pp.id != except_id)
        .values(is_default=False)
    )


async def delete_policy(conn: Connection, environment_id: str, policy_id: str) -> None:
    await conn.execute(
        delete(password_policies).where(pp.environment_id == environment_id, pp.id == policy_id)
    )


async def theme_exists(conn: Connection, environment_id: str, theme_id: str) -> bool:
    return await get_theme(conn, environment_id, theme_id) is not None


async def default_theme_id(conn: Connection, environment_id: str) -> str | None:
    found: str | None = await _DEFAULT_THEME.scalar(conn, environment_id=environment_id)
    return found


async def insert_defaults(conn: Connection, environment_id: str, at: int) -> str:
    """A new environment's predefined password policies and default theme; returns the
    theme's id."""
    for offset, (name, description, settings) in enumerate(PREDEFINED_POLICIES):
        # A millisecond apart, so they list in this order ("Standard" first).
        await insert_policy(
            conn,
            {
                "environment_id": environment_id,
                "id": new_id(),
                "name": name,
                "description": description,
                "is_default": offset == 0,
                "settings": settings,
                "created_at": at + offset,
                "updated_at": at + offset,
            },
        )
    theme_id = new_id()
    await conn.execute(
        insert(themes).values(
            environment_id=environment_id,
            id=theme_id,
            template="default",
            is_default=True,
            configuration=DEFAULT_THEME_CONFIGURATION,
            created_at=at,
            updated_at=at,
        )
    )
    return theme_id
