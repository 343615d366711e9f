"""user passwords and their history (revision 0007, after 0006)"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0007", "0006"

ID = sa.String(length=36)


def _keys(table: str, *columns: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.ForeignKeyConstraint(
            ["environment_id", "user_id"],
            ["users.environment_id", "users.id"],
            name=op.f(f"fk_{table}_environment_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("environment_id", "user_id", *columns, name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "user_passwords",
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column("must_change", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.BigInteger(), nullable=False),
        sa.Column("failed_checks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.BigInteger(), nullable=True),
        *_keys("user_passwords"),
    )
    op.create_table(
        "password_history",
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.BigInteger(), nullable=False),
        *_keys("password_history", "id"),
    )


def downgrade() -> None:
    op.drop_table("password_history")
    op.drop_table("user_passwords")
