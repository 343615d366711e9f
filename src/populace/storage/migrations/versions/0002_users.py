"""users (revision 0002, after 0001)"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0002", "0001"


def _folded(length: int) -> sa.types.TypeEngine:
    return sa.String(length=length).with_variant(
        sa.String(length=length, collation="C"), "postgresql"
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("environment_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("population_id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("username_key", _folded(512), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_key", _folded(1024), nullable=False),
        sa.Column("name_given", sa.String(length=256), nullable=True),
        sa.Column("name_given_key", _folded(1024), nullable=True),
        sa.Column("name_family", sa.String(length=256), nullable=True),
        sa.Column("name_family_key", _folded(1024), nullable=True),
        sa.Column("name_middle", sa.String(length=256), nullable=True),
        sa.Column("name_formatted", sa.String(length=512), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_users_environment_id_environments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["environment_id", "population_id"],
            ["populations.environment_id", "populations.id"],
            name=op.f("fk_users_environment_id_population_id_populations"),
        ),
        sa.PrimaryKeyConstraint("environment_id", "id", name=op.f("pk_users")),
        sa.UniqueConstraint(
            "environment_id", "username_key", name=op.f("uq_users_environment_id_username_key")
        ),
    )
    op.create_index(
        op.f("ix_users_environment_id_created_at_id"),
        "users",
        ["environment_id", "created_at", "id"],
    )
    op.create_index(
        op.f("ix_users_environment_id_population_id_created_at_id"),
        "users",
        ["environment_id", "population_id", "created_at", "id"],
    )
    op.create_index(
        op.f("ix_users_environment_id_email_key"), "users", ["environment_id", "email_key"]
    )


def downgrade() -> None:
    op.drop_table("users")
