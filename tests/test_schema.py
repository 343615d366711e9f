"""The Alembic migrations build exactly the schema the code queries (``storage/schema.py``)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from populace.storage.schema import metadata
from tests.conftest import Deployment


async def test_migrations_match_the_schema_module(deployment: Deployment) -> None:
    async with deployment.services.db.read() as conn:
        differences = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )
    assert differences == []
