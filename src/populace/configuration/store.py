"""The ``password_policies`` and ``themes`` tables: an environment's defaults, created with it,
and lookups always by environment and id together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, select

from populace.storage.database import Connection
from populace.storage.paging import TableRows
from populace.storage.prepared import ByKey, Prepared
from populace.storage.schema import password_policies, themes
from populace.wire import new_id

# PingOne's "Standard" password policy, the default of a new environment.
STANDARD_PASSWORD_POLICY: dict[str, Any] = {
    "excludesProfileData": True,
    "notSimilarToCurrent": True,
    "excludesCommonlyUsed": True,
    "minComplexity": 7,
    "maxAgeDays": 182,
    "minAgeDays": 1,
    "history": {"count": 6, "retentionDays": 365},
    "lockout": {"failureCount": 5, "durationSeconds": 900},
    "length": {"min": 8, "max": 255},
    "minCharacters": {
        "~!@#$%^&*()-_=+[]{}|;:,.<>/?": 1,
        "0123456789": 1,
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ": 1,
        "abcdefghijklmnopqrstuvwxyz": 1,
    },
    "maxRepeatedCharacters": 2,
    "minUniqueCharacters": 5,
    "populationCount": 0,
}

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

POLICIES = TableRows(password_policies, keys={"envID": password_policies.c.environment_id})
THEMES = TableRows(themes, keys={"envID": themes.c.environment_id})


get_policy = ByKey(password_policies).get
get_theme = ByKey(themes).get
_DEFAULT_THEME = Prepared(
    select(themes.c.id).where(
        themes.c.environment_id == bindparam("environment_id"), themes.c.is_default
    )
)


async def policy_in_force(conn: Connection, environment_id: str, policy_id: str | None) -> Any:
    """The password policy a population names, else the environment's default one."""
    if policy_id is not None:
        policy = await get_policy(conn, environment_id, policy_id)
        if policy is not None:
            return policy
    query = select(password_policies).where(
        password_policies.c.environment_id == environment_id, password_policies.c.is_default
    )
    return (await conn.execute(query)).first()


async def policy_exists(conn: Connection, environment_id: str, policy_id: str) -> bool:
    return await get_policy(conn, environment_id, policy_id) is not None


async def theme_exists(conn: Connection, environment_id: str, theme_id: str) -> bool:
    return await get_theme(conn, environment_id, theme_id) is not None


async def default_theme_id(conn: Connection, environment_id: str) -> str | None:
    found: str | None = await _DEFAULT_THEME.scalar(conn, environment_id=environment_id)
    return found


async def insert_defaults(conn: Connection, environment_id: str, at: int) -> str:
    """A new environment's default password policy and theme; returns the theme's id."""
    await conn.execute(
        insert(password_policies).values(
            environment_id=environment_id,
            id=new_id(),
            name="Standard",
            description="A standard policy that incorporates industry best practices",
            is_default=True,
            settings=STANDARD_PASSWORD_POLICY,
            created_at=at,
            updated_at=at,
        )
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
