"""Alembic environment: populace always hands Alembic an open connection (see ``migrate``)."""

from alembic import context

from populace.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
