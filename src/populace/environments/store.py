"""Environment rows and the default objects every new environment gets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select, update

from populace.storage.database import Connection
from populace.storage.prepared import Prepared
from populace.storage.schema import environments, licenses, password_policies, populations, themes
from populace.wire import new_id

DEFAULT_POPULATION_DESCRIPTION = "Automatically created population."

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


def name_key(name: str) -> str:
    return name.casefold()


_EXISTS = Prepared(
    select(environments.c.id).where(
        environments.c.id == bindparam("environment_id"),
        environments.c.organization_id == bindparam("organization_id"),
    )
)


async def exists(conn: Connection, environment_id: str, organization_id: str) -> bool:
    found = await _EXISTS.scalar(
        conn, environment_id=environment_id, organization_id=organization_id
    )
    return found is not None


async def get(conn: Connection, organization_id: str, environment_id: str) -> Row[Any] | None:
    return (
        await conn.execute(
            select(environments).where(
                environments.c.organization_id == organization_id,
                environments.c.id == environment_id,
            )
        )
    ).first()


async def name_taken(
    conn: Connection, organization_id: str, name: str, except_id: str | None = None
) -> bool:
    query = select(environments.c.id).where(
        environments.c.organization_id == organization_id,
        environments.c.name_key == name_key(name),
    )
    if except_id is not None:
        query = query.where(environments.c.id != except_id)
    return await conn.scalar(query) is not None


async def license_exists(conn: Connection, organization_id: str, license_id: str) -> bool:
    found = await conn.scalar(
        select(licenses.c.id).where(
            licenses.c.organization_id == organization_id, licenses.c.id == license_id
        )
    )
    return found is not None


async def insert_environment(conn: Connection, values: dict[str, Any]) -> None:
    """Insert an environment with its default password policy, theme and population."""
    environment_id, at = values["id"], values["created_at"]
    await conn.execute(
        insert(environments).values({**values, "name_key": name_key(values["name"])})
    )
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
    await conn.execute(
        insert(populations).values(
            environment_id=environment_id,
            id=new_id(),
            name="Default",
            name_key=name_key("Default"),
            description=DEFAULT_POPULATION_DESCRIPTION,
            is_default=True,
            theme_id=theme_id,
            preferred_language=None,
            user_count=0,
            created_at=at,
            updated_at=at,
        )
    )


async def update_environment(
    conn: Connection, organization_id: str, environment_id: str, values: dict[str, Any]
) -> None:
    await conn.execute(
        update(environments)
        .where(
            environments.c.organization_id == organization_id, environments.c.id == environment_id
        )
        .values({**values, "name_key": name_key(values["name"])})
    )


async def delete_environment(conn: Connection, organization_id: str, environment_id: str) -> bool:
    """Delete an environment; foreign keys cascade to everything in it."""
    result = await conn.execute(
        delete(environments).where(
            environments.c.organization_id == organization_id, environments.c.id == environment_id
        )
    )
    return result.rowcount > 0


async def lock(conn: Connection, environment_id: str) -> None:
    """Serialize writers that change an environment-wide invariant (its one default population,
    its last population) until this transaction ends. PostgreSQL takes a row lock; SQLite's
    ``BEGIN IMMEDIATE`` has already made this transaction the only writer."""
    await conn.execute(
        select(environments.c.id)
        .where(environments.c.id == environment_id)
        # FOR NO KEY UPDATE: serializes these writers, but not the KEY SHARE locks that
        # foreign-key checks take when users or populations are inserted (no deadlock).
        .with_for_update(key_share=True)
    )
