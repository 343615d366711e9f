"""Schema migrations (Alembic), applied at start and by ``populace migrate``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection as SyncConnection

from populace.storage import journal
from populace.storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works: it names the lock all processes of one deployment take before they
# migrate or bootstrap, so two servers starting at once on PostgreSQL do it one at a time.
_DEPLOYMENT_LOCK = 0x706F70756C616365  # "populace"


def alembic_config(connection: Any = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@asynccontextmanager
async def deployment_lock(db: Database) -> AsyncIterator[None]:
    """Serialize start-up work across processes (SQLite: the write lock does it already)."""
    if db.is_sqlite:
        yield
        return
    async with db.session() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _DEPLOYMENT_LOCK})
        await conn.commit()
        try:
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _DEPLOYMENT_LOCK})
            await conn.commit()


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision``, the newest by default (a no-op when it is there)."""
    async with db.schema_change() as conn:
        await conn.run_sync(lambda sync: _upgrade(sync, revision))


def _upgrade(sync: SyncConnection, revision: str) -> None:
    """Migrate without the undo journal's triggers (SQLite's name every column of the tables
    a migration may change), and install them again at the newest revision."""
    config = alembic_config(sync)
    head = ScriptDirectory.from_config(config).get_current_head()
    target = head if revision == "head" else revision
    if MigrationContext.configure(sync).get_current_revision() != target:
        journal.uninstall(sync)
        command.upgrade(config, revision)
    if target == head:
        journal.install(sync)
