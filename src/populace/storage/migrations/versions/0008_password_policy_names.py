"""password policy names unique per environment (revision 0008, after 0007)

Policies become writable: ``name_key`` (``names.text_key`` of the name) makes names unique
without case, as for populations. Every environment had only its "Standard" policy, so no key
collides. ``populationCount`` leaves the stored settings (it is counted when read), and so does
``minComplexity``, which PingOne's "Standard" policy does not have (and which is now enforced).
Every environment gets PingOne's other predefined policies, "Basic" and "Passphrase", as new
environments do.
"""

import time
import uuid

import sqlalchemy as sa
from alembic import op

from populace.configuration.store import PREDEFINED_POLICIES
from populace.names import text_key

revision, down_revision = "0008", "0007"

POLICIES = sa.table(
    "password_policies",
    sa.column("environment_id", sa.String()),
    sa.column("id", sa.String()),
    sa.column("name", sa.String()),
    sa.column("name_key", sa.String()),
    sa.column("description", sa.Text()),
    sa.column("is_default", sa.Boolean()),
    sa.column("settings", sa.JSON()),
    sa.column("created_at", sa.BigInteger()),
    sa.column("updated_at", sa.BigInteger()),
)


def upgrade() -> None:
    with op.batch_alter_table("password_policies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", sa.String(length=1024), nullable=True))
    conn = op.get_bind()
    for row in conn.execute(sa.select(POLICIES)).all():
        settings = {
            key: value
            for key, value in row.settings.items()
            if key not in ("populationCount", "minComplexity")
        }
        conn.execute(
            POLICIES.update()
            .where(POLICIES.c.environment_id == row.environment_id, POLICIES.c.id == row.id)
            .values(name_key=text_key(row.name), settings=settings)
        )
    _add_predefined(conn)
    with op.batch_alter_table("password_policies", schema=None) as batch_op:
        batch_op.alter_column(
            "name_key",
            existing_type=sa.String(length=1024),
            type_=sa.String(length=1024).with_variant(
                sa.String(length=1024, collation="C"), "postgresql"
            ),
            nullable=False,
        )
        batch_op.create_unique_constraint(
            op.f("uq_password_policies_environment_id_name_key"), ["environment_id", "name_key"]
        )


def _add_predefined(conn: sa.Connection) -> None:
    """The predefined policies an environment lacks (by name), never its default."""
    environments = sa.table("environments", sa.column("id", sa.String()))
    names: dict[str, set[str]] = {}
    for environment_id, name_key in conn.execute(
        sa.select(POLICIES.c.environment_id, POLICIES.c.name_key)
    ):
        names.setdefault(environment_id, set()).add(name_key)
    at = time.time_ns() // 1_000_000
    for (environment_id,) in conn.execute(sa.select(environments.c.id)).all():
        for offset, (name, description, settings) in enumerate(PREDEFINED_POLICIES):
            if text_key(name) in names.get(environment_id, set()):
                continue
            conn.execute(
                POLICIES.insert().values(
                    environment_id=environment_id,
                    id=str(uuid.uuid4()),
                    name=name,
                    name_key=text_key(name),
                    description=description,
                    is_default=False,
                    settings=settings,
                    created_at=at + offset,
                    updated_at=at + offset,
                )
            )


def downgrade() -> None:
    with op.batch_alter_table("password_policies", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("uq_password_policies_environment_id_name_key"), type_="unique"
        )
        batch_op.drop_column("name_key")
